package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// auditCount counts the audit entries of an action made by the console user of a role.
func (b *testBundle) auditCount(t *testing.T, role auth.Role, action string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM audit_log a JOIN users u ON u.id = a.actor_user_id
		WHERE u.email = $1 AND a.action = $2`, string(role)+"@example.com", action).Scan(&n))
	return n
}

// auditDetail returns the detail of the newest audit entry of an action by a role's user.
func (b *testBundle) auditDetail(t *testing.T, role auth.Role, action string) map[string]any {
	t.Helper()
	var d map[string]any
	require.NoError(t, b.pool.QueryRow(context.Background(), `
		SELECT a.detail FROM audit_log a JOIN users u ON u.id = a.actor_user_id
		WHERE u.email = $1 AND a.action = $2 ORDER BY a.id DESC LIMIT 1`, string(role)+"@example.com", action).Scan(&d))
	return d
}

// pageNoCSRF sends a change with a role's session cookie but without the CSRF token, as a
// form on another site would.
func (b *testBundle) pageNoCSRF(t *testing.T, role auth.Role, method, path string) int {
	t.Helper()
	cookie, _ := b.session(t, role)
	req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader("{}"))
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "crier_session", Value: cookie})
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func requireNoInlineCode(t *testing.T, html string) {
	t.Helper()
	require.NotContains(t, html, " style=")
	require.NotContains(t, html, " onclick=")
	require.NotRegexp(t, `<script>[^<]`, html, "no inline script")
}

func TestConsoleContactsList(t *testing.T) {
	b := setup(t)
	for i := range 5 {
		res := b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{
			"phone": fmt.Sprintf("+49151234567%02d", i), "name": fmt.Sprintf("Person %d", i), "tags": tagsFor(i)})
		require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	}

	// A marketer sees the numbers masked and every contact's name and tags.
	page := b.page(t, auth.Marketer, "GET", "/contacts", nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html := string(page.body)
	requireNoInlineCode(t, html)
	require.Contains(t, html, "Person 0")
	require.Contains(t, html, "Person 4")
	require.Contains(t, html, `<span class="badge">vip</span>`)
	require.Contains(t, html, "49•••••••••00")
	require.NotContains(t, html, "4915123456700", "masked for a marketer")
	require.Contains(t, html, `href="/contacts/`)
	require.Contains(t, html, `href="/imports/new"`, "a marketer may import")
	require.Equal(t, 0, b.auditCount(t, auth.Marketer, "contact.list"), "nothing read in clear, nothing audited")

	// Compliance sees them in clear, and the read is audited as GET /v1/contacts is.
	page = b.page(t, auth.Compliance, "GET", "/contacts", nil)
	require.Equal(t, http.StatusOK, page.status)
	html = string(page.body)
	require.Contains(t, html, "4915123456700")
	require.NotContains(t, html, `href="/imports/new"`, "compliance may not import")
	require.Equal(t, 1, b.auditCount(t, auth.Compliance, "contact.list"))
	d := b.auditDetail(t, auth.Compliance, "contact.list")
	require.EqualValues(t, 5, d["contacts"])
	require.Equal(t, false, d["by_phone"])

	// By tag, and a page at a time with a Next link that carries the cursor and the filter.
	page = b.page(t, auth.Marketer, "GET", "/contacts?tag=vip&limit=2", nil)
	html = string(page.body)
	require.Contains(t, html, "Person 0")
	require.Contains(t, html, "Person 2")
	require.NotContains(t, html, "Person 1", "not tagged vip")
	require.NotContains(t, html, "Person 4", "on the next page")
	next := regexp.MustCompile(`href="/contacts\?([^"]+)" rel="next"`).FindStringSubmatch(html)
	require.NotNil(t, next, "a Next link: %s", html)
	require.Contains(t, next[1], "tag=vip")
	require.Contains(t, next[1], "cursor=")
	page = b.page(t, auth.Marketer, "GET", "/contacts?limit=2&"+strings.ReplaceAll(next[1], "&amp;", "&"), nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html = string(page.body)
	require.Contains(t, html, "Person 4")
	require.NotContains(t, html, "Person 0")
	require.NotContains(t, html, `rel="next"`, "the last page")
	require.Contains(t, html, "First page")

	// A marketer's search by number learns only whether it is a contact's, and is audited.
	page = b.page(t, auth.Marketer, "GET", "/contacts?phone=%2B4915123456703", nil)
	html = string(page.body)
	require.Contains(t, html, "A contact has this number")
	require.NotContains(t, html, "Person 3")
	require.NotContains(t, html, `href="/contacts/`, "no way from the number to the contact")
	require.Equal(t, 1, b.auditCount(t, auth.Marketer, "contact.lookup"))
	require.Equal(t, true, b.auditDetail(t, auth.Marketer, "contact.lookup")["found"])
	page = b.page(t, auth.Marketer, "GET", "/contacts?phone=%2B4915123456799", nil)
	require.Contains(t, string(page.body), "No contact has this number")

	// Compliance's search by number shows the one contact in clear.
	page = b.page(t, auth.Compliance, "GET", "/contacts?phone=0151+234567+03&default_country=DE", nil)
	html = string(page.body)
	require.Contains(t, html, "Person 3")
	require.Contains(t, html, "4915123456703")
	require.NotContains(t, html, "Person 2")
	require.Equal(t, true, b.auditDetail(t, auth.Compliance, "contact.list")["by_phone"])

	// A malformed number is shown beside the form, not as an error page.
	page = b.page(t, auth.Compliance, "GET", "/contacts?phone=12", nil)
	require.Equal(t, http.StatusOK, page.status)
	require.Contains(t, string(page.body), `role="alert">phone: `)

	// An agent looks contacts up one at a time and may not page through them.
	page = b.page(t, auth.Agent, "GET", "/contacts", nil)
	require.Equal(t, http.StatusForbidden, page.status)
	require.Contains(t, string(page.body), "contacts:list")
	require.NotContains(t, string(page.body), "Person 0")
}

func tagsFor(i int) []string {
	if i%2 == 0 {
		return []string{"vip", "newsletter"}
	}
	return []string{"newsletter"}
}

func TestConsoleContactsDetail(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{
		"phone": "+491701234567", "name": "Ada Example", "email": "ada@example.org", "tags": []string{"vip"}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	id := int64(res.json(t)["id"].(float64))
	path := fmt.Sprintf("/contacts/%d", id)
	// Two ledger entries: a grant whose evidence holds an email, then a withdrawal.
	res = b.do(t, auth.Compliance, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), map[string]any{
		"status": "granted", "source": "form", "evidence": map[string]any{"form": "signup", "email": "ada@example.org"}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	res = b.do(t, auth.Compliance, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), map[string]any{
		"status": "withdrawn", "source": "agent", "evidence": map[string]any{"note": "asked by phone"}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)

	// A marketer: masked facts and evidence, tags and the withdrawal form, no export or erasure.
	page := b.page(t, auth.Marketer, "GET", path, nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html := string(page.body)
	requireNoInlineCode(t, html)
	require.Contains(t, html, "Ada Example")
	require.Contains(t, html, "49••••••••67")
	require.NotContains(t, html, "491701234567")
	require.NotContains(t, html, "ada@example.org", "the email is masked, in the facts and in the evidence")
	require.Contains(t, html, "a•••@example.org")
	require.Contains(t, html, `id="tag-add"`)
	require.Contains(t, html, fmt.Sprintf(`data-api="POST /v1/contacts/%d/tags"`, id))
	require.Contains(t, html, fmt.Sprintf(`data-api="DELETE /v1/contacts/%d/tags/vip"`, id))
	require.Contains(t, html, `id="withdraw"`)
	require.Contains(t, html, fmt.Sprintf(`data-api="POST /v1/contacts/%d/consent"`, id))
	require.Contains(t, html, `id="ledger"`)
	require.NotContains(t, html, `id="erase-button"`, "a marketer may not erase")
	require.NotContains(t, html, `id="erase-confirm"`)
	require.NotContains(t, html, `id="export-link"`)
	// The ledger is newest first: the withdrawal, then the grant.
	ledger := html[strings.Index(html, `id="ledger"`):]
	require.Less(t, strings.Index(ledger, "asked by phone"), strings.Index(ledger, "signup"))
	require.Contains(t, ledger, "key:", "the actor is shown")
	require.Equal(t, 0, b.auditCount(t, auth.Marketer, "contact.read"))
	require.Equal(t, 0, b.auditCount(t, auth.Marketer, "consent.read"))

	// A forged erasure with the marketer's own session and CSRF token is refused.
	forged := b.page(t, auth.Marketer, "POST", fmt.Sprintf("/v1/contacts/%d/erase", id), nil)
	require.Equal(t, http.StatusForbidden, forged.status, "%s", forged.body)
	require.Contains(t, string(forged.body), "privacy:erase")
	// Without the CSRF token, no role's session changes anything.
	for _, role := range []auth.Role{auth.Marketer, auth.Compliance, auth.Admin} {
		require.Equal(t, http.StatusForbidden, b.pageNoCSRF(t, role, "POST", fmt.Sprintf("/v1/contacts/%d/erase", id)), role)
	}
	require.Equal(t, http.StatusOK, b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/contacts/%d", id), nil).status, "still there")

	// Ops reads but changes no tags and records no withdrawal.
	page = b.page(t, auth.Ops, "GET", path, nil)
	require.Equal(t, http.StatusOK, page.status)
	html = string(page.body)
	require.NotContains(t, html, `id="tag-add"`)
	require.NotContains(t, html, "/tags/vip")
	require.NotContains(t, html, `id="withdraw"`)
	require.Contains(t, html, `id="ledger"`)
	require.NotContains(t, html, "491701234567")

	// Compliance: everything in clear (audited), export and the guarded erasure.
	page = b.page(t, auth.Compliance, "GET", path, nil)
	require.Equal(t, http.StatusOK, page.status)
	html = string(page.body)
	require.Contains(t, html, "491701234567")
	require.Contains(t, html, "ada@example.org")
	require.Contains(t, html, fmt.Sprintf(`id="export-link" class="button" href="/v1/contacts/%d/export" download`, id))
	require.Regexp(t, `<label for="erase-confirm">[^<]*ERASE`, html)
	require.Regexp(t, `<button[^>]*id="erase-button"[^>]*disabled`, html, "disabled until ERASE is typed")
	require.Contains(t, html, "/static/contact.js")
	require.NotContains(t, html, `id="tag-add"`, "compliance may not tag")
	require.Equal(t, 1, b.auditCount(t, auth.Compliance, "contact.read"))
	require.Equal(t, 1, b.auditCount(t, auth.Compliance, "consent.read"))

	// The export link works with the session cookie alone.
	exp := b.page(t, auth.Compliance, "GET", fmt.Sprintf("/v1/contacts/%d/export", id), nil)
	require.Equal(t, http.StatusOK, exp.status, "%s", exp.body)
	require.Contains(t, exp.header.Get("Content-Disposition"), "attachment")

	// The erasure as the page's script sends it.
	erased := b.page(t, auth.Compliance, "POST", fmt.Sprintf("/v1/contacts/%d/erase", id), nil)
	require.Equal(t, http.StatusOK, erased.status, "%s", erased.body)
	require.Equal(t, true, erased.json(t)["erased"])
	require.Equal(t, http.StatusNotFound, b.page(t, auth.Compliance, "GET", path, nil).status)

	// The script: the button is enabled only by ERASE and posts to the erase route.
	js := b.page(t, auth.Compliance, "GET", "/static/contact.js", nil)
	require.Equal(t, http.StatusOK, js.status)
	require.Contains(t, string(js.body), "'ERASE'")
	require.Contains(t, string(js.body), "/erase'")
}

func TestConsoleContactsLookup(t *testing.T) {
	b := setup(t)
	id := b.createContact(t, "+447911123456")
	b.createContact(t, "+447911123999")
	res := b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), map[string]any{
		"status": "granted", "source": "form", "evidence": map[string]any{"form": "signup"}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)

	page := b.page(t, auth.Agent, "GET", "/lookup", nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html := string(page.body)
	requireNoInlineCode(t, html)
	require.Contains(t, html, `<label for="lookup-phone">`)
	require.NotContains(t, html, `id="lookup-result"`)
	require.Equal(t, 0, b.auditCount(t, auth.Agent, "contact.list"), "no look-up, no audit")

	page = b.page(t, auth.Agent, "GET", "/lookup?phone=%2B44+7911+123456", nil)
	require.Equal(t, http.StatusOK, page.status)
	html = string(page.body)
	require.Contains(t, html, "447911123456", "in clear for an agent")
	require.NotContains(t, html, "447911123999", "only the one contact")
	require.Contains(t, html, `<span class="badge ok">granted</span>`)
	require.Contains(t, html, `id="withdraw"`)
	require.Contains(t, html, fmt.Sprintf(`data-api="POST /v1/contacts/%d/consent"`, id))
	require.NotContains(t, html, `href="/contacts`, "no list, no links to other contacts")
	require.NotContains(t, html, "signup", "no ledger evidence")
	// Audited exactly as GET /v1/contacts?phone= is for a role that sees numbers.
	require.Equal(t, 1, b.auditCount(t, auth.Agent, "contact.list"))
	d := b.auditDetail(t, auth.Agent, "contact.list")
	require.Equal(t, true, d["by_phone"])
	require.EqualValues(t, 1, d["contacts"])
	require.EqualValues(t, id, d["first_id"])
	api := b.page(t, auth.Agent, "GET", "/v1/contacts?phone=%2B447911123456", nil)
	require.Equal(t, http.StatusOK, api.status)
	require.Equal(t, d, b.auditDetail(t, auth.Agent, "contact.list"), "the same detail as the API's")

	page = b.page(t, auth.Agent, "GET", "/lookup?phone=%2B447911123555", nil)
	require.Contains(t, string(page.body), "No contact has this number")
	page = b.page(t, auth.Agent, "GET", "/lookup?phone=abc", nil)
	require.Contains(t, string(page.body), `role="alert">phone: `)

	// The withdrawal as the form sends it, with the agent's session.
	rec := b.page(t, auth.Agent, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), map[string]any{
		"status": "withdrawn", "purpose": "marketing", "source": "agent", "evidence": map[string]any{"note": "on the phone"}})
	require.Equal(t, http.StatusCreated, rec.status, "%s", rec.body)
	page = b.page(t, auth.Agent, "GET", "/lookup?phone=%2B447911123456", nil)
	require.Contains(t, string(page.body), `<span class="badge bad">withdrawn</span>`)

	for _, role := range []auth.Role{auth.Marketer, auth.Ops} {
		page = b.page(t, role, "GET", "/lookup?phone=%2B447911123456", nil)
		require.Equal(t, http.StatusForbidden, page.status, role)
		require.NotContains(t, string(page.body), "447911123456")
	}
}

func TestConsoleContactsSuppressions(t *testing.T) {
	b := setup(t)
	page := b.page(t, auth.Compliance, "GET", "/suppressions", nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html := string(page.body)
	requireNoInlineCode(t, html)
	require.Contains(t, html, "No number is suppressed")
	require.Contains(t, html, `data-api="POST /v1/suppressions"`)
	require.Contains(t, html, `<label for="add-phone">`)

	// The add form's request, then the list: hashes only, one row per purpose.
	add := b.page(t, auth.Compliance, "POST", "/v1/suppressions", map[string]any{"phone": "+33612345678", "reason": "complaint"})
	require.Equal(t, http.StatusCreated, add.status, "%s", add.body)
	for i := range 25 {
		res := b.do(t, auth.Compliance, "POST", "/v1/suppressions", map[string]any{"phone": fmt.Sprintf("+336123457%02d", i)})
		require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	}
	page = b.page(t, auth.Compliance, "GET", "/suppressions", nil)
	html = string(page.body)
	require.NotContains(t, html, "33612345678", "the list has no numbers")
	require.Contains(t, html, "complaint")
	require.Equal(t, 50, strings.Count(html, "<abbr title="), "a page of 50 of the 52 rows")
	next := regexp.MustCompile(`href="/suppressions\?cursor=([^"]+)" rel="next"`).FindStringSubmatch(html)
	require.NotNil(t, next)
	page = b.page(t, auth.Compliance, "GET", "/suppressions?cursor="+next[1], nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	require.Equal(t, 2, strings.Count(string(page.body), "<abbr title="))
	require.NotContains(t, string(page.body), `rel="next"`)

	// A search by number, hashed on the server: that number's entries, and its removal.
	page = b.page(t, auth.Compliance, "GET", "/suppressions?phone=%2B33+6+12+34+56+78", nil)
	html = string(page.body)
	require.Contains(t, html, "Entries for &#43;33612345678")
	require.Equal(t, 2, strings.Count(html, "<td>complaint</td>")+strings.Count(html, ">complaint</span>"), "marketing and utility")
	require.Contains(t, html, `data-api="DELETE /v1/suppressions/&#43;33612345678"`)
	page = b.page(t, auth.Compliance, "GET", "/suppressions?phone=%2B33699999999", nil)
	require.Contains(t, string(page.body), "This number is not suppressed")
	page = b.page(t, auth.Compliance, "GET", "/suppressions?phone=xyz", nil)
	require.Contains(t, string(page.body), `role="alert">phone: `)

	// A customer's opt-out cannot be removed by staff: no remove button for it.
	id := b.createContact(t, "+33611111111")
	res := b.do(t, auth.Compliance, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), map[string]any{"status": "withdrawn", "source": "agent"})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	page = b.page(t, auth.Compliance, "GET", "/suppressions?phone=%2B33611111111", nil)
	html = string(page.body)
	require.Contains(t, html, "opt_out")
	require.NotContains(t, html, "DELETE /v1/suppressions/")

	for _, role := range []auth.Role{auth.Marketer, auth.Agent, auth.Ops} {
		require.Equal(t, http.StatusForbidden, b.page(t, role, "GET", "/suppressions", nil).status, role)
	}
}

func TestConsoleContactsAudit(t *testing.T) {
	b := setup(t)
	id := b.createContact(t, "+12025550143")
	tag := b.page(t, auth.Marketer, "POST", fmt.Sprintf("/v1/contacts/%d/tags", id), map[string]any{"tags": []string{"gold"}})
	require.Equal(t, http.StatusOK, tag.status, "%s", tag.body)

	page := b.page(t, auth.Compliance, "GET", "/audit", nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html := string(page.body)
	requireNoInlineCode(t, html)
	require.Contains(t, html, "contact.upsert")
	require.Contains(t, html, "contact.tag")
	require.Contains(t, html, "marketer@example.com", "the acting user")
	require.Contains(t, html, `{&#34;tags&#34;:[&#34;gold&#34;]}`, "the detail as compact JSON")
	require.NotContains(t, html, "12025550143", "no number in the audit log")
	for _, label := range []string{"f-action", "f-target-type", "f-target-id", "f-key", "f-user"} {
		require.Contains(t, html, `<label for="`+label+`">`)
	}

	// Filters: by action, by target, by the acting user.
	page = b.page(t, auth.Compliance, "GET", "/audit?action=contact.tag", nil)
	html = string(page.body)
	require.Contains(t, html, "contact.tag")
	require.NotContains(t, html, ">contact.upsert<")
	page = b.page(t, auth.Compliance, "GET", fmt.Sprintf("/audit?target_type=contact&target_id=%d", id), nil)
	require.Contains(t, string(page.body), "contact.tag")
	var userID int64
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT id FROM users WHERE email = 'marketer@example.com'`).Scan(&userID))
	page = b.page(t, auth.Compliance, "GET", fmt.Sprintf("/audit?actor_user_id=%d", userID), nil)
	html = string(page.body)
	require.Contains(t, html, "contact.tag")
	require.NotContains(t, html, ">contact.upsert<", "that was the admin key's")
	page = b.page(t, auth.Compliance, "GET", "/audit?actor_key_id="+b.keyIDs[auth.Admin], nil)
	html = string(page.body)
	require.Contains(t, html, ">contact.upsert<")
	require.NotContains(t, html, ">contact.tag<")

	// Keyset pages, newest first, keeping the filters.
	page = b.page(t, auth.Compliance, "GET", "/audit?limit=1&target_type=contact", nil)
	html = string(page.body)
	require.Contains(t, html, ">contact.tag<")
	require.NotContains(t, html, ">contact.upsert<")
	next := regexp.MustCompile(`href="/audit\?([^"]+)" rel="next"`).FindStringSubmatch(html)
	require.NotNil(t, next)
	q := strings.ReplaceAll(next[1], "&amp;", "&")
	require.Contains(t, q, "target_type=contact")
	page = b.page(t, auth.Compliance, "GET", "/audit?limit=1&"+q, nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	require.Contains(t, string(page.body), ">contact.upsert<")

	page = b.page(t, auth.Marketer, "GET", "/audit", nil)
	require.Equal(t, http.StatusForbidden, page.status)
	require.NotContains(t, string(page.body), "contact.tag")
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Agent, "GET", "/audit", nil).status)
	require.Equal(t, http.StatusOK, b.page(t, auth.Admin, "GET", "/audit", nil).status)
}
