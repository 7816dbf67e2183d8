package campaigns_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/delivery"
)

// BenchmarkStats10M times a campaign's stats at ten million deliveries (CRIER_BENCH_DELIVERIES
// changes the number): ten runs of a million, sent through four accounts and two variants,
// with receipts, replies, failures and opt-outs. "unfolded" adds what half a minute of
// sending at 3 000 messages a second leaves for the reconciler to fold (1 250 batches of
// claim, sent and receipts, each appending a counter row per account and variant);
// "folded" reads after the fold. It runs only under -bench, never in make test:
//
//	go test ./campaigns -run '^$' -bench Stats10M -benchtime 20x -timeout 1h
func BenchmarkStats10M(b *testing.B) {
	n := 10_000_000
	if v, err := strconv.Atoi(os.Getenv("CRIER_BENCH_DELIVERIES")); err == nil && v > 0 {
		n = v
	}
	bundle := setupBench(b)
	ctx := context.Background()
	c, err := bundle.svc.Create(ctx, bundle.input(), "bench")
	require.NoError(b, err)
	start := time.Now()
	const runs = 10
	for r := range runs {
		var runID int64
		require.NoError(b, bundle.pool.QueryRow(ctx, `
			INSERT INTO campaign_runs (campaign_id, run_at, status, purpose) VALUES ($1, now() - make_interval(days => $2), 'completed', 'marketing')
			RETURNING id`, c.ID, r).Scan(&runID))
		// One statement per run: the insert trigger counts each in one pass.
		_, err := bundle.pool.Exec(ctx, `
			INSERT INTO deliveries (run_id, campaign_id, contact_id, status, skip_reason, due_at, account_id, variant,
				sent_at, delivered_at, read_at, failed_at, replied_at, opted_out_at)
			SELECT $1, $2, NULL, s.status, CASE WHEN s.status = 'skipped' THEN 'no_consent' END, now(),
				CASE WHEN s.status <> 'skipped' THEN $4 + i % 4 END, CASE WHEN s.status <> 'skipped' THEN i % 2 END,
				CASE WHEN s.status IN ('sent', 'delivered', 'read') THEN now() END,
				CASE WHEN s.status IN ('delivered', 'read') THEN now() END,
				CASE WHEN s.status = 'read' THEN now() END,
				CASE WHEN s.status = 'failed' THEN now() END,
				CASE WHEN i % 50 = 0 AND s.status = 'read' THEN now() END,
				CASE WHEN i % 500 = 0 AND s.status = 'read' THEN now() END
			FROM generate_series(1, $3) i,
			LATERAL (SELECT (ARRAY['read', 'read', 'delivered', 'delivered', 'delivered', 'sent', 'failed', 'skipped'])[1 + i % 8] AS status) s`,
			runID, c.ID, n/runs, bundle.account)
		require.NoError(b, err)
	}
	sends := delivery.New(bundle.pool, delivery.Options{})
	_, err = sends.FoldCounts(ctx)
	require.NoError(b, err)
	_, err = bundle.pool.Exec(ctx, `VACUUM ANALYZE delivery_counts`)
	require.NoError(b, err)
	b.Logf("%d deliveries generated in %s", n, time.Since(start).Round(time.Millisecond))

	read := func(b *testing.B) {
		for b.Loop() {
			st, err := bundle.svc.Stats(ctx, c.ID)
			require.NoError(b, err)
			require.EqualValues(b, n/runs*runs, st.Overall.Total)
		}
	}
	// Five runs of each on one seed (seeding ten million deliveries takes minutes): Go names
	// them folded, folded#01, …
	for range 5 {
		b.Run("folded", read)
	}
	// Half a minute of sending's counter rows: 3 750 statements, 8 groups each (4 accounts,
	// 2 variants), as the triggers append them.
	_, err = bundle.pool.Exec(ctx, `
		INSERT INTO delivery_counts (campaign_id, run_id, variant, account_id, total, queued, sending, sent,
			delivered, read, failed, skipped, cancelled, expired, opted_out, replied)
		SELECT $1, (SELECT max(id) FROM campaign_runs WHERE campaign_id = $1), g % 2, $2 + g % 4, 0, 0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0
		FROM generate_series(1, 3750) s, generate_series(0, 7) g`, c.ID, bundle.account)
	require.NoError(b, err)
	for range 5 {
		b.Run("unfolded", read)
	}
}
