package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// A run's figures depend on the machine as much as on the code: the same binary took 46 µs
// of CPU a row to import on one machine of this project's kind and 20 µs on another
// (docs/BENCHMARKS.md). So a run says what it ran on, and how fast that machine was while
// it ran, for a reader (or --compare) to tell a change of code from a change of machine.

// benchMachine describes the machine: its processor as /proc/cpuinfo names it and how
// many the run may use, then the versions of PostgreSQL and Redis, with the PostgreSQL
// settings that moved the figures most when they were changed (docs/BENCHMARKS.md).
func benchMachine(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient) (cpu, servers string) {
	cpu = runtime.GOARCH
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpu = cmp.Or(parseCPUInfo(string(data)), cpu)
	}
	cpu = fmt.Sprintf("%s, %d CPUs", cpu, runtime.NumCPU())
	if pageTableIsolation() {
		cpu += ", kernel page-table isolation on"
	}
	pg, rd := "unknown", "unknown"
	if err := pool.QueryRow(ctx, `
		SELECT format('%s (shared_buffers %s, wal_buffers %s, max_wal_size %s, autovacuum %s)',
		              current_setting('server_version'), current_setting('shared_buffers'),
		              current_setting('wal_buffers'), current_setting('max_wal_size'),
		              current_setting('autovacuum'))`).Scan(&pg); err != nil {
		pg = "unknown"
	}
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				rd = v
			}
		}
	}
	return cpu, fmt.Sprintf("PostgreSQL %s, Redis %s, GOMAXPROCS %d", pg, rd, runtime.GOMAXPROCS(0))
}

// pageTableIsolation says whether the kernel isolates its page tables from user space
// (PTI, its Meltdown mitigation), which makes every system call dearer. It is a property of
// the machine as a run sees it: a hypervisor may report a processor that needs it.
func pageTableIsolation() bool {
	b, err := os.ReadFile("/sys/devices/system/cpu/vulnerabilities/meltdown")
	return err == nil && strings.Contains(string(b), "PTI")
}

// parseCPUInfo names the first processor of /proc/cpuinfo: its model name, with the family
// and model numbers where the name alone does not tell the generation ("AMD EPYC" under a
// hypervisor names every EPYC alike). Empty when the file names none.
func parseCPUInfo(text string) string {
	var name, family, model string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(sc.Text()) == "" && name != "" {
				break // the end of the first processor
			}
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "model name":
			name = value
		case "cpu family":
			family = value
		case "model":
			model = value
		}
	}
	switch {
	case name == "":
		return ""
	case family != "" && model != "":
		return fmt.Sprintf("%s (family %s, model %s)", name, family, model)
	}
	return name
}

// paceSQL is a fixed piece of PostgreSQL work on one core: summing five million integers,
// streamed (a set-returning function in the select list is not materialised). JIT is off,
// so that it measures the machine, not the compiler.
const paceSQL = `SELECT sum(x) FROM (SELECT generate_series(1, 5000000) AS x) s`

// benchPace times paceSQL three times and returns the median: the machine's pace at that
// moment, a busy neighbour included. It is a reference for reading a run beside another,
// not a factor to correct one by: an import's work is index pages and WAL, not arithmetic.
func benchPace(ctx context.Context, pool *pgxpool.Pool) (time.Duration, error) {
	var took []time.Duration
	for range 3 {
		start := time.Now()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
				return err
			}
			var sum int64
			return tx.QueryRow(ctx, paceSQL).Scan(&sum)
		})
		if err != nil {
			return 0, fmt.Errorf("machine pace: %w", err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[1], nil
}

// roundTrips is how many Redis PINGs benchRoundTrip times in a row.
const roundTrips = 2000

// benchRoundTrip times a Redis PING answered, roundTrips in a row, three times, and returns
// the median time of one. A message costs a few round trips to Redis and PostgreSQL, and
// their price (system calls, the loopback, waking the other process) is what differs most
// between machines whose arithmetic (benchPace) is alike.
func benchRoundTrip(ctx context.Context, rdb redis.UniversalClient) (time.Duration, error) {
	var took []time.Duration
	for range 3 {
		start := time.Now()
		for range roundTrips {
			if err := rdb.Ping(ctx).Err(); err != nil {
				return 0, fmt.Errorf("round-trip pace: %w", err)
			}
		}
		took = append(took, time.Since(start)/roundTrips)
	}
	slices.Sort(took)
	return took[1], nil
}
