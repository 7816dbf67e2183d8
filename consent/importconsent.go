package consent

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/contacts"
)

var _ contacts.ImportConsentRecorder = (*Service)(nil)

// RecordImportConsent records a chunk of an import's consent column in the ledger, inside
// the import's transaction, as (whatsapp, marketing) entries with source "import" and as
// evidence the import's consent_source, its id and the line. It writes nothing for a line
// that would not change the contact's state, so importing a file again adds nothing. A
// line's contact is found by its phone, unless the import has just created it (Created):
// such a contact has no state, and nothing need be looked up.
//
// An import never turns a withdrawal back into a grant: only the person can (their START,
// or a compliance record of their request); such lines are counted as kept_withdrawn. Nor
// does an import grant lift a suppression: the other granting lines whose number stays
// suppressed are counted as suppressed, so that the answer says they get no message. An import's withdrawal suppresses the number for
// marketing, like every withdrawal, so that deleting and re-importing the contact cannot
// make it eligible again.
func (s *Service) RecordImportConsent(ctx context.Context, tx pgx.Tx, importID int64, source, actor string, lines []contacts.ImportConsentLine) (map[string]int64, error) {
	// Lines of contacts found by phone, and lines of contacts the chunk created.
	var numbers, newNumbers, newContacts []int64
	var phones, statuses, newStatuses []string
	var newHashes [][]byte
	for _, l := range lines {
		if l.Created != 0 {
			newNumbers, newContacts = append(newNumbers, l.Line), append(newContacts, l.Created)
			newStatuses, newHashes = append(newStatuses, string(l.Status)), append(newHashes, l.Hash)
			continue
		}
		numbers, phones, statuses = append(numbers, l.Line), append(phones, l.Phone), append(statuses, string(l.Status))
	}
	var granted, withdrawn, unchanged, keptWithdrawn, suppressed int64
	err := tx.QueryRow(ctx, `
		WITH lines AS (
			-- The current state is a scalar subquery, not a join, so that it is one
			-- primary-key probe per line whatever the planner believes: inside an import
			-- consent_state grows from nothing, and a join planned on stale statistics
			-- compared every line with every state.
			SELECT u.line, u.status, c.id AS contact_id, c.phone_hash,
			       (SELECT cs.status FROM consent_state cs
			        WHERE cs.contact_id = c.id AND cs.channel = 'whatsapp' AND cs.purpose = 'marketing') AS current
			FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(line, phone, status)
			JOIN contact_keys c ON c.phone = u.phone
			UNION ALL
			-- A contact the import has just created, in this transaction, has no state:
			-- no look-up by phone, no probe of consent_state.
			SELECT n.line, n.status, n.contact_id, n.phone_hash, NULL
			FROM unnest($7::bigint[], $8::text[], $9::bigint[], $10::bytea[]) AS n(line, status, contact_id, phone_hash)
		), todo AS (
			SELECT * FROM lines
			-- current is NULL for a contact without consent yet: compare with IS [NOT] DISTINCT
			WHERE status IS DISTINCT FROM current
			  AND NOT (status = 'granted' AND current IS NOT DISTINCT FROM 'withdrawn')
		), entries AS (
			INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at, phone_hash)
			SELECT contact_id, 'whatsapp', 'marketing', status, 'import',
			       jsonb_build_object('consent_source', $4::text, 'import_id', $5::bigint, 'line', line), $6, now(), phone_hash
			FROM todo
			RETURNING id, contact_id, status, recorded_at
		), states AS (
			INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id, updated_at)
			SELECT contact_id, 'whatsapp', 'marketing', status, id, recorded_at FROM entries
			ON CONFLICT (contact_id, channel, purpose) DO UPDATE
				SET status = excluded.status, ledger_id = excluded.ledger_id, updated_at = excluded.updated_at
		)
		SELECT
			(SELECT count(*) FROM entries WHERE status = 'granted'),
			(SELECT count(*) FROM entries WHERE status = 'withdrawn'),
			(SELECT count(*) FROM lines WHERE status = current),
			(SELECT count(*) FROM lines WHERE status = 'granted' AND current = 'withdrawn'),
			(SELECT count(*) FROM lines l
			 WHERE l.status = 'granted' AND l.current IS DISTINCT FROM 'withdrawn'
			   AND EXISTS (SELECT 1 FROM suppressions s WHERE s.phone_hash = l.phone_hash AND s.purpose = 'marketing'))`,
		numbers, phones, statuses, source, importID, actor, newNumbers, newStatuses, newContacts, newHashes).Scan(&granted, &withdrawn, &unchanged, &keptWithdrawn, &suppressed)
	if err != nil {
		return nil, fmt.Errorf("consent: record import %d: %w", importID, err)
	}
	// Every withdrawn line suppresses, also one whose state said so already: the number may
	// not have been suppressed yet (a withdrawal recorded before migration 00011).
	var hashes [][]byte
	for _, l := range lines {
		if l.Status == contacts.ConsentWithdrawn {
			hashes = append(hashes, l.Hash)
		}
	}
	if len(hashes) > 0 {
		if _, err := suppress(ctx, tx, hashes, []Purpose{Marketing}, ReasonOptOut, SourceImport, actor); err != nil {
			return nil, fmt.Errorf("consent: record import %d: %w", importID, err)
		}
	}
	return map[string]int64{"granted": granted, "withdrawn": withdrawn, "unchanged": unchanged, "kept_withdrawn": keptWithdrawn,
		"suppressed": suppressed}, nil
}
