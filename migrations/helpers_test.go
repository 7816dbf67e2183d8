package migrations_test

import (
	"database/sql"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/migrations"
)

// migrated returns a migrated database of the test's own and a goose provider over it,
// for a test that takes migrations down and up again. The test runs in parallel.
func migrated(t *testing.T) (*sql.DB, *goose.Provider) {
	t.Helper()
	t.Parallel()
	db, err := sql.Open("pgx", testdb.NewURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	require.NoError(t, err)
	return db, p
}
