package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
)

// Channel is the network consent is given for.
type Channel string

// The channels.
const WhatsApp Channel = "whatsapp"

// Purpose is what the messages are for.
type Purpose string

// The purposes, matching template categories.
const (
	Marketing Purpose = "marketing"
	Utility   Purpose = "utility"
)

// Status is a consent decision.
type Status string

// The statuses.
const (
	Granted   Status = "granted"
	Withdrawn Status = "withdrawn"
)

// Source is where a consent decision came from.
type Source string

// The sources. Keyword and import entries are made by Crier itself; the others may come
// through the API.
const (
	SourceForm    Source = "form"    // a sign-up form: evidence is the text shown, URL, IP…
	SourceImport  Source = "import"  // a CSV import's consent column
	SourceKeyword Source = "keyword" // the customer texted STOP or START
	SourceAgent   Source = "agent"   // an agent recorded it on the customer's behalf
	SourceAPI     Source = "api"     // another system
)

// Entry is one line of the ledger.
type Entry struct {
	ID         int64
	ContactID  int64
	Channel    Channel
	Purpose    Purpose
	Status     Status
	Source     Source
	Evidence   map[string]any
	Actor      string
	OccurredAt time.Time // when the person decided
	RecordedAt time.Time // when Crier wrote it down
	// LiftedSuppression says that this grant took the person's number off the
	// suppression list.
	LiftedSuppression bool
}

// State is a contact's current consent for one channel and purpose: its latest entry.
type State struct {
	Channel   Channel
	Purpose   Purpose
	Status    Status
	LedgerID  int64
	UpdatedAt time.Time
}

// Change is a consent decision to record.
type Change struct {
	ContactID  int64
	Channel    Channel // default whatsapp
	Purpose    Purpose // default marketing
	Status     Status
	Source     Source
	Evidence   map[string]any // required for a grant
	Actor      string
	OccurredAt time.Time // default now; not in the future
}

const maxEvidenceBytes = 16 << 10

// validate checks a change as the API would receive it.
func (c *Change) validate(now time.Time) error {
	var errs []apperr.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if c.Channel == "" {
		c.Channel = WhatsApp
	}
	if c.Purpose == "" {
		c.Purpose = Marketing
	}
	if c.Channel != WhatsApp {
		bad("channel", "must be %q", WhatsApp)
	}
	if c.Purpose != Marketing && c.Purpose != Utility {
		bad("purpose", "must be %q or %q", Marketing, Utility)
	}
	switch c.Status {
	case Granted, Withdrawn:
	default:
		bad("status", "must be %q or %q", Granted, Withdrawn)
	}
	switch c.Source {
	case SourceForm, SourceImport, SourceKeyword, SourceAgent, SourceAPI:
	default:
		bad("source", "must be form, agent or api")
	}
	if c.Status == Granted && len(c.Evidence) == 0 {
		bad("evidence", "is required for a grant: what the person saw and did (text shown, URL, IP, form, message id…)")
	}
	if b, err := json.Marshal(c.Evidence); err != nil {
		bad("evidence", "must be a JSON object")
	} else if len(b) > maxEvidenceBytes {
		bad("evidence", "is %d bytes as JSON; the limit is %d", len(b), maxEvidenceBytes)
	}
	if c.OccurredAt.IsZero() {
		c.OccurredAt = now
	} else if c.OccurredAt.After(now.Add(5 * time.Minute)) {
		bad("occurred_at", "is in the future")
	}
	if c.Evidence == nil {
		c.Evidence = map[string]any{}
	}
	return apperr.Fields(errs...)
}

// liftsSuppression says whether a grant from this source takes the number off the
// suppression list. An import does not: a stale spreadsheet must never undo a STOP. Nor
// is a suppression for legal reasons ever lifted automatically (see liftSQL).
func (s Source) liftsSuppression() bool {
	return s == SourceForm || s == SourceKeyword || s == SourceAgent || s == SourceAPI
}

// Record appends a decision to the ledger and makes it the contact's current state, in one
// transaction. A grant with evidence from a form, an agent, the API or a START keyword
// also lifts a suppression of the contact's number (not one for legal reasons), and the
// entry says so.
func (s *Service) Record(ctx context.Context, c Change) (Entry, error) {
	if err := c.validate(s.now()); err != nil {
		return Entry{}, err
	}
	var e Entry
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		e, err = s.record(ctx, tx, c)
		return err
	})
	return e, err
}

// record is Record inside a caller's transaction.
func (s *Service) record(ctx context.Context, tx pgx.Tx, c Change) (Entry, error) {
	var hash []byte
	err := tx.QueryRow(ctx, `SELECT phone_hash FROM contacts WHERE id = $1 FOR UPDATE`, c.ContactID).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, apperr.NotFoundf("contact %d not found", c.ContactID)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("consent: record: %w", err)
	}
	lifted := false
	if c.Status == Granted && c.Source.liftsSuppression() {
		tag, err := tx.Exec(ctx, liftSQL, hash)
		if err != nil {
			return Entry{}, fmt.Errorf("consent: record: lift suppression: %w", err)
		}
		lifted = tag.RowsAffected() > 0
	}
	e := Entry{ContactID: c.ContactID, Channel: c.Channel, Purpose: c.Purpose, Status: c.Status, Source: c.Source,
		Evidence: c.Evidence, Actor: c.Actor, OccurredAt: c.OccurredAt, LiftedSuppression: lifted}
	err = tx.QueryRow(ctx, `
		WITH entry AS (
			INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at, lifted_suppression)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING id, recorded_at
		), state AS (
			INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id, updated_at)
			SELECT $1, $2, $3, $4, id, recorded_at FROM entry
			ON CONFLICT (contact_id, channel, purpose) DO UPDATE
				SET status = excluded.status, ledger_id = excluded.ledger_id, updated_at = excluded.updated_at
		)
		SELECT id, recorded_at FROM entry`,
		c.ContactID, c.Channel, c.Purpose, c.Status, c.Source, c.Evidence, c.Actor, c.OccurredAt, lifted).Scan(&e.ID, &e.RecordedAt)
	if err != nil {
		return Entry{}, fmt.Errorf("consent: record: %w", err)
	}
	return e, nil
}

// liftSQL takes a number off the suppression list, unless it is there for legal reasons.
const liftSQL = `DELETE FROM suppressions WHERE phone_hash = $1 AND reason <> 'legal'`

// History returns a contact's ledger, newest first (at most limit entries), and its
// current states.
func (s *Service) History(ctx context.Context, contactID int64, limit int) ([]Entry, []State, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1)`, contactID).Scan(&exists); err != nil {
		return nil, nil, fmt.Errorf("consent: history: %w", err)
	}
	if !exists {
		return nil, nil, apperr.NotFoundf("contact %d not found", contactID)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, contact_id, channel, purpose, status, source, evidence, actor, occurred_at, recorded_at, lifted_suppression
		FROM consent_ledger WHERE contact_id = $1 ORDER BY id DESC LIMIT $2`, contactID, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("consent: history: %w", err)
	}
	entries, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Entry])
	if err != nil {
		return nil, nil, fmt.Errorf("consent: history: %w", err)
	}
	rows, err = s.pool.Query(ctx, `
		SELECT channel, purpose, status, ledger_id, updated_at FROM consent_state
		WHERE contact_id = $1 ORDER BY channel, purpose`, contactID)
	if err != nil {
		return nil, nil, fmt.Errorf("consent: history: %w", err)
	}
	states, err := pgx.CollectRows(rows, pgx.RowToStructByPos[State])
	if err != nil {
		return nil, nil, fmt.Errorf("consent: history: %w", err)
	}
	return entries, states, nil
}
