package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/testdb"
)

// filterFixture is a database with labelled contacts, each tagged "x", and the clock of
// the run the audience is evaluated for.
type filterFixture struct {
	svc  *Service
	pool interface {
		Begin(context.Context) (pgx.Tx, error)
	}
	runAt time.Time
	label map[int64]string
}

func newFilterFixture(t *testing.T) *filterFixture {
	t.Helper()
	pool := testdb.New(t)
	ctx := context.Background()
	runAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := &filterFixture{svc: New(pool, Options{}), pool: pool, runAt: runAt, label: map[int64]string{}}
	contactsData := []struct {
		name, country, region, locale, attrs string
	}{
		{"a", "SG", "SG", "pt-BR", `{"tier": "gold", "score": 10, "vip": true, "signup": "2024-03-05", "seen": "2024-03-05T10:00:00Z"}`},
		{"b", "", "BR", "pt", `{"tier": "silver", "score": 5.5, "vip": false, "signup": "2023-12-31", "seen": "2024-03-05T08:00:00+00:00"}`},
		{"c", "MY", "SG", "en", `{"tier": 5, "score": "10", "signup": "not a date", "seen": "2024-03-05T10:00:00.250Z"}`},
		{"d", "", "US", "en-US", `{}`},
		{"e", "", "SG", "", `{"tier": ["gold", "x"], "score": null}`},
		{"f", "", "GB", "en-GB", `{"we\"ird\\ key": 1, "<b>&'": "it's", "ключ": "значение"}`},
	}
	for i, c := range contactsData {
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `
			INSERT INTO contacts (phone, name, country, phone_region, locale, attributes, tags, phone_hash)
			VALUES ($1, $2, $3, $4, $5, $6, '{x}', sha256(convert_to($1, 'UTF8'))) RETURNING id`,
			fmt.Sprintf("+659100000%d", i), c.name, c.country, c.region, c.locale, c.attrs).Scan(&id))
		f.label[id] = c.name
	}
	id := func(name string) int64 {
		for k, v := range f.label {
			if v == name {
				return k
			}
		}
		t.Fatalf("no contact %s", name)
		return 0
	}
	// Consent: a granted 5 days before the run, b 40 days before, c granted then
	// withdrawn yesterday, d granted yesterday for utility only.
	for _, g := range []struct {
		name, purpose, status string
		daysAgo               int
	}{{"a", "marketing", "granted", 5}, {"b", "marketing", "granted", 40}, {"c", "marketing", "granted", 3},
		{"c", "marketing", "withdrawn", 1}, {"d", "utility", "granted", 1}} {
		var ledger int64
		require.NoError(t, pool.QueryRow(ctx, `
			INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at)
			VALUES ($1, 'whatsapp', $2, $3, 'api', '{"test": true}', 'test', $4) RETURNING id`,
			id(g.name), g.purpose, g.status, runAt.AddDate(0, 0, -g.daysAgo)).Scan(&ledger))
		_, err := pool.Exec(ctx, `
			INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id) VALUES ($1, 'whatsapp', $2, $3, $4)
			ON CONFLICT (contact_id, channel, purpose) DO UPDATE SET status = excluded.status, ledger_id = excluded.ledger_id`,
			id(g.name), g.purpose, g.status, ledger)
		require.NoError(t, err)
	}
	// Engagement: a read a message 2 days before the run, b replied 10 days before, c read
	// one 100 days before; d, e and f never did (d got a message it did not read).
	read := func(name, kind string, daysAgo int) {
		var delivery int64
		require.NoError(t, pool.QueryRow(ctx, `
			INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at) VALUES (1, 1, $1, 'delivered', $2)
			ON CONFLICT (run_id, contact_id) DO UPDATE SET status = excluded.status RETURNING id`,
			id(name), runAt).Scan(&delivery))
		_, err := pool.Exec(ctx, `INSERT INTO delivery_events (delivery_id, kind, occurred_at) VALUES ($1, $2, $3)`,
			delivery, kind, runAt.AddDate(0, 0, -daysAgo))
		require.NoError(t, err)
	}
	read("a", "read", 2)
	read("c", "read", 100)
	read("d", "delivered", 1)
	_, err := pool.Exec(ctx, `
		INSERT INTO inbound_messages (account_id, provider_id, phone_hash, contact_id, received_at)
		VALUES (1, 'm1', sha256('b'::bytea), $1, $2), (1, 'm2', sha256('z'::bytea), NULL, $2)`,
		id("b"), runAt.AddDate(0, 0, -10))
	require.NoError(t, err)
	return f
}

// match returns the labels of the contacts audience a matches, sorted, read by the
// audience subquery itself with audienceArgs's parameters.
func (f *filterFixture) match(t *testing.T, a Audience) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	args, err := f.svc.audienceArgs(ctx, tx, Campaign{Audience: a}, consent.Marketing, f.runAt, false)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, audienceSettings)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, `SELECT (m.contact).id FROM (`+audienceSubquery+`) m`, args...)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	out := []string{}
	for _, id := range ids {
		out = append(out, f.label[id])
	}
	sort.Strings(out)
	return out
}

func cond(key string, op Op, value string) Condition {
	c := Condition{Key: key, Op: op}
	if value != "" {
		c.Value = json.RawMessage(value)
	}
	return c
}

// TestFilterMatches runs every condition of the filter grammar against the fixture's
// contacts through the audience statements' own subquery.
func TestFilterMatches(t *testing.T) {
	t.Parallel()
	f := newFilterFixture(t)
	x := []string{"x"}
	attr := func(c ...Condition) Audience { return Audience{TagsAny: x, Attributes: c} }
	for _, tc := range []struct {
		name string
		a    Audience
		want []string
	}{
		{"tags only", Audience{TagsAny: x}, []string{"a", "b", "c", "d", "e", "f"}},
		{"eq string (an array matches by an element)", attr(cond("tier", OpEq, `"gold"`)), []string{"a", "e"}},
		{"eq number, not the string", attr(cond("score", OpEq, `10`)), []string{"a"}},
		{"eq number 10.0", attr(cond("score", OpEq, `10.0`)), []string{"a"}},
		{"eq boolean", attr(cond("vip", OpEq, `true`)), []string{"a"}},
		{"eq string, not the number", attr(cond("score", OpEq, `"10"`)), []string{"c"}},
		{"neq: present, same type, different", attr(cond("tier", OpNeq, `"gold"`)), []string{"b", "e"}},
		{"neq boolean", attr(cond("vip", OpNeq, `true`)), []string{"b"}},
		{"in strings", attr(cond("tier", OpIn, `["gold", "silver"]`)), []string{"a", "b", "e"}},
		{"in numbers", attr(cond("score", OpIn, `[5.5, 7]`)), []string{"b"}},
		{"in mixed types", attr(cond("tier", OpIn, `[5, "silver", true]`)), []string{"b", "c"}},
		{"exists", attr(cond("tier", OpExists, ``)), []string{"a", "b", "c", "e"}},
		{"exists true", attr(cond("score", OpExists, `true`)), []string{"a", "b", "c", "e"}},
		{"exists false", attr(cond("tier", OpExists, `false`)), []string{"d", "f"}},
		{"gt number", attr(cond("score", OpGt, `6`)), []string{"a"}},
		{"lt number", attr(cond("score", OpLt, `6`)), []string{"b"}},
		{"gte number", attr(cond("score", OpGte, `10`)), []string{"a"}},
		{"lte number", attr(cond("score", OpLte, `5.5`)), []string{"b"}},
		{"gt number: a string or a list of strings does not match", attr(cond("tier", OpGt, `3`)), []string{"c"}},
		{"gt date", attr(cond("signup", OpGt, `"2024-01-01"`)), []string{"a"}},
		{"lt date", attr(cond("signup", OpLt, `"2024-01-01"`)), []string{"b"}},
		{"gte date equal", attr(cond("signup", OpGte, `"2024-03-05"`)), []string{"a"}},
		{"lte date equal", attr(cond("signup", OpLte, `"2023-12-31"`)), []string{"b"}},
		{"gte instant: Z, fractional seconds", attr(cond("seen", OpGte, `"2024-03-05T09:00:00Z"`)), []string{"a", "c"}},
		{"lte instant with an offset", attr(cond("seen", OpLte, `"2024-03-05T10:00:00+02:00"`)), []string{"b"}},
		{"gt date against instants", attr(cond("seen", OpGt, `"2024-03-05"`)), []string{"a", "b", "c"}},
		{"lt instant against dates", attr(cond("signup", OpLt, `"2024-03-05T12:00:00+02:00"`)), []string{"a", "b"}},
		{"gt date: numbers and non-dates do not match", attr(cond("score", OpGt, `"2000-01-01"`)), []string{}},
		{"quoted keys", attr(cond(`we"ird\ key`, OpEq, `1`), cond("<b>&'", OpEq, `"it's"`), cond("ключ", OpExists, ``)), []string{"f"}},
		{"two conditions", attr(cond("tier", OpEq, `"gold"`), cond("score", OpGt, `5`)), []string{"a"}},
		{"attributes alone", Audience{Attributes: []Condition{cond("vip", OpExists, ``)}}, []string{"a", "b"}},
		{"countries: country, else phone region", Audience{Countries: []string{"SG"}}, []string{"a", "e"}},
		{"countries by region", Audience{Countries: []string{"BR", "US"}}, []string{"b", "d"}},
		{"locales: a language matches its regions", Audience{Locales: []string{"pt"}}, []string{"a", "b"}},
		{"locales: a region only itself", Audience{Locales: []string{"pt-BR"}}, []string{"a"}},
		{"locales en", Audience{Locales: []string{"en"}}, []string{"c", "d", "f"}},
		{"consent within 30 days", Audience{TagsAny: x, ConsentWithinDays: 30}, []string{"a"}},
		{"consent within 60 days", Audience{TagsAny: x, ConsentWithinDays: 60}, []string{"a", "b"}},
		{"engaged within 7 days", Audience{TagsAny: x, EngagedWithinDays: 7}, []string{"a"}},
		{"engaged within 30 days", Audience{TagsAny: x, EngagedWithinDays: 30}, []string{"a", "b"}},
		{"engaged within 365 days", Audience{TagsAny: x, EngagedWithinDays: 365}, []string{"a", "b", "c"}},
		{"never engaged", Audience{TagsAny: x, NeverEngaged: true}, []string{"d", "e", "f"}},
		{"everything at once", Audience{TagsAll: x, Countries: []string{"SG", "BR"}, Locales: []string{"pt"},
			Attributes: []Condition{cond("tier", OpIn, `["gold", "silver"]`)}, ConsentWithinDays: 60, EngagedWithinDays: 30},
			[]string{"a", "b"}},
		{"nothing to match on matches nobody", Audience{ConsentWithinDays: 60}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, errs := normalizeAudience(tc.a)
			if tc.name != "nothing to match on matches nobody" {
				require.Empty(t, errs)
			} else {
				require.NotEmpty(t, errs, "validation refuses it before the SQL does")
				a = tc.a
			}
			require.Equal(t, tc.want, f.match(t, a))
		})
	}
}
