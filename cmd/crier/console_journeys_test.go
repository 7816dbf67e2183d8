package main

// The console's acceptance journeys, each in a real browser against the whole product
// (console_browser_test.go is the harness): the marketer's from an import to a customer's
// STOP, the compliance officer's from a search to an erasure, and the roles' limits.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// seedContacts imports contacts through the API as the admin: a granted, a withdrawn
// and a granted contact tagged vip.
func seedContacts(t *testing.T, p *product) {
	t.Helper()
	csv := "phone,name,tags,consent\n+6591230001,Ada Tan,vip,granted\n+6591230002,Ben Lim,vip,withdrawn\n+6591230003,Cy Ong,vip,granted\n"
	res := p.api.do("POST", "/v1/contacts/import?consent_source="+url.QueryEscape("shop signup form"), "text/csv", csv, 200)
	require.EqualValues(t, 3, res["created"], "%v", res)
}

func (p *product) contactID(t *testing.T, phone string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, p.app.pool.QueryRow(context.Background(), `SELECT id FROM contacts WHERE phone = $1`, phone).Scan(&id))
	return id
}

// TestConsoleComplianceJourney: a compliance officer finds a customer by number, reads
// the consent ledger, downloads the export and erases the contact behind the typed
// confirmation.
func TestConsoleComplianceJourney(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	seedContacts(t, p)
	id := p.contactID(t, "+6591230001")
	email, password := p.user(t, auth.Compliance)
	b := p.openBrowser(t)
	shots := screenshotDir(t)
	b.signIn(email, password)

	b.open("/contacts", "#search-phone")
	b.do("search by number",
		chromedp.SendKeys(chromedp.CSS("#search-phone"), "+6591230001"),
		chromedp.Click(chromedp.CSS(`form[role=search] button[type=submit]`)),
	)
	// The first page lists every contact: wait for the search's own page.
	b.waitFor("the search's results", `location.search.indexOf('phone=') >= 0 && document.readyState === 'complete'`, stepTimeout)
	b.do("the result", chromedp.WaitVisible(chromedp.CSS(`#contacts a[href="/contacts/`+fmt.Sprint(id)+`"]`)))
	rows := eval[int](b, "count the rows", `document.querySelectorAll('#contacts tbody tr').length`)
	require.Equal(t, 1, rows, "the one contact with this number")
	require.Contains(t, b.text("#contacts tbody"), "+6591230001", "compliance sees numbers in clear")

	b.do("open the contact",
		chromedp.Click(chromedp.CSS(`#contacts a[href="/contacts/`+fmt.Sprint(id)+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#ledger")),
	)
	require.Equal(t, fmt.Sprintf("/contacts/%d", id), b.path())
	require.Equal(t, "+6591230001", b.text("#contact-phone"))
	ledger := b.text("#ledger tbody")
	require.Contains(t, ledger, "granted")
	require.Contains(t, ledger, "shop signup form", "the ledger shows the consent's source")
	b.shot(shots, "contact")

	name, data := b.download("#export-link")
	require.True(t, strings.HasSuffix(name, ".json"), "the export downloads as JSON: %s", name)
	var export map[string]any
	require.NoError(t, json.Unmarshal(data, &export), "the export is JSON: %.200s", data)
	require.Contains(t, string(data), "+6591230001", "the export holds the contact's data")
	require.Contains(t, string(data), "shop signup form", "and its consent ledger")

	// The erasure needs the word typed in full.
	require.True(t, eval[bool](b, "the erase button", `document.querySelector('#erase-button').disabled`),
		"disabled until confirmed")
	b.do("type most of the word", chromedp.SendKeys(chromedp.CSS("#erase-confirm"), "ERAS"))
	require.True(t, eval[bool](b, "the erase button", `document.querySelector('#erase-button').disabled`))
	b.do("erase",
		chromedp.SendKeys(chromedp.CSS("#erase-confirm"), "E"),
		chromedp.WaitEnabled(chromedp.CSS("#erase-button")),
		chromedp.Click(chromedp.CSS("#erase-button")),
	)
	b.waitFor("the erasure's result", `(function () { var r = document.querySelector('#erase-result'); return r && !r.hidden && /erased/.test(r.textContent); })()`, 15*time.Second)
	require.Zero(t, p.count(t, `SELECT count(*) FROM contacts WHERE id = $1`, id), "the contact is gone")
	require.Equal(t, 1, p.count(t, `SELECT count(*) FROM audit_log WHERE action = 'contact.erase' AND status < 300
		AND actor_user_id IS NOT NULL`), "erased by the signed-in user, audited")
	b.open(fmt.Sprintf("/contacts/%d", id), "main")
	require.NotContains(t, b.html(), "+6591230001", "its page shows nothing of it")

	b.open("/audit", "main table")
	audit := b.text("main")
	require.Contains(t, audit, "contact.erase")
	require.Contains(t, audit, "contact.export")
	b.shot(shots, "audit")
	b.checkNoErrors()
}

// TestConsoleRoles: a marketer's contact page offers no erasure and shows the number
// masked; an erasure forged from the marketer's page is refused with or without the
// page's CSRF token, and nothing is erased.
func TestConsoleRoles(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	seedContacts(t, p)
	id := p.contactID(t, "+6591230001")
	email, password := p.user(t, auth.Marketer)
	b := p.openBrowser(t)
	b.signIn(email, password)

	b.open(fmt.Sprintf("/contacts/%d", id), "#facts")
	require.False(t, b.exists("#erase-button"), "no erase button for a marketer")
	require.False(t, b.exists("#erase-confirm"))
	require.False(t, b.exists("#export-link"), "no export for a marketer")
	require.NotContains(t, b.html(), "+6591230001", "the number is masked")
	require.Contains(t, b.text("#contact-phone"), "•", "masked: %s", b.text("#contact-phone"))

	erase := fmt.Sprintf("/v1/contacts/%d/erase", id)
	status, body := b.fetch("POST", erase, true)
	require.Equal(t, 403, status, "the marketer's own session and token: not allowed: %s", body)
	status, body = b.fetch("POST", erase, false)
	require.Equal(t, 403, status, "without the token: refused: %s", body)
	status, _ = b.fetch("GET", fmt.Sprintf("/v1/contacts/%d/export", id), false)
	require.Equal(t, 403, status, "no export either")
	require.Equal(t, 1, p.count(t, `SELECT count(*) FROM contacts WHERE id = $1`, id), "nothing was erased")
	require.Zero(t, p.count(t, `SELECT count(*) FROM audit_log WHERE action = 'contact.erase' AND status < 300`))

	b.open("/audit", "main")
	require.Contains(t, b.text("main"), "403", "a marketer gets the 403 page, not the audit log")
	require.Contains(t, b.text("main"), "Your role does not allow this page")
	b.checkNoErrors()
}

// TestConsoleMarketerJourney is the marketer's whole day in the browser: import a CSV with
// bad lines, build a segment with live counts, write a two-variant template, schedule a
// campaign through the wizard to a sandbox account, watch it complete, and see a
// customer's STOP arrive as an opt-out on the campaign's page.
func TestConsoleMarketerJourney(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	acct := p.api.do("POST", "/v1/accounts", "", map[string]any{"name": "Sandbox", "channel": "sandbox",
		"rate_per_minute": 600, "sandbox": map[string]any{"delivered_after_ms": 50, "read_after_ms": 100}}, 201)
	accountID := int64(acct["id"].(float64))
	email, password := p.user(t, auth.Marketer)
	b := p.openBrowser(t)
	shots := screenshotDir(t)
	b.signIn(email, password)

	// 1. The import: four good lines (three granted, one withdrawn), a bad phone and a bad
	// consent value.
	csvPath := t.TempDir() + "/customers.csv"
	csv := "phone,name,tags,consent\n" +
		"+6591240001,Ada Tan,vip,granted\n" +
		"+6591240002,Ben Lim,vip,granted\n" +
		"+6591240003,Cy Ong,vip,granted\n" +
		"+6591240004,Di Koh,vip,withdrawn\n" +
		"not-a-phone,Bad Phone,vip,granted\n" +
		"+6591240006,Bad Consent,vip,maybe\n"
	require.NoError(t, os.WriteFile(csvPath, []byte(csv), 0o600))
	b.open("/imports/new", "#csv-file")
	b.do("upload the CSV",
		chromedp.SetUploadFiles(chromedp.CSS("#csv-file"), []string{csvPath}),
		chromedp.SendKeys(chromedp.CSS("#consent-source"), "shop signup form"),
		chromedp.Click(chromedp.CSS("#import-submit")),
	)
	b.waitFor("the import's page", `/^\/imports\/\d+$/.test(location.pathname) && document.querySelector('#import-status')`, stepTimeout)
	b.waitFor("the import to finish", `document.querySelector('#import-status').textContent.trim() === 'done' && document.querySelector('#rejects-link')`, 30*time.Second)
	b.textIs("#rejected-count", "2", 5*time.Second)
	b.textIs("#created-count", "4", 5*time.Second)
	b.shot(shots, "import")
	href := eval[string](b, "the reject report's link", `document.querySelector('#rejects-link').getAttribute('href')`)
	status, report := b.fetch("GET", href, false)
	require.Equal(t, 200, status, "the reject report downloads: %s", report)
	require.Contains(t, report, "phone", "it names the bad field")
	require.Contains(t, report, "consent")
	_, file := b.download("#rejects-link")
	require.Contains(t, string(file), "6", "the file lists the rejected lines: %s", file)

	// 2. A segment of the vip tag, with live counts: four matched, three eligible.
	b.open("/segments/new", "#segment-name")
	b.do("write the segment",
		chromedp.SendKeys(chromedp.CSS("#segment-name"), "VIPs"),
		chromedp.SendKeys(chromedp.CSS("#tags-any"), "vip"),
	)
	b.textIs("#count-matched", "4", 10*time.Second)
	b.textIs("#count-eligible", "3", 5*time.Second)
	require.Contains(t, b.text("#exclusions"), "1", "the withdrawn contact is an exclusion")
	b.shot(shots, "segment-builder")
	b.do("save the segment", chromedp.Click(chromedp.CSS("#segment-save")))
	b.waitFor("the saved segment's page", `/^\/segments\/\d+$/.test(location.pathname)`, stepTimeout)

	// 3. A template with two variants.
	b.open("/templates/new", "#template-name")
	b.do("write the template",
		chromedp.SendKeys(chromedp.CSS("#template-name"), "Spring sale"),
		chromedp.SetValue(chromedp.CSS("#template-category"), "marketing"),
		chromedp.SendKeys(chromedp.CSS(".variant-body"), "Hi {{ first_name }}, the spring sale starts today."),
		chromedp.Click(chromedp.CSS("#add-variant")),
	)
	b.waitFor("a second variant", `document.querySelectorAll('.variant-body').length === 2`, 5*time.Second)
	b.do("write the second variant",
		chromedp.SendKeys(chromedp.CSS(".variant:last-of-type .variant-body"), "{{ first_name }}: 20% off everything this week."),
	)
	require.Equal(t, 2, eval[int](b, "count the footer checks", `document.querySelectorAll('.footer-check').length`),
		"each marketing variant has its footer check")
	b.shot(shots, "template-editor")
	b.do("save the template", chromedp.Click(chromedp.CSS("#template-save")))
	b.waitFor("the saved template's page", `/^\/templates\/\d+$/.test(location.pathname)`, stepTimeout)
	require.Equal(t, 2, p.count(t, `SELECT jsonb_array_length(locales->0->'variants') FROM templates WHERE name = 'Spring sale'`),
		"two variants saved")

	// 4. The wizard: the segment, the template, the sandbox account, now.
	b.open("/campaigns/new", "#campaign-name")
	b.do("step 1: the audience",
		chromedp.SendKeys(chromedp.CSS("#campaign-name"), "Spring sale to VIPs"),
		chromedp.Click(chromedp.CSS("#audience-segment")),
		chromedp.Click(chromedp.CSS("#wizard-next")),
		chromedp.WaitVisible(chromedp.CSS("#template-select")),
		chromedp.Click(chromedp.CSS("#wizard-next")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#account-%d", accountID))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#account-%d", accountID))),
		chromedp.Click(chromedp.CSS("#wizard-next")),
		chromedp.WaitVisible(chromedp.CSS("#schedule-now")),
		chromedp.Click(chromedp.CSS("#schedule-now")),
		// No quiet hours: the contacts are in Singapore, where it may be night.
		chromedp.SetValue(chromedp.CSS("#quiet-start"), "00:00"),
		chromedp.SetValue(chromedp.CSS("#quiet-end"), "00:00"),
		chromedp.Click(chromedp.CSS("#wizard-next")),
		chromedp.WaitVisible(chromedp.CSS("#review-eligible")),
	)
	b.textIs("#review-eligible", "3", 15*time.Second)
	b.shot(shots, "campaign-wizard")
	b.do("step 6: schedule",
		chromedp.Click(chromedp.CSS("#wizard-next")),
		chromedp.WaitVisible(chromedp.CSS("#campaign-schedule")),
		chromedp.Click(chromedp.CSS("#campaign-schedule")),
	)
	b.waitFor("the campaign's live page", `/^\/campaigns\/\d+$/.test(location.pathname) && document.querySelector('#stat-sent')`, stepTimeout)

	// 5. It completes: every eligible contact got the message.
	b.waitFor("the campaign to complete", `/complete/i.test(document.querySelector('#campaign-status').textContent)`, 60*time.Second)
	b.textIs("#stat-sent", "3", 10*time.Second)
	b.shot(shots, "campaign-live")

	// 6. A customer replies STOP: the page shows the opt-out.
	p.api.do("POST", "/v1/sandbox/inbound", "", map[string]any{"account_id": accountID, "from": "+6591240002", "text": "STOP"}, 202)
	// The page keeps refreshing after the campaign completed (receipts, replies and
	// opt-outs keep coming): the opt-out shows without a reload.
	b.textIs("#stat-opted-out", "1", 10*time.Second)
	require.Equal(t, 1, p.count(t, `SELECT count(*) FROM inbound_messages WHERE class = 'opt_out' AND campaign_id IS NOT NULL`),
		"the STOP is attributed to the campaign")

	b.open("/campaigns", "main table")
	require.Contains(t, b.text("main table"), "Spring sale to VIPs")
	b.shot(shots, "campaigns")

	// The live page on a phone.
	campaign := p.count(t, `SELECT max(id) FROM campaigns`)
	b.do("a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open(fmt.Sprintf("/campaigns/%d", campaign), "#stat-sent")
	b.waitFor("the chart and the tables", `document.querySelector('#chart svg') && !/Loading/.test(document.querySelector('#by-variant').textContent)`, stepTimeout)
	// Nothing wider than the phone: the page does not scroll sideways.
	require.LessOrEqual(t, eval[int](b, "the page's width", `document.documentElement.scrollWidth`),
		eval[int](b, "the screen's width", `document.documentElement.clientWidth`), "the campaign page fits a 390 px screen")
	b.shot(shots, "phone-campaign")
	b.checkNoErrors()
}

// TestConsoleAccounts: an admin sees the sending accounts with their health.
func TestConsoleAccounts(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	p.api.do("POST", "/v1/accounts", "", map[string]any{"name": "Shop sandbox", "channel": "sandbox", "rate_per_minute": 600}, 201)
	email, password := p.user(t, auth.Admin)
	b := p.openBrowser(t)
	b.signIn(email, password)
	b.open("/accounts", "main table")
	require.Contains(t, b.text("main table"), "Shop sandbox")
	require.Contains(t, b.text("main table"), "sandbox")
	b.shot(screenshotDir(t), "accounts")
	b.checkNoErrors()
}
