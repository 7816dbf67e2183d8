package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The pool-size rule (docs/OPERATIONS.md, "Connection budget"). A worker's send pipeline
// coalesces its database work into one statement per step at a time (workers/batch.go:
// load, claim, mark sent), beside the sandbox writer, the events, the dispatcher and the
// reconciler, so its need does not grow with CRIER_WORKER_CONCURRENCY: `crier bench`
// sends as fast with sixteen connections as with sixty-four.
const (
	// defaultProcesses is CRIER_PROCESSES's default: compose's api, worker and scheduler.
	defaultProcesses = 3
	// poolShare: Crier's processes together take at most 1/poolShare of what the server
	// gives non-superusers; the rest is for `crier migrate`, psql, backups, monitoring
	// and a test suite.
	poolShare = 2
	// poolCeiling is the most a computed pool gets: what one process can use.
	poolCeiling = 16
	// poolFloor is the least a computed pool gets (pgx's own default minimum).
	poolFloor = 4
)

// poolBudget is what decides the size of a process's pgx pool.
type poolBudget struct {
	MaxConnections int // the server's max_connections
	Reserved       int // superuser_reserved_connections + reserved_connections: not for Crier's role
	Processes      int // CRIER_PROCESSES
	Override       int // CRIER_DB_POOL_SIZE or pool_max_conns in CRIER_DATABASE_URL; 0: none
	OverrideName   string
}

// size is the pool's size and why, in words for the log. It is never more than the
// server gives non-superusers.
func (b poolBudget) size() (int, string) {
	avail := max(b.MaxConnections-b.Reserved, 1)
	if b.Override > 0 {
		if b.Override > avail {
			return avail, fmt.Sprintf("%s=%d is more than the %d connections the server gives non-superusers", b.OverrideName, b.Override, avail)
		}
		return b.Override, "set by " + b.OverrideName
	}
	share := avail / poolShare / max(b.Processes, 1)
	switch {
	case share > poolCeiling:
		return poolCeiling, fmt.Sprintf("the most one process uses; 1/%d of the server's %d connections for %d processes (CRIER_PROCESSES) would allow %d", poolShare, avail, b.Processes, share)
	case share < poolFloor:
		return min(poolFloor, avail), fmt.Sprintf("the least a process needs, although 1/%d of the server's %d connections for %d processes (CRIER_PROCESSES) is %d: raise max_connections, or put PgBouncer in front", poolShare, avail, b.Processes, share)
	default:
		return share, fmt.Sprintf("1/%d of the server's %d connections for %d processes (CRIER_PROCESSES)", poolShare, avail, b.Processes)
	}
}

// poolChoice is the size openPool gave the pool, for the log line at start.
type poolChoice struct {
	budget poolBudget
	size   int
	why    string
}

func (c poolChoice) attrs() []any {
	return []any{"pool_size", c.size, "max_connections", c.budget.MaxConnections,
		"reserved_connections", c.budget.Reserved, "processes", c.budget.Processes, "why", c.why}
}

// openPool connects to PostgreSQL once, to fail fast with a clear message and to read
// the server's connection limits, then opens a pool of the size poolBudget gives.
func openPool(ctx context.Context, cfg Config) (*pgxpool.Pool, poolChoice, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, poolChoice{}, fmt.Errorf("CRIER_DATABASE_URL: %w", err)
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	b := poolBudget{Processes: cfg.Processes, Override: cfg.DBPoolSize, OverrideName: "CRIER_DB_POOL_SIZE"}
	if strings.Contains(cfg.DatabaseURL, "pool_max_conns") { // loadConfig refuses both
		b.Override, b.OverrideName = int(pcfg.MaxConns), "pool_max_conns in CRIER_DATABASE_URL"
	}

	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(pingCtx, pcfg.ConnConfig)
	if err != nil {
		return nil, poolChoice{}, fmt.Errorf("cannot reach PostgreSQL at %s: %w (is it running? `make run` starts it)", redactURL(cfg.DatabaseURL), err)
	}
	// reserved_connections (PostgreSQL 16+) keeps slots for pg_use_reserved_connections.
	err = conn.QueryRow(pingCtx, `
		SELECT current_setting('max_connections')::int,
		       current_setting('superuser_reserved_connections')::int
		         + coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0)`).
		Scan(&b.MaxConnections, &b.Reserved)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, poolChoice{}, fmt.Errorf("PostgreSQL: read max_connections: %w", err)
	}
	size, why := b.size()
	pcfg.MaxConns = int32(size)
	pcfg.MinConns = min(pcfg.MinConns, pcfg.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, poolChoice{}, fmt.Errorf("PostgreSQL: %w", err)
	}
	return pool, poolChoice{budget: b, size: size, why: why}, nil
}
