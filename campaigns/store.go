package campaigns

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// campaignColumns is the select list scanCampaign reads.
const campaignColumns = `id, name, template_id, account_ids, audience, schedule, quiet_hours, rotation,
	coalesce(rate_per_minute, 0), status, status_reason, coalesce(paused_from, ''), next_run_at, created_by,
	created_at, updated_at`

// scanCampaign reads a campaign and the quiet hours it stores (nil: the default).
func (s *Service) scanCampaign(row pgx.Row) (Campaign, *schedule.QuietHours, error) {
	var c Campaign
	var audience, sched, quiet []byte
	var rotation, status, pausedFrom string
	err := row.Scan(&c.ID, &c.Name, &c.TemplateID, &c.AccountIDs, &audience, &sched, &quiet, &rotation,
		&c.RatePerMinute, &status, &c.StatusReason, &pausedFrom, &c.NextRunAt, &c.CreatedBy, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return Campaign{}, nil, err
	}
	c.Rotation, c.Status, c.PausedFrom = sender.Rotation(rotation), Status(status), Status(pausedFrom)
	if err := json.Unmarshal(audience, &c.Audience); err != nil {
		return Campaign{}, nil, fmt.Errorf("campaign %d: audience: %w", c.ID, err)
	}
	if err := json.Unmarshal(sched, &c.Schedule); err != nil {
		return Campaign{}, nil, fmt.Errorf("campaign %d: schedule: %w", c.ID, err)
	}
	var stored *schedule.QuietHours
	if quiet != nil {
		stored = new(schedule.QuietHours)
		if err := json.Unmarshal(quiet, stored); err != nil {
			return Campaign{}, nil, fmt.Errorf("campaign %d: quiet_hours: %w", c.ID, err)
		}
		c.QuietHours = stored.WithDefault(s.opts.QuietHours)
	} else {
		c.QuietHours = s.opts.QuietHours
	}
	for _, tags := range []*[]string{&c.Audience.TagsAny, &c.Audience.TagsAll, &c.Audience.ExcludeTags} {
		if *tags == nil {
			*tags = []string{}
		}
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if c.NextRunAt != nil {
		t := c.NextRunAt.UTC()
		c.NextRunAt = &t
	}
	return c, stored, nil
}

// Create validates and stores a new draft campaign. Errors: Invalid with field errors.
func (s *Service) Create(ctx context.Context, in Input, actor string) (Campaign, error) {
	var d draft
	errs := d.apply(in, true)
	if err := s.check(ctx, s.pool, &d, errs); err != nil {
		return Campaign{}, err
	}
	audience, schedule, quiet, err := d.documents()
	if err != nil {
		return Campaign{}, err
	}
	c, _, err := s.scanCampaign(s.pool.QueryRow(ctx, `
		INSERT INTO campaigns (name, template_id, account_ids, audience, schedule, quiet_hours, rotation, rate_per_minute, created_by,
			segment_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, 0), $9, nullif($10, 0))
		RETURNING `+campaignColumns,
		d.name, d.templateID, d.accountIDs, audience, schedule, quiet, d.rotation, d.ratePerMinute, actor, d.audience.SegmentID))
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: create: %w", err)
	}
	return c, nil
}

// Update changes the given fields of a draft. Errors: NotFound; Conflict when the
// campaign is no longer a draft; Invalid with field errors.
func (s *Service) Update(ctx context.Context, id int64, in Input) (Campaign, error) {
	var out Campaign
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, stored, err := s.scanCampaign(tx.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return interpretError(err, id)
		}
		if c.Status != StatusDraft {
			return conflict(c, "edited (only a draft can be; cancel it and create a new one)")
		}
		d := draftOf(c, stored)
		errs := d.apply(in, false)
		if err := s.check(ctx, tx, &d, errs); err != nil {
			return err
		}
		audience, schedule, quiet, err := d.documents()
		if err != nil {
			return err
		}
		out, _, err = s.scanCampaign(tx.QueryRow(ctx, `
			UPDATE campaigns SET name = $2, template_id = $3, account_ids = $4, audience = $5, schedule = $6,
				quiet_hours = $7, rotation = $8, rate_per_minute = nullif($9, 0), segment_id = nullif($10, 0), updated_at = now()
			WHERE id = $1
			RETURNING `+campaignColumns,
			id, d.name, d.templateID, d.accountIDs, audience, schedule, quiet, d.rotation, d.ratePerMinute, d.audience.SegmentID))
		return err
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: update %d: %w", id, err)
	}
	return out, nil
}

// documents encodes the draft's JSON columns. A segment audience is stored with the
// segment's filter as check resolved it, so that the campaign keeps it if the segment is
// deleted.
func (d draft) documents() (audience, schedule, quiet []byte, err error) {
	if audience, err = json.Marshal(d.audience); err != nil {
		return nil, nil, nil, err
	}
	if schedule, err = json.Marshal(d.schedule); err != nil {
		return nil, nil, nil, err
	}
	if d.quiet != nil {
		if quiet, err = json.Marshal(d.quiet); err != nil {
			return nil, nil, nil, err
		}
	}
	return audience, schedule, quiet, nil
}

// Get returns a campaign. Errors: NotFound.
func (s *Service) Get(ctx context.Context, id int64) (Campaign, error) {
	c, _, err := s.scanCampaign(s.pool.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1`, id))
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: get %d: %w", id, interpretError(err, id))
	}
	return c, nil
}

// ListParams filter and page a campaign list.
type ListParams struct {
	Status  Status // only campaigns in this status; "" for all
	AfterID int64  // keyset cursor: campaigns with a greater id
	Limit   int
}

// List returns campaigns in id order and the cursor of the next page (0 at the end).
func (s *Service) List(ctx context.Context, p ListParams) ([]Campaign, int64, error) {
	if p.Status != "" && !p.Status.valid() {
		return nil, 0, apperr.Field("status", "must be one of draft, scheduled, running, paused, completed, cancelled")
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+campaignColumns+` FROM campaigns
		WHERE id > $1 AND ($2 = '' OR status = $2)
		ORDER BY id LIMIT $3`, p.AfterID, string(p.Status), p.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("campaigns: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Campaign, error) {
		c, _, err := s.scanCampaign(r)
		return c, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("campaigns: list: %w", err)
	}
	var next int64
	if len(list) > p.Limit {
		list = list[:p.Limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

func (st Status) valid() bool {
	switch st {
	case StatusDraft, StatusScheduled, StatusRunning, StatusPaused, StatusCompleted, StatusCancelled:
		return true
	}
	return false
}

// conflict is the 409 of an action the campaign's status does not allow: it names the
// status.
func conflict(c Campaign, cannot string) error {
	return apperr.Conflictf("campaign %d is %s: it cannot be %s", c.ID, c.Status, cannot)
}

// interpretError translates pgx errors about campaign id.
func interpretError(err error, id int64) error {
	if isNoRows(err) {
		return apperr.NotFoundf("campaign %d not found", id)
	}
	return err
}
