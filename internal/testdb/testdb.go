// Package testdb gives each test its own PostgreSQL database, cloned from a template that
// is migrated once per set of migrations. Cloning takes tens of milliseconds, so tests can
// run in parallel without sharing state.
//
// The suite bounds its own connections: every pool New returns has MaxConns connections,
// and at most DefaultSlots tests (CRIER_TEST_DB_SLOTS), across all the test binaries that
// `go test ./...` runs at once, hold databases at a time; the others wait for a slot.
//
// The server is CRIER_TEST_DATABASE_URL (default: the local one that `make test` sets up);
// the role needs CREATEDB.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for goose

	"github.com/crierhq/crier/migrations"
)

// DefaultURL is the maintenance database the tests connect to when
// CRIER_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://crier:crier@127.0.0.1:5432/postgres?sslmode=disable"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// MaxConns is the size of every pool New returns, and the size to give any pool a test
// opens itself on NewURL's database (cmd/crier's tests pass it as CRIER_DB_POOL_SIZE). It
// is pgx's own default on a machine of up to four CPUs, which the suite has always passed
// with: a test runs its statements one after another, and the send pipeline runs one
// statement per step at a time.
const MaxConns = 4

// New returns a pool of MaxConns connections on a new, migrated database that is dropped
// when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(NewURL(t))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	cfg.MaxConns = MaxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("testdb: connect: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the database is dropped (cleanups are LIFO)
	return pool
}

// NewURL creates a new, migrated database and returns its URL; the database is dropped
// (forcibly) when the test ends. It waits while other tests hold every slot.
func NewURL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	base := adminURL()
	l, release, err := takeLease(ctx, t, base)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(release) // after the drop below (cleanups are LIFO)
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, base) })
	if templateErr != nil {
		t.Fatalf("testdb: template: %v", templateErr)
	}

	name := "crier_test_" + randomHex(6)
	l.mu.Lock()
	for attempt := 0; ; attempt++ {
		_, err = l.conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName))
		var pgErr *pgconn.PgError
		// 55006: the template is briefly in use by another clone; try again.
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == 50 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.mu.Unlock()
	if err != nil {
		t.Fatalf("testdb: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, err := l.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: drop %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

func adminURL() string {
	if u := os.Getenv("CRIER_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// ensureTemplate creates crier_tmpl_<hash of the migrations> once per server. It is
// built under another name and renamed when complete, so a crash never leaves a
// half-migrated template behind, and an advisory lock keeps parallel test binaries from
// building it twice.
func ensureTemplate(ctx context.Context, base string) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w (is PostgreSQL running? `make test` starts it)", redact(base), err)
	}
	defer conn.Close(ctx)
	// One template per role: only its owner may clone a database, and the tables in it
	// belong to the role that migrated it, so a suite run as crier and one run as
	// postgres on the same server each build their own.
	var role string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil {
		return "", err
	}
	name := "crier_tmpl_" + sum + "_" + fmt.Sprintf("%x", sha256.Sum256([]byte(role)))[:6]
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext('crier_testdb_template'))"); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtext('crier_testdb_template'))") //nolint:errcheck

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	wip := name + "_wip"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+wip+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+wip); err != nil {
		return "", err
	}
	db, err := sql.Open("pgx", withDatabase(base, wip))
	if err != nil {
		return "", err
	}
	db.SetMaxOpenConns(MaxConns)
	_, err = migrations.Up(ctx, db, nil)
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+wip+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

func migrationsHash() (string, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(fmt.Sprintf("testdb: bad CRIER_TEST_DATABASE_URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the database URL"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
