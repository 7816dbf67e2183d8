package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
)

// TestCloudAccountAndWebhook: a whatsapp_cloud account is created only with a token Meta
// accepts, never shows its secrets, and its webhook URL answers Meta's handshake and takes
// only what the app secret signed.
func TestCloudAccountAndWebhook(t *testing.T) {
	b := setup(t)
	meta := cloudtest.New(t, cloudtest.Options{})
	input := func(token string) map[string]any {
		return map[string]any{"name": "Cloud", "channel": "whatsapp_cloud", "cloud": map[string]any{
			"phone_number_id": meta.PhoneNumberID(), "waba_id": meta.WABAID(), "graph_url": meta.URL,
			"access_token": token, "app_secret": meta.AppSecret(), "verify_token": "let-me-in"}}
	}

	res := b.do(t, auth.Ops, "POST", "/v1/accounts", input("not-the-token"))
	require.Equal(t, 422, res.status, "%s", res.body)
	require.Contains(t, res.fieldErrors(t), "cloud.access_token")
	require.NotContains(t, string(res.body), "not-the-token")
	require.Zero(t, count(t, b, `SELECT count(*) FROM accounts`), "nothing stored for a refused token")

	res = b.do(t, auth.Ops, "POST", "/v1/accounts", input(meta.Token()))
	require.Equal(t, 201, res.status, "%s", res.body)
	require.NotContains(t, string(res.body), meta.Token())
	require.NotContains(t, string(res.body), meta.AppSecret())
	acct := res.json(t)
	cloud := acct["cloud"].(map[string]any)
	require.Equal(t, true, cloud["access_token_set"])
	require.Equal(t, true, cloud["app_secret_set"])
	require.Equal(t, 4800.0, acct["rate_per_minute"], "Meta's standard 80 a second")
	id := int64(acct["id"].(float64))
	hook := fmt.Sprintf("%s/v1/channels/whatsapp_cloud/%d/webhook", b.srv.URL, id)

	// The handshake: the challenge comes back for the right verify token only.
	get := func(token string) (int, string) {
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}
		r, err := http.Get(hook + "?" + q.Encode())
		require.NoError(t, err)
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(body)
	}
	status, body := get("let-me-in")
	require.Equal(t, 200, status)
	require.Equal(t, "1158201444", body)
	status, _ = get("guess")
	require.Equal(t, 403, status)

	// Events: no API key, but Meta's signature.
	payload := meta.InboundWebhook(cloudtest.Inbound{From: "+6591234567", Text: "STOP"})
	post := func(signature string) int {
		req, err := http.NewRequest("POST", hook, strings.NewReader(string(payload)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if signature != "" {
			req.Header.Set("X-Hub-Signature-256", signature)
		}
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r.Body.Close()
		return r.StatusCode
	}
	require.Equal(t, 401, post(""), "unsigned")
	require.Equal(t, 401, post(cloudtest.Sign("another-secret", payload)), "signed with another secret")
	require.Zero(t, count(t, b, `SELECT count(*) FROM cloud_webhooks`), "nothing unsigned is stored")
	require.Equal(t, 200, post(meta.Sign(payload)))
	require.Equal(t, 1, count(t, b, `SELECT count(*) FROM cloud_webhooks WHERE account_id = $1`, id))

	// Another account's id, or none, is not found.
	r, err := http.Post(fmt.Sprintf("%s/v1/channels/whatsapp_cloud/%d/webhook", b.srv.URL, id+100), "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, 404, r.StatusCode)
}

func count(t *testing.T, b *testBundle, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), q, args...).Scan(&n))
	return n
}
