package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
)

func TestPoolBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		b    poolBudget
		want int
	}{
		{"default server, default processes", poolBudget{MaxConnections: 100, Reserved: 3, Processes: 3}, 16},
		{"the ceiling", poolBudget{MaxConnections: 1000, Reserved: 3, Processes: 1}, 16},
		{"a share", poolBudget{MaxConnections: 100, Reserved: 3, Processes: 6}, 8},
		{"a share of a bigger server", poolBudget{MaxConnections: 500, Reserved: 3, Processes: 20}, 12},
		{"the floor", poolBudget{MaxConnections: 100, Reserved: 3, Processes: 50}, 4},
		{"the floor, never more than the server gives", poolBudget{MaxConnections: 5, Reserved: 3, Processes: 1}, 2},
		{"override", poolBudget{MaxConnections: 100, Reserved: 3, Processes: 3, Override: 40, OverrideName: "CRIER_DB_POOL_SIZE"}, 40},
		{"override above the server", poolBudget{MaxConnections: 100, Reserved: 3, Processes: 3, Override: 500, OverrideName: "CRIER_DB_POOL_SIZE"}, 97},
	} {
		got, why := tc.b.size()
		require.Equal(t, tc.want, got, tc.name)
		require.NotEmpty(t, why, tc.name)
	}
	_, why := poolBudget{MaxConnections: 100, Reserved: 3, Processes: 50}.size()
	require.Contains(t, why, "raise max_connections")
}

// TestDefaultsLeaveRoomForTheTests: on PostgreSQL's defaults (100 connections, 3 for
// superusers), `make run` (one `crier all`, default settings) and `make test` (testdb's
// slots, each a lease connection and one pool) leave a fifth of the server free.
func TestDefaultsLeaveRoomForTheTests(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(func(string) string { return "" })
	require.NoError(t, err)
	run, _ := poolBudget{MaxConnections: 100, Reserved: 3, Processes: cfg.Processes}.size()
	tests := testdb.DefaultSlots * (1 + testdb.MaxConns)
	require.LessOrEqual(t, run+tests, 97-20, "make run's pool (%d) and the suite (%d)", run, tests)
}

// TestPoolStaysWithinItsSize opens the app's pool against the test server, sized by the
// rule from the server's max_connections and by CRIER_DB_POOL_SIZE, loads it with four
// times as many queries at once, and counts its connections on the server.
func TestPoolStaysWithinItsSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	getenv := env(t)
	conn, err := pgx.Connect(ctx, getenv("CRIER_DATABASE_URL"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	server := poolBudget{}
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int`).
		Scan(&server.MaxConnections, &server.Reserved))
	// Enough processes for a share between the floor and the ceiling: about six each.
	processes := max((server.MaxConnections-server.Reserved)/poolShare/6, 1)
	server.Processes = processes
	computed, _ := server.size()

	for _, tc := range []struct {
		name string
		kv   []string
		want int
	}{
		{"computed", []string{"CRIER_DB_POOL_SIZE", "", "CRIER_PROCESSES", strconv.Itoa(processes)}, computed},
		{"override", []string{"CRIER_DB_POOL_SIZE", "3"}, 3},
	} {
		getenv := env(t, tc.kv...) // a database of its own, so that only this pool is counted
		cfg, err := loadConfig(getenv)
		require.NoError(t, err)
		a, err := openApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err)
		defer a.Close()
		require.Equal(t, tc.want, a.poolChoice.size, tc.name)
		require.EqualValues(t, tc.want, a.pool.Stat().MaxConns(), tc.name)

		var wg sync.WaitGroup
		errs := make(chan error, 4*tc.want)
		for range 4 * tc.want {
			wg.Go(func() {
				for range 3 {
					if _, err := a.pool.Exec(ctx, `SELECT pg_sleep(0.02)`); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		u, err := url.Parse(cfg.DatabaseURL)
		require.NoError(t, err)
		var onServer int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`,
			strings.TrimPrefix(u.Path, "/")).Scan(&onServer))
		require.Positive(t, onServer, tc.name)
		require.LessOrEqual(t, onServer, tc.want, tc.name)
	}

	// The commands that run for long log the choice at info; the others at debug.
	code, _, stderr := runCmd(t, env(t, "CRIER_DATABASE_URL", getenv("CRIER_DATABASE_URL"), "CRIER_LOG_LEVEL", "debug"), "apikey", "list")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, `level=DEBUG msg="database pool" pool_size=4 max_connections=`)
	require.Contains(t, stderr, `why="set by CRIER_DB_POOL_SIZE"`)
}

func TestPoolSettingsAreChecked(t *testing.T) {
	t.Parallel()
	get := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cfg, err := loadConfig(get(nil))
	require.NoError(t, err)
	require.Equal(t, defaultProcesses, cfg.Processes)
	require.Zero(t, cfg.DBPoolSize, "computed")
	_, err = loadConfig(get(map[string]string{"CRIER_PROCESSES": "0", "CRIER_DB_POOL_SIZE": "many"}))
	require.ErrorContains(t, err, "CRIER_PROCESSES: must be an integer from 1 to 1000")
	require.ErrorContains(t, err, "CRIER_DB_POOL_SIZE: must be an integer from 1 to 10000")
	_, err = loadConfig(get(map[string]string{"CRIER_DB_POOL_SIZE": "8",
		"CRIER_DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db?pool_max_conns=20"}))
	require.ErrorContains(t, err, "CRIER_DB_POOL_SIZE: set it or pool_max_conns in CRIER_DATABASE_URL, not both")
}

// TestBenchWithoutHashKey: the bench runs on a throwaway database, so without
// CRIER_HASH_KEY it makes a throwaway key, and says so.
func TestBenchWithoutHashKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	benchRedis := testredis.Options(t)
	getenv := env(t, "CRIER_HASH_KEY", "", "CRIER_LOG_LEVEL", "warn")

	cfg, err := loadConfig(getenv)
	require.NoError(t, err)
	require.Empty(t, cfg.HashKey)
	a, err := openApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer a.Close()
	var progress bytes.Buffer
	e, err := newBenchEnv(ctx, a, benchOptions{RedisDB: benchRedis.DB, Concurrency: 8, Progress: &progress})
	require.NoError(t, err)
	require.Len(t, e.app.cfg.HashKey, minHashKeyBytes)
	require.Contains(t, progress.String(), "bench: no CRIER_HASH_KEY: phone hashes use a throwaway key")
	e.Close(false)

	code, out, stderr := runCmd(t, getenv, "bench", "--contacts", "20", "--stops", "0", "--accounts", "1",
		"--concurrency", "8", "--redis-db", strconv.Itoa(benchRedis.DB))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "| End-to-end send |")
	// The run names its machine first, and ends with the machine's pace and the price of a
	// round trip, before and after.
	require.Regexp(t, `^\| metric \| value \| notes \|\n\|---\|---\|---\|\n\| Machine \| .+, [0-9]+ CPUs(, kernel page-table isolation on)? \| PostgreSQL [0-9]+.* \(shared_buffers [0-9]+[kMG]B, wal_buffers [0-9]+[kMG]B, max_wal_size [0-9]+[kMG]B, autovacuum (on|off)\), Redis [0-9.]+, GOMAXPROCS [0-9]+ \|\n`, out)
	require.Regexp(t, `\| Machine pace \| [1-9][0-9]* ms / [1-9][0-9]* ms \| [^|]+\|\n\| Round-trip pace \| [0-9]+\.[0-9] µs / [0-9]+\.[0-9] µs \| [^|]+\|\n\n`, out)

	// --no-send stops after the launch: the import and the launch, and nothing sent.
	code, out, stderr = runCmd(t, getenv, "bench", "--contacts", "20", "--stops", "0", "--accounts", "1",
		"--concurrency", "8", "--redis-db", strconv.Itoa(benchRedis.DB), "--no-send")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "| Audience expansion |")
	require.NotContains(t, out, "| End-to-end send |")
	require.Contains(t, out, "| Machine pace |")
	require.Contains(t, out, "| Round-trip pace |")
}
