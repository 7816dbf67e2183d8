package campaigns_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
)

func TestLaunchIsIdempotent(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	for _, p := range []string{"+6591000001", "+6591000002", "+6591000003"} {
		b.eligible(t, p, "", "vip")
	}
	b.contact(t, "+6591000004", "", "vip") // no consent: a skipped delivery, still one
	c := b.create(t)
	first := b.launch(t, c.ID)
	require.EqualValues(t, 4, first.Matched)
	require.EqualValues(t, 3, first.Eligible)

	again, err := b.svc.Launch(ctx, c.ID, first.RunAt)
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID)
	require.Equal(t, first.Matched, again.Matched)

	// Many launches of the same run at once still make one run.
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.svc.Launch(ctx, c.ID, first.RunAt)
			if err == nil {
				ids[i] = r.ID
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, first.ID, id)
	}
	var runs, deliveries int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM campaign_runs WHERE campaign_id = $1`, c.ID).Scan(&runs))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE campaign_id = $1`, c.ID).Scan(&deliveries))
	require.Equal(t, 1, runs)
	require.Equal(t, 4, deliveries)

	got, err := b.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusRunning, got.Status)
	require.Nil(t, got.NextRunAt, "a one-off campaign has no next run")

	_, err = b.svc.Launch(ctx, c.ID, first.RunAt.Add(time.Hour))
	require.Error(t, err, "a run that is not due is refused")
}

// TestLaunchSkipReasons gives each contact one reason not to get the message and checks
// that the launch records exactly that reason, and queues the one who may get it.
func TestLaunchSkipReasons(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	eligible := b.eligible(t, "+6591000001", "", "vip")
	noConsent := b.contact(t, "+6591000002", "", "vip")
	withdrawn := b.eligible(t, "+6591000003", "", "vip")
	_, err := b.consent.Record(ctx, consent.Change{ContactID: withdrawn, Status: consent.Withdrawn, Source: consent.SourceAPI, Actor: "test"})
	require.NoError(t, err)
	suppressed := b.eligible(t, "+6591000004", "", "vip")
	_, _, err = b.consent.Suppress(ctx, "+6591000004", consent.ReasonComplaint, "test")
	require.NoError(t, err)
	invalid := b.eligible(t, "+6591000005", "", "vip")
	_, err = b.pool.Exec(ctx, `UPDATE contacts SET phone_hash = NULL WHERE id = $1`, invalid)
	require.NoError(t, err)
	excluded := b.eligible(t, "+6591000006", "", "vip", "staff")
	capped := b.eligible(t, "+6591000007", "", "vip", "capme")
	b.eligible(t, "+6591000008", "", "other") // not in the audience: no delivery at all
	utilityOnly := b.contact(t, "+6591000009", "", "vip")
	b.grant(t, utilityOnly, consent.Utility) // utility consent does not allow marketing

	// Two marketing campaigns already queued for capped: the cap (2 per 24 h) is full.
	for range 2 {
		b.launch(t, b.create(t, func(in *campaigns.Input) { in.Audience = &campaigns.Audience{TagsAny: []string{"capme"}} }).ID)
	}
	c := b.create(t, func(in *campaigns.Input) {
		in.Audience = &campaigns.Audience{TagsAny: []string{"vip"}, ExcludeTags: []string{"staff"}}
	})
	run := b.launch(t, c.ID)
	got := b.deliveries(t, run.ID)
	// Every withdrawal suppresses the number, and the suppression is the reason recorded.
	want := map[int64]string{eligible: "", noConsent: "no_consent", withdrawn: "suppressed", suppressed: "suppressed",
		invalid: "invalid_phone", excluded: "excluded_tag", capped: "frequency_capped", utilityOnly: "no_consent"}
	require.Len(t, got, len(want))
	for id, r := range want {
		d := got[id]
		require.Equal(t, r, reason(d), "contact %d", id)
		if r == "" {
			require.Equal(t, "queued", d.Status)
		} else {
			require.Equal(t, "skipped", d.Status)
		}
	}
	require.EqualValues(t, 8, run.Matched)
	require.EqualValues(t, 1, run.Eligible)

	// local_time_passed: 10:00 UTC is 18:00 in Singapore, past 09:00; in New York it is 06:00.
	sg := b.eligible(t, "+6591000010", "Asia/Singapore", "early")
	ny := b.eligible(t, "+6591000011", "America/New_York", "early")
	lc := b.create(t, func(in *campaigns.Input) {
		in.Audience = &campaigns.Audience{TagsAny: []string{"early"}}
		in.Schedule = &schedule.Schedule{Type: schedule.Now, LocalTime: "09:00", SkipPastLocal: true}
	})
	got = b.deliveries(t, b.launch(t, lc.ID).ID)
	require.Equal(t, "local_time_passed", reason(got[sg]))
	require.Equal(t, "skipped", got[sg].Status)
	require.Equal(t, "queued", got[ny].Status)
	require.True(t, time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC).Equal(got[ny].DueAt), "09:00 EDT, got %s", got[ny].DueAt)
}

func TestFrequencyCapAcrossCampaigns(t *testing.T) {
	b := setup(t, func(o *campaigns.Options) { o.FrequencyCap = campaigns.FrequencyCap{Max: 1, Window: 24 * time.Hour} })
	ctx := context.Background()
	id := b.eligible(t, "+6591000001", "", "vip")
	b.grant(t, id, consent.Utility)

	first := b.launch(t, b.create(t).ID)
	require.Equal(t, "queued", b.deliveries(t, first.ID)[id].Status)

	// Still queued (it will be sent): the next marketing campaign is capped.
	second := b.launch(t, b.create(t).ID)
	require.Equal(t, "frequency_capped", reason(b.deliveries(t, second.ID)[id]))

	// Handed to Asynq, still queued: it counts as well (another partial index reads it).
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET enqueued_at = $2 WHERE run_id = $1`, first.ID, testNow)
	require.NoError(t, err)
	handed := b.launch(t, b.create(t).ID)
	require.Equal(t, "frequency_capped", reason(b.deliveries(t, handed.ID)[id]))

	// Sent 23 hours ago: still inside the window.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = $2 WHERE run_id = $1`, first.ID, testNow.Add(-23*time.Hour))
	require.NoError(t, err)
	third := b.launch(t, b.create(t).ID)
	require.Equal(t, "frequency_capped", reason(b.deliveries(t, third.ID)[id]))

	// A utility campaign is not capped, and does not count towards the cap.
	util := b.launch(t, b.create(t, func(in *campaigns.Input) { in.TemplateID = &b.utility }).ID)
	require.Equal(t, "queued", b.deliveries(t, util.ID)[id].Status)

	// Sent 25 hours ago: the window has passed.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET sent_at = $2 WHERE run_id = $1`, first.ID, testNow.Add(-25*time.Hour))
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = $2 WHERE run_id = $1`, util.ID, testNow.Add(-time.Hour))
	require.NoError(t, err)
	fourth := b.launch(t, b.create(t).ID)
	require.Equal(t, "queued", b.deliveries(t, fourth.ID)[id].Status)
}

// TestLaunchLocalTimeAndQuietHours checks the due times the launch gives, against DueAt:
// the contact's zone, else the phone's, else the campaign's; and quiet hours that defer.
func TestLaunchLocalTimeAndQuietHours(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	ownZone := b.eligible(t, "+6591000001", "America/New_York", "vip")
	phoneZone := b.eligible(t, "+12125550123", "", "vip")   // New York by its area code
	singapore := b.eligible(t, "+6591000002", "", "vip")    // Singapore by its number
	ambiguous := b.eligible(t, "+16055550123", "", "vip")   // South Dakota: two zones, so the campaign's
	oldContact := b.eligible(t, "+447911123456", "", "vip") // written before phone_zone existed
	_, err := b.pool.Exec(ctx, `UPDATE contacts SET phone_zone = NULL WHERE id = $1`, oldContact)
	require.NoError(t, err)

	sched := schedule.Schedule{Type: schedule.Now, Timezone: "Asia/Tokyo", LocalTime: "09:00"}
	c := b.create(t, func(in *campaigns.Input) { in.Schedule = &sched })
	got := b.deliveries(t, b.launch(t, c.ID).ID)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	want := map[int64]time.Time{
		ownZone:    at("2026-06-01T09:00:00-04:00"),
		phoneZone:  at("2026-06-01T09:00:00-04:00"),
		singapore:  at("2026-06-02T09:00:00+08:00"), // 18:00 there: tomorrow
		ambiguous:  at("2026-06-02T09:00:00+09:00"), // the campaign's Tokyo, 19:00: tomorrow
		oldContact: at("2026-06-02T09:00:00+01:00"), // filled in at launch: Guernsey keeps London's clock, 11:00 BST
	}
	for id, w := range want {
		require.True(t, w.Equal(got[id].DueAt), "contact %d: want %s, got %s", id, w, got[id].DueAt)
		require.Equal(t, "queued", got[id].Status)
	}
	var zone string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT phone_zone FROM contacts WHERE id = $1`, oldContact).Scan(&zone))
	require.Equal(t, "Europe/Guernsey", zone)
	for id, loc := range map[int64]string{ownZone: "America/New_York", singapore: "Asia/Singapore", ambiguous: "Asia/Tokyo"} {
		due, _ := schedule.DueAt(testNow, sched, zoneOf(t, loc), schedule.DefaultQuietHours())
		require.True(t, due.Equal(got[id].DueAt), "the launch agrees with DueAt for %s", loc)
	}

	// Quiet hours defer, never drop: at 10:00 UTC it is 19:00 in Tokyo, inside 18:00–09:00.
	tokyo := b.eligible(t, "+6591000003", "Asia/Tokyo", "quiet")
	london := b.eligible(t, "+6591000004", "Europe/London", "quiet")
	q := b.create(t, func(in *campaigns.Input) {
		in.Audience = &campaigns.Audience{TagsAny: []string{"quiet"}}
		in.QuietHours = &schedule.QuietHours{Start: "18:00", End: "09:00"}
	})
	got = b.deliveries(t, b.launch(t, q.ID).ID)
	require.Equal(t, "queued", got[tokyo].Status)
	require.True(t, at("2026-06-02T09:00:00+09:00").Equal(got[tokyo].DueAt), "got %s", got[tokyo].DueAt)
	require.True(t, testNow.Equal(got[london].DueAt), "11:00 in London is outside quiet hours")
}

func zoneOf(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestCronRunsAndDueRuns(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id := b.eligible(t, "+6591000001", "", "vip")
	c := b.create(t, func(in *campaigns.Input) {
		in.Schedule = &schedule.Schedule{Type: schedule.Cron, Cron: "0 9 * * *", Timezone: "UTC"}
		in.QuietHours = &schedule.QuietHours{Start: "00:00", End: "00:00"}
	})
	require.NoError(t, b.svc.Schedule(ctx, c.ID))
	due, err := b.svc.DueRuns(ctx, testNow)
	require.NoError(t, err)
	require.Empty(t, due, "the first tick is tomorrow 09:00")

	tick1 := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	due, err = b.svc.DueRuns(ctx, tick1)
	require.NoError(t, err)
	require.Equal(t, []campaigns.DueRun{{CampaignID: c.ID, RunAt: tick1}}, due)
	b.setNow(tick1)
	run1, err := b.svc.Launch(ctx, c.ID, tick1)
	require.NoError(t, err)
	got, err := b.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusRunning, got.Status)
	require.True(t, tick1.Add(24*time.Hour).Equal(*got.NextRunAt))

	// Its deliveries are sent; the run completes, the cron campaign keeps running.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = $2 WHERE run_id = $1`, run1.ID, tick1)
	require.NoError(t, err)
	n, err := b.svc.FinishRuns(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err = b.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.StatusRunning, got.Status)

	tick2 := tick1.Add(24 * time.Hour)
	b.setNow(tick2)
	due, err = b.svc.DueRuns(ctx, tick2)
	require.NoError(t, err)
	require.Equal(t, []campaigns.DueRun{{CampaignID: c.ID, RunAt: tick2}}, due)
	run2, err := b.svc.Launch(ctx, c.ID, tick2)
	require.NoError(t, err)
	require.NotEqual(t, run1.ID, run2.ID, "each tick is its own run")
	require.Equal(t, "queued", b.deliveries(t, run2.ID)[id].Status)
	runs, err := b.svc.Runs(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, runs, 2)
}

func TestCancelPendingOnStop(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	quitter := b.eligible(t, "+6591000001", "", "vip")
	stayer := b.eligible(t, "+6591000002", "", "vip")
	first := b.launch(t, b.create(t).ID)
	second := b.launch(t, b.create(t, func(in *campaigns.Input) { in.TemplateID = &b.utility }).ID)
	// A worker holds one of the quitter's deliveries: left to the send-time re-check.
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sending' WHERE run_id = $1 AND contact_id = $2`, second.ID, quitter)
	require.NoError(t, err)

	_, err = b.consent.HandleInbound(ctx, consent.Inbound{AccountID: b.account, From: "+6591000001", Text: "STOP",
		ProviderID: "in-1", ReceivedAt: testNow})
	require.NoError(t, err)

	d := b.deliveries(t, first.ID)
	require.Equal(t, "cancelled", d[quitter].Status)
	require.Equal(t, "opted_out", reason(d[quitter]))
	require.Equal(t, "queued", d[stayer].Status)
	require.Equal(t, "sending", b.deliveries(t, second.ID)[quitter].Status)

	n, err := b.svc.CancelPending(ctx, stayer, "")
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the marketing one: the utility one was skipped (no utility consent)")
	n, err = b.svc.CancelPending(ctx, stayer, "")
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestCancelCampaign(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id := b.eligible(t, "+6591000001", "", "vip")
	b.contact(t, "+6591000002", "", "vip")
	c := b.create(t)
	run := b.launch(t, c.ID)
	n, err := b.svc.Cancel(ctx, c.ID, "wrong audience")
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "only the queued one; the skipped one keeps its reason")
	d := b.deliveries(t, run.ID)[id]
	require.Equal(t, "cancelled", d.Status)
	require.Equal(t, "campaign_cancelled", reason(d))
	runs, err := b.svc.Runs(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "cancelled", runs[0].Status)
	_, err = b.svc.Launch(ctx, c.ID, run.RunAt)
	require.NoError(t, err, "the run exists: launching it again returns it")
}

func TestStats(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	var ids []int64
	for _, p := range []string{"+6591000001", "+6591000002", "+6591000003", "+6591000004", "+6591000005"} {
		ids = append(ids, b.eligible(t, p, "", "vip"))
	}
	b.contact(t, "+6591000006", "", "vip")
	c := b.create(t)
	run := b.launch(t, c.ID)
	set := func(id int64, sql string, args ...any) {
		_, err := b.pool.Exec(ctx, `UPDATE deliveries SET `+sql+` WHERE run_id = $1 AND contact_id = $2`,
			append([]any{run.ID, id}, args...)...)
		require.NoError(t, err)
	}
	set(ids[0], `status = 'sent', sent_at = now(), account_id = $3, variant = 0`, b.account)
	set(ids[1], `status = 'delivered', sent_at = now(), delivered_at = now(), account_id = $3, variant = 0`, b.account)
	set(ids[2], `status = 'read', sent_at = now(), read_at = now(), replied_at = now(), account_id = $3, variant = 1`, b.account)
	set(ids[3], `status = 'failed', failed_at = now(), error = 'not on WhatsApp', account_id = $3, variant = 1`, b.account)
	_, err := b.svc.CancelPending(ctx, ids[4], "")
	require.NoError(t, err)

	st, err := b.svc.Stats(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.Counts{Total: 6, Sent: 3, Delivered: 2, Read: 1, Failed: 1, Skipped: 1, Cancelled: 1,
		OptedOut: 1, Replied: 1}, st.Overall)
	require.Len(t, st.Runs, 1)
	require.Equal(t, st.Overall, st.Runs[0].Counts)
	require.Equal(t, int64(2), st.ByVariant["0"].Sent)
	require.Equal(t, int64(1), st.ByVariant["1"].Failed)
	require.Equal(t, int64(2), st.ByVariant["none"].Total)
	require.Equal(t, int64(4), st.ByAccount[itoa(b.account)].Total)
	require.Equal(t, map[string]int64{"no_consent": 1, "opted_out": 1}, st.SkipReason)

	rows, next, err := b.svc.Deliveries(ctx, c.ID, campaigns.DeliveryListParams{Status: delivery.StatusFailed, Limit: 10})
	require.NoError(t, err)
	require.Zero(t, next)
	require.Len(t, rows, 1)
	require.Equal(t, "+65••••••04", rows[0].Phone)
	require.Empty(t, rows[0].Error, "the error may quote personal data")
	rows, _, err = b.svc.Deliveries(ctx, c.ID, campaigns.DeliveryListParams{Status: delivery.StatusFailed, Limit: 10, PII: true})
	require.NoError(t, err)
	require.Equal(t, "+6591000004", rows[0].Phone)
	var all []int64
	var after int64
	for {
		page, next, err := b.svc.Deliveries(ctx, c.ID, campaigns.DeliveryListParams{AfterID: after, Limit: 4})
		require.NoError(t, err)
		for _, r := range page {
			all = append(all, r.ID)
		}
		if next == 0 {
			break
		}
		after = next
	}
	require.Len(t, all, 6)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestPreviewCountsWhatLaunchMaterialises compares a preview with the launch that follows.
func TestPreviewCountsWhatLaunchMaterialises(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.eligible(t, "+6591000001", "", "vip")
	b.eligible(t, "+6591000002", "", "vip")
	b.contact(t, "+6591000003", "", "vip")
	b.eligible(t, "+6591000004", "", "vip", "staff")
	c := b.create(t, func(in *campaigns.Input) {
		in.Audience = &campaigns.Audience{TagsAny: []string{"vip"}, ExcludeTags: []string{"staff"}}
	})
	p, err := b.svc.Preview(ctx, c.ID, false)
	require.NoError(t, err)
	require.EqualValues(t, 4, p.Matched)
	require.EqualValues(t, 2, p.Eligible)
	require.Equal(t, map[string]int64{"no_consent": 1, "excluded_tag": 1}, p.Excluded)
	require.Len(t, p.Samples, 2)
	require.Equal(t, "Hi Ada, Summer sale is on!\n\nReply STOP to opt out", p.Samples[0].Text)
	require.Equal(t, "+65••••••01", p.Samples[0].Phone)
	require.Empty(t, p.Samples[0].Error)

	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&n))
	require.Zero(t, n, "a preview writes nothing")

	run := b.launch(t, c.ID)
	require.Equal(t, p.Matched, run.Matched)
	require.Equal(t, p.Eligible, run.Eligible)
}

// TestDeletedContactLeavesNoText checks the trigger of migrations/00006_campaigns.sql.
func TestDeletedContactLeavesNoText(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	gone := b.eligible(t, "+6591000001", "", "vip")
	kept := b.eligible(t, "+6591000002", "", "vip")
	c := b.create(t)
	run := b.launch(t, c.ID)
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET rendered = 'Hi Ada, a secret', error = 'Ada' WHERE run_id = $1`, run.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO delivery_events (delivery_id, kind, detail, occurred_at)
		SELECT id, 'replied', '{"text": "Ada here"}', now() FROM deliveries WHERE run_id = $1`, run.ID)
	require.NoError(t, err)
	require.NoError(t, b.contacts.Delete(ctx, gone))

	var left int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE contact_id = $1 OR
		(contact_id IS NULL AND (rendered IS NOT NULL OR error IS NOT NULL))`, gone).Scan(&left))
	require.Zero(t, left)
	var status, why string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT status, skip_reason FROM deliveries WHERE run_id = $1 AND contact_id IS NULL`, run.ID).Scan(&status, &why))
	require.Equal(t, "cancelled", status)
	require.Equal(t, "contact_erased", why)
	var events int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE detail <> '{}'`).Scan(&events))
	require.Equal(t, 1, events, "only the other contact's event keeps its detail")
	d := b.deliveries(t, run.ID)
	require.Contains(t, d, kept)
	var rendered string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT rendered FROM deliveries WHERE contact_id = $1`, kept).Scan(&rendered))
	require.True(t, strings.HasPrefix(rendered, "Hi Ada"))
}

// TestFrequencyCapCountsEveryRunThatCanReachIt: the cap's count is left out when fewer
// marketing runs than the cap could have sent in its window (a run messages a contact
// once), so the runs that are counted must include every one that can: running, and
// ended within the window. A preview's samples count the cap per contact and skip the
// capped one as the counts do.
func TestFrequencyCapCountsEveryRunThatCanReachIt(t *testing.T) {
	b := setup(t) // the default cap: 2 per 24 h
	ctx := context.Background()
	capped := b.eligible(t, "+6591000001", "", "vip")
	free := b.eligible(t, "+6591000002", "", "vip")
	only := func(id int64) func(*campaigns.Input) {
		return func(in *campaigns.Input) {
			in.Audience = &campaigns.Audience{TagsAny: []string{"vip"}, ExcludeTags: []string{"not-" + itoa(id)}}
		}
	}
	_, err := b.pool.Exec(ctx, `UPDATE contacts SET tags = tags || ('not-' || $1)::text WHERE id = $2`, itoa(capped), free)
	require.NoError(t, err)

	// Run A messaged capped two hours ago and ended an hour ago; run B is still queued.
	a := b.launch(t, b.create(t, only(capped)).ID)
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = $2 WHERE run_id = $1`, a.ID, testNow.Add(-2*time.Hour))
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE campaign_runs SET status = 'completed', completed_at = $2 WHERE id = $1`, a.ID, testNow.Add(-time.Hour))
	require.NoError(t, err)
	b.launch(t, b.create(t, only(capped)).ID)

	c := b.create(t)
	p, err := b.svc.Preview(ctx, c.ID, true)
	require.NoError(t, err)
	require.EqualValues(t, 1, p.Excluded["frequency_capped"], "a run that ended in the window counts")
	require.EqualValues(t, 1, p.Eligible)
	require.Len(t, p.Samples, 1)
	require.Equal(t, free, p.Samples[0].ContactID, "the samples skip the capped contact")

	// Run A ended, and messaged capped, before the window: one run left, nobody capped.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET sent_at = $2 WHERE run_id = $1`, a.ID, testNow.Add(-26*time.Hour))
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE campaign_runs SET completed_at = $2 WHERE id = $1`, a.ID, testNow.Add(-25*time.Hour))
	require.NoError(t, err)
	p, err = b.svc.Preview(ctx, c.ID, true)
	require.NoError(t, err)
	require.Zero(t, p.Excluded["frequency_capped"])
	require.EqualValues(t, 2, p.Eligible)
	require.Equal(t, capped, p.Samples[0].ContactID)
	run := b.launch(t, c.ID)
	require.Equal(t, "queued", b.deliveries(t, run.ID)[capped].Status)
}
