package privacy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/privacy"
)

const phone = "+6591234567"

type bundle struct {
	pool     *pgxpool.Pool
	hasher   *phonehash.Hasher
	contacts *contacts.Service
	consent  *consent.Service
	audit    *audit.Log
}

func setup(t *testing.T) (*bundle, context.Context) {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	h, err := phonehash.New(bytes.Repeat([]byte{5}, 32))
	require.NoError(t, err)
	b := &bundle{pool: pool, hasher: h, contacts: contacts.New(pool, h, contacts.Options{}), audit: audit.NewLog(pool)}
	b.consent, err = consent.New(pool, h, consent.Options{})
	require.NoError(t, err)
	return b, context.Background()
}

// person makes a contact with a name, a consent grant with evidence, and an audit line
// about the contact, and returns its id.
func (b *bundle) person(t *testing.T, e164, name string) int64 {
	t.Helper()
	ctx := context.Background()
	c, _, err := b.contacts.Upsert(ctx, e164, "", contacts.Fields{Name: &name})
	require.NoError(t, err)
	_, err = b.consent.Record(ctx, consent.Change{ContactID: c.ID, Status: consent.Granted, Source: consent.SourceForm,
		Evidence: map[string]any{"text_shown": "Yes, send me offers", "ip": "203.0.113.7"}, Actor: "key:form"})
	require.NoError(t, err)
	require.NoError(t, b.audit.Record(ctx, audit.Entry{Actor: "key:form", Action: "contact.create", TargetType: "contact",
		TargetID: strconv.FormatInt(c.ID, 10), Status: 201}))
	return c.ID
}

// probe is a holder that records what it was asked, and can fail or write.
type probe struct {
	name  string
	calls *[]string
	mu    *sync.Mutex
	subj  *privacy.Subject
	fail  error
	write bool // insert an audit line through the transaction it is given
}

func newProbe(name string, calls *[]string, mu *sync.Mutex) *probe {
	return &probe{name: name, calls: calls, mu: mu, subj: new(privacy.Subject)}
}

func (p *probe) Name() string { return p.name }

func (p *probe) do(ctx context.Context, tx pgx.Tx, verb string, s privacy.Subject) error {
	p.mu.Lock()
	*p.calls = append(*p.calls, verb+" "+p.name)
	*p.subj = s
	p.mu.Unlock()
	if p.write {
		if _, err := audit.Write(ctx, tx, audit.Entry{Actor: "probe", Action: "probe." + verb}); err != nil {
			return err
		}
	}
	return p.fail
}

func (p *probe) Export(ctx context.Context, tx pgx.Tx, s privacy.Subject) (any, error) {
	if err := p.do(ctx, tx, "export", s); err != nil {
		return nil, err
	}
	return map[string]any{"seen": s.ContactID}, nil
}

func (p *probe) Erase(ctx context.Context, tx pgx.Tx, s privacy.Subject) error {
	return p.do(ctx, tx, "erase", s)
}

func TestExport(t *testing.T) {
	b, ctx := setup(t)
	id := b.person(t, phone, "Ana Lim")
	other := b.person(t, "+6591234568", "Bo Tan")
	var calls []string
	var mu sync.Mutex
	p := newProbe("probe", &calls, &mu)
	svc := privacy.New(b.pool, []privacy.Holder{b.consent.PrivacyHolder(), p, b.audit.PrivacyHolder(), b.contacts.PrivacyHolder()}, nil)
	now := time.Date(2031, 2, 3, 12, 30, 0, 0, time.FixedZone("SGT", 8*3600))
	privacy.SetNow(svc, func() time.Time { return now })

	out, err := svc.Export(ctx, id)
	require.NoError(t, err)
	require.Equal(t, id, out.ContactID)
	require.Equal(t, now.UTC(), out.ExportedAt)
	require.Equal(t, time.UTC, out.ExportedAt.Location())
	require.Equal(t, []string{"export probe"}, calls)
	require.Equal(t, privacy.Subject{ContactID: id, Phone: phone, PhoneHash: b.hasher.Sum(phone)}, *p.subj)

	// What a person receives: one section per holder, each about them alone.
	raw, err := json.Marshal(out)
	require.NoError(t, err)
	var doc struct {
		ContactID  int64     `json:"contact_id"`
		ExportedAt time.Time `json:"exported_at"`
		Data       struct {
			Contact struct {
				ID    int64  `json:"id"`
				Phone string `json:"phone"`
				Name  string `json:"name"`
			} `json:"contact"`
			Consent struct {
				Ledger []map[string]any `json:"ledger"`
			} `json:"consent"`
			Audit []map[string]any `json:"audit"`
			Probe map[string]any   `json:"probe"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Equal(t, id, doc.ContactID)
	require.True(t, now.Equal(doc.ExportedAt))
	require.Equal(t, id, doc.Data.Contact.ID)
	require.Equal(t, phone, doc.Data.Contact.Phone)
	require.Equal(t, "Ana Lim", doc.Data.Contact.Name)
	require.Len(t, doc.Data.Consent.Ledger, 1)
	require.Equal(t, "granted", doc.Data.Consent.Ledger[0]["status"])
	require.Equal(t, "203.0.113.7", doc.Data.Consent.Ledger[0]["evidence"].(map[string]any)["ip"])
	require.Len(t, doc.Data.Audit, 1)
	require.Equal(t, strconv.FormatInt(id, 10), doc.Data.Audit[0]["target_id"])
	require.Equal(t, map[string]any{"seen": float64(id)}, doc.Data.Probe)
	require.Len(t, out.Sections, 4)
	require.NotContains(t, string(raw), "Bo Tan")
	require.NotContains(t, string(raw), "+6591234568")

	theirs, err := svc.Export(ctx, other)
	require.NoError(t, err)
	raw, err = json.Marshal(theirs)
	require.NoError(t, err)
	require.Contains(t, string(raw), "Bo Tan")
	require.NotContains(t, string(raw), "Ana Lim")
}

// TestExportIsReadOnly checks that the holders export inside a read-only transaction.
func TestExportIsReadOnly(t *testing.T) {
	b, ctx := setup(t)
	id := b.person(t, phone, "Ana Lim")
	var calls []string
	var mu sync.Mutex
	writer := newProbe("writer", &calls, &mu)
	writer.write = true
	_, err := privacy.New(b.pool, []privacy.Holder{writer}, nil).Export(ctx, id)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "25006", pgErr.Code, "read_only_sql_transaction")
	require.ErrorContains(t, err, "privacy: export contact "+strconv.FormatInt(id, 10)+": writer: ")
}

func TestExportFails(t *testing.T) {
	b, ctx := setup(t)
	id := b.person(t, phone, "Ana Lim")
	var calls []string
	var mu sync.Mutex
	boom := errors.New("boom")
	first, broken, last := newProbe("first", &calls, &mu), newProbe("broken", &calls, &mu), newProbe("last", &calls, &mu)
	broken.fail = boom
	_, err := privacy.New(b.pool, []privacy.Holder{first, broken, last}, nil).Export(ctx, id)
	require.ErrorIs(t, err, boom)
	require.EqualError(t, err, "privacy: export contact "+strconv.FormatInt(id, 10)+": broken: boom")
	require.Equal(t, []string{"export first", "export broken"}, calls, "the export stops at the first failure")
}

// TestNoSubject covers the contacts an export or an erasure cannot be about.
func TestNoSubject(t *testing.T) {
	b, ctx := setup(t)
	id := b.person(t, phone, "Ana Lim")
	unhashed := b.person(t, "+6591234568", "Bo Tan")
	_, err := b.pool.Exec(ctx, `UPDATE contacts SET phone_hash = NULL WHERE id = $1`, unhashed)
	require.NoError(t, err)
	var calls []string
	var mu sync.Mutex
	svc := privacy.New(b.pool, []privacy.Holder{newProbe("probe", &calls, &mu), b.contacts.PrivacyHolder()}, nil)

	tests := []struct {
		name    string
		contact int64
		code    apperr.Code
		err     string
	}{
		{name: "unknown", contact: id + 1000, code: apperr.NotFound, err: "contact " + strconv.FormatInt(id+1000, 10) + " not found"},
		{name: "no hash yet", contact: unhashed, err: "has no phone hash yet: start crier serve once to backfill it"},
	}
	for _, tt := range tests {
		for verb, run := range map[string]func() error{
			"export": func() error { _, err := svc.Export(ctx, tt.contact); return err },
			"erase":  func() error { return svc.Erase(ctx, tt.contact) },
		} {
			err := run()
			require.Equal(t, tt.code, apperr.CodeOf(err), "%s %s: %v", verb, tt.name, err)
			require.ErrorContains(t, err, "privacy: "+verb+" contact "+strconv.FormatInt(tt.contact, 10)+": ")
			require.ErrorContains(t, err, tt.err)
		}
	}
	require.Empty(t, calls, "no holder is asked about a contact that cannot be a subject")
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n))
	require.Equal(t, 2, n)
}

func TestErase(t *testing.T) {
	b, ctx := setup(t)
	id := b.person(t, phone, "Ana Lim")
	kept := b.person(t, "+6591234568", "Bo Tan")
	_, err := b.consent.HandleInbound(ctx, consent.Inbound{AccountID: 7, From: phone, Text: "my address is 1 Orchard Rd",
		ProviderID: "wamid.1", ReceivedAt: time.Now()})
	require.NoError(t, err)
	var calls []string
	var mu sync.Mutex
	first, middle, last := newProbe("first", &calls, &mu), newProbe("middle", &calls, &mu), newProbe("last", &calls, &mu)
	svc := privacy.New(b.pool, []privacy.Holder{first, b.consent.PrivacyHolder(), middle, b.audit.PrivacyHolder(),
		b.contacts.PrivacyHolder(), last}, nil)

	require.NoError(t, svc.Erase(ctx, id))
	require.Equal(t, []string{"erase first", "erase middle", "erase last"}, calls, "in the order given")
	hash := b.hasher.Sum(phone)
	require.Equal(t, privacy.Subject{ContactID: id, Phone: phone, PhoneHash: hash}, *last.subj)

	// The contact is gone; its number, name and message text are nowhere.
	var contactsLeft, namesLeft, textLeft, phoneLeft int
	require.NoError(t, b.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM contacts WHERE id = $1),
		       (SELECT count(*) FROM contacts WHERE name = 'Ana Lim'),
		       (SELECT count(*) FROM inbound_messages WHERE text IS NOT NULL AND phone_hash = $2),
		       (SELECT count(*) FROM inbound_messages WHERE from_phone = $3)`, id, hash, phone).
		Scan(&contactsLeft, &namesLeft, &textLeft, &phoneLeft))
	require.Zero(t, contactsLeft)
	require.Zero(t, namesLeft)
	require.Zero(t, textLeft)
	require.Zero(t, phoneLeft)
	// The ledger keeps its entries by hash, without their evidence.
	var evidence []map[string]any
	rows, err := b.pool.Query(ctx, `SELECT evidence FROM consent_ledger WHERE phone_hash = $1`, hash)
	require.NoError(t, err)
	evidence, err = pgx.CollectRows(rows, pgx.RowTo[map[string]any])
	require.NoError(t, err)
	require.NotEmpty(t, evidence)
	for _, e := range evidence {
		require.Equal(t, map[string]any{"erased": true}, e)
	}
	// Only the hash remains, on the suppression list, for every purpose.
	sup, err := b.consent.Suppressed(ctx, phone)
	require.NoError(t, err)
	require.Len(t, sup, len(consent.Purposes))
	for _, s := range sup {
		require.Equal(t, consent.ReasonErasure, s.Reason)
		require.Equal(t, hash, s.PhoneHash)
	}
	// The audit log keeps the record of what happened.
	list, _, err := b.audit.List(ctx, audit.ListParams{Limit: 10, TargetType: "contact", TargetID: strconv.FormatInt(id, 10)})
	require.NoError(t, err)
	require.Len(t, list, 1)

	// Another person is untouched.
	c, err := b.contacts.Get(ctx, kept)
	require.NoError(t, err)
	require.Equal(t, "Bo Tan", c.Name)
	_, err = b.consent.Suppressed(ctx, "+6591234568")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

	// Erasing again finds no contact.
	require.Equal(t, apperr.NotFound, apperr.CodeOf(svc.Erase(ctx, id)))
}

// TestEraseIsAllOrNothing checks that a failing holder undoes what the others did.
func TestEraseIsAllOrNothing(t *testing.T) {
	b, ctx := setup(t)
	id := b.person(t, phone, "Ana Lim")
	var calls []string
	var mu sync.Mutex
	writer, broken := newProbe("writer", &calls, &mu), newProbe("broken", &calls, &mu)
	writer.write = true
	boom := errors.New("boom")
	broken.fail = boom
	svc := privacy.New(b.pool, []privacy.Holder{b.consent.PrivacyHolder(), writer, b.contacts.PrivacyHolder(), broken}, nil)

	err := svc.Erase(ctx, id)
	require.ErrorIs(t, err, boom)
	require.EqualError(t, err, "privacy: erase contact "+strconv.FormatInt(id, 10)+": broken: boom")
	require.Equal(t, []string{"erase writer", "erase broken"}, calls)

	c, err := b.contacts.Get(ctx, id)
	require.NoError(t, err, "the contact is still there")
	require.Equal(t, "Ana Lim", c.Name)
	_, err = b.consent.Suppressed(ctx, phone)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "the erasure's suppression was rolled back")
	entries, _, err := b.consent.History(ctx, id, 10)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "203.0.113.7", entries[0].Evidence["ip"], "the evidence is intact")
	list, _, err := b.audit.List(ctx, audit.ListParams{Limit: 10, Action: "probe.erase"})
	require.NoError(t, err)
	require.Empty(t, list, "a holder's write in the transaction was rolled back")
}

type purger struct {
	n      int64
	err    error
	before *time.Time
}

func (p purger) Purge(_ context.Context, before time.Time) (int64, error) {
	*p.before = before
	return p.n, p.err
}

func TestPurge(t *testing.T) {
	b, ctx := setup(t)
	now := time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range []time.Time{now.Add(-100 * 24 * time.Hour), now.Add(-89 * 24 * time.Hour)} {
		_, err := b.consent.HandleInbound(ctx, consent.Inbound{AccountID: 7, From: phone, Text: "hello " + strconv.Itoa(i),
			ProviderID: "wamid." + strconv.Itoa(i), ReceivedAt: at})
		require.NoError(t, err)
	}
	var before time.Time
	svc := privacy.New(b.pool, nil, map[string]privacy.Purger{
		"inbound_messages": b.consent.InboundPurger(),
		"other":            purger{n: 3, before: &before},
	})
	privacy.SetNow(svc, func() time.Time { return now })

	got, err := svc.Purge(ctx, 90*24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"inbound_messages": 1, "other": 3}, got)
	require.Equal(t, now.Add(-90*24*time.Hour), before)
	var texts []string
	rows, err := b.pool.Query(ctx, `SELECT coalesce(text, '<purged>') FROM inbound_messages ORDER BY received_at`)
	require.NoError(t, err)
	texts, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"<purged>", "hello 1"}, texts)

	got, err = svc.Purge(ctx, 90*24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, int64(0), got["inbound_messages"], "nothing left to purge")

	boom := errors.New("boom")
	_, err = privacy.New(b.pool, nil, map[string]privacy.Purger{"broken": purger{err: boom, before: &before}}).Purge(ctx, time.Hour)
	require.ErrorIs(t, err, boom)
	require.EqualError(t, err, "privacy: purge broken: boom")

	got, err = privacy.New(b.pool, nil, nil).Purge(ctx, time.Hour)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestFormerHoldersOfTheNumber checks that a subject's export and erasure reach the
// consent recorded under their number by contacts that had it before them: one deleted
// (and the number imported again), one that moved to another number. Entries of the
// renumbered contact under its new number are not the subject's.
func TestFormerHoldersOfTheNumber(t *testing.T) {
	b, ctx := setup(t)
	svc := privacy.New(b.pool, []privacy.Holder{b.consent.PrivacyHolder(), b.contacts.PrivacyHolder()}, nil)
	const moved, movedTo = "+6591230001", "+6591230002"

	deleted := b.person(t, phone, "Ana Lim")
	require.NoError(t, b.contacts.Delete(ctx, deleted))
	renumbered := b.person(t, moved, "Bo Tan")
	_, err := b.contacts.Update(ctx, renumbered, ptr(movedTo), "", contacts.Fields{})
	require.NoError(t, err)
	_, err = b.consent.Record(ctx, consent.Change{ContactID: renumbered, Status: consent.Granted, Source: consent.SourceForm,
		Evidence: map[string]any{"ip": "198.51.100.9"}, Actor: "key:form"})
	require.NoError(t, err)
	stranger := b.person(t, "+6591230003", "Cy Ong")

	ledger := func(id int64) []map[string]any {
		t.Helper()
		out, err := svc.Export(ctx, id)
		require.NoError(t, err)
		raw, err := json.Marshal(out)
		require.NoError(t, err)
		var doc struct {
			Data struct {
				Consent struct {
					Ledger []map[string]any `json:"ledger"`
				} `json:"consent"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(raw, &doc))
		return doc.Data.Consent.Ledger
	}
	contactsOf := func(entries []map[string]any) []int64 {
		t.Helper()
		ids := make([]int64, len(entries))
		for i, e := range entries {
			ids[i] = int64(e["id"].(float64))
		}
		rows, err := b.pool.Query(ctx, `SELECT contact_id FROM consent_ledger WHERE id = ANY($1) ORDER BY id`, ids)
		require.NoError(t, err)
		of, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(t, err)
		return of
	}

	again := b.person(t, phone, "Ana Lim")
	require.Equal(t, []int64{deleted, again}, contactsOf(ledger(again)), "the deleted contact's consent, then their own")
	newHolder := b.person(t, moved, "Di Goh")
	entries := ledger(newHolder)
	require.Equal(t, []int64{renumbered, newHolder}, contactsOf(entries), "the old number's consent, not the new one's")
	require.Equal(t, "203.0.113.7", entries[0]["evidence"].(map[string]any)["ip"])
	require.Len(t, ledger(renumbered), 2, "a contact's own entries, under either number")

	require.NoError(t, svc.Erase(ctx, again))
	evidence := func(id int64) []map[string]any {
		t.Helper()
		rows, err := b.pool.Query(ctx, `SELECT evidence FROM consent_ledger WHERE contact_id = $1 ORDER BY id`, id)
		require.NoError(t, err)
		ev, err := pgx.CollectRows(rows, pgx.RowTo[map[string]any])
		require.NoError(t, err)
		return ev
	}
	erased := map[string]any{"erased": true}
	require.Equal(t, []map[string]any{erased}, evidence(deleted), "erasure reaches the deleted contact's entry")
	require.Equal(t, []map[string]any{erased}, evidence(again))
	require.NotEqual(t, erased, evidence(renumbered)[0])
	require.NotEqual(t, erased, evidence(stranger)[0])

	require.NoError(t, svc.Erase(ctx, newHolder))
	require.Equal(t, []map[string]any{erased, {"ip": "198.51.100.9"}}, evidence(renumbered),
		"the old number's entry is erased, the new number's kept")
}

func ptr[T any](v T) *T { return &v }
