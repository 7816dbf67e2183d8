package pgbinary_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/pgbinary"
	"github.com/crierhq/crier/internal/testdb"
)

// row is one row of every type the package writes.
type row struct {
	id    int64
	name  string
	hash  []byte
	doc   []byte
	taken time.Time
}

var columns = []string{"id", "name", "hash", "doc", "taken"}

// TestRowsAreWhatPgxWrites copies the same rows into two tables, once through pgcopy and
// once through pgx's CopyFrom, and finds them equal, column by column, with the values
// written: negative and large integers, empty and non-ASCII text, NULL and empty bytea,
// nested JSON, and times before PostgreSQL's epoch, in another zone, to the microsecond.
func TestRowsAreWhatPgxWrites(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	_, err := db.Exec(ctx, `
		CREATE TABLE by_pgcopy (id bigint, name text, hash bytea, doc jsonb, taken timestamptz);
		CREATE TABLE by_pgx (LIKE by_pgcopy)`)
	require.NoError(t, err)

	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	rows := []row{
		{1, "plain", []byte{0, 1, 2, 0xff}, []byte(`{"a": 1}`), time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.UTC)},
		{-7, "", []byte{}, []byte(`{}`), time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{1 << 62, "Zoë — 日本 \t \"q\" \\", nil, []byte(`{"consent_source": "<a href=\"x\">", "n": [1, 2.5, null]}`),
			time.Date(2026, 3, 29, 2, 30, 0, 1000, paris)},
		{0, "x", []byte("h"), []byte(`{"k": {"deep": true}}`), time.Unix(0, 0)},
	}

	buf := pgbinary.NewRows(len(columns), len(rows), 64)
	src := make([][]any, len(rows))
	for i, r := range rows {
		buf.Row()
		buf.Int8(r.id)
		buf.Text(r.name)
		buf.Bytea(r.hash)
		buf.JSONB(r.doc)
		buf.Timestamptz(r.taken)
		var hash any = r.hash
		if r.hash == nil {
			hash = nil
		}
		src[i] = []any{r.id, r.name, hash, string(r.doc), r.taken}
	}
	require.Equal(t, len(rows), buf.Len())

	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	n, err := pgbinary.CopyFrom(ctx, tx, pgx.Identifier{"by_pgcopy"}, columns, buf)
	require.NoError(t, err)
	require.EqualValues(t, len(rows), n)
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"by_pgx"}, columns, pgx.CopyFromRows(src))
	require.NoError(t, err)

	var differ int
	require.NoError(t, tx.QueryRow(ctx, `
		SELECT count(*) FROM ((TABLE by_pgcopy EXCEPT ALL TABLE by_pgx) UNION ALL (TABLE by_pgx EXCEPT ALL TABLE by_pgcopy)) d`).Scan(&differ))
	require.Zero(t, differ, "pgcopy and pgx wrote different rows")

	got, err := tx.Query(ctx, `SELECT id, name, hash, doc::text, taken FROM by_pgcopy ORDER BY id`)
	require.NoError(t, err)
	defer got.Close()
	byID := map[int64]row{}
	for _, r := range rows {
		byID[r.id] = r
	}
	seen := 0
	for got.Next() {
		var g row
		var doc string
		require.NoError(t, got.Scan(&g.id, &g.name, &g.hash, &doc, &g.taken))
		want := byID[g.id]
		require.Equal(t, want.name, g.name)
		require.Equal(t, want.hash, g.hash)
		require.JSONEq(t, string(want.doc), doc)
		require.True(t, want.taken.Equal(g.taken), "row %d: taken %v, want %v", g.id, g.taken, want.taken)
		seen++
	}
	require.NoError(t, got.Err())
	require.Equal(t, len(rows), seen)
	require.NoError(t, tx.Commit(ctx))
}

// TestBadRowsChangeNothing: PostgreSQL refuses text that is not UTF-8, and JSON that does
// not parse, and the COPY writes no row; a buffer whose rows do not match the columns is
// refused before anything is sent.
func TestBadRowsChangeNothing(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	_, err := db.Exec(ctx, `CREATE TABLE t (id bigint, name text, doc jsonb)`)
	require.NoError(t, err)
	cols := []string{"id", "name", "doc"}
	for name, fill := range map[string]func(*pgbinary.Rows){
		"not utf-8": func(r *pgbinary.Rows) { r.Int8(2); r.Text("\xff\xfe"); r.JSONB([]byte(`{}`)) },
		"bad json":  func(r *pgbinary.Rows) { r.Int8(2); r.Text("b"); r.JSONB([]byte(`{"a":`)) },
	} {
		t.Run(name, func(t *testing.T) {
			buf := pgbinary.NewRows(len(cols), 2, 32)
			buf.Row()
			buf.Int8(1)
			buf.Text("a")
			buf.JSONB([]byte(`{}`))
			buf.Row()
			fill(buf)
			tx, err := db.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx)
			_, err = pgbinary.CopyFrom(ctx, tx, pgx.Identifier{"t"}, cols, buf)
			require.Error(t, err)
			require.NoError(t, tx.Rollback(ctx))
			var n int
			require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n))
			require.Zero(t, n)
		})
	}

	buf := pgbinary.NewRows(2, 1, 16)
	buf.Row()
	buf.Int8(1)
	buf.Text("a")
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = pgbinary.CopyFrom(ctx, tx, pgx.Identifier{"t"}, cols, buf)
	require.ErrorContains(t, err, "3 columns for rows of 2 fields")
}
