package consent_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/testdb"
)

type testBundle struct {
	pool     *pgxpool.Pool
	hasher   *phonehash.Hasher
	contacts *contacts.Service
	consent  *consent.Service
	cancels  *cancels
}

type cancels struct {
	mu       sync.Mutex
	contacts []int64
}

func (c *cancels) CancelPending(_ context.Context, contactID int64, reason string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.contacts = append(c.contacts, contactID)
	return 1, nil
}

func setup(t *testing.T) (*testBundle, context.Context) {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	h, err := phonehash.New(bytes.Repeat([]byte{9}, 32))
	require.NoError(t, err)
	b := &testBundle{pool: pool, hasher: h, cancels: &cancels{}}
	b.consent, err = consent.New(pool, h, consent.Options{Brand: "Acme", Canceller: b.cancels})
	require.NoError(t, err)
	b.contacts = contacts.New(pool, h, contacts.Options{ImportConsent: b.consent})
	return b, context.Background()
}

func (b *testBundle) contact(t *testing.T, phone string, f contacts.Fields) int64 {
	t.Helper()
	c, _, err := b.contacts.Upsert(context.Background(), phone, "", f)
	require.NoError(t, err)
	return c.ID
}

func (b *testBundle) eligible(t *testing.T, id int64) consent.Exclusion {
	t.Helper()
	return b.eligibleFor(t, id, consent.Marketing)
}

func (b *testBundle) eligibleFor(t *testing.T, id int64, p consent.Purpose) consent.Exclusion {
	t.Helper()
	ex, err := b.consent.Eligibility(context.Background(), id, consent.WhatsApp, p)
	require.NoError(t, err)
	return ex
}

// grant records a form's grant of marketing consent.
func (b *testBundle) grant(t *testing.T, id int64) {
	t.Helper()
	_, err := b.consent.Record(context.Background(), consent.Change{ContactID: id, Status: consent.Granted,
		Source: consent.SourceForm, Evidence: formEvidence, Actor: "key:form"})
	require.NoError(t, err)
}

// reply is the reply left pending for an inbound message, or "".
func (b *testBundle) reply(t *testing.T, inboundID int64) string {
	t.Helper()
	r, ok, err := b.consent.PendingReply(context.Background(), inboundID)
	require.NoError(t, err)
	if !ok {
		return ""
	}
	return r.Text
}

var formEvidence = map[string]any{"text_shown": "Yes, send me offers on WhatsApp", "url": "https://shop.example/signup", "ip": "203.0.113.7"}

func TestLedgerRecordsAndStateFollows(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	require.Equal(t, consent.ExcludedNoConsent, b.eligible(t, id))

	_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm, Actor: "t"})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	require.Equal(t, "evidence", apperr.FieldsOf(err)[0].Field, "a grant without evidence is refused")

	g, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
		Evidence: formEvidence, Actor: "key:abc", OccurredAt: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	require.Equal(t, consent.WhatsApp, g.Channel)
	require.Equal(t, consent.Marketing, g.Purpose)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))

	w, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Withdrawn, Source: consent.SourceAgent, Actor: "key:def"})
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id), "every withdrawal suppresses the number")
	require.Equal(t, consent.SourceAgent, w.Suppression.Source)
	require.Equal(t, consent.Marketing, w.Suppression.Purpose, "for the purpose withdrawn")
	require.Equal(t, consent.ExcludedNoConsent, b.eligibleFor(t, id, consent.Utility), "and no other")
	require.Equal(t, []int64{id}, b.cancels.contacts, "and cancels the contact's pending messages")

	entries, states, err := b.consent.History(ctx, id, 100)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, consent.Withdrawn, entries[0].Status, "newest first")
	require.Equal(t, "Yes, send me offers on WhatsApp", entries[1].Evidence["text_shown"])
	require.Equal(t, []consent.Status{consent.Withdrawn}, []consent.Status{states[0].Status})
	require.Equal(t, entries[0].ID, states[0].LedgerID)

	_, err = b.pool.Exec(ctx, `UPDATE consent_ledger SET status = 'granted'`)
	require.ErrorContains(t, err, "append-only")

	for _, bad := range []consent.Change{
		{ContactID: id, Status: "maybe", Source: consent.SourceForm},
		{ContactID: id, Status: consent.Withdrawn, Source: "carrier pigeon"},
		{ContactID: id, Status: consent.Withdrawn, Source: consent.SourceAPI, Channel: "sms"},
		{ContactID: id, Status: consent.Withdrawn, Source: consent.SourceAPI, Purpose: "gossip"},
		{ContactID: id, Status: consent.Withdrawn, Source: consent.SourceAPI, OccurredAt: time.Now().Add(time.Hour)},
	} {
		_, err := b.consent.Record(ctx, bad)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%+v", bad)
	}
	_, err = b.consent.Record(ctx, consent.Change{ContactID: 999999, Status: consent.Withdrawn, Source: consent.SourceAPI})
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

func TestStaffSuppressionsAndWhatLiftsThem(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	b.grant(t, id)
	list, added, err := b.consent.Suppress(ctx, "+6591234567", consent.ReasonManual, "key:abc")
	require.NoError(t, err)
	require.True(t, added)
	require.Len(t, list, 2, "a staff suppression covers every purpose")
	require.Equal(t, consent.SourceStaff, list[0].Source)
	require.Equal(t, "key:abc", list[0].Actor)
	require.Equal(t, []int64{id}, b.cancels.contacts, "suppressing cancels pending messages")

	for _, src := range []consent.Source{consent.SourceImport, consent.SourceForm, consent.SourceAgent, consent.SourceAPI} {
		r, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: src, Evidence: formEvidence})
		require.NoError(t, err)
		require.False(t, r.LiftedSuppression, "a %s grant lifts no suppression", src)
		require.NotNil(t, r.Suppression, "and says the number stays suppressed")
		require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id))
	}

	// Compliance removes what staff added, and only that.
	require.NoError(t, b.consent.Unsuppress(ctx, "+6591234567"))
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))
	require.Equal(t, apperr.NotFound, apperr.CodeOf(b.consent.Unsuppress(ctx, "+6591234567")))

	// A legal suppression is lifted by no grant, not even a compliance record.
	_, _, err = b.consent.Suppress(ctx, "+6591234567", consent.ReasonLegal, "key:abc")
	require.NoError(t, err)
	r, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceCompliance,
		Evidence: complianceEvidence})
	require.NoError(t, err)
	require.False(t, r.LiftedSuppression, "a legal suppression is only ever removed by hand")
	require.Equal(t, consent.ReasonLegal, r.Suppression.Reason)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id))
	require.NoError(t, b.consent.Unsuppress(ctx, "+6591234567"))
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))
}

var complianceEvidence = map[string]any{"kind": "signed_form", "reference": "DOC-2026-114", "obtained_at": "2026-11-30T10:00:00Z"}

func TestSuppressionListHoldsOnlyHashes(t *testing.T) {
	b, ctx := setup(t)
	for _, p := range []string{"+6591234567", "+6591234568", "+6591234569"} {
		_, _, err := b.consent.Suppress(ctx, p, consent.ReasonComplaint, "t")
		require.NoError(t, err)
	}
	_, added, err := b.consent.Suppress(ctx, "+6591234567", consent.ReasonManual, "t")
	require.NoError(t, err)
	require.False(t, added)
	list, err := b.consent.Suppressed(ctx, "+6591234567")
	require.NoError(t, err)
	require.Equal(t, consent.ReasonComplaint, list[0].Reason, "the first reason stays")
	_, added, err = b.consent.Suppress(ctx, "+6591234567", consent.ReasonLegal, "t")
	require.NoError(t, err)
	require.True(t, added, "a stronger reason replaces it")
	list, err = b.consent.Suppressed(ctx, "+6591234567")
	require.NoError(t, err)
	require.Equal(t, consent.ReasonLegal, list[0].Reason)

	// Three numbers, two purposes each: pages of four and two.
	page, next, err := b.consent.Suppressions(ctx, nil, 4)
	require.NoError(t, err)
	require.Len(t, page, 4)
	rest, next2, err := b.consent.Suppressions(ctx, next, 4)
	require.NoError(t, err)
	require.Len(t, rest, 2)
	require.Nil(t, next2)
	require.NotEqual(t, page[3], rest[0])

	var text string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT string_agg(encode(phone_hash, 'escape') || reason || source || actor, '') FROM suppressions`).Scan(&text))
	require.NotContains(t, text, "6591234567")
	_, _, err = b.consent.Suppress(ctx, "+6591234567", "because", "t")
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	_, _, err = b.consent.Suppress(ctx, "+6591234567", consent.ReasonOptOut, "t")
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "an opt-out is the customer's, recorded in the ledger")
}

func TestImportRecordsConsentColumnOnce(t *testing.T) {
	b, ctx := setup(t)
	file := "phone,consent\n+6591234567,yes\n+6591234568,no\n+6591234569,\n"
	res, err := b.contacts.Import(ctx, strings.NewReader(file), contacts.ImportOptions{ConsentSource: "spring signup form", Actor: "key:abc"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"granted": 1, "withdrawn": 1, "unchanged": 0, "kept_withdrawn": 0, "suppressed": 0}, res.Consent)

	list, _, err := b.contacts.List(ctx, contacts.ListParams{Phone: "+6591234567", Limit: 1})
	require.NoError(t, err)
	entries, _, err := b.consent.History(ctx, list[0].ID, 10)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	e := entries[0]
	require.Equal(t, consent.SourceImport, e.Source)
	require.Equal(t, "spring signup form", e.Evidence["consent_source"])
	require.EqualValues(t, res.ImportID, e.Evidence["import_id"])
	require.EqualValues(t, 2, e.Evidence["line"])
	require.Equal(t, consent.Exclusion(""), b.eligible(t, list[0].ID))

	// Again: nothing new in the ledger.
	res, err = b.contacts.Import(ctx, strings.NewReader(file), contacts.ImportOptions{ConsentSource: "spring signup form"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"granted": 0, "withdrawn": 0, "unchanged": 2, "kept_withdrawn": 0, "suppressed": 0}, res.Consent)

	// An import cannot turn a withdrawal back into a grant.
	res, err = b.contacts.Import(ctx, strings.NewReader("phone,consent\n+6591234568,yes\n"), contacts.ImportOptions{ConsentSource: "old list"})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Consent["kept_withdrawn"])
	list, _, err = b.contacts.List(ctx, contacts.ListParams{Phone: "+6591234568", Limit: 1})
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, list[0].ID), "the import's withdrawal suppressed the number")
	sup, err := b.consent.Suppressed(ctx, "+6591234568")
	require.NoError(t, err)
	require.Len(t, sup, 1, "for marketing only")
	require.Equal(t, consent.Marketing, sup[0].Purpose)
	require.Equal(t, consent.SourceImport, sup[0].Source)
}

// TestImportEvidenceKeepsTheSourceAsWritten: the evidence of an import's entries, for a
// contact it creates and for one it finds, holds the consent source exactly as given,
// quotes, backslashes, markup and all, with the import and the line.
func TestImportEvidenceKeepsTheSourceAsWritten(t *testing.T) {
	b, ctx := setup(t)
	source := "Form \"B\" \\ <spring> & ☺\tend"
	_, err := b.contacts.Import(ctx, strings.NewReader("phone,consent\n+6591234567,yes\n"), contacts.ImportOptions{ConsentSource: "first"})
	require.NoError(t, err)
	res, err := b.contacts.Import(ctx, strings.NewReader("phone,consent\n+6591234568,yes\n+6591234567,no\n"),
		contacts.ImportOptions{ConsentSource: source})
	require.NoError(t, err)
	for phone, line := range map[string]int{"+6591234568": 2, "+6591234567": 3} {
		list, _, err := b.contacts.List(ctx, contacts.ListParams{Phone: phone, Limit: 1})
		require.NoError(t, err)
		entries, _, err := b.consent.History(ctx, list[0].ID, 10)
		require.NoError(t, err)
		e := entries[0] // the latest
		require.Equal(t, map[string]any{"consent_source": source, "import_id": float64(res.ImportID), "line": float64(line)}, e.Evidence, phone)
	}
}

func inbound(provider, from, text string) consent.Inbound {
	return consent.Inbound{AccountID: 7, From: from, Text: text, ProviderID: provider, ReceivedAt: time.Now()}
}

func TestInboundStopWithdrawsSuppressesCancelsAndConfirmsOnce(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{Locale: ptr("es-MX")})
	b.grant(t, id)

	out, err := b.consent.HandleInbound(ctx, inbound("wamid.1", "+6591234567", "Stop please 🙏"))
	require.NoError(t, err)
	require.Equal(t, consent.ClassOptOut, out.Class)
	require.True(t, out.Changed)
	require.Equal(t, id, out.ContactID)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id))
	require.Equal(t, consent.ExcludedSuppressed, b.eligibleFor(t, id, consent.Utility), "a STOP stops every purpose")
	require.Equal(t, []int64{id}, b.cancels.contacts)
	want := "Ya no recibirás más mensajes de Acme. Responde START para volver a suscribirte."
	require.Equal(t, want, out.Reply, "in the contact's language")
	r, ok, err := b.consent.PendingReply(ctx, out.InboundID)
	require.NoError(t, err)
	require.True(t, ok, "the confirmation is left pending for the workers")
	require.Equal(t, consent.Reply{InboundID: out.InboundID, AccountID: 7, To: "+6591234567", Text: want}, r)
	require.NoError(t, b.consent.ReplySent(ctx, out.InboundID))
	require.Empty(t, b.reply(t, out.InboundID))

	// The same message again (a redelivery) changes nothing and makes nothing due.
	out, err = b.consent.HandleInbound(ctx, inbound("wamid.1", "+6591234567", "Stop please 🙏"))
	require.NoError(t, err)
	require.True(t, out.Duplicate)
	require.Empty(t, out.Reply)
	// A second STOP is recorded, but not confirmed again.
	out, err = b.consent.HandleInbound(ctx, inbound("wamid.2", "+6591234567", "STOP"))
	require.NoError(t, err)
	require.False(t, out.Changed)
	require.Empty(t, out.Reply, "exactly one confirmation")

	entries, _, err := b.consent.History(ctx, id, 10)
	require.NoError(t, err)
	require.Equal(t, consent.SourceKeyword, entries[0].Source)
	require.Equal(t, consent.Withdrawn, entries[0].Status)
	require.NotNil(t, entries[0].Evidence["inbound_message_id"])
	require.Len(t, entries, 2)

	var audited int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('consent.withdraw', 'suppression.add') AND actor = 'inbound:account:7'`).Scan(&audited))
	require.Equal(t, 2, audited)

	// START resubscribes, with the message as evidence, and lifts the suppression.
	out, err = b.consent.HandleInbound(ctx, inbound("wamid.3", "+6591234567", "START"))
	require.NoError(t, err)
	require.True(t, out.Changed)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))
	require.Contains(t, b.reply(t, out.InboundID), "Acme")

	out, err = b.consent.HandleInbound(ctx, inbound("wamid.4", "+6591234567", "help"))
	require.NoError(t, err)
	require.Equal(t, consent.ClassHelp, out.Class)
	require.NotEmpty(t, b.reply(t, out.InboundID))

	out, err = b.consent.HandleInbound(ctx, inbound("wamid.5", "+6591234567", "when does the sale stop?"))
	require.NoError(t, err)
	require.Equal(t, consent.ClassNone, out.Class)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id), "a question about stopping is not an opt-out")
	require.Empty(t, b.reply(t, out.InboundID))
}

func TestInboundFromStrangersIsSuppressedAgainstLaterImports(t *testing.T) {
	b, ctx := setup(t)
	out, err := b.consent.HandleInbound(ctx, inbound("wamid.9", "+14155552671", "unsubscribe me"))
	require.NoError(t, err)
	require.Zero(t, out.ContactID)
	require.True(t, out.Changed)
	require.NotEmpty(t, b.reply(t, out.InboundID))

	_, err = b.contacts.Import(ctx, strings.NewReader("phone,consent\n+14155552671,yes\n"), contacts.ImportOptions{ConsentSource: "bought list"})
	require.NoError(t, err)
	list, _, err := b.contacts.List(ctx, contacts.ListParams{Phone: "+14155552671", Limit: 1})
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, list[0].ID), "a later import cannot message them")
}

func TestPendingReplyIsUnsettledUntilSent(t *testing.T) {
	b, ctx := setup(t)
	b.contact(t, "+6591234567", contacts.Fields{})
	out, err := b.consent.HandleInbound(ctx, inbound("wamid.1", "+6591234567", "STOP"))
	require.NoError(t, err)

	ids, err := b.consent.Unsettled(ctx, -time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{out.InboundID}, ids, "a reply still due")
	again, err := b.consent.ProcessInbound(ctx, ids[0])
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, out.Reply, again.Reply, "processing again answers the reply still due, and changes nothing")

	require.NoError(t, b.consent.ReplySent(ctx, out.InboundID))
	ids, err = b.consent.Unsettled(ctx, -time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, ids)
	_, err = b.consent.ProcessInbound(ctx, ids0(ids))
	require.Equal(t, apperr.NotFound, apperr.CodeOf(errors.Unwrap(err)))
}

func TestUnprocessedInboundIsUnsettled(t *testing.T) {
	b, ctx := setup(t)
	b.contact(t, "+6591234567", contacts.Fields{})
	// Recorded, but its event task was lost (a Redis flush): nobody processed it.
	id, _, err := b.consent.RecordInbound(ctx, inbound("wamid.lost", "+6591234567", "STOP"))
	require.NoError(t, err)
	ids, err := b.consent.Unsettled(ctx, time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, ids, "a message younger than minAge may still have its task")
	ids, err = b.consent.Unsettled(ctx, -time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{id}, ids)

	out, err := b.consent.ProcessInbound(ctx, id)
	require.NoError(t, err)
	require.Equal(t, consent.ClassOptOut, out.Class)
	require.NoError(t, b.consent.ReplySent(ctx, id))
	ids, err = b.consent.Unsettled(ctx, -time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, ids, "processed, and its confirmation sent")
}

func ids0(ids []int64) int64 {
	if len(ids) == 0 {
		return 424242
	}
	return ids[0]
}

func TestInboundRefusesBadInput(t *testing.T) {
	b, ctx := setup(t)
	_, err := b.consent.HandleInbound(ctx, inbound("wamid.1", "not a number", "STOP"))
	require.Equal(t, "from", apperr.FieldsOf(err)[0].Field)
	_, err = b.consent.HandleInbound(ctx, inbound("", "+6591234567", "STOP"))
	require.Equal(t, "provider_id", apperr.FieldsOf(err)[0].Field)
}

func ptr[T any](v T) *T { return &v }

func TestRetentionPurgesOldInboundText(t *testing.T) {
	b, ctx := setup(t)
	old := inbound("old", "+6591234567", "an old message")
	old.ReceivedAt = time.Now().Add(-100 * 24 * time.Hour)
	_, err := b.consent.HandleInbound(ctx, old)
	require.NoError(t, err)
	_, err = b.consent.HandleInbound(ctx, inbound("new", "+6591234567", "a new message"))
	require.NoError(t, err)

	n, err := b.consent.InboundPurger().Purge(ctx, time.Now().Add(-90*24*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	var texts []string
	rows, err := b.pool.Query(ctx, `SELECT coalesce(text, '<purged>') FROM inbound_messages ORDER BY received_at`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		texts = append(texts, s)
	}
	require.Equal(t, []string{"<purged>", "a new message"}, texts)
	n, err = b.consent.InboundPurger().Purge(ctx, time.Now().Add(-90*24*time.Hour))
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestInboundTextFromTheNetworkIsStoredWhateverItsBytes: a STOP with a NUL character (and
// invalid UTF-8) from a channel was lost, as PostgreSQL's text refuses NUL; it is stored
// without it, and honoured.
func TestInboundTextFromTheNetworkIsStoredWhateverItsBytes(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	b.grant(t, id)
	out, err := b.consent.HandleInbound(ctx, inbound("wamid.\x00nul", "+6591234567", "STOP\x00\xff"))
	require.NoError(t, err)
	require.Equal(t, consent.ClassOptOut, out.Class)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id))
	var text, provider string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT text, provider_id FROM inbound_messages WHERE id = $1`, out.InboundID).Scan(&text, &provider))
	require.Equal(t, "STOP\uFFFD", text)
	require.Equal(t, "wamid.nul", provider)
}
