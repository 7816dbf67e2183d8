package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
)

func TestConsentRecordAndHistory(t *testing.T) {
	b := setup(t)
	id := b.createContact(t, "+6591234567")
	path := fmt.Sprintf("/v1/contacts/%d/consent", id)

	res := b.do(t, auth.Agent, "POST", path, map[string]any{"status": "granted", "source": "agent"})
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t)["evidence"], "required for a grant")

	res = b.do(t, auth.Agent, "POST", path, map[string]any{"status": "granted", "source": "keyword", "evidence": map[string]any{"x": 1}})
	require.Contains(t, res.fieldErrors(t)["source"], "made by Crier itself")

	res = b.do(t, auth.Agent, "POST", path, map[string]any{
		"status": "granted", "source": "agent", "occurred_at": "2026-11-20T10:00:00Z",
		"evidence": map[string]any{"call_id": "C-981", "script": "May we send you offers on WhatsApp? — Yes"},
	})
	require.Equal(t, 201, res.status, "%s", res.body)
	entry := res.json(t)
	require.Equal(t, "whatsapp", entry["channel"])
	require.Equal(t, "marketing", entry["purpose"])
	require.Equal(t, "key:"+b.keyIDs[auth.Agent], entry["actor"])
	require.Equal(t, "2026-11-20T10:00:00Z", entry["occurred_at"])

	res = b.do(t, auth.Marketer, "GET", path, nil)
	require.Equal(t, 200, res.status)
	h := res.json(t)
	require.Len(t, h["ledger"], 1)
	require.Equal(t, "granted", h["current"].([]any)[0].(map[string]any)["status"])
	res = b.do(t, auth.Marketer, "POST", path, map[string]any{"status": "granted", "source": "api", "evidence": map[string]any{"x": 1}})
	require.Equal(t, 403, res.status, "a marketer may not record a grant")
	require.Contains(t, string(res.body), "consent:write")
	require.Equal(t, 403, b.do(t, auth.Ops, "POST", path, map[string]any{"status": "withdrawn", "source": "api"}).status)
	res = b.do(t, auth.Marketer, "POST", path, map[string]any{"status": "withdrawn", "source": "api"})
	require.Equal(t, 201, res.status, "a marketer may record a withdrawal: %s", res.body)
	w := res.json(t)
	require.Equal(t, "opt_out", w["suppression"].(map[string]any)["reason"], "which suppresses the number")
	require.Equal(t, "api", w["suppression"].(map[string]any)["source"])

	audit := b.do(t, auth.Compliance, "GET", fmt.Sprintf("/v1/audit?action=consent.record&target_id=%d", id), nil).json(t)
	var statuses []float64
	for _, e := range audit["data"].([]any) {
		statuses = append(statuses, e.(map[string]any)["status"].(float64))
	}
	require.Equal(t, []float64{201, 403, 403, 201, 422, 422}, statuses, "every attempt is audited, newest first")
	require.Equal(t, float64(1), audit["data"].([]any)[3].(map[string]any)["detail"].(map[string]any)["ledger_id"])
}

// TestStaffCannotLiftAnOptOut is issue 15's fourth reproduction: an agent's grant with
// evidence {"call": "x"} lifted a STOP's suppression. Only a compliance record with typed
// evidence does, and the other grants say that they did not.
func TestStaffCannotLiftAnOptOut(t *testing.T) {
	b := setup(t)
	id := b.createContact(t, "+6591234567")
	path := fmt.Sprintf("/v1/contacts/%d/consent", id)
	_, err := b.consent.HandleInbound(context.Background(), consent.Inbound{AccountID: 1, From: "+6591234567", Text: "STOP",
		ProviderID: "wamid.1", ReceivedAt: time.Now()})
	require.NoError(t, err)

	res := b.do(t, auth.Agent, "POST", path, map[string]any{"status": "granted", "source": "agent", "evidence": map[string]any{"call": "x"}})
	require.Equal(t, 201, res.status, "%s", res.body)
	out := res.json(t)
	require.Equal(t, false, out["lifted_suppression"])
	require.Equal(t, "keyword", out["suppression"].(map[string]any)["source"])
	require.Contains(t, out["notice"], "stays suppressed")
	require.Contains(t, out["notice"], "START")
	ex, err := b.consent.Eligibility(context.Background(), id, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, ex)

	typed := map[string]any{"kind": "recorded_call", "reference": "CALL-2026-7781", "obtained_at": "2026-12-01T09:30:00Z"}
	res = b.do(t, auth.Agent, "POST", path, map[string]any{"status": "granted", "source": "compliance", "evidence": typed})
	require.Equal(t, 403, res.status, "only compliance records a compliance grant")
	require.Contains(t, string(res.body), "consent:lift")
	res = b.do(t, auth.Compliance, "POST", path, map[string]any{"status": "granted", "source": "compliance", "evidence": map[string]any{"call": "x"}})
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t), "evidence.kind")
	require.Equal(t, 409, b.do(t, auth.Compliance, "DELETE", "/v1/suppressions/"+url.PathEscape("+6591234567"), nil).status,
		"staff may not delete a customer's opt-out")

	res = b.do(t, auth.Compliance, "POST", path, map[string]any{"status": "granted", "source": "compliance", "evidence": typed})
	require.Equal(t, 201, res.status, "%s", res.body)
	out = res.json(t)
	require.Equal(t, true, out["lifted_suppression"])
	require.Nil(t, out["suppression"])
	require.Equal(t, "compliance", out["source"], "shown as a compliance grant")
	ex, err = b.consent.Eligibility(context.Background(), id, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.Exclusion(""), ex)
}

// TestDeleteAndRenumberKeepTheOptOut are issue 15's second and third reproductions: a
// delete and re-import, or a new phone on a consenting contact, made a number eligible.
func TestDeleteAndRenumberKeepTheOptOut(t *testing.T) {
	b := setup(t)
	grant := map[string]any{"status": "granted", "source": "form", "evidence": map[string]any{"url": "https://x"}}
	id := b.createContact(t, "+6591234567")
	require.Equal(t, 201, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), grant).status)
	require.Equal(t, 201, b.do(t, auth.Agent, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id),
		map[string]any{"status": "withdrawn", "source": "agent"}).status)

	require.Equal(t, 204, b.do(t, auth.Marketer, "DELETE", fmt.Sprintf("/v1/contacts/%d", id), nil).status)
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts/import?consent_source=crm", "phone,consent\n+6591234567,granted\n")
	require.Equal(t, 200, res.status, "%s", res.body)
	page := b.do(t, auth.Admin, "GET", "/v1/contacts?phone="+url.QueryEscape("+6591234567"), nil).json(t)
	again := int64(page["data"].([]any)[0].(map[string]any)["id"].(float64))
	ex, err := b.consent.Eligibility(context.Background(), again, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, ex, "deleting and re-importing does not undo the withdrawal")

	// A consenting contact moved onto another number does not take its consent along.
	mover := b.createContact(t, "+6598765432")
	require.Equal(t, 201, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/consent", mover), grant).status)
	res = b.do(t, auth.Marketer, "PATCH", fmt.Sprintf("/v1/contacts/%d", mover), map[string]any{"phone": "+14155552671"})
	require.Equal(t, 200, res.status, "%s", res.body)
	ex, err = b.consent.Eligibility(context.Background(), mover, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedNoConsent, ex, "the new number has no consent of its own")
}

func TestSuppressionsAPI(t *testing.T) {
	b := setup(t)
	id := b.createContact(t, "+6591234567")
	grant := map[string]any{"status": "granted", "source": "form", "evidence": map[string]any{"url": "https://x"}}
	require.Equal(t, 201, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id), grant).status)

	res := b.do(t, auth.Compliance, "POST", "/v1/suppressions?default_country=SG", map[string]any{"phone": "9123 4567", "reason": "complaint"})
	require.Equal(t, 201, res.status, "%s", res.body)
	added := res.json(t)["data"].([]any)
	require.Len(t, added, 2, "every purpose")
	sup := added[0].(map[string]any)
	require.Len(t, sup["phone_hash"], 64)
	require.Equal(t, "complaint", sup["reason"])
	require.Equal(t, "staff", sup["source"])
	require.Equal(t, "marketing", sup["purpose"])
	require.Equal(t, 200, b.do(t, auth.Compliance, "POST", "/v1/suppressions", map[string]any{"phone": "+6591234567"}).status, "already there")

	ex, err := b.consent.Eligibility(context.Background(), id, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, ex)

	list := b.do(t, auth.Compliance, "GET", "/v1/suppressions?limit=1", nil).json(t)
	require.Len(t, list["data"], 1)
	require.Nil(t, list["data"].([]any)[0].(map[string]any)["phone"], "the list holds no numbers")
	list = b.do(t, auth.Compliance, "GET", "/v1/suppressions?limit=1&cursor="+list["next_cursor"].(string), nil).json(t)
	require.Equal(t, "utility", list["data"].([]any)[0].(map[string]any)["purpose"])
	require.Nil(t, list["next_cursor"])
	one := b.do(t, auth.Compliance, "GET", "/v1/suppressions?phone="+url.QueryEscape("+6591234567"), nil).json(t)
	require.Equal(t, "+6591234567", one["data"].([]any)[0].(map[string]any)["phone"])
	none := b.do(t, auth.Compliance, "GET", "/v1/suppressions?phone="+url.QueryEscape("+6591234599"), nil).json(t)
	require.Empty(t, none["data"])

	res = b.do(t, auth.Compliance, "POST", "/v1/suppressions", map[string]any{"phone": "+6591234567", "reason": "opt_out"})
	require.Contains(t, res.fieldErrors(t)["reason"], "manual, complaint, legal")
	require.Equal(t, 403, b.do(t, auth.Marketer, "GET", "/v1/suppressions", nil).status)

	require.Equal(t, 204, b.do(t, auth.Compliance, "DELETE", "/v1/suppressions/"+url.PathEscape("+6591234567"), nil).status)
	require.Equal(t, 404, b.do(t, auth.Compliance, "DELETE", "/v1/suppressions/"+url.PathEscape("+6591234567"), nil).status)
	ex, err = b.consent.Eligibility(context.Background(), id, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.Exclusion(""), ex)
}

func TestExportAndErase(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{"phone": "+6591234567", "name": "Zebulon Quark", "email": "zq@example.com", "tags": []string{"vip"}})
	require.Equal(t, 201, res.status)
	id := int64(res.json(t)["id"].(float64))
	require.Equal(t, 201, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/consent", id),
		map[string]any{"status": "granted", "source": "form", "evidence": map[string]any{"url": "https://x"}}).status)
	_, err := b.consent.HandleInbound(context.Background(), consent.Inbound{AccountID: 1, From: "+6591234567", Text: "Hi, it's Zebulon. STOP", ProviderID: "m1", ReceivedAt: time.Now()})
	require.NoError(t, err)

	require.Equal(t, 403, b.do(t, auth.Marketer, "GET", fmt.Sprintf("/v1/contacts/%d/export", id), nil).status)
	res = b.do(t, auth.Compliance, "GET", fmt.Sprintf("/v1/contacts/%d/export", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	exp := res.json(t)
	data := exp["data"].(map[string]any)
	require.Equal(t, "Zebulon Quark", data["contact"].(map[string]any)["name"])
	c := data["consent"].(map[string]any)
	require.Len(t, c["ledger"], 2, "the form's grant and the STOP's withdrawal")
	require.Len(t, c["inbound_messages"], 1)
	require.NotEmpty(t, data["audit"], "audit entries about the contact are part of the export")

	res = b.do(t, auth.Compliance, "POST", fmt.Sprintf("/v1/contacts/%d/erase", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, 404, b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/contacts/%d", id), nil).status)
	require.Equal(t, 404, b.do(t, auth.Compliance, "POST", fmt.Sprintf("/v1/contacts/%d/erase", id), nil).status)

	// Only the keyed hash stays, so a re-import cannot message them.
	res = b.do(t, auth.Admin, "POST", "/v1/contacts/import?consent_source=old+list", "phone,name,consent\n+6591234567,Zebulon Quark,yes\n")
	require.Equal(t, 200, res.status)
	page := b.do(t, auth.Admin, "GET", "/v1/contacts?phone="+url.QueryEscape("+6591234567"), nil).json(t)
	newID := int64(page["data"].([]any)[0].(map[string]any)["id"].(float64))
	ex, err := b.consent.Eligibility(context.Background(), newID, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, ex)

	actions := b.do(t, auth.Compliance, "GET", fmt.Sprintf("/v1/audit?target_type=contact&target_id=%d", id), nil).json(t)
	var names []string
	for _, e := range actions["data"].([]any) {
		names = append(names, e.(map[string]any)["action"].(string))
	}
	require.Contains(t, strings.Join(names, ","), "contact.erase")
	require.Contains(t, strings.Join(names, ","), "contact.export")
}
