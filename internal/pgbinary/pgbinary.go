// Package pgbinary writes values in PostgreSQL's binary forms, for the hot bulk writes of
// an import: rows for a binary COPY (Rows, CopyFrom) and one-dimensional arrays as the
// parameters of a prepared statement (Int8Array, TextArray, ByteaArray, QueryRow). pgx
// takes each value as an `any` and looks up its encoding, element by element, or by
// reflection for a slice of []byte: 12 % of crier's CPU in a million-row import for the
// consent's COPY, and a fifth for the merge's arrays, which the merge's backend waited
// for (docs/BENCHMARKS.md). Here a value is a few appends to one buffer.
//
// A COPY row's field and an array's element have the same form: a 32-bit length (-1 for
// NULL), then the type's binary send form.
package pgbinary

import "encoding/binary"

// appendInt8 appends a bigint field.
func appendInt8(buf []byte, v int64) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(v))
}

// appendText appends a text field. PostgreSQL checks that it is valid in the server's
// encoding, as for any text it receives.
func appendText(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

// appendBytea appends a bytea field; nil is NULL.
func appendBytea(buf []byte, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(buf, 0xffffffff)
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}
