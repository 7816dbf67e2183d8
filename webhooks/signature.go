package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the header that carries a delivery's signature.
const SignatureHeader = "Crier-Signature"

// DefaultTolerance is how old a signature Verify accepts by default: it bounds replays of
// a captured request.
const DefaultTolerance = 5 * time.Minute

// The errors of Verify.
var (
	// ErrMalformed: the header is not t=<unix>,v1=<hex>[,v1=<hex>…].
	ErrMalformed = errors.New("webhooks: malformed signature header")
	// ErrTimestamp: the signature's time is further from now than the tolerance.
	ErrTimestamp = errors.New("webhooks: signature timestamp outside the tolerance")
	// ErrMismatch: no v1 value matches any of the secrets.
	ErrMismatch = errors.New("webhooks: no signature matches")
)

// Sign returns the Crier-Signature value of body at t: one v1 per secret, in the order
// given (the current secret first during a rotation). The HMAC key is the whole secret
// string, whsec_ prefix included.
func Sign(body []byte, t time.Time, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Crier-Signature header against the raw body, as a receiver does: the
// timestamp must be within tolerance of now (0: DefaultTolerance) and one v1 value must
// be the HMAC of "<t>.<body>" under one of secrets. Unknown keys in the header are
// ignored, so that a future scheme can be added beside v1.
func Verify(header string, body []byte, secrets []string, tolerance time.Duration, now time.Time) error {
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	t, _ := strconv.ParseInt(ts, 10, 64)
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return ErrMismatch
}

// parseSignature splits a header into its timestamp (digits, as signed) and v1 values.
func parseSignature(header string) (string, [][]byte, error) {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, ErrMalformed
		}
		switch k {
		case "t":
			if ts != "" || v == "" || len(v) > 12 || strings.Trim(v, "0123456789") != "" {
				return "", nil, ErrMalformed
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return "", nil, ErrMalformed
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, ErrMalformed
	}
	return ts, sigs, nil
}
