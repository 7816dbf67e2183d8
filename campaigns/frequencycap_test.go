package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
)

// claimAndSettle is claimAll for any goroutine.
func claimAndSettle(ctx context.Context, s *delivery.Sends, ids []int64) ([]delivery.ClaimResult, error) {
	reqs := make([]delivery.ClaimRequest, len(ids))
	for i, id := range ids {
		reqs[i] = delivery.ClaimRequest{ID: id, Attempt: delivery.Attempt{AccountID: 1, Locale: "en", MessageID: "cap-" + itoa(id)}}
	}
	res, err := s.ClaimMany(ctx, reqs, time.Now().Add(-time.Minute), consent.WhatsApp, consent.Marketing)
	if err != nil {
		return nil, err
	}
	var sent []int64
	for _, r := range res {
		switch {
		case r.Err != nil:
			return nil, r.Err
		case r.Skip != "":
			if err := s.Settle(ctx, r.Delivery.ID, delivery.Skipped(r.Skip)); err != nil {
				return nil, err
			}
		default:
			sent = append(sent, r.Delivery.ID)
		}
	}
	errs, err := s.MarkSentMany(ctx, sent, make([]delivery.SentInfo, len(sent)))
	if err == nil {
		err = errors.Join(errs...)
	}
	return res, err
}

// perContact counts, by contact, the deliveries the query selects (contact_id, count).
func perContact(t *testing.T, pool *pgxpool.Pool, query string, args ...any) map[int64]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), query, args...)
	require.NoError(t, err)
	out := map[int64]int{}
	var id int64
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[id] = n
		return nil
	})
	require.NoError(t, err)
	return out
}

// TestFrequencyCapHoldsAcrossConcurrentLaunches is issue 15's reproduction: three
// marketing campaigns launched at the same moment each plan a message to every contact,
// because none of the launch statements sees the others' deliveries; the send path still
// sends at most the cap (2 per 24 h) to each.
func TestFrequencyCapHoldsAcrossConcurrentLaunches(t *testing.T) {
	// Each launch in one part: one INSERT each for the gate below to hold.
	b := setup(t, func(o *campaigns.Options) { o.LaunchParts = 1 })
	ctx := context.Background()
	var contacts []int64
	for i := range 12 {
		contacts = append(contacts, b.eligible(t, fmt.Sprintf("+659100%04d", i), "", "vip"))
	}
	var ids []int64
	for range 3 {
		c := b.create(t)
		require.NoError(t, b.svc.Schedule(ctx, c.ID))
		ids = append(ids, c.ID)
	}

	// Hold each launch's INSERT after its snapshot is taken until all three have one, so
	// that they overlap for certain rather than by luck: a statement trigger waits on an
	// advisory lock this test holds.
	_, err := b.pool.Exec(ctx, `
		CREATE FUNCTION test_hold_launch() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_advisory_xact_lock_shared(15); RETURN NULL; END $$;
		CREATE TRIGGER test_hold_launch BEFORE INSERT ON deliveries FOR EACH STATEMENT EXECUTE FUNCTION test_hold_launch()`)
	require.NoError(t, err)
	gate, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer gate.Rollback(ctx) //nolint:errcheck // after Commit, a no-op; on failure, it lets the launches go
	_, err = gate.Exec(ctx, `SELECT pg_advisory_xact_lock(15)`)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			c, err := b.svc.Get(ctx, id)
			if err == nil {
				_, err = b.svc.Launch(ctx, id, *c.NextRunAt)
			}
			errs[i] = err
		})
	}
	require.Eventually(t, func() bool { // on the gate's connection: the launches hold the rest of the pool
		var waiting int
		err := gate.QueryRow(ctx, `
			SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 15 AND NOT granted`).Scan(&waiting)
		return err == nil && waiting == len(ids)
	}, 30*time.Second, 10*time.Millisecond, "the three launches reach their INSERT")
	require.NoError(t, gate.Commit(ctx))
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	_, err = b.pool.Exec(ctx, `DROP TRIGGER test_hold_launch ON deliveries`)
	require.NoError(t, err)
	planned := perContact(t, b.pool, `SELECT contact_id, count(*) FROM deliveries WHERE status = 'queued' GROUP BY contact_id`)
	for _, c := range contacts {
		require.Equal(t, 3, planned[c], "the launches raced: each planned a message to every contact")
	}

	// Each campaign's deliveries are sent by a worker of its own, in batches, at once.
	s := delivery.New(b.pool, delivery.Options{}) // the default cap, 2 per 24 h
	start := make(chan struct{})
	for _, id := range ids {
		rows, err := b.pool.Query(ctx, `SELECT id FROM deliveries WHERE campaign_id = $1 AND status = 'queued' ORDER BY id`, id)
		require.NoError(t, err)
		queued, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(t, err)
		wg.Go(func() {
			<-start
			for len(queued) > 0 {
				n := min(5, len(queued))
				_, err := claimAndSettle(ctx, s, queued[:n])
				assertNoError(t, err)
				queued = queued[n:]
			}
		})
	}
	close(start)
	wg.Wait()

	sent := perContact(t, b.pool, `SELECT contact_id, count(*) FROM deliveries WHERE sent_at IS NOT NULL GROUP BY contact_id`)
	capped := perContact(t, b.pool, `
		SELECT contact_id, count(*) FROM deliveries WHERE status = 'skipped' AND skip_reason = $1 GROUP BY contact_id`,
		delivery.SkipFrequencyCapped)
	for _, c := range contacts {
		require.Equal(t, 2, sent[c], "contact %d: messages sent", c)
		require.Equal(t, 1, capped[c], "contact %d: the third is skipped as frequency_capped", c)
	}
}

// assertNoError is require.NoError for a goroutine other than the test's.
func assertNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}
