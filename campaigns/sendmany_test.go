package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/internal/testdb"
)

// TestSendStepsForManyDeliveries: the set-based steps decide per delivery exactly as the
// one-delivery forms do, in one statement, with one result per input in order.
func TestSendStepsForManyDeliveries(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := campaigns.NewSends(pool, campaigns.SendsOptions{})
	ctx := context.Background()
	_, ids := sendFixture(t, pool, 4)
	held, skipped, fresh, other := ids[0], ids[1], ids[2], ids[3]
	_, err := s.Claim(ctx, held, time.Now())
	require.NoError(t, err)
	require.NoError(t, s.Skip(ctx, skipped, "withdrawn"))

	ds, err := s.Deliveries(ctx, []int64{held, skipped, 1 << 40})
	require.NoError(t, err)
	require.Len(t, ds, 2, "an unknown id is missing")
	require.Equal(t, campaigns.Sending, ds[held].Status)
	require.Equal(t, campaigns.Skipped, ds[skipped].Status)

	// fresh is asked for twice: claimed once.
	res, err := s.ClaimMany(ctx, []int64{held, skipped, fresh, 1 << 40, fresh, other}, time.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.Len(t, res, 6)
	require.ErrorIs(t, res[0].Err, campaigns.ErrDeliveryBusy, "another worker holds it")
	require.ErrorIs(t, res[1].Err, campaigns.ErrDeliveryFinal)
	require.NoError(t, res[2].Err)
	require.Equal(t, fresh, res[2].Delivery.ID)
	require.Equal(t, campaigns.Sending, res[2].Delivery.Status)
	require.Equal(t, 1, res[2].Delivery.Attempts)
	require.ErrorIs(t, res[3].Err, campaigns.ErrDeliveryFinal, "no such delivery")
	require.ErrorIs(t, res[4].Err, campaigns.ErrDeliveryBusy, "the same delivery twice in one batch is claimed once")
	require.NoError(t, res[5].Err)

	errs, err := s.RecordAttempts(ctx, []int64{fresh, skipped, other},
		[]campaigns.Attempt{{AccountID: 1, Locale: "en", Variant: 1, MessageID: "m-fresh"}, {AccountID: 1}, {AccountID: 2, Locale: "fr", MessageID: "m-other"}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], campaigns.ErrDeliveryFinal)
	require.NoError(t, errs[2])

	sentAt := time.Now().Add(-time.Second).Truncate(time.Microsecond)
	errs, err = s.MarkSentMany(ctx, []int64{fresh, skipped, other},
		[]campaigns.SentInfo{{ProviderID: "p-1", Rendered: "hi", SentAt: sentAt}, {}, {Rendered: "salut"}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], campaigns.ErrDeliveryFinal)
	require.NoError(t, errs[2])

	ds, err = s.Deliveries(ctx, []int64{fresh, other})
	require.NoError(t, err)
	f, o := ds[fresh], ds[other]
	require.Equal(t, campaigns.Sent, f.Status)
	require.Equal(t, "p-1", f.ProviderID)
	require.Equal(t, "hi", f.Rendered)
	require.True(t, f.SentAt.Equal(sentAt))
	require.Equal(t, "m-fresh", f.MessageID)
	require.Equal(t, 1, *f.Variant)
	require.Equal(t, int64(2), *o.AccountID)
	require.Equal(t, "fr", o.Locale)
	require.Equal(t, "", o.ProviderID)
	require.NotNil(t, o.SentAt, "a zero SentAt is now")
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE kind = 'sent' AND delivery_id = ANY ($1)`,
		[]int64{fresh, other, skipped}).Scan(&events))
	require.Equal(t, 2, events, "one sent event per delivery marked sent")
}
