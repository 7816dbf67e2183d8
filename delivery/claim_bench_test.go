package delivery_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
)

// BenchmarkClaimMany claims deliveries in batches of 512, as the workers' claim step does
// under load, against a history: 20 000 contacts with marketing consent, each sent a
// marketing message a day for the past week (the latest an hour ago, inside the default
// frequency cap's window), and three marketing runs queued for all of them. Each batch is
// one run's deliveries to 512 distinct contacts; between batches (untimed) the claimed
// ones are marked sent, so the later runs meet the cap.
//
//	go test ./delivery -run '^$' -bench ClaimMany -count 5
func BenchmarkClaimMany(b *testing.B) {
	const contacts, batchSize = 20_000, 512
	bundle := setupBench(b)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		_, err := bundle.pool.Exec(ctx, sql, args...)
		require.NoError(b, err)
	}
	exec(`
		INSERT INTO contacts (phone, phone_region, phone_zone, name, locale, tags, phone_hash)
		SELECT '+65' || (90000000 + i), 'SG', 'Asia/Singapore', 'Customer ' || i, 'en', ARRAY['t' || (i % 20)],
		       sha256(('p' || i)::bytea)
		FROM generate_series(1, $1) AS i`, contacts)
	exec(`
		INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id)
		SELECT id, 'whatsapp', 'marketing', 'granted', id FROM contacts`)
	var history, campaign int64
	for _, id := range []*int64{&history, &campaign} {
		require.NoError(b, bundle.pool.QueryRow(ctx, `
			INSERT INTO campaigns (name, template_id, status) VALUES ('bench', $1, 'running') RETURNING id`,
			bundle.template).Scan(id))
	}
	exec(`
		WITH runs AS (
			INSERT INTO campaign_runs (campaign_id, run_at, status)
			SELECT $1, now() - interval '1 hour' - k * interval '1 day', 'completed' FROM generate_series(0, 6) k
			RETURNING id, run_at)
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at, sent_at, message_id)
		SELECT r.id, $1, c.id, 'sent', r.run_at, r.run_at, 'h-' || r.id || '-' || c.id FROM runs r, contacts c`, history)
	var ids []int64
	queue := func() {
		rows, err := bundle.pool.Query(ctx, `
			WITH run AS (
				INSERT INTO campaign_runs (campaign_id, run_at, status) VALUES ($1, clock_timestamp(), 'running') RETURNING id)
			INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
			SELECT run.id, $1, c.id, 'queued', now() FROM run, contacts c ORDER BY c.id RETURNING id`, campaign)
		require.NoError(b, err)
		more, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(b, err)
		ids = append(ids, more...)
	}
	for range 3 {
		queue()
	}
	for _, q := range []string{`VACUUM ANALYZE contacts`, `VACUUM ANALYZE consent_state`, `VACUUM ANALYZE deliveries`, `ANALYZE campaign_runs`} {
		exec(q)
	}

	s := delivery.New(bundle.pool, delivery.Options{})
	reqs := make([]delivery.ClaimRequest, batchSize)
	claimed := make([]int64, 0, batchSize)
	sent := make([]delivery.SentInfo, batchSize)
	for b.Loop() {
		if len(ids) < batchSize {
			b.StopTimer()
			queue()
			b.StartTimer()
		}
		for i, id := range ids[:batchSize] {
			reqs[i] = delivery.ClaimRequest{ID: id, Attempt: delivery.Attempt{AccountID: bundle.account, Locale: "en",
				MessageID: "bench-" + strconv.FormatInt(id, 10)}}
		}
		ids = ids[batchSize:]
		res, err := s.ClaimMany(ctx, reqs, time.Now().Add(-time.Minute), consent.WhatsApp, consent.Marketing)
		require.NoError(b, err)
		b.StopTimer()
		claimed = claimed[:0]
		for _, r := range res {
			require.NoError(b, r.Err)
			claimed = append(claimed, r.Delivery.ID)
		}
		_, err = s.MarkSentMany(ctx, claimed, sent[:len(claimed)])
		require.NoError(b, err)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batchSize), "µs/delivery")
}
