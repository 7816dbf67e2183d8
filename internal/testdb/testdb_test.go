package testdb_test

import (
	"context"
	"testing"

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
