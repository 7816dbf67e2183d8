package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
)

const testHashKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// testApp opens the app the configuration getenv gives, as a command does, closed when
// the test ends.
func testApp(t *testing.T, getenv func(string) string) *app {
	t.Helper()
	cfg, err := loadConfig(getenv)
	require.NoError(t, err)
	a, err := openApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

// env builds a getenv over a test database and Redis database of its own.
func env(t *testing.T, kv ...string) func(string) string {
	t.Helper()
	ropts := testredis.Options(t)
	m := map[string]string{
		"CRIER_DATABASE_URL": testdb.NewURL(t),
		"CRIER_REDIS_URL":    fmt.Sprintf("redis://%s/%d", ropts.Addr, ropts.DB),
		"CRIER_HASH_KEY":     testHashKey,
		"CRIER_LOG_FORMAT":   "text",
		"CRIER_DB_POOL_SIZE": strconv.Itoa(testdb.MaxConns), // the suite bounds its connections
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func runCmd(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestConfigErrorsNameTheirVariables(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(func(k string) string {
		return map[string]string{
			"CRIER_DATABASE_URL":     "mysql://nope",
			"CRIER_REDIS_URL":        "http://x",
			"CRIER_HTTP_ADDR":        "localhost",
			"CRIER_HASH_KEY":         "short",
			"CRIER_LOG_LEVEL":        "chatty",
			"CRIER_MAX_IMPORT_BYTES": "-1",
			"CRIER_SHUTDOWN_TIMEOUT": "soon",
		}[k]
	})
	require.Error(t, err)
	for _, name := range []string{"CRIER_DATABASE_URL", "CRIER_REDIS_URL", "CRIER_HTTP_ADDR", "CRIER_HASH_KEY",
		"CRIER_LOG_LEVEL", "CRIER_MAX_IMPORT_BYTES", "CRIER_SHUTDOWN_TIMEOUT"} {
		require.Contains(t, err.Error(), name+":")
	}

	cfg, err := loadConfig(func(string) string { return "" })
	require.NoError(t, err, "the defaults are valid")
	require.Equal(t, defaultHTTPAddr, cfg.HTTPAddr)
	require.ErrorContains(t, cfg.requireHashKey(), "CRIER_HASH_KEY: is required")

	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(testHashKey+"\n"), 0o600))
	cfg, err = loadConfig(func(k string) string { return map[string]string{"CRIER_HASH_KEY_FILE": keyFile}[k] })
	require.NoError(t, err)
	require.Len(t, cfg.HashKey, 32)
}

func TestUsage(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(t, func(string) string { return "" })
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "usage: crier")
	code, _, stderr = runCmd(t, func(string) string { return "" }, "frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `unknown command "frobnicate"`)
	code, stdout, _ := runCmd(t, func(string) string { return "" }, "help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "CRIER_HASH_KEY")
}

func TestUnreachableDatabaseFailsFast(t *testing.T) {
	t.Parallel()
	start := time.Now()
	code, _, stderr := runCmd(t, func(k string) string {
		return map[string]string{"CRIER_DATABASE_URL": "postgres://x:y@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"}[k]
	}, "migrate")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "cannot reach PostgreSQL at postgres://x:xxxxx@127.0.0.1:1/db")
	require.Less(t, time.Since(start), 15*time.Second)
}

func TestAPIKeyCommands(t *testing.T) {
	t.Parallel()
	getenv := env(t)
	code, stdout, stderr := runCmd(t, getenv, "apikey", "create", "--name", "ci", "--role", "ops")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	require.Len(t, lines, 1, "create prints the key alone on one line")
	require.Regexp(t, `^crier_[a-z2-7]{12}_[a-z2-7]{52}$`, lines[0])
	id := strings.Split(lines[0], "_")[1]

	code, stdout, _ = runCmd(t, getenv, "apikey", "list")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, id)
	require.Contains(t, stdout, "ops")
	require.NotContains(t, stdout, lines[0], "the secret is never shown again")

	code, _, stderr = runCmd(t, getenv, "apikey", "create", "--name", "x", "--role", "root")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "unknown role")
	code, _, _ = runCmd(t, getenv, "apikey", "create", "--role", "admin")
	require.Equal(t, 2, code)

	code, stdout, _ = runCmd(t, getenv, "apikey", "revoke", id)
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "revoked "+id)
	code, _, stderr = runCmd(t, getenv, "apikey", "revoke", "nosuchkey")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not found")

	// The commands are in the audit log.
	conn, err := pgx.Connect(context.Background(), getenv("CRIER_DATABASE_URL"))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var actions []string
	rows, err := conn.Query(context.Background(), `SELECT action FROM audit_log WHERE actor LIKE 'cli:%' ORDER BY id`)
	require.NoError(t, err)
	actions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"apikey.create", "apikey.revoke"}, actions)
}

// TestServeAndGracefulShutdown runs the real server on a free port: it answers, an API key
// made by the command works, and cancelling the context (what SIGTERM does) stops it.
func TestServeAndGracefulShutdown(t *testing.T) {
	t.Parallel()
	getenv := env(t)
	code, stdout, stderr := runCmd(t, getenv, "apikey", "create", "--name", "t", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	token := strings.TrimSpace(stdout)

	a := testApp(t, getenv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, a, ln) }()

	base := "http://" + ln.Addr().String()
	res, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	req, _ := http.NewRequest("GET", base+"/v1/contacts?phone="+url.QueryEscape("+6591234567"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "the listener is closed")
}

func TestServeRefusesAnUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	getenv := env(t)
	conn, err := pgx.Connect(context.Background(), getenv("CRIER_DATABASE_URL"))
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), `DELETE FROM goose_db_version WHERE version_id > 0`)
	conn.Close(context.Background())
	require.NoError(t, err)
	code, _, stderr := runCmd(t, env(t, "CRIER_DATABASE_URL", getenv("CRIER_DATABASE_URL"), "CRIER_HTTP_ADDR", "127.0.0.1:0"), "serve")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "run `crier migrate` first")
}

func TestAccountsCommands(t *testing.T) {
	t.Parallel()
	getenv := env(t)
	conn, err := pgx.Connect(context.Background(), getenv("CRIER_DATABASE_URL"))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `
		INSERT INTO accounts (name, channel, status, rate_per_minute) VALUES ('Demo sandbox', 'sandbox', 'disconnected', 600)`)
	require.NoError(t, err)

	code, out, stderr := runCmd(t, getenv, "accounts", "list")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `1\s+Demo sandbox\s+sandbox\s+disconnected\s+600\s+0`, out)

	code, _, stderr = runCmd(t, getenv, "accounts", "pair", "1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "only whatsapp accounts are paired")
	code, _, stderr = runCmd(t, getenv, "accounts", "pair", "7")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "account 7 not found")
	for _, args := range [][]string{{"accounts"}, {"accounts", "pair"}, {"accounts", "pair", "x"}, {"accounts", "pair", "1", "2"}, {"accounts", "nope"}} {
		code, _, stderr = runCmd(t, getenv, args...)
		require.Equal(t, 2, code, "%v is a usage error", args)
		require.Regexp(t, `^crier accounts: usage: \S+`, stderr, "the error says what is wrong")
	}
}

// TestAccountsAddCloud: `crier accounts add` creates a whatsapp_cloud account only with a
// token Meta accepts, reading the secrets from files and never printing them.
func TestAccountsAddCloud(t *testing.T) {
	t.Parallel()
	meta := cloudtest.New(t, cloudtest.Options{})
	getenv := env(t, "CRIER_SECRET_KEY", strings.Repeat("cd", 32))
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content+"\n"), 0o600))
		return p
	}
	secret := file("app-secret", meta.AppSecret())
	add := func(tokenFile string) (int, string, string) {
		return runCmd(t, getenv, "accounts", "add", "--name", "Cloud", "--channel", "whatsapp_cloud",
			"--phone-number-id", meta.PhoneNumberID(), "--waba-id", meta.WABAID(), "--graph-url", meta.URL,
			"--access-token-file", tokenFile, "--app-secret-file", secret)
	}
	code, out, stderr := add(file("bad-token", "expired-token"))
	require.Equal(t, 1, code, out)
	require.Contains(t, stderr, "cloud.access_token")
	require.NotContains(t, stderr, "expired-token")

	code, out, stderr = add(file("token", meta.Token()))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "Created whatsapp_cloud account 1 (Cloud)")
	require.Contains(t, out, "/v1/channels/whatsapp_cloud/1/webhook")
	require.NotContains(t, out+stderr, meta.Token())
	require.NotContains(t, out+stderr, meta.AppSecret())

	code, _, stderr = runCmd(t, getenv, "accounts", "add", "--name", "No token", "--channel", "whatsapp_cloud")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--access-token-file")
}

func TestDemoSeedsOnce(t *testing.T) {
	t.Parallel()
	getenv := env(t)
	code, first, stderr := runCmd(t, getenv, "demo")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, first, "contacts=200")
	code, again, stderr := runCmd(t, getenv, "demo")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, first, again, "a second run finds what the first made")

	conn, err := pgx.Connect(context.Background(), getenv("CRIER_DATABASE_URL"))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var contacts, granted, campaigns int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM contacts`).Scan(&contacts))
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM consent_state WHERE status = 'granted'`).Scan(&granted))
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM campaigns WHERE status = 'draft'`).Scan(&campaigns))
	require.Equal(t, 200, contacts, "every demo row is a valid contact")
	require.Equal(t, 177, granted, "one in nine said no")
	require.Equal(t, 1, campaigns)

	// Once the demo campaign has been scheduled, the next run makes a new draft for the
	// walkthrough.
	_, err = conn.Exec(context.Background(), `UPDATE campaigns SET status = 'completed'`)
	require.NoError(t, err)
	code, third, stderr := runCmd(t, getenv, "demo")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, third, "campaign_id=2")
	require.Contains(t, third, "account_id=1")
}

func TestConfigQuietHoursAndFrequencyCap(t *testing.T) {
	t.Parallel()
	get := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	c, err := loadConfig(get(nil))
	require.NoError(t, err)
	require.Equal(t, schedule.QuietHours{Start: "21:00", End: "08:00"}, c.QuietHours)
	require.Equal(t, campaigns.FrequencyCap{Max: 2, Window: 24 * time.Hour}, c.FrequencyCap)

	c, err = loadConfig(get(map[string]string{"CRIER_QUIET_HOURS": "22:30-07:00", "CRIER_FREQUENCY_CAP": "3/168h"}))
	require.NoError(t, err)
	require.Equal(t, schedule.QuietHours{Start: "22:30", End: "07:00"}, c.QuietHours)
	require.Equal(t, campaigns.FrequencyCap{Max: 3, Window: 168 * time.Hour}, c.FrequencyCap)
	c, err = loadConfig(get(map[string]string{"CRIER_QUIET_HOURS": "00:00-00:00", "CRIER_FREQUENCY_CAP": "off"}))
	require.NoError(t, err)
	require.True(t, c.QuietHours.None())
	require.Negative(t, c.FrequencyCap.Max, "off")

	_, err = loadConfig(get(map[string]string{"CRIER_QUIET_HOURS": "9pm-8am", "CRIER_FREQUENCY_CAP": "2 per day"}))
	require.ErrorContains(t, err, "CRIER_QUIET_HOURS: must be HH:MM-HH:MM")
	require.ErrorContains(t, err, "CRIER_FREQUENCY_CAP: must be N/window")
}

func TestConfigThrottlesAndSandbox(t *testing.T) {
	t.Parallel()
	get := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	c, err := loadConfig(get(nil))
	require.NoError(t, err)
	require.Equal(t, 20, c.AuthFailures)
	require.Equal(t, 50, c.APIRate)
	require.Empty(t, c.TrustedProxies)
	require.False(t, c.SandboxOff)

	c, err = loadConfig(get(map[string]string{"CRIER_AUTH_FAILURES": "5", "CRIER_API_RATE": "0",
		"CRIER_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7", "CRIER_SANDBOX": "off"}))
	require.NoError(t, err)
	require.Equal(t, 5, c.AuthFailures)
	require.Negative(t, c.APIRate, "0 turns the per-key limit off")
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}, c.TrustedProxies)
	require.True(t, c.SandboxOff)

	_, err = loadConfig(get(map[string]string{"CRIER_AUTH_FAILURES": "-1", "CRIER_API_RATE": "fast",
		"CRIER_TRUSTED_PROXIES": "proxy.local", "CRIER_SANDBOX": "maybe"}))
	for _, name := range []string{"CRIER_AUTH_FAILURES", "CRIER_API_RATE", "CRIER_TRUSTED_PROXIES", "CRIER_SANDBOX"} {
		require.ErrorContains(t, err, name+":")
	}
}
