package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// The person to erase, written every way the issue asks to look for.
const (
	subjectPhone    = "+6591234567"
	subjectName     = "Zebulon Quixote-Marmaduke"
	subjectEmail    = "zebulon.q@example.org"
	bystanderPhone  = "+6598765432"
	bystanderName   = "Ottoline Bystander"
	accountDeviceID = "6580000000:12@s.whatsapp.net"
)

var subjectNeedles = []string{subjectPhone, "6591234567", "9123 4567", "91234567", subjectName, subjectEmail}

// TestErasureLeavesNoTrace puts a person's number, name, email and words into every table
// the way Crier's own code paths do (and into whatsmeow's tables the way whatsmeow does),
// erases the contact through the production wiring, and then scans every text, varchar
// and jsonb column of every table of the database for them. The same scan run before the
// erasure must find them, or the test proves nothing. A table added later that keeps
// personal data fails this test until its package registers a privacy holder.
func TestErasureLeavesNoTrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := testApp(t, env(t))
	svc, err := newServices(ctx, a)
	require.NoError(t, err)
	defer svc.Close()

	subject, bystander := seedPerson(t, svc, a.pool, subjectPhone, subjectName, subjectEmail),
		seedPerson(t, svc, a.pool, bystanderPhone, bystanderName, "otto@example.org")

	before := scanFor(t, a.pool, subjectNeedles)
	for _, table := range []string{"contacts", "consent_ledger", "inbound_messages", "deliveries", "delivery_events", "sandbox_messages", "whatsmeow_contacts", "whatsmeow_lid_map", "whatsmeow_chat_settings"} {
		require.Contains(t, before, table, "the scan must see the person in %s before erasure", table)
	}

	require.NoError(t, svc.privacy.Erase(ctx, subject))

	require.Empty(t, scanFor(t, a.pool, subjectNeedles), "personal data left after erasure")
	_, err = svc.contacts.Get(ctx, bystander)
	require.NoError(t, err, "someone else is untouched")
	require.NotEmpty(t, scanFor(t, a.pool, []string{bystanderName, "6598765432"}))

	sup, err := svc.consent.Suppressed(ctx, subjectPhone)
	require.NoError(t, err, "the keyed hash stays on the suppression list")
	require.Len(t, sup, 2, "for every purpose")
	require.Equal(t, consent.ReasonOptOut, sup[0].Reason, "the first reason (their STOP) is kept")
}

// seedPerson makes a contact and gives them data in every table, through the services.
func seedPerson(t *testing.T, svc *services, pool *pgxpool.Pool, phone, name, email string) int64 {
	t.Helper()
	ctx := context.Background()
	res, err := svc.contacts.Import(ctx, strings.NewReader(fmt.Sprintf("phone,name,email,consent\n%s,%s,%s,yes\n", phone, name, email)),
		contacts.ImportOptions{ConsentSource: "shop signup form", Actor: "test"})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Created)
	list, _, err := svc.contacts.List(ctx, contacts.ListParams{Phone: phone, Limit: 1})
	require.NoError(t, err)
	id := list[0].ID

	_, err = svc.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm, Actor: "key:test",
		Evidence: map[string]any{"form": "signup", "typed_name": name, "typed_email": email}})
	require.NoError(t, err)
	national := strings.TrimPrefix(phone, "+65")
	for i, text := range []string{
		fmt.Sprintf("Hi, this is %s, my number is %s %s", name, national[:4], national[4:]),
		"STOP",
	} {
		_, err = svc.consent.HandleInbound(ctx, consent.Inbound{AccountID: 1, From: phone, Text: text,
			ProviderID: fmt.Sprintf("%s-%d", phone, i), ReceivedAt: time.Now()})
		require.NoError(t, err)
	}
	// What the simulated network delivered to them.
	tr, err := svc.sandbox.Connect(ctx, sender.Account{ID: 1, Channel: sender.Sandbox, Sandbox: &sender.SandboxConfig{ReadAfterMS: -1}}, nil)
	require.NoError(t, err)
	_, err = tr.Send(ctx, sender.Message{ID: fmt.Sprintf("sbx-%d", id), To: phone, Text: "Hi " + name + ", spring sale!"})
	require.NoError(t, err)
	require.NoError(t, tr.Close())

	// A campaign message to them, as the workers record it: the text as sent, and a reply.
	seedDelivery(t, svc, pool, id, phone, name)

	_, err = audit.Write(ctx, pool, audit.Entry{Actor: "test", Action: "contact.update", TargetType: "contact", TargetID: fmt.Sprint(id)})
	require.NoError(t, err)

	// whatsmeow's own tables, as whatsmeow fills them for a person who wrote to an account.
	digits := strings.TrimPrefix(phone, "+")
	lid := "9" + digits[1:] + "77"
	zero32, zero64 := make([]byte, 32), make([]byte, 64)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key, signed_pre_key, signed_pre_key_id,
			signed_pre_key_sig, adv_key, adv_details, adv_account_sig, adv_account_sig_key, adv_device_sig)
		  VALUES ($1, 1, $2, $2, $2, 1, $3, $2, $2, $3, $2, $3) ON CONFLICT DO NOTHING`, []any{accountDeviceID, zero32, zero64}},
		{`INSERT INTO whatsmeow_contacts (our_jid, their_jid, full_name, push_name) VALUES ($1, $2, $3, $3)`, []any{accountDeviceID, digits + "@s.whatsapp.net", name}},
		{`INSERT INTO whatsmeow_contacts (our_jid, their_jid, push_name) VALUES ($1, $2, $3)`, []any{accountDeviceID, lid + "@lid", name}},
		{`INSERT INTO whatsmeow_chat_settings (our_jid, chat_jid, pinned) VALUES ($1, $2, true)`, []any{accountDeviceID, digits + "@s.whatsapp.net"}},
		{`INSERT INTO whatsmeow_lid_map (lid, pn) VALUES ($1, $2)`, []any{lid, digits}},
		{`INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES ($1, $2, $3)`, []any{accountDeviceID, digits + ":0", zero64}},
	} {
		_, err := pool.Exec(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}
	return id
}

// scanFor returns, for each table that holds any of the needles in a text, varchar or
// jsonb column, the columns that do.
func scanFor(t *testing.T, pool *pgxpool.Pool, needles []string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT table_schema, table_name, column_name FROM information_schema.columns
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
		  AND data_type IN ('text', 'character varying', 'character', 'jsonb', 'json')
		ORDER BY table_name, column_name`)
	require.NoError(t, err)
	type col struct{ Schema, Table, Column string }
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[col])
	require.NoError(t, err)
	require.Greater(t, len(cols), 40, "the scan must cover the whole schema")

	hits := map[string][]string{}
	for _, c := range cols {
		for _, n := range needles {
			var found bool
			q := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE strpos(%s::text, $1) > 0)`,
				pgx.Identifier{c.Schema, c.Table}.Sanitize(), pgx.Identifier{c.Column}.Sanitize())
			require.NoError(t, pool.QueryRow(ctx, q, n).Scan(&found))
			if found {
				hits[c.Table] = append(hits[c.Table], c.Column+" ∋ "+n)
			}
		}
	}
	return hits
}

// seedDelivery launches a one-off campaign to the contact and records its message as the
// workers do: rendered text on the delivery, a reply quoting it in an event.
func seedDelivery(t *testing.T, svc *services, pool *pgxpool.Pool, contactID int64, phone, name string) {
	t.Helper()
	ctx := context.Background()
	tag := fmt.Sprintf("erasure-%d", contactID) // names and tags must not hold the phone themselves
	_, err := svc.contacts.AddTags(ctx, contactID, []string{tag})
	require.NoError(t, err)
	tpl, err := svc.templates.Create(ctx, templates.Template{Name: "erasure " + tag, Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Body: "Hi {{ name }}", Weight: 1}}, Footer: "Reply STOP to opt out"}}})
	require.NoError(t, err)
	acc, err := svc.accounts.Create(ctx, sender.AccountInput{Name: "erasure " + tag, Channel: sender.Sandbox})
	require.NoError(t, err)
	c, err := svc.campaigns.Create(ctx, campaigns.Input{Name: ptrTo("erasure"), TemplateID: &tpl.ID, AccountIDs: []int64{acc.ID},
		Audience: &campaigns.Audience{TagsAny: []string{tag}}}, "test")
	require.NoError(t, err)
	require.NoError(t, svc.campaigns.Schedule(ctx, c.ID))
	c, err = svc.campaigns.Get(ctx, c.ID)
	require.NoError(t, err)
	run, err := svc.campaigns.Launch(ctx, c.ID, *c.NextRunAt)
	require.NoError(t, err)
	require.EqualValues(t, 1, run.Matched)
	_, err = pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = now(), rendered = $2, error = $3
		WHERE run_id = $1`, run.ID, "Hi "+name+"\n\nReply STOP to opt out", "earlier attempt to "+phone+" failed")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO delivery_events (delivery_id, kind, detail, occurred_at)
		SELECT id, 'replied', jsonb_build_object('text', $2::text), now() FROM deliveries WHERE run_id = $1`,
		run.ID, "this is "+name+", call me on "+phone)
	require.NoError(t, err)
}

func ptrTo[T any](v T) *T { return &v }
