package contacts

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// The ways an upload ends before its file is whole.
var (
	// ErrUploadTooSlow: the upload fell below ImportLimits.MinRate.
	ErrUploadTooSlow = errors.New("contacts: the upload is too slow")
	// ErrUploadTimeout: the upload took longer than ImportLimits.UploadTimeout.
	ErrUploadTimeout = errors.New("contacts: the upload took too long")
	// ErrUploadInterrupted: reading the upload failed, typically because the client went
	// away. The error wraps the reader's, so that a size limit the caller's reader enforces
	// (http.MaxBytesReader) can be told apart.
	ErrUploadInterrupted = errors.New("contacts: the upload was interrupted")
)

// spool copies an upload to a temporary file in lim.SpoolDir, holding no database
// connection, and returns the file (at its start) and its size. The upload must keep an
// average of lim.MinRate bytes a second once lim.Grace has passed, and end within
// lim.UploadTimeout. setReadDeadline, when not nil, is the connection's: a stalled client
// is then cut off at the moment it falls behind; otherwise the limits are checked whenever
// a read returns.
func spool(body io.Reader, lim ImportLimits, setReadDeadline func(time.Time) error) (_ *os.File, size int64, err error) {
	f, err := os.CreateTemp(lim.SpoolDir, "crier-import-*.csv")
	if err != nil {
		return nil, 0, fmt.Errorf("contacts: spool: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	start := time.Now()
	end := start.Add(lim.UploadTimeout)
	// due is when the upload must have delivered its first n bytes.
	due := func(n int64) time.Time {
		d := start.Add(lim.Grace + time.Duration(float64(n)/float64(lim.MinRate)*float64(time.Second)))
		if d.After(end) {
			return end
		}
		return d
	}
	late := func(n int64) error {
		if time.Now().Before(due(n)) {
			return nil
		}
		if !time.Now().Before(end) {
			return ErrUploadTimeout
		}
		return ErrUploadTooSlow
	}
	deadlines := setReadDeadline != nil
	if deadlines {
		defer setReadDeadline(time.Time{}) //nolint:errcheck // the request is over for the reader
	}
	buf := make([]byte, 256<<10)
	for {
		if deadlines && setReadDeadline(due(size)) != nil {
			deadlines = false // not supported by this connection: check after each read
		}
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return nil, 0, fmt.Errorf("contacts: spool: %w", err)
			}
			size += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) { // cut off by due(size)
				if !time.Now().Before(end) {
					return nil, 0, ErrUploadTimeout
				}
				return nil, 0, ErrUploadTooSlow
			}
			// Wrapped, not replaced: the caller may tell a size limit (its own reader's
			// error) from a client that went away.
			return nil, 0, fmt.Errorf("%w: %w", ErrUploadInterrupted, rerr)
		}
		if err := late(size); err != nil {
			return nil, 0, err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("contacts: spool: %w", err)
	}
	return f, size, nil
}
