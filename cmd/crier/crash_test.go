package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// TestMain runs this test binary as a `crier all` process when CRIER_CRASH_CHILD is set:
// TestKillNineAndRedisLoss starts it so, to kill it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("CRIER_CRASH_CHILD") != "" {
		os.Exit(run(context.Background(), []string{"all"}, os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestKillNineAndRedisLoss proves invariants 3 and 7 with real processes: a campaign is
// sending from a `crier all` process when the process is killed with SIGKILL (no shutdown:
// sends in flight, leases held), and then Redis loses everything. A new process, with the
// reconciler, finishes the campaign: every eligible contact gets exactly one message, and
// nobody gets two.
func TestKillNineAndRedisLoss(t *testing.T) {
	t.Parallel()
	getenv := env(t, "CRIER_HTTP_ADDR", "127.0.0.1:0", "CRIER_STALE_SENDING", "2s", "CRIER_RECONCILE_EVERY", "1s",
		"CRIER_LOG_LEVEL", "warn")
	ctx := context.Background()
	cfg, err := loadConfig(getenv)
	require.NoError(t, err)
	a, err := openApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer a.Close()
	svc, err := newServices(ctx, a)
	require.NoError(t, err)
	defer svc.Close()

	// 240 contacts, 180 with consent, through one sandbox account at 10 a second: the
	// campaign takes about 20 s, so the kill lands mid-campaign.
	var csv strings.Builder
	csv.WriteString("phone,name,tags,consent\n")
	for i := range 240 {
		c := "yes"
		if i%4 == 3 {
			c = "no"
		}
		fmt.Fprintf(&csv, "+6591%06d,Person %d,vip,%s\n", 200000+i, i, c)
	}
	_, err = svc.contacts.Import(ctx, strings.NewReader(csv.String()), contacts.ImportOptions{ConsentSource: "test form"})
	require.NoError(t, err)
	rate := 600
	acct, err := svc.accounts.Create(ctx, sender.AccountInput{Name: "crash", Channel: sender.Sandbox, RatePerMinute: &rate,
		Sandbox: &sender.SandboxConfig{DeliveredAfterMS: 100, ReadAfterMS: -1}})
	require.NoError(t, err)
	tpl, err := svc.templates.Create(ctx, templates.Template{Name: "crash", Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Body: "Hi {{ first_name }}", Weight: 1}}}}})
	require.NoError(t, err)
	name := "crash"
	c, err := svc.campaigns.Create(ctx, campaigns.Input{Name: &name, TemplateID: &tpl.ID, AccountIDs: []int64{acct.ID},
		Audience: &campaigns.Audience{TagsAny: []string{"vip"}}, QuietHours: &campaigns.QuietHours{Start: "00:00", End: "00:00"}}, "test")
	require.NoError(t, err)
	require.NoError(t, svc.campaigns.Schedule(ctx, c.ID))

	count := func(q string) int {
		var n int
		require.NoError(t, a.pool.QueryRow(ctx, q).Scan(&n))
		return n
	}
	waitUntil := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	sent := `SELECT count(*) FROM deliveries WHERE status IN ('sent', 'delivered', 'read')`

	first := startChild(t, getenv)
	waitUntil(60*time.Second, "the first process to send 40", func() bool { return count(sent) >= 40 })
	require.NoError(t, first.Process.Kill()) // SIGKILL: no shutdown, nothing drained
	_ = first.Wait()
	before := count(sent)
	require.Less(t, before, 180, "killed mid-campaign")

	ropts, err := redis.ParseURL(getenv("CRIER_REDIS_URL"))
	require.NoError(t, err)
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	require.NoError(t, rdb.FlushDB(ctx).Err(), "Redis loses every task, lease and counter")

	second := startChild(t, getenv)
	defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
	waitUntil(120*time.Second, "the second process to finish the campaign", func() bool {
		return count(`SELECT count(*) FROM deliveries WHERE status IN ('queued', 'sending')`) == 0
	})

	require.Equal(t, 180, count(sent), "every eligible contact was sent their message")
	require.Equal(t, 180, count(`SELECT count(DISTINCT to_phone) FROM sandbox_messages`))
	require.Equal(t, 180, count(`SELECT count(*) FROM sandbox_messages`), "and nobody got two")
	require.Zero(t, count(`SELECT count(*) FROM sandbox_messages s JOIN contacts c ON c.phone = s.to_phone
		JOIN consent_state cs ON cs.contact_id = c.id WHERE cs.status <> 'granted'`), "nobody without consent")
	t.Logf("killed after %d sends; the second process sent the other %d", before, 180-before)
}

// startChild runs `crier all` in a child process with the test's environment.
func startChild(t *testing.T, getenv func(string) string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CRIER_CRASH_CHILD=1")
	for _, k := range []string{"CRIER_DATABASE_URL", "CRIER_REDIS_URL", "CRIER_HASH_KEY", "CRIER_HTTP_ADDR",
		"CRIER_STALE_SENDING", "CRIER_RECONCILE_EVERY", "CRIER_LOG_LEVEL", "CRIER_LOG_FORMAT"} {
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
