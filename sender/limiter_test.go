package sender_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
)

// limiterClock is an injectable clock for the budget day and the warm-up day.
type limiterClock struct {
	mu sync.Mutex
	t  time.Time
}

func newLimiterClock(t time.Time) *limiterClock { return &limiterClock{t: t} }

func (c *limiterClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *limiterClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// limiterClients returns n separate clients on one private database, as n worker processes
// would have.
func limiterClients(t *testing.T, n int) []*redis.Client {
	t.Helper()
	opts := testredis.Options(t)
	clients := make([]*redis.Client, n)
	for i := range clients {
		o := *opts
		clients[i] = redis.NewClient(&o)
		t.Cleanup(func() { clients[i].Close() })
	}
	return clients
}

// limiterFastLimits has a rate so high that only the daily budget matters in a test.
func limiterFastLimits(dailyCap int) sender.AccountLimits {
	return sender.AccountLimits{RatePerMinute: 6_000_000, DailyCap: dailyCap}
}

// limiterTakeUntilRefused takes tokens (waiting out the rate) until the daily budget refuses, and
// returns the number granted and the refusal.
func limiterTakeUntilRefused(t *testing.T, lim *sender.Limiter, accountID int64, limits sender.AccountLimits) (int, sender.LimitDecision) {
	t.Helper()
	for n := 0; ; n++ {
		d, err := lim.Wait(t.Context(), accountID, limits, time.Second)
		require.NoError(t, err)
		if !d.Allowed {
			require.NotEqual(t, sender.LimitedByRate, d.Reason)
			return n, d
		}
		require.LessOrEqual(t, n, 100_000, "daily budget never refused")
	}
}

// TestLimiterRateAcrossClients hammers one account from 3 limiter clients (separate Redis
// connections, 5 goroutines each, unlimited work) and checks that the per-minute rate is
// never exceeded and at least 95 % of it is used.
//
// The test runs at 600/min, so the emission interval T is 100 ms and a full 60-second
// window cannot fit in a short test; it checks 1-second windows instead, which is stricter:
// with burst 1, grants are at least T apart on the Redis clock, so any half-open window of
// W holds at most W/T grants (10 per second here; 600 per 60 s at full scale). Each grant
// is recorded as the interval [call started, call returned], which contains its time on
// the Redis clock (same host, same wall clock). A grant counts towards a window only when
// its whole interval lies inside it, which makes the bound sound with no tolerance. The
// windows by return time alone are only reported: a late return can move a grant next to
// the following one, so they may show one grant more (or several on a starved machine).
func TestLimiterRateAcrossClients(t *testing.T) {
	t.Parallel()
	const (
		ratePerMinute = 600
		perClient     = 5
		hammer        = 5 * time.Second
		window        = time.Second
	)
	interval := time.Minute / ratePerMinute
	perWindow := int(window / interval)
	limits := sender.AccountLimits{RatePerMinute: ratePerMinute}

	type grant struct{ from, to time.Time }
	var (
		mu       sync.Mutex
		grants   []grant
		firstErr error
		wg       sync.WaitGroup
	)
	clients := limiterClients(t, 4)
	start := time.Now()
	stopAt := start.Add(hammer)

	// The probe paces itself like an ideal client of the limiter, with no limiter: every
	// T it wakes up and asks Redis (PING). The share of time it loses to waking up late and
	// to slow answers is what this machine costs any client at this pace; with a burst of
	// 1 the limiter loses the same and cannot make it up. See the utilisation check below.
	var probeLoss float64
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		var late time.Duration
		began := time.Now()
		for time.Now().Before(stopAt) {
			napped := time.Now()
			time.Sleep(interval)
			if clients[3].Ping(t.Context()).Err() != nil {
				return
			}
			late += time.Since(napped) - interval
		}
		probeLoss = float64(late) / float64(time.Since(began))
	}()

	for _, rdb := range clients[:3] {
		lim := sender.NewLimiter(rdb, sender.LimiterOptions{})
		for range perClient {
			wg.Go(func() {
				for time.Now().Before(stopAt) {
					from := time.Now()
					d, err := lim.Wait(t.Context(), 7, limits, 500*time.Millisecond)
					to := time.Now()
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if d.Allowed {
						grants = append(grants, grant{from, to})
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
	<-probed
	require.NoError(t, firstErr)
	require.NotEmpty(t, grants)
	slices.SortFunc(grants, func(a, b grant) int { return a.to.Compare(b.to) })

	// Sound bound: grants lying wholly inside [from_i, from_i+window).
	maxInside := 0
	for _, g := range grants {
		n := 0
		for _, h := range grants {
			if !h.from.Before(g.from) && h.to.Before(g.from.Add(window)) {
				n++
			}
		}
		maxInside = max(maxInside, n)
	}
	// Observed: grants returned within [to_i, to_i+window).
	maxObserved := 0
	for i, g := range grants {
		j := i
		for j < len(grants) && grants[j].to.Before(g.to.Add(window)) {
			j++
		}
		maxObserved = max(maxObserved, j-i)
	}
	last := grants[len(grants)-1].to
	span := last.Sub(start)
	available := 1 + float64(span)/float64(interval)
	utilisation := float64(len(grants)) / available
	t.Logf("%d grants in %v (available %.1f): utilisation %.1f%%; max per %v window: %d sound, %d by return time (limit %d); machine lost %.1f%% of the probe's time",
		len(grants), span.Round(time.Millisecond), available, 100*utilisation, window, maxInside, maxObserved, perWindow, 100*probeLoss)

	require.LessOrEqual(t, maxInside, perWindow, "rate exceeded in a %v window", window)
	// Over the whole run: n grants at least T apart span at least (n-1)·T.
	require.LessOrEqual(t, float64(len(grants)), 1+float64(last.Sub(grants[0].from))/float64(interval))

	// Utilisation is judged only on a machine that lets this test run: if the probe lost
	// more than 2.5 % of its time (half the allowed shortfall), a shortfall is the
	// machine's (other test binaries, compilers), not the limiter's. A shortfall on a
	// responsive machine fails.
	if utilisation < 0.95 && probeLoss > 0.025 {
		t.Skipf("utilisation %.1f%% not judged: the machine is too busy (the probe lost %.1f%% of its time)", 100*utilisation, 100*probeLoss)
	}
	require.GreaterOrEqual(t, utilisation, 0.95, "less than 95%% of the rate used")
}

// TestLimiterRateHasNoBurst checks the burst of 1: an idle account gets one token, and the
// next one only an emission interval later.
func TestLimiterRateHasNoBurst(t *testing.T) {
	t.Parallel()
	lim := sender.NewLimiter(testredis.New(t), sender.LimiterOptions{})
	limits := sender.AccountLimits{RatePerMinute: 60}

	d, err := lim.Take(t.Context(), 1, limits)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.Zero(t, d.RetryAfter)

	d, err = lim.Take(t.Context(), 1, limits)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, sender.LimitedByRate, d.Reason)
	require.Greater(t, d.RetryAfter, 900*time.Millisecond)
	require.LessOrEqual(t, d.RetryAfter, time.Second)

	// Another account is not affected.
	d, err = lim.Take(t.Context(), 2, limits)
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

// TestLimiterDailyCapConcurrent races 30 takers on 3 clients for a cap of 50: exactly 50
// tokens are granted, each with its own count.
func TestLimiterDailyCapConcurrent(t *testing.T) {
	t.Parallel()
	const dailyCap = 50
	limits := limiterFastLimits(dailyCap)
	clock := newLimiterClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))

	var (
		mu       sync.Mutex
		used     []int
		firstErr error
		refusals atomic.Int64
		wg       sync.WaitGroup
	)
	clients := limiterClients(t, 3)
	for _, rdb := range clients {
		lim := sender.NewLimiter(rdb, sender.LimiterOptions{Now: clock.Now})
		for range 10 {
			wg.Go(func() {
				for {
					d, err := lim.Wait(t.Context(), 9, limits, time.Second)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if d.Allowed {
						used = append(used, d.Used)
					}
					runaway := len(used) > 2*dailyCap
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
	wg.Wait()
	require.NoError(t, firstErr)
	require.EqualValues(t, 30, refusals.Load(), "every taker ends on the daily cap")
	slices.Sort(used)
	want := make([]int, dailyCap)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, used)

	u, err := sender.NewLimiter(clients[0], sender.LimiterOptions{Now: clock.Now}).Usage(t.Context(), 9, limits)
	require.NoError(t, err)
	require.Equal(t, sender.LimitUsage{
		Day: "2026-03-01", Used: dailyCap, DailyLimit: dailyCap, Remaining: 0,
		ResetsAt: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
	}, u)
}

func TestLimiterWarmupBudget(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC)
	plus7 := time.FixedZone("+07", 7*3600)
	day := func(n int) time.Time { return start.AddDate(0, 0, n-1) }
	ramp := sender.WarmupRamp{Start: start}

	tests := []struct {
		name       string
		limits     sender.AccountLimits
		now        time.Time
		wantLimit  int
		wantWarmup bool
	}{
		{"day 1", sender.AccountLimits{DailyCap: 1000, Warmup: ramp}, day(1), 20, true},
		{"day 1 before start", sender.AccountLimits{DailyCap: 1000, Warmup: ramp}, start.Add(-14 * time.Hour), 20, true},
		{"day 1 last second", sender.AccountLimits{DailyCap: 1000, Warmup: ramp}, time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC), 20, true},
		{"day 2 first second", sender.AccountLimits{DailyCap: 1000, Warmup: ramp}, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), 40, true},
		{"day 3", sender.AccountLimits{DailyCap: 1000, Warmup: ramp}, day(3), 80, true},
		{"day 4 reaches the cap", sender.AccountLimits{DailyCap: 100, Warmup: ramp}, day(4), 100, false},
		{"day 40 stays at the cap", sender.AccountLimits{DailyCap: 100, Warmup: ramp}, day(40), 100, false},
		{"cap below day 1", sender.AccountLimits{DailyCap: 10, Warmup: ramp}, day(1), 10, false},
		{"no cap keeps ramping", sender.AccountLimits{Warmup: ramp}, day(6), 640, true},
		{"start in the future", sender.AccountLimits{DailyCap: 1000, Warmup: ramp}, day(-3), 20, true},
		{"own start and factor", sender.AccountLimits{DailyCap: 1000, Warmup: sender.WarmupRamp{Start: start, FirstDay: 10, Factor: 1.5}}, day(3), 22, true},
		{"factor 1 is flat", sender.AccountLimits{DailyCap: 1000, Warmup: sender.WarmupRamp{Start: start, FirstDay: 50, Factor: 1}}, day(30), 50, true},
		// 15:00 UTC on 1 March is 22:00 on 1 March at +07; 17:00 UTC is already 2 March there.
		{"zone day 1", sender.AccountLimits{DailyCap: 1000, Warmup: ramp, DayZone: plus7}, time.Date(2026, 3, 1, 16, 59, 59, 0, time.UTC), 20, true},
		{"zone day 2", sender.AccountLimits{DailyCap: 1000, Warmup: ramp, DayZone: plus7}, time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC), 40, true},
		{"no warm-up", sender.AccountLimits{DailyCap: 1000}, day(1), 1000, false},
		{"nothing", sender.AccountLimits{}, day(1), -1, false},
	}
	rdb := testredis.New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.limits.RatePerMinute = 60
			lim := sender.NewLimiter(rdb, sender.LimiterOptions{Now: func() time.Time { return tt.now }})
			u, err := lim.Usage(t.Context(), 1, tt.limits)
			require.NoError(t, err)
			require.Equal(t, tt.wantLimit, u.DailyLimit)
			require.Equal(t, tt.wantWarmup, u.Warmup)
			if tt.wantLimit < 0 {
				require.Equal(t, -1, u.Remaining)
			} else {
				require.Equal(t, tt.wantLimit, u.Remaining)
			}
		})
	}
}

func TestLimiterWarmupTake(t *testing.T) {
	t.Parallel()
	clock := newLimiterClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	lim := sender.NewLimiter(testredis.New(t), sender.LimiterOptions{Now: clock.Now})
	limits := limiterFastLimits(100)
	limits.Warmup = sender.WarmupRamp{Start: clock.Now()}

	for _, want := range []struct {
		granted int
		reason  sender.LimitReason
	}{{20, sender.LimitedByWarmup}, {40, sender.LimitedByWarmup}, {80, sender.LimitedByWarmup}, {100, sender.LimitedByDailyCap}, {100, sender.LimitedByDailyCap}} {
		n, d := limiterTakeUntilRefused(t, lim, 3, limits)
		require.Equal(t, want.granted, n, "day %s", d.Day)
		require.Equal(t, want.reason, d.Reason)
		require.Equal(t, want.granted, d.DailyLimit)
		require.Equal(t, 15*time.Hour, d.RetryAfter, "refused until midnight")
		clock.Advance(24 * time.Hour)
	}
}

func TestLimiterDayRollover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		zone         *time.Location
		lastSecond   time.Time
		today, next  string
		dayEndsAfter time.Duration
	}{
		{"UTC", nil, time.Date(2026, 3, 1, 23, 59, 59, 500_000_000, time.UTC), "2026-03-01", "2026-03-02", 500 * time.Millisecond},
		{"+07", time.FixedZone("+07", 7*3600), time.Date(2026, 2, 28, 16, 59, 59, 0, time.UTC), "2026-02-28", "2026-03-01", time.Second},
	}
	rdb := testredis.New(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accountID := int64(100 + i)
			clock := newLimiterClock(tt.lastSecond)
			lim := sender.NewLimiter(rdb, sender.LimiterOptions{Now: clock.Now})
			limits := limiterFastLimits(3)
			limits.DayZone = tt.zone

			n, d := limiterTakeUntilRefused(t, lim, accountID, limits)
			require.Equal(t, 3, n)
			require.Equal(t, sender.LimitedByDailyCap, d.Reason)
			require.Equal(t, tt.today, d.Day)
			require.Equal(t, tt.dayEndsAfter, d.RetryAfter)

			clock.Advance(d.RetryAfter)
			d, err := lim.Take(t.Context(), accountID, limits)
			require.NoError(t, err)
			require.True(t, d.Allowed)
			require.Equal(t, tt.next, d.Day)
			require.Equal(t, 1, d.Used)

			// The day counters are namespaced and expire a day after their day.
			keys, err := rdb.Keys(t.Context(), "*").Result()
			require.NoError(t, err)
			for _, k := range keys {
				require.Regexp(t, `^(rate:)?crier:limit:\{\d+\}:`, k)
				// PTTL is -1 for a key without expiry (-2 if it expired meanwhile).
				pttl, err := rdb.Do(t.Context(), "PTTL", k).Int()
				require.NoError(t, err)
				require.NotEqual(t, -1, pttl, "key %s has no expiry", k)
			}
		})
	}
}

func TestLimiterRefund(t *testing.T) {
	t.Parallel()
	clock := newLimiterClock(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC))
	lim := sender.NewLimiter(testredis.New(t), sender.LimiterOptions{Now: clock.Now})
	limits := limiterFastLimits(2)
	usage := func() int {
		u, err := lim.Usage(t.Context(), 5, limits)
		require.NoError(t, err)
		return u.Used
	}

	first, err := lim.Wait(t.Context(), 5, limits, time.Second)
	require.NoError(t, err)
	second, err := lim.Wait(t.Context(), 5, limits, time.Second)
	require.NoError(t, err)
	refused, err := lim.Wait(t.Context(), 5, limits, time.Second)
	require.NoError(t, err)
	require.True(t, first.Allowed)
	require.True(t, second.Allowed)
	require.False(t, refused.Allowed)

	require.NoError(t, lim.Refund(t.Context(), refused), "refunding a refusal does nothing")
	require.Equal(t, 2, usage())
	require.NoError(t, lim.Refund(t.Context(), second))
	require.Equal(t, 1, usage())
	again, err := lim.Wait(t.Context(), 5, limits, time.Second)
	require.NoError(t, err)
	require.True(t, again.Allowed, "a refunded token can be taken again")

	// A refund after midnight goes to the day the token was taken on.
	clock.Advance(2 * time.Hour)
	tomorrow, err := lim.Wait(t.Context(), 5, limits, time.Second)
	require.NoError(t, err)
	require.True(t, tomorrow.Allowed)
	require.NoError(t, lim.Refund(t.Context(), first))
	require.Equal(t, 1, usage(), "today's count is untouched")
	clock.Advance(-2 * time.Hour)
	require.Equal(t, 1, usage(), "yesterday's count went down")

	// Refunds never push a counter below zero.
	for range 3 {
		require.NoError(t, lim.Refund(t.Context(), again))
	}
	require.Equal(t, 0, usage())
}

func TestLimiterWaitGivesUp(t *testing.T) {
	t.Parallel()
	lim := sender.NewLimiter(testredis.New(t), sender.LimiterOptions{})

	t.Run("wait longer than allowed", func(t *testing.T) {
		limits := sender.AccountLimits{RatePerMinute: 1}
		d, err := lim.Take(t.Context(), 1, limits)
		require.NoError(t, err)
		require.True(t, d.Allowed)

		began := time.Now()
		d, err = lim.Wait(t.Context(), 1, limits, 200*time.Millisecond)
		require.NoError(t, err)
		require.Less(t, time.Since(began), 100*time.Millisecond, "Wait must not sleep when the wait is too long")
		require.False(t, d.Allowed)
		require.Equal(t, sender.LimitedByRate, d.Reason)
		require.Greater(t, d.RetryAfter, 59*time.Second)
	})

	t.Run("daily cap", func(t *testing.T) {
		limits := limiterFastLimits(1)
		d, err := lim.Wait(t.Context(), 2, limits, time.Minute)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		began := time.Now()
		d, err = lim.Wait(t.Context(), 2, limits, time.Minute)
		require.NoError(t, err)
		require.Less(t, time.Since(began), 100*time.Millisecond)
		require.Equal(t, sender.LimitedByDailyCap, d.Reason)
	})

	t.Run("context ends", func(t *testing.T) {
		limits := sender.AccountLimits{RatePerMinute: 60}
		d, err := lim.Take(t.Context(), 3, limits)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		d, err = lim.Wait(ctx, 3, limits, 5*time.Second)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.False(t, d.Allowed)
	})
}

func TestLimiterInvalidLimits(t *testing.T) {
	t.Parallel()
	lim := sender.NewLimiter(testredis.New(t), sender.LimiterOptions{})
	for name, limits := range map[string]sender.AccountLimits{
		"no rate":          {},
		"negative rate":    {RatePerMinute: -1},
		"negative cap":     {RatePerMinute: 60, DailyCap: -5},
		"negative ramp":    {RatePerMinute: 60, Warmup: sender.WarmupRamp{Start: time.Now(), FirstDay: -1}},
		"shrinking factor": {RatePerMinute: 60, Warmup: sender.WarmupRamp{Start: time.Now(), Factor: 0.5}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := lim.Take(t.Context(), 1, limits)
			require.ErrorIs(t, err, sender.ErrInvalidLimits)
			_, err = lim.Usage(t.Context(), 1, limits)
			require.ErrorIs(t, err, sender.ErrInvalidLimits)
		})
	}
}

// limiterSent is a SentSinceFunc that reports n sends and records the day start asked for.
func limiterSent(n int, asked *time.Time) sender.SentSinceFunc {
	return func(_ context.Context, _ int64, since time.Time) (int, error) {
		*asked = since
		return n, nil
	}
}

// TestLimiterSeedDay: a seed sets a missing counter, raises a lower one and leaves a higher
// one alone, counting from midnight in the account's day zone.
func TestLimiterSeedDay(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("+07", 7*3600)
	clock := newLimiterClock(time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)) // 03:00 on 2 March at +07
	lim := sender.NewLimiter(testredis.New(t), sender.LimiterOptions{Now: clock.Now})
	limits := limiterFastLimits(10)
	limits.DayZone = zone
	used := func(id int64) int {
		u, err := lim.Usage(t.Context(), id, limits)
		require.NoError(t, err)
		return u.Used
	}

	var since time.Time
	got, err := lim.SeedDay(t.Context(), 1, limits, limiterSent(4, &since))
	require.NoError(t, err)
	require.Equal(t, 4, got)
	require.Equal(t, 4, used(1), "a missing counter is set")
	require.True(t, since.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, zone)), "counted since %v", since)

	got, err = lim.SeedDay(t.Context(), 1, limits, limiterSent(2, &since))
	require.NoError(t, err)
	require.Equal(t, 4, got)
	require.Equal(t, 4, used(1), "a higher counter is left alone")

	for range 3 {
		d, err := lim.Wait(t.Context(), 2, limits, time.Second)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	_, err = lim.SeedDay(t.Context(), 2, limits, limiterSent(3, &since))
	require.NoError(t, err)
	require.Equal(t, 3, used(2), "an equal counter is left alone")
	_, err = lim.SeedDay(t.Context(), 2, limits, limiterSent(7, &since))
	require.NoError(t, err)
	require.Equal(t, 7, used(2), "a lower counter is raised")

	// Then the counter behaves like one Take built: the cap counts the seed.
	n, d := limiterTakeUntilRefused(t, lim, 2, limits)
	require.Equal(t, 3, n)
	require.Equal(t, sender.LimitedByDailyCap, d.Reason)
}

// TestLimiterSeedDayAfterFlush: Redis loses the counters; meanwhile a process that still
// believes it holds the account takes a token and refunds it (its lease check fails),
// which recreates the counter at zero. The seed must still restore the day's count, so the
// account sends only what is left of its cap: 5, of which 3 went out before the flush.
func TestLimiterSeedDayAfterFlush(t *testing.T) {
	t.Parallel()
	rdb := testredis.New(t)
	clock := newLimiterClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	lim := sender.NewLimiter(rdb, sender.LimiterOptions{Now: clock.Now})
	limits := limiterFastLimits(5)
	for range 3 {
		d, err := lim.Wait(t.Context(), 9, limits, time.Second)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}

	require.NoError(t, rdb.FlushDB(t.Context()).Err())
	stale, err := lim.Wait(t.Context(), 9, limits, time.Second)
	require.NoError(t, err)
	require.True(t, stale.Allowed, "without a seed the lost count starts again at zero")
	require.NoError(t, lim.Refund(t.Context(), stale))

	var since time.Time
	_, err = lim.SeedDay(t.Context(), 9, limits, limiterSent(3, &since))
	require.NoError(t, err)
	require.True(t, since.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	n, d := limiterTakeUntilRefused(t, lim, 9, limits)
	require.Equal(t, 2, n, "only the rest of the cap")
	require.Equal(t, sender.LimitedByDailyCap, d.Reason)
	require.Equal(t, 5, d.Used)
}

// TestLimiterSeedDayAcrossMidnight: when midnight passes while the sends are counted, the
// seed counts the new day and seeds its counter, not yesterday's.
func TestLimiterSeedDayAcrossMidnight(t *testing.T) {
	t.Parallel()
	clock := newLimiterClock(time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC))
	lim := sender.NewLimiter(testredis.New(t), sender.LimiterOptions{Now: clock.Now})
	limits := limiterFastLimits(10)
	var asked []time.Time
	_, err := lim.SeedDay(t.Context(), 3, limits, func(_ context.Context, _ int64, since time.Time) (int, error) {
		asked = append(asked, since)
		if len(asked) == 1 {
			clock.Advance(2 * time.Second)
			return 8, nil // yesterday's sends
		}
		return 1, nil
	})
	require.NoError(t, err)
	require.Equal(t, []time.Time{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}, asked)
	u, err := lim.Usage(t.Context(), 3, limits)
	require.NoError(t, err)
	require.Equal(t, "2026-03-02", u.Day)
	require.Equal(t, 1, u.Used)
}

// TestLimiterTakesAfterScriptFlush: the daily counters are taken in pipelines of
// EVALSHA; a Redis that lost its scripts (restarted, flushed) still gets every take right.
func TestLimiterTakesAfterScriptFlush(t *testing.T) { // not parallel: SCRIPT FLUSH is server-wide
	rdb := testredis.New(t)
	lim := sender.NewLimiter(rdb, sender.LimiterOptions{})
	limits := sender.AccountLimits{RatePerMinute: 6_000_000, DailyCap: 3}
	for want := 1; want <= 3; want++ {
		require.NoError(t, rdb.ScriptFlush(t.Context()).Err())
		d, err := lim.Take(t.Context(), 11, limits)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.Equal(t, want, d.Used)
	}
	d, err := lim.Take(t.Context(), 11, limits)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, sender.LimitedByDailyCap, d.Reason)
}

// TestLimiterCampaignCapHasAKeyOfItsOwn: a campaign's cap is a rate under a key of its own,
// with no daily count, whatever the ids of the accounts; Refund of its token does nothing.
func TestLimiterCampaignCapHasAKeyOfItsOwn(t *testing.T) {
	t.Parallel()
	rdb := testredis.New(t)
	lim := sender.NewLimiter(rdb, sender.LimiterOptions{})
	ctx := context.Background()

	d, err := lim.WaitCampaign(ctx, 7, 60, 0)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.Zero(t, d.AccountID)
	require.Empty(t, d.Day)
	require.NoError(t, lim.Refund(ctx, d), "nothing to give back")
	refused, err := lim.WaitCampaign(ctx, 7, 60, 0)
	require.NoError(t, err)
	require.False(t, refused.Allowed)
	require.Equal(t, sender.LimitedByRate, refused.Reason)
	require.Positive(t, refused.RetryAfter)

	account, err := lim.Take(ctx, 7, sender.AccountLimits{RatePerMinute: 60})
	require.NoError(t, err)
	require.True(t, account.Allowed, "account 7 is not campaign 7")

	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	slices.Sort(keys)
	require.Equal(t, []string{"crier:limit:{7}:day:" + account.Day, "rate:crier:limit:campaign:{7}:gcra", "rate:crier:limit:{7}:gcra"}, keys)
}
