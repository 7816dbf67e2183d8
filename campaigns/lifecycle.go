package campaigns

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/delivery"
)

// transitions is the state machine: the statuses each action may start from.
var transitions = map[string][]Status{
	"scheduled": {StatusDraft},
	"paused":    {StatusScheduled, StatusRunning},
	"resumed":   {StatusPaused},
	"cancelled": {StatusDraft, StatusScheduled, StatusRunning, StatusPaused},
}

// transition locks campaign id, checks that action may start from its status (else a
// Conflict naming the status), and runs fn in the same transaction.
func (s *Service) transition(ctx context.Context, id int64, action string, fn func(tx pgx.Tx, c Campaign, stored *schedule.QuietHours) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, stored, err := s.scanCampaign(tx.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return interpretError(err, id)
		}
		from := transitions[action]
		if !slices.Contains(from, c.Status) {
			names := make([]string, len(from))
			for i, st := range from {
				names[i] = string(st)
			}
			return conflict(c, fmt.Sprintf("%s (only a campaign that is %s can be)", action, strings.Join(names, " or ")))
		}
		return fn(tx, c, stored)
	})
	if err != nil {
		return fmt.Errorf("campaigns: %s %d: %w", strings.TrimSuffix(action, "d"), id, err)
	}
	return nil
}

// Schedule moves a draft to scheduled, with its first run at next_run_at: now for a now
// schedule, the at instant, or the next cron tick. The draft is checked again as of now
// (its template, accounts and segment still exist, an at time is still in the future), and a
// campaign with WhatsApp Cloud API accounts must have Meta's approval of every locale of
// its template (checkCloudTemplates). Errors: NotFound; Conflict naming the status when it
// is not a draft; Invalid.
func (s *Service) Schedule(ctx context.Context, id int64) error {
	return s.transition(ctx, id, "scheduled", func(tx pgx.Tx, c Campaign, stored *schedule.QuietHours) error {
		// check also finds the segment of a segment audience, under a share lock.
		d := draftOf(c, stored)
		if err := s.check(ctx, tx, &d, nil); err != nil {
			return err
		}
		if err := s.checkCloudTemplates(ctx, tx, c.TemplateID, c.AccountIDs); err != nil {
			return err
		}
		now := s.now()
		next, ok := c.Schedule.NextRun(now)
		if !ok {
			return fmt.Errorf("schedule %+v has no next run", c.Schedule) // Validate said it had
		}
		_, err := tx.Exec(ctx, `
			UPDATE campaigns SET status = 'scheduled', next_run_at = $2, status_reason = '', updated_at = now()
			WHERE id = $1`, id, next)
		return err
	})
}

// Pause holds a scheduled or running campaign: it does not launch, and the workers send
// none of its deliveries until it is resumed (they check the campaign before each send).
// reason says why, for people (the workers pause a campaign whose error rate is too
// high). Errors: NotFound; Conflict naming the status.
func (s *Service) Pause(ctx context.Context, id int64, reason string) error {
	return s.transition(ctx, id, "paused", func(tx pgx.Tx, c Campaign, _ *schedule.QuietHours) error {
		_, err := tx.Exec(ctx, `
			UPDATE campaigns SET status = 'paused', paused_from = status, status_reason = $2, updated_at = now()
			WHERE id = $1`, id, reason)
		return err
	})
}

// Resume returns a paused campaign to the status it was paused from. A run whose time
// passed meanwhile launches at once (DueRuns returns it). Like Schedule, it needs Meta's
// approval of the template for a campaign with Cloud API accounts: a campaign the workers
// paused because Meta refused its template resumes only once the sync finds it approved.
// Errors: NotFound; Conflict naming the status; Invalid.
func (s *Service) Resume(ctx context.Context, id int64) error {
	return s.transition(ctx, id, "resumed", func(tx pgx.Tx, c Campaign, _ *schedule.QuietHours) error {
		if err := s.checkCloudTemplates(ctx, tx, c.TemplateID, c.AccountIDs); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			UPDATE campaigns SET status = coalesce(paused_from, 'scheduled'), paused_from = NULL, status_reason = '',
				updated_at = now()
			WHERE id = $1`, id)
		return err
	})
}

// Cancel stops a campaign for good: no further run, and every queued delivery is
// cancelled with delivery.SkipCampaignCancelled (one a worker already holds is stopped by the
// worker's own check of the campaign). It returns how many deliveries it cancelled.
// Errors: NotFound; Conflict naming the status (completed or already cancelled).
func (s *Service) Cancel(ctx context.Context, id int64, reason string) (int64, error) {
	var n int64
	err := s.transition(ctx, id, "cancelled", func(tx pgx.Tx, c Campaign, _ *schedule.QuietHours) error {
		if _, err := tx.Exec(ctx, `
			UPDATE campaigns SET status = 'cancelled', paused_from = NULL, next_run_at = NULL, status_reason = $2,
				updated_at = now()
			WHERE id = $1`, id, reason); err != nil {
			return err
		}
		// In two halves, each the predicate of a partial index of queued deliveries (not
		// yet handed to Asynq; handed over), so that a cancel reads only what is queued.
		for _, handed := range []string{"IS NULL", "IS NOT NULL"} {
			tag, err := tx.Exec(ctx, `
				UPDATE deliveries SET status = 'cancelled', skip_reason = $2, updated_at = now()
				WHERE campaign_id = $1 AND pending = 'queued' AND enqueued_at `+handed, id, delivery.SkipCampaignCancelled)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		_, err := tx.Exec(ctx, `
			UPDATE campaign_runs SET status = 'cancelled', completed_at = now()
			WHERE campaign_id = $1 AND status IN ('launching', 'running')`, id)
		return err
	})
	return n, err
}
