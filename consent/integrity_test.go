package consent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/privacy"
)

// The tests of this file are issue 15's reproductions: ways in which an opt-out could be
// undone from inside Crier. Each one broke the promise before the consent rules of
// docs/api.md ("Consent rules").

// simulated is a sandbox message, as the admin-only sandbox API records it.
func simulated(provider, from, text string) consent.Inbound {
	in := inbound(provider, from, text)
	in.SimulatedBy = "key:admin1"
	return in
}

func TestSimulatedStartNeverLiftsARealOptOut(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	b.grant(t, id)
	_, err := b.consent.HandleInbound(ctx, inbound("wamid.1", "+6591234567", "STOP"))
	require.NoError(t, err)

	out, err := b.consent.HandleInbound(ctx, simulated("sbx.1", "+6591234567", "START"))
	require.NoError(t, err)
	require.Equal(t, consent.ClassOptIn, out.Class)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id), "the customer's STOP stands")
	require.Empty(t, out.Reply, "nothing confirms a resubscription that did not happen")
	entries, _, err := b.consent.History(ctx, id, 1)
	require.NoError(t, err)
	require.Equal(t, consent.SourceSandbox, entries[0].Source, "recorded as simulated, not as the customer's keyword")
	require.Equal(t, "sandbox:key:admin1", entries[0].Actor)
	require.False(t, entries[0].LiftedSuppression)

	// Nor an erasure's suppression, with no contact left.
	_, err = b.consent.HandleInbound(ctx, inbound("wamid.2", "+6591234568", "hello"))
	require.NoError(t, err)
	erased := b.contact(t, "+6591234568", contacts.Fields{Name: ptr("Bo")})
	require.NoError(t, privacy.New(b.pool, []privacy.Holder{b.consent.PrivacyHolder(), b.contacts.PrivacyHolder()}, nil).
		Erase(ctx, erased))
	_, err = b.consent.HandleInbound(ctx, simulated("sbx.2", "+6591234568", "START"))
	require.NoError(t, err)
	sup, err := b.consent.Suppressed(ctx, "+6591234568")
	require.NoError(t, err)
	require.Equal(t, consent.ReasonErasure, sup[0].Reason)
}

func TestSimulatedStopIsRecordedAsSuchAndARealOneOutranksIt(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	b.grant(t, id)

	_, err := b.consent.HandleInbound(ctx, simulated("sbx.1", "+6591234567", "STOP"))
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id), "a simulated STOP still stops: it is the safe side")
	sup, err := b.consent.Suppressed(ctx, "+6591234567")
	require.NoError(t, err)
	require.Equal(t, consent.SourceSandbox, sup[0].Source)

	// A simulated START lifts what the sandbox did...
	_, err = b.consent.HandleInbound(ctx, simulated("sbx.2", "+6591234567", "START"))
	require.NoError(t, err)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))

	// ...but not once the customer's own STOP came after a simulated one.
	_, err = b.consent.HandleInbound(ctx, simulated("sbx.3", "+6591234567", "STOP"))
	require.NoError(t, err)
	_, err = b.consent.HandleInbound(ctx, inbound("wamid.1", "+6591234567", "STOP"))
	require.NoError(t, err)
	sup, err = b.consent.Suppressed(ctx, "+6591234567")
	require.NoError(t, err)
	require.Equal(t, consent.SourceKeyword, sup[0].Source, "the real opt-out replaces the simulated one")
	_, err = b.consent.HandleInbound(ctx, simulated("sbx.4", "+6591234567", "START"))
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id))

	// The customer's own START lifts it.
	_, err = b.consent.HandleInbound(ctx, inbound("wamid.2", "+6591234567", "START"))
	require.NoError(t, err)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))
}

func TestDeleteThenReimportKeepsTheOptOut(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	b.grant(t, id)
	_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Withdrawn, Source: consent.SourceAPI, Actor: "key:crm"})
	require.NoError(t, err)

	require.NoError(t, b.contacts.Delete(ctx, id))
	var kept int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM consent_ledger WHERE contact_id = $1`, id).Scan(&kept))
	require.Equal(t, 2, kept, "deleting a contact keeps its ledger")

	res, err := b.contacts.Import(ctx, strings.NewReader("phone,consent\n+6591234567,yes\n"), contacts.ImportOptions{ConsentSource: "old list"})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Created)
	require.EqualValues(t, 1, res.Consent["suppressed"], "the import says the grant leaves the number suppressed")
	list, _, err := b.contacts.List(ctx, contacts.ListParams{Phone: "+6591234567", Limit: 1})
	require.NoError(t, err)
	require.NotEqual(t, id, list[0].ID)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, list[0].ID), "the opt-out belongs to the number")

	// And a contact deleted after an import's "no" is no different.
	res, err = b.contacts.Import(ctx, strings.NewReader("phone,consent\n+6591234568,no\n"), contacts.ImportOptions{ConsentSource: "crm"})
	require.NoError(t, err)
	list, _, err = b.contacts.List(ctx, contacts.ListParams{Phone: "+6591234568", Limit: 1})
	require.NoError(t, err)
	require.NoError(t, b.contacts.Delete(ctx, list[0].ID))
	_, err = b.contacts.Import(ctx, strings.NewReader("phone,consent\n+6591234568,yes\n"), contacts.ImportOptions{ConsentSource: "crm"})
	require.NoError(t, err)
	list, _, err = b.contacts.List(ctx, contacts.ListParams{Phone: "+6591234568", Limit: 1})
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, list[0].ID))
}

func TestAChangedPhoneStartsWithoutConsent(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	b.grant(t, id)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))

	other := "+14155552671"
	_, err := b.contacts.Update(ctx, id, &other, "", contacts.Fields{})
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedNoConsent, b.eligible(t, id), "the grant was the old number's")
	entries, states, err := b.consent.History(ctx, id, 10)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the ledger keeps the old number's entry")
	require.Empty(t, states)

	// Touching other fields changes nothing.
	b.grant(t, id)
	_, err = b.contacts.Update(ctx, id, nil, "", contacts.Fields{Name: ptr("Ada")})
	require.NoError(t, err)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))
}

func TestOnlyTheCustomerOrComplianceLiftsAnOptOut(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	b.grant(t, id)
	_, err := b.consent.HandleInbound(ctx, inbound("wamid.1", "+6591234567", "STOP"))
	require.NoError(t, err)

	for _, src := range []consent.Source{consent.SourceAgent, consent.SourceForm, consent.SourceAPI} {
		r, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: src,
			Evidence: map[string]any{"call": "x"}, Actor: "key:agent"})
		require.NoError(t, err)
		require.False(t, r.LiftedSuppression)
		require.NotNil(t, r.Suppression, "the answer says the number stays suppressed")
		require.Equal(t, consent.SourceKeyword, r.Suppression.Source)
		require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id), "a %s grant does not lift a STOP", src)
	}
	require.Equal(t, apperr.Conflict, apperr.CodeOf(b.consent.Unsuppress(ctx, "+6591234567")),
		"staff may not delete a customer's opt-out from the list")

	// A compliance record needs typed evidence.
	_, err = b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceCompliance,
		Evidence: map[string]any{"call": "x"}})
	var fields []string
	for _, f := range apperr.FieldsOf(err) {
		fields = append(fields, f.Field)
	}
	require.Equal(t, []string{"evidence.kind", "evidence.reference", "evidence.obtained_at"}, fields)
	future := map[string]any{"kind": "signed_form", "reference": "DOC-1", "obtained_at": time.Now().Add(time.Hour).Format(time.RFC3339)}
	_, err = b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceCompliance, Evidence: future})
	require.Equal(t, "evidence.obtained_at", apperr.FieldsOf(err)[0].Field)

	r, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceCompliance,
		Evidence: complianceEvidence, Actor: "key:dpo"})
	require.NoError(t, err)
	require.True(t, r.LiftedSuppression)
	require.Nil(t, r.Suppression)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))
	require.Equal(t, consent.ExcludedSuppressed, b.eligibleFor(t, id, consent.Utility),
		"a compliance record lifts the purpose it is for")
}

func TestEveryWithdrawalSuppresses(t *testing.T) {
	b, ctx := setup(t)
	for i, src := range []consent.Source{consent.SourceAgent, consent.SourceAPI, consent.SourceForm, consent.SourceCompliance} {
		phone := "+659123456" + string(rune('0'+i))
		id := b.contact(t, phone, contacts.Fields{})
		b.grant(t, id)
		ev := map[string]any{}
		if src == consent.SourceCompliance {
			ev = complianceEvidence
		}
		_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Withdrawn, Source: src, Evidence: ev, Actor: "key:x"})
		require.NoError(t, err)
		sup, err := b.consent.Suppressed(ctx, phone)
		require.NoError(t, err, "a %s withdrawal suppresses", src)
		require.Equal(t, src, sup[0].Source)
		require.Equal(t, consent.ReasonOptOut, sup[0].Reason)
		require.Equal(t, "key:x", sup[0].Actor)
	}

	// The network's own signal: marketing only, no confirmation, and once.
	id := b.contact(t, "+6591234569", contacts.Fields{})
	b.grant(t, id)
	changed, err := b.consent.ChannelOptOut(ctx, consent.NetworkOptOut{AccountID: 3, Phone: "+6591234569", At: time.Now()})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id))
	entries, _, err := b.consent.History(ctx, id, 1)
	require.NoError(t, err)
	require.Equal(t, consent.SourceChannel, entries[0].Source)
	require.Equal(t, consent.Withdrawn, entries[0].Status)
	require.Equal(t, "channel:account:3", entries[0].Actor)
	changed, err = b.consent.ChannelOptOut(ctx, consent.NetworkOptOut{AccountID: 3, Phone: "+6591234569", At: time.Now()})
	require.NoError(t, err)
	require.False(t, changed)
	changed, err = b.consent.ChannelOptOut(ctx, consent.NetworkOptOut{AccountID: 3, Phone: "+14155550000", At: time.Now()})
	require.NoError(t, err)
	require.True(t, changed, "a stranger's number is suppressed too")
	_, err = b.consent.ChannelOptOut(ctx, consent.NetworkOptOut{AccountID: 3, Phone: "garbage", At: time.Now()})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
}

func TestLedgerIsAppendOnlyInTheDatabase(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{Email: ptr("ada@example.com")})
	_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
		Evidence: map[string]any{"email": "ada@example.com"}})
	require.NoError(t, err)

	for _, stmt := range []string{
		`DELETE FROM consent_ledger`,
		`TRUNCATE consent_ledger`,
		`UPDATE consent_ledger SET status = 'withdrawn'`,
		`UPDATE consent_ledger SET evidence = '{"erased": true}', actor = 'someone else'`,
		`UPDATE consent_ledger SET evidence = '{"call": "forged"}'`,
	} {
		_, err := b.pool.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, stmt)
		require.Equal(t, "23001", pgErr.Code, "%s: restrict_violation", stmt)
	}
	// The one change allowed: erasure's pseudonymisation of the evidence.
	require.NoError(t, privacy.New(b.pool, []privacy.Holder{b.consent.PrivacyHolder(), b.contacts.PrivacyHolder()}, nil).Erase(ctx, id))
	var evidence map[string]any
	var hash []byte
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT evidence, phone_hash FROM consent_ledger WHERE contact_id = $1`, id).Scan(&evidence, &hash))
	require.Equal(t, map[string]any{"erased": true}, evidence)
	require.Equal(t, b.hasher.Sum("+6591234567"), hash, "the entry still names the number, by its keyed hash")
	sup, err := b.consent.Suppressed(ctx, "+6591234567")
	require.NoError(t, err)
	require.Len(t, sup, 2, "erasure suppresses every purpose")
}
