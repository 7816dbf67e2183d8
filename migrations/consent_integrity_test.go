package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConsentIntegrityMigration takes a database back to before migration 00011, puts in
// what an earlier Crier left (a withdrawal that suppressed nothing, a staff suppression
// keyed by the number alone), and migrates it again: every withdrawal gets its suppression,
// the staff suppression covers every purpose, the ledger names each entry's number, and the
// ledger refuses deletes.
func TestConsentIntegrityMigration(t *testing.T) {
	ctx := context.Background()
	db, p := migrated(t)
	_, err := p.DownTo(ctx, 10)
	require.NoError(t, err, "00011 goes down cleanly")

	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	exec(`INSERT INTO contacts (phone, phone_hash) VALUES ('+6591234567', '\x01'), ('+6591234568', '\x02')`)
	exec(`INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at)
	      SELECT id, 'whatsapp', 'marketing', 'withdrawn', 'agent', '{}', 'key:agent', now() FROM contacts WHERE phone = '+6591234567'`)
	exec(`INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id)
	      SELECT contact_id, channel, purpose, status, id FROM consent_ledger`)
	exec(`INSERT INTO suppressions (phone_hash, reason, source) VALUES ('\x02', 'manual', 'key:compliance')`)

	_, err = p.Up(ctx)
	require.NoError(t, err)

	type row struct{ purpose, reason, source, actor string }
	rows := func(hash string) []row {
		t.Helper()
		r, err := db.QueryContext(ctx, `SELECT purpose, reason, source, actor FROM suppressions WHERE phone_hash = $1::bytea ORDER BY purpose`, hash)
		require.NoError(t, err)
		defer r.Close()
		var out []row
		for r.Next() {
			var x row
			require.NoError(t, r.Scan(&x.purpose, &x.reason, &x.source, &x.actor))
			out = append(out, x)
		}
		return out
	}
	require.Equal(t, []row{{"marketing", "opt_out", "agent", "key:agent"}}, rows(`\x01`), "the withdrawal suppresses, for its purpose")
	require.Equal(t, []row{{"marketing", "manual", "staff", "key:compliance"}, {"utility", "manual", "staff", "key:compliance"}}, rows(`\x02`),
		"a suppression that covered everything covers every purpose")

	var hash []byte
	require.NoError(t, db.QueryRowContext(ctx, `SELECT phone_hash FROM consent_ledger`).Scan(&hash))
	require.Equal(t, []byte{1}, hash, "each entry names its number")
	_, err = db.ExecContext(ctx, `DELETE FROM consent_ledger`)
	require.ErrorContains(t, err, "append-only")

	// And down and up again, with the new kinds of rows in place.
	exec(`INSERT INTO suppressions (phone_hash, purpose, reason, source, actor) VALUES ('\x03', 'utility', 'opt_out', 'sandbox', 'sandbox:key:a')`)
	_, err = p.DownTo(ctx, 10)
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.NoError(t, err)
	require.Len(t, rows(`\x03`), 2, "a suppression kept through a down migration covers everything again")
}
