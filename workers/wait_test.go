package workers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWaitSlots: at most waitersPerKey sends of a process wait for one account's tokens. A
// crowd asking Redis at each token's due time would take them late (with a burst of 1 a
// late token is lost), and sends queued behind one account would leave the others' tokens
// untaken. So a send takes a free slot of the account with the soonest token, else of the
// next account, else whichever slot frees first.
func TestWaitSlots(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{MaxTokenWait: 300 * time.Millisecond})
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Limiter: b.limiter, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	defer h.Close()
	ctx := context.Background()
	const a, c = 41, 42

	var releases []func()
	for range waitersPerKey {
		key, release, ok, err := h.waitSlot(ctx, []int64{a, c})
		require.NoError(t, err)
		require.True(t, ok)
		require.EqualValues(t, a, key, "the soonest account's slots first")
		releases = append(releases, release)
	}
	key, releaseC, ok, err := h.waitSlot(ctx, []int64{a, c})
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, c, key, "a's slots are taken: the next account's")

	// Only a's: wait for one to free.
	go func() { time.Sleep(100 * time.Millisecond); releases[0]() }()
	began := time.Now()
	key, release, ok, err := h.waitSlot(ctx, []int64{a})
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, a, key)
	require.GreaterOrEqual(t, time.Since(began), 100*time.Millisecond, "it waited for the slot to free")

	// Every slot taken and none frees: it gives up after MaxTokenWait.
	began = time.Now()
	_, _, ok, err = h.waitSlot(ctx, []int64{a})
	require.NoError(t, err)
	require.False(t, ok)
	require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)

	// With every slot of both taken, the first to free wins, whichever account it is.
	for range waitersPerKey - 1 {
		_, r, ok, err := h.waitSlot(ctx, []int64{c})
		require.NoError(t, err)
		require.True(t, ok)
		defer r()
	}
	go func() { time.Sleep(50 * time.Millisecond); releaseC() }()
	key, _, ok, err = h.waitSlot(ctx, []int64{a, c})
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, c, key, "c's slot freed first")
	release()
	releases[1]()
}
