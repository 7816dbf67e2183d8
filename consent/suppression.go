package consent

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
)

// SuppressionReason says why a number is on the do-not-contact list.
type SuppressionReason string

// The reasons.
const (
	ReasonOptOut    SuppressionReason = "opt_out"   // the person texted STOP
	ReasonComplaint SuppressionReason = "complaint" // the person complained
	ReasonManual    SuppressionReason = "manual"    // staff added it
	ReasonLegal     SuppressionReason = "legal"     // a legal obligation: never lifted automatically
	ReasonErasure   SuppressionReason = "erasure"   // the person was erased; the hash is all that is left
)

// Suppression is one number on the do-not-contact list. The number itself is not kept.
type Suppression struct {
	PhoneHash []byte
	Reason    SuppressionReason
	Source    string
	CreatedAt time.Time
}

// HashHex is the suppression's key as the API shows it.
func (s Suppression) HashHex() string { return hex.EncodeToString(s.PhoneHash) }

// PhoneHash returns the keyed hash of an E.164 number, the suppression list's key.
func (s *Service) PhoneHash(e164 string) []byte { return s.hasher.Sum(e164) }

// Suppress puts a number on the do-not-contact list and cancels the pending messages of
// the contact with that number. It reports whether the number was added (false if it was
// there already, with its first reason).
func (s *Service) Suppress(ctx context.Context, e164 string, reason SuppressionReason, source string) (Suppression, bool, error) {
	switch reason {
	case ReasonOptOut, ReasonComplaint, ReasonManual, ReasonLegal, ReasonErasure:
	default:
		return Suppression{}, false, apperr.Field("reason", "must be manual, complaint or legal")
	}
	var sup Suppression
	var added bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		sup, added, err = suppress(ctx, tx, s.hasher.Sum(e164), reason, source)
		return err
	})
	if err != nil {
		return Suppression{}, false, err
	}
	if added {
		s.cancelPendingByHash(ctx, sup.PhoneHash, "suppressed")
	}
	return sup, added, nil
}

// suppress adds a hash to the list inside a transaction, keeping an existing entry.
func suppress(ctx context.Context, tx pgx.Tx, hash []byte, reason SuppressionReason, source string) (Suppression, bool, error) {
	sup := Suppression{PhoneHash: hash}
	err := tx.QueryRow(ctx, `
		INSERT INTO suppressions (phone_hash, reason, source) VALUES ($1, $2, $3)
		ON CONFLICT (phone_hash) DO NOTHING
		RETURNING reason, source, created_at`, hash, reason, source).Scan(&sup.Reason, &sup.Source, &sup.CreatedAt)
	if err == nil {
		return sup, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Suppression{}, false, fmt.Errorf("consent: suppress: %w", err)
	}
	err = tx.QueryRow(ctx, `SELECT reason, source, created_at FROM suppressions WHERE phone_hash = $1`, hash).
		Scan(&sup.Reason, &sup.Source, &sup.CreatedAt)
	if err != nil {
		return Suppression{}, false, fmt.Errorf("consent: suppress: %w", err)
	}
	return sup, false, nil
}

// Unsuppress takes a number off the list, whatever the reason; it is the deliberate,
// audited way to lift a legal or manual suppression.
func (s *Service) Unsuppress(ctx context.Context, e164 string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM suppressions WHERE phone_hash = $1`, s.hasher.Sum(e164))
	if err != nil {
		return fmt.Errorf("consent: unsuppress: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFoundf("the number is not suppressed")
	}
	return nil
}

// Suppressed returns the suppression of a number, or NotFound.
func (s *Service) Suppressed(ctx context.Context, e164 string) (Suppression, error) {
	sup := Suppression{PhoneHash: s.hasher.Sum(e164)}
	err := s.pool.QueryRow(ctx, `SELECT reason, source, created_at FROM suppressions WHERE phone_hash = $1`, sup.PhoneHash).
		Scan(&sup.Reason, &sup.Source, &sup.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Suppression{}, apperr.NotFoundf("the number is not suppressed")
	}
	if err != nil {
		return Suppression{}, fmt.Errorf("consent: suppressed: %w", err)
	}
	return sup, nil
}

// Suppressions lists the do-not-contact list in hash order after the given hash, and the
// hash to continue from (nil at the end).
func (s *Service) Suppressions(ctx context.Context, after []byte, limit int) ([]Suppression, []byte, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT phone_hash, reason, source, created_at FROM suppressions
		WHERE $1::bytea IS NULL OR phone_hash > $1
		ORDER BY phone_hash LIMIT $2`, after, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("consent: suppressions: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Suppression])
	if err != nil {
		return nil, nil, fmt.Errorf("consent: suppressions: %w", err)
	}
	var next []byte
	if len(list) > limit {
		list = list[:limit]
		next = list[len(list)-1].PhoneHash
	}
	return list, next, nil
}

// cancelPendingByHash cancels the pending messages of the contact with this phone hash,
// if there is one. Failures are logged, not returned: the send path checks suppression
// again before every message, so a message that escapes cancellation is still not sent.
func (s *Service) cancelPendingByHash(ctx context.Context, hash []byte, reason string) {
	if s.opts.Canceller == nil {
		return
	}
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone_hash = $1`, hash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return
	}
	if err == nil {
		_, err = s.opts.Canceller.CancelPending(ctx, id, reason)
	}
	if err != nil {
		s.opts.Logger.ErrorContext(ctx, "cancel pending messages", "contact_id", id, "error", err)
	}
}
