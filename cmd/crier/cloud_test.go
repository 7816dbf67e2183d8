package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
)

// TestCloudCampaignEndToEnd runs a campaign over whatsapp_cloud through `crier all` and its
// API, against a fake Graph API: the account is checked with Meta, the template sync maps
// Meta's template, scheduling waits for its approval, the sends go out as templates, a
// 131050 failure becomes a withdrawal, signed status webhooks become receipts, and a STOP
// arriving by webhook is honoured and confirmed.
func TestCloudCampaignEndToEnd(t *testing.T) {
	t.Parallel()
	meta := cloudtest.New(t, cloudtest.Options{})
	template := func(status string) []cloudtest.Template {
		return []cloudtest.Template{{ID: "901", Name: "spring_sale", Language: "en_US", Category: "MARKETING", Status: status,
			Components: []map[string]any{
				{"type": "BODY", "text": "Hi {{1}}, the spring sale is on: 20% off."},
				{"type": "FOOTER", "text": "Reply STOP to unsubscribe"},
			}}}
	}
	meta.SetTemplates(template("PENDING"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	getenv := env(t, "CRIER_HTTP_ADDR", addr, "CRIER_SECRET_KEY", strings.Repeat("ab", 32),
		"CRIER_LOG_LEVEL", "warn", "CRIER_RECONCILE_EVERY", "1s")
	code, keyOut, stderr := runCmd(t, getenv, "migrate")
	require.Equal(t, 0, code, stderr)
	code, keyOut, stderr = runCmd(t, getenv, "apikey", "create", "--name", "e2e", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	api := &apiClient{t: t, base: "http://" + addr, key: strings.TrimSpace(keyOut)}

	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"all"}, getenv, io.Discard, &logs) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("crier all:\n%s", logs.String())
		}
	})
	api.waitReady()
	a := testApp(t, getenv)
	count := func(q string, args ...any) int {
		var n int
		require.NoError(t, a.pool.QueryRow(context.Background(), q, args...).Scan(&n))
		return n
	}

	api.do("POST", "/v1/contacts/import?consent_source=spring%20form", "text/csv",
		"phone,name,tags,consent\n+6591000001,Ada Tan,vip,yes\n+6591000002,Ben Lim,vip,yes\n+6591000003,Chen Wei,vip,yes\n+6591000004,Dina Sari,vip,yes\n", 200)
	acct := api.do("POST", "/v1/accounts", "", map[string]any{"name": "Cloud", "channel": "whatsapp_cloud", "cloud": map[string]any{
		"phone_number_id": meta.PhoneNumberID(), "waba_id": meta.WABAID(), "graph_url": meta.URL,
		"access_token": meta.Token(), "app_secret": meta.AppSecret()}}, 201)
	accountID := int64(acct["id"].(float64))

	// The sync makes a Crier template of Meta's; the marketer maps its parameter.
	synced := api.do("POST", fmt.Sprintf("/v1/accounts/%d/templates/sync", accountID), "", nil, 200)
	st := synced["templates"].([]any)[0].(map[string]any)
	require.Equal(t, "created", st["outcome"], "%v", st)
	tplID := int64(st["template_id"].(float64))
	tpl := api.do("GET", fmt.Sprintf("/v1/templates/%d", tplID), "", nil, 200)
	locale := tpl["locales"].([]any)[0].(map[string]any)
	locale["cloud"].(map[string]any)["params"] = []string{"{{ first_name }}"}
	api.do("PUT", fmt.Sprintf("/v1/templates/%d", tplID), "", map[string]any{"name": tpl["name"], "category": tpl["category"],
		"locales": []any{locale}}, 200)

	camp := api.do("POST", "/v1/campaigns", "", map[string]any{"name": "Spring", "template_id": tplID, "account_ids": []int64{accountID},
		"audience": map[string]any{"tags_any": []string{"vip"}}, "quiet_hours": map[string]any{"start": "00:00", "end": "00:00"}}, 201)
	campaignID := int64(camp["id"].(float64))
	refused := api.do("POST", fmt.Sprintf("/v1/campaigns/%d/schedule", campaignID), "", nil, 422)
	require.Contains(t, fmt.Sprint(refused), "PENDING", "the error names the unapproved template")

	meta.SetTemplates(template("APPROVED"))
	api.do("POST", fmt.Sprintf("/v1/accounts/%d/templates/sync", accountID), "", nil, 200)
	// Dina stopped marketing messages from the business inside WhatsApp.
	meta.FailTo("+6591000004", cloudtest.Failure{Code: 131050,
		Message: "(#131050) Unable to deliver message", Details: "User has stopped marketing messages from this business"})
	api.do("POST", fmt.Sprintf("/v1/campaigns/%d/schedule", campaignID), "", nil, 200)

	waitUntil(t, 90*time.Second, "the campaign's sends", func() bool {
		return count(`SELECT count(*) FROM deliveries WHERE status IN ('queued', 'sending')`) == 0 &&
			count(`SELECT count(*) FROM deliveries`) == 4
	})
	sent := meta.Sent()
	require.Len(t, sent, 3, "three sends, one each")
	for _, m := range sent {
		require.Equal(t, "template", m.Type)
		require.NotEmpty(t, m.CallbackData, "the delivery's message id rides along")
		require.Contains(t, string(m.Body), `"spring_sale"`)
	}
	require.Contains(t, string(sent[0].Body)+string(sent[1].Body)+string(sent[2].Body), `"Ada"`, "the parameter is the contact's first name")
	require.Equal(t, 3, count(`SELECT count(*) FROM deliveries WHERE status = 'sent' AND provider_id LIKE 'wamid.%'`))
	require.Equal(t, 1, count(`SELECT count(*) FROM deliveries WHERE status = 'failed'`))
	require.Equal(t, 1, count(`SELECT count(*) FROM consent_ledger l JOIN contacts c ON c.id = l.contact_id
		WHERE c.phone = '+6591000004' AND l.status = 'withdrawn' AND l.source = 'whatsapp' AND l.evidence->>'error' LIKE '%stopped marketing%'`),
		"131050 is a withdrawal, with Meta's words as evidence")
	require.Equal(t, 1, count(`SELECT count(*) FROM suppressions WHERE source = 'whatsapp'`))

	post := func(body []byte, signature string) int {
		req, err := http.NewRequest("POST", fmt.Sprintf("%s/v1/channels/whatsapp_cloud/%d/webhook", api.base, accountID), bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", signature)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	var statuses []cloudtest.Status
	for _, m := range sent {
		statuses = append(statuses, cloudtest.StatusOf(m, "delivered"))
	}
	delivered := meta.StatusWebhook(statuses...)
	require.Equal(t, 401, post(delivered, cloudtest.Sign("not-the-app-secret", delivered)), "a bad signature is refused")
	require.Equal(t, 200, post(delivered, meta.Sign(delivered)))
	require.Equal(t, 200, post(delivered, meta.Sign(delivered)), "Meta's retry of the same webhook")
	read := meta.StatusWebhook(cloudtest.StatusOf(sent[0], "read"))
	require.Equal(t, 200, post(read, meta.Sign(read)))
	waitUntil(t, 30*time.Second, "the receipts", func() bool {
		return count(`SELECT count(*) FROM deliveries WHERE status IN ('delivered', 'read')`) == 3 &&
			count(`SELECT count(*) FROM deliveries WHERE status = 'read'`) == 1
	})
	stats := api.do("GET", fmt.Sprintf("/v1/campaigns/%d/stats", campaignID), "", nil, 200)
	require.Contains(t, fmt.Sprint(stats), "delivered")

	// Ada replies STOP on WhatsApp: withdrawn, suppressed, and one confirmation, as free text
	// inside the window she just opened.
	stop := meta.InboundWebhook(cloudtest.Inbound{From: "+6591000001", Text: "STOP"})
	require.Equal(t, 200, post(stop, meta.Sign(stop)))
	waitUntil(t, 60*time.Second, "the STOP and its confirmation", func() bool {
		for _, m := range meta.Sent() {
			if m.Type == "text" && m.To == "+6591000001" {
				return true
			}
		}
		return false
	})
	require.Equal(t, 1, count(`SELECT count(*) FROM inbound_messages WHERE class = 'opt_out'`))
	require.Equal(t, 1, count(`SELECT count(*) FROM consent_state s JOIN contacts c ON c.id = s.contact_id
		WHERE c.phone = '+6591000001' AND s.purpose = 'marketing' AND s.status = 'withdrawn'`))
	require.Equal(t, 0, count(`SELECT count(*) FROM cloud_webhooks WHERE processed_at IS NOT NULL AND body IS NOT NULL`),
		"processed bodies, with numbers and texts, are cleared")

	// The token expires mid-campaign: the account pauses itself and says why, its messages
	// wait instead of failing, and they go once the token works again and ops resume it.
	meta.ExpireToken(true)
	second := api.do("POST", "/v1/campaigns", "", map[string]any{"name": "Spring, again", "template_id": tplID, "account_ids": []int64{accountID},
		"audience": map[string]any{"tags_any": []string{"vip"}}, "quiet_hours": map[string]any{"start": "00:00", "end": "00:00"}}, 201)
	secondID := int64(second["id"].(float64))
	api.do("POST", fmt.Sprintf("/v1/campaigns/%d/schedule", secondID), "", nil, 200)
	waitUntil(t, 60*time.Second, "the account to pause itself", func() bool {
		a := api.do("GET", fmt.Sprintf("/v1/accounts/%d", accountID), "", nil, 200)
		return a["status"] == "paused" && strings.Contains(fmt.Sprint(a["status_reason"]), "190")
	})
	require.Zero(t, count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'failed'`, secondID),
		"an account failure fails no message")
	meta.ExpireToken(false)
	api.do("POST", fmt.Sprintf("/v1/accounts/%d/resume", accountID), "", nil, 200)
	waitUntil(t, 90*time.Second, "the second campaign's sends", func() bool {
		return count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'sent'`, secondID) == 2
	})
	perRecipient := map[string]int{}
	for _, m := range meta.Sent() {
		if m.Type == "template" {
			perRecipient[m.To]++
		}
	}
	require.Equal(t, map[string]int{"+6591000001": 1, "+6591000002": 2, "+6591000003": 2}, perRecipient,
		"one message per campaign and recipient; none to those who opted out")
}
