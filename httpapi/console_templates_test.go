package httpapi_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// createTemplate saves a template through the API with an admin key and returns its id.
func (b *testBundle) createTemplate(t *testing.T, body map[string]any) int64 {
	t.Helper()
	res := b.do(t, auth.Admin, "POST", "/v1/templates", body)
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	return int64(res.json(t)["id"].(float64))
}

func springSale(name string) map[string]any {
	return map[string]any{"name": name, "category": "marketing", "locales": []map[string]any{
		{"locale": "en", "variants": []map[string]any{
			{"body": "{Hi|Hello} {{ first_name }}! <b>Spring</b> starts today.", "weight": 2},
			{"body": "Hey {{ first_name }}, 20% off"}}},
		{"locale": "es", "variants": []map[string]any{{"body": "¡Hola {{ first_name }}!"}}},
	}}
}

// TestConsoleTemplateList checks the list: each template with its category, locales,
// variant count and a link to its editor; the new-template button only for roles that
// may write; keyset pages; 403 for a role without templates:read.
func TestConsoleTemplateList(t *testing.T) {
	b := setup(t)
	empty := b.page(t, auth.Marketer, "GET", "/templates", nil)
	require.Equal(t, http.StatusOK, empty.status, "%s", empty.body)
	require.Contains(t, string(empty.body), "No templates yet")
	require.Contains(t, string(empty.body), `href="/templates/new"`)

	first := b.createTemplate(t, springSale("Spring sale"))
	b.createTemplate(t, map[string]any{"name": "Order ready", "category": "utility",
		"locale": "de", "variants": []map[string]any{{"body": "Ihre Bestellung ist da."}}})
	third := b.createTemplate(t, map[string]any{"name": "Third", "category": "utility",
		"variants": []map[string]any{{"body": "Hello"}}})

	res := b.page(t, auth.Marketer, "GET", "/templates", nil)
	require.Equal(t, http.StatusOK, res.status)
	html := string(res.body)
	require.Contains(t, html, fmt.Sprintf(`<a href="/templates/%d">Spring sale</a>`, first))
	require.Contains(t, html, "<td>en, es</td>", "the locales")
	require.Contains(t, html, `<td class="num">3</td>`, "three variants over both locales")
	require.Contains(t, html, ">marketing</span>")
	require.Contains(t, html, ">utility</span>")
	require.Contains(t, html, `<th scope="col">Locales</th>`)
	require.Contains(t, html, `href="/templates/new"`)
	require.NotContains(t, html, "rel=\"next\"", "one page")

	ops := b.page(t, auth.Ops, "GET", "/templates", nil)
	require.Equal(t, http.StatusOK, ops.status)
	require.Contains(t, string(ops.body), "Spring sale")
	require.NotContains(t, string(ops.body), `href="/templates/new"`, "ops may not write templates")

	// Keyset pages: two, then the third after the cursor.
	p1 := b.page(t, auth.Marketer, "GET", "/templates?limit=2", nil)
	require.Equal(t, http.StatusOK, p1.status)
	next := regexp.MustCompile(`href="(/templates\?cursor=[^"]+)" rel="next"`).FindStringSubmatch(string(p1.body))
	require.NotNil(t, next, "a next-page link: %s", p1.body)
	require.NotContains(t, string(p1.body), "Third")
	p2 := b.page(t, auth.Marketer, "GET", strings.ReplaceAll(next[1], "&amp;", "&"), nil)
	require.Equal(t, http.StatusOK, p2.status)
	require.Contains(t, string(p2.body), fmt.Sprintf(`<a href="/templates/%d">Third</a>`, third))
	require.NotContains(t, string(p2.body), "Spring sale")
	require.Contains(t, string(p2.body), `<a href="/templates">First page</a>`)

	for _, role := range []auth.Role{auth.Agent, auth.Compliance} {
		res := b.page(t, role, "GET", "/templates", nil)
		require.Equal(t, http.StatusForbidden, res.status, role)
		require.Contains(t, string(res.body), "templates:read")
	}
	bad := b.page(t, auth.Marketer, "GET", "/templates?cursor=nope", nil)
	require.Equal(t, http.StatusUnprocessableEntity, bad.status)
	require.Equal(t, "text/html; charset=utf-8", bad.header.Get("Content-Type"))
}

// TestConsoleTemplateEditor checks the editor: a marketer opens the new-template editor and
// a saved template with its locales as tabs, variants, weights and footer check slots; ops
// sees the same template read-only with no save button; unknown ids are the 404 page; the
// body is escaped; the page keeps to the CSP.
func TestConsoleTemplateEditor(t *testing.T) {
	b := setup(t)
	id := b.createTemplate(t, springSale("Spring sale"))

	fresh := b.page(t, auth.Marketer, "GET", "/templates/new", nil)
	require.Equal(t, http.StatusOK, fresh.status, "%s", fresh.body)
	html := string(fresh.body)
	for _, want := range []string{
		`id="template-name"`, `id="template-category"`, `id="add-locale"`, `id="add-variant"`,
		`id="template-save"`, `id="preview-contact"`, `id="preview-output"`, `class="footer-check`,
		`class="variant-body" name="locales[0].variants[0].body"`,
		`class="variant-weight" name="locales[0].variants[0].weight" type="number" min="1" step="1" value="1"`,
		`role="tablist"`, `role="tab" id="tab-0" aria-controls="locale-0" aria-selected="true"`,
		`<option value="marketing" selected>`, "Save the template to preview it",
		`<label for="template-name">`, `<label for="v-0-0-body">`, `<label for="preview-contact">`,
		`/static/template.js?v=`, `<script type="application/json" id="template-data">{"id":0,`,
		`"keywords":["STOP",`, `"en":"Reply STOP to unsubscribe."`,
	} {
		require.Contains(t, html, want)
	}
	require.NotContains(t, html, " style=")
	require.NotContains(t, html, " onclick=")

	edit := b.page(t, auth.Marketer, "GET", fmt.Sprintf("/templates/%d", id), nil)
	require.Equal(t, http.StatusOK, edit.status, "%s", edit.body)
	html = string(edit.body)
	require.Contains(t, html, "<title>Spring sale · Crier</title>")
	require.Contains(t, html, `role="tab" id="tab-1" aria-controls="locale-1" aria-selected="false" tabindex="-1">es</button>`)
	require.Contains(t, html, `name="locales[1].variants[0].body"`)
	require.Contains(t, html, `name="locales[0].variants[1].weight" type="number" min="1" step="1" value="1"`)
	require.Contains(t, html, `name="locales[0].variants[0].weight" type="number" min="1" step="1" value="2"`)
	require.Contains(t, html, `value="Reply STOP to unsubscribe."`, "the footer the API filled in")
	require.Contains(t, html, "&lt;b&gt;Spring&lt;/b&gt;", "the body is escaped")
	require.NotContains(t, html, "<b>Spring</b>")
	form, _, _ := strings.Cut(html, `<template id="variant-template">`)
	require.Equal(t, 3, strings.Count(form, `class="footer-check`), "a footer check per variant")
	require.Contains(t, html, `id="template-save"`)
	require.Contains(t, html, fmt.Sprintf(`{"id":%d,`, id))
	require.NotContains(t, html, "Save the template to preview it")
	require.NotContains(t, html, `id="template-readonly"`)

	ops := b.page(t, auth.Ops, "GET", fmt.Sprintf("/templates/%d", id), nil)
	require.Equal(t, http.StatusOK, ops.status)
	html = string(ops.body)
	require.Contains(t, html, `id="template-readonly"`)
	require.Contains(t, html, `id="preview-contact"`, "ops may preview")
	for _, absent := range []string{`id="template-save"`, `id="add-locale"`, `id="add-variant"`, `class="remove-variant"`, `id="variant-template"`} {
		require.NotContains(t, html, absent, "ops sees no way to change the template")
	}
	require.Contains(t, html, `id="template-name" name="name" value="Spring sale" maxlength="200" required autocomplete="off" readonly>`)
	require.Contains(t, html, `<select id="template-category" name="category" disabled>`)

	require.Equal(t, http.StatusForbidden, b.page(t, auth.Ops, "GET", "/templates/new", nil).status)
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Agent, "GET", fmt.Sprintf("/templates/%d", id), nil).status)
	for _, path := range []string{"/templates/999999", "/templates/abc", "/templates/0"} {
		res := b.page(t, auth.Marketer, "GET", path, nil)
		require.Equal(t, http.StatusNotFound, res.status, path)
		require.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"), path)
		require.Contains(t, string(res.body), "404", path)
	}

	js, err := http.Get(b.srv.URL + "/static/template.js")
	require.NoError(t, err)
	js.Body.Close()
	require.Equal(t, http.StatusOK, js.StatusCode)
}

// TestConsoleTemplateSave follows what template.js sends with a marketer's session: the
// locales shape creates a template, a marketing footer without an opt-out keyword is the
// field error beside that locale's footer input, a second locale is added by PUT, and the
// preview answers for sample values and for a contact. Ops may preview but not save.
func TestConsoleTemplateSave(t *testing.T) {
	b := setup(t)
	body := map[string]any{"name": "Launch", "category": "marketing", "locales": []map[string]any{
		{"locale": "en", "footer": "", "variants": []map[string]any{
			{"body": "Hi {{ first_name }}!", "weight": 3}, {"body": "Hello {{ first_name }}!"}}},
	}}
	res := b.page(t, auth.Marketer, "POST", "/v1/templates", body)
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	id := int64(res.json(t)["id"].(float64))

	bad := map[string]any{"name": "Launch", "category": "marketing", "locales": []map[string]any{
		{"locale": "en", "footer": "", "variants": []map[string]any{{"body": "Hi"}}},
		{"locale": "xx-nope-nope-123456789", "footer": "Bye", "variants": []map[string]any{{"body": "Hi", "weight": 0}}},
	}}
	res = b.page(t, auth.Marketer, "PUT", fmt.Sprintf("/v1/templates/%d", id), bad)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
	fields := res.fieldErrors(t)
	require.Contains(t, fields, "locales[1].footer", "the editor's footer input of the second tab")
	require.Contains(t, fields["locales[1].footer"], "STOP")
	require.Contains(t, fields, "locales[1].locale")
	require.Contains(t, fields, "locales[1].variants[0].weight")

	good := map[string]any{"name": "Launch", "category": "marketing", "locales": []map[string]any{
		{"locale": "en", "footer": "", "variants": []map[string]any{{"body": "Hi {{ first_name }}!", "weight": 3}}},
		{"locale": "ES", "footer": "Responde BAJA para salir.", "variants": []map[string]any{{"body": "¡Hola {{ first_name }}!"}}},
	}}
	res = b.page(t, auth.Marketer, "PUT", fmt.Sprintf("/v1/templates/%d", id), good)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	page := b.page(t, auth.Marketer, "GET", fmt.Sprintf("/templates/%d", id), nil)
	require.Contains(t, string(page.body), ">es</button>", "the canonical tag as a tab")
	require.Contains(t, string(page.body), `value="Responde BAJA para salir."`)
	require.Contains(t, string(page.body), "Version 2")

	// The preview as template.js asks for it: sample values in the selected locale.
	res = b.page(t, auth.Marketer, "POST", fmt.Sprintf("/v1/templates/%d/preview", id),
		map[string]any{"variables": map[string]any{"name": "Ada Lovelace", "locale": "es", "campaign": map[string]any{"name": "Spring sale"}}, "spins": 3})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.Contains(t, string(res.body), "¡Hola Ada!")
	require.Contains(t, string(res.body), "Responde BAJA para salir.")

	contact := b.createContact(t, "+4915112345678")
	res = b.page(t, auth.Ops, "POST", fmt.Sprintf("/v1/templates/%d/preview", id), map[string]any{"contact_id": contact, "spins": 3})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.Contains(t, string(res.body), "Hi Test!")

	res = b.page(t, auth.Ops, "PUT", fmt.Sprintf("/v1/templates/%d", id), good)
	require.Equal(t, http.StatusForbidden, res.status)
}
