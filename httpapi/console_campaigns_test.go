package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/httpapi"
)

// launchedCampaign makes a campaign to two consenting contacts, launched, with known
// events on its deliveries a few minutes ago, and returns its id and launch time.
func launchedCampaign(t *testing.T, b *testBundle, tpl, acc int64) (int64, time.Time) {
	t.Helper()
	ctx := context.Background()
	var contactIDs []int64
	for _, phone := range []string{"+6591240001", "+6591240002"} {
		id := b.createContact(t, phone)
		b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/tags", id), map[string]any{"tags": []string{"vip"}})
		_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
			Actor: "test", Evidence: map[string]any{"form": "signup"}})
		require.NoError(t, err)
		contactIDs = append(contactIDs, id)
	}
	res := b.do(t, auth.Marketer, "POST", "/v1/campaigns", map[string]any{
		"name": "Summer sale", "template_id": tpl, "account_ids": []int64{acc},
		"audience": map[string]any{"tags_any": []string{"vip"}}, "schedule": map[string]any{"type": "now"}})
	require.Equal(t, 201, res.status, "%s", res.body)
	id := int64(res.json(t)["id"].(float64))
	res = b.do(t, auth.Marketer, "POST", fmt.Sprintf("/v1/campaigns/%d/schedule", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	c, err := b.api.Campaigns.Get(ctx, id)
	require.NoError(t, err)
	run, err := b.api.Campaigns.Launch(ctx, id, *c.NextRunAt)
	require.NoError(t, err)
	require.EqualValues(t, 2, run.Eligible)
	// The launch time, moved ten minutes back so that the events below are in the past.
	launched := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Minute)
	_, err = b.pool.Exec(ctx, `UPDATE campaign_runs SET launched_at = $2 WHERE id = $1`, run.ID, launched)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'read', sent_at = $3, delivered_at = $4, read_at = $5, replied_at = $5, account_id = $6, variant = 0
		WHERE run_id = $1 AND contact_id = $2`, run.ID, contactIDs[0], launched.Add(time.Minute), launched.Add(2*time.Minute), launched.Add(3*time.Minute), acc)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'failed', failed_at = $3, account_id = $4, variant = 0
		WHERE run_id = $1 AND contact_id = $2`, run.ID, contactIDs[1], launched.Add(time.Minute), acc)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO inbound_messages (account_id, provider_id, phone_hash, received_at, class, processed_at, campaign_id)
		VALUES ($1, 'in-1', '\x01', $2, 'opt_out', $2, $3)`, acc, launched.Add(4*time.Minute), id)
	require.NoError(t, err)
	return id, launched
}

func TestConsoleCampaignsTimelineAPI(t *testing.T) {
	b, tpl, acc := setupCampaigns(t)
	id, launched := launchedCampaign(t, b, tpl, acc)

	res := b.do(t, auth.Ops, "GET", fmt.Sprintf("/v1/campaigns/%d/timeline", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	tl := res.json(t)
	require.Equal(t, "running", tl["status"])
	require.EqualValues(t, 60, tl["bucket_seconds"])
	require.Equal(t, launched.Format(time.RFC3339), tl["from"])
	require.Equal(t, map[string]any{"queued": 2.0, "sent": 1.0, "delivered": 1.0, "read": 1.0, "replied": 1.0, "opted_out": 1.0, "failed": 1.0}, tl["totals"])
	buckets := tl["buckets"].([]any)
	require.GreaterOrEqual(t, len(buckets), 11)
	at := func(i int) map[string]any { return buckets[i].(map[string]any) }
	require.EqualValues(t, 2, at(0)["queued"])
	require.EqualValues(t, 1, at(1)["sent"])
	require.EqualValues(t, 1, at(1)["failed"])
	require.EqualValues(t, 1, at(2)["delivered"])
	require.EqualValues(t, 1, at(3)["read"])
	require.EqualValues(t, 1, at(3)["replied"])
	require.EqualValues(t, 1, at(4)["opted_out"])
	require.EqualValues(t, 0, at(5)["sent"])

	res = b.do(t, auth.Agent, "GET", fmt.Sprintf("/v1/campaigns/%d/timeline", id), nil)
	require.Equal(t, 403, res.status)
	res = b.do(t, auth.Marketer, "GET", "/v1/campaigns/424242/timeline", nil)
	require.Equal(t, 404, res.status)
}

func TestConsoleCampaignsPages(t *testing.T) {
	b, tpl, acc := setupCampaigns(t)
	id, _ := launchedCampaign(t, b, tpl, acc)
	_, err := b.pool.Exec(context.Background(), `INSERT INTO segments (name, filter) VALUES ('Gold buyers', '{"tags_any": ["gold"]}')`)
	require.NoError(t, err)

	// The list: a marketer may write a new one; ops may not.
	res := b.page(t, auth.Marketer, "GET", "/campaigns", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	html := string(res.body)
	require.Contains(t, html, "Summer sale")
	require.Contains(t, html, `<span class="badge ok">running</span>`)
	require.Contains(t, html, fmt.Sprintf(`href="/campaigns/%d"`, id))
	require.Contains(t, html, "New campaign")
	res = b.page(t, auth.Ops, "GET", "/campaigns", nil)
	require.Equal(t, 200, res.status)
	require.Contains(t, string(res.body), "Summer sale")
	require.NotContains(t, string(res.body), "New campaign")
	res = b.page(t, auth.Marketer, "GET", "/campaigns?status=draft", nil)
	require.Equal(t, 200, res.status)
	require.NotContains(t, string(res.body), "Summer sale")

	// The wizard, with its choices embedded.
	res = b.page(t, auth.Marketer, "GET", "/campaigns/new", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	html = string(res.body)
	for _, want := range []string{`id="step-audience"`, `id="segment-select"`, `id="template-select"`, fmt.Sprintf(`id="account-%d"`, acc),
		`id="rotation"`, `value="round_robin"`, `value="sticky"`, `id="schedule-now"`, `id="wizard-next"`, `id="wizard-back"`,
		`id="review-eligible"`, `id="campaign-schedule"`, `id="campaign-name"`, `aria-current="step"`, `class="steps"`,
		"Gold buyers", `"variants":["Hi {{ first_name }}!"]`, `/static/wizard.js`} {
		require.Contains(t, html, want)
	}
	require.Equal(t, 403, b.page(t, auth.Ops, "GET", "/campaigns/new", nil).status, "ops may not write campaigns")

	// The live page: ops may pause and cancel, a marketer too; both get the ids the script fills.
	res = b.page(t, auth.Ops, "GET", fmt.Sprintf("/campaigns/%d", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	html = string(res.body)
	for _, want := range []string{`id="stat-sent"`, `id="stat-delivered"`, `id="stat-opted-out"`, `id="stat-replied"`,
		`id="campaign-status"`, `id="chart"`, `id="by-variant"`, `id="by-account"`, `id="pause"`, `id="resume"`, `id="cancel"`,
		fmt.Sprintf(`data-api="POST /v1/campaigns/%d/pause"`, id), `data-confirm=`, `/static/campaign.js`, "main"} {
		require.Contains(t, html, want)
	}
	require.NotContains(t, html, "New campaign")
	require.NotContains(t, html, "+6591240001", "no phone on the live page")
	require.NotContains(t, html, "+65••••", "no phone on the live page")

	// An agent may not read campaigns: 403 pages, and the API refuses the same.
	for _, path := range []string{"/campaigns", "/campaigns/new", fmt.Sprintf("/campaigns/%d", id)} {
		res = b.page(t, auth.Agent, "GET", path, nil)
		require.Equal(t, 403, res.status, path)
		require.True(t, strings.HasPrefix(res.header.Get("Content-Type"), "text/html"), path)
	}
	require.Equal(t, 404, b.page(t, auth.Marketer, "GET", "/campaigns/424242", nil).status)

	// Pause through the API with the console's session, as the page's button does.
	res = b.page(t, auth.Ops, "POST", fmt.Sprintf("/v1/campaigns/%d/pause", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	res = b.page(t, auth.Ops, "GET", fmt.Sprintf("/campaigns/%d", id), nil)
	require.Contains(t, string(res.body), `<span id="campaign-status" class="badge warn" role="status">paused</span>`)
}

// TestConsoleCampaignControls: the live page offers only the transitions the status
// allows (pause when scheduled or running, resume when paused, cancel until finished),
// and a finished campaign's page does not call its numbers final (replies, reads and
// opt-outs still arrive).
func TestConsoleCampaignControls(t *testing.T) {
	b, tpl, acc := setupCampaigns(t)
	id, _ := launchedCampaign(t, b, tpl, acc)
	button := func(html, name string) (shown bool) {
		t.Helper()
		i := strings.Index(html, `id="`+name+`"`)
		require.GreaterOrEqual(t, i, 0, "the %s button is on the page", name)
		tag := html[i : i+strings.Index(html[i:], ">")]
		return !strings.Contains(tag, " hidden")
	}
	controls := func(role auth.Role) (pause, resume, cancel bool, html string) {
		t.Helper()
		res := b.page(t, role, "GET", fmt.Sprintf("/campaigns/%d", id), nil)
		require.Equal(t, 200, res.status, "%s", res.body)
		html = string(res.body)
		return button(html, "pause"), button(html, "resume"), button(html, "cancel"), html
	}

	pause, resume, cancel, html := controls(auth.Marketer)
	require.Equal(t, []bool{true, false, true}, []bool{pause, resume, cancel}, "running: pause and cancel")
	require.Contains(t, html, "Refreshed every 2 seconds")
	require.Contains(t, html, `id="opted-out-note"`, "the page says what opted out counts")

	res := b.page(t, auth.Ops, "POST", fmt.Sprintf("/v1/campaigns/%d/pause", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	pause, resume, cancel, _ = controls(auth.Ops)
	require.Equal(t, []bool{false, true, true}, []bool{pause, resume, cancel}, "paused: resume and cancel")

	_, err := b.pool.Exec(context.Background(), `UPDATE campaigns SET status = 'completed', paused_from = NULL WHERE id = $1`, id)
	require.NoError(t, err)
	pause, resume, cancel, html = controls(auth.Marketer)
	require.Equal(t, []bool{false, false, false}, []bool{pause, resume, cancel}, "completed: nothing to do")
	require.NotContains(t, html, "numbers are final")
	require.Contains(t, html, "refreshed every 5 seconds", "a finished campaign's page keeps refreshing")

	res = b.page(t, auth.Marketer, "POST", fmt.Sprintf("/v1/campaigns/%d/resume", id), nil)
	require.Equal(t, 409, res.status, "the API refuses what the page no longer offers: %s", res.body)

	// A marketer's draft: cancel only (the API's state machine cancels drafts too).
	res = b.do(t, auth.Marketer, "POST", "/v1/campaigns", map[string]any{
		"name": "Draft", "template_id": tpl, "account_ids": []int64{acc},
		"audience": map[string]any{"tags_any": []string{"vip"}}, "schedule": map[string]any{"type": "now"}})
	require.Equal(t, 201, res.status, "%s", res.body)
	id = int64(res.json(t)["id"].(float64))
	pause, resume, cancel, html = controls(auth.Marketer)
	require.Equal(t, []bool{false, false, true}, []bool{pause, resume, cancel}, "draft: cancel")
	require.Contains(t, html, `id="draft-preview"`, "a draft is previewed and scheduled from its page")
	require.Contains(t, html, fmt.Sprintf(`data-api="POST /v1/campaigns/%d/schedule"`, id))
	_, _, _, html = controls(auth.Ops)
	require.NotContains(t, html, `id="draft-schedule"`, "ops may not schedule campaigns")
	res = b.page(t, auth.Marketer, "POST", fmt.Sprintf("/v1/campaigns/%d/schedule", id), nil)
	require.Equal(t, 200, res.status, "the button's call: %s", res.body)
	_, _, _, html = controls(auth.Marketer)
	require.NotContains(t, html, `id="draft-preview"`, "scheduled: no longer a draft")
}

// TestConsoleCampaignWizardQuietHours: the wizard pre-fills the quiet hours the server is
// configured with (CRIER_QUIET_HOURS), not the built-in default: it sends what it shows.
func TestConsoleCampaignWizardQuietHours(t *testing.T) {
	b, _, _ := setupCampaigns(t)
	res := b.page(t, auth.Marketer, "GET", "/campaigns/new", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Contains(t, string(res.body), `id="quiet-start" name="quiet_hours.start" type="time" value="21:00"`, "the built-in default")

	for _, q := range []schedule.QuietHours{{Start: "22:30", End: "07:15"}, {Start: "00:00", End: "00:00"}} {
		d := b.api.Deps
		d.Campaigns = campaigns.New(b.pool, campaigns.Options{Templates: d.Templates, Engine: d.Engine, QuietHours: q})
		require.Equal(t, q, d.Campaigns.DefaultQuietHours())
		b.api = httpapi.New(d, httpapi.Options{})
		b.srv = httptest.NewServer(b.api)
		t.Cleanup(b.srv.Close)
		res = b.page(t, auth.Marketer, "GET", "/campaigns/new", nil)
		require.Equal(t, 200, res.status, "%s", res.body)
		html := string(res.body)
		require.Contains(t, html, `id="quiet-start" name="quiet_hours.start" type="time" value="`+q.Start+`"`)
		require.Contains(t, html, `id="quiet-end" name="quiet_hours.end" type="time" value="`+q.End+`"`)
		require.Contains(t, html, `"quiet_hours":{"start":"`+q.Start+`","end":"`+q.End+`"}`, "and in the script's data")
		require.NotContains(t, html, `value="21:00"`)
	}
}
