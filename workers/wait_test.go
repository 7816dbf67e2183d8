package workers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender"
)

// TestFewSendsWaitPerAccount: of many sends refused by an account's rate at once, only
// waitersPerKey wait for its next tokens; the others are told at once (without queueing)
// and go to another account or back to Asynq. A crowd asking Redis for each token would
// take them late, and with a burst of 1 a late token is lost.
func TestFewSendsWaitPerAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{MaxTokenWait: 3 * time.Second})
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Limiter: b.limiter, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()
	ctx := context.Background()
	limits := sender.AccountLimits{RatePerMinute: 60} // a token a second
	first, err := b.limiter.Take(ctx, 42, limits)
	require.NoError(t, err)
	require.True(t, first.Allowed)

	const sends = 10
	var wg sync.WaitGroup
	decisions := make([]sender.LimitDecision, sends)
	took := make([]time.Duration, sends)
	start := time.Now()
	for i := range sends {
		wg.Go(func() {
			d, err := h.waitAlone(ctx, 42, limits, false)
			assert.NoError(t, err)
			decisions[i], took[i] = d, time.Since(start)
		})
	}
	wg.Wait()
	var waited, turnedAway int
	for i, d := range decisions {
		switch {
		case d.Allowed:
			waited++
			require.Greater(t, took[i], 500*time.Millisecond, "a token a second: it waited for one")
		case d.Reason == "":
			turnedAway++
			require.Less(t, took[i], 500*time.Millisecond, "turned away at once")
		}
	}
	require.Equal(t, waitersPerKey, waited, "the waiters got the next tokens")
	require.Equal(t, sends-waitersPerKey, turnedAway)
}
