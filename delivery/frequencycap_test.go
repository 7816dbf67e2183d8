package delivery_test

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

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
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
func claimAll(t *testing.T, s *delivery.Sends, ids []int64) []delivery.ClaimResult {
	t.Helper()
	res, err := claimAndSettle(context.Background(), s, ids)
	require.NoError(t, err)
	return res
}

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

// TestClaimFrequencyCapUnderConcurrency claims, from many goroutines at once, deliveries
// of the same contacts from six marketing runs, shuffled so that a batch may hold several
// of one contact: exactly Max pass per contact, less the messages the contact already got
// in the window. Claimed deliveries stay in sending, so each claim must see the others'.
func TestClaimFrequencyCapUnderConcurrency(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	s := delivery.New(b.pool, delivery.Options{FrequencyCap: delivery.FrequencyCap{Max: 2, Window: 24 * time.Hour}})
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

		results := make([][]delivery.ClaimResult, 12)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range results {
			batch := ids[g*len(ids)/len(results) : (g+1)*len(ids)/len(results)]
			wg.Go(func() {
				reqs := make([]delivery.ClaimRequest, len(batch))
				for i, id := range batch {
					reqs[i] = delivery.ClaimRequest{ID: id}
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
				case delivery.SkipFrequencyCapped:
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
	one := delivery.New(b.pool, delivery.Options{FrequencyCap: delivery.FrequencyCap{Max: 1, Window: 24 * time.Hour}})
	off := delivery.New(b.pool, delivery.Options{FrequencyCap: delivery.FrequencyCap{Max: -1}})
	skips := func(res []delivery.ClaimResult) []delivery.SkipReason {
		out := make([]delivery.SkipReason, len(res))
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
	require.Equal(t, []delivery.SkipReason{"", ""}, skips(claimAll(t, one, utility)), "utility runs are not capped")
	v := b.eligible(t, "+6593000002", "")
	capRun(t, b.pool, b.utility, "utility", "sent", &hourAgo, []int64{v})
	require.Equal(t, []delivery.SkipReason{""}, skips(claimAll(t, one, capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{v}))),
		"utility messages do not count")
	require.Equal(t, []delivery.SkipReason{delivery.SkipFrequencyCapped},
		skips(claimAll(t, one, capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{v}))))

	// Off: a message in the window, and two more in one batch.
	w := b.eligible(t, "+6593000003", "")
	capRun(t, b.pool, b.template, "marketing", "sent", &hourAgo, []int64{w})
	twice := append(capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{w}),
		capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{w})...)
	require.Equal(t, []delivery.SkipReason{"", ""}, skips(claimAll(t, off, twice)), "the cap off skips nothing")

	// A delivery left in sending by a dead worker is taken back and is not its own rival;
	// one that another worker holds (fresh) counts.
	x, y := b.eligible(t, "+6593000004", ""), b.eligible(t, "+6593000005", "")
	stale := capRun(t, b.pool, b.template, "marketing", "sending", nil, []int64{x})
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET updated_at = now() - interval '1 hour' WHERE id = $1`, stale[0])
	require.NoError(t, err)
	capRun(t, b.pool, b.template, "marketing", "sending", nil, []int64{y})
	res := claimAll(t, one, append(stale, capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{y, x})...))
	require.Equal(t, []delivery.SkipReason{"", delivery.SkipFrequencyCapped, delivery.SkipFrequencyCapped}, skips(res))

	// A deleted contact: no lock, no count, the erased skip.
	gone := b.eligible(t, "+6593000006", "")
	erased := capRun(t, b.pool, b.template, "marketing", "queued", nil, []int64{gone})
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET contact_id = NULL WHERE id = $1`, erased[0])
	require.NoError(t, err)
	require.Equal(t, []delivery.SkipReason{delivery.SkipContactErased}, skips(claimAll(t, one, erased)))
}
