package workers

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// usedMemory reads Redis's used_memory.
func usedMemory(t *testing.T, b *bundle) int64 {
	info, err := b.rdb.Info(context.Background(), "memory").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// dueCampaign makes a running campaign over connected sandbox accounts with the given
// per-minute rates, with n deliveries due a minute ago, and returns its id.
func (b *bundle) dueCampaign(t *testing.T, n int, rates ...int) int64 {
	t.Helper()
	ctx := context.Background()
	accounts := make([]int64, len(rates))
	for i, rate := range rates {
		accounts[i] = b.sandboxAccount(string(rune('A'+i)), rate)
	}
	_, err := b.pool.Exec(ctx, `UPDATE accounts SET status = 'connected'`)
	require.NoError(t, err)
	campaignID := b.campaign(accounts, "Hello {{ name }}")
	_, err = b.pool.Exec(ctx, `
		WITH run AS (INSERT INTO campaign_runs (campaign_id, run_at, status) VALUES ($1, now(), 'running') RETURNING id)
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT run.id, $1, g, 'queued', now() - interval '1 minute' FROM run, generate_series(1, $2) g`, campaignID, n)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE campaigns SET status = 'running' WHERE id = $1`, campaignID)
	require.NoError(t, err)
	return campaignID
}

// TestDispatchKeepsRedisFlat materialises a 100 000-recipient campaign (or
// CRIER_DISPATCH_AUDIENCE) and runs the
// dispatcher round after round while the sends are simulated: Redis never holds more than
// the accounts' rate times the horizon, and its memory stays flat as the audience drains
// (100 000 pending tasks would take some 50 MB).
func TestDispatchKeepsRedisFlat(t *testing.T) {
	t.Parallel()
	// CRIER_DISPATCH_AUDIENCE=1000000 runs it at a million (about a minute more).
	audience, rate := 100_000, 600 // two accounts at 600 a minute, horizon 2 minutes
	if n, err := strconv.Atoi(os.Getenv("CRIER_DISPATCH_AUDIENCE")); err == nil && n >= 10_000 {
		audience = n
	}
	b := setup(t, Options{Horizon: 2 * time.Minute})
	ctx := context.Background()
	campaignID := b.dueCampaign(t, audience, rate, rate)

	// The dispatcher alone: no worker takes the tasks, the test settles them.
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()
	inspector := asynq.NewInspectorFromRedisClient(b.rdb)
	defer inspector.Close()

	capacity := 2 * rate * 2
	base := usedMemory(t, b)
	var low, high int64 = 1 << 62, 0
	for round := range 10 {
		n, err := h.Dispatcher().Dispatch(ctx, campaignID)
		require.NoError(t, err)
		if round == 0 {
			require.Equal(t, capacity, n, "the first dispatch fills the horizon")
		} else {
			require.Equal(t, capacity/2, n, "each later dispatch replaces what was sent")
		}
		again, err := h.Dispatcher().Dispatch(ctx, campaignID)
		require.NoError(t, err)
		require.Zero(t, again, "nothing more while the horizon is full")
		info, err := inspector.GetQueueInfo(QueueSend)
		require.NoError(t, err)
		require.Equal(t, capacity, info.Pending)
		mem := usedMemory(t, b)
		low, high = min(low, mem), max(high, mem)

		// Half the horizon gets sent: those tasks leave Redis and their deliveries settle.
		tasks, err := inspector.ListPendingTasks(QueueSend, asynq.PageSize(capacity/2))
		require.NoError(t, err)
		ids := make([]int64, len(tasks))
		for i, task := range tasks {
			var p SendPayload
			require.NoError(t, json.Unmarshal(task.Payload, &p))
			ids[i] = p.DeliveryID
			require.NoError(t, inspector.DeleteTask(QueueSend, task.ID))
		}
		_, err = b.pool.Exec(ctx, `UPDATE deliveries SET status = 'sent', sent_at = now() WHERE id = ANY ($1)`, ids)
		require.NoError(t, err)
	}
	t.Logf("Redis used_memory: %d bytes before, %d–%d during 10 rounds (%d tasks each, %d of %d deliveries dispatched)",
		base, low, high, capacity, capacity+9*capacity/2, audience)
	// used_memory is the whole server's, and other tests (other packages too) use the same
	// server meanwhile, so allow a few MB of their noise: the audience left in Postgres
	// would be some 45 MB here.
	require.Less(t, high-low, int64(4<<20), "memory stays flat while the audience drains")
	require.Less(t, high-base, int64(8<<20), "Redis holds the horizon, not the audience")
	require.Equal(t, audience-capacity-9*capacity/2,
		b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND enqueued_at IS NULL AND status = 'queued'`, campaignID))
}

// TestDispatchGivesBackWhatRedisRefused: when Redis refuses the sends' tasks, the
// deliveries are handed back (no enqueued_at), so that the next dispatch takes them again
// rather than the reconciler a minute later.
func TestDispatchGivesBackWhatRedisRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	campaignID := b.dueCampaign(t, 50, 600)

	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer down.Close()
	h := New(Deps{Redis: down, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()
	n, err := h.Dispatcher().Dispatch(ctx, campaignID)
	require.Error(t, err)
	require.Zero(t, n)
	require.Equal(t, 50, b.count(`SELECT count(*) FROM deliveries WHERE enqueued_at IS NULL AND status = 'queued'`))

	// Redis is back: all 50 go.
	h2 := New(Deps{Redis: b.rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h2.Close()
	n, err = h2.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Equal(t, 50, n)
	require.Zero(t, b.count(`SELECT count(*) FROM deliveries WHERE enqueued_at IS NULL`))
}

// TestDispatchCapsInFlight: accounts without a practical rate limit do not get the whole
// audience queued: MaxInFlight caps what a campaign has in Asynq, and the dispatcher tops
// it up as sends settle.
func TestDispatchCapsInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{MaxInFlight: 10})
	ctx := context.Background()
	campaignID := b.dueCampaign(t, 30, 10_000_000)
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()

	n, err := h.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Equal(t, 10, n, "ten million a minute, but ten in flight at most")
	n, err = h.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Zero(t, n)

	// Four settle (one sending, still in flight): four more go.
	_, err = b.pool.Exec(ctx, `
		UPDATE deliveries SET status = CASE WHEN id = (SELECT min(id) FROM deliveries) THEN 'sending' ELSE 'sent' END
		WHERE id IN (SELECT id FROM deliveries WHERE enqueued_at IS NOT NULL ORDER BY id LIMIT 5)`)
	require.NoError(t, err)
	n, err = h.Dispatcher().Dispatch(ctx, campaignID)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Equal(t, 14, b.count(`SELECT count(*) FROM deliveries WHERE enqueued_at IS NOT NULL`))
}
