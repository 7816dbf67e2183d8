package migrations_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestContactsPhoneComparesInC checks migration 00028: contacts.phone is in the C
// collation; numbers of the default collation (a parameter, a column of another table)
// still find contacts through contacts_phone_key; renumbering a contact still forgets
// its consent (the trigger that was recreated); and down brings the default back.
func TestContactsPhoneComparesInC(t *testing.T) {
	ctx := context.Background()
	db, p := migrated(t)

	collation := func() string {
		t.Helper()
		var name string
		require.NoError(t, db.QueryRowContext(ctx, `
			SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
			WHERE a.attrelid = 'contacts'::regclass AND a.attname = 'phone'`).Scan(&name))
		return name
	}
	require.Equal(t, "C", collation())

	// One connection, for the session's settings and the temporary table.
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := conn.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	exec(`INSERT INTO contacts (phone, phone_hash) SELECT '+6591' || lpad(g::text, 6, '0'), int8send(g)
	      FROM generate_series(1, 2000) g`)
	exec(`ANALYZE contacts`)
	exec(`CREATE TEMP TABLE numbers (phone text NOT NULL)`)
	exec(`INSERT INTO numbers VALUES ('+6591000007'), ('+6591000042')`)
	// The import's own settings: joins by index look-ups only.
	exec(`SET enable_hashjoin = off`)
	exec(`SET enable_mergejoin = off`)
	exec(`SET enable_seqscan = off`)
	// explain returns q's plan; rows are closed even when a check fails, so that the
	// connection is free for the test's cleanup.
	explain := func(q string, args ...any) string {
		t.Helper()
		rows, err := conn.QueryContext(ctx, `EXPLAIN `+q, args...)
		require.NoError(t, err, q)
		defer rows.Close()
		var plan string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan += line + "\n"
		}
		require.NoError(t, rows.Err())
		return plan
	}
	for _, c := range []struct {
		query string
		args  []any
	}{
		{`SELECT c.id FROM unnest($1::text[]) AS u(phone) JOIN contact_keys c ON c.phone = u.phone`, []any{[]string{"+6591000007"}}},
		{`SELECT c.id FROM numbers n JOIN contacts c ON c.phone = n.phone`, nil},
		{`SELECT id FROM contacts WHERE phone = $1`, []any{"+6591000007"}},
	} {
		require.Contains(t, explain(c.query, c.args...), "contacts_phone_key", c.query)
	}
	var found int
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT count(*) FROM numbers n JOIN contacts c ON c.phone = n.phone`).Scan(&found))
	require.Equal(t, 2, found)

	// Renumbering a contact forgets its consent: the trigger is back.
	var id int64
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT id FROM contacts WHERE phone = '+6591000007'`).Scan(&id))
	exec(`INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at)
	      VALUES ($1, 'whatsapp', 'marketing', 'granted', 'form', '{"ip": "203.0.113.7"}', 'key:form', now())`, id)
	exec(`INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id)
	      SELECT contact_id, channel, purpose, status, id FROM consent_ledger WHERE contact_id = $1`, id)
	exec(`UPDATE contacts SET phone = '+6591999999' WHERE id = $1`, id)
	var states int
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT count(*) FROM consent_state WHERE contact_id = $1`, id).Scan(&states))
	require.Zero(t, states, "a renumbered contact's consent is forgotten")

	_, err = p.DownTo(ctx, 27)
	require.NoError(t, err, "00028 goes down cleanly")
	require.Equal(t, "default", collation())
	var viewed sql.NullInt64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT id FROM contact_keys WHERE phone = '+6591000042'`).Scan(&viewed))
	require.True(t, viewed.Valid)
	_, err = p.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, "C", collation())
}
