package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
)

// TestMain runs this test binary as a `crier all` process when CRIER_CRASH_CHILD is set:
// TestKillNineAndRedisLoss starts it so, to kill it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("CRIER_CRASH_CHILD") != "" {
		os.Exit(run(context.Background(), []string{"all"}, os.Getenv, os.Stdout, os.Stderr))
	}
	code := m.Run()
	testredis.StopCluster() // cluster_test.go's
	os.Exit(code)
}

// TestKillNineAndRedisLoss is the end-to-end proof of DESIGN §3 with real processes and the
// real API: 1 000 contacts with mixed consent, a template with three weighted variants and
// three sandbox accounts at 1 200 a minute, all made through the API of a `crier all`
// process. While the campaign sends, customers reply STOP through the API; the process is
// killed with SIGKILL (no shutdown: sends in flight, leases held) and Redis loses
// everything; a second process, with the reconciler, finishes the campaign. Then: every
// eligible contact got exactly one message, nobody without consent or after their opt-out
// got one, every opt-out got exactly one confirmation, variants and accounts follow the
// weights and the rotation, and no account went over its rate.
func TestKillNineAndRedisLoss(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	// Fewer tasks at once than the audience, so that the contacts at the end of the list are
	// still queued in Redis when they opt out: at the default 1000, all 625 sends would
	// be taken at once and wait for their rate tokens in any order.
	getenv := env(t, "CRIER_HTTP_ADDR", addr, "CRIER_STALE_SENDING", "2s", "CRIER_RECONCILE_EVERY", "1s",
		"CRIER_LOG_LEVEL", "warn", "CRIER_WORKER_CONCURRENCY", "128")
	ctx := context.Background()
	code, keyOut, stderr := runCmd(t, getenv, "apikey", "create", "--name", "e2e", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	api := &apiClient{t: t, base: "http://" + addr, key: strings.TrimSpace(keyOut)}
	a := testApp(t, getenv)
	count := func(q string, args ...any) int {
		var n int
		require.NoError(t, a.pool.QueryRow(ctx, q, args...).Scan(&n))
		return n
	}

	first := startChild(t, getenv)
	api.waitReady()

	// 1 000 contacts: three in four granted consent, the rest said no or never answered.
	var csv strings.Builder
	csv.WriteString("phone,name,tags,consent\n")
	for i := range 1000 {
		c := []string{"yes", "yes", "yes", "no"}[i%4]
		if i%8 == 6 {
			c = ""
		}
		fmt.Fprintf(&csv, "+6591%06d,Person %d,vip,%s\n", 300000+i, i, c)
	}
	api.do("POST", "/v1/contacts/import?consent_source=test%20form", "text/csv", csv.String(), 200)
	var accounts []int64
	for i := range 3 {
		acct := api.do("POST", "/v1/accounts", "", map[string]any{"name": fmt.Sprintf("sandbox %d", i), "channel": "sandbox",
			"rate_per_minute": 1200, "sandbox": map[string]any{"delivered_after_ms": 100, "read_after_ms": -1}}, 201)
		accounts = append(accounts, int64(acct["id"].(float64)))
	}
	tpl := api.do("POST", "/v1/templates", "", map[string]any{"name": "e2e", "category": "marketing", "locale": "en",
		"variants": []any{map[string]any{"body": "A {{ first_name }}", "weight": 2},
			map[string]any{"body": "B {{ first_name }}", "weight": 1}, map[string]any{"body": "C {{ first_name }}", "weight": 1}}}, 201)
	camp := api.do("POST", "/v1/campaigns", "", map[string]any{"name": "e2e", "template_id": tpl["id"], "account_ids": accounts,
		"audience": map[string]any{"tags_any": []string{"vip"}}, "quiet_hours": map[string]any{"start": "00:00", "end": "00:00"},
		"rotation": "round_robin"}, 201)
	campaignID := int64(camp["id"].(float64))
	preview := api.do("POST", fmt.Sprintf("/v1/campaigns/%d/preview", campaignID), "", nil, 200)
	eligible := int(preview["eligible"].(float64))
	require.Equal(t, 625, eligible, "1 000 contacts, 625 of them granted")
	api.do("POST", fmt.Sprintf("/v1/campaigns/%d/schedule", campaignID), "", nil, 200)

	sent := `SELECT count(*) FROM deliveries WHERE status IN ('sent', 'delivered', 'read')`
	stop := func(phones ...string) {
		for _, p := range phones {
			api.do("POST", "/v1/sandbox/inbound", "", map[string]any{"account_id": accounts[0], "from": p, "text": "STOP"}, 202)
		}
	}
	// The last deliveries in the queue, still waiting their turn, and one contact already
	// messaged. Contact ids do not follow the file's lines (an import merges on several
	// connections), so they are looked up, not guessed from the phones.
	phones := func(q string, args ...any) []string {
		rows, err := a.pool.Query(ctx, `SELECT c.phone FROM deliveries d JOIN contacts c ON c.id = d.contact_id
			WHERE d.campaign_id = $1 AND `+q, append([]any{campaignID}, args...)...)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return got
	}
	last := func(n int) []string {
		got := phones(`d.status = 'queued' AND NOT EXISTS (SELECT 1 FROM inbound_messages i WHERE i.from_phone = c.phone)
			ORDER BY d.id DESC LIMIT $2`, n)
		require.Len(t, got, n)
		return got
	}
	waitUntil(t, 90*time.Second, "the first process to send 100", func() bool { return count(sent) >= 100 })
	stop(append(last(2), phones(`d.status IN ('sent', 'delivered', 'read') ORDER BY d.id LIMIT 1`)...)...)
	waitUntil(t, 30*time.Second, "the opt-outs", func() bool {
		return count(`SELECT count(*) FROM inbound_messages WHERE class = 'opt_out'`) == 3
	})
	require.NoError(t, first.Process.Kill()) // SIGKILL: no shutdown, nothing drained
	_ = first.Wait()
	before := count(sent)
	require.Less(t, before, eligible-3, "killed mid-campaign")

	ropts, err := redis.ParseURL(getenv("CRIER_REDIS_URL"))
	require.NoError(t, err)
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	require.NoError(t, rdb.FlushDB(ctx).Err(), "Redis loses every task, lease and counter")

	second := startChild(t, getenv)
	defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
	api.waitReady()
	stop(last(2)...)
	waitUntil(t, 150*time.Second, "the second process to finish the campaign", func() bool {
		return count(`SELECT count(*) FROM deliveries WHERE status IN ('queued', 'sending')`) == 0 &&
			count(`SELECT count(*) FROM inbound_messages WHERE reply_status <> 'sent'`) == 0
	})

	// Exactly one message per eligible contact who did not opt out before their turn.
	campaignMsgs := `SELECT count(*) FROM sandbox_messages s JOIN deliveries d ON d.message_id = s.id`
	require.Equal(t, count(sent), count(campaignMsgs))
	require.Equal(t, count(campaignMsgs), count(`SELECT count(DISTINCT s.to_phone) FROM sandbox_messages s JOIN deliveries d ON d.message_id = s.id`),
		"nobody got two")
	// An opt-out cancels the contact's queued deliveries just after its transaction commits;
	// a process killed in between leaves them queued, and the send's own consent check skips
	// them instead (the suppression comes first; attempts tells it from a skip at launch).
	optedOut := count(`SELECT count(*) FROM deliveries
		WHERE (status = 'cancelled' AND skip_reason = 'opted_out')
		   OR (status = 'skipped' AND attempts > 0 AND skip_reason IN ('suppressed', 'withdrawn'))`)
	require.GreaterOrEqual(t, optedOut, 4, "the four at the end of the list opted out before their turn")
	require.Equal(t, eligible-optedOut, count(sent), "every other eligible contact got their message")
	require.Zero(t, count(campaignMsgs+` JOIN contacts c ON c.phone = s.to_phone
		JOIN consent_state cs ON cs.contact_id = c.id AND cs.purpose = 'marketing' WHERE cs.status <> 'granted'
		AND NOT EXISTS (SELECT 1 FROM inbound_messages i WHERE i.from_phone = s.to_phone)`), "nobody without consent")
	require.Zero(t, count(campaignMsgs+` JOIN inbound_messages i ON i.from_phone = s.to_phone WHERE s.sent_at > i.processed_at`),
		"nothing after an opt-out")
	// Every opt-out got exactly one confirmation: the sandbox holds one non-campaign message each.
	require.Equal(t, 5, count(`SELECT count(*) FROM sandbox_messages s
		WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = s.id)`))
	require.Equal(t, 5, count(`SELECT count(DISTINCT s.to_phone) FROM sandbox_messages s
		WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = s.id)`))

	// Weights 2:1:1 and round robin over three accounts, within a few percent.
	total := count(sent)
	for v, share := range map[int]float64{0: 0.5, 1: 0.25, 2: 0.25} {
		got := float64(count(sent+` AND variant = $1`, v)) / float64(total)
		require.InDelta(t, share, got, 0.06, "variant %d", v)
	}
	for _, id := range accounts {
		var first, last time.Time
		require.NoError(t, a.pool.QueryRow(ctx, `SELECT min(sent_at), max(sent_at) FROM sandbox_messages WHERE account_id = $1`, id).Scan(&first, &last))
		t.Logf("account %d: %d messages, from %s to %s", id, count(sent+` AND account_id = $1`, id),
			first.Format("15:04:05.000"), last.Format("15:04:05.000"))
	}
	for _, id := range accounts {
		got := float64(count(sent+` AND account_id = $1`, id)) / float64(total)
		require.InDelta(t, 1.0/3, got, 0.06, "account %d", id)
		// 1 200 a minute is one token every 50 ms, so a 5-second window holds 100 tokens (one
		// more after Redis lost the rate state). The limiter hands them out exactly
		// (sender's TestLimiterRateAcrossClients); here the times are the sandbox's, taken
		// when each message reaches it, a few to several hundred milliseconds after its token
		// (under -race), so a window may catch up to a tenth more. Still far stricter than the
		// per-minute rate itself.
		require.LessOrEqual(t, count(`SELECT coalesce(max(n), 0) FROM (
			SELECT count(*) OVER (ORDER BY sent_at RANGE BETWEEN CURRENT ROW AND interval '4.999 seconds' FOLLOWING) AS n
			FROM sandbox_messages WHERE account_id = $1) w`, id), 110, "account %d over its rate", id)
		require.LessOrEqual(t, count(`SELECT count(*) FROM sandbox_messages WHERE account_id = $1`, id), 1200,
			"account %d: not more than a minute's rate in the whole run", id)
	}
	t.Logf("killed after %d sends; the second process sent %d more", before, total-before)
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiClient calls a child process's API as an admin.
type apiClient struct {
	t         *testing.T
	base, key string
}

func (c *apiClient) waitReady() {
	waitUntil(c.t, 60*time.Second, "the API", func() bool {
		res, err := http.Get(c.base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}

// do sends body (JSON, or text with a content type) and requires the status.
func (c *apiClient) do(method, path, contentType string, body any, status int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		require.NoError(c.t, err)
		rd, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	require.Equal(c.t, status, res.StatusCode, "%s %s: %s", method, path, data)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}

// startChild runs `crier all` in a child process with the test's environment.
func startChild(t *testing.T, getenv func(string) string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CRIER_CRASH_CHILD=1")
	for _, k := range []string{"CRIER_DATABASE_URL", "CRIER_REDIS_URL", "CRIER_HASH_KEY", "CRIER_HTTP_ADDR",
		"CRIER_STALE_SENDING", "CRIER_RECONCILE_EVERY", "CRIER_LOG_LEVEL", "CRIER_LOG_FORMAT", "CRIER_WORKER_CONCURRENCY", "CRIER_DB_POOL_SIZE"} {
		cmd.Env = append(cmd.Env, k+"="+getenv(k))
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})
	return cmd
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
