package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/pgbinary"
)

var _ contacts.ImportConsentRecorder = (*Service)(nil)

// RecordImportConsent records a chunk of an import's consent column in the ledger, inside
// the import's transaction, as (whatsapp, marketing) entries with source "import" and as
// evidence the import's consent_source, its id and the line. It writes nothing for a line
// that would not change the contact's state, so importing a file again adds nothing. A
// line's contact is found by its phone, unless the import has just created it (Created):
// such a contact has no state, and nothing need be looked up (recordCreatedConsent).
//
// An import never turns a withdrawal back into a grant: only the person can (their START,
// or a compliance record of their request); such lines are counted as kept_withdrawn. Nor
// does an import grant lift a suppression: the other granting lines whose number stays
// suppressed are counted as suppressed, so that the answer says they get no message. An import's withdrawal suppresses the number for
// marketing, like every withdrawal, so that deleting and re-importing the contact cannot
// make it eligible again.
func (s *Service) RecordImportConsent(ctx context.Context, tx pgx.Tx, importID int64, source, actor string, lines []contacts.ImportConsentLine) (map[string]int64, error) {
	var found, created []contacts.ImportConsentLine
	for _, l := range lines {
		if l.Created != 0 {
			created = append(created, l)
		} else {
			found = append(found, l)
		}
	}
	counts := map[string]int64{"granted": 0, "withdrawn": 0, "unchanged": 0, "kept_withdrawn": 0, "suppressed": 0}
	if len(found) > 0 {
		if err := recordFoundConsent(ctx, tx, importID, source, actor, found, counts); err != nil {
			return nil, fmt.Errorf("consent: record import %d: %w", importID, err)
		}
	}
	if len(created) > 0 {
		if err := recordCreatedConsent(ctx, tx, importID, source, actor, created, counts); err != nil {
			return nil, fmt.Errorf("consent: record import %d: %w", importID, err)
		}
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
	return counts, nil
}

// recordFoundConsent records the lines of contacts that existed before their chunk: each
// is looked up by phone, with its current state, and only a line that changes the state
// is written.
func recordFoundConsent(ctx context.Context, tx pgx.Tx, importID int64, source, actor string, lines []contacts.ImportConsentLine, counts map[string]int64) error {
	numbers, phones, statuses := make([]int64, len(lines)), make([]string, len(lines)), make([]string, len(lines))
	for i, l := range lines {
		numbers[i], phones[i], statuses[i] = l.Line, l.Phone, string(l.Status)
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
		numbers, phones, statuses, source, importID, actor).Scan(&granted, &withdrawn, &unchanged, &keptWithdrawn, &suppressed)
	if err != nil {
		return err
	}
	counts["granted"] += granted
	counts["withdrawn"] += withdrawn
	counts["unchanged"] += unchanged
	counts["kept_withdrawn"] += keptWithdrawn
	counts["suppressed"] += suppressed
	return nil
}

// ledgerColumns and stateColumns are the columns recordCreatedConsent writes, in the
// order it writes each row's fields.
var (
	ledgerColumns = []string{"id", "contact_id", "channel", "purpose", "status", "source", "evidence", "actor", "occurred_at", "phone_hash"}
	stateColumns  = []string{"contact_id", "channel", "purpose", "status", "ledger_id"}
)

// recordCreatedConsent records the lines of contacts that their chunk's merge has just
// created. No one else can see such a contact yet, so it has no state, and every line is
// an entry whose state is a new row: nothing to look up and no conflict to resolve. The
// entries and the states are written with COPY, which costs a third less than an INSERT
// of the same rows from arrays. The entries' ids are taken from the ledger's sequence
// first, for the states to point at, and the entries carry the transaction's time, as
// now() gives it to recorded_at and to the states' updated_at.
func recordCreatedConsent(ctx context.Context, tx pgx.Tx, importID int64, source, actor string, lines []contacts.ImportConsentLine, counts map[string]int64) error {
	var grantedHashes [][]byte
	for _, l := range lines {
		if l.Status == contacts.ConsentGranted {
			grantedHashes = append(grantedHashes, l.Hash)
		}
	}
	var ids []int64
	var now time.Time
	var suppressed int64
	if err := tx.QueryRow(ctx, `
		-- The ledger's identity sequence, by name: nextval of an argument that is not a
		-- constant opens the sequence again on every call, ten times the cost.
		SELECT (SELECT array_agg(nextval('consent_ledger_id_seq')) FROM generate_series(1, $1)),
		       now(),
		       (SELECT count(*) FROM unnest($2::bytea[]) AS h(phone_hash)
		        WHERE EXISTS (SELECT 1 FROM suppressions s WHERE s.phone_hash = h.phone_hash AND s.purpose = 'marketing'))`,
		len(lines), grantedHashes).Scan(&ids, &now, &suppressed); err != nil {
		return err
	}
	if len(ids) != len(lines) {
		return fmt.Errorf("%d ledger ids for %d lines", len(ids), len(lines))
	}
	// The evidence as jsonb_build_object would give it: the source as a JSON string.
	src, err := json.Marshal(source)
	if err != nil {
		return err
	}
	prefix := fmt.Appendf(nil, `{"consent_source": %s, "import_id": %d, "line": `, src, importID)
	// The rows are written in COPY's binary form by hand (pgbinary): through pgx's CopyFrom,
	// each value went through an interface and a lookup of its encoding.
	entries := pgbinary.NewRows(len(ledgerColumns), len(lines), len(prefix)+len(actor)+120)
	states := pgbinary.NewRows(len(stateColumns), len(lines), 70)
	var evidence []byte
	for i, l := range lines {
		evidence = append(strconv.AppendInt(append(evidence[:0], prefix...), l.Line, 10), '}')
		entries.Row()
		entries.Int8(ids[i])
		entries.Int8(l.Created)
		entries.Text(string(WhatsApp))
		entries.Text(string(Marketing))
		entries.Text(string(l.Status))
		entries.Text(string(SourceImport))
		entries.JSONB(evidence)
		entries.Text(actor)
		entries.Timestamptz(now)
		entries.Bytea(l.Hash)
		states.Row()
		states.Int8(l.Created)
		states.Text(string(WhatsApp))
		states.Text(string(Marketing))
		states.Text(string(l.Status))
		states.Int8(ids[i])
	}
	if _, err := pgbinary.CopyFrom(ctx, tx, pgx.Identifier{"consent_ledger"}, ledgerColumns, entries); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := pgbinary.CopyFrom(ctx, tx, pgx.Identifier{"consent_state"}, stateColumns, states); err != nil {
		return fmt.Errorf("states: %w", err)
	}
	// Every line is an entry: the grants, and the withdrawals.
	counts["granted"] += int64(len(grantedHashes))
	counts["withdrawn"] += int64(len(lines) - len(grantedHashes))
	counts["suppressed"] += suppressed
	return nil
}
