package campaigns

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// Status is where a campaign stands in its lifecycle:
//
//	draft → scheduled → running → completed
//
// with paused (from scheduled or running, resuming to where it was) and cancelled (from
// anything but completed and cancelled).
type Status string

// The campaign statuses (prefixed: Queued, Sent, … are the deliveries').
const (
	StatusDraft     Status = "draft"     // being written; the only status in which it can be edited
	StatusScheduled Status = "scheduled" // waiting for its first run (next_run_at)
	StatusRunning   Status = "running"   // launched: deliveries exist; a cron campaign stays running between ticks
	StatusPaused    Status = "paused"    // held: no launch, no send; PausedFrom says where it resumes to
	StatusCompleted Status = "completed" // every run finished (one-off campaigns only; cron runs until cancelled)
	StatusCancelled Status = "cancelled" // stopped for good; its queued deliveries were cancelled
)

// Campaign is a campaign as stored.
type Campaign struct {
	ID         int64
	Name       string
	TemplateID int64
	AccountIDs []int64
	Audience   Audience
	Schedule   schedule.Schedule
	// QuietHours are the campaign's quiet hours with the service's default merged in, as
	// every delivery is scheduled by them.
	QuietHours    schedule.QuietHours
	Rotation      sender.Rotation
	RatePerMinute int // a cap over all the campaign's accounts; 0: none beyond the accounts' own
	Status        Status
	StatusReason  string // why it is paused or cancelled, for people
	PausedFrom    Status // the status a paused campaign resumes to
	NextRunAt     *time.Time
	CreatedBy     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Input is a campaign as written: Create needs Name, TemplateID, AccountIDs and Audience
// (Schedule defaults to now, Rotation to round robin, QuietHours to the default);
// Update changes the fields that are not nil.
type Input struct {
	Name          *string
	TemplateID    *int64
	AccountIDs    []int64
	Audience      *Audience
	Schedule      *schedule.Schedule
	QuietHours    *schedule.QuietHours
	Rotation      *sender.Rotation
	RatePerMinute *int // 0 removes the cap
}

// Limits on what a campaign may hold.
const (
	maxNameLen  = 200
	maxAccounts = 100
	maxRate     = 100_000
)

// draft is a campaign's editable fields, merged from what is stored and an Input.
type draft struct {
	name          string
	templateID    int64
	accountIDs    []int64
	audience      Audience
	schedule      schedule.Schedule
	quiet         *schedule.QuietHours // nil: the default
	rotation      sender.Rotation
	ratePerMinute int
}

func draftOf(c Campaign, quiet *schedule.QuietHours) draft {
	return draft{name: c.Name, templateID: c.TemplateID, accountIDs: c.AccountIDs, audience: c.Audience,
		schedule: c.Schedule, quiet: quiet, rotation: c.Rotation, ratePerMinute: c.RatePerMinute}
}

// apply merges in and reports field errors that need no database.
func (d *draft) apply(in Input, creating bool) []apperr.FieldError {
	var errs []apperr.FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if in.Name != nil {
		d.name = strings.TrimSpace(*in.Name)
		switch {
		case d.name == "":
			fail("name", "is required")
		case len(d.name) > maxNameLen:
			fail("name", "must be at most %d characters long", maxNameLen)
		}
	} else if creating {
		fail("name", "is required")
	}
	if in.TemplateID != nil {
		d.templateID = *in.TemplateID
		if d.templateID <= 0 {
			fail("template_id", "must be the id of a template")
		}
	} else if creating {
		fail("template_id", "is required")
	}
	if in.AccountIDs != nil {
		d.accountIDs = dedupeIDs(in.AccountIDs)
		for i, id := range in.AccountIDs {
			if id <= 0 {
				fail(fmt.Sprintf("account_ids[%d]", i), "must be the id of an account")
			}
		}
		switch {
		case len(d.accountIDs) == 0:
			fail("account_ids", "give at least one account to send from")
		case len(d.accountIDs) > maxAccounts:
			fail("account_ids", "must have at most %d accounts", maxAccounts)
		}
	} else if creating {
		fail("account_ids", "is required: give at least one account to send from")
	}
	if in.Audience != nil {
		a, aerrs := normalizeAudience(*in.Audience)
		d.audience = a
		errs = append(errs, aerrs...)
	} else if creating {
		fail("audience", "is required: give a filter (e.g. tags_any) or segment_id")
	}
	if in.Schedule != nil {
		d.schedule = *in.Schedule
	} else if creating {
		d.schedule = schedule.Schedule{Type: schedule.Now}
	}
	if in.QuietHours != nil {
		q := *in.QuietHours
		if err := q.Validate(); err != nil {
			errs = append(errs, apperr.FieldsOf(err)...)
		}
		d.quiet = &q
	}
	if in.Rotation != nil {
		d.rotation = *in.Rotation
		if !d.rotation.Valid() {
			fail("rotation", "must be round_robin or sticky")
		}
	} else if creating {
		d.rotation = sender.RoundRobin
	}
	if in.RatePerMinute != nil {
		d.ratePerMinute = *in.RatePerMinute
		if d.ratePerMinute < 0 || d.ratePerMinute > maxRate {
			fail("rate_per_minute", "must be from 1 to %d messages a minute, or 0 for no campaign cap", maxRate)
		}
	}
	return errs
}

// check validates what needs the database (the template, the accounts and the segment)
// and the schedule as of now; it returns an Invalid error with every field error,
// including pre. A segment audience gets the segment's filter as it is now (resolved),
// under a share lock that holds off the segment's deletion until the transaction ends.
func (s *Service) check(ctx context.Context, q querier, d *draft, pre []apperr.FieldError) error {
	errs := pre
	if id := d.audience.SegmentID; id > 0 {
		a, err := s.segmentFilter(ctx, q, id, true)
		switch {
		case apperr.CodeOf(err) == apperr.NotFound:
			errs = append(errs, apperr.FieldError{Field: "audience.segment_id", Message: fmt.Sprintf("there is no segment %d (or it was deleted)", id)})
		case err != nil:
			return fmt.Errorf("campaigns: check segment: %w", err)
		default:
			a.SegmentID = id
			d.audience = a
		}
	}
	if d.templateID > 0 {
		var category templates.Category
		err := q.QueryRow(ctx, `SELECT category FROM templates WHERE id = $1`, d.templateID).Scan(&category)
		if isNoRows(err) {
			errs = append(errs, apperr.FieldError{Field: "template_id", Message: fmt.Sprintf("there is no template %d", d.templateID)})
		} else if err != nil {
			return fmt.Errorf("campaigns: check template: %w", err)
		}
	}
	if len(d.accountIDs) > 0 {
		rows, err := q.Query(ctx, `SELECT id FROM accounts WHERE id = ANY($1) AND deleted_at IS NULL`, d.accountIDs)
		if err != nil {
			return fmt.Errorf("campaigns: check accounts: %w", err)
		}
		found := map[int64]bool{}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("campaigns: check accounts: %w", err)
			}
			found[id] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("campaigns: check accounts: %w", err)
		}
		for i, id := range d.accountIDs {
			if !found[id] {
				errs = append(errs, apperr.FieldError{Field: fmt.Sprintf("account_ids[%d]", i), Message: fmt.Sprintf("there is no account %d (or it was deleted)", id)})
			}
		}
	}
	if err := d.schedule.ValidateLimits(s.now(), s.opts.ScheduleLimits); err != nil {
		errs = append(errs, apperr.FieldsOf(err)...)
	}
	return apperr.Fields(errs...)
}

func dedupeIDs(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
