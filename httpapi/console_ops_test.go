package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"rsc.io/qr"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/sender"
)

// opsAccounts makes one account of each channel, the sandbox one paused, the WhatsApp one
// behind a proxy with a password, the Cloud API one with secrets; it returns their ids.
func opsAccounts(t *testing.T, b *testBundle) (sandboxID, whatsappID, cloudID int64) {
	t.Helper()
	res := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "Demo sandbox", "channel": "sandbox"})
	require.Equal(t, 201, res.status, "%s", res.body)
	sandboxID = int64(res.json(t)["id"].(float64))
	res = b.do(t, auth.Ops, "POST", fmt.Sprintf("/v1/accounts/%d/pause", sandboxID), map[string]any{"reason": "checking the numbers"})
	require.Equal(t, 200, res.status, "%s", res.body)

	res = b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{
		"name": "Sales SG", "channel": "whatsapp", "proxy_url": "socks5://user:hunter2@proxy.example:1080"})
	require.Equal(t, 201, res.status, "%s", res.body)
	whatsappID = int64(res.json(t)["id"].(float64))

	// Created in the store directly: the API would first check the token with Meta.
	a, err := b.api.Accounts.Create(context.Background(), sender.AccountInput{Name: "Main number", Channel: sender.WhatsAppCloud,
		Cloud: &sender.CloudConfig{PhoneNumberID: "1234567890", WABAID: "9876543210", AccessToken: "EAAG-secret-token",
			AppSecret: "app-secret-value", VerifyToken: "verify-me-please"}})
	require.NoError(t, err)
	return sandboxID, whatsappID, a.ID
}

// TestConsoleAccounts: the accounts list shows each account's channel, status, limits
// and today's usage; ops and admins get the buttons that change things, a marketer only
// reads, and agents and compliance may not open it.
func TestConsoleAccounts(t *testing.T) {
	b := setup(t)
	sandboxID, whatsappID, cloudID := opsAccounts(t, b)

	for _, role := range []auth.Role{auth.Ops, auth.Admin} {
		page := b.page(t, role, "GET", "/accounts", nil)
		require.Equal(t, http.StatusOK, page.status, "%s: %s", role, page.body)
		html := string(page.body)
		for _, want := range []string{
			fmt.Sprintf(`href="/accounts/%d">Demo sandbox<`, sandboxID),
			fmt.Sprintf(`href="/accounts/%d">Sales SG<`, whatsappID),
			fmt.Sprintf(`href="/accounts/%d">Main number<`, cloudID),
			`<span class="badge warn">paused</span>`, "checking the numbers",
			`<span class="badge info">pending_pair</span>`,
			"WhatsApp Cloud API", "WhatsApp (linked device)",
			`<td class="num">600</td>`, `<td class="num">1` + "\u202f" + `000</td>`, // the rates and the WhatsApp cap
			`href="/accounts/new"`, `href="/monitoring/"`, `<th scope="col">`,
		} {
			require.Contains(t, html, want, role)
		}
		require.NotContains(t, html, "hunter2", "a proxy's password is never shown")
	}

	page := b.page(t, auth.Marketer, "GET", "/accounts", nil)
	require.Equal(t, http.StatusOK, page.status, "a marketer picks a campaign's accounts")
	html := string(page.body)
	require.Contains(t, html, "Sales SG")
	require.NotContains(t, html, `href="/accounts/new"`, "a marketer adds no account")
	require.NotContains(t, html, `href="/monitoring/"`, "nor sees the queue dashboard")

	for _, role := range []auth.Role{auth.Agent, auth.Compliance} {
		page := b.page(t, role, "GET", "/accounts", nil)
		require.Equal(t, http.StatusForbidden, page.status, role)
		require.Contains(t, string(page.body), "accounts:read")
	}
	require.Equal(t, http.StatusUnprocessableEntity, b.page(t, auth.Ops, "GET", "/accounts?cursor=nope", nil).status)
}

// TestConsoleAccountsPages pages through the accounts with cursor links.
func TestConsoleAccountsPages(t *testing.T) {
	b := setup(t)
	for i := range 51 {
		_, err := b.api.Accounts.Create(context.Background(), sender.AccountInput{Name: fmt.Sprintf("acct-%02d", i), Channel: sender.Sandbox})
		require.NoError(t, err)
	}
	html := string(b.page(t, auth.Ops, "GET", "/accounts", nil).body)
	require.Contains(t, html, ">acct-49<")
	require.NotContains(t, html, ">acct-50<")
	next := regexp.MustCompile(`href="/accounts\?cursor=([^"]+)" rel="next"`).FindStringSubmatch(html)
	require.NotNil(t, next, "a next-page link")
	html = string(b.page(t, auth.Ops, "GET", "/accounts?cursor="+next[1], nil).body)
	require.Contains(t, html, ">acct-50<")
	require.NotContains(t, html, ">acct-49<")
	require.NotContains(t, html, `rel="next"`, "the last page")
	require.Contains(t, html, `href="/accounts">First page`)
}

// TestConsoleAccountNew: the form of each channel posts the API's own field names, and
// only the roles that may create accounts see it.
func TestConsoleAccountNew(t *testing.T) {
	b := setup(t)
	page := b.page(t, auth.Ops, "GET", "/accounts/new", nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html := string(page.body)
	require.Equal(t, 3, strings.Count(html, `data-api="POST /v1/accounts" data-next="/accounts/{id}"`), "one form per channel")
	for _, want := range []string{
		`name="channel" value="whatsapp_cloud"`, `name="channel" value="whatsapp"`, `name="channel" value="sandbox"`,
		`name="cloud.phone_number_id"`, `name="cloud.waba_id"`, `name="cloud.access_token" type="password"`,
		`name="cloud.app_secret" type="password"`, `name="cloud.verify_token"`, `name="cloud.api_version"`, `name="cloud.graph_url"`,
		`name="proxy_url"`, `name="warmup" checked`, `name="sandbox.not_on_whatsapp_suffixes" data-type="list"`,
		"/v1/channels/whatsapp_cloud/{id}/webhook", `role="tablist"`,
	} {
		require.Contains(t, html, want)
	}
	// Every input has a label.
	for _, m := range regexp.MustCompile(`<input id="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		require.Contains(t, html, `for="`+m[1]+`"`, "a label for %s", m[1])
	}
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Marketer, "GET", "/accounts/new", nil).status)
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Agent, "GET", "/accounts/new", nil).status)

	// What the sandbox form sends, through the session as the browser sends it.
	res := b.page(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "From the console", "channel": "sandbox",
		"rate_per_minute": 120, "sandbox": map[string]any{"delivered_after_ms": 10, "not_on_whatsapp_suffixes": []string{"000"}}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
}

// TestConsoleAccount: one account's page; the pairing is offered for WhatsApp accounts
// only, and the buttons only to the roles that may press them; a Cloud API account shows
// its webhook URL and verify token and never its secrets.
func TestConsoleAccount(t *testing.T) {
	b := setup(t)
	sandboxID, whatsappID, cloudID := opsAccounts(t, b)

	page := b.page(t, auth.Ops, "GET", fmt.Sprintf("/accounts/%d", whatsappID), nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	html := string(page.body)
	for _, want := range []string{
		`id="pairing"`, `data-account="` + fmt.Sprint(whatsappID) + `"`, "Pair with a QR code", `id="pair-phone-form"`,
		`src="/static/pair.js?v=`, fmt.Sprintf(`data-api="PATCH /v1/accounts/%d"`, whatsappID),
		fmt.Sprintf(`data-api="POST /v1/accounts/%d/pause"`, whatsappID), "proxy.example:1080", "Remove the proxy",
		`name="warmup" checked`, `<label for="pair-phone">`,
	} {
		require.Contains(t, html, want)
	}
	require.NotContains(t, html, "hunter2")
	require.NotContains(t, html, " style=")
	require.NotContains(t, html, " onclick=")

	page = b.page(t, auth.Ops, "GET", fmt.Sprintf("/accounts/%d", sandboxID), nil)
	html = string(page.body)
	require.Equal(t, http.StatusOK, page.status)
	require.NotContains(t, html, "Pair with a QR code", "a sandbox account is not paired")
	require.NotContains(t, html, "pair.js")
	require.Contains(t, html, fmt.Sprintf(`data-api="POST /v1/accounts/%d/resume"`, sandboxID), "it is paused")
	require.Contains(t, html, "checking the numbers")
	require.NotContains(t, html, `name="proxy_url"`, "only WhatsApp accounts dial through a proxy")

	page = b.page(t, auth.Ops, "GET", fmt.Sprintf("/accounts/%d", cloudID), nil)
	html = string(page.body)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	require.NotContains(t, html, "Pair with a QR code")
	require.Contains(t, html, fmt.Sprintf(`<code id="webhook-url">%s/v1/channels/whatsapp_cloud/%d/webhook</code>`, b.srv.URL, cloudID))
	require.Contains(t, html, `<code id="verify-token">verify-me-please</code>`)
	require.Contains(t, html, "1234567890")
	for _, secret := range []string{"EAAG-secret-token", "app-secret-value"} {
		require.NotContains(t, html, secret, "the Cloud API's secrets are never shown")
	}
	// The webhook URL the page shows is the one Meta's handshake reaches.
	u := fmt.Sprintf("%s/v1/channels/whatsapp_cloud/%d/webhook?hub.mode=subscribe&hub.verify_token=verify-me-please&hub.challenge=42", b.srv.URL, cloudID)
	res, err := http.Get(u)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	page = b.page(t, auth.Marketer, "GET", fmt.Sprintf("/accounts/%d", whatsappID), nil)
	html = string(page.body)
	require.Equal(t, http.StatusOK, page.status)
	require.Contains(t, html, "Sales SG")
	for _, button := range []string{"Pair with a QR code", "pair.js", "data-api=", "Pause sending", "Delete the account"} {
		require.NotContains(t, html, button, "a marketer only reads")
	}
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Agent, "GET", fmt.Sprintf("/accounts/%d", whatsappID), nil).status)
	require.Equal(t, http.StatusNotFound, b.page(t, auth.Ops, "GET", "/accounts/999999", nil).status)

	// The settings form's change, as the browser sends it.
	res2 := b.page(t, auth.Ops, "PATCH", fmt.Sprintf("/v1/accounts/%d", whatsappID), map[string]any{"rate_per_minute": 30, "daily_cap": 500, "warmup": true, "pacing": false})
	require.Equal(t, http.StatusOK, res2.status, "%s", res2.body)
	html = string(b.page(t, auth.Ops, "GET", fmt.Sprintf("/accounts/%d", whatsappID), nil).body)
	require.Contains(t, html, `value="30"`)
	require.Contains(t, html, `name="pacing">`, "pacing is off now")
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Marketer, "PATCH", fmt.Sprintf("/v1/accounts/%d", whatsappID), map[string]any{"rate_per_minute": 31}).status)
}

// TestConsolePairing follows what pair.js does: the page offers the pairing, the API
// answers a code, /qr.svg draws it, the account is polled until it is paired, and then
// the page offers the pairing no more.
func TestConsolePairing(t *testing.T) {
	b := setup(t)
	res := b.page(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "WA", "channel": "whatsapp"})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	id := int64(res.json(t)["id"].(float64))
	accountPage := fmt.Sprintf("/accounts/%d", id)
	require.Contains(t, string(b.page(t, auth.Ops, "GET", accountPage, nil).body), "Pair with a QR code")

	p := sender.NewPairing(id, func() {})
	p.Code, p.Timeout = "2@Zm9vYmFy,cHVibGljLWtleQ==,aWRlbnRpdHk=,c2VjcmV0", 3*time.Minute
	b.pairer.mu.Lock()
	b.pairer.pairing = p
	b.pairer.mu.Unlock()

	res = b.page(t, auth.Ops, "POST", fmt.Sprintf("/v1/accounts/%d/pair", id), map[string]any{})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	answer := res.json(t)
	require.Equal(t, p.Code, answer["code"])
	require.Equal(t, float64(180), answer["expires_in_seconds"])

	svg := b.page(t, auth.Ops, "GET", "/qr.svg?data="+url.QueryEscape(answer["code"].(string)), nil)
	require.Equal(t, http.StatusOK, svg.status, "%s", svg.body)
	requireQR(t, string(svg.body), p.Code)

	// The phone-code alternative: a number WhatsApp refuses is a field error.
	res = b.page(t, auth.Ops, "POST", fmt.Sprintf("/v1/accounts/%d/pair", id), map[string]any{"phone": "12"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
	require.Contains(t, res.fieldErrors(t), "phone")
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Marketer, "POST", fmt.Sprintf("/v1/accounts/%d/pair", id), map[string]any{}).status)

	p.Finish(sender.PairEvent{Kind: sender.PairSuccess, Phone: "+6591234567", Device: "6591234567:12@s.whatsapp.net"})
	require.Eventually(t, func() bool {
		a := b.page(t, auth.Ops, "GET", fmt.Sprintf("/v1/accounts/%d", id), nil).json(t)
		return a["connection_status"] == "disconnected" // what pair.js's linked() waits for
	}, 10*time.Second, 50*time.Millisecond, "the poll sees the account paired")

	html := string(b.page(t, auth.Ops, "GET", accountPage, nil).body)
	require.NotContains(t, html, "Pair with a QR code", "a paired account is not offered a pairing")
	require.NotContains(t, html, "pair.js")
	require.Contains(t, html, "paired with the phone")
	require.Contains(t, html, "6591234567", "the business's own number")
}

// TestConsolePairingInBrowser runs pair.js in headless Chromium: the button asks for a
// pairing, the QR code appears as an image the browser can draw under the console's CSP,
// and when the phone links the account the poll notices and the page says "Paired".
// Like cmd/crier's browser tests it does not skip without a browser (make test installs
// one with scripts/chromium.sh).
func TestConsolePairingInBrowser(t *testing.T) {
	b := setup(t)

	res := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "WA", "channel": "whatsapp"})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	id := int64(res.json(t)["id"].(float64))
	p := sender.NewPairing(id, func() {})
	p.Code, p.Timeout = "2@browser-code,a2V5,aWQ=,c2VjcmV0", 3*time.Minute
	b.pairer.mu.Lock()
	b.pairer.pairing = p
	b.pairer.mu.Unlock()
	br := b.browser(t, auth.Ops, 60*time.Second)
	ctx, eval, waitFor := br.ctx, br.eval, br.waitFor
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/accounts/%d", b.srv.URL, id)),
		chromedp.WaitVisible(chromedp.CSS("#pair-qr")), chromedp.Click(chromedp.CSS("#pair-qr"))))

	img := `document.getElementById('pair-qr-img')`
	waitFor("the QR code is drawn", img+`.complete && `+img+`.naturalWidth > 0 && !document.getElementById('pair-qr-box').hidden`)
	require.True(t, eval("the image is the code's", img+`.getAttribute('src') === '/qr.svg?data=' + encodeURIComponent('`+p.Code+`')`))
	require.True(t, eval("it has a text alternative", img+`.alt.indexOf('Linked devices') > 0`))
	require.True(t, eval("it waits", `document.getElementById('pair-status').textContent.indexOf('Waiting for the phone') >= 0`))

	p.Finish(sender.PairEvent{Kind: sender.PairSuccess, Phone: "+6591234567", Device: "6591234567:12@s.whatsapp.net"})
	waitFor("the page says Paired", `document.getElementById('pair-status').textContent.indexOf('Paired with +6591234567') === 0`)
	require.True(t, eval("the code is gone", `document.getElementById('pair-qr-box').hidden`))
	b.pairer.mu.Lock()
	defer b.pairer.mu.Unlock()
	require.Equal(t, []string{fmt.Sprintf("qr %d", id)}, b.pairer.calls, "one pairing asked for")
}

// TestConsoleQRSVG: /qr.svg draws a scannable grid (the size of a QR version, the three
// finder patterns, the timing patterns, each module where the encoder put it), refuses
// text over 1 KiB, and only for the roles that pair.
func TestConsoleQRSVG(t *testing.T) {
	b := setup(t)
	for _, data := range []string{"hello", strings.Repeat("2@abcdefghij,", 20), strings.Repeat("x", 1024)} {
		res := b.page(t, auth.Ops, "GET", "/qr.svg?data="+url.QueryEscape(data), nil)
		require.Equal(t, http.StatusOK, res.status, "%d bytes: %s", len(data), res.body)
		require.Equal(t, "image/svg+xml", res.header.Get("Content-Type"))
		require.Equal(t, "no-store", res.header.Get("Cache-Control"))
		require.NotContains(t, string(res.body), "<script")
		requireQR(t, string(res.body), data)
	}
	for _, bad := range []string{strings.Repeat("x", 1025), ""} {
		res := b.page(t, auth.Ops, "GET", "/qr.svg?data="+url.QueryEscape(bad), nil)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%d bytes", len(bad))
	}
	require.Equal(t, http.StatusOK, b.page(t, auth.Admin, "GET", "/qr.svg?data=x", nil).status)
	require.Equal(t, http.StatusForbidden, b.page(t, auth.Marketer, "GET", "/qr.svg?data=x", nil).status)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(b.srv.URL + "/qr.svg?data=x")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "no session: sign in")
}

var (
	svgViewBox = regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`)
	svgPath    = regexp.MustCompile(`<path fill="#000" d="([^"]*)"`)
	svgRun     = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
)

// requireQR reads the SVG back into a grid of modules and checks that it is the QR code
// of data: a version's size with a 4-module quiet zone, the fixed patterns every scanner
// looks for, and each module as the encoder placed it.
func requireQR(t *testing.T, svg, data string) {
	t.Helper()
	vb := svgViewBox.FindStringSubmatch(svg)
	require.NotNil(t, vb, "a viewBox: %.200s", svg)
	side, _ := strconv.Atoi(vb[1])
	size := side - 8
	require.Equal(t, vb[1], vb[2], "square")
	require.True(t, size >= 21 && size <= 177 && (size-17)%4 == 0, "a QR version's size: %d", size)

	d := svgPath.FindStringSubmatch(svg)
	require.NotNil(t, d, "one path of dark modules")
	grid := make([][]bool, size)
	for i := range grid {
		grid[i] = make([]bool, size)
	}
	runs := svgRun.FindAllStringSubmatch(d[1], -1)
	require.Equal(t, len(d[1]), len(strings.Join(flatten(runs), "")), "the path is only runs of modules")
	for _, m := range runs {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		require.Equal(t, m[3], m[4])
		for i := range n {
			cx, cy := x-4+i, y-4
			require.True(t, cx >= 0 && cx < size && cy >= 0 && cy < size, "a module outside the quiet zone")
			grid[cy][cx] = true
		}
	}

	// The three finder patterns: a dark 7x7 ring, a light ring, a dark 3x3 centre.
	for _, corner := range [][2]int{{0, 0}, {size - 7, 0}, {0, size - 7}} {
		for y := range 7 {
			for x := range 7 {
				ring := max(abs(x-3), abs(y-3))
				require.Equal(t, ring != 2, grid[corner[1]+y][corner[0]+x], "finder at %v, module %d,%d", corner, x, y)
			}
		}
	}
	// The timing patterns alternate between the finders.
	for i := 8; i < size-8; i++ {
		require.Equal(t, i%2 == 0, grid[6][i], "row timing at %d", i)
		require.Equal(t, i%2 == 0, grid[i][6], "column timing at %d", i)
	}
	want, err := qr.Encode(data, qr.M)
	require.NoError(t, err)
	require.Equal(t, want.Size, size)
	for y := range size {
		for x := range size {
			require.Equal(t, want.Black(x, y), grid[y][x], "module %d,%d", x, y)
		}
	}
}

func flatten(runs [][]string) []string {
	out := make([]string, len(runs))
	for i, m := range runs {
		out[i] = m[0]
	}
	return out
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
