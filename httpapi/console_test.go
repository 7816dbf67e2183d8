package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// TestConsoleFrame checks what every console page shares: no session means the sign-in
// page (coming back after), the menu shows a role only its own pages, a page a role may not
// see is an HTML 403, the pages and their static files carry a CSP without inline script,
// and / sends each role to its first page.
func TestConsoleFrame(t *testing.T) {
	b := setup(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := client.Get(b.srv.URL + "/contacts?tag=vip")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/login?next=%2Fcontacts%3Ftag%3Dvip", res.Header.Get("Location"))

	res, err = client.Get(b.srv.URL + "/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "/login", res.Header.Get("Location"), "no session: sign in")

	page := b.page(t, auth.Marketer, "GET", "/", nil)
	require.Equal(t, http.StatusSeeOther, page.status)
	require.Equal(t, "/campaigns", page.header.Get("Location"))
	page = b.page(t, auth.Agent, "GET", "/", nil)
	require.Equal(t, "/lookup", page.header.Get("Location"), "an agent's only page")
	page = b.page(t, auth.Compliance, "GET", "/", nil)
	require.Equal(t, "/contacts", page.header.Get("Location"))

	page = b.page(t, auth.Marketer, "GET", "/audit", nil)
	require.Equal(t, http.StatusForbidden, page.status)
	require.Equal(t, "text/html; charset=utf-8", page.header.Get("Content-Type"))
	html := string(page.body)
	require.Contains(t, html, "needs the audit:read permission")
	require.Contains(t, html, `href="/campaigns"`, "the menu lists the marketer's pages")
	require.NotContains(t, html, `href="/audit"`, "and not the ones the role may not open")
	require.NotContains(t, html, `href="/users"`)
	require.Contains(t, page.header.Get("Content-Security-Policy"), "script-src 'self';")
	require.NotContains(t, page.header.Get("Content-Security-Policy"), "unsafe-inline")

	page = b.page(t, auth.Admin, "GET", "/audit", nil)
	require.Contains(t, string(page.body), `href="/users"`, "an admin sees every page")

	for _, f := range []string{"console.js", "console.css"} {
		res, err := client.Get(b.srv.URL + "/static/" + f)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, f)
		require.Equal(t, "no-cache", res.Header.Get("Cache-Control"), "without the version, revalidate")
	}
	for _, bad := range []string{"/static/nope.js", "/static/../console.go", "/static/"} {
		res, err := client.Get(b.srv.URL + bad)
		require.NoError(t, err)
		res.Body.Close()
		require.NotEqual(t, http.StatusOK, res.StatusCode, bad)
	}

	// The pages' markup has no inline script or style the CSP would block.
	login, err := client.Get(b.srv.URL + "/login")
	require.NoError(t, err)
	defer login.Body.Close()
	var sb strings.Builder
	_, _ = io.Copy(&sb, login.Body)
	require.NotContains(t, sb.String(), " style=")
	require.NotContains(t, sb.String(), " onclick=")
}

// TestAuditByUser: a change made from a console session is audited with the user as the
// actor, and the audit log filters by that user.
func TestAuditByUser(t *testing.T) {
	b := setup(t)
	res := b.page(t, auth.Marketer, "POST", "/v1/contacts", map[string]any{"phone": "+6591230077", "name": "Ana"})
	require.Contains(t, []int{200, 201}, res.status, "%s", res.body)
	marketer, err := b.users.List(t.Context())
	require.NoError(t, err)
	require.Len(t, marketer, 1)
	res = b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{"phone": "+6591230078", "name": "Bo"})
	require.Contains(t, []int{200, 201}, res.status, "%s", res.body)

	res = b.do(t, auth.Compliance, "GET", fmt.Sprintf("/v1/audit?actor_user_id=%d", marketer[0].ID), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	data := res.json(t)["data"].([]any)
	require.Len(t, data, 1, "only the user's entry, not the API key's")
	e := data[0].(map[string]any)
	require.Equal(t, "contact.upsert", e["action"])
	require.Equal(t, float64(marketer[0].ID), e["actor_user_id"])
	require.Equal(t, "marketer@example.com", e["actor"])
	require.Equal(t, "", e["actor_key_id"])

	res = b.do(t, auth.Compliance, "GET", "/v1/audit?actor_user_id=abc", nil)
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t), "actor_user_id")
}
