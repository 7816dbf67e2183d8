package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

func TestMutationsAreAudited(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts", map[string]any{"phone": "+6591234567"}, "X-Request-Id", "req-123")
	require.Equal(t, 201, res.status)
	require.Equal(t, "req-123", res.header.Get("X-Request-Id"))
	id := fmt.Sprint(res.json(t)["id"])
	require.Equal(t, 200, b.do(t, auth.Marketer, "PATCH", "/v1/contacts/"+id, map[string]any{"name": "A", "locale": "en"}).status)
	require.Equal(t, 422, b.do(t, auth.Marketer, "PATCH", "/v1/contacts/"+id, map[string]any{"locale": "??"}).status)
	require.Equal(t, 403, b.do(t, auth.Ops, "DELETE", "/v1/contacts/"+id, nil).status)
	b.do(t, auth.Marketer, "GET", "/v1/contacts/"+id, nil) // a read with the number masked is not audited

	res = b.do(t, auth.Compliance, "GET", "/v1/audit?target_type=contact&target_id="+id, nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	entries := res.json(t)["data"].([]any)
	require.Len(t, entries, 4)
	newest := entries[0].(map[string]any)
	require.Equal(t, "contact.delete", newest["action"])
	require.Equal(t, float64(403), newest["status"], "refused attempts are audited too")
	require.Equal(t, b.keyIDs[auth.Ops], newest["actor_key_id"])

	patched := entries[2].(map[string]any)
	require.Equal(t, "contact.update", patched["action"])
	require.Equal(t, float64(200), patched["status"])
	require.Equal(t, map[string]any{"fields": []any{"locale", "name"}}, patched["detail"], "field names, never values")

	created := entries[3].(map[string]any)
	require.Equal(t, "contact.upsert", created["action"])
	require.Equal(t, "req-123", created["request_id"])
	require.Equal(t, b.keyIDs[auth.Marketer], created["actor_key_id"])
	require.Equal(t, "marketer key", created["actor"])
	require.Equal(t, id, created["target_id"])
	require.NotEmpty(t, created["at"])

	// Cursor pagination, newest first.
	page1 := b.do(t, auth.Admin, "GET", "/v1/audit?limit=3", nil).json(t)
	require.Len(t, page1["data"], 3)
	page2 := b.do(t, auth.Admin, "GET", "/v1/audit?limit=3&cursor="+page1["next_cursor"].(string), nil).json(t)
	require.Len(t, page2["data"], 1)
	require.Nil(t, page2["next_cursor"])
	first := page1["data"].([]any)[2].(map[string]any)["id"].(float64)
	require.Less(t, page2["data"].([]any)[0].(map[string]any)["id"].(float64), first)
}
