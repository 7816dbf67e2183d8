package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
	"github.com/crierhq/crier/templates"
)

// consoleBenchContacts is CRIER_BENCH_CONTACTS or a million: a smaller number makes a
// quick dry run of the harness.
func consoleBenchContacts() int {
	if n, err := strconv.Atoi(os.Getenv("CRIER_BENCH_CONTACTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// consoleBench is a server on a database seeded to the size the console must stay fast
// at, and an admin's session on it.
type consoleBench struct {
	api    *httpapi.Server
	srv    *httptest.Server
	pool   *pgxpool.Pool
	hasher *phonehash.Hasher
	token  string // an admin API key, to create what the pages show through the API
	cookie string // an admin's console session
	client *http.Client

	n          int   // contacts
	templateID int64 // the first of the templates
	segmentID  int64
	accountID  int64
	campaignID int64 // the launched campaign, with its deliveries
}

// benchPhone is the number of the i-th generated contact (1-based): Singapore mobiles.
func benchPhone(i int) string { return "+65" + strconv.Itoa(90000000+i) }

// newConsoleBench builds the server as setup does, with the campaigns service, on a
// database of its own that lives as long as b: the top-level benchmark runs once
// (with N=1) however many -count its sub-benchmarks run, so the data is seeded once per
// process and shared by every page's runs.
func newConsoleBench(b *testing.B) *consoleBench {
	b.Helper()
	pool := testdb.New(b)
	rdb := testredis.New(b)
	hasher, err := phonehash.New(bytes.Repeat([]byte{42}, 32))
	benchOK(b, err)
	engine, err := templates.New(templates.Options{})
	benchOK(b, err)
	consentSvc, err := consent.New(pool, hasher, consent.Options{Brand: "Acme"})
	benchOK(b, err)
	contactSvc := contacts.New(pool, hasher, contacts.Options{ImportConsent: consentSvc})
	auditLog := audit.NewLog(pool)
	network := sandbox.New(pool, sandbox.Options{})
	b.Cleanup(network.Close)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	benchOK(b, err)
	accounts := sender.NewAccountsWithSecrets(pool, box)
	users := auth.NewUsers(pool)
	users.SetCost(bcrypt.MinCost)
	store := templates.NewStore(pool, engine)
	api := httpapi.New(httpapi.Deps{
		Users:    users,
		Accounts: accounts,
		Limiter:  sender.NewLimiter(rdb, sender.LimiterOptions{}),
		Channels: sender.Channels{sender.WhatsApp: &fakePairer{}, sender.Sandbox: network},
		Sandbox:  network,
		Inbound:  consentSvc.HandleInbound,
		Contacts: contactSvc,
		Consent:  consentSvc,
		Campaigns: campaigns.New(pool, campaigns.Options{Templates: store, Engine: engine, PhoneZones: contactSvc,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		Privacy: privacy.New(pool, []privacy.Holder{consentSvc.PrivacyHolder(), auditLog.PrivacyHolder(), contactSvc.PrivacyHolder()},
			map[string]privacy.Purger{"inbound_messages": consentSvc.InboundPurger()}),
		Templates: store,
		Engine:    engine,
		Keys:      auth.NewKeys(pool),
		Audit:     auditLog,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, httpapi.Options{})
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	cb := &consoleBench{api: api, srv: srv, pool: pool, hasher: hasher, n: consoleBenchContacts(),
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	ctx := context.Background()
	cb.token, _, err = api.Keys.Create(ctx, "bench admin", auth.Admin)
	benchOK(b, err)
	_, err = users.Create(ctx, "bench-admin@example.com", auth.Admin, "correct horse battery")
	benchOK(b, err)
	sess, err := users.SignIn(ctx, "bench-admin@example.com", "correct horse battery")
	benchOK(b, err)
	cb.cookie = sess.Token
	return cb
}

func benchOK(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// exec runs set-based seeding statements, timing each in the log.
func (cb *consoleBench) exec(b *testing.B, what, sql string, args ...any) {
	b.Helper()
	start := time.Now()
	tag, err := cb.pool.Exec(context.Background(), sql, args...)
	if err != nil {
		b.Fatalf("seed %s: %v", what, err)
	}
	b.Logf("seed %s: %d rows in %s", what, tag.RowsAffected(), time.Since(start).Round(time.Millisecond))
}

// seed fills the database: contacts, consent, suppressions, accounts, templates,
// segments, campaigns (one launched, with its deliveries half-way through sending),
// inbound opt-outs and the audit log.
func (cb *consoleBench) seed(b *testing.B) {
	start := time.Now()
	cb.seedContacts(b)
	cb.seedConsent(b)
	cb.exec(b, "suppressions", `INSERT INTO suppressions (phone_hash, purpose, reason, source, actor, created_at)
		SELECT phone_hash, 'marketing', CASE WHEN id % 3 = 0 THEN 'manual' ELSE 'opt_out' END,
		       CASE WHEN id % 3 = 0 THEN 'staff' ELSE 'keyword' END, 'bench', now() - id * interval '1 minute'
		FROM contacts WHERE id % 100 = 3`)
	cb.exec(b, "accounts", `INSERT INTO accounts (name, channel, status, rate_per_minute, phone)
		SELECT 'sender ' || i, 'sandbox', 'connected', 60, '+6580000' || (100 + i) FROM generate_series(1, 3) i`)
	benchOK(b, cb.pool.QueryRow(context.Background(), `SELECT min(id) FROM accounts`).Scan(&cb.accountID))
	cb.seedThroughAPI(b)
	cb.seedDeliveries(b)
	cb.exec(b, "audit log", `INSERT INTO audit_log (at, actor_key_id, actor, action, target_type, target_id, request_id, status, detail)
		SELECT now() - (100000 - i) * interval '5 seconds', 'benchkey', 'bench admin',
		       (ARRAY['contact.read', 'contact.list', 'campaign.create', 'consent.read', 'template.update', 'segment.create'])[1 + i % 6],
		       (ARRAY['contact', 'contact', 'campaign', 'contact', 'template', 'segment'])[1 + i % 6],
		       (1 + i % 1000)::text, 'req' || i, 200, jsonb_build_object('contacts', i % 50)
		FROM generate_series(1, 100000) i`)
	for _, t := range []string{"contacts", "consent_state", "consent_ledger", "suppressions", "deliveries", "delivery_events",
		"audit_log", "inbound_messages", "campaigns", "campaign_runs", "segments", "templates", "accounts"} {
		cb.exec(b, "vacuum "+t, "VACUUM ANALYZE "+t)
	}
	b.Logf("seeded %d contacts in %s", cb.n, time.Since(start).Round(time.Millisecond))
}

// seedContacts copies the contacts in, with their phones' real keyed hashes (so that the
// lookups, suppressions and consent by number find them): two of twenty tags each, a
// time zone for a third, {"tier", "score"} attributes, created over the past year.
func (cb *consoleBench) seedContacts(b *testing.B) {
	start := time.Now()
	now := time.Now()
	zones := []string{"", "", "Asia/Jakarta", "Asia/Bangkok", "America/New_York", "Europe/London"}
	tiers := []string{"silver", "silver", "gold"}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == cb.n {
			return nil, nil
		}
		i++
		phone := benchPhone(i)
		created := now.Add(-time.Duration(cb.n-i) * 30 * time.Second)
		return []any{phone, "SG", "Asia/Singapore", "Customer " + strconv.Itoa(i), "en", zones[i%6],
			[]string{"t" + strconv.Itoa(i%20), "t" + strconv.Itoa((i/20)%20)}, cb.hasher.Sum(phone),
			fmt.Sprintf(`{"tier": %q, "score": %d}`, tiers[i%3], i%100), created, created}, nil
	})
	n, err := cb.pool.CopyFrom(context.Background(), pgx.Identifier{"contacts"}, []string{"phone", "phone_region",
		"phone_zone", "name", "locale", "timezone", "tags", "phone_hash", "attributes", "created_at", "updated_at"}, src)
	benchOK(b, err)
	b.Logf("seed contacts: %d rows in %s", n, time.Since(start).Round(time.Millisecond))
	cb.exec(b, "vacuum contacts", `VACUUM ANALYZE contacts`)
}

// seedConsent records marketing consent on WhatsApp for 90 % of the contacts (granted,
// withdrawn for one in twenty of those), each with its ledger entry, and an older history
// of three entries for one contact in 500: the state is the latest entry, as the consent
// service keeps it.
func (cb *consoleBench) seedConsent(b *testing.B) {
	cb.exec(b, "consent history", `INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at, phone_hash)
		SELECT c.id, 'whatsapp', 'marketing', s.status, 'form', '{"form": "signup", "ip": "192.0.2.1"}', 'bench',
		       now() - (400 - s.n) * interval '1 day', c.phone_hash
		FROM contacts c, (VALUES (1, 'granted'), (2, 'withdrawn'), (3, 'granted')) AS s (n, status)
		WHERE c.id % 500 = 1
		ORDER BY s.n, c.id`)
	cb.exec(b, "consent ledger", `INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at, phone_hash)
		SELECT id, 'whatsapp', 'marketing', CASE WHEN id % 20 = 0 THEN 'withdrawn' ELSE 'granted' END, 'import',
		       jsonb_build_object('import_id', 1, 'line', id), 'bench', created_at, phone_hash
		FROM contacts WHERE id % 10 <> 7 ORDER BY id`)
	cb.exec(b, "consent state", `INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id, updated_at)
		SELECT DISTINCT ON (contact_id) contact_id, channel, purpose, status, id, occurred_at
		FROM consent_ledger ORDER BY contact_id, id DESC`)
}

// call calls the JSON API as the admin key, for what the pages list: it fails the
// benchmark on any answer but want.
func (cb *consoleBench) call(b *testing.B, method, path string, body any, want int) map[string]any {
	b.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		benchOK(b, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, cb.srv.URL+path, rd)
	benchOK(b, err)
	req.Header.Set("Authorization", "Bearer "+cb.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := cb.client.Do(req)
	benchOK(b, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	benchOK(b, err)
	if res.StatusCode != want {
		b.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, data)
	}
	var m map[string]any
	if len(data) > 0 {
		benchOK(b, json.Unmarshal(data, &m))
	}
	return m
}

func idOf(b *testing.B, m map[string]any) int64 {
	b.Helper()
	id, ok := m["id"].(float64)
	if !ok {
		b.Fatalf("no id in %v", m)
	}
	return int64(id)
}

// seedThroughAPI creates, as an admin would, 20 templates, 10 segments, 30 draft
// campaigns and the campaign that is launched: to tag t3, about a tenth of the contacts.
func (cb *consoleBench) seedThroughAPI(b *testing.B) {
	start := time.Now()
	for i := range 20 {
		m := cb.call(b, "POST", "/v1/templates", map[string]any{"name": fmt.Sprintf("sale %d", i), "category": "marketing",
			"locale": "en", "variants": []map[string]any{{"body": "Hi {{ first_name }}, the sale is on!"},
				{"body": "Hello {{ first_name }}, {{ campaign.name }} starts today."}}, "footer": "Reply STOP to opt out"}, 201)
		if i == 0 {
			cb.templateID = idOf(b, m)
		}
	}
	for i := range 10 {
		m := cb.call(b, "POST", "/v1/segments", map[string]any{"name": fmt.Sprintf("segment %d", i),
			"description": "bench", "filter": map[string]any{"tags_any": []string{"t" + strconv.Itoa(i)},
				"attributes": []map[string]any{{"key": "tier", "op": "eq", "value": "gold"}}}}, 201)
		if i == 0 {
			cb.segmentID = idOf(b, m)
		}
	}
	for i := range 30 {
		cb.call(b, "POST", "/v1/campaigns", map[string]any{"name": fmt.Sprintf("draft %d", i), "template_id": cb.templateID,
			"account_ids": []int64{cb.accountID}, "audience": map[string]any{"segment_id": cb.segmentID},
			"schedule": map[string]any{"type": "now"}}, 201)
	}
	m := cb.call(b, "POST", "/v1/campaigns", map[string]any{"name": "launched", "template_id": cb.templateID,
		"account_ids": []int64{cb.accountID, cb.accountID + 1, cb.accountID + 2},
		"audience":    map[string]any{"tags_any": []string{"t3"}}, "schedule": map[string]any{"type": "now"}}, 201)
	cb.campaignID = idOf(b, m)
	cb.call(b, "POST", fmt.Sprintf("/v1/campaigns/%d/schedule", cb.campaignID), nil, 200)
	b.Logf("seed templates, segments, campaigns: %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	ctx := context.Background()
	c, err := cb.api.Campaigns.Get(ctx, cb.campaignID)
	benchOK(b, err)
	if c.NextRunAt == nil {
		b.Fatal("the scheduled campaign has no next run")
	}
	run, err := cb.api.Campaigns.Launch(ctx, cb.campaignID, *c.NextRunAt)
	benchOK(b, err)
	b.Logf("seed launch: %d deliveries, %d eligible, in %s", run.Matched, run.Eligible, time.Since(start).Round(time.Millisecond))
}

// seedDeliveries plays the launched campaign forward: of its queued deliveries, 80 % were
// sent over the past two hours by the three accounts (5 % of those failed by receipt), 60 %
// delivered, 30 % read, 2 % replied to; each step with its delivery event, as the sender and
// the receipts record them; and 500 opt-outs attributed to it. The receipts follow the send
// after a spread of delays (up to a minute for delivery, an hour and a half for a read),
// as real ones do.
func (cb *consoleBench) seedDeliveries(b *testing.B) {
	cb.exec(b, "deliveries sent", `
		UPDATE deliveries d SET
			status = CASE WHEN d.id % 20 = 0 THEN 'failed' WHEN d.id % 10 < 3 THEN 'read'
			              WHEN d.id % 10 < 6 THEN 'delivered' ELSE 'sent' END,
			account_id = (SELECT min(id) FROM accounts) + d.id % 3,
			variant = d.id % 2, locale = 'en', enqueued_at = s.at, attempts = 1,
			message_id = '3EB0' || upper(lpad(to_hex(d.id), 16, '0')), provider_id = 'p' || d.id,
			sent_at = s.at,
			delivered_at = CASE WHEN d.id % 20 <> 0 AND d.id % 10 < 6 THEN s.at + (2 + d.id * 7919 % 60) * interval '1 second' END,
			read_at = CASE WHEN d.id % 20 <> 0 AND d.id % 10 < 3 THEN s.at + (60 + d.id * 104729 % 5400) * interval '1 second' END,
			failed_at = CASE WHEN d.id % 20 = 0 THEN s.at + (1 + d.id * 31 % 30) * interval '1 second' END,
			error = CASE WHEN d.id % 20 = 0 THEN 'undeliverable' END,
			replied_at = CASE WHEN d.id % 50 = 1 THEN s.at + (120 + d.id * 7907 % 6000) * interval '1 second' END,
			updated_at = now()
		FROM (SELECT id, now() - interval '2 hours' + (row_number() OVER (ORDER BY id)) * interval '50 milliseconds' AS at
		      FROM deliveries WHERE campaign_id = $1 AND status = 'queued') s
		WHERE d.id = s.id AND d.id % 5 <> 0`, cb.campaignID)
	cb.exec(b, "delivery events", `
		INSERT INTO delivery_events (delivery_id, kind, occurred_at)
		SELECT d.id, e.kind, e.at FROM deliveries d
		CROSS JOIN LATERAL (VALUES ('sent', d.sent_at), ('delivered', d.delivered_at), ('read', d.read_at),
		                           ('failed', d.failed_at)) AS e (kind, at)
		WHERE d.campaign_id = $1 AND e.at IS NOT NULL
		ORDER BY e.at`, cb.campaignID)
	cb.exec(b, "inbound opt-outs", `
		INSERT INTO inbound_messages (account_id, provider_id, from_phone, phone_hash, contact_id, text, received_at,
		                              class, processed_at, delivery_id, campaign_id)
		SELECT d.account_id, 'in' || d.id, c.phone, c.phone_hash, c.id, 'STOP', d.sent_at + interval '15 minutes',
		       'opt_out', d.sent_at + interval '15 minutes', d.id, d.campaign_id
		FROM deliveries d JOIN contacts c ON c.id = d.contact_id
		WHERE d.campaign_id = $1 AND d.sent_at IS NOT NULL
		ORDER BY d.id LIMIT 500`, cb.campaignID)
}

// consolePage is one GET the console makes: a page, or a JSON call a page polls.
type consolePage struct {
	name, path string
}

func (cb *consoleBench) pages() []consolePage {
	// A contact in the middle of the table, with a consent history (id % 500 = 1),
	// looked up by its number in the national format a person types.
	mid := cb.n/2/500*500 + 1
	phone := benchPhone(mid)
	national := phone[3:]
	c := strconv.FormatInt(cb.campaignID, 10)
	return []consolePage{
		{"contacts", "/contacts"},
		{"contacts_by_phone", "/contacts?phone=" + national + "&default_country=SG"},
		{"contact", "/contacts/" + strconv.Itoa(mid)},
		{"lookup", "/lookup?phone=" + national + "&default_country=SG"},
		{"segments", "/segments"},
		{"segment", "/segments/" + strconv.FormatInt(cb.segmentID, 10)},
		{"templates", "/templates"},
		{"template", "/templates/" + strconv.FormatInt(cb.templateID, 10)},
		{"campaigns", "/campaigns"},
		{"campaign", "/campaigns/" + c},
		{"campaign_new", "/campaigns/new"},
		{"accounts", "/accounts"},
		{"account", "/accounts/" + strconv.FormatInt(cb.accountID, 10)},
		{"suppressions", "/suppressions"},
		{"audit", "/audit"},
		{"import_new", "/imports/new"},
		{"campaign_stats", "/v1/campaigns/" + c + "/stats"},
		{"campaign_timeline", "/v1/campaigns/" + c + "/timeline"},
	}
}

// get fetches a page as the signed-in admin, as a browser does (the session cookie, no
// key), reads the whole body and returns its size; anything but a 200 fails.
func (cb *consoleBench) get(b *testing.B, path string) int64 {
	req, err := http.NewRequest("GET", cb.srv.URL+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "crier_session", Value: cb.cookie})
	res, err := cb.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 2000))
		b.Fatalf("GET %s: %d, want 200: %s", path, res.StatusCode, body)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkConsolePages1M times every console page, and the JSON calls the live campaign
// page polls, against a million contacts: each must answer within 100 ms (the time is
// the whole request over loopback, so slightly more than the server's). The data is
// seeded once (about a minute), then each page is a sub-benchmark:
//
//	go test ./httpapi -run '^$' -bench ConsolePages1M -benchtime 20x -count 5
//
// CRIER_BENCH_CONTACTS=10000 makes a quick run of the harness itself.
func BenchmarkConsolePages1M(b *testing.B) {
	cb := newConsoleBench(b)
	cb.seed(b)
	for _, p := range cb.pages() {
		b.Run(p.name, func(b *testing.B) {
			var size int64
			for b.Loop() {
				size = cb.get(b, p.path)
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
