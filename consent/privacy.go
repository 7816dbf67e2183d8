package consent

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/privacy"
)

// PrivacyHolder exports and erases the consent ledger, the inbound messages and the
// suppressions of a contact. Erasure pseudonymises the ledger (its evidence, which may hold
// an email or an IP address, becomes {"erased": true}: the append-only ledger allows that
// and nothing else), keeps the inbound rows without number, text or provider id (a digest
// of it remains), and suppresses the number's hash for every purpose.
func (s *Service) PrivacyHolder() privacy.Holder { return consentHolder{} }

type consentHolder struct{}

// subjectEntries selects the ledger entries about a subject, contact $1 with number hash
// $2: the contact's own, and those recorded under the number by contacts that had it
// before, since deleted or renumbered (migration 00026 keeps who they are). It reads the
// ledger through its contact index only; the ledger's numbers are not indexed.
const subjectEntries = `contact_id = ANY ($1::bigint || ARRAY(
		SELECT contact_id FROM contact_former_numbers WHERE phone_hash = $2::bytea))
	AND (contact_id = $1 OR phone_hash = $2)`

func (consentHolder) Name() string { return "consent" }

type inboundExport struct {
	ID         int64     `json:"id"`
	AccountID  int64     `json:"account_id"`
	Text       *string   `json:"text"`
	ReceivedAt time.Time `json:"received_at"`
	Class      *string   `json:"class"`
	Reply      *string   `json:"reply"`
}

type consentExport struct {
	Current    []State          `json:"current"`
	Ledger     []map[string]any `json:"ledger"`
	Suppressed []Suppression    `json:"suppressions"`
	Inbound    []inboundExport  `json:"inbound_messages"`
}

func (consentHolder) Export(ctx context.Context, tx pgx.Tx, subj privacy.Subject) (any, error) {
	var out consentExport
	rows, err := tx.Query(ctx, `SELECT channel, purpose, status, ledger_id, updated_at FROM consent_state WHERE contact_id = $1`, subj.ContactID)
	if err != nil {
		return nil, err
	}
	if out.Current, err = pgx.CollectRows(rows, pgx.RowToStructByPos[State]); err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `
		SELECT id, channel, purpose, status, source, evidence, actor, occurred_at, recorded_at, lifted_suppression
		FROM consent_ledger WHERE `+subjectEntries+` ORDER BY id`, subj.ContactID, subj.PhoneHash)
	if err != nil {
		return nil, err
	}
	if out.Ledger, err = pgx.CollectRows(rows, pgx.RowToMap); err != nil {
		return nil, err
	}
	if out.Suppressed, err = suppressionsOf(ctx, tx, subj.PhoneHash); err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `
		SELECT id, account_id, text, received_at, class, reply_text FROM inbound_messages
		WHERE contact_id = $1 OR phone_hash = $2 ORDER BY id`, subj.ContactID, subj.PhoneHash)
	if err != nil {
		return nil, err
	}
	if out.Inbound, err = pgx.CollectRows(rows, pgx.RowToStructByPos[inboundExport]); err != nil {
		return nil, err
	}
	return out, nil
}

func (consentHolder) Erase(ctx context.Context, tx pgx.Tx, subj privacy.Subject) error {
	_, err := tx.Exec(ctx, `
		WITH state AS (DELETE FROM consent_state WHERE contact_id = $1),
		     ledger AS (
		         UPDATE consent_ledger SET evidence = '{"erased": true}'
		         WHERE `+subjectEntries+` AND evidence <> '{"erased": true}'),
		     inbound AS (
		         -- provider ids are opaque strings from outside (a sandbox client may put
		         -- anything there): keep a digest, which still tells messages apart
		         UPDATE inbound_messages SET from_phone = NULL, text = NULL, contact_id = NULL,
		             provider_id = 'erased:' || md5(provider_id)
		         WHERE (contact_id = $1 OR phone_hash = $2) AND from_phone IS NOT NULL)
		SELECT 1`, subj.ContactID, subj.PhoneHash)
	if err != nil {
		return fmt.Errorf("consent: erase contact %d: %w", subj.ContactID, err)
	}
	if _, err := suppress(ctx, tx, [][]byte{subj.PhoneHash}, Purposes, ReasonErasure, SourceErasure, "erasure"); err != nil {
		return fmt.Errorf("consent: erase contact %d: %w", subj.ContactID, err)
	}
	return nil
}

// InboundPurger removes the text of inbound messages older than a cutoff.
func (s *Service) InboundPurger() privacy.Purger { return inboundPurger{s} }

type inboundPurger struct{ s *Service }

func (p inboundPurger) Purge(ctx context.Context, before time.Time) (int64, error) {
	tag, err := p.s.pool.Exec(ctx, `UPDATE inbound_messages SET text = NULL WHERE received_at < $1 AND text IS NOT NULL`, before)
	if err != nil {
		return 0, fmt.Errorf("consent: purge inbound text: %w", err)
	}
	return tag.RowsAffected(), nil
}
