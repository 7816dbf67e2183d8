package pgbinary_test

import (
	"context"
	"math"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/pgbinary"
	"github.com/crierhq/crier/internal/testdb"
)

func bytesOf(t *testing.T, a interface{ Bytes() ([]byte, error) }) []byte {
	t.Helper()
	b, err := a.Bytes()
	require.NoError(t, err)
	return b
}

func acquire(t *testing.T, db *pgxpool.Pool) *pgxpool.Conn {
	t.Helper()
	conn, err := db.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(conn.Release)
	return conn
}

func prepare(t *testing.T, conn *pgxpool.Conn, name, sql string) *pgconn.StatementDescription {
	t.Helper()
	sd, err := conn.Conn().Prepare(context.Background(), name, sql)
	require.NoError(t, err)
	return sd
}

// TestArraysAreWhatPostgresReads sends arrays of each type as parameters and reads them
// back as PostgreSQL understood them: negative and extreme integers, empty and non-ASCII
// text, text that looks like NULL or like the text form's punctuation, NULL and empty
// bytea, and empty arrays, which have no dimensions.
func TestArraysAreWhatPostgresReads(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	ints := []int64{1, -7, 1 << 62, 0, math.MinInt64, math.MaxInt64}
	texts := []string{"plain", "", "Zoë — 日本 \t \"q\" \\", "{a,b}", "NULL"}
	byteas := [][]byte{{0, 1, 2, 0xff}, {}, nil, []byte("h")}

	i8 := pgbinary.NewInt8Array(len(ints))
	for _, v := range ints {
		i8.Append(v)
	}
	tx := pgbinary.NewTextArray(len(texts), 4)
	for _, v := range texts {
		tx.Append(v)
	}
	by := pgbinary.NewByteaArray(len(byteas), 2)
	for _, v := range byteas {
		by.Append(v)
	}
	params := [][]byte{bytesOf(t, i8), bytesOf(t, tx), bytesOf(t, by),
		bytesOf(t, pgbinary.NewInt8Array(0)), bytesOf(t, pgbinary.NewTextArray(0, 0)), bytesOf(t, pgbinary.NewByteaArray(0, 0))}

	conn := acquire(t, db)
	sd := prepare(t, conn, "arrays", `
		SELECT $1::bigint[], $2::text[], $3::bytea[], $4::bigint[], $5::text[], $6::bytea[],
		       array_lower($1, 1), array_lower($2, 1), array_lower($3, 1),
		       array_ndims($4), array_ndims($5), array_ndims($6),
		       $3[3] IS NULL, $3[2] IS NOT NULL, $2[5] IS NOT NULL AND $2[5] = 'NULL',
		       $1 = '{1,-7,4611686018427387904,0,-9223372036854775808,9223372036854775807}'::bigint[]`)
	var gotInts, noInts []int64
	var gotTexts, noTexts []string
	var gotByteas, noByteas [][]byte
	var lower1, lower2, lower3 int
	var ndims4, ndims5, ndims6 *int
	var nullIsNull, emptyIsNotNull, nullTextIsText, intsAsLiteral bool
	require.NoError(t, pgbinary.QueryRow(ctx, conn.Conn(), sd, params,
		&gotInts, &gotTexts, &gotByteas, &noInts, &noTexts, &noByteas,
		&lower1, &lower2, &lower3, &ndims4, &ndims5, &ndims6,
		&nullIsNull, &emptyIsNotNull, &nullTextIsText, &intsAsLiteral))
	require.Equal(t, ints, gotInts)
	require.Equal(t, texts, gotTexts)
	require.Equal(t, byteas, gotByteas)
	require.Equal(t, []int{1, 1, 1}, []int{lower1, lower2, lower3}, "arrays start at 1")
	require.Empty(t, noInts)
	require.Empty(t, noTexts)
	require.Empty(t, noByteas)
	require.Nil(t, ndims4, "an empty array has no dimensions")
	require.Nil(t, ndims5)
	require.Nil(t, ndims6)
	require.True(t, nullIsNull, "nil is NULL")
	require.True(t, emptyIsNotNull, "an empty bytea is not NULL")
	require.True(t, nullTextIsText, `the text "NULL" is text`)
	require.True(t, intsAsLiteral)
}

// TestBadArraysChangeNothing: an array given more or fewer elements than it was begun
// with is refused before anything is sent; PostgreSQL refuses text that is not UTF-8;
// a statement with no row, more than one, other columns than asked for or a column that
// does not scan is an error; and the connection is ready for the next statement after
// each.
func TestBadArraysChangeNothing(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)

	short := pgbinary.NewInt8Array(2)
	short.Append(1)
	_, err := short.Bytes()
	require.ErrorContains(t, err, "1 elements in an array of 2")
	long := pgbinary.NewTextArray(1, 1)
	long.Append("a")
	long.Append("b")
	_, err = long.Bytes()
	require.ErrorContains(t, err, "2 elements in an array of 1")

	_, err = db.Exec(ctx, `CREATE TABLE t (name text)`)
	require.NoError(t, err)
	conn := acquire(t, db)
	insert := prepare(t, conn, "insert", `
		WITH ins AS (INSERT INTO t SELECT unnest($1::text[]) RETURNING 1) SELECT count(*) FROM ins`)
	bad := pgbinary.NewTextArray(2, 4)
	bad.Append("fine")
	bad.Append("\xff\xfe")
	var n int64
	err = pgbinary.QueryRow(ctx, conn.Conn(), insert, [][]byte{bytesOf(t, bad)}, &n)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "22021", pgErr.Code, "invalid byte sequence")

	rows := prepare(t, conn, "rows", `SELECT g FROM generate_series(1, ($1::bigint[])[1]) g`)
	count := func(k int64) [][]byte {
		a := pgbinary.NewInt8Array(1)
		a.Append(k)
		return [][]byte{bytesOf(t, a)}
	}
	var g int64
	require.ErrorContains(t, pgbinary.QueryRow(ctx, conn.Conn(), rows, count(0), &g), "returned 0 rows, not one")
	require.ErrorContains(t, pgbinary.QueryRow(ctx, conn.Conn(), rows, count(3), &g), "returned 3 rows, not one")
	require.ErrorContains(t, pgbinary.QueryRow(ctx, conn.Conn(), rows, count(1), &g, &n), "returns 1 columns, not 2")
	var s []string
	require.ErrorContains(t, pgbinary.QueryRow(ctx, conn.Conn(), rows, count(1), &s), "column g")
	require.NoError(t, pgbinary.QueryRow(ctx, conn.Conn(), rows, count(1), &g))
	require.EqualValues(t, 1, g)

	var stored int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&stored))
	require.Zero(t, stored, "the refused insert wrote nothing")
}
