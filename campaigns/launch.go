package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
// time and quiet hours, schedule.DueAt) or skipped with its reason, in one set-based statement;
// then the campaign is running and its next_run_at is the next cron tick (or NULL).
//
// It is idempotent: the run is unique per campaign and run_at, so launching it again,
// or concurrently, creates nothing and returns the run as it is. Everything happens in
// one transaction, so a launch that fails leaves nothing behind and can be retried.
//
// Errors: NotFound; Conflict when the campaign cannot launch (paused, cancelled, draft,
// completed) or runAt is not its next run.
func (s *Service) Launch(ctx context.Context, campaignID int64, runAt time.Time) (Run, error) {
	runAt = runAt.UTC().Truncate(time.Microsecond)
	if run, err := s.runAt(ctx, s.pool, campaignID, runAt); err == nil || !isNoRows(err) {
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
	var run Run
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, _, err := s.scanCampaign(tx.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1 FOR UPDATE`, campaignID))
		if err != nil {
			return interpretError(err, campaignID)
		}
		// Under the lock: a launch that got here first has committed its run.
		if run, err = s.runAt(ctx, tx, campaignID, runAt); err == nil || !isNoRows(err) {
			return err
		}
		if c.Status != StatusScheduled && c.Status != StatusRunning {
			return conflict(c, "launched")
		}
		if c.NextRunAt == nil || !c.NextRunAt.Equal(runAt) {
			return apperr.Conflictf("campaign %d has no run due at %s", campaignID, runAt.Format(time.RFC3339Nano))
		}
		// One big statement, planned for its values.
		if _, err := tx.Exec(ctx, audienceSettings); err != nil {
			return err
		}
		var purpose consent.Purpose
		var version int
		if err := tx.QueryRow(ctx, `SELECT category, version FROM templates WHERE id = $1`, c.TemplateID).Scan(&purpose, &version); err != nil {
			return fmt.Errorf("template %d: %w", c.TemplateID, err)
		}
		// A segment's filter as it is now; the campaign keeps it as the one it last resolved.
		if c.Audience, err = s.resolveAudience(ctx, tx, c); err != nil {
			return fmt.Errorf("audience: %w", err)
		}
		audience, err := json.Marshal(c.Audience)
		if err != nil {
			return err
		}
		// Before the run is made: the frequency cap counts the other runs (capRuns).
		args, err := s.audienceArgs(ctx, tx, c, purpose, runAt, true)
		if err != nil {
			return err
		}
		if run, err = scanRun(tx.QueryRow(ctx, `
			INSERT INTO campaign_runs (campaign_id, run_at, template_version, purpose, status, launched_at)
			VALUES ($1, $2, $3, $4, 'running', $5)
			RETURNING `+runColumns, campaignID, runAt, version, purpose, s.now())); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		args = append(args, run.ID, campaignID, runAt)
		if err := tx.QueryRow(ctx, launchDeliveries, args...).Scan(&run.Matched, &run.Eligible); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE campaign_runs SET matched = $2, eligible = $3 WHERE id = $1`,
			run.ID, run.Matched, run.Eligible); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		next := timePtr(time.Time{})
		if c.Schedule.Type == schedule.Cron {
			if t, ok := c.Schedule.NextRun(runAt); ok {
				next = &t
			}
		}
		_, err = tx.Exec(ctx, `UPDATE campaigns SET status = 'running', next_run_at = $2, audience = $3, updated_at = now() WHERE id = $1`,
			campaignID, next, audience)
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("campaigns: launch %d at %s: %w", campaignID, runAt.Format(time.RFC3339), err)
	}
	s.opts.Logger.InfoContext(ctx, "campaign launched", "campaign_id", campaignID, "run_id", run.ID,
		"matched", run.Matched, "eligible", run.Eligible)
	return run, nil
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
