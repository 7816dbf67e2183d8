package delivery_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// testBundle is one test's world: its own database, the services that make contacts with
// consent, a marketing and a utility template and an account. The deliveries are written
// directly (sendFixture, capRun): these tests are about the send side, not the launch.
type testBundle struct {
	pool     *pgxpool.Pool
	contacts *contacts.Service
	consent  *consent.Service
	template int64 // a marketing template
	utility  int64 // a utility template
	account  int64
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	t.Parallel()
	return newBundle(t)
}

// setupBench is setup for a benchmark: not parallel.
func setupBench(b *testing.B) *testBundle { return newBundle(b) }

func newBundle(t testing.TB) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{pool: testdb.New(t)}
	hasher, err := phonehash.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	b.contacts = contacts.New(b.pool, hasher, contacts.Options{})
	b.consent, err = consent.New(b.pool, hasher, consent.Options{Brand: "Acme"})
	require.NoError(t, err)
	engine, err := templates.New(templates.Options{})
	require.NoError(t, err)
	store := templates.NewStore(b.pool, engine)
	tpl, err := store.Create(ctx, templates.Template{Name: "sale", Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Body: "Hi {{ first_name }}", Weight: 1}},
			Footer: "Reply STOP to opt out"}}})
	require.NoError(t, err)
	b.template = tpl.ID
	util, err := store.Create(ctx, templates.Template{Name: "order", Category: templates.Utility,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Body: "Your order is ready", Weight: 1}}}}})
	require.NoError(t, err)
	b.utility = util.ID
	acc, err := sender.NewAccounts(b.pool).Create(ctx, sender.AccountInput{Name: "main", Channel: sender.Sandbox})
	require.NoError(t, err)
	b.account = acc.ID
	return b
}

// eligible creates a contact with marketing consent, in the given time zone ("" for none).
func (b *testBundle) eligible(t *testing.T, phone, tz string) int64 {
	t.Helper()
	name := "Ada Lovelace"
	f := contacts.Fields{Name: &name}
	if tz != "" {
		f.Timezone = &tz
	}
	c, _, err := b.contacts.Upsert(context.Background(), phone, "", f)
	require.NoError(t, err)
	_, err = b.consent.Record(context.Background(), consent.Change{ContactID: c.ID, Purpose: consent.Marketing, Status: consent.Granted,
		Source: consent.SourceForm, Actor: "test", Evidence: map[string]any{"form": "signup"}})
	require.NoError(t, err)
	return c.ID
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
