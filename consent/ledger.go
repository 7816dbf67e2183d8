package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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

// Purposes lists every purpose: what a customer's STOP, an erasure or a staff suppression
// suppresses.
var Purposes = []Purpose{Marketing, Utility}

// Status is a consent decision.
type Status string

// The statuses.
const (
	Granted   Status = "granted"
	Withdrawn Status = "withdrawn"
)

// Source is where a consent decision, or a suppression, came from.
type Source string

// The sources of ledger entries. Keyword, sandbox, channel and import entries are made by
// Crier itself; the API records form, agent, api and compliance entries.
const (
	SourceForm    Source = "form"    // a sign-up form: evidence is the text shown, URL, IP…
	SourceImport  Source = "import"  // a CSV import's consent column
	SourceKeyword Source = "keyword" // the customer texted STOP or START on a real channel
	SourceAgent   Source = "agent"   // an agent recorded it on the customer's behalf
	SourceAPI     Source = "api"     // another system
	// SourceSandbox is a simulated customer message (the sandbox API, admin only). It lifts
	// only what the sandbox itself suppressed.
	SourceSandbox Source = "sandbox"
	// SourceChannel is the network's own opt-out signal (a channel reporting that the
	// person stopped marketing messages from the business).
	SourceChannel Source = "channel"
	// SourceWhatsApp is WhatsApp's own report that the person stopped marketing messages
	// from the business (the Cloud API's error 131050), with Meta's words as evidence.
	SourceWhatsApp Source = "whatsapp"
	// SourceCompliance is a compliance officer's record with typed evidence (a kind from
	// ComplianceKinds, a reference and obtained_at): the one staff grant that lifts an
	// opt-out.
	SourceCompliance Source = "compliance"
)

// The sources of suppressions that are no ledger entry.
const (
	SourceStaff   Source = "staff"   // added by hand (POST /v1/suppressions): manual, complaint, legal
	SourceErasure Source = "erasure" // the person was erased
)

// APISources are the sources the API may record; the others are Crier's own.
var APISources = []Source{SourceForm, SourceAgent, SourceAPI, SourceCompliance}

// liftCeiling is the strongest suppression (suppression_strength in migrations/00011) a
// grant from this source lifts, or -1 for none. Only the customer lifts an opt-out: their
// own START on a real channel, or a compliance officer's grant with typed evidence of
// their request. A simulated START lifts only simulated suppressions. No grant lifts a
// legal one (3): compliance removes it by hand.
func (s Source) liftCeiling() int {
	switch s {
	case SourceKeyword, SourceCompliance:
		return 2
	case SourceSandbox:
		return 0
	}
	return -1
}

// stopsEverything says whether a withdrawal from this source suppresses every purpose,
// not just the one withdrawn: a customer's STOP means no more messages at all.
func (s Source) stopsEverything() bool { return s == SourceKeyword || s == SourceSandbox }

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

// ComplianceKinds are the kinds of proof a compliance record rests on (evidence "kind").
var ComplianceKinds = []string{"signed_form", "recorded_call", "written_request", "email", "in_person"}

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
	case SourceForm, SourceImport, SourceKeyword, SourceAgent, SourceAPI, SourceSandbox, SourceChannel, SourceWhatsApp, SourceCompliance:
	default:
		bad("source", "must be form, agent, api or compliance")
	}
	if c.Status == Granted && len(c.Evidence) == 0 {
		bad("evidence", "is required for a grant: what the person saw and did (text shown, URL, IP, form, message id…)")
	} else if c.Source == SourceCompliance {
		complianceEvidence(c.Evidence, now, bad)
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

// complianceEvidence checks the typed evidence of a compliance record: what kind of proof,
// where it is kept, and when the person gave it.
func complianceEvidence(ev map[string]any, now time.Time, bad func(field, format string, args ...any)) {
	if kind, _ := ev["kind"].(string); !slices.Contains(ComplianceKinds, kind) {
		bad("evidence.kind", "must be one of %s: the kind of proof of the person's request", strings.Join(ComplianceKinds, ", "))
	}
	if ref, _ := ev["reference"].(string); strings.TrimSpace(ref) == "" || utf8.RuneCountInString(ref) > 200 {
		bad("evidence.reference", "is required (at most 200 characters): where the proof is kept, e.g. a document or recording id")
	}
	at, _ := ev["obtained_at"].(string)
	if t, err := time.Parse(time.RFC3339, at); err != nil {
		bad("evidence.obtained_at", "is required: when the person gave it, as an RFC 3339 time")
	} else if t.After(now.Add(5 * time.Minute)) {
		bad("evidence.obtained_at", "is in the future")
	}
}

// Recorded is a ledger entry as recorded, and the suppression that keeps the number from
// messages of the entry's purpose afterwards, if any: the one a withdrawal added, or one
// that a grant did not lift because its source may not.
type Recorded struct {
	Entry
	Suppression *Suppression
}

// Record appends a decision to the ledger and makes it the contact's current state, in one
// transaction, and then cancels the contact's pending messages if it is a withdrawal.
//
// Every withdrawal suppresses the number: for the purpose withdrawn, or for every purpose
// when it is the customer's STOP. Only the customer lifts a suppression: a grant lifts one
// only when it is their START on a real channel or a compliance officer's record with typed
// evidence (and never a legal one); a simulated START lifts only what the sandbox
// suppressed. Other grants are recorded, lift nothing, and say so in Recorded.Suppression.
func (s *Service) Record(ctx context.Context, c Change) (Recorded, error) {
	if err := c.validate(s.now()); err != nil {
		return Recorded{}, err
	}
	var r Recorded
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		r, err = s.record(ctx, tx, c)
		return err
	})
	if err != nil {
		return Recorded{}, err
	}
	if c.Status == Withdrawn {
		s.cancelPending(ctx, c.ContactID, "opted_out")
	}
	return r, nil
}

// record is Record inside a caller's transaction, without the cancellation.
func (s *Service) record(ctx context.Context, tx pgx.Tx, c Change) (Recorded, error) {
	var hash []byte
	err := tx.QueryRow(ctx, `SELECT phone_hash FROM contact_keys WHERE id = $1 FOR UPDATE`, c.ContactID).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Recorded{}, apperr.NotFoundf("contact %d not found", c.ContactID)
	}
	if err != nil {
		return Recorded{}, fmt.Errorf("consent: record: %w", err)
	}
	lifted := false
	if hash != nil { // nil only before the start-up backfill; such a contact is never sent to
		switch {
		case c.Status == Granted && c.Source.liftCeiling() >= 0:
			// The customer's START lifts every purpose; a compliance record the one it is for.
			var purpose *Purpose
			if c.Source == SourceCompliance {
				purpose = &c.Purpose
			}
			tag, err := tx.Exec(ctx, liftSQL, hash, purpose, c.Source.liftCeiling())
			if err != nil {
				return Recorded{}, fmt.Errorf("consent: record: lift suppression: %w", err)
			}
			lifted = tag.RowsAffected() > 0
		case c.Status == Withdrawn:
			purposes := []Purpose{c.Purpose}
			if c.Source.stopsEverything() {
				purposes = Purposes
			}
			if _, err := suppress(ctx, tx, [][]byte{hash}, purposes, ReasonOptOut, c.Source, c.Actor); err != nil {
				return Recorded{}, err
			}
		}
	}
	r := Recorded{Entry: Entry{ContactID: c.ContactID, Channel: c.Channel, Purpose: c.Purpose, Status: c.Status, Source: c.Source,
		Evidence: c.Evidence, Actor: c.Actor, OccurredAt: c.OccurredAt, LiftedSuppression: lifted}}
	err = tx.QueryRow(ctx, `
		WITH entry AS (
			INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at, lifted_suppression, phone_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			RETURNING id, recorded_at
		), state AS (
			INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id, updated_at)
			SELECT $1, $2, $3, $4, id, recorded_at FROM entry
			ON CONFLICT (contact_id, channel, purpose) DO UPDATE
				SET status = excluded.status, ledger_id = excluded.ledger_id, updated_at = excluded.updated_at
		)
		SELECT id, recorded_at FROM entry`,
		c.ContactID, c.Channel, c.Purpose, c.Status, c.Source, c.Evidence, c.Actor, c.OccurredAt, lifted, hash).Scan(&r.ID, &r.RecordedAt)
	if err != nil {
		return Recorded{}, fmt.Errorf("consent: record: %w", err)
	}
	if hash != nil {
		sup, err := suppressionOf(ctx, tx, hash, c.Purpose)
		if err != nil {
			return Recorded{}, err
		}
		r.Suppression = sup
	}
	return r, nil
}

// liftSQL takes a number off the suppression list: for one purpose ($2) or all (NULL), the
// suppressions no stronger than $3 (see Source.liftCeiling).
const liftSQL = `
	DELETE FROM suppressions
	WHERE phone_hash = $1 AND ($2::text IS NULL OR purpose = $2) AND suppression_strength(reason, source) <= $3`

// History returns a contact's ledger, newest first (at most limit entries), and its
// current states.
func (s *Service) History(ctx context.Context, contactID int64, limit int) ([]Entry, []State, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contact_keys WHERE id = $1)`, contactID).Scan(&exists); err != nil {
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

// States returns the current consent states of many contacts in one query, by contact id
// (a contact with none recorded is absent): the consent column of a page of contacts.
func (s *Service) States(ctx context.Context, contactIDs []int64) (map[int64][]State, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT contact_id, channel, purpose, status, ledger_id, updated_at FROM consent_state
		WHERE contact_id = ANY($1) ORDER BY contact_id, channel, purpose`, contactIDs)
	if err != nil {
		return nil, fmt.Errorf("consent: states: %w", err)
	}
	defer rows.Close()
	out := map[int64][]State{}
	for rows.Next() {
		var id int64
		var st State
		if err := rows.Scan(&id, &st.Channel, &st.Purpose, &st.Status, &st.LedgerID, &st.UpdatedAt); err != nil {
			return nil, fmt.Errorf("consent: states: %w", err)
		}
		out[id] = append(out[id], st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: states: %w", err)
	}
	return out, nil
}
