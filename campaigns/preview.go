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
	Matched  int64            `json:"matched"`  // contacts the tags match
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
	// The due time matters to a preview only when it can skip someone.
	a, err := s.buildAudience(ctx, c, purpose, runAt,
		audienceOptions{due: c.Schedule.SkipPastLocal && c.Schedule.LocalTime != ""})
	if err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: %w", id, err)
	}
	p := Preview{RunAt: runAt, Excluded: map[string]int64{}, Samples: []Sample{}}
	// Read-only, without JIT (its compile time is most of a one-off statement's) and with
	// enough work_mem for the consent hash join of a million contacts.
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off; SET LOCAL work_mem = '128MB'; SET LOCAL enable_mergejoin = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT m.reason, count(*) FROM (SELECT `+a.Reason+` AS reason `+a.From+`) m GROUP BY 1`, a.Args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var reason *string
			var n int64
			if err := rows.Scan(&reason, &n); err != nil {
				rows.Close()
				return err
			}
			p.Matched += n
			if reason == nil {
				p.Eligible += n
			} else {
				p.Excluded[*reason] += n
			}
		}
		return rows.Err()
	})
	if err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: %w", id, err)
	}
	if tpl == nil || s.opts.Engine == nil || p.Eligible == 0 {
		return p, nil
	}
	p.Samples, err = s.samples(ctx, c, *tpl, a, pii)
	if err != nil {
		return Preview{}, fmt.Errorf("campaigns: preview %d: samples: %w", id, err)
	}
	return p, nil
}

// samples renders the message for the first eligible contacts, by id, as the workers
// would choose: the template locale for the contact's locale, the variant picked by the
// weights from a seed (the contact's id here: a delivery does not exist yet).
func (s *Service) samples(ctx context.Context, c Campaign, t templates.Stored, a audienceSQL, pii bool) ([]Sample, error) {
	args := append(a.Args, s.opts.PreviewSamples)
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.phone, c.name, c.email, c.locale, coalesce(nullif(c.country, ''), c.phone_region), c.timezone,
		       c.tags, c.attributes
		`+a.From+` AND `+a.Reason+` IS NULL
		ORDER BY c.id LIMIT $`+fmt.Sprint(len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Sample{}
	for rows.Next() {
		var id int64
		var phone string
		var d templates.Data
		if err := rows.Scan(&id, &phone, &d.Name, &d.Email, &d.Locale, &d.Country, &d.Timezone, &d.Tags, &d.Attributes); err != nil {
			return nil, err
		}
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
	return out, rows.Err()
}
