package main

// The console in a real browser: headless Chromium, driven by chromedp, against the whole
// product (`crier all`: API, worker and scheduler) running in-process on a free port with a
// database and Redis of its own. The journeys are in console_journeys_test.go; this file
// is the harness they share.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// stepTimeout bounds one browser step (a navigation, a click and what it waits for), so
// that a page that never shows what a test waits for fails in seconds, with a
// screenshot, instead of at the suite's timeout.
const stepTimeout = 20 * time.Second

// findChromium returns the browser the tests drive: CRIER_CHROMIUM, else chromium or
// chromium-browser on the PATH. There is no skip: `make test` installs one
// (scripts/chromium.sh), and a console without its browser tests is not tested.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CRIER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (chromium or chromium-browser on the PATH, or CRIER_CHROMIUM): " +
		"run scripts/chromium.sh (make test does) to install Debian's chromium package")
	return ""
}

// product is a running `crier all` with an admin API key for the test's own set-up calls
// (accounts, a customer's STOP through the sandbox) and a pool to check the database.
type product struct {
	base  string
	api   *apiClient
	app   *app
	users *auth.Users
}

// startProduct runs `crier all` in-process until the test ends. No quiet hours and no
// frequency cap, so that a campaign scheduled "now" sends now whatever the time of day.
func startProduct(t *testing.T) *product {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	getenv := env(t, "CRIER_HTTP_ADDR", addr, "CRIER_LOG_LEVEL", "warn",
		"CRIER_QUIET_HOURS", "00:00-00:00", "CRIER_FREQUENCY_CAP", "off")
	code, keyOut, stderr := runCmd(t, getenv, "apikey", "create", "--name", "browser-test", "--role", "admin")
	require.Equal(t, 0, code, stderr)

	cfg, err := loadConfig(getenv)
	require.NoError(t, err)
	a, err := openApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{} // crash_test.go's
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"all"}, getenv, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("crier all did not stop within 20 s")
		}
		a.Close()
		if t.Failed() {
			out := logs.String()
			if len(out) > 6000 {
				out = "…" + out[len(out)-6000:]
			}
			t.Logf("crier all's log (warnings and errors):\n%s", out)
		}
	})

	p := &product{base: "http://" + addr, app: a, users: auth.NewUsers(a.pool)}
	p.users.SetCost(4) // bcrypt's least cost: sign-ins are not what these tests time
	p.api = &apiClient{t: t, base: p.base, key: strings.TrimSpace(keyOut)}
	p.api.waitReady()
	return p
}

// user creates a console user of the role and returns its email and password.
func (p *product) user(t *testing.T, role auth.Role) (email, password string) {
	t.Helper()
	email = fmt.Sprintf("%s-%d@example.test", role, time.Now().UnixNano())
	password = "correct horse battery " + string(role)
	_, err := p.users.Create(context.Background(), email, role, password)
	require.NoError(t, err)
	return email, password
}

// count runs a count query on the product's database.
func (p *product) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, p.app.pool.QueryRow(context.Background(), q, args...).Scan(&n))
	return n
}

// tab is one browser tab of a headless Chromium of its own.
type tab struct {
	t      *testing.T
	ctx    context.Context
	base   string
	failed string // where the failure screenshots and pages go

	mu     sync.Mutex
	errors []string // uncaught exceptions and console.error calls, for the failure report
}

// openBrowser starts headless Chromium at 1280×900 and opens a tab; both close when the
// test ends.
func (p *product) openBrowser(t *testing.T) *tab {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	// The first run starts the browser, bound to ctx: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s headless: %v", findChromium(t), err)
	}
	b := &tab{t: t, ctx: ctx, base: p.base, failed: keptDir(t)}
	b.listen()
	return b
}

// keptDir is a directory for failure screenshots that, unlike t.TempDir, stays after a
// failed test, so that the paths it prints can be opened.
func keptDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "crier-browser-")
	require.NoError(t, err)
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	return dir
}

// listen records the page's uncaught exceptions and console errors: a test that fails
// prints them, and checkNoErrors fails a test that caused any.
func (b *tab) listen() {
	add := func(s string) {
		b.mu.Lock()
		b.errors = append(b.errors, s)
		b.mu.Unlock()
	}
	exceptions := chromedp.Events(b.ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			add(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	}()
	calls := chromedp.Events(b.ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range calls {
			if err != nil {
				return
			}
			if ev.Type != runtime.ConsoleAPICalledTypeError {
				continue
			}
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			add("console.error: " + strings.Join(parts, " "))
		}
	}()
}

func (b *tab) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// fail saves a screenshot and the page's HTML, prints where, and ends the test.
func (b *tab) fail(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	name := fmt.Sprintf("failure-%d", time.Now().UnixNano())
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		msg += "\n  page: " + loc
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(b.failed, name+".png")
		if os.WriteFile(p, png, 0o644) == nil {
			msg += "\n  screenshot: " + p
		}
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		p := filepath.Join(b.failed, name+".html")
		if os.WriteFile(p, []byte(html), 0o644) == nil {
			msg += "\n  html: " + p
		}
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		msg += "\n  the page's errors:\n    " + strings.Join(errs, "\n    ")
	}
	b.t.Fatal(msg)
}

// do runs the steps within stepTimeout; on an error the test fails with a screenshot.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// eval runs a script in the page (awaiting a promise it returns) and decodes its value.
func eval[T any](b *tab, what, script string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("%s: %v", what, err)
	}
	return v
}

// waitFor polls a script until it is truthy, across navigations (a poll in the page
// would not survive one), for up to d.
func (b *tab) waitFor(what, script string, d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+script+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		b.fail("timed out after %s waiting for %s (last error: %v)", d, what, last)
	}
	b.fail("timed out after %s waiting for %s", d, what)
}

// open navigates to a console path and waits until sel is visible.
func (b *tab) open(path, sel string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// reload reloads the page and waits until sel is visible.
func (b *tab) reload(sel string) {
	b.t.Helper()
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// path is the page's path and query.
func (b *tab) path() string {
	b.t.Helper()
	return eval[string](b, "read the location", "location.pathname + location.search")
}

// text is the trimmed text of the first element matching sel ("" when there is none).
func (b *tab) text(sel string) string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return eval[string](b, "read "+sel, fmt.Sprintf(`(function () { var e = document.querySelector(%s); return e ? e.textContent.trim() : ''; })()`, q))
}

// exists reports whether an element matches sel.
func (b *tab) exists(sel string) bool {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return eval[bool](b, "look for "+sel, fmt.Sprintf(`document.querySelector(%s) !== null`, q))
}

// html is the page's whole HTML.
func (b *tab) html() string {
	b.t.Helper()
	return eval[string](b, "read the page", "document.documentElement.outerHTML")
}

// textIs waits until the element's text, without thousands separators, is want.
func (b *tab) textIs(sel, want string, d time.Duration) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	b.waitFor(fmt.Sprintf("%s to read %s", sel, want), fmt.Sprintf(
		`(function () { var e = document.querySelector(%s); return e && e.textContent.trim().replace(/[,\s\u202f\u00a0]/g, '') === %s; })()`, q, w), d)
}

// signIn signs in through the form and waits for the console's navigation bar.
func (b *tab) signIn(email, password string) {
	b.t.Helper()
	b.open("/login", "#email")
	b.do("sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`header.top nav`)),
	)
}

// fetch calls the API from the page (its cookie, and the page's CSRF token when csrf)
// and returns the status and the body.
func (b *tab) fetch(method, path string, csrf bool) (int, string) {
	b.t.Helper()
	m, _ := json.Marshal(method)
	p, _ := json.Marshal(path)
	script := fmt.Sprintf(`(function () {
		var h = {'Accept': 'application/json', 'Content-Type': 'application/json'};
		if (%t) { h['X-CSRF-Token'] = document.querySelector('meta[name=csrf-token]').content; }
		var opts = {method: %s, headers: h, credentials: 'same-origin'};
		if (%s !== 'GET') { opts.body = '{}'; }
		return fetch(%s, opts).then(function (r) { return r.text().then(function (t) { return {status: r.status, body: t}; }); });
	})()`, csrf, m, m, p)
	res := eval[struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}](b, method+" "+path+" from the page", script)
	return res.Status, res.Body
}

// download clicks a link and returns the file the browser saved.
func (b *tab) download(sel string) (name string, data []byte) {
	b.t.Helper()
	dir := b.t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		b.fail("allow downloads: %v", err)
	}
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".crdownload") {
				data, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err == nil && len(data) > 0 {
					return e.Name(), data
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.fail("clicking %s downloaded nothing within %s", sel, stepTimeout)
	return "", nil
}

// screenshotDir is where screenshots go: docs/screenshots with CRIER_SCREENSHOTS=1 (to
// commit them), else a temporary directory, so that every run still takes them and a
// page that cannot be captured fails the test either way.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("CRIER_SCREENSHOTS") == "1" {
		dir := filepath.Join("..", "..", "docs", "screenshots")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	return t.TempDir()
}

// shot saves a full-page PNG of the page as <name>.png.
func (b *tab) shot(dir, name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	// Let transitions and the page's first refresh settle.
	time.Sleep(300 * time.Millisecond)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	require.NoError(b.t, os.WriteFile(p, png, 0o644))
	b.t.Logf("screenshot %s", p)
}

// checkNoErrors fails the test when a page threw or logged an error.
func (b *tab) checkNoErrors() {
	b.t.Helper()
	if errs := b.pageErrors(); len(errs) > 0 {
		b.t.Errorf("the pages reported errors:\n  %s", strings.Join(errs, "\n  "))
	}
}

// TestConsoleSignIn: a browser without a session is sent to the sign-in page and back to
// the page it asked for; a wrong password is refused on the page; signing out ends the
// session.
func TestConsoleSignIn(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	email, password := p.user(t, auth.Marketer)
	b := p.openBrowser(t)
	shots := screenshotDir(t)

	b.open("/campaigns", "#email")
	require.Equal(t, "/login?next=%2Fcampaigns", b.path(), "no session: the sign-in page, to come back after")
	b.shot(shots, "signin")

	b.do("a wrong password",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
	)
	require.Contains(t, b.text("[role=alert]"), "The email or password is wrong")
	require.False(t, b.exists("header.top nav"), "still signed out")

	require.Equal(t, email, eval[string](b, "the email", "document.querySelector('#email').value"), "kept")
	b.do("the right password",
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`header.top nav`)),
	)
	require.Equal(t, "/campaigns", b.path(), "back where the browser asked to go")
	require.Contains(t, b.text("header.top .who"), email)
	require.Contains(t, b.text("header.top .who"), "marketer")
	cookies := eval[string](b, "read document.cookie", "document.cookie")
	require.NotContains(t, cookies, "crier_session", "the session cookie is HttpOnly")

	b.do("sign out",
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)
	b.open("/campaigns", "#email")
	require.True(t, strings.HasPrefix(b.path(), "/login"), "the session ended")
	require.Equal(t, 1, p.count(t, `SELECT count(*) FROM audit_log WHERE action = 'user.sign_in' AND status = 401`))
	require.Equal(t, 1, p.count(t, `SELECT count(*) FROM audit_log WHERE action = 'user.sign_out'`))
	b.checkNoErrors()
}
