package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/testdb"
)

// TestExpireOverdueTakesEveryQueuedDelivery: the reconciler's expiry reads the queued
// deliveries through two partial indexes (migration 00024), so each kind of queued
// delivery past its TTL must be expired, with or without a task, in any campaign, and
// nothing else.
func TestExpireOverdueTakesEveryQueuedDelivery(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	s := delivery.New(pool, delivery.Options{})
	_, first := sendFixture(t, pool, 4)
	_, second := sendFixture(t, pool, 2)
	past, cutoff := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	set := func(id int64, status string, due time.Time, enqueued bool) {
		t.Helper()
		_, err := pool.Exec(ctx, `UPDATE deliveries SET status = $2, due_at = $3,
			enqueued_at = CASE WHEN $4 THEN now() END WHERE id = $1`, id, status, due, enqueued)
		require.NoError(t, err)
	}
	set(first[0], "queued", past, false)      // no task yet: expired
	set(first[1], "queued", past, true)       // handed to Asynq: expired
	set(first[2], "queued", time.Now(), true) // within its TTL: kept
	set(first[3], "sending", past, true)      // being sent: kept
	set(second[0], "queued", past, false)     // another campaign's: expired
	set(second[1], "skipped", past, false)    // final: kept

	n, err := s.ExpireOverdue(ctx, cutoff)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	got, err := s.Deliveries(ctx, append(append([]int64{}, first...), second...))
	require.NoError(t, err)
	want := map[int64]delivery.Status{first[0]: delivery.StatusExpired, first[1]: delivery.StatusExpired,
		first[2]: delivery.StatusQueued, first[3]: delivery.StatusSending,
		second[0]: delivery.StatusExpired, second[1]: delivery.StatusSkipped}
	for id, st := range want {
		require.Equal(t, st, got[id].Status, "delivery %d", id)
	}
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE kind = 'expired'`).Scan(&events))
	require.Equal(t, 3, events, "an event per expired delivery")
}
