package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// TestNULAndInvalidUTF8AreFieldErrors is issue 16's second reproduction: a NUL character
// gave a 500 in every text field PostgreSQL stores, and invalid UTF-8 was stored as U+FFFD.
// Each is now a 422 that names the field, and nothing is written.
func TestNULAndInvalidUTF8AreFieldErrors(t *testing.T) {
	b := setup(t)
	contact := b.createContact(t, "+6591234567")
	acct := b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox"}).json(t)
	tpl := b.do(t, auth.Admin, "POST", "/v1/templates", map[string]any{"name": "t", "category": "utility", "locale": "en",
		"variants": []map[string]any{{"body": "Hello"}}}).json(t)
	count := func(table string) int {
		var n int
		require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
		return n
	}
	before := map[string]int{}
	for _, table := range []string{"templates", "contacts", "consent_ledger", "accounts", "campaigns", "inbound_messages"} {
		before[table] = count(table)
	}

	for _, tc := range []struct {
		method, path string
		body         []byte
		field        string
	}{
		{"POST", "/v1/templates", []byte(`{"name": "t2", "category": "utility", "locale": "en", "variants": [{"body": "Hi \u0000"}]}`), "variants[0].body"},
		{"POST", "/v1/contacts", []byte(`{"phone": "+6591234568", "attributes": {"tier": "gold\u0000"}}`), "attributes.tier"},
		{"POST", "/v1/contacts", []byte(`{"phone": "+6591234568", "attributes": {"ti\u0000er": "gold"}}`), "attributes"},
		{"POST", fmt.Sprintf("/v1/contacts/%d/consent", contact), []byte(`{"status": "granted", "source": "form", "evidence": {"ip": "\u0000"}}`), "evidence.ip"},
		{"POST", "/v1/accounts", []byte(`{"name": "A\u0000", "channel": "sandbox"}`), "name"},
		{"POST", "/v1/campaigns", []byte(fmt.Sprintf(`{"name": "C\u0000", "template_id": %v}`, tpl["id"])), "name"},
		{"POST", "/v1/sandbox/inbound", []byte(fmt.Sprintf(`{"account_id": %v, "from": "+6591234567", "text": "STOP\u0000"}`, acct["id"])), "text"},
		{"POST", "/v1/contacts", []byte("{\"phone\": \"+6591234568\", \"name\": \"Ad\xffa\"}"), "name"},
		{"POST", "/v1/templates", []byte("{\"name\": \"t3\", \"category\": \"utility\", \"locale\": \"en\", \"variants\": [{\"body\": \"a\"}, {\"body\": \"\xc3\"}]}"), "variants[1].body"},
	} {
		res := b.do(t, auth.Admin, tc.method, tc.path, tc.body)
		require.Equal(t, 422, res.status, "%s %s: %s", tc.method, tc.path, res.body)
		require.Contains(t, res.fieldErrors(t), tc.field, "%s %s: %s", tc.method, tc.path, res.body)
	}
	for table, n := range before {
		require.Equal(t, n, count(table), "nothing was written to %s", table)
	}

	res := b.do(t, auth.Compliance, "GET", "/v1/audit?action=contact.update%00", nil)
	require.Equal(t, 422, res.status, "%s", res.body)
	require.Contains(t, res.fieldErrors(t), "action")
	res = b.do(t, auth.Admin, "GET", "/v1/contacts?tag=%ff", nil)
	require.Equal(t, 422, res.status, "%s", res.body)
	require.Contains(t, res.fieldErrors(t)["tag"], "UTF-8")
	res = b.do(t, auth.Admin, "DELETE", fmt.Sprintf("/v1/contacts/%d/tags/vip%%00", contact), nil)
	require.Equal(t, 422, res.status, "%s", res.body)
	require.Contains(t, res.fieldErrors(t), "path")

	// Text that is fine, with characters of every plane and an escaped U+FFFD, still goes in.
	res = b.do(t, auth.Admin, "POST", "/v1/contacts", []byte(`{"phone": "+6591234569", "name": "Zoë 退订 😀 \ufffd"}`))
	require.Equal(t, 201, res.status, "%s", res.body)
	require.Equal(t, "Zoë 退订 😀 \ufffd", res.json(t)["name"])
}
