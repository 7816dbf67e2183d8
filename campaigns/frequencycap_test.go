package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
)

// capRun writes a running campaign with one run of the given purpose and a delivery in
// status for each contact, sent at sentAt when it is not nil; it returns their ids in the
// contacts' order. The rows are written directly, as sendFixture's are.
func capRun(t *testing.T, pool *pgxpool.Pool, template int64, purpose, status string, sentAt *time.Time, contacts []int64) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		WITH camp AS (INSERT INTO campaigns (name, template_id, status) VALUES ('cap', $1, 'running') RETURNING id),
		run AS (
			INSERT INTO campaign_runs (campaign_id, run_at, purpose, status)
			SELECT id, clock_timestamp(), $2, 'running' FROM camp RETURNING id, campaign_id)
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at, sent_at)
		SELECT run.id, run.campaign_id, c.id, $3, now(), $5 FROM run, unnest($4::bigint[]) WITH ORDINALITY AS c(id, n)
		ORDER BY c.n RETURNING id`, template, purpose, status, contacts, sentAt)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Len(t, ids, len(contacts))
	return ids
}

// claimAll claims the deliveries as a worker does and settles each claimed one: sent, or
// skipped with the claim's reason. It returns the results in order.
func claimAll(t *testing.T, s *campaigns.Sends, ids []int64) []campaigns.ClaimResult {
	t.Helper()
	res, err := claimAndSettle(context.Background(), s, ids)
	require.NoError(t, err)
	return res
}

// claimAndSettle is claimAll for any goroutine.
func claimAndSettle(ctx context.Context, s *campaigns.Sends, ids []int64) ([]campaigns.ClaimResult, error) {
	reqs := make([]campaigns.ClaimRequest, len(ids))
	for i, id := range ids {
		reqs[i] = campaigns.ClaimRequest{ID: id, Attempt: campaigns.Attempt{AccountID: 1, Locale: "en", MessageID: "cap-" + itoa(id)}}
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
			if err := s.Skip(ctx, r.Delivery.ID, r.Skip); err != nil {
				return nil, err
			}
		default:
			sent = append(sent, r.Delivery.ID)
		}
	}
	errs, err := s.MarkSentMany(ctx, sent, make([]campaigns.SentInfo, len(sent)))
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
	b := setup(t)
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
	s := campaigns.NewSends(b.pool, campaigns.SendsOptions{}) // the default cap, 2 per 24 h
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
		campaigns.SkipFrequencyCapped)
	for _, c := range contacts {
		require.Equal(t, 2, sent[c], "contact %d: messages sent", c)
		require.Equal(t, 1, capped[c], "contact %d: the third is skipped as frequency_capped", c)
	}
}

// TestClaimFrequencyCapUnderConcurrency claims, from many goroutines at once, deliveries
// of the same contacts from six marketing runs, shuffled so that a batch may hold several
// of one contact: exactly Max pass per contact, less the messages the contact already got
// in the window. Claimed deliveries stay in sending, so each claim must see the others'.
func TestClaimFrequencyCapUnderConcurrency(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	s := campaigns.NewSends(b.pool, campaigns.SendsOptions{FrequencyCap: campaigns.FrequencyCap{Max: 2, Window: 24 * time.Hour}})
	rng := rand.New(rand.NewPCG(15, 5))
	for round := range 4 {
		var contacts []int64
		for i := range 6 {
			contacts = append(contacts, b.eligible(t, fmt.Sprintf("+65920%02d%03d", round, i), ""))
		}
		hourAgo, dayAgo := time.Now().Add(-time.Hour), time.Now().Add(-25*time.Hour)
		capRun(t, b.pool, b.template, "marketing", "sent", &hourAgo, contacts[:1]) // counts
		capRun(t, b.pool, b.template, "marketing", "sent", &dayAgo, contacts[1:2]) // out of the window
		capRun(t, b.pool, b.template, "utility", "sent", &hourAgo, contacts[2:3])  // not marketing
		var ids []int64
		for range 6 {
			ids = append(ids, capRun(t, b.pool, b.template, "marketing", "queued", nil, contacts)...)
		}
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })

		results := make([][]campaigns.ClaimResult, 12)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range results {
			batch := ids[g*len(ids)/len(results) : (g+1)*len(ids)/len(results)]
			wg.Go(func() {
				reqs := make([]campaigns.ClaimRequest, len(batch))
				for i, id := range batch {
					reqs[i] = campaigns.ClaimRequest{ID: id}
				}
				<-start
				res, err := s.ClaimMany(ctx, reqs, time.Now().Add(-time.Minute), consent.WhatsApp, consent.Marketing)
				assertNoError(t, err)
				results[g] = res
			})
		}
		close(start)
		wg.Wait()

		passed := map[int64]int{}
		for _, res := range results {
			for _, r := range res {
				require.NoError(t, r.Err)
				switch r.Skip {
				case "":
					passed[*r.Delivery.ContactID]++
				case campaigns.SkipFrequencyCapped:
				default:
					t.Fatalf("delivery %d: unexpected skip %q", r.Delivery.ID, r.Skip)
				}
			}
		}
		require.Equal(t, 1, passed[contacts[0]], "round %d: one sent an hour ago", round)
		for _, c := range contacts[1:] {
			require.Equal(t, 2, passed[c], "round %d: contact %d", round, c)
		}
	}
}

// assertNoError is require.NoError for a goroutine other than the test's.
func assertNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}

// TestClaimFrequencyCapScope: utility runs are neither capped nor counted, the cap off
// skips nothing, a delivery taken back from a dead worker does not count against itself
// while one another worker holds does, and a delivery whose contact was deleted is skipped
// as erased.
func TestClaimFrequencyCapScope(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	one := campaigns.NewSends(b.pool, campaigns.SendsOptions{FrequencyCap: campaigns.FrequencyCap{Max: 1, Window: 24 * time.Hour}})
	off := campaigns.NewSends(b.pool, campaigns.SendsOptions{FrequencyCap: campaigns.FrequencyCap{Max: -1}})
	skips := func(res []campaigns.ClaimResult) []string {
		out := make([]string, len(res))
		for i, r := range res {
			require.NoError(t, r.Err)
			out[i] = r.Skip
		}
		return out
	}
	hourAgo := time.Now().Add(-time.Hour)

	// Utility: two in one batch after a marketing message, then a marketing one after them.
	u := b.eligible(t, "+6593000001", "")
	capRun(t, b.pool, b.template, "marketing", "sent", &hourAgo, []int64{u})
	utility := append(capRun(t, b.pool, b.utility, "utility", "queued", nil, []int64{u}),
		capRun(t, b.pool, b.utility, "utility", "queued", nil, []int64{u})...)
	require.Equal(t, []string{"", ""}, skips(claimAll(t, one, utility)), "utility runs are not capped")
	v := b.eligible(t, "+6593000002", "")
	capRun(t, b.pool, b.utility, "utility", "sent", &hourAgo, []int64{v})
	require.Equal(t, []string{""}, skips(claimAll(t, one, capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{v}))),
		"utility messages do not count")
	require.Equal(t, []string{campaigns.SkipFrequencyCapped},
		skips(claimAll(t, one, capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{v}))))

	// Off: a message in the window, and two more in one batch.
	w := b.eligible(t, "+6593000003", "")
	capRun(t, b.pool, b.template, "marketing", "sent", &hourAgo, []int64{w})
	twice := append(capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{w}),
		capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{w})...)
	require.Equal(t, []string{"", ""}, skips(claimAll(t, off, twice)), "the cap off skips nothing")

	// A delivery left in sending by a dead worker is taken back and is not its own rival;
	// one that another worker holds (fresh) counts.
	x, y := b.eligible(t, "+6593000004", ""), b.eligible(t, "+6593000005", "")
	stale := capRun(t, b.pool, b.template, "marketing", "sending", nil, []int64{x})
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET updated_at = now() - interval '1 hour' WHERE id = $1`, stale[0])
	require.NoError(t, err)
	capRun(t, b.pool, b.template, "marketing", "sending", nil, []int64{y})
	res := claimAll(t, one, append(stale, capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{y, x})...))
	require.Equal(t, []string{"", campaigns.SkipFrequencyCapped, campaigns.SkipFrequencyCapped}, skips(res))

	// A deleted contact: no lock, no count, the erased skip.
	gone := b.eligible(t, "+6593000006", "")
	erased := capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{gone})
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET contact_id = NULL WHERE id = $1`, erased[0])
	require.NoError(t, err)
	require.Equal(t, []string{campaigns.SkipContactErased}, skips(claimAll(t, one, erased)))
}
