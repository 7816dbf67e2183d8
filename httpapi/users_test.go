package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// TestUsersAPI: an admin creates, lists, reads and changes console users; the answers
// never hold a hash; only admins may; each change is audited.
func TestUsersAPI(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "POST", "/v1/users", map[string]any{"email": " Ana@Example.com ", "role": "marketer", "password": "correct horse battery"})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	ana := res.json(t)
	require.Equal(t, "ana@example.com", ana["email"])
	require.Equal(t, "marketer", ana["role"])
	require.Equal(t, true, ana["has_password"])
	require.Equal(t, false, ana["disabled"])
	require.NotContains(t, string(res.body), "$2a$", "never a hash")
	require.NotContains(t, string(res.body), "correct horse")
	id := int64(ana["id"].(float64))
	require.Equal(t, fmt.Sprintf("/v1/users/%d", id), res.header.Get("Location"))

	// Field errors.
	res = b.do(t, auth.Admin, "POST", "/v1/users", map[string]any{"email": "ana@example.com", "role": "ops"})
	require.Equal(t, http.StatusConflict, res.status)
	res = b.do(t, auth.Admin, "POST", "/v1/users", map[string]any{"email": "nope", "role": "root", "password": "short"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
	require.Contains(t, res.fieldErrors(t), "email")
	res = b.do(t, auth.Admin, "POST", "/v1/users", map[string]any{"email": "x@example.com", "role": "root"})
	require.Contains(t, res.fieldErrors(t)["role"], "the roles are")
	res = b.do(t, auth.Admin, "POST", "/v1/users", map[string]any{"email": "x@example.com", "role": "ops", "password": "short"})
	require.Contains(t, res.fieldErrors(t)["password"], "at least 12")

	res = b.do(t, auth.Admin, "GET", "/v1/users", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"email":"ana@example.com"`)
	require.NotContains(t, string(res.body), "password_hash")
	res = b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/users/%d", id), nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "ana@example.com", res.json(t)["email"])
	require.Equal(t, http.StatusNotFound, b.do(t, auth.Admin, "GET", "/v1/users/99999", nil).status)

	res = b.do(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/users/%d", id), map[string]any{"role": "compliance", "disabled": true})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.Equal(t, "compliance", res.json(t)["role"])
	require.Equal(t, true, res.json(t)["disabled"])
	res = b.do(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/users/%d", id), map[string]any{"role": "root"})
	require.Contains(t, res.fieldErrors(t)["role"], "unknown role")
	res = b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/users/%d/sign-in-link", id), nil)
	require.Equal(t, http.StatusNotFound, res.status, "a disabled user gets no link")
	b.do(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/users/%d", id), map[string]any{"disabled": false})

	// Without PublicURL the link starts with the request's own host.
	res = b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/users/%d/sign-in-link", id), nil)
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	require.Regexp(t, `^`+regexp.QuoteMeta(b.srv.URL)+`/login/link/[a-z2-7]{52}$`, res.json(t)["url"])
	require.NotEmpty(t, res.json(t)["expires_at"])

	for _, role := range []auth.Role{auth.Marketer, auth.Ops, auth.Agent, auth.Compliance} {
		require.Equal(t, http.StatusForbidden, b.do(t, role, "GET", "/v1/users", nil).status, role)
		require.Equal(t, http.StatusForbidden, b.do(t, role, "POST", "/v1/users", map[string]any{"email": "y@example.com", "role": "admin"}).status, role)
	}

	var actions []string
	rows, err := b.pool.Query(context.Background(), `SELECT action || ':' || status FROM audit_log WHERE action LIKE 'user.%' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	require.Contains(t, actions, "user.create:201")
	require.Contains(t, actions, "user.update:200")
	require.Contains(t, actions, "user.sign_in_link:201")
	require.Contains(t, actions, "user.create:403", "a refused attempt is audited")
	var detail string
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT detail::text FROM audit_log WHERE action = 'user.sign_in_link' AND status = 201`).Scan(&detail))
	require.NotContains(t, detail, "/login/link/", "the link is not in the audit log")
}

// TestAdminCannotLockThemselvesOut: an admin may not demote or disable themselves.
func TestAdminCannotLockThemselvesOut(t *testing.T) {
	b := setup(t)
	me := b.page(t, auth.Admin, "GET", "/account", nil)
	require.Equal(t, http.StatusOK, me.status)
	u, err := b.users.SignIn(context.Background(), "admin@example.com", "correct horse battery")
	require.NoError(t, err)
	res := b.page(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/users/%d", u.User.ID), map[string]any{"role": "ops", "disabled": true})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
	fe := res.fieldErrors(t)
	require.Contains(t, fe["role"], "another admin")
	require.Contains(t, fe["disabled"], "another admin")
}

// TestMePassword: a signed-in user changes their own password with the current one; a
// wrong one is refused by field; an API key has no password to change.
func TestMePassword(t *testing.T) {
	b := setup(t)
	res := b.page(t, auth.Agent, "POST", "/v1/me/password", map[string]any{"current_password": "wrong wrong wrong", "new_password": "a brand new passphrase"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
	require.Equal(t, "is wrong", res.fieldErrors(t)["current_password"])
	res = b.page(t, auth.Agent, "POST", "/v1/me/password", map[string]any{"current_password": "correct horse battery", "new_password": "short"})
	require.Contains(t, res.fieldErrors(t)["new_password"], "at least 12")
	res = b.page(t, auth.Agent, "POST", "/v1/me/password", map[string]any{"current_password": "correct horse battery", "new_password": "a brand new passphrase"})
	require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)
	_, err := b.users.SignIn(context.Background(), "agent@example.com", "a brand new passphrase")
	require.NoError(t, err)
	_, err = b.users.SignIn(context.Background(), "agent@example.com", "correct horse battery")
	require.ErrorIs(t, err, auth.ErrBadSignIn)

	res = b.do(t, auth.Agent, "POST", "/v1/me/password", map[string]any{"current_password": "x", "new_password": "a brand new passphrase"})
	require.Equal(t, http.StatusConflict, res.status)
	require.Contains(t, res.json(t)["detail"], "an API key has no password")

	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM audit_log WHERE action = 'user.password' AND status = 204 AND actor_user_id IS NOT NULL`).Scan(&n))
	require.Equal(t, 1, n)
}

// TestConsoleUserPages: the account page for every role, the users page for admins only,
// with their forms pointing at the API.
func TestConsoleUserPages(t *testing.T) {
	b := setup(t)
	for _, role := range auth.Roles {
		res := b.page(t, role, "GET", "/account", nil)
		require.Equal(t, http.StatusOK, res.status, role)
		html := string(res.body)
		require.Contains(t, html, string(role)+"@example.com")
		require.Contains(t, html, `data-api="POST /v1/me/password"`)
		require.Contains(t, html, `id="current_password"`, "a user with a password gives it")
		require.NotContains(t, html, " style=")
		if role != auth.Admin {
			res = b.page(t, role, "GET", "/users", nil)
			require.Equal(t, http.StatusForbidden, res.status, role)
			require.NotContains(t, string(res.body), "admin@example.com")
		}
	}
	_, err := b.users.Create(context.Background(), "linkonly@example.com", auth.Ops, "")
	require.NoError(t, err)
	res := b.page(t, auth.Admin, "GET", "/users", nil)
	require.Equal(t, http.StatusOK, res.status)
	html := string(res.body)
	for _, want := range []string{`data-api="POST /v1/users"`, "linkonly@example.com", "no password", `data-api="PATCH /v1/users/`,
		`/sign-in-link"`, `data-json='{"disabled":true}'`, "/static/users.js", "marketer@example.com"} {
		require.Contains(t, html, want)
	}
	// The admin's own row offers no role change or disable.
	own := html[strings.Index(html, `<th scope="row">admin@example.com`):]
	own = own[:strings.Index(own, "</tr>")]
	require.Contains(t, own, "(you)")
	require.NotContains(t, own, "Disable")
	require.NotContains(t, own, "Change role")
	require.NotContains(t, html, "$2a$")
}
