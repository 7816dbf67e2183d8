package whatsapp

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const (
	otherDigits = "4915187654321"   // another customer, who must keep their rows
	otherLID    = "210987654329999" // their LID
)

// seedPeople fills whatsmeow's tables the way whatsmeow does for the customer (by phone
// number and by LID) and for another customer, under the account's device.
func seedPeople(t *testing.T, b *testBundle) {
	t.Helper()
	ctx := context.Background()
	own := storeFakeDevice(t, b, 3, ownDigits).String()
	key32, key64 := make([]byte, 32), make([]byte, 64)
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO whatsmeow_contacts (our_jid, their_jid, first_name, full_name, push_name, business_name, redacted_phone) VALUES ($1, $2, 'Ana', 'Ana Silva', 'Ana ☀', '', '')`, []any{own, custDigits + "@s.whatsapp.net"}},
		{`INSERT INTO whatsmeow_contacts (our_jid, their_jid, push_name, redacted_phone) VALUES ($1, $2, 'Ana ☀', '+49 151 ****5678')`, []any{own, custLID + "@lid"}},
		{`INSERT INTO whatsmeow_contacts (our_jid, their_jid, push_name) VALUES ($1, $2, 'Bob')`, []any{own, otherDigits + "@s.whatsapp.net"}},
		{`INSERT INTO whatsmeow_chat_settings (our_jid, chat_jid, muted_until) VALUES ($1, $2, 1)`, []any{own, custDigits + "@s.whatsapp.net"}},
		{`INSERT INTO whatsmeow_chat_settings (our_jid, chat_jid, pinned) VALUES ($1, $2, true)`, []any{own, custLID + "@lid"}},
		{`INSERT INTO whatsmeow_chat_settings (our_jid, chat_jid, pinned) VALUES ($1, $2, true)`, []any{own, otherDigits + "@s.whatsapp.net"}},
		{`INSERT INTO whatsmeow_message_secrets (our_jid, chat_jid, sender_jid, message_id, key) VALUES ($1, $2, $3, '3EB0AA', $4)`, []any{own, custLID + "@lid", custLID + ":3@lid", key32}},
		{`INSERT INTO whatsmeow_message_secrets (our_jid, chat_jid, sender_jid, message_id, key) VALUES ($1, $2, $3, '3EB0BB', $4)`, []any{own, custDigits + "@s.whatsapp.net", ownDigits + "@s.whatsapp.net", key32}},
		{`INSERT INTO whatsmeow_message_secrets (our_jid, chat_jid, sender_jid, message_id, key) VALUES ($1, $2, $3, '3EB0CC', $4)`, []any{own, "120363000000000000@g.us", custDigits + ".0:2@s.whatsapp.net", key32}},
		{`INSERT INTO whatsmeow_message_secrets (our_jid, chat_jid, sender_jid, message_id, key) VALUES ($1, $2, $3, '3EB0DD', $4)`, []any{own, otherDigits + "@s.whatsapp.net", otherDigits + "@s.whatsapp.net", key32}},
		{`INSERT INTO whatsmeow_privacy_tokens (our_jid, their_jid, token, timestamp) VALUES ($1, $2, $3, 1)`, []any{own, custDigits + "@s.whatsapp.net", key32}},
		{`INSERT INTO whatsmeow_privacy_tokens (our_jid, their_jid, token, timestamp) VALUES ($1, $2, $3, 1)`, []any{own, custLID + "@lid", key32}},
		{`INSERT INTO whatsmeow_privacy_tokens (our_jid, their_jid, token, timestamp) VALUES ($1, $2, $3, 1)`, []any{own, otherLID + "@lid", key32}},
		{`INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES ($1, $2, $3)`, []any{own, custDigits + ":0", key64}},
		{`INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES ($1, $2, $3)`, []any{own, custDigits + ":3", key64}},
		{`INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES ($1, $2, $3)`, []any{own, custLID + "_1:0", key64}},
		{`INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES ($1, $2, $3)`, []any{own, otherDigits + ":0", key64}},
		{`INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) VALUES ($1, $2, $3)`, []any{own, custDigits + ":0", key32}},
		{`INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) VALUES ($1, $2, $3)`, []any{own, custLID + "_1:0", key32}},
		{`INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) VALUES ($1, $2, $3)`, []any{own, otherLID + "_1:0", key32}},
		{`INSERT INTO whatsmeow_sender_keys (our_jid, chat_id, sender_id, sender_key) VALUES ($1, '120363000000000000@g.us', $2, $3)`, []any{own, custLID + "_1:3", key32}},
		{`INSERT INTO whatsmeow_sender_keys (our_jid, chat_id, sender_id, sender_key) VALUES ($1, '120363000000000000@g.us', $2, $3)`, []any{own, custDigits + ":0", key32}},
		{`INSERT INTO whatsmeow_sender_keys (our_jid, chat_id, sender_id, sender_key) VALUES ($1, '120363000000000000@g.us', $2, $3)`, []any{own, otherDigits + ":0", key32}},
		{`INSERT INTO whatsmeow_lid_map (lid, pn) VALUES ($1, $2)`, []any{custLID, custDigits}},
		{`INSERT INTO whatsmeow_lid_map (lid, pn) VALUES ($1, $2)`, []any{otherLID, otherDigits}},
	}
	for _, s := range stmts {
		_, err := b.pool.Exec(ctx, s.sql, s.args...)
		require.NoError(t, err, s.sql)
	}
}

// column is a text, jsonb or bytea column of one of whatsmeow's tables.
type column struct{ name, dataType string }

// tableColumns lists the text, jsonb and bytea columns of whatsmeow's tables.
func tableColumns(t *testing.T, b *testBundle) map[string][]column {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `
		SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name LIKE 'whatsmeow\_%'
		  AND data_type IN ('text', 'character varying', 'jsonb', 'bytea')`)
	require.NoError(t, err)
	out := map[string][]column{}
	for rows.Next() {
		var table string
		var c column
		require.NoError(t, rows.Scan(&table, &c.name, &c.dataType))
		out[table] = append(out[table], c)
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, len(out), 14, "all of whatsmeow's tables are scanned")
	return out
}

// rowsHolding counts, per table, the rows where any text, jsonb or bytea column holds s
// (bytea: as bytes).
func rowsHolding(t *testing.T, b *testBundle, s string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for table, columns := range tableColumns(t, b) {
		query := fmt.Sprintf("SELECT count(*) FROM %s WHERE false", pgx.Identifier{table}.Sanitize())
		for _, c := range columns {
			col := pgx.Identifier{c.name}.Sanitize()
			if c.dataType == "bytea" {
				query += fmt.Sprintf(" OR position(convert_to($1, 'UTF8') in %s) > 0", col)
			} else {
				query += fmt.Sprintf(" OR strpos(%s::text, $1) > 0", col)
			}
		}
		var n int
		require.NoError(t, b.pool.QueryRow(context.Background(), query, s).Scan(&n), query)
		if n > 0 {
			out[table] = n
		}
	}
	return out
}

func TestErasePhoneLeavesNothingOfThePerson(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	seedPeople(t, b)
	ctx := context.Background()
	b.conn.onWA.put(custDigits, true, custDigits, b.clock.Now())

	before := rowsHolding(t, b, custDigits)
	require.Len(t, before, 8, "the seed reaches every table that can hold the number: %v", before)
	require.NotEmpty(t, rowsHolding(t, b, custLID))
	require.NotEmpty(t, rowsHolding(t, b, "Ana"))
	otherBefore := rowsHolding(t, b, otherDigits)

	require.NoError(t, b.conn.ErasePhone(ctx, "+"+custDigits))

	require.Empty(t, rowsHolding(t, b, custDigits), "the number is gone from every table")
	require.Empty(t, rowsHolding(t, b, custLID), "and so is their LID")
	require.Empty(t, rowsHolding(t, b, "Ana"), "and their names")
	require.Equal(t, otherBefore, rowsHolding(t, b, otherDigits), "other people keep their rows")
	require.Equal(t, 1, rowsHolding(t, b, ownDigits)["whatsmeow_device"], "the account keeps its device")
	_, ok := b.conn.onWA.get(custDigits, b.clock.Now())
	require.False(t, ok, "the IsOnWhatsApp answer is forgotten")

	// Idempotent.
	require.NoError(t, b.conn.ErasePhone(ctx, "+"+custDigits))
	require.ErrorIs(t, b.conn.ErasePhone(ctx, custDigits), ErrInvalidPhone)
}

func TestErasePhoneMatchesWholeNumbers(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	own := storeFakeDevice(t, b, 3, ownDigits).String()
	ctx := context.Background()
	// Numbers that start or end like the customer's, and a group id that contains it.
	for _, jid := range []string{
		custDigits + "9@s.whatsapp.net",
		"1" + custDigits + "@s.whatsapp.net",
		custDigits + "-1600000000@g.us",
	} {
		_, err := b.pool.Exec(ctx, `INSERT INTO whatsmeow_contacts (our_jid, their_jid, push_name) VALUES ($1, $2, 'someone')`, own, jid)
		require.NoError(t, err)
	}
	require.NoError(t, b.conn.ErasePhone(ctx, "+"+custDigits))
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM whatsmeow_contacts").Scan(&n))
	require.Equal(t, 3, n)
}

func TestIDPattern(t *testing.T) {
	t.Parallel()
	ids := []string{custDigits, custLID}
	// Through Postgres, which runs the pattern.
	b := setup(t, Options{})
	for s, want := range map[string]bool{
		custDigits:                          true,
		custDigits + "@s.whatsapp.net":      true,
		custDigits + ":12@s.whatsapp.net":   true,
		custDigits + ".0:12@s.whatsapp.net": true,
		custDigits + ":0":                   true,
		custLID + "_1:3":                    true,
		custLID + "@lid":                    true,
		custLID + ":3@lid":                  true,
		custDigits + "9@s.whatsapp.net":     false,
		"1" + custDigits:                    false,
		custDigits + "-1600000000@g.us":     false,
		otherDigits + ":0":                  false,
	} {
		var got bool
		require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT $1::text ~ $2", s, idPattern(ids)).Scan(&got))
		require.Equal(t, want, got, s)
	}
}
