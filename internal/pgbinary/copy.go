// The binary COPY format is PostgreSQL's (https://www.postgresql.org/docs/current/sql-copy.html,
// "Binary Format"): a signature, then per row a 16-bit field count and each field, then -1.

package pgbinary

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// signature is the binary COPY header: the 11-byte signature, no flags, no extension.
var signature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// postgresEpoch is the zero of PostgreSQL's timestamps, in Unix microseconds.
const postgresEpoch = 946_684_800_000_000

// Rows is a buffer of rows for one COPY. Each row begins with Row and is followed by
// exactly as many fields as the COPY names columns, in their order.
type Rows struct {
	buf    []byte
	fields int
	rows   int
}

// NewRows returns an empty buffer for rows of the given number of fields, sized for
// about rowBytes bytes a row over rows rows.
func NewRows(fields, rows, rowBytes int) *Rows {
	buf := make([]byte, 0, len(signature)+rows*rowBytes+2)
	return &Rows{buf: append(buf, signature...), fields: fields}
}

// Row begins a row.
func (r *Rows) Row() {
	r.buf = binary.BigEndian.AppendUint16(r.buf, uint16(r.fields))
	r.rows++
}

// Int8 appends a bigint.
func (r *Rows) Int8(v int64) { r.buf = appendInt8(r.buf, v) }

// Text appends a text value (see appendText).
func (r *Rows) Text(s string) { r.buf = appendText(r.buf, s) }

// Bytea appends a bytea value; nil is NULL.
func (r *Rows) Bytea(b []byte) { r.buf = appendBytea(r.buf, b) }

// JSONB appends a jsonb value from its JSON text, which PostgreSQL parses.
func (r *Rows) JSONB(json []byte) {
	r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(1+len(json)))
	r.buf = append(append(r.buf, 1), json...) // jsonb's binary form: version 1, then the text
}

// Timestamptz appends a timestamptz, to the microsecond (PostgreSQL's precision).
func (r *Rows) Timestamptz(t time.Time) {
	r.buf = binary.BigEndian.AppendUint32(r.buf, 8)
	r.buf = binary.BigEndian.AppendUint64(r.buf, uint64(t.UnixMicro()-postgresEpoch))
}

// Len is the number of rows begun.
func (r *Rows) Len() int { return r.rows }

// CopyFrom sends the rows to table's columns on tx's connection, inside tx, and returns
// the number of rows PostgreSQL copied. It ends the rows with COPY's trailer, so a
// buffer is sent once.
func CopyFrom(ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string, r *Rows) (int64, error) {
	if len(columns) != r.fields {
		return 0, fmt.Errorf("pgbinary: %d columns for rows of %d fields", len(columns), r.fields)
	}
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", table.Sanitize(), strings.Join(quoted, ", "))
	data := binary.BigEndian.AppendUint16(r.buf, 0xffff) // the trailer: a field count of -1
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), sql)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
