package campaigns_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/delivery"
)

// scanStats is what Stats returned when it scanned the deliveries (before migration
// 00021): the reference the counters must always agree with.
func scanStats(t *testing.T, b *testBundle, campaignID int64) (campaigns.Counts, map[string]int64) {
	t.Helper()
	var c campaigns.Counts
	err := b.pool.QueryRow(context.Background(), `
		SELECT count(*),
			count(*) FILTER (WHERE status = 'queued'),
			count(*) FILTER (WHERE status = 'sending'),
			count(*) FILTER (WHERE sent_at IS NOT NULL),
			count(*) FILTER (WHERE delivered_at IS NOT NULL OR read_at IS NOT NULL),
			count(*) FILTER (WHERE read_at IS NOT NULL),
			count(*) FILTER (WHERE status = 'failed'),
			count(*) FILTER (WHERE status = 'skipped'),
			count(*) FILTER (WHERE status = 'cancelled'),
			count(*) FILTER (WHERE status = 'expired'),
			count(*) FILTER (WHERE opted_out_at IS NOT NULL OR skip_reason = 'opted_out'),
			count(*) FILTER (WHERE replied_at IS NOT NULL)
		FROM deliveries WHERE campaign_id = $1`, campaignID).Scan(&c.Total, &c.Queued, &c.Sending, &c.Sent,
		&c.Delivered, &c.Read, &c.Failed, &c.Skipped, &c.Cancelled, &c.Expired, &c.OptedOut, &c.Replied)
	require.NoError(t, err)
	reasons := map[string]int64{}
	rows, err := b.pool.Query(context.Background(), `
		SELECT skip_reason, count(*) FROM deliveries
		WHERE campaign_id = $1 AND status IN ('skipped', 'cancelled') AND skip_reason IS NOT NULL GROUP BY 1`, campaignID)
	require.NoError(t, err)
	for rows.Next() {
		var r string
		var n int64
		require.NoError(t, rows.Scan(&r, &n))
		reasons[r] = n
	}
	require.NoError(t, rows.Err())
	return c, reasons
}

// countersAgree checks that the campaign's stats (its counters) give what a scan of its
// deliveries gives, and returns both.
func countersAgree(t *testing.T, b *testBundle, campaignID int64, label string) (campaigns.Counts, campaigns.Stats) {
	t.Helper()
	want, reasons := scanStats(t, b, campaignID)
	st, err := b.svc.Stats(context.Background(), campaignID)
	require.NoError(t, err)
	require.Equal(t, want, st.Overall, label)
	require.Equal(t, want, st.Runs[0].Counts, label)
	require.Equal(t, reasons, st.SkipReason, label)
	return want, st
}

// TestStatsCountersFollowEveryChange drives a campaign's deliveries through random
// changes, from concurrent connections, and checks after each round that the counters
// (migration 00021's triggers) give what a scan gives, before and after a fold.
func TestStatsCountersFollowEveryChange(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	for i := range 40 {
		b.eligible(t, fmt.Sprintf("+65910%05d", i), "", "vip")
	}
	b.contact(t, "+6591099999", "", "vip") // skipped: no consent
	c := b.create(t)
	b.launch(t, c.ID)
	sends := delivery.New(b.pool, delivery.Options{})

	// Each change is one statement on a random tenth of the deliveries.
	changes := []string{
		`status = 'sending', attempts = attempts + 1, account_id = $2, variant = (id % 2)::int`,
		`status = 'sent', sent_at = now()`,
		`status = 'delivered', delivered_at = now()`,
		`status = 'read', read_at = now()`,
		`status = 'failed', failed_at = now(), error = 'x'`,
		`replied_at = now()`,
		`opted_out_at = now()`,
		`status = 'cancelled', skip_reason = 'opted_out'`,
		`status = 'cancelled', skip_reason = 'campaign_cancelled'`,
		`status = 'expired'`,
		`status = 'queued', account_id = NULL, variant = NULL, sent_at = NULL, delivered_at = NULL, read_at = NULL`,
		`enqueued_at = now()`, // counts nothing: the trigger appends no row
	}
	check := func(round string) {
		t.Helper()
		want, st := countersAgree(t, b, c.ID, round)
		var byVariant, byAccount campaigns.Counts
		for _, n := range st.ByVariant {
			byVariant.Total += n.Total
			byVariant.Sent += n.Sent
		}
		for _, n := range st.ByAccount {
			byAccount.Total += n.Total
			byAccount.Sent += n.Sent
			require.NotZero(t, n.Total, "%s: a group with no deliveries is left out", round)
		}
		require.Equal(t, campaigns.Counts{Total: want.Total, Sent: want.Sent}, byVariant, round)
		require.Equal(t, campaigns.Counts{Total: want.Total, Sent: want.Sent}, byAccount, round)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 12 {
		var wg sync.WaitGroup
		for range 4 {
			change, seed := changes[rng.IntN(len(changes))], rng.Int64N(10)
			wg.Go(func() {
				_, err := b.pool.Exec(ctx, `UPDATE deliveries SET `+change+` WHERE campaign_id = $1 AND id % 10 = $3 AND $2::bigint > 0`,
					c.ID, b.account, seed)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		check(fmt.Sprintf("round %d", round))
		if round%4 == 3 {
			_, err := sends.FoldCounts(ctx)
			require.NoError(t, err)
			check(fmt.Sprintf("round %d, folded", round))
			var unfolded int
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM delivery_counts WHERE NOT folded`).Scan(&unfolded))
			require.Zero(t, unfolded)
		}
	}
	_, err := b.pool.Exec(ctx, `DELETE FROM deliveries WHERE campaign_id = $1 AND id % 3 = 0`, c.ID)
	require.NoError(t, err)
	check("after a delete")
	_, err = sends.FoldCounts(ctx)
	require.NoError(t, err)
	check("after a delete, folded")
}

// TestStatsCountersSurviveASchemaChange: the counters' trigger keeps its statements' plans
// for the session (migration 00029), and those plans read the transition tables' columns.
// A session that has fired the trigger keeps counting right after deliveries gains a
// column and loses one that is not counted.
func TestStatsCountersSurviveASchemaChange(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	for i := range 10 {
		b.eligible(t, fmt.Sprintf("+65910%05d", i), "", "vip")
	}
	c := b.create(t)
	b.launch(t, c.ID)
	conn, err := b.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	update := func(change string, seed int) {
		t.Helper()
		_, err := conn.Exec(ctx, `UPDATE deliveries SET `+change+` WHERE campaign_id = $1 AND id % 3 = $2`, c.ID, seed)
		require.NoError(t, err)
	}
	check := func(step string) {
		t.Helper()
		want, _ := countersAgree(t, b, c.ID, step)
		require.NotZero(t, want.Sent, step)
	}
	update(`status = 'sent', sent_at = now()`, 0)
	check("before")
	for _, ddl := range []string{
		`ALTER TABLE deliveries ADD COLUMN note text DEFAULT 'x'`,
		`ALTER TABLE deliveries DROP COLUMN rendered`,
	} {
		_, err := conn.Exec(ctx, ddl)
		require.NoError(t, err)
		update(`status = 'sent', sent_at = now()`, 1)
		update(`status = 'read', read_at = now()`, 0)
		update(`status = 'skipped', skip_reason = 'opted_out'`, 2)
		check(ddl)
		update(`status = 'queued', sent_at = NULL, read_at = NULL, skip_reason = NULL`, 1)
		check(ddl + ", then back")
	}
}
