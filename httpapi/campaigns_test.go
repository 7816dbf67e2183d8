package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/httpapi"
)

// setupCampaigns is setup with the campaigns service on a server of its own (the shared
// setup does not build one), a template and a sandbox account.
func setupCampaigns(t *testing.T) (b *testBundle, templateID, accountID int64) {
	t.Helper()
	b = setup(t)
	d := b.api.Deps
	d.Campaigns = campaigns.New(b.pool, campaigns.Options{Templates: d.Templates, Engine: d.Engine})
	b.api = httpapi.New(d, httpapi.Options{})
	b.srv = httptest.NewServer(b.api)
	t.Cleanup(b.srv.Close)

	res := b.do(t, auth.Admin, "POST", "/v1/templates", map[string]any{"name": "sale", "category": "marketing",
		"locale": "en", "variants": []map[string]any{{"body": "Hi {{ first_name }}!"}}, "footer": "Reply STOP to opt out"})
	require.Equal(t, 201, res.status, "%s", res.body)
	templateID = int64(res.json(t)["id"].(float64))
	require.NoError(t, b.pool.QueryRow(context.Background(), `INSERT INTO accounts (name, channel, status, rate_per_minute)
		VALUES ('main', 'sandbox', 'connected', 60) RETURNING id`).Scan(&accountID))
	return b, templateID, accountID
}

func TestCampaignAPI(t *testing.T) {
	b, tpl, acc := setupCampaigns(t)
	ctx := context.Background()
	for i, phone := range []string{"+6591230001", "+6591230002", "+6591230003"} {
		id := b.createContact(t, phone)
		b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/tags", id), map[string]any{"tags": []string{"vip"}})
		if i < 2 {
			_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
				Actor: "test", Evidence: map[string]any{"form": "signup"}})
			require.NoError(t, err)
		}
	}

	// Bad input: 422 with the fields, and nothing stored.
	res := b.do(t, auth.Marketer, "POST", "/v1/campaigns", map[string]any{
		"name": "Sale", "template_id": 999, "account_ids": []int64{acc}, "audience": map[string]any{},
		"schedule": map[string]any{"type": "cron", "cron": "CRON_TZ="}, "quiet_hours": map[string]any{"start": "9pm"},
		"rotation": "random"})
	require.Equal(t, 422, res.status, "%s", res.body)
	fields := res.fieldErrors(t)
	require.Contains(t, fields, "rotation", "the shape is checked first")
	res = b.do(t, auth.Marketer, "POST", "/v1/campaigns", map[string]any{
		"name": "Sale", "template_id": 999, "account_ids": []int64{acc}, "audience": map[string]any{},
		"schedule": map[string]any{"type": "cron", "cron": "CRON_TZ="}, "quiet_hours": map[string]any{"start": "9pm"}})
	require.Equal(t, 422, res.status, "%s", res.body)
	fields = res.fieldErrors(t)
	for _, f := range []string{"template_id", "audience", "schedule.cron", "quiet_hours.start"} {
		require.Contains(t, fields, f)
	}
	res = b.do(t, auth.Marketer, "GET", "/v1/campaigns", nil)
	require.Equal(t, 200, res.status)
	require.Empty(t, res.json(t)["data"])

	// Create, read, patch.
	res = b.do(t, auth.Marketer, "POST", "/v1/campaigns", map[string]any{
		"name": "Sale", "template_id": tpl, "account_ids": []int64{acc},
		"audience": map[string]any{"tags_any": []string{"vip"}}, "schedule": map[string]any{"type": "now"}})
	require.Equal(t, 201, res.status, "%s", res.body)
	c := res.json(t)
	require.Equal(t, "draft", c["status"])
	require.Equal(t, map[string]any{"start": "21:00", "end": "08:00"}, c["quiet_hours"])
	require.Equal(t, "round_robin", c["rotation"])
	id := int64(c["id"].(float64))
	path := fmt.Sprintf("/v1/campaigns/%d", id)
	res = b.do(t, auth.Marketer, "PATCH", path, map[string]any{"rate_per_minute": 30, "rotation": "sticky"})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.EqualValues(t, 30, res.json(t)["rate_per_minute"])
	res = b.do(t, auth.Ops, "GET", path, nil)
	require.Equal(t, 200, res.status)
	require.Equal(t, "sticky", res.json(t)["rotation"])

	// Preview: counts, and samples with the phone masked for a marketer.
	res = b.do(t, auth.Marketer, "POST", path+"/preview", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	p := res.json(t)
	require.EqualValues(t, 3, p["matched"])
	require.EqualValues(t, 2, p["eligible"])
	require.Equal(t, map[string]any{"no_consent": float64(1)}, p["excluded"])
	sample := p["samples"].([]any)[0].(map[string]any)
	require.Equal(t, "Hi Test!\n\nReply STOP to opt out", sample["text"])
	require.Equal(t, "+65••••••01", sample["phone"])

	// Lifecycle: ops may not schedule; a marketer schedules; resume of a scheduled one is a 409 naming it.
	res = b.do(t, auth.Ops, "POST", path+"/schedule", nil)
	require.Equal(t, 403, res.status)
	res = b.do(t, auth.Marketer, "POST", path+"/schedule", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "scheduled", res.json(t)["status"])
	res = b.do(t, auth.Ops, "POST", path+"/resume", nil)
	require.Equal(t, 409, res.status)
	require.Contains(t, res.json(t)["detail"], "is scheduled")
	res = b.do(t, auth.Marketer, "PATCH", path, map[string]any{"name": "Renamed"})
	require.Equal(t, 409, res.status)
	require.Contains(t, res.json(t)["detail"], "is scheduled")

	// Launch (the scheduler's job), then stats and deliveries.
	got, err := b.api.Campaigns.Get(ctx, id)
	require.NoError(t, err)
	_, err = b.api.Campaigns.Launch(ctx, id, *got.NextRunAt)
	require.NoError(t, err)
	res = b.do(t, auth.Ops, "POST", path+"/pause", map[string]any{"reason": "checking"})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "paused", res.json(t)["status"])
	require.Equal(t, "running", res.json(t)["paused_from"])
	res = b.do(t, auth.Ops, "POST", path+"/resume", nil)
	require.Equal(t, "running", res.json(t)["status"])

	res = b.do(t, auth.Marketer, "GET", path+"/stats", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	st := res.json(t)
	overall := st["overall"].(map[string]any)
	require.EqualValues(t, 3, overall["total"])
	require.EqualValues(t, 2, overall["queued"])
	require.EqualValues(t, 1, overall["skipped"])
	require.Len(t, st["runs"], 1)

	res = b.do(t, auth.Marketer, "GET", path+"/deliveries?status=queued&limit=1", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	page := res.json(t)
	require.Len(t, page["data"], 1)
	require.NotNil(t, page["next_cursor"])
	require.True(t, strings.Contains(page["data"].([]any)[0].(map[string]any)["phone"].(string), "••"), "masked for a marketer")
	res = b.do(t, auth.Marketer, "GET", path+"/deliveries?status=bogus", nil)
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t), "status")

	res = b.do(t, auth.Ops, "POST", path+"/cancel", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "cancelled", res.json(t)["status"])
	res = b.do(t, auth.Marketer, "GET", path+"/stats", nil)
	require.EqualValues(t, 2, res.json(t)["overall"].(map[string]any)["cancelled"])

	// Every change is in the audit log.
	var actions []string
	rows, err := b.pool.Query(ctx, `SELECT action FROM audit_log WHERE action LIKE 'campaign.%' AND status < 400 ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"campaign.create", "campaign.update", "campaign.schedule", "campaign.pause", "campaign.resume", "campaign.cancel"}, actions)

	res = b.do(t, auth.Marketer, "GET", "/v1/campaigns/424242", nil)
	require.Equal(t, 404, res.status)
}
