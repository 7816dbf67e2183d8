package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/sender"
)

// auditActions lists the audit log's actions of a key, newest first.
func (b *testBundle) auditActions(t *testing.T, role auth.Role) []string {
	t.Helper()
	res := b.do(t, auth.Compliance, "GET", "/v1/audit?limit=1000&actor_key_id="+b.keyIDs[role], nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	var out []string
	for _, e := range res.json(t)["data"].([]any) {
		out = append(out, e.(map[string]any)["action"].(string))
	}
	return out
}

// TestPIIReachMatchesPurpose is issue 16's seventh reproduction: an agent paged through the
// whole base with numbers in clear, masked roles saw evidence and sandbox text in clear and
// could confirm a full number, and reads in clear were not audited.
func TestPIIReachMatchesPurpose(t *testing.T) {
	b := setup(t)
	for i := range 3 {
		b.createContact(t, fmt.Sprintf("+659123456%d", i))
	}
	id := b.createContact(t, "+6598765432")
	require.Equal(t, 201, b.do(t, auth.Agent, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), map[string]any{
		"status": "granted", "source": "form", "evidence": map[string]any{"ip": "203.0.113.7", "email": "zoe@example.com",
			"text_shown": "Offers to +6598765432?"}}).status)

	// An agent looks contacts up one at a time, and cannot page through them.
	res := b.do(t, auth.Agent, "GET", "/v1/contacts?limit=1000", nil)
	require.Equal(t, 403, res.status, "%s", res.body)
	require.Contains(t, string(res.body), "contacts:list")
	res = b.do(t, auth.Agent, "GET", "/v1/contacts?phone="+url.QueryEscape("+6598765432"), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "+6598765432", res.json(t)["data"].([]any)[0].(map[string]any)["phone"])
	require.Equal(t, 200, b.do(t, auth.Agent, "GET", fmt.Sprintf("/v1/contacts/%d", id), nil).status)
	require.Equal(t, []string{"contact.read", "contact.list", "consent.record"}, b.auditActions(t, auth.Agent),
		"every read in clear is audited, with the agent as actor")

	// A masked role's exact lookup says whether a contact has the number, and nothing else.
	for _, phone := range []string{"+6598765432", "+6598765433"} {
		res = b.do(t, auth.Marketer, "GET", "/v1/contacts?phone="+url.QueryEscape(phone), nil)
		require.Equal(t, 200, res.status, "%s", res.body)
		require.Equal(t, map[string]any{"exists": phone == "+6598765432"}, res.json(t))
	}
	require.Equal(t, []string{"contact.lookup", "contact.lookup"}, b.auditActions(t, auth.Marketer)[:2])
	page := b.do(t, auth.Marketer, "GET", "/v1/contacts", nil).json(t)
	require.Len(t, page["data"], 4, "a masked role still pages through contacts, masked")
	require.NotContains(t, string(b.do(t, auth.Marketer, "GET", "/v1/contacts", nil).body), "98765432")

	// Evidence is masked for marketer and ops, and in clear (audited) for compliance.
	for _, role := range []auth.Role{auth.Marketer, auth.Ops} {
		body := string(b.do(t, role, "GET", fmt.Sprintf("/v1/contacts/%d/consent", id), nil).body)
		for _, secret := range []string{"203.0.113.7", "zoe@example.com", "98765432"} {
			require.NotContains(t, body, secret, "%s sees the evidence masked", role)
		}
		require.Contains(t, body, "203.0.113.•")
	}
	body := string(b.do(t, auth.Compliance, "GET", fmt.Sprintf("/v1/contacts/%d/consent", id), nil).body)
	require.Contains(t, body, "zoe@example.com")
	require.Contains(t, b.auditActions(t, auth.Compliance), "consent.read")
}

// TestSandboxTextIsMaskedWithoutPII: the sandbox showed marketer and ops the emails that
// previews mask.
func TestSandboxTextIsMaskedWithoutPII(t *testing.T) {
	b := setup(t)
	acct := b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox",
		"sandbox": map[string]any{"read_after_ms": -1}}).json(t)
	aid := int64(acct["id"].(float64))
	tr, err := b.network.Connect(context.Background(), sender.Account{ID: aid, Channel: sender.Sandbox,
		Sandbox: &sender.SandboxConfig{ReadAfterMS: -1}}, nil)
	require.NoError(t, err)
	defer tr.Close()
	_, err = tr.Send(context.Background(), sender.Message{ID: "m1", To: "+6591234567", Text: "Hi Ada, your receipt went to ada@example.com"})
	require.NoError(t, err)

	for _, role := range []auth.Role{auth.Marketer, auth.Ops} {
		body := string(b.do(t, role, "GET", "/v1/sandbox/messages", nil).body)
		require.NotContains(t, body, "ada@example.com", role)
		require.Contains(t, body, "a•••@example.com", role)
		require.Contains(t, body, "Hi Ada", "the rest of the text stays")
	}
	body := string(b.do(t, auth.Admin, "GET", "/v1/sandbox/messages", nil).body)
	require.Contains(t, body, "ada@example.com")
	require.Contains(t, b.auditActions(t, auth.Admin), "sandbox.messages.read")
	require.False(t, strings.Contains(strings.Join(b.auditActions(t, auth.Marketer), ","), "sandbox.messages.read"))
}
