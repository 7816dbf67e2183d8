package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
)

// signInBundle is a server with the console's users and real Redis throttles.
type signInBundle struct {
	srv   *httptest.Server
	pool  *pgxpool.Pool
	users *auth.Users
}

const goodPassword = "correct horse battery"

func signInSetup(t *testing.T, o httpapi.Options) *signInBundle {
	t.Helper()
	t.Parallel()
	return newSignInServer(t, o)
}

// newSignInServer is signInSetup for a second server in the same test.
func newSignInServer(t *testing.T, o httpapi.Options) *signInBundle {
	t.Helper()
	pool := testdb.New(t)
	users := auth.NewUsers(pool)
	users.SetCost(bcrypt.MinCost)
	api := httpapi.New(httpapi.Deps{Users: users, Keys: auth.NewKeys(pool), Audit: audit.NewLog(pool), Redis: testredis.New(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, o)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &signInBundle{srv: srv, pool: pool, users: users}
}

func (b *signInBundle) user(t *testing.T, email string, role auth.Role) auth.User {
	t.Helper()
	u, err := b.users.Create(context.Background(), email, role, goodPassword)
	require.NoError(t, err)
	return u
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// form is the sign-in form as a browser holds it: the double-submit cookie and the
// hidden field.
type form struct{ cookie, field string }

// openForm GETs a sign-in page and returns its CSRF cookie and field.
func (b *signInBundle) openForm(t *testing.T, path string) form {
	t.Helper()
	res, err := noRedirects.Get(b.srv.URL + path)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	var f form
	for _, c := range res.Cookies() {
		if c.Name == "crier_signin" {
			f.cookie = c.Value
			require.True(t, c.HttpOnly)
			require.Equal(t, http.SameSiteLaxMode, c.SameSite)
		}
	}
	m := csrfField.FindStringSubmatch(string(body))
	require.NotNil(t, m, "the form has a csrf field")
	f.field = m[1]
	require.NotEmpty(t, f.cookie, "GET sets the double-submit cookie")
	require.Equal(t, f.cookie, f.field, "the cookie and the field hold the same token")
	return f
}

// post sends a form with the sign-in cookie and, from header, extra headers.
func (b *signInBundle) post(t *testing.T, path string, f form, values url.Values, header ...string) *http.Response {
	t.Helper()
	if f.field != "" {
		values.Set("csrf", f.field)
	}
	req, err := http.NewRequest("POST", b.srv.URL+path, strings.NewReader(values.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if f.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "crier_signin", Value: f.cookie})
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := noRedirects.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func (b *signInBundle) signIn(t *testing.T, email, password string, header ...string) *http.Response {
	t.Helper()
	return b.post(t, "/login", b.openForm(t, "/login"), url.Values{"email": {email}, "password": {password}}, header...)
}

func sessionCookieOf(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == "crier_session" && c.Value != "" {
			return c
		}
	}
	return nil
}

// call sends a request with a session cookie and, when csrf is not empty, the token.
func (b *signInBundle) call(t *testing.T, method, path, session, csrf, body string, header ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "crier_session", Value: session})
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := noRedirects.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusSeeOther {
		return res.StatusCode, res.Header.Get("Location")
	}
	return res.StatusCode, string(data)
}

// sessionOf signs in through the form and returns the session cookie and its CSRF token
// (read from a page, as the console's script does).
func (b *signInBundle) sessionOf(t *testing.T, email string) (cookie, csrf string) {
	t.Helper()
	res := b.signIn(t, email, goodPassword)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	c := sessionCookieOf(res)
	require.NotNil(t, c)
	status, page := b.call(t, "GET", "/account", c.Value, "", "")
	require.Equal(t, http.StatusOK, status, page)
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(page)
	require.NotNil(t, m)
	return c.Value, m[1]
}

type auditRow struct {
	actor       string
	actorUserID *int64
	status      int
	targetID    string
}

func (b *signInBundle) audited(t *testing.T, action string) []auditRow {
	t.Helper()
	rows, err := b.pool.Query(context.Background(),
		`SELECT actor, actor_user_id, status, target_id FROM audit_log WHERE action = $1 ORDER BY id`, action)
	require.NoError(t, err)
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		require.NoError(t, rows.Scan(&r.actor, &r.actorUserID, &r.status, &r.targetID))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestSignInCookies: the right password starts a session whose cookie JavaScript cannot
// read, another site's POST does not carry, and that is Secure behind TLS (a trusted
// proxy's X-Forwarded-Proto, never an untrusted client's).
func TestSignInCookies(t *testing.T) {
	b := signInSetup(t, httpapi.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	u := b.user(t, "ana@example.com", auth.Marketer)

	res := b.signIn(t, "Ana@Example.com", goodPassword)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/", res.Header.Get("Location"))
	c := sessionCookieOf(res)
	require.NotNil(t, c)
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, c.SameSite)
	require.False(t, c.Secure, "plain HTTP: a Secure cookie would never come back")
	require.Equal(t, "/", c.Path)
	require.Positive(t, c.MaxAge)

	res = b.signIn(t, "ana@example.com", goodPassword, "X-Forwarded-Proto", "https")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.True(t, sessionCookieOf(res).Secure, "TLS ended at a trusted proxy: Secure")

	// The success is audited with the user as the actor.
	rows := b.audited(t, "user.sign_in")
	require.Len(t, rows, 2)
	require.Equal(t, http.StatusSeeOther, rows[0].status)
	require.Equal(t, u.ID, *rows[0].actorUserID)

	// Without a trusted proxy, the header is the client's word: not believed.
	plain := newSignInServer(t, httpapi.Options{})
	plain.user(t, "ana@example.com", auth.Marketer)
	res = plain.signIn(t, "ana@example.com", goodPassword, "X-Forwarded-Proto", "https")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.False(t, sessionCookieOf(res).Secure)
}

// TestSignInRefusals: a wrong password, a form without its CSRF token, and a redirect to
// another site after sign-in.
func TestSignInRefusals(t *testing.T) {
	b := signInSetup(t, httpapi.Options{})
	b.user(t, "ana@example.com", auth.Marketer)

	res := b.signIn(t, "ana@example.com", "not the password")
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Nil(t, sessionCookieOf(res))
	rows := b.audited(t, "user.sign_in")
	require.Len(t, rows, 1)
	require.Equal(t, http.StatusUnauthorized, rows[0].status)
	require.Equal(t, "ana@example.com", rows[0].actor, "the email tried is the actor")
	require.Nil(t, rows[0].actorUserID)

	// The form without the csrf field, with a wrong one, or without the cookie: 403.
	f := b.openForm(t, "/login")
	for _, bad := range []form{{cookie: f.cookie}, {cookie: f.cookie, field: "0123456789abcdef0123456789abcdef"}, {field: f.field}} {
		res = b.post(t, "/login", bad, url.Values{"email": {"ana@example.com"}, "password": {goodPassword}})
		require.Equal(t, http.StatusForbidden, res.StatusCode, "%+v", bad)
		require.Nil(t, sessionCookieOf(res))
	}
	// A browser that says another site sent the form: 403 too.
	res = b.post(t, "/login", f, url.Values{"email": {"ana@example.com"}, "password": {goodPassword}}, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	// next stays on this site.
	for next, want := range map[string]string{
		"//evil.example":          "/",
		"https://evil.example/x":  "/",
		"/\\evil.example":         "/",
		"/campaigns?status=draft": "/campaigns?status=draft",
	} {
		res = b.post(t, "/login", b.openForm(t, "/login?next="+url.QueryEscape(next)),
			url.Values{"email": {"ana@example.com"}, "password": {goodPassword}, "next": {next}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, next)
		require.Equal(t, want, res.Header.Get("Location"), next)
	}
}

// TestSignInThrottles: failures are limited per client address, and per email across
// addresses; past either, even the right password is refused with 429.
func TestSignInThrottles(t *testing.T) {
	b := signInSetup(t, httpapi.Options{AuthFailuresPerMinute: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	b.user(t, "ana@example.com", auth.Marketer)
	b.user(t, "bo@example.com", auth.Marketer)

	from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, b.signIn(t, "ana@example.com", "guess guess guess", from("203.0.113.7")...).StatusCode)
	}
	require.Equal(t, http.StatusTooManyRequests, b.signIn(t, "bo@example.com", goodPassword, from("203.0.113.7")...).StatusCode,
		"the address has failed 3 times this minute: refused, right password or not")
	require.Equal(t, http.StatusSeeOther, b.signIn(t, "bo@example.com", goodPassword, from("198.51.100.1")...).StatusCode,
		"another address is not")

	// Ten failures for one email from ten addresses: the email is refused from anywhere.
	for i := range 10 {
		addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}).String()
		require.Equal(t, http.StatusUnauthorized, b.signIn(t, "BO@example.com", "guess guess guess", from(addr)...).StatusCode, i)
	}
	require.Equal(t, http.StatusTooManyRequests, b.signIn(t, "bo@example.com", goodPassword, from("192.0.2.200")...).StatusCode,
		"guessing one person's password from many addresses is throttled too")
	require.Equal(t, http.StatusSeeOther, b.signIn(t, "ana@example.com", goodPassword, from("192.0.2.201")...).StatusCode,
		"another email is not")
}

// TestSessionChangesNeedCSRF: with the session cookie alone a change is refused; with the
// session's token it is made, and audited with the user as the actor.
func TestSessionChangesNeedCSRF(t *testing.T) {
	b := signInSetup(t, httpapi.Options{})
	admin := b.user(t, "admin@example.com", auth.Admin)
	bo := b.user(t, "bo@example.com", auth.Marketer)
	cookie, csrf := b.sessionOf(t, "admin@example.com")
	path := "/v1/users/" + fmt.Sprint(bo.ID)

	status, body := b.call(t, "PATCH", path, cookie, "", `{"role":"ops"}`)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "CSRF token")
	status, _ = b.call(t, "PATCH", path, cookie, "wrong-token", `{"role":"ops"}`)
	require.Equal(t, http.StatusForbidden, status)
	status, _ = b.call(t, "PATCH", path, cookie, csrf, `{"role":"ops"}`, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, status, "a browser that says another site sent it")
	got, err := b.users.Get(context.Background(), bo.ID)
	require.NoError(t, err)
	require.Equal(t, auth.Marketer, got.Role, "nothing changed")

	status, body = b.call(t, "PATCH", path, cookie, csrf, `{"role":"ops"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"role":"ops"`)
	rows := b.audited(t, "user.update")
	require.Len(t, rows, 1)
	require.Equal(t, admin.ID, *rows[0].actorUserID)
	require.Equal(t, "admin@example.com", rows[0].actor)
	require.Equal(t, http.StatusOK, rows[0].status)
	require.Equal(t, fmt.Sprint(bo.ID), rows[0].targetID)

	// Reading needs no token.
	status, _ = b.call(t, "GET", "/v1/users", cookie, "", "")
	require.Equal(t, http.StatusOK, status)
}

// TestSignOutAndEndedSessions: signing out needs the form's token and ends the session;
// disabling a user or changing their role ends theirs at once.
func TestSignOutAndEndedSessions(t *testing.T) {
	b := signInSetup(t, httpapi.Options{})
	b.user(t, "admin@example.com", auth.Admin)
	bo := b.user(t, "bo@example.com", auth.Marketer)
	cookie, csrf := b.sessionOf(t, "bo@example.com")

	signOut := func(token string) int {
		req, err := http.NewRequest("POST", b.srv.URL+"/logout", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "crier_session", Value: cookie})
		res, err := noRedirects.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusForbidden, signOut(""), "another site cannot sign a user out")
	status, _ := b.call(t, "GET", "/account", cookie, "", "")
	require.Equal(t, http.StatusOK, status, "still signed in")
	require.Equal(t, http.StatusSeeOther, signOut(csrf))
	status, loc := b.call(t, "GET", "/account", cookie, "", "")
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/login?next=%2Faccount", loc, "signed out: the session is gone on the server")
	status, _ = b.call(t, "GET", "/v1/me/password", cookie, "", "")
	require.NotEqual(t, http.StatusOK, status)
	require.Len(t, b.audited(t, "user.sign_out"), 1)

	// An admin disables bo: bo's live session stops at once.
	admin, adminCSRF := b.sessionOf(t, "admin@example.com")
	cookie, _ = b.sessionOf(t, "bo@example.com")
	status, body := b.call(t, "PATCH", "/v1/users/"+fmt.Sprint(bo.ID), admin, adminCSRF, `{"disabled":true}`)
	require.Equal(t, http.StatusOK, status, body)
	status, _ = b.call(t, "GET", "/account", cookie, "", "")
	require.Equal(t, http.StatusSeeOther, status, "a disabled user's session no longer works")
	require.Equal(t, http.StatusUnauthorized, b.signIn(t, "bo@example.com", goodPassword).StatusCode)

	// Enabled again, bo signs in; a role change signs bo out.
	status, _ = b.call(t, "PATCH", "/v1/users/"+fmt.Sprint(bo.ID), admin, adminCSRF, `{"disabled":false}`)
	require.Equal(t, http.StatusOK, status)
	cookie, _ = b.sessionOf(t, "bo@example.com")
	status, _ = b.call(t, "PATCH", "/v1/users/"+fmt.Sprint(bo.ID), admin, adminCSRF, `{"role":"compliance"}`)
	require.Equal(t, http.StatusOK, status)
	status, _ = b.call(t, "GET", "/account", cookie, "", "")
	require.Equal(t, http.StatusSeeOther, status, "a role change ends the user's sessions")
	cookie, _ = b.sessionOf(t, "bo@example.com")
	status, page := b.call(t, "GET", "/account", cookie, "", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "compliance", "the new session has the new role")
}

// TestSignInLinkWorksOnce: an admin's link opens a form (opening it changes nothing, as
// mail scanners open links); pressing it signs in once; a second time is refused.
func TestSignInLinkWorksOnce(t *testing.T) {
	b := signInSetup(t, httpapi.Options{PublicURL: "https://crier.example.com/"})
	b.user(t, "admin@example.com", auth.Admin)
	link, err := b.users.Create(context.Background(), "new@example.com", auth.Ops, "")
	require.NoError(t, err)
	admin, csrf := b.sessionOf(t, "admin@example.com")

	status, body := b.call(t, "POST", "/v1/users/"+fmt.Sprint(link.ID)+"/sign-in-link", admin, csrf, "")
	require.Equal(t, http.StatusCreated, status, body)
	m := regexp.MustCompile(`"url":"https://crier\.example\.com(/login/link/[a-z2-7]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "the link starts with the public URL: %s", body)
	path := m[1]

	f := b.openForm(t, path)
	f2 := b.openForm(t, path)
	res := b.post(t, path, f, url.Values{})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/account", res.Header.Get("Location"), "to the account page, to set a password")
	c := sessionCookieOf(res)
	require.NotNil(t, c)
	status, page := b.call(t, "GET", "/account", c.Value, "", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "new@example.com")
	require.Contains(t, page, "Set a password")

	res = b.post(t, path, f2, url.Values{})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode, "a link works once")
	require.Nil(t, sessionCookieOf(res))
	res = b.post(t, path[:len(path)-1]+"a", b.openForm(t, path), url.Values{})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode, "a made-up link")
	rows := b.audited(t, "user.sign_in_link")
	require.Len(t, rows, 1)
	require.Equal(t, fmt.Sprint(link.ID), rows[0].targetID)
	require.NotContains(t, rows[0].actor+rows[0].targetID, path[len("/login/link/"):], "the token is not in the audit log")
}
