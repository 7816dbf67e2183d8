package campaigns_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// TestLifecycle drives a campaign into each status and tries every action from it: the
// allowed ones move it where the state machine says, the others are 409s that name the
// status and change nothing.
func TestLifecycle(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.eligible(t, "+6591234567", "", "vip")

	// Each way of reaching a status, from a new draft.
	reach := map[string]func(t *testing.T, id int64){
		"draft":     func(t *testing.T, id int64) {},
		"scheduled": func(t *testing.T, id int64) { require.NoError(t, b.svc.Schedule(ctx, id)) },
		"running":   func(t *testing.T, id int64) { b.launch(t, id) },
		"paused from scheduled": func(t *testing.T, id int64) {
			require.NoError(t, b.svc.Schedule(ctx, id))
			require.NoError(t, b.svc.Pause(ctx, id, "hold on"))
		},
		"paused from running": func(t *testing.T, id int64) {
			b.launch(t, id)
			require.NoError(t, b.svc.Pause(ctx, id, "too many errors"))
		},
		"completed": func(t *testing.T, id int64) {
			b.launch(t, id)
			_, err := b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = now() WHERE campaign_id = $1`, id)
			require.NoError(t, err)
			_, err = b.svc.FinishRuns(ctx)
			require.NoError(t, err)
		},
		"cancelled": func(t *testing.T, id int64) {
			_, err := b.svc.Cancel(ctx, id, "changed my mind")
			require.NoError(t, err)
		},
	}
	actions := map[string]func(id int64) error{
		"schedule": func(id int64) error { return b.svc.Schedule(ctx, id) },
		"pause":    func(id int64) error { return b.svc.Pause(ctx, id, "") },
		"resume":   func(id int64) error { return b.svc.Resume(ctx, id) },
		"cancel":   func(id int64) error { _, err := b.svc.Cancel(ctx, id, ""); return err },
	}
	// want[from][action] is the status after a successful action; absent means 409.
	want := map[string]map[string]campaigns.Status{
		"draft":                 {"schedule": campaigns.StatusScheduled, "cancel": campaigns.StatusCancelled},
		"scheduled":             {"pause": campaigns.StatusPaused, "cancel": campaigns.StatusCancelled},
		"running":               {"pause": campaigns.StatusPaused, "cancel": campaigns.StatusCancelled},
		"paused from scheduled": {"resume": campaigns.StatusScheduled, "cancel": campaigns.StatusCancelled},
		"paused from running":   {"resume": campaigns.StatusRunning, "cancel": campaigns.StatusCancelled},
		"completed":             {},
		"cancelled":             {},
	}
	for from, get := range reach {
		for action, do := range actions {
			c := b.create(t)
			get(t, c.ID)
			before, err := b.svc.Get(ctx, c.ID)
			require.NoError(t, err)
			err = do(c.ID)
			after, gerr := b.svc.Get(ctx, c.ID)
			require.NoError(t, gerr)
			if to, ok := want[from][action]; ok {
				require.NoError(t, err, "%s from %s", action, from)
				require.Equal(t, to, after.Status, "%s from %s", action, from)
				continue
			}
			requireConflictNaming(t, err, before.Status)
			require.Equal(t, before, after, "a refused %s from %s changes nothing", action, from)
		}
	}
}

func TestPauseRemembersWhereItWas(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	c := b.create(t)
	require.NoError(t, b.svc.Schedule(ctx, c.ID))
	require.NoError(t, b.svc.Pause(ctx, c.ID, "error rate 30%"))
	got, err := b.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusPaused, got.Status)
	require.Equal(t, campaigns.StatusScheduled, got.PausedFrom)
	require.Equal(t, "error rate 30%", got.StatusReason)
	runs, err := b.svc.DueRuns(ctx, testNow)
	require.NoError(t, err)
	require.Empty(t, runs, "a paused campaign has no due run")
	_, err = b.svc.Launch(ctx, c.ID, *got.NextRunAt)
	requireConflictNaming(t, err, campaigns.StatusPaused)

	require.NoError(t, b.svc.Resume(ctx, c.ID))
	got, err = b.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusScheduled, got.Status)
	require.Empty(t, got.PausedFrom)
	runs, err = b.svc.DueRuns(ctx, testNow)
	require.NoError(t, err)
	require.Equal(t, []campaigns.DueRun{{CampaignID: c.ID, RunAt: testNow}}, runs)
}

func TestUpdateOnlyDrafts(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	c := b.create(t)
	got, err := b.svc.Update(ctx, c.ID, campaigns.Input{Name: ptr("Winter sale"), RatePerMinute: ptr(30),
		QuietHours: &schedule.QuietHours{Start: "22:00"}})
	require.NoError(t, err)
	require.Equal(t, "Winter sale", got.Name)
	require.Equal(t, 30, got.RatePerMinute)
	require.Equal(t, schedule.QuietHours{Start: "22:00", End: "08:00"}, got.QuietHours, "the omitted end is the default's")
	require.Equal(t, []string{"vip"}, got.Audience.TagsAny, "fields not given are kept")

	_, err = b.svc.Update(ctx, c.ID, campaigns.Input{Name: ptr(""), Audience: &campaigns.Audience{}})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	fields := map[string]bool{}
	for _, f := range apperr.FieldsOf(err) {
		fields[f.Field] = true
	}
	require.Equal(t, map[string]bool{"name": true, "audience": true}, fields)
	again, err := b.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, got, again, "an invalid patch changes nothing")

	require.NoError(t, b.svc.Schedule(ctx, c.ID))
	_, err = b.svc.Update(ctx, c.ID, campaigns.Input{Name: ptr("Too late")})
	requireConflictNaming(t, err, campaigns.StatusScheduled)

	_, err = b.svc.Update(ctx, 999999, campaigns.Input{Name: ptr("x")})
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

func TestCreateValidation(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `INSERT INTO accounts (name, channel, status, rate_per_minute, deleted_at)
		VALUES ('gone', 'sandbox', 'connected', 10, now())`)
	require.NoError(t, err)
	var deleted int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT id FROM accounts WHERE name = 'gone'`).Scan(&deleted))

	tests := []struct {
		name  string
		mod   func(*campaigns.Input)
		field string
	}{
		{"no name", func(in *campaigns.Input) { in.Name = nil }, "name"},
		{"no template", func(in *campaigns.Input) { in.TemplateID = ptr(int64(424242)) }, "template_id"},
		{"deleted account", func(in *campaigns.Input) { in.AccountIDs = []int64{b.account, deleted} }, "account_ids[1]"},
		{"no accounts", func(in *campaigns.Input) { in.AccountIDs = []int64{} }, "account_ids"},
		{"empty audience", func(in *campaigns.Input) { in.Audience = &campaigns.Audience{ExcludeTags: []string{"x"}} }, "audience"},
		{"bad tag", func(in *campaigns.Input) { in.Audience = &campaigns.Audience{TagsAll: []string{"a b c;d"}} }, "audience.tags_all"},
		{"past at", func(in *campaigns.Input) {
			in.Schedule = &schedule.Schedule{Type: schedule.At, At: "2026-05-01T09:00:00Z"}
		}, "schedule.at"},
		{"bare CRON_TZ", func(in *campaigns.Input) {
			in.Schedule = &schedule.Schedule{Type: schedule.Cron, Cron: "CRON_TZ="}
		}, "schedule.cron"},
		{"bad zone", func(in *campaigns.Input) {
			in.Schedule = &schedule.Schedule{Type: schedule.Now, Timezone: "Mars/Base"}
		}, "schedule.timezone"},
		{"quiet hours", func(in *campaigns.Input) { in.QuietHours = &schedule.QuietHours{Start: "25:00"} }, "quiet_hours.start"},
		{"rotation", func(in *campaigns.Input) { in.Rotation = ptr[sender.Rotation]("random") }, "rotation"},
		{"rate", func(in *campaigns.Input) { in.RatePerMinute = ptr(-1) }, "rate_per_minute"},
	}
	for _, tt := range tests {
		in := b.input()
		tt.mod(&in)
		_, err := b.svc.Create(ctx, in, "test")
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%s: %v", tt.name, err)
		var fields []string
		for _, f := range apperr.FieldsOf(err) {
			fields = append(fields, f.Field)
		}
		require.Contains(t, fields, tt.field, tt.name)
	}
	list, _, err := b.svc.List(ctx, campaigns.ListParams{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, list, "nothing invalid was stored")
}

func TestList(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	var ids []int64
	for range 5 {
		ids = append(ids, b.create(t).ID)
	}
	require.NoError(t, b.svc.Schedule(ctx, ids[1]))
	var got []int64
	var after int64
	for {
		page, next, err := b.svc.List(ctx, campaigns.ListParams{AfterID: after, Limit: 2})
		require.NoError(t, err)
		for _, c := range page {
			got = append(got, c.ID)
		}
		if next == 0 {
			break
		}
		after = next
	}
	require.Equal(t, ids, got)
	scheduled, _, err := b.svc.List(ctx, campaigns.ListParams{Status: campaigns.StatusScheduled, Limit: 10})
	require.NoError(t, err)
	require.Len(t, scheduled, 1)
	require.Equal(t, ids[1], scheduled[0].ID)
}
