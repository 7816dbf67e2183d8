package workers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
	"github.com/crierhq/crier/templates"
)

// bundle is one isolated pipeline: its own database, its own Redis database, real services.
type bundle struct {
	t         *testing.T
	pool      *pgxpool.Pool
	rdb       *redis.Client
	hasher    *phonehash.Hasher
	contacts  *contacts.Service
	consent   *consent.Service
	templates *templates.Store
	engine    *templates.Engine
	accounts  *sender.Accounts
	limiter   *sender.Limiter
	network   *sandbox.Network
	campaigns *campaigns.Service
	sends     *delivery.Sends
	log       *slog.Logger
	opts      Options
}

func setup(t *testing.T, opts Options) *bundle {
	t.Helper()
	pool := testdb.New(t)
	rdb := testredis.New(t)
	hasher, err := phonehash.New([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	b := &bundle{t: t, pool: pool, rdb: rdb, hasher: hasher, log: slog.New(slog.NewTextHandler(io.Discard, nil)), opts: opts}
	if testing.Verbose() {
		b.log = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	b.engine, err = templates.New(templates.Options{})
	require.NoError(t, err)
	b.templates = templates.NewStore(pool, b.engine)
	b.accounts = sender.NewAccounts(pool)
	b.limiter = sender.NewLimiter(rdb, sender.LimiterOptions{})
	b.network = sandbox.New(pool, sandbox.Options{Logger: b.log})
	t.Cleanup(b.network.Close)
	b.campaigns = campaigns.New(pool, campaigns.Options{Templates: b.templates, Engine: b.engine, Logger: b.log})
	b.consent, err = consent.New(pool, hasher, consent.Options{Brand: "Acme", Logger: b.log, Canceller: b.campaigns})
	require.NoError(t, err)
	b.contacts = contacts.New(pool, hasher, contacts.Options{ImportConsent: b.consent})
	b.sends = delivery.New(pool, delivery.Options{})
	return b
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// worker is one running worker process: handlers, account manager, Asynq server.
type worker struct {
	h      *Handlers
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startWorker starts a worker like `crier worker` does; stop ends it.
func (b *bundle) startWorker(holdAccounts bool) *worker {
	w := &worker{done: make(chan error, 1)}
	deps := Deps{Redis: b.rdb, Sends: b.sends, Campaigns: b.campaigns, Consent: b.consent, Contacts: b.contacts,
		Templates: b.templates, Engine: b.engine, Limiter: b.limiter, Accounts: b.accounts, Metrics: NewMetrics(), Logger: b.log}
	if holdAccounts {
		mgr, err := sender.NewManager(b.rdb, b.accounts, map[sender.Channel]sender.Connector{sender.Sandbox: b.network},
			func(ctx context.Context, e sender.Event) { w.h.Events().OnEvent(ctx, e) },
			sender.ManagerOptions{Logger: b.log, Refresh: 200 * time.Millisecond,
				Leases: sender.LeaseManagerOptions{TTL: 3 * time.Second}})
		require.NoError(b.t, err)
		deps.Manager = mgr
	}
	w.h = New(deps, b.opts)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.h.RunWorker(ctx, 2*time.Second) }()
	b.t.Cleanup(w.stop)
	return w
}

func (w *worker) stop() {
	w.once.Do(func() {
		w.cancel()
		select {
		case err := <-w.done:
			if err != nil {
				panic(err)
			}
		case <-time.After(30 * time.Second):
			panic("the worker did not stop within 30 s")
		}
		_ = w.h.Close()
	})
}

// people imports n contacts tagged vip: those with i%8 < 6 granted marketing consent, i%8
// == 6 withdrawn, i%8 == 7 none. It returns the phones by consent.
func (b *bundle) people(n int) (granted, others []string) {
	var csv strings.Builder
	csv.WriteString("phone,name,locale,tags,consent\n")
	for i := range n {
		phone := fmt.Sprintf("+4420%08d", 7000000+i)
		c := "granted"
		switch i % 8 {
		case 6:
			c = "withdrawn"
		case 7:
			c = ""
		}
		if c == "granted" {
			granted = append(granted, phone)
		} else {
			others = append(others, phone)
		}
		fmt.Fprintf(&csv, "%s,Person %d,en,vip,%s\n", phone, i, c)
	}
	res, err := b.contacts.Import(context.Background(), strings.NewReader(csv.String()), contacts.ImportOptions{ConsentSource: "test form"})
	require.NoError(b.t, err)
	require.Empty(b.t, res.Rejected)
	return granted, others
}

func (b *bundle) sandboxAccount(name string, rate int) int64 {
	a, err := b.accounts.Create(context.Background(), sender.AccountInput{Name: name, Channel: sender.Sandbox, RatePerMinute: &rate,
		Sandbox: &sender.SandboxConfig{DeliveredAfterMS: 50, ReadAfterMS: 150}})
	require.NoError(b.t, err)
	return a.ID
}

func (b *bundle) campaign(accounts []int64, variants ...string) int64 {
	ctx := context.Background()
	var vs []templates.Variant
	for _, body := range variants {
		vs = append(vs, templates.Variant{Body: body, Weight: 1})
	}
	tpl, err := b.templates.Create(ctx, templates.Template{Name: "promo", Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Variants: vs, Footer: "Reply STOP to opt out."}}})
	require.NoError(b.t, err)
	name, rot := "Spring sale", sender.RoundRobin
	c, err := b.campaigns.Create(ctx, campaigns.Input{Name: &name, TemplateID: &tpl.ID, AccountIDs: accounts,
		Audience: &campaigns.Audience{TagsAny: []string{"vip"}}, Rotation: &rot,
		QuietHours: &schedule.QuietHours{Start: "00:00", End: "00:00"}}, "test")
	require.NoError(b.t, err)
	require.NoError(b.t, b.campaigns.Schedule(ctx, c.ID))
	return c.ID
}

func (b *bundle) count(query string, args ...any) int {
	var n int
	require.NoError(b.t, b.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// waitFor polls cond until it holds, for at most d; completion is never timed otherwise.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	defer func(start time.Time) { t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond)) }(time.Now())
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPipelineEndToEnd runs a campaign through the real pipeline (Postgres, Asynq on Redis,
// the sandbox network): launch, dispatch, rate-limited sends over two accounts and two
// variants, receipts, a STOP mid-campaign, then a worker stopped mid-run, deliveries left in
// "sending" as by a crash (one of them already on the network), and Redis flushed. A new
// worker and the reconciler finish the campaign; every invariant is checked at the end.
func TestPipelineEndToEnd(t *testing.T) {
	t.Parallel()
	const rate = 900 // per account and minute: 15 a second
	b := setup(t, Options{StaleSending: 2 * time.Second, CheckTasksAfter: time.Second, Horizon: 5 * time.Second,
		DispatchEvery: 200 * time.Millisecond, NoAccountDelay: time.Second, Concurrency: 32})
	ctx := context.Background()
	granted, others := b.people(480) // 360 eligible
	acctA, acctB := b.sandboxAccount("A", rate), b.sandboxAccount("B", rate)
	campaignID := b.campaign([]int64{acctA, acctB}, "Hi {{ first_name }}, {spring|new season} deals inside.", "Hello {{ name }}, our sale starts now.")

	w1 := b.startWorker(true)
	sched := NewScheduler(w1.h, SchedulerOptions{})
	waitFor(t, 30*time.Second, "the campaign's launch to be queued", func() bool {
		n, err := sched.ScheduleDue(ctx)
		require.NoError(t, err)
		return n == 1
	})
	sentCount := func() int {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, campaignID)
	}
	waitFor(t, 60*time.Second, "the first sends", func() bool { return sentCount() >= 60 })

	// STOP from three recipients not reached yet (no task yet), and one already reached.
	var stoppers []string
	rows, err := b.pool.Query(ctx, `
		SELECT c.phone FROM deliveries d JOIN contacts c ON c.id = d.contact_id
		WHERE d.campaign_id = $1 AND d.status = 'queued' AND d.enqueued_at IS NULL ORDER BY d.id DESC LIMIT 3`, campaignID)
	require.NoError(t, err)
	for rows.Next() {
		var p string
		require.NoError(t, rows.Scan(&p))
		stoppers = append(stoppers, p)
	}
	require.NoError(t, rows.Err())
	require.Len(t, stoppers, 3)
	var reached string
	require.NoError(t, b.pool.QueryRow(ctx, `
		SELECT c.phone FROM deliveries d JOIN contacts c ON c.id = d.contact_id
		WHERE d.campaign_id = $1 AND d.sent_at IS NOT NULL ORDER BY d.id LIMIT 1`, campaignID).Scan(&reached))
	for i, phone := range append(stoppers, reached) {
		_, err := w1.h.Events().Inbound(ctx, consent.Inbound{AccountID: acctA, From: phone, Text: "STOP",
			ProviderID: fmt.Sprintf("in-%d", i), ReceivedAt: time.Now()})
		require.NoError(t, err)
	}
	waitFor(t, 30*time.Second, "the opt-outs to take effect", func() bool {
		return b.count(`SELECT count(*) FROM inbound_messages WHERE reply_status = 'sent'`) == 4
	})

	// A crash: the worker stops mid-run, and three deliveries are left in "sending" as if
	// their worker had died mid-send — one of them after the network took the message.
	w1.stop()
	var crashed []int64
	rows, err = b.pool.Query(ctx, `
		UPDATE deliveries SET status = 'sending', attempts = attempts + 1, account_id = $2, locale = 'en', variant = 0,
			updated_at = now() - interval '1 minute'
		WHERE id IN (SELECT id FROM deliveries WHERE campaign_id = $1 AND status = 'queued' ORDER BY id LIMIT 3)
		RETURNING id`, campaignID, acctB)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		crashed = append(crashed, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, crashed, 3)
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET message_id = $2 WHERE id = $1`, crashed[0], msgid.Of(crashed[0]))
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `
		INSERT INTO sandbox_messages (id, account_id, to_phone, text, sent_at)
		SELECT $2, $3, c.phone, 'sent before the crash', now() FROM deliveries d JOIN contacts c ON c.id = d.contact_id
		WHERE d.id = $1`, crashed[0], msgid.Of(crashed[0]), acctB)
	require.NoError(t, err)
	// The second reached the network under an id of the shape a version before migration
	// 00010 made (18 digits): its retry must send under that id, not under a new one.
	older := "3EB0" + "A1B2C3D4E5F6A7B8C9"
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET message_id = $2 WHERE id = $1`, crashed[1], older)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `
		INSERT INTO sandbox_messages (id, account_id, to_phone, text, sent_at)
		SELECT $2, $3, c.phone, 'sent before the crash', now() FROM deliveries d JOIN contacts c ON c.id = d.contact_id
		WHERE d.id = $1`, crashed[1], older, acctB)
	require.NoError(t, err)
	// And Redis is lost: every queued task and the limiter state go.
	require.NoError(t, b.rdb.FlushDB(ctx).Err())

	w2 := b.startWorker(true)
	b.finish(w2, campaignID, 3*time.Minute, "the campaign to finish after the crash")

	// Invariant 3: each eligible contact who did not opt out before being reached got
	// exactly one campaign message; duplicates are impossible by construction of the check.
	// Invariant 1: nobody without consent got one.
	b.checkOneEach(granted, others, stoppers...)
	// Every opt-out got exactly one confirmation.
	for _, p := range append(stoppers, reached) {
		require.Equal(t, 1, b.count(`SELECT count(*) FROM sandbox_messages WHERE to_phone = $1 AND text LIKE 'You won''t get more messages from Acme%'`, p))
	}
	// The crashed delivery that had reached the network is one message, recorded as sent.
	require.Contains(t, []string{"sent", "delivered", "read"}, b.status(crashed[0]))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM sandbox_messages WHERE id = $1`, msgid.Of(crashed[0])))
	require.Contains(t, []string{"sent", "delivered", "read"}, b.status(crashed[1]))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM sandbox_messages WHERE id = $1`, older))
	require.Zero(t, b.count(`SELECT count(*) FROM sandbox_messages WHERE id = $1`, msgid.Of(crashed[1])))

	// Statuses: opt-outs cancelled, the rest sent and moved on by receipts; the run completed.
	require.Equal(t, 3, b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'cancelled' AND skip_reason = 'opted_out'`, campaignID))
	require.Equal(t, len(granted)-3, b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, campaignID))
	waitFor(t, 30*time.Second, "receipts", func() bool {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status IN ('delivered', 'read')`, campaignID) > 0
	})
	require.Equal(t, 1, b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND opted_out_at IS NOT NULL AND replied_at IS NOT NULL`, campaignID))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM campaign_runs WHERE campaign_id = $1 AND status = 'completed'`, campaignID))

	// Rotation: both accounts and both variants carry a fair share.
	for _, q := range []string{
		`SELECT min(n) FROM (SELECT count(*) AS n FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL GROUP BY account_id HAVING count(*) > 0) x`,
		`SELECT min(n) FROM (SELECT count(*) AS n FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL GROUP BY variant) x`,
	} {
		require.Greater(t, b.count(q, campaignID), (len(granted)-3)/4, q)
	}
	require.Equal(t, 2, b.count(`SELECT count(DISTINCT account_id) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, campaignID))
	require.Equal(t, 2, b.count(`SELECT count(DISTINCT variant) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, campaignID))

	// Invariant 4: no account exceeds its rate: in any 60 s the network saw at most rate
	// messages from it (it ran for less than a minute at full speed, so check every
	// 10-second window against its share, with one message of slack for clock skew between
	// the limiter's Redis clock and the network's).
	for _, acct := range []int64{acctA, acctB} {
		worst := b.count(`
			SELECT coalesce(max(n), 0) FROM (
				SELECT count(*) OVER (ORDER BY sent_at RANGE BETWEEN CURRENT ROW AND interval '10 seconds' FOLLOWING) AS n
				FROM sandbox_messages WHERE account_id = $1) x`, acct)
		require.LessOrEqual(t, worst, rate/6+2, "account %d", acct)
	}
}

func (b *bundle) status(id int64) string {
	var s string
	require.NoError(b.t, b.pool.QueryRow(context.Background(), `SELECT status FROM deliveries WHERE id = $1`, id).Scan(&s))
	return s
}

// finish reconciles until campaignID has nothing queued or sending, within the given time,
// then once more to complete its run, and stops w.
func (b *bundle) finish(w *worker, campaignID int64, within time.Duration, what string) {
	b.t.Helper()
	ctx := context.Background()
	waitFor(b.t, within, what, func() bool {
		_, err := w.h.Maintenance().Reconcile(ctx)
		require.NoError(b.t, err)
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status IN ('queued', 'sending')`, campaignID) == 0
	})
	_, err := w.h.Maintenance().Reconcile(ctx) // completes the run
	require.NoError(b.t, err)
	w.stop()
}

// checkOneEach checks the network's record: each granted contact got exactly one campaign
// message, but those who opted out before being reached (stopped) none, and the others
// (no consent) none.
func (b *bundle) checkOneEach(granted, others []string, stopped ...string) {
	b.t.Helper()
	perPhone := map[string]int{}
	rows, err := b.pool.Query(context.Background(), `SELECT to_phone, count(*) FROM sandbox_messages WHERE text NOT LIKE 'You won''t get%' GROUP BY to_phone`)
	require.NoError(b.t, err)
	for rows.Next() {
		var p string
		var n int
		require.NoError(b.t, rows.Scan(&p, &n))
		perPhone[p] = n
	}
	require.NoError(b.t, rows.Err())
	for _, p := range granted {
		if slices.Contains(stopped, p) {
			require.Zero(b.t, perPhone[p], "a contact who opted out before being reached got a message")
			continue
		}
		require.Equal(b.t, 1, perPhone[p], "eligible contact %s", contacts.MaskPhone(p))
	}
	for _, p := range others {
		require.Zero(b.t, perPhone[p], "a contact without consent got a message")
	}
}
