package campaigns

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/templates"
)

// Preview is a campaign's audience as a launch at RunAt would find it, without sending
// anything or writing a row.
type Preview struct {
	RunAt    time.Time        `json:"run_at"`   // the instant the audience is evaluated for: the next run, or now
	Matched  int64            `json:"matched"`  // contacts the filter matches
	Eligible int64            `json:"eligible"` // of which would be queued
	Excluded map[string]int64 `json:"excluded"` // the others, by skip reason (each counted once, by the first reason)
	Samples  []Sample         `json:"samples"`  // the message rendered for a few eligible contacts
}

// Sample is the message one eligible contact would get.
type Sample struct {
	ContactID int64  `json:"contact_id"`
	Phone     string `json:"phone"` // masked unless the caller may see personal data
	Locale    string `json:"locale"`
	Variant   int    `json:"variant"`
	Text      string `json:"text"`
	Error     string `json:"error,omitempty"` // why it cannot be rendered (the send would fail the same way)
}

// Preview counts the audience of campaign id the way Launch would materialise it (same
// SQL), as of its next run (or now), and renders the message for the first few eligible
// contacts. With pii false, phones and emails are masked, in the sample and in the data
// the message is rendered with. Errors: NotFound.
func (s *Service) Preview(ctx context.Context, id int64, pii bool) (Preview, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Preview{}, err
	}
	now := s.now()
	runAt := now
	switch {
	case c.NextRunAt != nil:
		runAt = *c.NextRunAt
	case c.Status == StatusDraft:
		if t, ok := c.Schedule.NextRun(now); ok {
			runAt = t
		}
	}
	var purpose consent.Purpose = consent.Marketing
	var tpl *templates.Stored
	if s.opts.Templates != nil {
		t, err := s.opts.Templates.Get(ctx, c.TemplateID)
		if err != nil {
			return Preview{}, fmt.Errorf("campaigns: preview %d: %w", id, err)
		}
		tpl, purpose = &t, consent.Purpose(t.Category)
	} else if err := s.pool.QueryRow(ctx, `SELECT category FROM templates WHERE id = $1`, c.TemplateID).Scan(&purpose); err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: template: %w", id, err)
	}
	// A segment's filter as it is now, as the launch will read it.
	if c.Audience, err = s.resolveAudience(ctx, s.pool, c); err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: %w", id, err)
	}
	// The due time matters to a preview only when it can skip someone.
	args, err := s.audienceArgs(ctx, s.pool, c, purpose, runAt, c.Schedule.SkipPastLocal && c.Schedule.LocalTime != "")
	if err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: %w", id, err)
	}
	p := Preview{RunAt: runAt, Excluded: map[string]int64{}, Samples: []Sample{}}
	err = s.countAudience(ctx, args, func(reason *string, n int64) {
		p.Matched += n
		if reason == nil {
			p.Eligible += n
		} else {
			p.Excluded[*reason] += n
		}
	})
	if err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: %w", id, err)
	}
	if tpl == nil || s.opts.Engine == nil || p.Eligible == 0 {
		return p, nil
	}
	p.Samples, err = s.samples(ctx, c, *tpl, args, pii)
	if err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: samples: %w", id, err)
	}
	return p, nil
}

// countAudience runs previewCounts with args (audienceArgs) and calls add for each skip
// reason (nil: eligible) with its count.
func (s *Service) countAudience(ctx context.Context, args []any, add func(reason *string, n int64)) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, countSettings); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, previewCounts, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var reason *string
			var n int64
			if err := rows.Scan(&reason, &n); err != nil {
				return err
			}
			add(reason, n)
		}
		return rows.Err()
	})
}

// samples renders the message for the first eligible contacts, by id, as the workers
// would choose: the template locale for the contact's locale, the variant picked by the
// weights from a seed (the contact's id here: a delivery does not exist yet). args are the
// audience's (audienceArgs).
func (s *Service) samples(ctx context.Context, c Campaign, t templates.Stored, args []any, pii bool) ([]Sample, error) {
	type contact struct {
		id    int64
		phone string
		data  templates.Data
	}
	var found []contact
	// A transaction of its own, for the plan of these values (audienceSettings) without
	// the count's settings: this is a short scan for the first few.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL TimeZone = 'UTC'`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, previewSamples, append(args[:len(args):len(args)], s.opts.PreviewSamples)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var f contact // new each row: a JSON object scans into the map it finds
			d := &f.data
			if err := rows.Scan(&f.id, &f.phone, &d.Name, &d.Email, &d.Locale, &d.Country, &d.Timezone, &d.Tags, &d.Attributes); err != nil {
				return err
			}
			found = append(found, f)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := []Sample{}
	for _, f := range found {
		id, phone, d := f.id, f.phone, f.data
		if !pii {
			phone, d.Email = contacts.MaskPhone(phone), contacts.MaskEmail(d.Email)
		}
		d.Campaign = templates.Campaign{Name: c.Name}
		sample := Sample{ContactID: id, Phone: phone}
		li := t.LocaleFor(d.Locale)
		if li < 0 {
			sample.Error = templates.ErrChoice.Error()
			out = append(out, sample)
			continue
		}
		l := t.Locales[li]
		sample.Locale = l.Locale
		sample.Variant = templates.Pick(uint64(id), l.Weights())
		text, err := s.opts.Engine.Render(ctx, t.Template, templates.Choice{Locale: l.Locale, Variant: sample.Variant, Seed: uint64(id)}, d)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			sample.Error = err.Error()
		}
		sample.Text = text
		out = append(out, sample)
	}
	return out, nil
}
