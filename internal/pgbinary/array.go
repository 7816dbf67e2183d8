// A one-dimensional array's binary form is array_send's
// (src/backend/utils/adt/arrayfuncs.c): the number of dimensions, a flag saying whether
// any element is NULL, the element type's OID, then for the one dimension its length and
// lower bound (1), then each element as a field. An empty array has no dimensions.

package pgbinary

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// array is one array being written: begun with its number of elements, then given
// exactly that many.
type array struct {
	buf  []byte
	want int
	n    int
}

// header is the size of a one-dimensional array's header.
const header = 4 * 5

func newArray(elem uint32, n, elemBytes int) array {
	a := array{want: n, buf: make([]byte, 0, header+n*(4+elemBytes))}
	if n == 0 {
		a.buf = binary.BigEndian.AppendUint32(a.buf, 0) // no dimensions
		a.buf = binary.BigEndian.AppendUint32(a.buf, 0) // no NULL
		a.buf = binary.BigEndian.AppendUint32(a.buf, elem)
		return a
	}
	a.buf = binary.BigEndian.AppendUint32(a.buf, 1)
	a.buf = binary.BigEndian.AppendUint32(a.buf, 0) // set by the first NULL
	a.buf = binary.BigEndian.AppendUint32(a.buf, elem)
	a.buf = binary.BigEndian.AppendUint32(a.buf, uint32(n))
	a.buf = binary.BigEndian.AppendUint32(a.buf, 1) // lower bound
	return a
}

// Bytes returns the array's binary form. It fails if the array was given fewer or more
// elements than it was begun with: PostgreSQL reads the elements by the length in the
// header.
func (a *array) Bytes() ([]byte, error) {
	if a.n != a.want {
		return nil, fmt.Errorf("pgbinary: %d elements in an array of %d", a.n, a.want)
	}
	return a.buf, nil
}

// Int8Array is a bigint[].
type Int8Array struct{ array }

// NewInt8Array begins a bigint[] of n elements.
func NewInt8Array(n int) *Int8Array { return &Int8Array{newArray(pgtype.Int8OID, n, 8)} }

// Append appends a bigint.
func (a *Int8Array) Append(v int64) {
	a.n++
	a.buf = appendInt8(a.buf, v)
}

// TextArray is a text[].
type TextArray struct{ array }

// NewTextArray begins a text[] of n elements, sized for about elemBytes bytes each.
func NewTextArray(n, elemBytes int) *TextArray {
	return &TextArray{newArray(pgtype.TextOID, n, elemBytes)}
}

// Append appends a text value (see appendText).
func (a *TextArray) Append(s string) {
	a.n++
	a.buf = appendText(a.buf, s)
}

// ByteaArray is a bytea[].
type ByteaArray struct{ array }

// NewByteaArray begins a bytea[] of n elements, sized for about elemBytes bytes each.
func NewByteaArray(n, elemBytes int) *ByteaArray {
	return &ByteaArray{newArray(pgtype.ByteaOID, n, elemBytes)}
}

// Append appends a bytea value; nil is NULL.
func (a *ByteaArray) Append(b []byte) {
	a.n++
	if b == nil {
		binary.BigEndian.PutUint32(a.buf[4:], 1) // as array_send writes it; array_recv goes by the -1
	}
	a.buf = appendBytea(a.buf, b)
}

// QueryRow runs the prepared statement sd on conn with params, each in binary form (as
// this package writes arrays), and scans its one row into dst, one destination a column,
// from the binary form of each column's type. A statement that returns no row is an
// error, as is one whose columns do not match dst; the statement's own error (a
// constraint, say) is returned as PostgreSQL gave it (a *pgconn.PgError).
func QueryRow(ctx context.Context, conn *pgx.Conn, sd *pgconn.StatementDescription, params [][]byte, dst ...any) error {
	if len(sd.Fields) != len(dst) {
		return fmt.Errorf("pgbinary: %s returns %d columns, not %d", sd.Name, len(sd.Fields), len(dst))
	}
	binaryFormat := []int16{pgtype.BinaryFormatCode} // one code: every parameter, every column
	rr := conn.PgConn().ExecPrepared(ctx, sd.Name, params, binaryFormat, binaryFormat)
	var scanErr error
	rows := 0
	for rr.NextRow() {
		rows++
		if rows > 1 || scanErr != nil {
			continue // read to the end, so that the connection is ready for the next statement
		}
		for i, v := range rr.Values() {
			if err := conn.TypeMap().Scan(sd.Fields[i].DataTypeOID, pgtype.BinaryFormatCode, v, dst[i]); err != nil {
				scanErr = fmt.Errorf("pgbinary: %s: column %s: %w", sd.Name, sd.Fields[i].Name, err)
				break
			}
		}
	}
	if _, err := rr.Close(); err != nil {
		return err
	}
	switch {
	case scanErr != nil:
		return scanErr
	case rows != 1:
		return fmt.Errorf("pgbinary: %s returned %d rows, not one", sd.Name, rows)
	}
	return nil
}
