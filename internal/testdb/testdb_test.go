package testdb_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testdb"
)

func TestNewIsMigratedAndIsolated(t *testing.T) {
	t.Parallel()
	a, b := testdb.New(t), testdb.New(t)
	ctx := context.Background()
	if _, err := a.Exec(ctx, "INSERT INTO api_keys (id, secret_hash, name, role) VALUES ('x', '\\x00', 'n', 'admin')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM api_keys").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("databases are shared: the second one sees %d keys", n)
	}
}

func TestNewPoolIsBounded(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	require.EqualValues(t, testdb.MaxConns, pool.Config().MaxConns)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4*testdb.MaxConns)
	for range 4 * testdb.MaxConns {
		wg.Go(func() {
			if _, err := pool.Exec(ctx, "SELECT pg_sleep(0.02)"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var onServer int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").Scan(&onServer))
	require.LessOrEqual(t, onServer, testdb.MaxConns)
}
