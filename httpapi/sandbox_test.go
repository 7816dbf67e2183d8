package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/sender"
)

func TestSandboxInboundStop(t *testing.T) {
	b := setup(t)
	contact := b.createContact(t, "+6591234567")
	require.Equal(t, 201, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/consent", contact), map[string]any{
		"status": "granted", "source": "form", "evidence": map[string]any{"url": "https://shop.example/signup"},
	}).status)
	acct := b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox"}).json(t)
	wa := b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{"name": "WA", "channel": "whatsapp"}).json(t)

	res := b.do(t, auth.Admin, "POST", "/v1/sandbox/inbound", map[string]any{"account_id": acct["id"], "from": "+65 9123 4567", "text": "Stop please"})
	require.Equal(t, 202, res.status, "%s", res.body)
	out := res.json(t)
	require.Equal(t, "opt_out", out["class"])
	require.Contains(t, out["reply"], "Reply START to resubscribe")

	state := b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/contacts/%d/consent", contact), nil).json(t)
	require.Contains(t, fmt.Sprint(state["current"]), "withdrawn", "%v", state)
	latest := state["ledger"].([]any)[0].(map[string]any)
	require.Equal(t, "sandbox", latest["source"], "recorded as simulated, never as the customer's own keyword")
	require.Equal(t, "sandbox:key:"+b.keyIDs[auth.Admin], latest["actor"])

	res = b.do(t, auth.Admin, "POST", "/v1/sandbox/inbound", map[string]any{"account_id": wa["id"], "from": "+6591234567", "text": "STOP"})
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t)["account_id"], "only sandbox accounts")
	require.Equal(t, fmt.Sprintf("account %d is a whatsapp account: only sandbox accounts take simulated messages", int64(wa["id"].(float64))),
		res.fieldErrors(t)["account_id"], "the channels' capabilities word it as before")
	res = b.do(t, auth.Admin, "POST", "/v1/sandbox/inbound", map[string]any{"account_id": 999, "from": "not a phone", "text": ""})
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t), "text")
	res = b.do(t, auth.Admin, "POST", "/v1/sandbox/inbound", map[string]any{"account_id": 999, "from": "+6591234567", "text": "hi"})
	require.Contains(t, res.fieldErrors(t)["account_id"], "no account 999")
}

// TestSandboxCannotSpeakForCustomers is issue 15's first reproduction: a marketer or ops key
// forged a customer's START through the demo's sandbox account and lifted their opt-out,
// even an erasure's.
func TestSandboxCannotSpeakForCustomers(t *testing.T) {
	b := setup(t)
	acct := b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox"}).json(t)
	contact := b.createContact(t, "+6591234567")
	require.Equal(t, 201, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/consent", contact), map[string]any{
		"status": "granted", "source": "form", "evidence": map[string]any{"url": "https://shop.example/signup"}}).status)
	_, err := b.consent.HandleInbound(context.Background(), consent.Inbound{AccountID: 77, From: "+6591234567", Text: "STOP",
		ProviderID: "wamid.real", ReceivedAt: time.Now()})
	require.NoError(t, err)
	erased := b.createContact(t, "+6591234568")
	require.Equal(t, 200, b.do(t, auth.Compliance, "POST", fmt.Sprintf("/v1/contacts/%d/erase", erased), nil).status)

	for _, role := range []auth.Role{auth.Marketer, auth.Ops, auth.Agent, auth.Compliance} {
		for _, text := range []string{"START", "STOP"} {
			res := b.do(t, role, "POST", "/v1/sandbox/inbound", map[string]any{"account_id": acct["id"], "from": "+6591234567", "text": text})
			require.Equal(t, 403, res.status, "%s may not simulate a customer's %s", role, text)
		}
	}
	for _, phone := range []string{"+6591234567", "+6591234568"} {
		res := b.do(t, auth.Admin, "POST", "/v1/sandbox/inbound", map[string]any{"account_id": acct["id"], "from": phone, "text": "START"})
		require.Equal(t, 202, res.status, "%s", res.body)
		require.Empty(t, res.json(t)["reply"], "no confirmation of a resubscription that did not happen")
		sup := b.do(t, auth.Compliance, "GET", "/v1/suppressions?phone="+url.QueryEscape(phone), nil).json(t)
		require.Len(t, sup["data"], 2, "a simulated START lifts neither a real STOP nor an erasure (%s)", phone)
	}
	ex, err := b.consent.Eligibility(context.Background(), contact, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, ex)
}

func TestSandboxOff(t *testing.T) {
	b := setup(t, httpapi.Options{SandboxOff: true})
	res := b.do(t, auth.Admin, "POST", "/v1/sandbox/inbound", map[string]any{"account_id": 1, "from": "+6591234567", "text": "STOP"})
	require.Equal(t, 404, res.status)
	require.Contains(t, string(res.body), "CRIER_SANDBOX=off")
	require.Equal(t, 404, b.do(t, auth.Admin, "GET", "/v1/sandbox/messages", nil).status)
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_messages`).Scan(&n))
	require.Zero(t, n)
}

func TestSandboxMessages(t *testing.T) {
	b := setup(t)
	acct := b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox",
		"sandbox": map[string]any{"read_after_ms": -1}}).json(t)
	id := int64(acct["id"].(float64))
	tr, err := b.network.Connect(context.Background(), sender.Account{ID: id, Channel: sender.Sandbox,
		Sandbox: &sender.SandboxConfig{ReadAfterMS: -1}}, nil)
	require.NoError(t, err)
	defer tr.Close()
	for i, to := range []string{"+6591234567", "+6591234567", "+6598765432"} {
		_, err := tr.Send(context.Background(), sender.Message{ID: fmt.Sprintf("m%d", i), To: to, Text: fmt.Sprintf("hello %d", i)})
		require.NoError(t, err)
	}

	res := b.do(t, auth.Admin, "GET", "/v1/sandbox/messages?to="+url.QueryEscape("+65 9123 4567")+"&limit=1", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	page := res.json(t)
	require.Len(t, page["data"], 1)
	first := page["data"].([]any)[0].(map[string]any)
	require.Equal(t, "+6591234567", first["to"])
	require.Equal(t, "hello 0", first["text"])
	require.Equal(t, "m0", first["id"])
	next := b.do(t, auth.Admin, "GET", "/v1/sandbox/messages?to=%2B6591234567&cursor="+page["next_cursor"].(string), nil).json(t)
	require.Len(t, next["data"], 1)
	require.Equal(t, "hello 1", next["data"].([]any)[0].(map[string]any)["text"])
	require.Nil(t, next["next_cursor"])

	all := b.do(t, auth.Marketer, "GET", fmt.Sprintf("/v1/sandbox/messages?account_id=%d", id), nil).json(t)
	require.Len(t, all["data"], 3)
	require.NotContains(t, fmt.Sprint(all["data"]), "+6598765432", "phones are masked without the PII permission")

	res = b.do(t, auth.Admin, "GET", "/v1/sandbox/messages?to=12&account_id=x", nil)
	require.Equal(t, 422, res.status)
	fields := res.fieldErrors(t)
	require.Contains(t, fields, "to")
	require.Contains(t, fields, "account_id")
}
