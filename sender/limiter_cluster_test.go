package sender_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
)

// TestMain stops the Redis Cluster that the *cluster* tests of this package start.
func TestMain(m *testing.M) {
	code := m.Run()
	testredis.StopCluster()
	os.Exit(code)
}

// clusterAccounts are nine accounts whose limiter and lease keys, by their hash tags, land
// on all three masters of the test cluster (TestLimiterClusterKeysSpreadOverNodes).
var clusterAccounts = []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}

// limiterClusterKeys are the keys the Limiter keeps for an account on a budget day, and
// for a campaign's cap, as documented in limiter.go (redis_rate adds "rate:").
func limiterClusterKeys(id int64, day string) []string {
	n := strconv.FormatInt(id, 10)
	return []string{"rate:crier:limit:{" + n + "}:gcra", "crier:limit:{" + n + "}:day:" + day, "rate:crier:limit:campaign:{" + n + "}:gcra"}
}

// TestLimiterClusterKeysSpreadOverNodes: the accounts' keys land on all three nodes (so the
// tests below exercise every node), each where its hash tag says.
func TestLimiterClusterKeysSpreadOverNodes(t *testing.T) {
	t.Parallel()
	c := testredis.ClusterClients(t, 1)[0]
	lim := sender.NewLimiter(c, sender.LimiterOptions{Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }})
	nodes := map[string]bool{}
	for _, id := range clusterAccounts {
		d, err := lim.Take(t.Context(), id, limiterFastLimits(10))
		require.NoError(t, err)
		require.True(t, d.Allowed)
		capped, err := lim.WaitCampaign(t.Context(), id, 60, time.Second)
		require.NoError(t, err)
		require.True(t, capped.Allowed)
		keys := limiterClusterKeys(id, d.Day)
		n, err := c.Exists(t.Context(), keys...).Result()
		require.NoError(t, err)
		require.EqualValues(t, len(keys), n, "account %d: the keys limiter.go documents", id)
		node := testredis.NodeOf(t, c, keys[0])
		for _, k := range keys[1:] {
			require.Equal(t, node, testredis.NodeOf(t, c, k), "an id's keys share its hash tag's node")
		}
		nodes[node] = true
	}
	require.Len(t, nodes, 3, "the accounts' keys spread over all three masters")
}

// TestLimiterClusterRate hammers the nine accounts at once from three clients for a second
// and a half: on every node, no account gets grants closer together than its emission
// interval (burst 1), and every account gets most of its rate.
func TestLimiterClusterRate(t *testing.T) {
	t.Parallel()
	const ratePerMinute = 1200 // 50 ms apart
	interval := time.Minute / ratePerMinute
	limits := sender.AccountLimits{RatePerMinute: ratePerMinute}
	clients := testredis.ClusterClients(t, 3)

	// A fresh account's first token comes at once, the second only an interval later.
	lim := sender.NewLimiter(clients[0], sender.LimiterOptions{})
	for _, id := range clusterAccounts {
		d, err := lim.Take(t.Context(), id, limits)
		require.NoError(t, err)
		require.True(t, d.Allowed, "account %d", id)
		d, err = lim.Take(t.Context(), id, limits)
		require.NoError(t, err)
		require.False(t, d.Allowed, "account %d", id)
		require.Equal(t, sender.LimitedByRate, d.Reason)
		require.Greater(t, d.RetryAfter, interval/2)
		require.LessOrEqual(t, d.RetryAfter, interval)
	}
	time.Sleep(interval) // let every account's next token come due

	var (
		mu       sync.Mutex
		grants   = map[int64]int{}
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	stopAt := start.Add(1500 * time.Millisecond)
	for _, rdb := range clients {
		lim := sender.NewLimiter(rdb, sender.LimiterOptions{})
		for _, id := range clusterAccounts {
			wg.Go(func() {
				for time.Now().Before(stopAt) {
					d, err := lim.Wait(t.Context(), id, limits, time.Second)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if d.Allowed {
						grants[id]++
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.NoError(t, firstErr)
	// Grants are at least an interval apart on the Redis clock and all fall between start
	// and the last return: at most elapsed/interval + 1 of them.
	most := int(elapsed/interval) + 1
	for _, id := range clusterAccounts {
		require.LessOrEqual(t, grants[id], most, "account %d over its rate", id)
		require.GreaterOrEqual(t, grants[id], most/3, "account %d starved", id)
	}
	t.Logf("grants per account in %v (at most %d): %v", elapsed.Round(time.Millisecond), most, grants)
}

// TestLimiterClusterDailyCaps: 45 goroutines over three clients take tokens for the nine
// accounts until their daily caps refuse; each account hands out exactly its cap, numbered
// 1..cap, and refunds give tokens back on the account's own node.
func TestLimiterClusterDailyCaps(t *testing.T) {
	t.Parallel()
	const dailyCap = 20
	limits := limiterFastLimits(dailyCap)
	clock := newLimiterClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	clients := testredis.ClusterClients(t, 3)

	var (
		mu       sync.Mutex
		used     = map[int64][]int{}
		firstErr error
		refusals atomic.Int64
		wg       sync.WaitGroup
	)
	for _, rdb := range clients {
		lim := sender.NewLimiter(rdb, sender.LimiterOptions{Now: clock.Now})
		for _, id := range clusterAccounts {
			for range 5 {
				wg.Go(func() {
					for {
						d, err := lim.Wait(t.Context(), id, limits, time.Second)
						mu.Lock()
						if err != nil && firstErr == nil {
							firstErr = err
						}
						if d.Allowed {
							used[id] = append(used[id], d.Used)
						}
						runaway := len(used[id]) > 2*dailyCap
						mu.Unlock()
						if err != nil || !d.Allowed || runaway {
							if err == nil && d.Reason == sender.LimitedByDailyCap {
								refusals.Add(1)
							}
							return
						}
					}
				})
			}
		}
	}
	wg.Wait()
	require.NoError(t, firstErr)
	require.EqualValues(t, 3*5*len(clusterAccounts), refusals.Load(), "every taker ends on the daily cap")
	want := make([]int, dailyCap)
	for i := range want {
		want[i] = i + 1
	}
	lim := sender.NewLimiter(clients[1], sender.LimiterOptions{Now: clock.Now})
	for _, id := range clusterAccounts {
		slices.Sort(used[id])
		require.Equal(t, want, used[id], "account %d", id)
		u, err := lim.Usage(t.Context(), id, limits)
		require.NoError(t, err)
		require.Equal(t, dailyCap, u.Used)
		require.Zero(t, u.Remaining)
	}

	// Refunds: one account per node gets two tokens back, and can take exactly two more.
	for _, id := range clusterAccounts[:3] {
		for range 2 {
			require.NoError(t, lim.Refund(t.Context(), sender.LimitDecision{AccountID: id, Allowed: true, Day: "2026-03-01"}))
		}
		u, err := lim.Usage(t.Context(), id, limits)
		require.NoError(t, err)
		require.Equal(t, dailyCap-2, u.Used, "account %d", id)
		n, refused := limiterTakeUntilRefused(t, lim, id, limits)
		require.Equal(t, 2, n, "account %d", id)
		require.Equal(t, sender.LimitedByDailyCap, refused.Reason)
	}

	// Seeding raises a lost counter on its node, and never lowers a live one.
	for _, id := range clusterAccounts {
		got, err := lim.SeedDay(t.Context(), id, limits, limiterSent(5, new(time.Time)))
		require.NoError(t, err)
		require.Equal(t, dailyCap, got, "account %d: a live counter is never lowered", id)
	}
	require.NoError(t, clients[0].ForEachMaster(t.Context(), func(ctx context.Context, n *redis.Client) error {
		return n.FlushAll(ctx).Err() // Redis loses every counter
	}))
	for _, id := range clusterAccounts {
		got, err := lim.SeedDay(t.Context(), id, limits, limiterSent(dailyCap-1, new(time.Time)))
		require.NoError(t, err)
		require.Equal(t, dailyCap-1, got)
		n, _ := limiterTakeUntilRefused(t, lim, id, limits)
		require.Equal(t, 1, n, "account %d: one token left after the seed", id)
	}
}

// TestLimiterClusterAfterScriptFlush: each node keeps its own script cache; a node that lost
// it (restart, failover, SCRIPT FLUSH) gets the scripts again from the pipelined Takes.
func TestLimiterClusterAfterScriptFlush(t *testing.T) {
	t.Parallel()
	c := testredis.ClusterClients(t, 1)[0]
	lim := sender.NewLimiter(c, sender.LimiterOptions{})
	limits := limiterFastLimits(100)
	take := func() {
		var wg sync.WaitGroup
		for _, id := range clusterAccounts {
			wg.Go(func() {
				d, err := lim.Wait(t.Context(), id, limits, time.Second)
				assert.NoError(t, err)
				assert.True(t, d.Allowed, "account %d", id)
			})
		}
		wg.Wait()
	}
	take()
	require.NoError(t, c.ForEachMaster(t.Context(), func(ctx context.Context, n *redis.Client) error {
		return n.ScriptFlush(ctx).Err()
	}))
	take()
	for _, id := range clusterAccounts {
		u, err := lim.Usage(t.Context(), id, limits)
		require.NoError(t, err)
		require.Equal(t, 2, u.Used, "account %d", id)
	}
}
