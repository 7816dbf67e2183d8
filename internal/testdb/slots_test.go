package testdb

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTakeSlotHoldsOneOfN(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	class := rand.Int32N(1<<30) + 1<<30 // not slotLockClass: the suite holds those
	first, err := takeSlot(ctx, adminURL(), class, 2, 0)
	require.NoError(t, err)
	second, err := takeSlot(ctx, adminURL(), class, 2, 0)
	require.NoError(t, err)
	_, err = takeSlot(ctx, adminURL(), class, 2, 0)
	require.ErrorContains(t, err, "no free slot of 2")

	require.NoError(t, first.Close(ctx)) // its session ends, and its lock with it (soon after)
	third, err := takeSlot(ctx, adminURL(), class, 2, time.Minute)
	require.NoError(t, err)
	third.Close(ctx)
	second.Close(ctx)
}

func TestSubtestsShareTheirTestsLease(t *testing.T) {
	t.Parallel()
	New(t)
	top := leaseOf(t)
	require.NotNil(t, top)
	t.Run("sub", func(t *testing.T) {
		New(t)
		require.Same(t, top, leaseOf(t))
	})
}

func leaseOf(t *testing.T) *lease {
	leases.Lock()
	defer leases.Unlock()
	top, _, _ := strings.Cut(t.Name(), "/")
	return leases.byTest[top]
}
