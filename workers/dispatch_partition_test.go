package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
)

// TestDispatchShare: a campaign gets a partition per 500 deliveries of capacity, up to the
// number configured; the partitions' shares add up to the capacity exactly; and every
// partition the capacity is split among has a share, so that none of the campaign's
// deliveries waits for a partition that never gets one.
func TestDispatchShare(t *testing.T) {
	t.Parallel()
	dispatcher := func(minShare int) *Dispatcher {
		opts := Options{Horizon: 2 * time.Minute, MaxInFlight: 10_000, minPartitionShare: minShare}
		opts.setDefaults()
		return &Dispatcher{opts: opts}
	}
	for _, tc := range []struct {
		minShare, perMinute, parts int
		want                       []int // each partition's share
		of                         int   // the partitioning the shares are of; 1: the whole campaign
	}{
		{perMinute: 0, parts: 4, want: []int{0, 0, 0, 0}, of: 1},
		{perMinute: 100, parts: 4, want: []int{200, 0, 0, 0}, of: 1},
		{perMinute: 600, parts: 4, want: []int{600, 600, 0, 0}, of: 2},
		{perMinute: 1000, parts: 4, want: []int{500, 500, 500, 500}, of: 4},
		{perMinute: 1001, parts: 4, want: []int{501, 501, 500, 500}, of: 4},
		{perMinute: 10_000_000, parts: 4, want: []int{2500, 2500, 2500, 2500}, of: 4},
		{perMinute: 10_000_000, parts: 3, want: []int{3334, 3333, 3333}, of: 3},
		{perMinute: 10_000_000, parts: 1, want: []int{10_000}, of: 1},
		{perMinute: 10_000_000, parts: 24, want: append(slices.Repeat([]int{500}, 20), 0, 0, 0, 0), of: 20},
		{minShare: 1, perMinute: 1, parts: 4, want: []int{1, 1, 0, 0}, of: 2},
		{minShare: 1, perMinute: 60, parts: 4, want: []int{30, 30, 30, 30}, of: 4},
	} {
		d := dispatcher(tc.minShare)
		for k, want := range tc.want {
			part, share := d.share(tc.perMinute, delivery.Partition{Index: k, Of: tc.parts})
			require.Equal(t, want, share, "%d a minute, partition %d of %d", tc.perMinute, k, tc.parts)
			if share > 0 {
				require.Equal(t, tc.of == 1, part.Whole(), "%d a minute, partition %d of %d", tc.perMinute, k, tc.parts)
				if tc.of > 1 {
					require.Equal(t, delivery.Partition{Index: k, Of: tc.of}, part)
				}
			}
		}
	}
	// Any rate and number of partitions: the shares are the capacity, and every partition
	// that the capacity is split among has one, of at least the least share.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, minShare := range []int{1, 500} {
		d := dispatcher(minShare)
		for range 2000 {
			perMinute, parts := rng.IntN(20_000), 1+rng.IntN(64)
			capacity := min(2*perMinute, 10_000)
			sum, of := 0, 1
			for k := range parts {
				part, share := d.share(perMinute, delivery.Partition{Index: k, Of: parts})
				sum += share
				if k == 0 || share > 0 {
					of = max(of, part.Of)
				}
				if k < of && of > 1 {
					require.GreaterOrEqual(t, share, minShare, "partition %d of %d at %d a minute", k, parts, perMinute)
				}
				if k >= of {
					require.Zero(t, share)
				}
			}
			require.Equal(t, capacity, sum, "%d a minute in %d partitions", perMinute, parts)
		}
	}
}

// recordingStore is the real store, recording every delivery each dispatcher takes.
type recordingStore struct {
	dispatchStore
	mu    *sync.Mutex
	taken map[int64]int // shared by the dispatchers
	mine  atomic.Int64  // this dispatcher's
}

func (r *recordingStore) DispatchTake(ctx context.Context, campaignID int64, part delivery.Partition, limit int) ([]int64, error) {
	ids, err := r.dispatchStore.DispatchTake(ctx, campaignID, part, limit)
	r.mu.Lock()
	for _, id := range ids {
		r.taken[id]++
	}
	r.mu.Unlock()
	r.mine.Add(int64(len(ids)))
	return ids, err
}

// TestPartitionedDispatchSeveralWorkers runs three dispatching workers, each with its own
// Asynq server and dispatch loop as `crier worker` has, on one campaign of 3 000 due
// deliveries cut into four partitions, while a fourth server plays the senders. Every due
// delivery is taken and sent exactly once, the ones due later are left alone, and the work
// in flight never exceeds the campaign's capacity although twelve dispatch loops and up to
// four partition tasks at a time top it up.
func TestPartitionedDispatchSeveralWorkers(t *testing.T) {
	t.Parallel()
	const due, later, capacity, parts = 3000, 100, 120, 4
	// A small capacity, so that the campaign takes many rounds: split it four ways anyway.
	b := setup(t, Options{MaxInFlight: capacity, DispatchPartitions: parts, DispatchEvery: 20 * time.Millisecond,
		minPartitionShare: 1})
	ctx := context.Background()
	campaignID := b.dueCampaign(t, due, 10_000_000)
	_, err := b.pool.Exec(ctx, `
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT run_id, campaign_id, contact_id + $2, status, now() + interval '1 hour'
		FROM deliveries WHERE campaign_id = $1 ORDER BY id LIMIT $3`, campaignID, due, later)
	require.NoError(t, err)
	opts := b.opts
	opts.setDefaults()

	var stop []func()
	defer func() {
		for _, f := range stop {
			f()
		}
	}()
	serve := func(concurrency int, queue string, mux *asynq.ServeMux) {
		srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{Concurrency: concurrency, Queues: map[string]int{queue: 1},
			Logger: NewLogger(b.log), LogLevel: asynq.WarnLevel, TaskCheckInterval: 10 * time.Millisecond})
		require.NoError(t, srv.Start(mux))
		stop = append(stop, srv.Shutdown)
	}

	// The senders: each send settles its delivery, once.
	var mu sync.Mutex
	sent := map[int64]int{}
	var again atomic.Int64
	sends := asynq.NewServeMux()
	sends.HandleFunc(TypeMessageSend, func(ctx context.Context, task *asynq.Task) error {
		var p SendPayload
		if err := decode(task, &p); err != nil {
			return err
		}
		tag, err := b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = now() WHERE id = $1 AND status = 'queued'`, p.DeliveryID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			again.Add(1)
		}
		mu.Lock()
		sent[p.DeliveryID]++
		mu.Unlock()
		return nil
	})
	serve(16, QueueSend, sends)

	// The work in flight, watched while the campaign runs.
	var peak atomic.Int64
	watchCtx, stopWatching := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watchCtx.Err() == nil {
			var n int64
			if err := b.pool.QueryRow(watchCtx, `
				SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND pending IS NOT NULL AND enqueued_at IS NOT NULL`,
				campaignID).Scan(&n); err == nil && n > peak.Load() {
				peak.Store(n)
			}
		}
	}()

	// The dispatching workers.
	taken := map[int64]int{}
	var takenMu sync.Mutex
	stores := make([]*recordingStore, 3)
	for i := range stores {
		stores[i] = &recordingStore{dispatchStore: b.sends, mu: &takenMu, taken: taken}
		q := NewQueue(b.rdb, b.log)
		d := &Dispatcher{sends: stores[i], queue: q, metrics: NewMetrics(), log: b.log, opts: opts}
		mux := asynq.NewServeMux()
		mux.HandleFunc(TypeCampaignDispatch, d.handleDispatch)
		serve(4, QueueCampaigns, mux)
		loopCtx, stopLoop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.RunDispatcher(loopCtx) }()
		stop = append(stop, func() { stopLoop(); <-done; _ = q.Close() })
	}

	waitFor(t, 2*time.Minute, "every due delivery to be sent", func() bool {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'sent'`, campaignID) == due
	})
	stopWatching()
	<-watched
	for i := len(stop) - 1; i >= 0; i-- {
		stop[i]()
	}
	stop = nil

	t.Logf("in flight at most %d of %d; taken by each worker: %d, %d, %d", peak.Load(), capacity,
		stores[0].mine.Load(), stores[1].mine.Load(), stores[2].mine.Load())
	require.LessOrEqual(t, peak.Load(), int64(capacity), "the campaign's capacity holds across workers and partitions")
	require.Positive(t, peak.Load())
	require.Len(t, taken, due)
	perPartition := make([]int, parts)
	for id, n := range taken {
		require.Equal(t, 1, n, "delivery %d taken %d times", id, n)
		perPartition[id%parts]++
	}
	require.Equal(t, []int{due / parts, due / parts, due / parts, due / parts}, perPartition, "every partition drained")
	require.Len(t, sent, due)
	for id, n := range sent {
		require.Equal(t, 1, n, "delivery %d sent %d times", id, n)
	}
	require.Zero(t, again.Load(), "a send for a delivery already settled")
	require.Equal(t, later, b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'queued' AND enqueued_at IS NULL AND due_at > now()`, campaignID),
		"the deliveries due later wait")
}

// TestDispatchRecoversACrashBetweenTakeAndEnqueue: a dispatcher that dies after marking
// deliveries enqueued and before their tasks reach Redis leaves them marked; the other
// partitions go on meanwhile, the reconciler finds the marked deliveries without a task and
// clears the mark, and the next dispatch sends each of them once.
func TestDispatchRecoversACrashBetweenTakeAndEnqueue(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{DispatchPartitions: 4, MaxInFlight: 1000, minPartitionShare: 1})
	ctx := context.Background()
	campaignID := b.dueCampaign(t, 200, 10_000_000)

	// The crash: partition 2 took 20 deliveries and never enqueued them.
	lost, err := b.sends.DispatchTake(ctx, campaignID, delivery.Partition{Index: 2, Of: 4}, 20)
	require.NoError(t, err)
	require.Len(t, lost, 20)

	h := New(Deps{Redis: b.rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()
	n, err := h.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Equal(t, 180, n, "the other deliveries go")
	n, err = h.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Zero(t, n, "the lost ones stay marked until the reconciler looks")

	// The reconciler, a couple of minutes on (CheckTasksAfter is a minute).
	later := b.opts
	later.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	m := New(Deps{Redis: b.rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, later)
	defer m.Close()
	r, err := m.Maintenance().Reconcile(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 20, r.TasksLost)

	n, err = h.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Equal(t, 20, n)
	inspector := asynq.NewInspectorFromRedisClient(b.rdb)
	defer inspector.Close()
	tasks, err := inspector.ListPendingTasks(QueueSend, asynq.PageSize(1000))
	require.NoError(t, err)
	got := map[int64]int{}
	for _, task := range tasks {
		var p SendPayload
		require.NoError(t, json.Unmarshal(task.Payload, &p))
		got[p.DeliveryID]++
	}
	require.Len(t, got, 200, "one task per delivery")
	for _, id := range lost {
		require.Equal(t, 1, got[id], "lost delivery %d", id)
	}
}

// TestDispatchWaitsForDueTimesAndStopsWithTheCampaign: no partition takes a delivery before
// its due time (quiet hours and local send times are due times), and a paused or cancelled
// campaign is not dispatched, whatever task or loop asks.
func TestDispatchWaitsForDueTimesAndStopsWithTheCampaign(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	campaignID := b.dueCampaign(t, 100, 10_000_000)
	_, err := b.pool.Exec(ctx, `
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT run_id, campaign_id, contact_id + 1000, status, now() + interval '10 minutes'
		FROM deliveries WHERE campaign_id = $1 ORDER BY id LIMIT 50`, campaignID)
	require.NoError(t, err)
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()

	for _, status := range []string{"paused", "cancelled"} {
		_, err := b.pool.Exec(ctx, `UPDATE campaigns SET status = $2 WHERE id = $1`, campaignID, status)
		require.NoError(t, err)
		n, err := h.Dispatcher().Dispatch(ctx, campaignID)
		require.NoError(t, err)
		require.Zero(t, n, status)
		// A task queued before the pause finds the campaign paused too.
		for k := range 4 {
			task := NewDispatchTask(campaignID, delivery.Partition{Index: k, Of: 4})
			require.NoError(t, h.Dispatcher().handleDispatch(ctx, task))
		}
		require.Zero(t, b.count(`SELECT count(*) FROM deliveries WHERE enqueued_at IS NOT NULL`), status)
	}
	_, err = b.pool.Exec(ctx, `UPDATE campaigns SET status = 'running' WHERE id = $1`, campaignID)
	require.NoError(t, err)
	n, err := h.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Equal(t, 100, n, "the due ones, not the 50 due in ten minutes")
	require.Equal(t, 50, b.count(`SELECT count(*) FROM deliveries WHERE enqueued_at IS NULL AND due_at > now()`))
}

// TestDispatchTasks: one task per partition, each with its own TaskID, so the partitions run
// side by side and each at most once at a time; a task without partitions (queued by a
// version before them) dispatches the whole campaign under the id it had then.
func TestDispatchTasks(t *testing.T) {
	t.Parallel()
	ids := map[string]bool{}
	for k := range 4 {
		task := NewDispatchTask(7, delivery.Partition{Index: k, Of: 4})
		id := taskIDOf(task)
		require.Equal(t, fmt.Sprintf("dispatch:7:%d/4", k), id)
		ids[id] = true
		var p DispatchPayload
		require.NoError(t, json.Unmarshal(task.Payload(), &p))
		require.Equal(t, DispatchPayload{CampaignID: 7, Partition: k, Partitions: 4}, p)
	}
	require.Len(t, ids, 4)
	whole := NewDispatchTask(7, delivery.Partition{})
	require.Equal(t, "dispatch:7", taskIDOf(whole))
	require.JSONEq(t, `{"campaign_id": 7}`, string(whole.Payload()))
	require.True(t, (DispatchPayload{CampaignID: 7}).partition().Whole())

	b := setup(t, Options{DispatchPartitions: 4})
	ctx := context.Background()
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()
	bad := asynq.NewTask(TypeCampaignDispatch, []byte(`{"campaign_id": 7, "partition": 4, "partitions": 4}`))
	require.ErrorIs(t, h.Dispatcher().handleDispatch(ctx, bad), asynq.SkipRetry)

	// However often and by however many workers asked, four tasks are queued.
	for range 3 {
		require.NoError(t, h.Queue().enqueueDispatch(ctx, 7, 4))
	}
	inspector := asynq.NewInspectorFromRedisClient(b.rdb)
	defer inspector.Close()
	tasks, err := inspector.ListPendingTasks(QueueCampaigns)
	require.NoError(t, err)
	got := map[string]bool{}
	for _, task := range tasks {
		got[task.ID] = true
	}
	require.Equal(t, ids, got)
}

// BenchmarkDispatch measures one campaign's dispatch of 5 000 due deliveries (a full
// top-up: the takes in PostgreSQL and the sends' tasks into Redis) with one partition and
// with four, side by side: deliveries/s is the figure.
//
//	go test ./workers -run '^$' -bench BenchmarkDispatch -benchtime 10x
func BenchmarkDispatch(b *testing.B) {
	const batch = 5000
	ctx := context.Background()
	pool, rdb := testdb.New(b), testredis.New(b)
	for _, q := range []string{
		`INSERT INTO accounts (name, channel, rate_per_minute, status) VALUES ('a', 'sandbox', 10000000, 'connected')`,
		`INSERT INTO templates (name, category, locales) VALUES ('sale', 'marketing', '[]')`,
		`INSERT INTO campaigns (name, template_id, status, account_ids) SELECT 'c', t.id, 'running', ARRAY[a.id] FROM templates t, accounts a`,
		`INSERT INTO campaign_runs (campaign_id, run_at, status, purpose) SELECT id, now(), 'running', 'marketing' FROM campaigns`,
		`INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		 SELECT r.id, r.campaign_id, g, 'queued', now() - interval '1 minute' FROM campaign_runs r, generate_series(1, 5000) g`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(q, err)
		}
	}
	var campaignID int64
	if err := pool.QueryRow(ctx, `SELECT id FROM campaigns`).Scan(&campaignID); err != nil {
		b.Fatal(err)
	}
	sends := delivery.New(pool, delivery.Options{})
	for _, parts := range []int{1, 4} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			h := New(Deps{Redis: rdb, Sends: sends, Metrics: NewMetrics(), Logger: slog.New(slog.DiscardHandler)},
				Options{MaxInFlight: batch, DispatchPartitions: parts})
			defer h.Close()
			var handed int
			for range b.N {
				b.StopTimer()
				err := errors.Join(rdb.FlushDB(ctx).Err(),
					func() error { _, err := pool.Exec(ctx, `UPDATE deliveries SET enqueued_at = NULL`); return err }(),
					func() error { _, err := pool.Exec(ctx, `VACUUM deliveries`); return err }())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n, err := h.Dispatcher().Dispatch(ctx, campaignID)
				if err != nil {
					b.Fatal(err)
				}
				if n != batch {
					b.Fatalf("dispatched %d of %d", n, batch)
				}
				handed += n
			}
			b.ReportMetric(float64(handed)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
