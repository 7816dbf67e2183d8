package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
)

// TestConsoleImport checks the import pages: the upload page for contacts:write only,
// an import run through the API shows its counts and the reject report's link, and a
// running import is followed by the page's script (its JSON, no link yet).
func TestConsoleImport(t *testing.T) {
	b := setup(t)
	ctx := context.Background()

	page := b.page(t, auth.Marketer, "GET", "/imports/new", nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	html := string(page.body)
	for _, want := range []string{`id="csv-file"`, `accept=".csv,text/csv"`, `id="import-submit"`, `id="import-progress"`,
		`name="consent_source"`, `name="default_country"`, `name="tags"`, `/static/import.js?v=`, "Attribute columns"} {
		require.Contains(t, html, want)
	}
	require.NotContains(t, html, " style=")
	page = b.page(t, auth.Ops, "GET", "/imports/new", nil)
	require.Equal(t, 403, page.status, "ops may not import")
	require.Contains(t, string(page.body), "contacts:write")

	// An import through the API, as the page's script sends it: two lines in, one rejected,
	// one duplicate.
	csv := "phone,name,tier\n+6591250001,Ada,gold\nnot-a-phone,Bo,silver\n+6591250002,Cy,\n+6591250002,Cy again,bronze\n"
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts/import?tags=spring", csv)
	require.Equal(t, 200, res.status, "%s", res.body)
	id := int64(res.json(t)["import_id"].(float64))
	path := fmt.Sprintf("/imports/%d", id)

	for _, role := range []auth.Role{auth.Ops, auth.Marketer, auth.Agent} {
		page = b.page(t, role, "GET", path, nil)
		require.Equal(t, 200, page.status, "%s: %s", role, page.body)
		html = string(page.body)
		require.Contains(t, html, `id="import-status" class="badge ok" data-status="done">done<`)
		require.Contains(t, html, `<b id="rejected-count">1</b>`)
		require.Contains(t, html, `<b id="created-count">2</b>`)
		require.Contains(t, html, `<b id="duplicates-count">1</b>`)
		require.Contains(t, html, fmt.Sprintf(`id="rejects-link" class="button" href="/v1/imports/%d/rejects"`, id))
		require.Contains(t, html, `<progress id="import-progress" max="1" value="1">`)
		require.Contains(t, html, "<code>tier</code>", "the attribute columns")
		for _, personal := range []string{"Ada", "+6591250001", "not-a-phone", "silver"} {
			require.NotContains(t, html, personal, "%s: an import's page holds counts, never the file's content", role)
		}
	}
	page = b.page(t, auth.Marketer, "GET", "/imports/new", nil)
	require.Contains(t, string(page.body), `href="/imports/new" aria-current="page"`)

	// The link downloads, with the session.
	page = b.page(t, auth.Ops, "GET", fmt.Sprintf("/v1/imports/%d/rejects", id), nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	require.Contains(t, page.header.Get("Content-Disposition"), "attachment")
	require.True(t, strings.HasPrefix(string(page.body), "line,field,error\n3,phone,"), "%s", page.body)

	// A running import: the page shows what it has, without the link, for the script.
	var running int64
	require.NoError(t, b.pool.QueryRow(ctx, `INSERT INTO contact_imports (actor, status, rows, rejected)
		VALUES ('test', 'running', 1234567, 3) RETURNING id`).Scan(&running))
	page = b.page(t, auth.Marketer, "GET", fmt.Sprintf("/imports/%d", running), nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	html = string(page.body)
	require.Contains(t, html, `data-status="running">running<`)
	require.Contains(t, html, `<progress id="import-progress" aria-describedby`, "indeterminate while it runs")
	require.Contains(t, html, "1\u202f234\u202f567")
	require.Contains(t, html, `<b id="rejected-count">3</b>`)
	require.NotContains(t, html, `id="rejects-link"`, "no report before it is done")
	require.Contains(t, html, fmt.Sprintf(`<script type="application/json" id="import-data">{"import_id":%d,"status":"running"`, running))

	page = b.page(t, auth.Marketer, "GET", "/imports/99999999", nil)
	require.Equal(t, 404, page.status)
	require.Equal(t, "text/html; charset=utf-8", page.header.Get("Content-Type"))
	page = b.page(t, auth.Marketer, "GET", "/imports/x", nil)
	require.Equal(t, 404, page.status)
}

// TestConsoleSegments checks the segment pages: the list with keyset pages, the builder
// for marketers, read-only for ops (no Save), none for agents, and names escaped.
func TestConsoleSegments(t *testing.T) {
	b, _, _ := setupCampaigns(t)
	var ids []int64
	for _, sg := range []map[string]any{
		{"name": "VIP <b>bold</b>", "description": "the best", "filter": map[string]any{"tags_any": []string{"vip"},
			"exclude_tags": []string{"staff"}, "attributes": []map[string]any{{"key": "tier", "op": "in", "value": []string{"gold", "platinum"}}},
			"countries": []string{"SG", "MY"}, "consent_within_days": 365, "never_engaged": true}},
		{"name": "Second", "filter": map[string]any{"countries": []string{"SG"}}},
		{"name": "Third", "filter": map[string]any{"locales": []string{"en"}}},
	} {
		res := b.do(t, auth.Marketer, "POST", "/v1/segments", sg)
		require.Equal(t, 201, res.status, "%s", res.body)
		ids = append(ids, int64(res.json(t)["id"].(float64)))
	}

	page := b.page(t, auth.Marketer, "GET", "/segments", nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	html := string(page.body)
	require.Contains(t, html, `href="/segments/new"`)
	require.Contains(t, html, fmt.Sprintf(`<a href="/segments/%d">VIP &lt;b&gt;bold&lt;/b&gt;</a>`, ids[0]))
	require.Contains(t, html, "the best")
	require.NotContains(t, html, "<b>bold</b>")

	page = b.page(t, auth.Ops, "GET", "/segments?limit=2", nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	html = string(page.body)
	require.NotContains(t, html, `href="/segments/new"`, "ops may not create one")
	require.Contains(t, html, "Second")
	require.NotContains(t, html, "Third")
	_, rest, ok := strings.Cut(html, `<a href="/segments?cursor=`)
	require.True(t, ok, "a next page: %s", html)
	next, _, _ := strings.Cut(rest, `"`)
	page = b.page(t, auth.Ops, "GET", "/segments?limit=2&cursor="+next, nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	require.Contains(t, string(page.body), "Third")
	require.NotContains(t, string(page.body), "Second")
	require.NotContains(t, string(page.body), `rel="next"`)

	page = b.page(t, auth.Agent, "GET", "/segments", nil)
	require.Equal(t, 403, page.status)

	// The builder: a new one.
	page = b.page(t, auth.Marketer, "GET", "/segments/new", nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	html = string(page.body)
	for _, want := range []string{`id="segment-name"`, `id="tags-any" name="filter.tags_any"`, `id="count-matched"`, `id="count-eligible"`,
		`id="exclusions"`, `id="segment-save"`, `id="attribute-add"`, `id="countries"`, `id="locales"`, `id="consent-within-days"`,
		`id="engaged-within-days"`, `id="never-engaged"`, `/static/segment.js?v=`, `data-segment-id="0"`} {
		require.Contains(t, html, want)
	}
	require.NotContains(t, html, " disabled")
	require.NotContains(t, html, " style=")
	page = b.page(t, auth.Ops, "GET", "/segments/new", nil)
	require.Equal(t, 403, page.status)

	// A saved one, for a marketer and for ops.
	path := fmt.Sprintf("/segments/%d", ids[0])
	page = b.page(t, auth.Marketer, "GET", path, nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	html = string(page.body)
	require.Contains(t, html, `id="segment-save"`)
	require.Contains(t, html, `value="VIP &lt;b&gt;bold&lt;/b&gt;"`)
	require.Contains(t, html, `id="tags-any" name="filter.tags_any" autocomplete="off" value="vip"`)
	require.Contains(t, html, `value="staff"`)
	require.Contains(t, html, `value="SG, MY"`)
	require.Contains(t, html, `value="365"`)
	require.Contains(t, html, `id="never-engaged" name="filter.never_engaged" type="checkbox" checked`)
	require.Contains(t, html, fmt.Sprintf(`data-api="DELETE /v1/segments/%d"`, ids[0]))
	require.Contains(t, html, fmt.Sprintf(`data-segment-id="%d"`, ids[0]))
	require.Contains(t, html, `"attributes":[{"key":"tier","op":"in","value":["gold","platinum"]}]`, "the rows' data for the script")
	require.NotContains(t, html, "<b>bold</b>")

	page = b.page(t, auth.Ops, "GET", path, nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	html = string(page.body)
	require.NotContains(t, html, `id="segment-save"`, "ops may read a segment, not save it")
	require.NotContains(t, html, "DELETE /v1/segments")
	require.Contains(t, html, "<fieldset disabled>")
	require.Contains(t, html, `id="count-matched"`, "but sees its count")

	page = b.page(t, auth.Marketer, "GET", "/segments/99999999", nil)
	require.Equal(t, 404, page.status)
	require.Equal(t, "text/html; charset=utf-8", page.header.Get("Content-Type"))
	page = b.page(t, auth.Agent, "GET", path, nil)
	require.Equal(t, 403, page.status)

	// What the builder's Save sends: a PATCH with the session and its CSRF token.
	page = b.page(t, auth.Marketer, "PATCH", fmt.Sprintf("/v1/segments/%d", ids[1]), map[string]any{"name": "Second",
		"description": "", "filter": map[string]any{"tags_any": []string{"vip"}, "tags_all": []string{}, "exclude_tags": []string{}}})
	require.Equal(t, 200, page.status, "%s", page.body)
	page = b.page(t, auth.Marketer, "GET", fmt.Sprintf("/segments/%d", ids[1]), nil)
	require.Contains(t, string(page.body), `id="tags-any" name="filter.tags_any" autocomplete="off" value="vip"`)
}

// TestConsoleAudienceInBrowser runs import.js and segment.js in Chromium: a CSV file
// uploaded from the file input ends on its import's page with the counts; the builder
// counts a filter being written (matched, eligible, the exclusions by reason) and saves it.
func TestConsoleAudienceInBrowser(t *testing.T) {
	b, _, _ := setupCampaigns(t)
	br := b.browser(t, auth.Marketer, 90*time.Second)
	ctx, eval, waitFor := br.ctx, br.eval, br.waitFor

	// The upload: three contacts tagged vip (one also staff), one line rejected.
	file := filepath.Join(t.TempDir(), "contacts.csv")
	require.NoError(t, os.WriteFile(file, []byte("phone,name,tags,tier\n+6591260001,Ada,vip,gold\n+6591260002,Bo,vip;staff,gold\n"+
		"+6591260003,Cy,vip,silver\nnot-a-phone,Di,vip,gold\n"), 0o600))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/imports/new"),
		chromedp.WaitVisible(chromedp.CSS("#csv-file")), chromedp.SetUploadFiles(chromedp.CSS("#csv-file"), []string{file}),
		chromedp.SendKeys(chromedp.CSS("#import-tags"), "spring"), chromedp.Click(chromedp.CSS("#import-submit"))))
	waitFor("the import's page", `/^\/imports\/\d+$/.test(location.pathname) && document.getElementById('import-status')`)
	waitFor("it is done", `document.getElementById('import-status').dataset.status === 'done'`)
	require.True(t, eval("one line rejected", `document.getElementById('rejected-count').textContent === '1'`))
	require.True(t, eval("three created", `document.getElementById('created-count').textContent === '3'`))
	require.True(t, eval("the report's link", `/\/v1\/imports\/\d+\/rejects$/.test(document.getElementById('rejects-link').href)`))
	require.True(t, eval("the progress is full", `document.getElementById('import-progress').value === 1`))

	// Consent for Ada and Bo: Cy is counted as no_consent, Bo as excluded_tag.
	for _, phone := range []string{"+6591260001", "+6591260002"} {
		var id int64
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT id FROM contacts WHERE phone = $1`, phone).Scan(&id))
		_, err := b.consent.Record(context.Background(), consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
			Actor: "test", Evidence: map[string]any{"form": "signup"}})
		require.NoError(t, err)
	}

	// The builder: live counts as the filter is written, then Save.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/segments/new"), chromedp.WaitVisible(chromedp.CSS("#segment-name")),
		chromedp.SendKeys(chromedp.CSS("#segment-name"), "Browser VIP"), chromedp.SendKeys(chromedp.CSS("#tags-any"), "vip")))
	waitFor("matched", `document.getElementById('count-matched').textContent === '3'`)
	require.True(t, eval("eligible", `document.getElementById('count-eligible').textContent === '2'`))
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#exclude-tags"), "staff")))
	waitFor("the exclusions by reason", `document.querySelector('#exclusions [data-reason=excluded_tag]') &&
		document.querySelector('#exclusions [data-reason=excluded_tag]').textContent === '1' &&
		document.querySelector('#exclusions [data-reason=no_consent]').textContent === '1' &&
		document.getElementById('count-eligible').textContent === '1'`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#attribute-add")), chromedp.SendKeys(chromedp.CSS("#attr-key-1"), "tier"),
		chromedp.SendKeys(chromedp.CSS("#attr-value-1"), "silver")))
	waitFor("the attribute narrows it", `document.getElementById('count-matched').textContent === '1' &&
		document.getElementById('count-eligible').textContent === '0'`)
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#countries"), "XX")))
	waitFor("a bad filter says why", `document.getElementById('count-matched').textContent === '—' &&
		document.getElementById('count-note').textContent.indexOf('countries[0]') === 0`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#segment-save"))))
	waitFor("Save shows the error beside the list", `document.getElementById('countries').getAttribute('aria-invalid') === 'true' &&
		document.getElementById('countries').nextElementSibling.textContent.indexOf('entry 1: ') === 0`)
	eval("clear the countries", `(document.getElementById('countries').value = '') === ''`)
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#countries"), "sg"), chromedp.Click(chromedp.CSS("#segment-save"))))
	waitFor("the saved segment's page", `/^\/segments\/\d+$/.test(location.pathname)`)
	waitFor("its count", `document.getElementById('count-matched').textContent === '1'`)
	require.True(t, eval("its rows", `document.getElementById('attr-key-1').value === 'tier' && document.getElementById('attr-value-1').value === 'silver'`))

	res := b.do(t, auth.Marketer, "GET", "/v1/segments", nil)
	sg := res.json(t)["data"].([]any)[0].(map[string]any)
	require.Equal(t, "Browser VIP", sg["name"])
	require.Equal(t, map[string]any{"tags_any": []any{"vip"}, "tags_all": []any{}, "exclude_tags": []any{"staff"},
		"attributes": []any{map[string]any{"key": "tier", "op": "eq", "value": "silver"}}, "countries": []any{"SG"}}, sg["filter"])
}
