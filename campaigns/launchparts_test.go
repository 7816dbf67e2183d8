package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
)

// partsBundle is a bundle whose launches are made in parts, with n contacts tagged vip:
// two in three with marketing consent (queued), the others without (skipped).
func partsBundle(t *testing.T, parts, n int) (*testBundle, int64, int64) {
	b := setup(t, func(o *campaigns.Options) { o.LaunchParts = parts })
	var eligible int64
	for i := range n {
		phone := fmt.Sprintf("+65910%05d", i)
		if i%3 == 2 {
			b.contact(t, phone, "", "vip")
		} else {
			b.eligible(t, phone, "", "vip")
			eligible++
		}
	}
	b.contact(t, "+6598000000", "", "other") // not in the audience
	return b, int64(n), eligible
}

// runParts returns the done_at of each of a run's parts (nil: not done).
func (b *testBundle) runParts(t *testing.T, runID int64) []*time.Time {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT done_at FROM campaign_run_parts WHERE run_id = $1 ORDER BY part`, runID)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[*time.Time])
	require.NoError(t, err)
	return out
}

// scheduled creates and schedules a campaign, and returns it with its first run's time.
func (b *testBundle) scheduled(t *testing.T) (campaigns.Campaign, time.Time) {
	t.Helper()
	ctx := context.Background()
	c := b.create(t)
	require.NoError(t, b.svc.Schedule(ctx, c.ID))
	return c, *must(b.svc.Get(ctx, c.ID)).NextRunAt
}

// requireOnePerContact checks that the run has exactly one delivery per contact of the
// audience, and that its counters (the stats) say the same as its deliveries.
func (b *testBundle) requireOnePerContact(t *testing.T, c campaigns.Campaign, run campaigns.Run, matched, eligible int64) {
	t.Helper()
	ctx := context.Background()
	var n, distinct, queued int64
	require.NoError(t, b.pool.QueryRow(ctx, `
		SELECT count(*), count(DISTINCT contact_id), count(*) FILTER (WHERE status = 'queued')
		FROM deliveries WHERE run_id = $1`, run.ID).Scan(&n, &distinct, &queued))
	require.Equal(t, matched, n, "one delivery per contact")
	require.Equal(t, matched, distinct, "one delivery per contact")
	require.Equal(t, eligible, queued)
	require.Equal(t, matched, run.Matched)
	require.Equal(t, eligible, run.Eligible)
	st, err := b.svc.Stats(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.Counts{Total: matched, Queued: eligible, Skipped: matched - eligible}, st.Overall)
}

// TestLaunchInParts launches a run in three parts: every contact of the audience gets
// one delivery, the run's counts are the parts' sums, and the run ends running with the
// campaign's next run moved on.
func TestLaunchInParts(t *testing.T) {
	b, matched, eligible := partsBundle(t, 3, 30)
	c := b.create(t)
	run := b.launch(t, c.ID)
	require.Equal(t, "running", run.Status)
	b.requireOnePerContact(t, c, run, matched, eligible)
	parts := b.runParts(t, run.ID)
	require.Len(t, parts, 3)
	for i, d := range parts {
		require.NotNil(t, d, "part %d is done", i)
	}
	var sum int64
	var busy int
	require.NoError(t, b.pool.QueryRow(context.Background(), `
		SELECT sum(matched), count(*) FILTER (WHERE matched > 0) FROM campaign_run_parts WHERE run_id = $1`, run.ID).Scan(&sum, &busy))
	require.Equal(t, matched, sum)
	require.Equal(t, 3, busy, "each part has some of the contacts")
	got, err := b.svc.Get(context.Background(), c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusRunning, got.Status)
	require.Nil(t, got.NextRunAt)
}

var errCrash = errors.New("crash")

// launchFailingPart1 creates and schedules a campaign and launches its run with part 1
// failing, as a worker that dies half way would; it returns the campaign and its run's
// time.
func (b *testBundle) launchFailingPart1(t *testing.T) (campaigns.Campaign, time.Time) {
	t.Helper()
	c, runAt := b.scheduled(t)
	campaigns.SetAfterLaunchPart(b.svc, func(_ int64, part int) error {
		if part == 1 {
			return errCrash
		}
		return nil
	})
	_, err := b.svc.Launch(context.Background(), c.ID, runAt)
	require.ErrorIs(t, err, errCrash)
	campaigns.SetAfterLaunchPart(b.svc, nil)
	return c, runAt
}

// TestLaunchResumesAfterAPartFails has a part fail, as a worker that dies half way would:
// the run stays launching and due, with the parts done kept; launching it again makes
// only the parts not done, and the run ends as if it had launched in one go.
func TestLaunchResumesAfterAPartFails(t *testing.T) {
	b, matched, eligible := partsBundle(t, 3, 30)
	ctx := context.Background()
	c, runAt := b.launchFailingPart1(t)

	runs, err := b.svc.Runs(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "launching", runs[0].Status)
	parts := b.runParts(t, runs[0].ID)
	require.Len(t, parts, 3)
	require.Nil(t, parts[1], "the failed part is not done")
	require.NotNil(t, parts[0], "the others are done and kept")
	require.NotNil(t, parts[2], "the others are done and kept")
	due, err := b.svc.DueRuns(ctx, runAt)
	require.NoError(t, err)
	require.Contains(t, due, campaigns.DueRun{CampaignID: c.ID, RunAt: runAt}, "a run left launching is due again")
	var partial int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE run_id = $1`, runs[0].ID).Scan(&partial))
	require.Less(t, partial, matched, "the failed part made nothing")

	var again []int
	var mu sync.Mutex
	campaigns.SetAfterLaunchPart(b.svc, func(_ int64, part int) error {
		mu.Lock()
		defer mu.Unlock()
		again = append(again, part)
		return nil
	})
	run, err := b.svc.Launch(ctx, c.ID, runAt)
	require.NoError(t, err)
	require.Equal(t, runs[0].ID, run.ID)
	require.Equal(t, "running", run.Status)
	b.requireOnePerContact(t, c, run, matched, eligible)
	var redone []int
	for i, d := range parts {
		if d == nil {
			redone = append(redone, i)
		} else {
			require.Equal(t, *d, *b.runParts(t, run.ID)[i], "part %d was done and is not made again", i)
		}
	}
	require.ElementsMatch(t, redone, again, "only the parts not done run again")
	due, err = b.svc.DueRuns(ctx, runAt)
	require.NoError(t, err)
	require.NotContains(t, due, campaigns.DueRun{CampaignID: c.ID, RunAt: runAt})
}

// TestCancelDuringLaunch cancels a campaign while its launch is making its parts: the
// cancel waits for the part in progress, the parts that start after it make nothing, and
// no delivery of the run is left queued; launching the run again changes nothing.
func TestCancelDuringLaunch(t *testing.T) {
	b, _, _ := partsBundle(t, 3, 30)
	ctx := context.Background()
	c, runAt := b.scheduled(t)

	cancelled := make(chan error, 1)
	var once sync.Once
	campaigns.SetAfterLaunchPart(b.svc, func(_ int64, part int) error {
		once.Do(func() {
			// In the first part's transaction: the cancel waits for it to commit.
			go func() {
				_, err := b.svc.Cancel(ctx, c.ID, "wrong audience")
				cancelled <- err
			}()
			time.Sleep(100 * time.Millisecond)
		})
		return nil
	})
	run, err := b.svc.Launch(ctx, c.ID, runAt)
	require.NoError(t, err)
	require.NoError(t, <-cancelled)

	requireNothingQueued := func() {
		t.Helper()
		var queued, total int64
		require.NoError(t, b.pool.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FROM deliveries WHERE campaign_id = $1`, c.ID).Scan(&queued, &total))
		require.Zero(t, queued, "a cancelled campaign has nothing queued (%d deliveries)", total)
		runs, err := b.svc.Runs(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Equal(t, "cancelled", runs[0].Status)
		got, err := b.svc.Get(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, campaigns.StatusCancelled, got.Status)
	}
	requireNothingQueued()
	// The launch returns the run as it left it: cancelled, or running when it completed
	// the run before the cancel took the campaign's lock.
	require.Contains(t, []string{"cancelled", "running"}, run.Status)

	campaigns.SetAfterLaunchPart(b.svc, nil)
	again, err := b.svc.Launch(ctx, c.ID, runAt)
	require.NoError(t, err)
	require.Equal(t, run.ID, again.ID)
	requireNothingQueued()
}

// TestCancelBetweenLaunchParts cancels a campaign whose launch died half way, between the
// retried launch's start and its parts: the parts not done make nothing.
func TestCancelBetweenLaunchParts(t *testing.T) {
	b, _, _ := partsBundle(t, 3, 30)
	ctx := context.Background()
	c, runAt := b.launchFailingPart1(t)
	campaigns.SetBeforeLaunchParts(b.svc, func(int64) {
		_, err := b.svc.Cancel(ctx, c.ID, "wrong audience")
		require.NoError(t, err)
	})
	run, err := b.svc.Launch(ctx, c.ID, runAt)
	require.NoError(t, err)
	require.Equal(t, "cancelled", run.Status)
	var queued, cancelled int64
	require.NoError(t, b.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'cancelled')
		FROM deliveries WHERE run_id = $1`, run.ID).Scan(&queued, &cancelled))
	require.Zero(t, queued)
	require.Nil(t, b.runParts(t, run.ID)[1], "the part not done stays undone")
	require.Positive(t, cancelled, "the parts done before the cancel had queued deliveries, now cancelled")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestFrequencyCapInParts launches two marketing campaigns in three parts each under a
// cap of one message a day: each part counts the cap for its own contacts, so every
// contact of the second is capped, whichever part it falls in.
func TestFrequencyCapInParts(t *testing.T) {
	b := setup(t, func(o *campaigns.Options) {
		o.LaunchParts = 3
		o.FrequencyCap = campaigns.FrequencyCap{Max: 1, Window: 24 * time.Hour}
	})
	for i := range 9 {
		b.eligible(t, fmt.Sprintf("+65910%05d", i), "", "vip")
	}
	first := b.launch(t, b.create(t).ID)
	require.EqualValues(t, 9, first.Eligible)
	second := b.launch(t, b.create(t).ID)
	require.EqualValues(t, 9, second.Matched)
	require.Zero(t, second.Eligible)
	for id, d := range b.deliveries(t, second.ID) {
		require.Equal(t, "frequency_capped", reason(d), "contact %d", id)
	}
	require.Len(t, b.runParts(t, second.ID), 3)
}
