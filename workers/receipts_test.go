package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender"
)

// sentDeliveries writes a campaign with n deliveries sent through account 7, with message ids
// prefix0 … prefix(n-1). The rows are written directly: these tests are about receipts.
func (b *bundle) sentDeliveries(prefix string, n int) (campaignID int64) {
	b.t.Helper()
	ctx := context.Background()
	require.NoError(b.t, b.pool.QueryRow(ctx, `
		WITH tpl AS (INSERT INTO templates (name, category, locales) VALUES ('t', 'marketing', '[]') RETURNING id)
		INSERT INTO campaigns (name, template_id, status) SELECT 'c', id, 'running' FROM tpl RETURNING id`).Scan(&campaignID))
	_, err := b.pool.Exec(ctx, `
		WITH run AS (INSERT INTO campaign_runs (campaign_id, run_at, status) VALUES ($1, now(), 'running') RETURNING id)
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at, account_id, message_id, sent_at)
		SELECT run.id, $1, g, 'sent', now(), 7, $2 || (g - 1), now() FROM run, generate_series(1, $3) g`,
		campaignID, prefix, n)
	require.NoError(b.t, err)
	return campaignID
}

// receiptHandlers are handlers without a server: the test looks at the queued tasks and runs
// them itself.
func (b *bundle) receiptHandlers(rdb redis.UniversalClient) *Handlers {
	h := New(Deps{Redis: rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	b.t.Cleanup(func() { _ = h.Close() })
	return h
}

func (b *bundle) statusOf(messageID string) string {
	var s string
	require.NoError(b.t, b.pool.QueryRow(context.Background(), `SELECT status FROM deliveries WHERE message_id = $1`, messageID).Scan(&s))
	return s
}

// counted reads the receipts counters of a campaign (account 7).
func counted(t *testing.T, h *Handlers, campaignID int64) (delivered, read, failed int) {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, h.events.metrics.Register(reg))
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["campaign_id"] != itoa(campaignID) || labels["account_id"] != "7" {
				continue
			}
			n := int(m.GetCounter().GetValue())
			switch f.GetName() {
			case "crier_messages_delivered_total":
				delivered = n
			case "crier_messages_read_total":
				read = n
			case "crier_messages_failed_total":
				failed = n
			}
		}
	}
	return delivered, read, failed
}

// TestReceiptsAreBatched: receipts reported at once by many transport goroutines go to Redis
// in a few event:receipts tasks, with ids,
// statuses and times only; running the tasks applies every receipt, and running them again
// changes nothing.
func TestReceiptsAreBatched(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	const goroutines, each = 50, 4
	campaignID := b.sentDeliveries("b-", goroutines*each)
	h := b.receiptHandlers(b.rdb)
	const reason = "recipient +442070000001 is not on WhatsApp"

	kinds := []sender.EventKind{sender.EventDelivered, sender.EventRead, sender.EventFailed, sender.EventDelivered}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for k, kind := range kinds {
				e := sender.Event{Kind: kind, AccountID: 7, MessageID: fmt.Sprintf("b-%d", g*each+k), At: time.Now()}
				if kind == sender.EventFailed {
					e.Error = reason
				}
				h.Events().OnEvent(ctx, e)
			}
		})
	}
	close(start)
	wg.Wait()
	h.events.receipts.Wait()

	inspector := asynq.NewInspectorFromRedisClient(b.rdb)
	defer inspector.Close()
	tasks, err := inspector.ListPendingTasks(QueueEvents, asynq.PageSize(1000))
	require.NoError(t, err)
	t.Logf("%d receipts in %d tasks", goroutines*each, len(tasks))
	require.LessOrEqual(t, len(tasks), goroutines, "receipts that arrive together share a task")
	seen := map[string]bool{}
	for _, task := range tasks {
		require.Equal(t, TypeEventReceipts, task.Type)
		require.Equal(t, 20, task.MaxRetry)
		require.NotContains(t, string(task.Payload), "+4420", "no free text in Redis")
		var raw struct {
			Receipts []map[string]any `json:"receipts"`
		}
		require.NoError(t, json.Unmarshal(task.Payload, &raw))
		for _, r := range raw.Receipts {
			for k := range r {
				require.Contains(t, []string{"account_id", "message_id", "status", "at"}, k)
			}
			id := r["message_id"].(string)
			require.False(t, seen[id], "receipt %s queued twice", id)
			seen[id] = true
		}
	}
	require.Len(t, seen, goroutines*each, "every receipt is queued")

	run := func() {
		for _, task := range tasks {
			require.NoError(t, h.Mux().ProcessTask(ctx, asynq.NewTask(task.Type, task.Payload)))
		}
	}
	run()
	byStatus := func(s string) int {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = $2`, campaignID, s)
	}
	require.Equal(t, 2*goroutines, byStatus("delivered"))
	require.Equal(t, goroutines, byStatus("read"))
	require.Equal(t, goroutines, byStatus("failed"))
	require.Zero(t, b.count(`SELECT count(*) FROM deliveries WHERE error IS NOT NULL`), "the reason never went through Redis")
	require.Equal(t, goroutines*each, b.count(`SELECT count(*) FROM delivery_events`))
	delivered, read, failed := counted(t, h, campaignID)
	require.Equal(t, []int{2 * goroutines, goroutines, goroutines}, []int{delivered, read, failed})

	run() // a retried task
	require.Equal(t, goroutines*each, b.count(`SELECT count(*) FROM delivery_events`))
	delivered, read, failed = counted(t, h, campaignID)
	require.Equal(t, []int{2 * goroutines, goroutines, goroutines}, []int{delivered, read, failed}, "counted once")
}

// TestEarlyReceiptsComeBackAlone: the receipts of a batch whose sends are not recorded yet
// come back 2 s later in a task of their own, without the others; a handler that runs again
// queues the same follow-up, not a second one; and they stop coming back after
// earlyReceiptAttempts.
func TestEarlyReceiptsComeBackAlone(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	campaignID := b.sentDeliveries("e-", 6)
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sending', sent_at = NULL WHERE message_id IN ('e-2', 'e-3', 'e-4')`)
	require.NoError(t, err)
	h := b.receiptHandlers(b.rdb)
	inspector := asynq.NewInspectorFromRedisClient(b.rdb)
	defer inspector.Close()

	at := time.Now().UTC().Truncate(time.Millisecond)
	receipt := func(id string) ReceiptPayload {
		return ReceiptPayload{AccountID: 7, MessageID: id, Status: "delivered", At: at}
	}
	parent := NewReceiptsTask(ReceiptsPayload{Receipts: []ReceiptPayload{receipt("e-0"), receipt("e-2"), receipt("e-1"), receipt("e-3")}})
	require.NoError(t, h.Mux().ProcessTask(ctx, parent))
	require.Equal(t, "delivered", b.statusOf("e-0"))
	require.Equal(t, "delivered", b.statusOf("e-1"))
	require.Equal(t, "sending", b.statusOf("e-2"))

	scheduled := func() []*asynq.TaskInfo {
		tasks, err := inspector.ListScheduledTasks(QueueEvents)
		require.NoError(t, err)
		return tasks
	}
	tasks := scheduled()
	require.Len(t, tasks, 1)
	require.Equal(t, TypeEventReceipts, tasks[0].Type)
	var p ReceiptsPayload
	require.NoError(t, json.Unmarshal(tasks[0].Payload, &p))
	require.Equal(t, ReceiptsPayload{Receipts: []ReceiptPayload{receipt("e-2"), receipt("e-3")}, Attempt: 1}, p,
		"only the early receipts come back")
	require.WithinDuration(t, time.Now().Add(2*time.Second), tasks[0].NextProcessAt, time.Second)

	// The parent again (a retry after a lost acknowledgement): the same follow-up, once; an
	// archived one is replaced.
	require.NoError(t, h.Mux().ProcessTask(ctx, parent))
	require.Len(t, scheduled(), 1)
	require.NoError(t, inspector.ArchiveTask(QueueEvents, tasks[0].ID))
	require.Empty(t, scheduled())
	require.NoError(t, h.Mux().ProcessTask(ctx, parent))
	require.Len(t, scheduled(), 1)
	require.Equal(t, tasks[0].ID, scheduled()[0].ID)

	// Still early: back again, later.
	require.NoError(t, h.Mux().ProcessTask(ctx, asynq.NewTask(tasks[0].Type, tasks[0].Payload)))
	var again ReceiptsPayload
	for _, task := range scheduled() {
		var q ReceiptsPayload
		require.NoError(t, json.Unmarshal(task.Payload, &q))
		if q.Attempt == 2 {
			again = q
			require.WithinDuration(t, time.Now().Add(4*time.Second), task.NextProcessAt, time.Second)
		}
	}
	require.Len(t, again.Receipts, 2)

	// Once the sends are recorded, they apply and nothing comes back.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = now() WHERE message_id IN ('e-2', 'e-3')`)
	require.NoError(t, err)
	before := len(scheduled())
	require.NoError(t, h.Mux().ProcessTask(ctx, asynq.NewTask(tasks[0].Type, tasks[0].Payload)))
	require.Equal(t, "delivered", b.statusOf("e-2"))
	require.Equal(t, "delivered", b.statusOf("e-3"))
	require.Len(t, scheduled(), before)
	delivered, _, _ := counted(t, h, campaignID)
	require.Equal(t, 4, delivered)

	// A receipt that is still early after the last attempt fails the task for good (Asynq
	// archives it, with its receipts, and logs it); the rest of the batch applies.
	last := NewReceiptsTask(ReceiptsPayload{Receipts: []ReceiptPayload{receipt("e-4"), receipt("e-5")}, Attempt: earlyReceiptAttempts - 1})
	err = h.Mux().ProcessTask(ctx, last)
	require.ErrorIs(t, err, asynq.SkipRetry)
	require.True(t, IsFailure(err))
	require.Equal(t, "delivered", b.statusOf("e-5"))
	require.Equal(t, "sending", b.statusOf("e-4"))
	require.Len(t, scheduled(), before)

	// So does a receipt that can never apply; the others apply.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = now() WHERE message_id = 'e-4'`)
	require.NoError(t, err)
	played := receipt("e-0")
	played.Status = "played"
	err = h.Mux().ProcessTask(ctx, NewReceiptsTask(ReceiptsPayload{Receipts: []ReceiptPayload{played, receipt("e-4")}}))
	require.ErrorIs(t, err, asynq.SkipRetry)
	require.ErrorContains(t, err, "unknown receipt kind")
	require.Equal(t, "delivered", b.statusOf("e-4"))
}

// TestReceiptsAppliedWhenRedisRefuses: when the event:receipts task cannot be queued, the
// receipts are applied at once, in-process, with the failed ones' reasons.
func TestReceiptsAppliedWhenRedisRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	campaignID := b.sentDeliveries("f-", 3)
	closed := redis.NewClient(&redis.Options{Addr: b.rdb.Options().Addr, DB: b.rdb.Options().DB})
	require.NoError(t, closed.Close())
	h := b.receiptHandlers(closed)

	h.Events().OnEvent(ctx, sender.Event{Kind: sender.EventDelivered, AccountID: 7, MessageID: "f-0", At: time.Now()})
	h.Events().OnEvent(ctx, sender.Event{Kind: sender.EventFailed, AccountID: 7, MessageID: "f-1", At: time.Now(), Error: "not on WhatsApp"})
	h.events.receipts.Wait()
	require.Equal(t, "delivered", b.statusOf("f-0"))
	require.Equal(t, "failed", b.statusOf("f-1"))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM deliveries WHERE message_id = 'f-1' AND error = 'not on WhatsApp'`))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM delivery_events WHERE kind = 'failed' AND detail->>'error' = 'not on WhatsApp'`))
	delivered, read, failed := counted(t, h, campaignID)
	require.Equal(t, []int{1, 0, 1}, []int{delivered, read, failed})
	keys, err := b.rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Empty(t, keys, "nothing reached Redis")
}

// TestSingleReceiptTasksStillRun: event:receipt tasks queued before receipts were batched
// are still handled, an early one retried without counting as a failure.
func TestSingleReceiptTasksStillRun(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	campaignID := b.sentDeliveries("s-", 2)
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sending', sent_at = NULL WHERE message_id = 's-1'`)
	require.NoError(t, err)
	h := b.receiptHandlers(b.rdb)

	require.NoError(t, h.Mux().ProcessTask(ctx, newTask(TypeEventReceipt, ReceiptPayload{AccountID: 7, MessageID: "s-0", Status: "read", At: time.Now()})))
	require.Equal(t, "read", b.statusOf("s-0"))
	_, read, _ := counted(t, h, campaignID)
	require.Equal(t, 1, read)

	err = h.Mux().ProcessTask(ctx, newTask(TypeEventReceipt, ReceiptPayload{AccountID: 7, MessageID: "s-1", Status: "read", At: time.Now()}))
	require.Error(t, err)
	require.False(t, IsFailure(err), "a receipt before its send is no failure")
	var rl *retryLater
	require.True(t, errors.As(err, &rl))
	require.Equal(t, 2*time.Second, rl.Delay)
	require.Equal(t, "sending", b.statusOf("s-1"))
}
