package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFormerNumbersMigration takes a database back to before migration 00026, leaves the
// ledger entries an earlier Crier kept of a deleted contact and of a renumbered one, and
// migrates it again: each is found under the number it was recorded with, and the entries
// of contacts that still have their number are not listed. Down and up again keep them.
func TestFormerNumbersMigration(t *testing.T) {
	ctx := context.Background()
	db, p := migrated(t)
	_, err := p.DownTo(ctx, 25)
	require.NoError(t, err, "00026 goes down cleanly")

	exec := func(q string) {
		t.Helper()
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	exec(`INSERT INTO contacts (id, phone, phone_hash) OVERRIDING SYSTEM VALUE
	      VALUES (1, '+6591234567', '\x01'), (2, '+6591234568', '\x02'), (3, '+6591234569', '\x03')`)
	exec(`INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at, phone_hash)
	      SELECT id, 'whatsapp', 'marketing', 'granted', 'form', '{"ip": "203.0.113.7"}', 'key:form', now(), phone_hash
	      FROM contacts`)
	exec(`DELETE FROM contacts WHERE id = 1`)
	exec(`UPDATE contacts SET phone = '+6591230000', phone_hash = '\x09' WHERE id = 2`)

	_, err = p.Up(ctx)
	require.NoError(t, err)
	former := func() map[string]int64 {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT encode(phone_hash, 'hex'), contact_id FROM contact_former_numbers`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var h string
			var id int64
			require.NoError(t, rows.Scan(&h, &id))
			out[h] = id
		}
		require.NoError(t, rows.Err())
		return out
	}
	require.Equal(t, map[string]int64{"01": 1, "02": 2}, former())

	_, err = p.DownTo(ctx, 25)
	require.NoError(t, err)
	var indexed bool
	require.NoError(t, db.QueryRowContext(ctx, `SELECT to_regclass('consent_ledger_phone_hash_idx') IS NOT NULL`).Scan(&indexed))
	require.True(t, indexed, "down restores the ledger's number index")
	_, err = p.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"01": 1, "02": 2}, former())
}
