package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/apperr"
)

// PhoneZoneBackfiller computes the phone zone of the contacts that have none yet (those
// written before contacts.phone_zone existed) and returns how many it filled: the launch
// reads a recipient's zone from it. contacts.Service is one.
type PhoneZoneBackfiller interface {
	BackfillPhoneZones(ctx context.Context) (int64, error)
}

// DueRun is a campaign run whose time has come.
type DueRun struct {
	CampaignID int64
	RunAt      time.Time
}

// Run is one launch of a campaign: a one-off campaign has one, a cron campaign one per
// tick.
type Run struct {
	ID          int64      `json:"id"`
	CampaignID  int64      `json:"campaign_id"`
	RunAt       time.Time  `json:"run_at"`
	Status      string     `json:"status"` // launching, running, completed, cancelled
	Purpose     string     `json:"purpose"`
	Matched     int64      `json:"matched"`  // deliveries materialised: every contact the audience matched
	Eligible    int64      `json:"eligible"` // of which queued to be sent
	LaunchedAt  *time.Time `json:"launched_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

const runColumns = `id, campaign_id, run_at, status, purpose, matched, eligible, launched_at, completed_at`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.CampaignID, &r.RunAt, &r.Status, &r.Purpose, &r.Matched, &r.Eligible, &r.LaunchedAt, &r.CompletedAt)
	r.RunAt = r.RunAt.UTC()
	return r, err
}

// DueRuns returns the runs due at now: scheduled campaigns whose next_run_at has come,
// and running cron campaigns whose next tick has. Paused and cancelled campaigns have
// none. The scheduler launches each with Launch.
func (s *Service) DueRuns(ctx context.Context, now time.Time) ([]DueRun, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, next_run_at FROM campaigns
		WHERE status IN ('scheduled', 'running') AND next_run_at <= $1
		ORDER BY next_run_at, id`, now)
	if err != nil {
		return nil, fmt.Errorf("campaigns: due runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DueRun, error) {
		var d DueRun
		err := r.Scan(&d.CampaignID, &d.RunAt)
		d.RunAt = d.RunAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("campaigns: due runs: %w", err)
	}
	return runs, nil
}

// Launch materialises the run of campaign campaignID at runAt (a DueRun's): one
// delivery per contact the audience matches, queued with its due time (recipient-local
// time and quiet hours, schedule.DueAt) or skipped with its reason; then the run is
// running and the campaign's next_run_at is the next cron tick (or NULL).
//
// The deliveries are made in parts (Options.LaunchParts): a part is the contacts in a
// range of ids (the ids there are, cut in equal ranges), made by one set-based statement
// (launchDeliveries) in a transaction of its own, the parts on as many connections at
// once, so that PostgreSQL inserts on several cores. In order:
//
//  1. One transaction checks the campaign, resolves its audience (a segment's filter as
//     it is now), creates the run, launching, with a row per part in campaign_run_parts
//     (its range), and marks the campaign running. next_run_at stays at the run until the
//     end.
//  2. Each part, under a share lock on the campaign, makes its deliveries and marks its
//     row done with its counts, in one transaction.
//  3. One transaction, under the campaign's lock (it waits for the parts in progress),
//     sums the parts into the run, marks it running and moves next_run_at on.
//
// What that trades for one transaction: until the last part commits, the run has the
// deliveries of some parts and not yet the others (the dispatcher may start on them),
// and each part reads the contacts and their consent as they are when it starts. Neither
// weakens an invariant: a contact is in exactly one part, the run holds at most one
// delivery per contact (UNIQUE (run_id, contact_id)), and consent, suppression and the
// frequency cap are checked again at send time. A launch that dies half way leaves the
// run launching and next_run_at at the run, so the scheduler launches it again, and Launch
// makes only the parts not done, with the audience the run began with. Pause and cancel
// wait for the parts in progress (the campaign's lock); a part that starts after a cancel
// makes nothing, and the run stays cancelled.
//
// It is idempotent: the run is unique per campaign and run_at, so launching it again, or
// concurrently, creates no second run and no second delivery for anyone (each part is
// taken by one launch, FOR UPDATE SKIP LOCKED), and returns the run.
//
// Errors: NotFound; Conflict when the campaign cannot launch (paused, cancelled, draft,
// completed) or runAt is not its next run.
func (s *Service) Launch(ctx context.Context, campaignID int64, runAt time.Time) (Run, error) {
	runAt = runAt.UTC().Truncate(time.Microsecond)
	if run, err := s.runAt(ctx, s.pool, campaignID, runAt); err != nil && !isNoRows(err) || err == nil && run.Status != runLaunching {
		return run, err
	}
	// Contacts written before phone_zone existed get theirs first (a no-op afterwards).
	if s.opts.PhoneZones != nil {
		if _, err := s.opts.PhoneZones.BackfillPhoneZones(ctx); err != nil {
			return Run{}, fmt.Errorf("campaigns: launch %d: %w", campaignID, err)
		}
	}
	// Read (and cache) the zone names before taking a connection for the transaction.
	if _, err := s.zoneNames(ctx); err != nil {
		return Run{}, fmt.Errorf("campaigns: launch %d: time zones: %w", campaignID, err)
	}
	l, err := s.beginLaunch(ctx, campaignID, runAt)
	if err == nil && len(l.parts) > 0 {
		err = s.finishLaunch(ctx, &l)
	}
	if err != nil {
		return Run{}, fmt.Errorf("campaigns: launch %d at %s: %w", campaignID, runAt.Format(time.RFC3339), err)
	}
	switch {
	case len(l.parts) > 0 && l.run.Status == "running":
		s.opts.Logger.InfoContext(ctx, "campaign launched", "campaign_id", campaignID, "run_id", l.run.ID,
			"matched", l.run.Matched, "eligible", l.run.Eligible, "parts", len(l.parts))
	case len(l.parts) > 0:
		s.opts.Logger.InfoContext(ctx, "campaign launch stopped", "campaign_id", campaignID, "run_id", l.run.ID, "status", l.run.Status)
	}
	return l.run, nil
}

// runLaunching is the status of a run whose deliveries are being made.
const runLaunching = "launching"

// maxLaunchParts caps the parts of one launch (Options.LaunchParts).
const maxLaunchParts = 16

// launch is a run being launched: what its parts need.
type launch struct {
	run       Run
	c         Campaign
	parts     []idRange // none: the run was not launching
	args      []any     // launchDeliveries' $1 to $26, the range of every contact
	nextRunAt *time.Time
}

// idRange is the contacts of a part: From <= id < To, nil an open end.
type idRange struct{ From, To *int64 }

// idRanges cuts the ids from lo to hi in n ranges whose widths differ by one at most, the
// first and the last open (so that one range is every contact).
func idRanges(lo, hi int64, n int) []idRange {
	span := hi - lo + 1
	k := max(1, min(int64(n), span))
	r := make([]idRange, k)
	for i := int64(1); i < k; i++ {
		cut := lo + span/k*i + span%k*i/k // lo + span*i/k, without overflow
		r[i-1].To, r[i].From = &cut, &cut
	}
	return r
}

// beginLaunch is step 1 of Launch: it returns the run, launching (its parts to make) or
// as another launch left it.
func (s *Service) beginLaunch(ctx context.Context, campaignID int64, runAt time.Time) (launch, error) {
	var l launch
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, _, err := s.scanCampaign(tx.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1 FOR UPDATE`, campaignID))
		if err != nil {
			return interpretError(err, campaignID)
		}
		l.c = c
		// Under the lock: a launch that got here first has committed its run.
		l.run, err = s.runAt(ctx, tx, campaignID, runAt)
		switch {
		case err == nil && l.run.Status != runLaunching:
			return nil
		case err == nil:
			// A launch that died half way, or is still at work: its parts, with the
			// audience the campaign kept when the run began (whatever its status now: a
			// pause waits for the launch, a cancel has cancelled the run).
			rows, err := tx.Query(ctx, `SELECT from_id, to_id FROM campaign_run_parts WHERE run_id = $1 ORDER BY part`, l.run.ID)
			if err != nil {
				return fmt.Errorf("parts: %w", err)
			}
			if l.parts, err = pgx.CollectRows(rows, pgx.RowToStructByPos[idRange]); err != nil {
				return fmt.Errorf("parts: %w", err)
			}
			l.args, err = s.audienceArgs(ctx, tx, c, consent.Purpose(l.run.Purpose), runAt, true)
			return err
		case !isNoRows(err):
			return err
		}
		if c.Status != StatusScheduled && c.Status != StatusRunning {
			return conflict(c, "launched")
		}
		if c.NextRunAt == nil || !c.NextRunAt.Equal(runAt) {
			return apperr.Conflictf("campaign %d has no run due at %s", campaignID, runAt.Format(time.RFC3339Nano))
		}
		var purpose consent.Purpose
		var version int
		if err := tx.QueryRow(ctx, `SELECT category, version FROM templates WHERE id = $1`, c.TemplateID).Scan(&purpose, &version); err != nil {
			return fmt.Errorf("template %d: %w", c.TemplateID, err)
		}
		// A segment's filter as it is now; the campaign keeps it as the one it last resolved.
		if l.c.Audience, err = s.resolveAudience(ctx, tx, c); err != nil {
			return fmt.Errorf("audience: %w", err)
		}
		audience, err := json.Marshal(l.c.Audience)
		if err != nil {
			return err
		}
		// Before the run is made: the frequency cap counts the other runs (capRuns).
		if l.args, err = s.audienceArgs(ctx, tx, l.c, purpose, runAt, true); err != nil {
			return err
		}
		if l.run, err = scanRun(tx.QueryRow(ctx, `
			INSERT INTO campaign_runs (campaign_id, run_at, template_version, purpose, status, launched_at)
			VALUES ($1, $2, $3, $4, 'launching', $5)
			RETURNING `+runColumns, campaignID, runAt, version, purpose, s.now())); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		var lo, hi *int64
		if err := tx.QueryRow(ctx, `SELECT min(id), max(id) FROM contacts`).Scan(&lo, &hi); err != nil {
			return fmt.Errorf("parts: %w", err)
		}
		l.parts = []idRange{{}}
		if lo != nil {
			l.parts = idRanges(*lo, *hi, s.launchParts())
		}
		from, to := make([]*int64, len(l.parts)), make([]*int64, len(l.parts))
		for i, r := range l.parts {
			from[i], to[i] = r.From, r.To
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO campaign_run_parts (run_id, part, from_id, to_id)
			SELECT $1, p.n - 1, p.from_id, p.to_id FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS p(from_id, to_id, n)`,
			l.run.ID, from, to); err != nil {
			return fmt.Errorf("parts: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE campaigns SET status = 'running', audience = $2, updated_at = now() WHERE id = $1`,
			campaignID, audience)
		return err
	})
	if err != nil {
		return launch{}, err
	}
	if len(l.parts) > 0 {
		l.args = append(l.args, l.run.ID, campaignID, runAt)
		if l.c.Schedule.Type == schedule.Cron {
			if t, ok := l.c.Schedule.NextRun(runAt); ok {
				l.nextRunAt = &t
			}
		}
	}
	return l, nil
}

// launchParts returns how many parts a new launch is made in: Options.LaunchParts, else
// GOMAXPROCS, at most 4, leaving the pool two connections for the rest of the process.
func (s *Service) launchParts() int {
	n := s.opts.LaunchParts
	if n <= 0 {
		n = min(runtime.GOMAXPROCS(0), 4)
		if s.pool != nil {
			n = min(n, int(s.pool.Config().MaxConns)-2)
		}
	}
	return max(1, min(n, maxLaunchParts))
}

// finishLaunch is steps 2 and 3 of Launch: it makes the parts not done, at once, then
// completes the run. A part that another launch holds is that launch's to make: step 3
// waits for it, and makes again what is still not done (another launch that died).
func (s *Service) finishLaunch(ctx context.Context, l *launch) error {
	for round := 0; ; round++ {
		if s.beforeLaunchParts != nil {
			s.beforeLaunchParts(l.run.ID)
		}
		// A part that fails does not stop the others: what they make is kept.
		var g errgroup.Group
		for i := range l.parts {
			g.Go(func() error { return s.launchPart(ctx, l, i) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		done, err := s.completeRun(ctx, l)
		if err != nil || done {
			return err
		}
		if round == 2 {
			return fmt.Errorf("run %d: parts still not done after %d rounds", l.run.ID, round+1)
		}
	}
}

// launchPart makes part i of the run, unless it is done, another launch holds it, or the
// run is no longer launching (cancelled).
func (s *Service) launchPart(ctx context.Context, l *launch, i int) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A share lock on the campaign: parts run side by side; pause, cancel and the
		// run's completion wait for them.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM campaigns WHERE id = $1 FOR SHARE`, l.run.CampaignID); err != nil {
			return err
		}
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM campaign_runs WHERE id = $1`, l.run.ID).Scan(&status); err != nil {
			return err
		}
		if status != runLaunching {
			return nil
		}
		var part int
		err := tx.QueryRow(ctx, `
			SELECT part FROM campaign_run_parts WHERE run_id = $1 AND part = $2 AND done_at IS NULL
			FOR UPDATE SKIP LOCKED`, l.run.ID, i).Scan(&part)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, audienceSettings); err != nil {
			return err
		}
		var matched, eligible int64
		if err := tx.QueryRow(ctx, launchDeliveries, withRange(l.args, l.parts[i])...).Scan(&matched, &eligible); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE campaign_run_parts SET matched = $3, eligible = $4, done_at = $5 WHERE run_id = $1 AND part = $2`,
			l.run.ID, i, matched, eligible, s.now())
		if err != nil {
			return err
		}
		if s.afterLaunchPart != nil {
			return s.afterLaunchPart(l.run.ID, i)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("part %d of %d: %w", i, len(l.parts), err)
	}
	return nil
}

// completeRun is step 3 of Launch: under the campaign's lock, once every part is done,
// the run gets their counts and is running (unless it was cancelled meanwhile), and the
// campaign's next_run_at moves on. It reports false, changing nothing, while a part is
// not done.
func (s *Service) completeRun(ctx context.Context, l *launch) (bool, error) {
	done := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE`, l.run.CampaignID); err != nil {
			return err
		}
		run, err := scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+` FROM campaign_runs WHERE id = $1`, l.run.ID))
		if err != nil {
			return err
		}
		if run.Status != runLaunching { // completed by another launch, or cancelled
			l.run, done = run, true
			return nil
		}
		var pending int
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE done_at IS NULL), coalesce(sum(matched), 0), coalesce(sum(eligible), 0)
			FROM campaign_run_parts WHERE run_id = $1`, run.ID).Scan(&pending, &run.Matched, &run.Eligible); err != nil {
			return err
		}
		if pending > 0 {
			return nil
		}
		if l.run, err = scanRun(tx.QueryRow(ctx, `
			UPDATE campaign_runs SET status = 'running', matched = $2, eligible = $3 WHERE id = $1
			RETURNING `+runColumns, run.ID, run.Matched, run.Eligible)); err != nil {
			return err
		}
		done = true
		// The campaign may have been paused meanwhile: its status stays.
		_, err = tx.Exec(ctx, `UPDATE campaigns SET next_run_at = $2, updated_at = now() WHERE id = $1`,
			run.CampaignID, l.nextRunAt)
		return err
	})
	return done, err
}

// runAt returns the run of a campaign at an instant, or pgx.ErrNoRows.
func (s *Service) runAt(ctx context.Context, q querier, campaignID int64, runAt time.Time) (Run, error) {
	return scanRun(q.QueryRow(ctx, `SELECT `+runColumns+` FROM campaign_runs WHERE campaign_id = $1 AND run_at = $2`, campaignID, runAt))
}

// Runs returns a campaign's runs, newest first.
func (s *Service) Runs(ctx context.Context, campaignID int64) ([]Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM campaign_runs WHERE campaign_id = $1 ORDER BY run_at DESC, id DESC`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("campaigns: runs of %d: %w", campaignID, err)
	}
	runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
	if err != nil {
		return nil, fmt.Errorf("campaigns: runs of %d: %w", campaignID, err)
	}
	return runs, nil
}

// FinishRuns marks completed the running runs that have nothing pending (no queued or
// sending delivery), and then the one-off campaigns whose runs are all completed. It
// returns how many runs it completed. The scheduler calls it periodically.
func (s *Service) FinishRuns(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The pending check reads the partial indexes of pending deliveries only (not yet
		// handed to Asynq, handed over, being sent), never the run's sent million.
		tag, err := tx.Exec(ctx, `
			UPDATE campaign_runs r SET status = 'completed', completed_at = $1
			WHERE r.status = 'running'
			  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = r.campaign_id AND d.run_id = r.id
			                  AND d.pending = 'queued' AND d.enqueued_at IS NULL)
			  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = r.campaign_id AND d.run_id = r.id
			                  AND d.pending IS NOT NULL AND d.enqueued_at IS NOT NULL)
			  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = r.id AND d.sending_since IS NOT NULL)`,
			s.now())
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		_, err = tx.Exec(ctx, `
			UPDATE campaigns c SET status = 'completed', next_run_at = NULL, updated_at = now()
			WHERE c.status = 'running' AND c.schedule->>'type' <> 'cron'
			  AND EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = c.id)
			  AND NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = c.id AND r.status <> 'completed')`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("campaigns: finish runs: %w", err)
	}
	return n, nil
}
