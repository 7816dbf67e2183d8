package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/internal/apperr"
)

func TestTimeline(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	ids := make([]int64, 4)
	for i, phone := range []string{"+6591110001", "+6591110002", "+6591110003", "+6591110004"} {
		ids[i] = b.eligible(t, phone, "", "vip")
	}
	b.contact(t, "+6591110005", "", "vip") // no consent: skipped, never queued

	c := b.create(t)
	tl, err := b.svc.Timeline(ctx, c.ID)
	require.NoError(t, err)
	require.Nil(t, tl.From, "a draft has no timeline")
	require.Empty(t, tl.Buckets)

	run := b.launch(t, c.ID) // at testNow, 10:00
	require.EqualValues(t, 4, run.Eligible)
	at := func(hms string) time.Time {
		d, err := time.ParseDuration(hms)
		require.NoError(t, err)
		return testNow.Add(d)
	}
	set := func(contact int64, sql string, args ...any) {
		t.Helper()
		tag, err := b.pool.Exec(ctx, `UPDATE deliveries SET `+sql+` WHERE run_id = $1 AND contact_id = $2`,
			append([]any{run.ID, contact}, args...)...)
		require.NoError(t, err)
		require.EqualValues(t, 1, tag.RowsAffected())
	}
	set(ids[0], `status = 'read', sent_at = $3, delivered_at = $4, read_at = $5, replied_at = $6`,
		at("1m30s"), at("2m10s"), at("5m"), at("6m"))
	set(ids[1], `status = 'read', sent_at = $3, read_at = $4`, at("1m45s"), at("3m")) // the delivered receipt was lost
	set(ids[2], `status = 'failed', failed_at = $3`, at("2m"))
	// Opt-outs: one attributed to this campaign; one to another campaign and a plain
	// reply to this one do not count.
	for i, m := range []struct {
		campaign int64
		class    string
	}{{c.ID, "opt_out"}, {c.ID + 1000, "opt_out"}, {c.ID, "none"}} {
		_, err := b.pool.Exec(ctx, `INSERT INTO inbound_messages (account_id, provider_id, phone_hash, received_at, class, processed_at, campaign_id)
			VALUES ($1, $2, sha256($6), $3, $4, $3, $5)`, b.account, "in-"+string(rune('a'+i)), at("7m"), m.class, m.campaign, []byte{byte(i)})
		require.NoError(t, err)
	}

	b.setNow(at("9m30s"))
	tl, err = b.svc.Timeline(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusRunning, tl.Status)
	require.NotNil(t, tl.From)
	require.Equal(t, testNow, *tl.From)
	require.EqualValues(t, 60, tl.BucketSeconds)
	require.Len(t, tl.Buckets, 10, "10:00 to 10:09, the minute of now included")
	want := map[int]campaigns.TimelineCounts{
		0: {Queued: 4},
		1: {Sent: 2},
		2: {Delivered: 1, Failed: 1},
		3: {Delivered: 1, Read: 1},
		5: {Read: 1},
		6: {Replied: 1},
		7: {OptedOut: 1},
	}
	for i, bk := range tl.Buckets {
		require.Equal(t, testNow.Add(time.Duration(i)*time.Minute), bk.At.UTC())
		require.Equal(t, want[i], bk.TimelineCounts, "bucket %d", i)
	}
	require.Equal(t, campaigns.TimelineCounts{Queued: 4, Sent: 2, Delivered: 2, Read: 2, Replied: 1, OptedOut: 1, Failed: 1}, tl.Totals)

	// Three days on, the buckets widen to stay at most MaxTimelineBuckets, on round edges,
	// and the totals are the same.
	b.setNow(testNow.Add(72 * time.Hour))
	tl, err = b.svc.Timeline(ctx, c.ID)
	require.NoError(t, err)
	require.LessOrEqual(t, len(tl.Buckets), campaigns.MaxTimelineBuckets)
	require.EqualValues(t, 30*60, tl.BucketSeconds)
	require.Equal(t, campaigns.TimelineCounts{Queued: 4, Sent: 2, Delivered: 2, Read: 2, Replied: 1, OptedOut: 1, Failed: 1}, tl.Totals)
	require.Equal(t, campaigns.TimelineCounts{Queued: 4, Sent: 2, Delivered: 2, Read: 2, Replied: 1, OptedOut: 1, Failed: 1}, tl.Buckets[0].TimelineCounts)

	_, err = b.svc.Timeline(ctx, 424242)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

// BenchmarkTimeline1M times the live page's timeline over a campaign of benchContacts()
// deliveries (a million by default) spread over two hours of sends and receipts, with as
// many deliveries of another campaign beside them. It runs only under -bench.
func BenchmarkTimeline1M(b *testing.B) {
	bundle := setupBench(b)
	ctx := context.Background()
	n := benchContacts()
	c, err := bundle.svc.Create(ctx, bundle.input(), "bench")
	require.NoError(b, err)
	var runID int64
	require.NoError(b, bundle.pool.QueryRow(ctx, `INSERT INTO campaign_runs (campaign_id, run_at, status, launched_at, eligible)
		VALUES ($1, $2, 'running', $2, $3) RETURNING id`, c.ID, testNow, n).Scan(&runID))
	_, err = bundle.pool.Exec(ctx, `UPDATE campaigns SET status = 'running' WHERE id = $1`, c.ID)
	require.NoError(b, err)
	for _, run := range []int64{runID, runID + 1000} { // the second: another campaign's
		_, err = bundle.pool.Exec(ctx, `
			INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at, sent_at, delivered_at, read_at, replied_at, failed_at)
			SELECT $1, $1, i, CASE WHEN i % 50 = 0 THEN 'failed' WHEN i % 10 = 0 THEN 'queued' ELSE 'read' END, $2::timestamptz,
			       CASE WHEN i % 10 <> 0 THEN $2 + (i % 7200) * interval '1 second' END,
			       CASE WHEN i % 10 <> 0 AND i % 3 <> 0 THEN $2 + (i % 7200 + 20) * interval '1 second' END,
			       CASE WHEN i % 10 <> 0 AND i % 2 = 0 THEN $2 + (i % 7200 + 300) * interval '1 second' END,
			       CASE WHEN i % 97 = 0 THEN $2 + (i % 7200 + 900) * interval '1 second' END,
			       CASE WHEN i % 50 = 0 THEN $2 + (i % 7200) * interval '1 second' END
			FROM generate_series(1, $3) AS i`, run, testNow, n)
		require.NoError(b, err)
	}
	_, err = bundle.pool.Exec(ctx, `VACUUM ANALYZE deliveries`)
	require.NoError(b, err)
	bundle.setNow(testNow.Add(3 * time.Hour))
	b.ResetTimer()
	for b.Loop() {
		tl, err := bundle.svc.Timeline(ctx, c.ID)
		require.NoError(b, err)
		require.EqualValues(b, n-n/10, tl.Totals.Sent)
	}
}
