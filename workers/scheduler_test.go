package workers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/internal/testredis"
)

// TestOneSchedulerLeads: of two schedulers on one Redis only one leads; when it stops, the
// other takes over.
func TestOneSchedulerLeads(t *testing.T) {
	t.Parallel()
	rdb := testredis.New(t)
	h := New(Deps{Redis: rdb, Campaigns: noRuns{}}, Options{})
	defer h.Close()
	ctx := context.Background()
	a := NewScheduler(h, SchedulerOptions{Owner: "a", LockTTL: time.Second})
	b := NewScheduler(h, SchedulerOptions{Owner: "b", LockTTL: time.Second})

	okA := a.lead(ctx)
	okB := b.lead(ctx)
	require.True(t, okA)
	require.False(t, okB, "the lock is held")
	okA = a.lead(ctx)
	require.True(t, okA, "the leader renews")
	okB = b.lead(ctx)
	require.False(t, okB, "still not the other's")

	// The leader stops (Run releases the lock on the way out).
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- a.Run(runCtx) }()
	waitFor(t, 10*time.Second, "the leader to act", func() bool {
		_, err := h.queue.inspector.GetTaskInfo(QueueMaintenance, "reconcile")
		return err == nil
	})
	cancel()
	require.NoError(t, <-done)
	okB = b.lead(ctx)
	require.True(t, okB, "the other takes over at once")
}

type noRuns struct{ Campaigns }

func (noRuns) DueRuns(context.Context, time.Time) ([]campaigns.DueRun, error) { return nil, nil }
