package campaigns_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// testBundle is one test's world: its own database, the services on it, a template and an
// account, and a clock the test moves.
type testBundle struct {
	pool      *pgxpool.Pool
	svc       *campaigns.Service
	contacts  *contacts.Service
	consent   *consent.Service
	templates *templates.Store
	template  int64 // a marketing template
	utility   int64 // a utility template
	account   int64

	mu  sync.Mutex
	now time.Time
}

// testNow is a Monday, 10:00 UTC.
var testNow = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T, opts ...func(*campaigns.Options)) *testBundle {
	t.Helper()
	t.Parallel()
	return newBundle(t, opts...)
}

// setupBench is setup for a benchmark: not parallel.
func setupBench(b *testing.B) *testBundle { return newBundle(b) }

func newBundle(t testing.TB, opts ...func(*campaigns.Options)) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{pool: testdb.New(t), now: testNow}
	hasher, err := phonehash.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	b.contacts = contacts.New(b.pool, hasher, contacts.Options{})
	engine, err := templates.New(templates.Options{})
	require.NoError(t, err)
	b.templates = templates.NewStore(b.pool, engine)
	o := campaigns.Options{Now: b.clock, Templates: b.templates, Engine: engine, PhoneZones: b.contacts}
	for _, f := range opts {
		f(&o)
	}
	b.svc = campaigns.New(b.pool, o)
	b.consent, err = consent.New(b.pool, hasher, consent.Options{Brand: "Acme", Now: b.clock, Canceller: b.svc})
	require.NoError(t, err)

	tpl, err := b.templates.Create(ctx, templates.Template{Name: "sale", Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Body: "Hi {{ first_name }}, {{ campaign.name }} is on!", Weight: 1}},
			Footer: "Reply STOP to opt out"}}})
	require.NoError(t, err)
	b.template = tpl.ID
	util, err := b.templates.Create(ctx, templates.Template{Name: "order", Category: templates.Utility,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Body: "Your order is ready", Weight: 1}}}}})
	require.NoError(t, err)
	b.utility = util.ID
	acc, err := sender.NewAccounts(b.pool).Create(ctx, sender.AccountInput{Name: "main", Channel: sender.Sandbox})
	require.NoError(t, err)
	b.account = acc.ID
	return b
}

func (b *testBundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func (b *testBundle) setNow(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = t
}

// contact creates a contact with the given time zone ("" for none) and tags.
func (b *testBundle) contact(t *testing.T, phone, tz string, tags ...string) int64 {
	t.Helper()
	f := contacts.Fields{Tags: tags, Name: ptr("Ada Lovelace")}
	if tz != "" {
		f.Timezone = &tz
	}
	c, _, err := b.contacts.Upsert(context.Background(), phone, "", f)
	require.NoError(t, err)
	return c.ID
}

// grant records marketing (or the given purpose's) consent for a contact.
func (b *testBundle) grant(t *testing.T, id int64, purpose ...consent.Purpose) {
	t.Helper()
	p := consent.Marketing
	if len(purpose) > 0 {
		p = purpose[0]
	}
	_, err := b.consent.Record(context.Background(), consent.Change{ContactID: id, Purpose: p, Status: consent.Granted,
		Source: consent.SourceForm, Actor: "test", Evidence: map[string]any{"form": "signup"}})
	require.NoError(t, err)
}

// eligible creates a contact with marketing consent.
func (b *testBundle) eligible(t *testing.T, phone, tz string, tags ...string) int64 {
	t.Helper()
	id := b.contact(t, phone, tz, tags...)
	b.grant(t, id)
	return id
}

// input is a valid campaign for the "vip" tag, sent now from the bundle's account.
func (b *testBundle) input() campaigns.Input {
	return campaigns.Input{Name: ptr("Summer sale"), TemplateID: &b.template, AccountIDs: []int64{b.account},
		Audience: &campaigns.Audience{TagsAny: []string{"vip"}}, Schedule: &schedule.Schedule{Type: schedule.Now}}
}

func (b *testBundle) create(t *testing.T, mods ...func(*campaigns.Input)) campaigns.Campaign {
	t.Helper()
	in := b.input()
	for _, m := range mods {
		m(&in)
	}
	c, err := b.svc.Create(context.Background(), in, "test")
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusDraft, c.Status)
	return c
}

// launch schedules a draft and launches its first run.
func (b *testBundle) launch(t *testing.T, id int64) campaigns.Run {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, b.svc.Schedule(ctx, id))
	c, err := b.svc.Get(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, c.NextRunAt)
	run, err := b.svc.Launch(ctx, id, *c.NextRunAt)
	require.NoError(t, err)
	return run
}

type deliveryRow struct {
	ContactID  *int64
	Status     string
	SkipReason *string
	DueAt      time.Time
}

// deliveries returns a run's deliveries by contact id.
func (b *testBundle) deliveries(t *testing.T, runID int64) map[int64]deliveryRow {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `
		SELECT contact_id, status, skip_reason, due_at FROM deliveries WHERE run_id = $1 AND contact_id IS NOT NULL`, runID)
	require.NoError(t, err)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[deliveryRow])
	require.NoError(t, err)
	out := map[int64]deliveryRow{}
	for _, d := range list {
		out[*d.ContactID] = d
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func reason(d deliveryRow) string {
	if d.SkipReason == nil {
		return ""
	}
	return *d.SkipReason
}

// requireConflictNaming checks that err is a 409 whose message names the status.
func requireConflictNaming(t *testing.T, err error, status campaigns.Status) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), fmt.Sprintf("is %s:", status))
}
