package workers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
)

// TestReconcileHonoursAStopWhoseTaskWasLost records a customer's STOP as the event
// handler does, then loses its event:inbound task with Redis. The reconciler must find the
// message unprocessed and queue it again, so that the opt-out still takes effect.
func TestReconcileHonoursAStopWhoseTaskWasLost(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{CheckTasksAfter: time.Millisecond})
	ctx := context.Background()
	granted, _ := b.people(1)
	acct := b.sandboxAccount("replies", 600)

	id, _, err := b.consent.RecordInbound(ctx, consent.Inbound{AccountID: acct, From: granted[0], Text: "STOP",
		ProviderID: "wamid.lost", ReceivedAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, b.rdb.FlushDB(ctx).Err(), "Redis loses the task (it was never enqueued here at all)")
	time.Sleep(5 * time.Millisecond)

	w := b.startWorker(true)
	r, err := w.h.Maintenance().Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.InboundRetried)
	waitFor(t, 30*time.Second, "the STOP is processed", func() bool {
		return b.count(`SELECT count(*) FROM inbound_messages WHERE id = $1 AND class = 'opt_out'`, id) == 1
	})
	require.Equal(t, 1, b.count(`SELECT count(*) FROM consent_state WHERE status = 'withdrawn'`))
	require.Equal(t, 2, b.count(`SELECT count(*) FROM suppressions`), "for every purpose")

	r, err = w.h.Maintenance().Reconcile(ctx)
	require.NoError(t, err)
	waitFor(t, 30*time.Second, "the confirmation goes out", func() bool {
		return b.count(`SELECT count(*) FROM inbound_messages WHERE id = $1 AND reply_status = 'sent'`, id) == 1
	})
	r, err = w.h.Maintenance().Reconcile(ctx)
	require.NoError(t, err)
	require.Zero(t, r.InboundRetried, "settled: nothing to retry")
}

// TestReplyGoesBeforeCampaignSends: an account busy with a campaign at a slow rate still
// confirms an opt-out within seconds, because campaign sends leave it the next token.
func TestReplyGoesBeforeCampaignSends(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	// 225 with consent at 60 a minute: all of the worker's sends want this account's
	// next token, each a second apart.
	granted, _ := b.people(300)
	acct := b.sandboxAccount("slow", 60)
	b.campaign([]int64{acct}, "Hello {{ first_name }}")
	w := b.startWorker(true)
	sched := NewScheduler(w.h, SchedulerOptions{})
	_, err := sched.ScheduleDue(ctx)
	require.NoError(t, err)
	waitFor(t, 30*time.Second, "the campaign is sending", func() bool {
		return b.count(`SELECT count(*) FROM deliveries WHERE status IN ('sent', 'delivered', 'read')`) >= 2
	})

	// The last contact, still queued, replies STOP.
	_, err = w.h.Events().Inbound(ctx, consent.Inbound{AccountID: acct, From: granted[len(granted)-1], Text: "STOP",
		ProviderID: "wamid.stop", ReceivedAt: time.Now()})
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the confirmation", func() bool {
		return b.count(`SELECT count(*) FROM inbound_messages WHERE reply_status = 'sent'`) == 1
	})
	require.Positive(t, b.count(`SELECT count(*) FROM deliveries WHERE status = 'queued'`), "the campaign was still sending")
}
