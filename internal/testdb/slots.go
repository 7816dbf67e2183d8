package testdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultSlots is how many tests, across every test binary using the server, hold
// databases at once (CRIER_TEST_DB_SLOTS overrides it). A test holds one connection for
// its slot and at most MaxConns in each pool it opens, so the suite stays near
// DefaultSlots × (1 + MaxConns) = 40 connections whatever -p and -parallel are: with a
// running `crier all` (16) that leaves a default server (100, 3 reserved) 40 to spare.
// Eight is twice what `go test` runs at once on the two cores the suite is timed on.
const DefaultSlots = 8

// slotLockClass is the first key of the advisory locks that are the slots; the second
// is the slot's number.
const slotLockClass = 0x637274 // "crt"

// slotWait is how long a test waits for a slot before it fails.
const slotWait = 5 * time.Minute

// A lease is a test's slot: the connection that holds the slot's advisory lock, which
// also creates and drops the test's databases. A test's subtests share their test's lease,
// so a subtest never waits for a slot its parent holds.
type lease struct {
	mu   sync.Mutex // held while the slot is taken and while conn runs a statement
	conn *pgx.Conn
	refs int // under leases.mu
}

var leases = struct {
	sync.Mutex
	byTest map[string]*lease
}{byTest: map[string]*lease{}}

// waiting lets one test per binary wait for a slot, on one connection: the others wait
// here, without a connection.
var waiting sync.Mutex

// takeLease returns t's lease, taking a slot if t's test holds none; release gives it back.
func takeLease(ctx context.Context, t testing.TB, base string) (l *lease, release func(), err error) {
	top, _, _ := strings.Cut(t.Name(), "/")
	leases.Lock()
	l = leases.byTest[top]
	if l == nil {
		l = &lease{}
		leases.byTest[top] = l
	}
	l.refs++
	leases.Unlock()
	release = func() {
		leases.Lock()
		l.refs--
		last := l.refs == 0
		if last {
			delete(leases.byTest, top)
		}
		leases.Unlock()
		if last {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.conn != nil {
				l.conn.Close(context.Background()) // ends the session: frees the slot
			}
		}
	}
	l.mu.Lock()
	if l.conn == nil {
		var n int
		if n, err = slots(); err == nil {
			l.conn, err = takeSlot(ctx, base, slotLockClass, n, slotWait)
		}
	}
	l.mu.Unlock()
	if err != nil {
		release()
		return nil, nil, err
	}
	return l, release, nil
}

func slots() (int, error) {
	s := os.Getenv("CRIER_TEST_DB_SLOTS")
	if s == "" {
		return DefaultSlots, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("CRIER_TEST_DB_SLOTS must be a positive integer, got %q", s)
	}
	return n, nil
}

// takeSlot connects to base and returns the connection once it holds one of the n session
// advisory locks (class, 0..n-1). The lock lives as long as the connection, so a test
// binary that dies frees its slots with its connections.
func takeSlot(ctx context.Context, base string, class int32, n int, wait time.Duration) (*pgx.Conn, error) {
	waiting.Lock()
	defer waiting.Unlock()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w (is PostgreSQL running? `make test` starts it)", redact(base), err)
	}
	deadline := time.Now().Add(wait)
	for {
		for _, slot := range rand.Perm(n) {
			var ok bool
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", class, int32(slot)).Scan(&ok); err != nil {
				conn.Close(ctx)
				return nil, err
			}
			if ok {
				return conn, nil
			}
		}
		if time.Now().After(deadline) {
			conn.Close(ctx)
			return nil, fmt.Errorf("no free slot of %d after %s: other tests hold them all (CRIER_TEST_DB_SLOTS)", n, wait)
		}
		time.Sleep(20*time.Millisecond + rand.N(20*time.Millisecond))
	}
}
