package workers

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/webhooks"
)

var _ webhooks.Queue = (*Queue)(nil)

type recordDeliverer struct {
	mu  sync.Mutex
	ids []int64
}

func (d *recordDeliverer) Deliver(_ context.Context, id int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, id)
	return nil
}

type countRelay struct{ steps atomic.Int64 }

func (r *countRelay) Step(context.Context) (int, error) { r.steps.Add(1); return 0, nil }

// TestWebhookTasks: an attempt is one task however often it is queued, on the webhooks'
// queue and server, and its handler gets the delivery's id.
func TestWebhookTasks(t *testing.T) {
	t.Parallel()
	rdb := testredis.New(t)
	d := &recordDeliverer{}
	h := New(Deps{Redis: rdb, Webhooks: d}, Options{Concurrency: 64})
	defer h.Close()
	ctx := context.Background()
	at := time.Now().Add(time.Hour)
	for range 2 {
		require.NoError(t, h.queue.EnqueueWebhook(ctx, 42, "3", at))
	}
	require.NoError(t, h.queue.EnqueueWebhook(ctx, 42, "replay-3-1", time.Now()))
	scheduled, err := h.queue.inspector.ListScheduledTasks(QueueWebhooks)
	require.NoError(t, err)
	require.Len(t, scheduled, 1, "the same attempt queued twice is one task")
	require.Equal(t, "webhook:42:3", scheduled[0].ID)
	require.WithinDuration(t, at, scheduled[0].NextProcessAt, time.Second)
	var p map[string]any
	require.NoError(t, json.Unmarshal(scheduled[0].Payload, &p))
	require.Equal(t, map[string]any{"webhook_delivery_id": float64(42), "attempt": "3"}, p, "ids only")
	pending, err := h.queue.inspector.ListPendingTasks(QueueWebhooks)
	require.NoError(t, err)
	require.Len(t, pending, 1, "a replay is an attempt of its own")

	require.NoError(t, h.Mux().ProcessTask(ctx, NewWebhookTask(42, "3", at)))
	require.Equal(t, []int64{42}, d.ids)

	configs := h.ServerConfigs(time.Second)
	require.Equal(t, map[string]int{QueueWebhooks: 1}, configs[2].Queues, "webhooks wait on receivers on a server of their own")
	require.Len(t, New(Deps{Redis: rdb}, Options{Concurrency: 64}).ServerConfigs(time.Second), 2+4, "none without webhooks")
}

// TestSchedulerStepsTheRelay: the leading scheduler steps the relay about every second.
func TestSchedulerStepsTheRelay(t *testing.T) {
	t.Parallel()
	rdb := testredis.New(t)
	relay := &countRelay{}
	h := New(Deps{Redis: rdb, Campaigns: noRuns{}, WebhookRelay: relay}, Options{})
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := NewScheduler(h, SchedulerOptions{Owner: "a", RelayEvery: 10 * time.Millisecond})
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, 10*time.Second, "the relay to step a few times", func() bool { return relay.steps.Load() >= 3 })
	cancel()
	require.NoError(t, <-done)
}
