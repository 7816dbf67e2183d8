package delivery

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/sqltest"
	"github.com/crierhq/crier/internal/testdb"
)

// dispatchFixture makes campaign 1, running, with due queued deliveries (ids 1 to due)
// and, after them, later ones not due for an hour; it returns the time they are due by.
func dispatchFixture(t *testing.T, pool *pgxpool.Pool, due, later int) time.Time {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO templates (name, category, locales) VALUES ('sale', 'marketing', '[]')`,
		`INSERT INTO campaigns (name, template_id, status) SELECT 'c', id, 'running' FROM templates`,
		`INSERT INTO campaign_runs (campaign_id, run_at, status, purpose) VALUES (1, now(), 'running', 'marketing')`,
	} {
		_, err := pool.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	now := time.Now()
	// Due times spread over a minute, so that due order is not id order.
	_, err := pool.Exec(ctx, `
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT 1, 1, g, 'queued', $2::timestamptz - interval '1 minute' + (g::bigint * 7919 % 60000) * interval '1 ms'
		FROM generate_series(1, $1) g`, due, now.Add(-time.Second))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT 1, 1, $3 + g, 'queued', $2::timestamptz + interval '1 hour' FROM generate_series(1, $1) g`, later, now, due)
	require.NoError(t, err)
	return now
}

// TestDispatchPartitionsAreDisjoint: the partitions of a campaign take disjoint sets of its
// due deliveries that together are all of them, each earliest due first; each counts only
// its own work in flight; and dispatchers of one partition racing each other still take
// every delivery once (SKIP LOCKED).
func TestDispatchPartitionsAreDisjoint(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	const due, later, parts = 900, 100, 3
	dispatchFixture(t, pool, due, later)
	s := New(pool, Options{})

	taken := map[int64]int{}
	for k := range parts {
		part := Partition{Index: k, Of: parts}
		// Two batches: the second goes on where the first stopped.
		first, err := s.DispatchTake(ctx, 1, part, 100)
		require.NoError(t, err)
		require.Len(t, first, 100)
		rest, err := s.DispatchTake(ctx, 1, part, 10_000)
		require.NoError(t, err)
		require.Len(t, rest, due/parts-100)
		for _, id := range append(first, rest...) {
			require.EqualValues(t, k, id%parts, "partition %d took delivery %d", k, id)
			taken[id]++
		}
		var firstLast, restFirst time.Time
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT (SELECT max(due_at) FROM deliveries WHERE id = ANY ($1)), (SELECT min(due_at) FROM deliveries WHERE id = ANY ($2))`,
			first, rest).Scan(&firstLast, &restFirst))
		require.False(t, restFirst.Before(firstLast), "the earliest due first")
		n, err := s.DispatchInFlight(ctx, 1, part, 10_000)
		require.NoError(t, err)
		require.Equal(t, due/parts, n, "partition %d counts its own", k)
		n, err = s.DispatchInFlight(ctx, 1, part, 7)
		require.NoError(t, err)
		require.Equal(t, 7, n, "up to countUpTo")
	}
	require.Len(t, taken, due, "every due delivery, none of the later ones")
	for id, n := range taken {
		require.Equal(t, 1, n, "delivery %d", id)
		require.LessOrEqual(t, id, int64(due))
	}
	n, err := s.DispatchInFlight(ctx, 1, Partition{}, 10_000)
	require.NoError(t, err)
	require.Equal(t, due, n, "the whole campaign")

	// Give them all back and let eight dispatchers race over two partitions and the whole.
	_, err = pool.Exec(ctx, `UPDATE deliveries SET enqueued_at = NULL`)
	require.NoError(t, err)
	var mu sync.Mutex
	var all []int64
	var wg sync.WaitGroup
	for i := range 8 {
		part := []Partition{{Index: 0, Of: 2}, {Index: 1, Of: 2}, {}}[i%3]
		wg.Go(func() {
			for {
				ids, err := s.DispatchTake(ctx, 1, part, 25)
				if !pgOK(t, err) || len(ids) == 0 {
					return
				}
				mu.Lock()
				all = append(all, ids...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(all)
	require.Len(t, all, due)
	require.Len(t, slices.Compact(all), due, "no delivery taken twice")
}

// pgOK reports a dispatcher's error from a goroutine (require must not be called there).
func pgOK(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// TestDispatchRate: the accounts that can send make the rate, capped by the campaign's own;
// a campaign that is not running or scheduled, or not there, does not send.
func TestDispatchRate(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	dispatchFixture(t, pool, 1, 0)
	s := New(pool, Options{})
	for _, q := range []string{
		`INSERT INTO accounts (name, channel, rate_per_minute, status) VALUES ('a', 'sandbox', 20, 'connected'),
			('b', 'sandbox', 30, 'connected'), ('c', 'sandbox', 40, 'disconnected')`,
		`UPDATE campaigns SET account_ids = ARRAY(SELECT id FROM accounts ORDER BY id)`,
	} {
		_, err := pool.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	r, err := s.DispatchRate(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, DispatchRate{PerMinute: 50, Sending: true}, r)

	_, err = pool.Exec(ctx, `UPDATE campaigns SET rate_per_minute = 35`)
	require.NoError(t, err)
	r, err = s.DispatchRate(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, DispatchRate{PerMinute: 35, Sending: true}, r)

	for _, status := range []string{"paused", "cancelled", "completed"} {
		_, err = pool.Exec(ctx, `UPDATE campaigns SET status = $1`, status)
		require.NoError(t, err)
		r, err = s.DispatchRate(ctx, 1)
		require.NoError(t, err)
		require.False(t, r.Sending, status)
	}
	r, err = s.DispatchRate(ctx, 99)
	require.NoError(t, err)
	require.False(t, r.Sending, "no such campaign")
}

// TestDispatchStatementsUseTheirIndexes: at CRIER_DISPATCH_EXPLAIN_ROWS due deliveries
// (100 000 by default; 1 000 000 takes about a minute more), a partition's take walks
// deliveries_dispatch_idx and its count walks deliveries_inflight_idx, whatever the number
// of partitions, and the take's update looks its rows up by primary key. Written as a plain
// equality, the partition's test made the planner expect one row in two hundred, and sort
// the whole campaign to take a batch; joined to its subquery, the update read the whole
// table for a batch of 5 000.
func TestDispatchStatementsUseTheirIndexes(t *testing.T) {
	t.Parallel()
	rows := 100_000
	if n, err := strconv.Atoi(os.Getenv("CRIER_DISPATCH_EXPLAIN_ROWS")); err == nil && n >= 10_000 {
		rows = n
	}
	pool := testdb.New(t)
	ctx := context.Background()
	now := dispatchFixture(t, pool, rows, 0)
	// A tenth in flight, as mid-run.
	_, err := pool.Exec(ctx, `UPDATE deliveries SET enqueued_at = now() WHERE id % 10 = 0`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `VACUUM ANALYZE deliveries`)
	require.NoError(t, err)

	const noBitmap = `SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off`
	var cases []sqltest.PlanCase
	for _, p := range []int{1, 4, 16} {
		name := strconv.Itoa(p)
		cases = append(cases,
			sqltest.PlanCase{Name: "take, partitions " + name, Stmt: dispatchTake, Args: []any{int64(1), 5000 / p, now, p, p - 1},
				Want: []string{"index=deliveries_dispatch_idx", "index=deliveries_pkey"}, Absent: []string{"Seq Scan", "Sort", "Hash"}},
			sqltest.PlanCase{Name: "in flight, partitions " + name, Settings: noBitmap, Stmt: dispatchInFlight,
				Args: []any{int64(1), 10_000 / p, p, p - 1},
				Want: []string{"index=deliveries_inflight_idx"}, Absent: []string{"Seq Scan", "Sort"}})
	}
	sqltest.CheckPlans(t, pool, cases...)
}
