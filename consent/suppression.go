package consent

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
)

// SuppressionReason says why a number is on the do-not-contact list.
type SuppressionReason string

// The reasons.
const (
	ReasonOptOut    SuppressionReason = "opt_out"   // a withdrawal of consent, from any source
	ReasonComplaint SuppressionReason = "complaint" // the person complained
	ReasonManual    SuppressionReason = "manual"    // staff added it
	ReasonLegal     SuppressionReason = "legal"     // a legal obligation: never lifted automatically
	ReasonErasure   SuppressionReason = "erasure"   // the person was erased; the hash is all that is left
)

// Suppression is one number on the do-not-contact list for one purpose. The number itself
// is not kept.
type Suppression struct {
	PhoneHash []byte
	Purpose   Purpose
	Reason    SuppressionReason
	Source    Source // what put it there: a ledger source, staff or erasure
	Actor     string // who: an API key, an account, an import
	CreatedAt time.Time
}

// HashHex is the suppression's key as the API shows it.
func (s Suppression) HashHex() string { return hex.EncodeToString(s.PhoneHash) }

// LiftedBy says, for people, what may take this suppression off the list.
func (s Suppression) LiftedBy() string {
	switch {
	case s.Reason == ReasonLegal:
		return "only compliance removing it from the suppression list"
	case s.Source == SourceSandbox:
		return "a simulated START, the customer's own START, or a compliance record with typed evidence"
	case s.Source == SourceStaff:
		return "compliance removing it from the suppression list, the customer's own START, or a compliance record with typed evidence"
	}
	return "only the customer's own START, or a compliance record (source compliance) with typed evidence of their request"
}

const suppressionColumns = `phone_hash, purpose, reason, source, actor, created_at`

// PhoneHash returns the keyed hash of an E.164 number, the suppression list's key.
func (s *Service) PhoneHash(e164 string) []byte { return s.hasher.Sum(e164) }

// Suppress puts a number on the do-not-contact list for every purpose, as staff do (source
// staff), and cancels the pending messages of the contact with that number. It reports
// whether anything was added; a purpose where the number is listed already keeps its entry
// unless this one is stronger (legal over the others).
func (s *Service) Suppress(ctx context.Context, e164 string, reason SuppressionReason, actor string) ([]Suppression, bool, error) {
	switch reason {
	case ReasonComplaint, ReasonManual, ReasonLegal:
	default:
		return nil, false, apperr.Field("reason", "must be manual, complaint or legal")
	}
	hash := s.hasher.Sum(e164)
	var list []Suppression
	var added bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if added, err = suppress(ctx, tx, [][]byte{hash}, Purposes, reason, SourceStaff, actor); err != nil {
			return err
		}
		list, err = suppressionsOf(ctx, tx, hash)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if added {
		s.cancelPendingByHash(ctx, hash, "suppressed")
	}
	return list, added, nil
}

// suppress puts numbers on the list for the purposes inside a transaction. A purpose where
// a number is listed already keeps its entry unless the new one is stronger
// (suppression_strength: a real opt-out over a simulated one, a legal reason over any
// other), so that a weaker source can never make it easier to lift. It reports whether a
// row was added or strengthened.
func suppress(ctx context.Context, tx pgx.Tx, hashes [][]byte, purposes []Purpose, reason SuppressionReason, source Source, actor string) (bool, error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO suppressions (phone_hash, purpose, reason, source, actor)
		SELECT h, p, $3, $4, $5 FROM (SELECT DISTINCT h, p FROM unnest($1::bytea[]) AS h, unnest($2::text[]) AS p) t
		ON CONFLICT (phone_hash, purpose) DO UPDATE
			SET reason = excluded.reason, source = excluded.source, actor = excluded.actor
			WHERE suppression_strength(excluded.reason, excluded.source)
			    > suppression_strength(suppressions.reason, suppressions.source)`,
		hashes, purposeTexts(purposes), reason, source, actor)
	if err != nil {
		return false, fmt.Errorf("consent: suppress: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

func purposeTexts(ps []Purpose) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// Unsuppress takes a number off the list where staff put it there (manual, complaint,
// legal): the deliberate, audited way to lift a legal suppression. A withdrawal of
// consent or an erasure is the customer's, and only the customer lifts it (Record), so a
// number that has one is refused with Conflict and nothing changes.
func (s *Service) Unsuppress(ctx context.Context, e164 string) error {
	hash := s.hasher.Sum(e164)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		list, err := suppressionsOf(ctx, tx, hash, "FOR UPDATE")
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return apperr.NotFoundf("the number is not suppressed")
		}
		for _, sup := range list {
			if sup.Source != SourceStaff {
				return apperr.Conflictf("the number is suppressed for %s (%s, from %s), which staff may not remove; what lifts it: %s",
					sup.Purpose, sup.Reason, sup.Source, sup.LiftedBy())
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM suppressions WHERE phone_hash = $1`, hash); err != nil {
			return fmt.Errorf("consent: unsuppress: %w", err)
		}
		return nil
	})
}

// Suppressed returns the suppressions of a number, one per purpose, or NotFound.
func (s *Service) Suppressed(ctx context.Context, e164 string) ([]Suppression, error) {
	list, err := suppressionsOf(ctx, s.pool, s.hasher.Sum(e164))
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, apperr.NotFoundf("the number is not suppressed")
	}
	return list, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// suppressionsOf returns a number's suppressions in purpose order; lock may be "FOR UPDATE".
func suppressionsOf(ctx context.Context, q querier, hash []byte, lock ...string) ([]Suppression, error) {
	rows, err := q.Query(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE phone_hash = $1 ORDER BY purpose `+
		strings.Join(lock, " "), hash)
	if err != nil {
		return nil, fmt.Errorf("consent: suppressions of a number: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Suppression])
	if err != nil {
		return nil, fmt.Errorf("consent: suppressions of a number: %w", err)
	}
	return list, nil
}

// suppressionOf returns a number's suppression for one purpose, or nil.
func suppressionOf(ctx context.Context, q querier, hash []byte, p Purpose) (*Suppression, error) {
	var sup Suppression
	err := q.QueryRow(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE phone_hash = $1 AND purpose = $2`, hash, p).
		Scan(&sup.PhoneHash, &sup.Purpose, &sup.Reason, &sup.Source, &sup.Actor, &sup.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("consent: suppression of a number: %w", err)
	}
	return &sup, nil
}

// SuppressionCursor is where a page of the suppression list ends.
type SuppressionCursor struct {
	PhoneHash []byte
	Purpose   Purpose
}

// Suppressions lists the do-not-contact list in (hash, purpose) order after the cursor,
// and the cursor to continue from (nil at the end).
func (s *Service) Suppressions(ctx context.Context, after *SuppressionCursor, limit int) ([]Suppression, *SuppressionCursor, error) {
	var hash []byte
	var purpose string
	if after != nil {
		hash, purpose = after.PhoneHash, string(after.Purpose)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+suppressionColumns+` FROM suppressions
		WHERE $1::bytea IS NULL OR (phone_hash, purpose) > ($1, $2)
		ORDER BY phone_hash, purpose LIMIT $3`, hash, purpose, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("consent: suppressions: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Suppression])
	if err != nil {
		return nil, nil, fmt.Errorf("consent: suppressions: %w", err)
	}
	var next *SuppressionCursor
	if len(list) > limit {
		list = list[:limit]
		last := list[len(list)-1]
		next = &SuppressionCursor{PhoneHash: last.PhoneHash, Purpose: last.Purpose}
	}
	return list, next, nil
}

// cancelPendingByHash cancels the pending messages of the contact with this phone hash,
// if there is one; see cancelPending.
func (s *Service) cancelPendingByHash(ctx context.Context, hash []byte, reason string) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM contact_keys WHERE phone_hash = $1`, hash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return
	}
	if err != nil {
		s.opts.Logger.ErrorContext(ctx, "cancel pending messages", "error", err)
		return
	}
	s.cancelPending(ctx, id, reason)
}

// cancelPending cancels a contact's messages that are not sent yet. Failures are logged,
// not returned: the send path checks consent and suppression again before every message,
// so a message that escapes cancellation is still not sent.
func (s *Service) cancelPending(ctx context.Context, contactID int64, reason string) {
	if s.opts.Canceller == nil {
		return
	}
	if _, err := s.opts.Canceller.CancelPending(ctx, contactID, reason); err != nil {
		s.opts.Logger.ErrorContext(ctx, "cancel pending messages", "contact_id", contactID, "error", err)
	}
}
