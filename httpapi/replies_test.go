package httpapi_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
)

// inbound records and processes a customer's message to account, and attributes it to
// campaign (0: none) as the workers' RecordReply would.
func (b *testBundle) inbound(t *testing.T, account int64, from, text string, campaign int64) int64 {
	t.Helper()
	ctx := context.Background()
	out, err := b.consent.HandleInbound(ctx, consent.Inbound{AccountID: account, From: from, Text: text,
		ProviderID: fmt.Sprintf("wamid.%s.%d", text, time.Now().UnixNano()), ReceivedAt: time.Now()})
	require.NoError(t, err)
	if campaign != 0 {
		_, err = b.pool.Exec(ctx, `UPDATE inbound_messages SET campaign_id = $2::bigint, delivery_id = $2::bigint * 100 WHERE id = $1`, out.InboundID, campaign)
		require.NoError(t, err)
	}
	return out.InboundID
}

// replyIDs lists a page of replies: their ids and the next cursor ("" at the end).
func (b *testBundle) replyIDs(t *testing.T, role auth.Role, query string) ([]int64, string) {
	t.Helper()
	res := b.do(t, role, "GET", "/v1/replies"+query, nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	page := res.json(t)
	var ids []int64
	for _, r := range page["data"].([]any) {
		ids = append(ids, int64(r.(map[string]any)["id"].(float64)))
	}
	next, _ := page["next_cursor"].(string)
	return ids, next
}

// auditDetails returns the detail of each audit entry with action, newest first.
func (b *testBundle) auditDetails(t *testing.T, action string) []map[string]any {
	t.Helper()
	res := b.do(t, auth.Compliance, "GET", "/v1/audit?limit=1000&action="+action, nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	var out []map[string]any
	for _, e := range res.json(t)["data"].([]any) {
		d, _ := e.(map[string]any)["detail"].(map[string]any)
		out = append(out, d)
	}
	return out
}

// TestRepliesInboxMasksPerRole: marketer and ops see the sender's number and the personal
// data in the text masked, and their reads are not audited as reads in clear; compliance
// and admin see them in clear, audited; an agent has no inbox.
func TestRepliesInboxMasksPerRole(t *testing.T) {
	b := setup(t)
	b.createContact(t, "+6591234567")
	b.inbound(t, 1, "+6591234567", "Call me on +6598765432 or at zoe@example.com", 10)

	for _, role := range []auth.Role{auth.Marketer, auth.Ops} {
		res := b.do(t, role, "GET", "/v1/replies", nil)
		require.Equal(t, 200, res.status, "%s", res.body)
		body := string(res.body)
		for _, secret := range []string{"91234567", "98765432", "zoe@example.com"} {
			require.NotContains(t, body, secret, "%s sees it masked", role)
		}
		r := res.json(t)["data"].([]any)[0].(map[string]any)
		require.Equal(t, "+65••••••67", r["phone"], role)
		require.Equal(t, "Call me on +65••••••32 or at z•••@example.com", r["text"], "%s: the rest of the text stays", role)
		require.NotContains(t, b.auditActions(t, role), "reply.list", role)
	}
	for _, role := range []auth.Role{auth.Compliance, auth.Admin} {
		res := b.do(t, role, "GET", "/v1/replies", nil)
		require.Equal(t, 200, res.status, "%s", res.body)
		r := res.json(t)["data"].([]any)[0].(map[string]any)
		require.Equal(t, "+6591234567", r["phone"], role)
		require.Equal(t, "Call me on +6598765432 or at zoe@example.com", r["text"], role)
		require.Equal(t, "reply.list", b.auditActions(t, role)[0], "%s: a read in clear is audited", role)
	}
	require.Equal(t, 403, b.do(t, auth.Agent, "GET", "/v1/replies", nil).status)
}

// TestRepliesInboxFiltersAndPages: each filter selects its replies, newest first, a page at
// a time; bad filters are field errors.
func TestRepliesInboxFiltersAndPages(t *testing.T) {
	b := setup(t)
	a := b.createContact(t, "+6591234567")
	c := b.createContact(t, "+6591234568")
	r1 := b.inbound(t, 1, "+6591234567", "is the sale still on?", 10)
	r2 := b.inbound(t, 2, "+6591234568", "which sizes?", 11)
	r3 := b.inbound(t, 1, "+6591234568", "hello?", 0)
	r4 := b.inbound(t, 1, "+6591234569", "who is this?", 0) // not a contact

	for query, want := range map[string][]int64{
		"":                               {r4, r3, r2, r1},
		"?campaign_id=10":                {r1},
		"?account_id=2":                  {r2},
		"?account_id=1":                  {r4, r3, r1},
		fmt.Sprintf("?contact_id=%d", c): {r3, r2},
		fmt.Sprintf("?contact_id=%d&account_id=1", a): {r1},
		"?handled=true":   nil,
		"?handled=false":  {r4, r3, r2, r1},
		"?campaign_id=12": nil,
	} {
		got, next := b.replyIDs(t, auth.Marketer, query)
		require.Equal(t, want, got, query)
		require.Empty(t, next, query)
	}

	page1, next := b.replyIDs(t, auth.Marketer, "?limit=3")
	require.Equal(t, []int64{r4, r3, r2}, page1)
	require.NotEmpty(t, next)
	page2, next := b.replyIDs(t, auth.Marketer, "?limit=3&cursor="+next)
	require.Equal(t, []int64{r1}, page2)
	require.Empty(t, next)

	res := b.do(t, auth.Marketer, "GET", "/v1/replies?campaign_id=x&account_id=0&contact_id=-1&handled=maybe&limit=0&cursor=zz", nil)
	require.Equal(t, 422, res.status, "%s", res.body)
	fields := slices.Sorted(maps.Keys(res.fieldErrors(t)))
	require.Equal(t, []string{"account_id", "campaign_id", "contact_id", "cursor", "handled", "limit"}, fields)

	one := b.do(t, auth.Admin, "GET", "/v1/replies?campaign_id=11", nil).json(t)["data"].([]any)[0].(map[string]any)
	require.Equal(t, float64(11), one["campaign_id"])
	require.Equal(t, float64(1100), one["delivery_id"])
	require.Equal(t, float64(c), one["contact_id"])
	require.Equal(t, float64(2), one["account_id"])
	require.Equal(t, "none", one["class"])
	require.Equal(t, false, one["handled"])
	require.Nil(t, one["handled_at"])
	stranger := b.do(t, auth.Admin, "GET", "/v1/replies?account_id=1&limit=1", nil).json(t)["data"].([]any)[0].(map[string]any)
	require.Nil(t, stranger["contact_id"], "a sender who is not a contact")
	require.Nil(t, stranger["campaign_id"])
}

// TestReplyHandledIsIdempotent: marking a reply handled keeps its first handler, the audit
// entry says whether it changed, unknown ids are 404, and roles without replies:handle
// are refused.
func TestReplyHandledIsIdempotent(t *testing.T) {
	b := setup(t)
	b.createContact(t, "+6591234567")
	r1 := b.inbound(t, 1, "+6591234567", "please call me", 10)
	r2 := b.inbound(t, 1, "+6591234567", "anyone?", 10)
	path := fmt.Sprintf("/v1/replies/%d/handled", r1)

	res := b.do(t, auth.Marketer, "POST", path, nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	first := res.json(t)
	require.Equal(t, true, first["handled"])
	require.Equal(t, "key:"+b.keyIDs[auth.Marketer], first["handled_by"])
	require.NotNil(t, first["handled_at"])
	require.Equal(t, "+65••••••67", first["phone"], "the answer is masked like the list")

	res = b.do(t, auth.Admin, "POST", path, nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	again := res.json(t)
	require.Equal(t, first["handled_by"], again["handled_by"], "the first handler stays")
	require.Equal(t, first["handled_at"], again["handled_at"])
	require.Equal(t, "+6591234567", again["phone"])

	details := b.auditDetails(t, "reply.handled")
	require.Len(t, details, 2)
	require.Equal(t, false, details[0]["changed"])
	require.Equal(t, true, details[1]["changed"])

	handled, _ := b.replyIDs(t, auth.Marketer, "?handled=true")
	require.Equal(t, []int64{r1}, handled)
	unhandled, _ := b.replyIDs(t, auth.Marketer, "?handled=false&campaign_id=10")
	require.Equal(t, []int64{r2}, unhandled)

	require.Equal(t, 404, b.do(t, auth.Marketer, "POST", fmt.Sprintf("/v1/replies/%d/handled", r2+1000), nil).status)
	require.Equal(t, 404, b.do(t, auth.Marketer, "POST", "/v1/replies/abc/handled", nil).status)
	for _, role := range []auth.Role{auth.Agent, auth.Ops, auth.Compliance} {
		require.Equal(t, 403, b.do(t, role, "POST", fmt.Sprintf("/v1/replies/%d/handled", r2), nil).status, role)
	}
}
