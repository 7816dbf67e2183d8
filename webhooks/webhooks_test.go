package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/webhooks"
)

// queued is one EnqueueWebhook call.
type queued struct {
	id  int64
	key string
	at  time.Time
}

// recordQueue keeps what would have been queued; the workers' tests queue into Redis.
type recordQueue struct {
	mu   sync.Mutex
	list []queued
}

func (q *recordQueue) EnqueueWebhook(_ context.Context, id int64, key string, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.list = append(q.list, queued{id, key, at})
	return nil
}

func (q *recordQueue) take() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.list
	q.list = nil
	return l
}

// clock is a settable now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// receiver is an httptest endpoint that keeps what it got and answers status.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	status int
}

type request struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusNoContent}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{req.Header.Clone(), b})
		status := r.status
		r.mu.Unlock()
		if status >= 300 && status < 400 {
			http.Redirect(w, req, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("nope " + string(bytes.Repeat([]byte("x"), 500))))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func (r *receiver) answer(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

type testBundle struct {
	pool    *pgxpool.Pool
	svc     *webhooks.Service
	relay   *webhooks.Relay
	deliver *webhooks.Deliverer
	queue   *recordQueue
	clock   *clock
	ctx     context.Context
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	require.NoError(t, err)
	b := &testBundle{pool: pool, queue: &recordQueue{}, clock: &clock{t: time.Now().UTC()}, ctx: context.Background()}
	opts := webhooks.Options{AllowPrivate: true, Queue: b.queue, Now: b.clock.Now, RelayLag: time.Microsecond,
		Jitter: func() float64 { return 0.5 }}
	b.svc = webhooks.New(pool, box, opts)
	b.relay = webhooks.NewRelay(pool, opts)
	b.deliver = webhooks.NewDeliverer(pool, box, opts)
	return b
}

func (b *testBundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, sql, args...)
	require.NoError(t, err, sql)
}

func (b *testBundle) endpoint(t *testing.T, url string, pii bool, events ...string) (webhooks.Endpoint, string) {
	t.Helper()
	e, secret, err := b.svc.Create(b.ctx, webhooks.Input{URL: url, Events: events, IncludePII: pii}, "key:admin")
	require.NoError(t, err)
	return e, secret
}

// step runs a relay step and returns the deliveries it queued.
func (b *testBundle) step(t *testing.T) []queued {
	t.Helper()
	_, err := b.relay.Step(b.ctx)
	require.NoError(t, err)
	return b.queue.take()
}

// contact adds a contact and returns its id.
func (b *testBundle) contact(t *testing.T, phone string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO contacts (phone, phone_hash) VALUES ($1, sha256($2)) RETURNING id`,
		phone, []byte(phone)).Scan(&id))
	return id
}

// sent records a sent delivery to contact, with its event, and returns the delivery id.
func (b *testBundle) sent(t *testing.T, contact int64, text string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		WITH d AS (INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at, account_id, rendered, sent_at)
		           VALUES (11 + (SELECT count(*) FROM deliveries), 22, $1, 'sent', now(), 33, $2, now()) RETURNING id)
		INSERT INTO delivery_events (delivery_id, kind, occurred_at) SELECT id, 'sent', now() FROM d RETURNING delivery_id`,
		contact, text).Scan(&id))
	return id
}

// run records a completed campaign run (of no campaign: the foreign key is not the
// point here, so this test's own database drops it; the role that migrated it owns it,
// where session_replication_role would need a superuser).
func (b *testBundle) run(t *testing.T, completedAt string) {
	t.Helper()
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx)
	_, err = tx.Exec(b.ctx, `ALTER TABLE campaign_runs DROP CONSTRAINT IF EXISTS campaign_runs_campaign_id_fkey`)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `INSERT INTO campaign_runs (campaign_id, run_at, status, completed_at, matched, eligible)
		VALUES (1, clock_timestamp(), 'completed', `+completedAt+`, 10, 8)`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(b.ctx))
}

type stored struct {
	status     string
	attempts   int
	lastStatus *int
	lastError  string
	next       *time.Time
}

func (b *testBundle) delivery(t *testing.T, id int64) stored {
	t.Helper()
	var s stored
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT status, attempts, last_status, last_error, next_attempt_at FROM webhook_deliveries WHERE id = $1`, id).
		Scan(&s.status, &s.attempts, &s.lastStatus, &s.lastError, &s.next))
	return s
}

func TestDeliverSignedWithAndWithoutPII(t *testing.T) {
	b := setup(t)
	plainRecv, piiRecv := newReceiver(t), newReceiver(t)
	_, plainSecret := b.endpoint(t, plainRecv.URL, false, "message.sent")
	_, piiSecret := b.endpoint(t, piiRecv.URL, true, "message.sent", "message.read")
	require.Empty(t, b.step(t), "the first step only sets the read position")

	contact := b.contact(t, "+6591234567")
	delivery := b.sent(t, contact, "Hello Ana, 20% off")
	tasks := b.step(t)
	require.Len(t, tasks, 2, "one delivery per endpoint")
	require.Empty(t, b.step(t), "a row is relayed once")
	for _, q := range tasks {
		require.Equal(t, "0", q.key)
		require.NoError(t, b.deliver.Deliver(b.ctx, q.id))
		require.Equal(t, "delivered", b.delivery(t, q.id).status)
	}

	check := func(r *receiver, secret string) map[string]any {
		got := r.requests()
		require.Len(t, got, 1)
		h := got[0].header
		require.NoError(t, webhooks.Verify(h.Get("Crier-Signature"), got[0].body, []string{secret}, 0, b.clock.Now()))
		require.Error(t, webhooks.Verify(h.Get("Crier-Signature"), got[0].body, []string{"whsec_wrong"}, 0, b.clock.Now()))
		require.Equal(t, "application/json", h.Get("Content-Type"))
		require.Equal(t, "Crier-Webhooks/1", h.Get("User-Agent"))
		require.Equal(t, "message.sent", h.Get("Crier-Event-Type"))
		var ev map[string]any
		require.NoError(t, json.Unmarshal(got[0].body, &ev))
		require.Equal(t, h.Get("Crier-Event-Id"), ev["id"])
		require.Regexp(t, `^\{"id":"evt_de_\d+","type":"message.sent","occurred_at":"[^"]+","data":\{`, string(got[0].body))
		data := ev["data"].(map[string]any)
		require.EqualValues(t, delivery, data["delivery_id"])
		require.EqualValues(t, contact, data["contact_id"])
		require.EqualValues(t, 22, data["campaign_id"])
		require.NotZero(t, data["run_id"])
		require.EqualValues(t, 33, data["account_id"])
		return data
	}
	plain := check(plainRecv, plainSecret)
	require.NotContains(t, plain, "phone")
	require.NotContains(t, plain, "text")
	require.NotContains(t, string(plainRecv.requests()[0].body), "+6591234567")
	withPII := check(piiRecv, piiSecret)
	require.Equal(t, "+6591234567", withPII["phone"])
	require.Equal(t, "Hello Ana, 20% off", withPII["text"])
}

func TestRelayWaitsForLateCommits(t *testing.T) {
	b := setup(t)
	recv := newReceiver(t)
	b.endpoint(t, recv.URL, false, "contact.opted_out", "contact.opted_in")
	b.step(t)
	contact := b.contact(t, "+6591234568")

	// A withdrawal whose transaction starts now and commits after the relay has stepped
	// past its recorded time.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx)
	_, err = tx.Exec(b.ctx, `
		INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, actor, occurred_at)
		VALUES ($1, 'whatsapp', 'marketing', 'withdrawn', 'keyword', 'customer', now())`, contact)
	require.NoError(t, err)
	// Rows committed meanwhile, by transactions that started later, wait too.
	b.exec(t, `INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at)
		VALUES ($1, 'whatsapp', 'marketing', 'granted', 'form', '{"form":"x"}', 'key:a', now())`, contact)
	// An import's grants are not relayed: import.completed tells of them.
	b.exec(t, `INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at)
		VALUES ($1, 'whatsapp', 'marketing', 'granted', 'import', '{"import_id":1}', 'key:a', now())`, contact)
	for range 3 {
		require.Empty(t, b.step(t), "nothing passes an open transaction")
	}
	require.NoError(t, tx.Commit(b.ctx))
	tasks := b.step(t)
	require.Len(t, tasks, 2, "the late withdrawal and the grant, once each")
	require.Empty(t, b.step(t))

	var types []string
	rows, err := b.pool.Query(b.ctx, `SELECT event_type FROM webhook_deliveries ORDER BY event_id`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		types = append(types, s)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, []string{"contact.opted_out", "contact.opted_in"}, types)
}

func TestRelayCampaignsAndImports(t *testing.T) {
	b := setup(t)
	recv := newReceiver(t)
	b.endpoint(t, recv.URL, false, "campaign.completed", "import.completed")
	b.step(t)
	// campaign_runs.completed_at comes from the application's clock: read 5 s behind.
	b.run(t, `now() - interval '1 minute'`)
	b.exec(t, `INSERT INTO contact_imports (actor, status, finished_at, rows, created) VALUES ('key:a', 'done', now(), 5, 4)`)
	require.Len(t, b.step(t), 1, "the import; the run was completed before the read position")

	b.run(t, `now() - interval '10 milliseconds'`)
	require.Eventually(t, func() bool { return len(b.step(t)) == 1 }, 10*time.Second, 100*time.Millisecond,
		"the run, once the margin has passed")
	var payload string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT payload::text FROM webhook_deliveries WHERE event_type = 'campaign.completed'`).Scan(&payload))
	require.Contains(t, payload, `"matched": 10`)
}

func TestRetriesBackOffThenGiveUp(t *testing.T) {
	b := setup(t)
	recv := newReceiver(t)
	recv.answer(http.StatusInternalServerError)
	b.endpoint(t, recv.URL, false, "message.sent")
	b.step(t)
	b.sent(t, b.contact(t, "+6591234569"), "hi")
	tasks := b.step(t)
	require.Len(t, tasks, 1)
	id := tasks[0].id

	start := b.clock.Now()
	require.NoError(t, b.deliver.Deliver(b.ctx, id))
	s := b.delivery(t, id)
	require.Equal(t, "pending", s.status)
	require.Equal(t, 1, s.attempts)
	require.Equal(t, 500, *s.lastStatus)
	require.LessOrEqual(t, len(s.lastError), 205, "the answer is cut short")
	require.Contains(t, s.lastError, "HTTP 500: nope")
	require.WithinDuration(t, start.Add(30*time.Second), *s.next, time.Millisecond, "30 s, jitter in the middle")
	retry := b.queue.take()
	require.Len(t, retry, 1)
	require.Equal(t, "1", retry[0].key)
	require.True(t, retry[0].at.Equal(*s.next), "queued for when it is due")

	// A task that comes early (twice queued) does nothing.
	require.NoError(t, b.deliver.Deliver(b.ctx, id))
	require.Len(t, recv.requests(), 1)

	for want := 2; want <= 4; want++ {
		b.clock.t = *b.delivery(t, id).next
		require.NoError(t, b.deliver.Deliver(b.ctx, id))
		s = b.delivery(t, id)
		require.Equal(t, want, s.attempts)
		require.WithinDuration(t, b.clock.Now().Add(webhooks.Backoff(want)), *s.next, time.Millisecond)
	}
	// The delivery's event is a day old: the next failure gives up.
	b.exec(t, `UPDATE webhook_deliveries SET created_at = $2 WHERE id = $1`, id, b.clock.Now().Add(-webhooks.MaxAge))
	b.clock.t = *s.next
	require.NoError(t, b.deliver.Deliver(b.ctx, id))
	s = b.delivery(t, id)
	require.Equal(t, "failed", s.status)
	require.Nil(t, s.next)
}

func TestFailingThreeDaysDisables(t *testing.T) {
	b := setup(t)
	recv := newReceiver(t)
	recv.answer(http.StatusServiceUnavailable)
	e, _ := b.endpoint(t, recv.URL, false, "message.sent")
	b.step(t)
	contact := b.contact(t, "+6591234570")
	b.sent(t, contact, "a")
	first := b.step(t)[0].id
	require.NoError(t, b.deliver.Deliver(b.ctx, first))
	got, err := b.svc.Get(b.ctx, e.ID)
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.WithinDuration(t, b.clock.Now(), *got.FailingSince, time.Millisecond)

	// Three days on, another event fails: the endpoint is disabled.
	b.clock.Add(webhooks.DisableAfter)
	b.sent(t, contact, "b")
	b.queue.take() // the first's retry
	second := b.step(t)[0].id
	require.NoError(t, b.deliver.Deliver(b.ctx, second))
	got, err = b.svc.Get(b.ctx, e.ID)
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Contains(t, got.DisabledReason, "failing since ")
	// Its pending deliveries fail without a request.
	b.clock.t = *b.delivery(t, first).next
	n := len(recv.requests())
	require.NoError(t, b.deliver.Deliver(b.ctx, first))
	require.Equal(t, "failed", b.delivery(t, first).status)
	require.Len(t, recv.requests(), n)
	require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Replay(b.ctx, e.ID, first)))

	// Enabling it again clears the streak.
	on := true
	got, err = b.svc.Update(b.ctx, e.ID, webhooks.Patch{Enabled: &on})
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.Nil(t, got.FailingSince)
	require.Empty(t, got.DisabledReason)
}

func TestRotateSecret(t *testing.T) {
	b := setup(t)
	recv := newReceiver(t)
	e, old := b.endpoint(t, recv.URL, false, "message.sent")
	newSecret, until, err := b.svc.RotateSecret(b.ctx, e.ID, 2*time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, old, newSecret)
	require.Regexp(t, `^whsec_[A-Za-z0-9_-]{43}$`, newSecret)
	require.WithinDuration(t, b.clock.Now().Add(2*time.Hour), until, time.Millisecond)
	got, err := b.svc.Get(b.ctx, e.ID)
	require.NoError(t, err)
	require.WithinDuration(t, until, *got.SecretRotatingUntil, time.Millisecond)

	b.step(t)
	contact := b.contact(t, "+6591234571")
	b.sent(t, contact, "a")
	require.NoError(t, b.deliver.Deliver(b.ctx, b.step(t)[0].id))
	// The grace ends: the old secret stops signing.
	b.clock.Add(2*time.Hour + time.Second)
	b.sent(t, contact, "b")
	require.NoError(t, b.deliver.Deliver(b.ctx, b.step(t)[0].id))

	got2 := recv.requests()
	require.Len(t, got2, 2)
	during, after := got2[0], got2[1]
	require.NoError(t, webhooks.Verify(during.header.Get("Crier-Signature"), during.body, []string{newSecret}, 3*time.Hour, b.clock.Now()))
	require.NoError(t, webhooks.Verify(during.header.Get("Crier-Signature"), during.body, []string{old}, time.Hour*3, b.clock.Now()),
		"a receiver still on the old secret accepts during the grace")
	require.NoError(t, webhooks.Verify(after.header.Get("Crier-Signature"), after.body, []string{newSecret}, 0, b.clock.Now()))
	require.ErrorIs(t, webhooks.Verify(after.header.Get("Crier-Signature"), after.body, []string{old}, 0, b.clock.Now()), webhooks.ErrMismatch)
	got, err = b.svc.Get(b.ctx, e.ID)
	require.NoError(t, err)
	require.Nil(t, got.SecretRotatingUntil)

	_, _, err = b.svc.RotateSecret(b.ctx, e.ID, 8*24*time.Hour)
	require.Equal(t, "grace_hours", apperr.FieldsOf(err)[0].Field)
}

func TestReplayAndRedirects(t *testing.T) {
	b := setup(t)
	recv := newReceiver(t)
	e, _ := b.endpoint(t, recv.URL, false, "message.sent")
	b.step(t)
	b.sent(t, b.contact(t, "+6591234572"), "a")
	id := b.step(t)[0].id
	require.NoError(t, b.deliver.Deliver(b.ctx, id))
	require.Equal(t, "delivered", b.delivery(t, id).status)

	// A 3xx is a failure, and is not followed.
	recv.answer(http.StatusFound)
	require.NoError(t, b.svc.Replay(b.ctx, e.ID, id))
	replay := b.queue.take()
	require.Len(t, replay, 1)
	require.Equal(t, id, replay[0].id)
	require.NoError(t, b.deliver.Deliver(b.ctx, id))
	s := b.delivery(t, id)
	require.Equal(t, "pending", s.status)
	require.Equal(t, 302, *s.lastStatus)
	require.Contains(t, s.lastError, "redirects are not followed")
	got := recv.requests()
	require.Len(t, got, 2, "the redirect's target was never asked")
	require.Equal(t, got[0].body, got[1].body, "a replay sends the same event")

	recv.answer(http.StatusOK)
	require.NoError(t, b.svc.Replay(b.ctx, e.ID, id))
	require.NoError(t, b.deliver.Deliver(b.ctx, id))
	require.Equal(t, "delivered", b.delivery(t, id).status)

	list, next, err := b.svc.Deliveries(b.ctx, e.ID, webhooks.Delivered, 0, 10)
	require.NoError(t, err)
	require.Zero(t, next)
	require.Len(t, list, 1)
	require.Equal(t, 3, list[0].Attempts)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Replay(b.ctx, e.ID, id+1000)))
}

// fakeResolver answers every host with its addresses.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return f[host], nil
}

func TestPrivateAddressesRefused(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	require.NoError(t, err)
	ctx := context.Background()
	res := fakeResolver{
		"rebind.example":  {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.1.2.3")},
		"public.example":  {netip.MustParseAddr("93.184.216.34")},
		"metadata.google": {netip.MustParseAddr("169.254.169.254")},
	}
	svc := webhooks.New(pool, box, webhooks.Options{Resolver: res})
	for _, url := range []string{
		"http://127.0.0.1:8080/hook", "https://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
		"http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook", "http://100.64.0.1/", "http://0.0.0.0/", "http://[fd00::1]/",
		"http://rebind.example/hook", "http://metadata.google/",
		"ftp://public.example/", "https://user:pw@public.example/", "/relative", "https://public.example/" + string(bytes.Repeat([]byte("a"), 2000)),
	} {
		_, _, err := svc.Create(ctx, webhooks.Input{URL: url, Events: []string{"message.sent"}}, "a")
		require.Equal(t, "url", apperr.FieldsOf(err)[0].Field, "%s: %v", url, err)
	}
	// localhost, through the system's resolver.
	_, _, err = webhooks.New(pool, box, webhooks.Options{}).Create(ctx, webhooks.Input{URL: "http://localhost:9/", Events: []string{"message.sent"}}, "a")
	require.Equal(t, "url", apperr.FieldsOf(err)[0].Field, "%v", err)

	_, _, err = svc.Create(ctx, webhooks.Input{URL: "https://public.example/hook", Events: []string{"message.sent", "nope"}}, "a")
	require.Equal(t, []apperr.FieldError{{Field: "events[1]", Message: apperr.FieldsOf(err)[0].Message}}, apperr.FieldsOf(err))
	e, secret, err := svc.Create(ctx, webhooks.Input{URL: "https://public.example/hook", Events: []string{"message.sent"}}, "a")
	require.NoError(t, err)
	require.NotEmpty(t, secret)

	// At delivery time the address dialled is checked: a URL saved while private
	// addresses were allowed (or a name that now resolves to one) is refused.
	recv := newReceiver(t)
	clk := &clock{t: time.Now()}
	q := &recordQueue{}
	allow := webhooks.New(pool, box, webhooks.Options{AllowPrivate: true})
	local, _, err := allow.Create(ctx, webhooks.Input{URL: recv.URL, Events: []string{"message.sent"}}, "a")
	require.NoError(t, err)
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, next_attempt_at)
		VALUES ($1, 'evt_x', 'message.sent', '{"id":"evt_x","type":"message.sent","occurred_at":"2026-01-01T00:00:00Z","data":{}}', now() - interval '1 second')
		RETURNING id`, local.ID).Scan(&id))
	d := webhooks.NewDeliverer(pool, box, webhooks.Options{Now: clk.Now, Queue: q})
	require.NoError(t, d.Deliver(ctx, id))
	require.Empty(t, recv.requests())
	var lastError string
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_error FROM webhook_deliveries WHERE id = $1`, id).Scan(&lastError))
	require.Contains(t, lastError, "refused to connect to 127.0.0.1")
	require.Equal(t, strconv.Itoa(1), q.take()[0].key)
	_ = e
}
