package httpapi_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// TestAccountUpdate: PATCH changes each setting it is given and no other, answers the
// account as GET shows it, and is audited with what changed (never a proxy's password).
func TestAccountUpdate(t *testing.T) {
	b := setup(t)
	sb := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox"}).json(t)
	sbPath := fmt.Sprintf("/v1/accounts/%d", int64(sb["id"].(float64)))
	wa := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "Sales", "channel": "whatsapp",
		"proxy_url": "socks5://user:hunter2@proxy.example:1080"}).json(t)
	waPath := fmt.Sprintf("/v1/accounts/%d", int64(wa["id"].(float64)))

	patch := func(path string, body map[string]any) map[string]any {
		t.Helper()
		res := b.do(t, auth.Ops, "PATCH", path, body)
		require.Equal(t, 200, res.status, "%s", res.body)
		got := res.json(t)
		shown := b.do(t, auth.Ops, "GET", path, nil).json(t)
		delete(got, "updated_at") // usage and the rest: as GET shows it
		delete(shown, "updated_at")
		require.Equal(t, shown, got)
		return got
	}

	got := patch(sbPath, map[string]any{"rate_per_minute": 1200})
	require.Equal(t, float64(1200), got["rate_per_minute"])
	require.Equal(t, sb["daily_cap"], got["daily_cap"], "the others stay")
	require.Equal(t, sb["warmup"], got["warmup"])

	got = patch(sbPath, map[string]any{"daily_cap": 250})
	require.Equal(t, float64(250), got["daily_cap"])
	require.Equal(t, float64(1200), got["rate_per_minute"])
	require.Equal(t, float64(250), got["usage"].(map[string]any)["daily_limit"], "the limiter takes the new cap")

	require.Equal(t, false, sb["warmup"])
	require.Nil(t, sb["warmup_started_on"])
	before := time.Now().UTC().Format(time.DateOnly)
	got = patch(sbPath, map[string]any{"warmup": true})
	after := time.Now().UTC().Format(time.DateOnly)
	require.Equal(t, true, got["warmup"])
	require.Contains(t, []string{before, after}, got["warmup_started_on"], "turning warm-up on starts it today")

	got = patch(sbPath, map[string]any{"pacing": true})
	require.Equal(t, true, got["pacing"])

	got = patch(waPath, map[string]any{"proxy_url": "http://agent:n3wpass@proxy2.example:3128"})
	require.Equal(t, "http://agent:xxxxx@proxy2.example:3128", got["proxy_url"])
	got = patch(waPath, map[string]any{"warmup": false})
	require.Equal(t, false, got["warmup"])
	got = patch(waPath, map[string]any{"warmup": true})
	require.Nil(t, got["warmup_started_on"], "an account waiting to be paired starts its warm-up when paired")
	got = patch(waPath, map[string]any{"proxy_url": ""})
	require.Nil(t, got["proxy_url"], "an empty proxy_url removes the proxy")

	// The audit entries: what changed, old → new, and no password anywhere.
	res := b.do(t, auth.Compliance, "GET", "/v1/audit?limit=100&action=account.update", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	for _, secret := range []string{"hunter2", "n3wpass"} {
		require.NotContains(t, string(res.body), secret)
	}
	var changes []map[string]any
	for _, e := range res.json(t)["data"].([]any) {
		e := e.(map[string]any)
		require.Equal(t, "account", e["target_type"])
		changes = append(changes, e["detail"].(map[string]any)["changes"].(map[string]any))
	}
	slices.Reverse(changes) // oldest first
	require.Len(t, changes, 8)
	require.Equal(t, map[string]any{"rate_per_minute": map[string]any{"old": float64(600), "new": float64(1200)}}, changes[0])
	require.Equal(t, map[string]any{"daily_cap": map[string]any{"old": float64(0), "new": float64(250)}}, changes[1])
	require.Equal(t, map[string]any{"warmup": map[string]any{"old": false, "new": true}}, changes[2])
	require.Equal(t, map[string]any{"proxy_url": map[string]any{"old": "socks5://user:xxxxx@proxy.example:1080",
		"new": "http://agent:xxxxx@proxy2.example:3128"}}, changes[4])
	require.Equal(t, map[string]any{"proxy_url": map[string]any{"old": "http://agent:xxxxx@proxy2.example:3128", "new": ""}}, changes[7])
}

// TestAccountUpdateRefuses: the validation of account creation, unknown fields, a proxy for
// a channel that dials none, roles without accounts:write, and deleted or unknown accounts.
func TestAccountUpdateRefuses(t *testing.T) {
	b := setup(t)
	sb := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox"}).json(t)
	sbPath := fmt.Sprintf("/v1/accounts/%d", int64(sb["id"].(float64)))
	wa := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "Sales", "channel": "whatsapp"}).json(t)
	waPath := fmt.Sprintf("/v1/accounts/%d", int64(wa["id"].(float64)))

	for _, tc := range []struct {
		path   string
		body   map[string]any
		fields []string
	}{
		{sbPath, map[string]any{"rate_per_minute": 0, "daily_cap": -1}, []string{"daily_cap", "rate_per_minute"}},
		{waPath, map[string]any{"rate_per_minute": 1001}, []string{"rate_per_minute"}},
		{sbPath, map[string]any{"proxy_url": "socks5://proxy.example:1080"}, []string{"proxy_url"}},
		{waPath, map[string]any{"proxy_url": "ftp://proxy.example:21"}, []string{"proxy_url"}},
		{waPath, map[string]any{"name": "Renamed"}, []string{"name"}},
		{waPath, map[string]any{"warmup": "yes"}, []string{"warmup"}},
	} {
		res := b.do(t, auth.Ops, "PATCH", tc.path, tc.body)
		require.Equal(t, 422, res.status, "%v: %s", tc.body, res.body)
		require.Equal(t, tc.fields, slices.Sorted(maps.Keys(res.fieldErrors(t))), "%v", tc.body)
	}
	require.Equal(t, float64(20), b.do(t, auth.Ops, "GET", waPath, nil).json(t)["rate_per_minute"], "nothing changed")

	res := b.do(t, auth.Marketer, "PATCH", waPath, map[string]any{"rate_per_minute": 30})
	require.Equal(t, 403, res.status, "%s", res.body)
	require.Contains(t, b.auditActions(t, auth.Marketer), "account.update", "the refusal is audited")

	require.Equal(t, 404, b.do(t, auth.Ops, "PATCH", waPath+"0", map[string]any{"rate_per_minute": 30}).status)
	require.Equal(t, 204, b.do(t, auth.Ops, "DELETE", waPath, nil).status)
	res = b.do(t, auth.Ops, "PATCH", waPath, map[string]any{"rate_per_minute": 30})
	require.Equal(t, 404, res.status, "%s", res.body)
	require.True(t, strings.Contains(string(res.body), "not found"), "%s", res.body)
}
