package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
)

// TestSendStepsForManyDeliveries: the set-based steps decide per delivery as the
// one-delivery forms do, in one statement, with one result per input in order; the claim
// records the attempt and re-checks consent in the same statement.
func TestSendStepsForManyDeliveries(t *testing.T) {
	b := setup(t)
	s := delivery.New(b.pool, delivery.Options{})
	ctx := context.Background()
	granted := []int64{b.eligible(t, "+6591000001", ""), b.eligible(t, "+6591000011", ""), b.eligible(t, "+6591000021", ""), b.eligible(t, "+6591000031", "")}
	withdrawn := b.eligible(t, "+6591000002", "")
	_, err := b.consent.Record(ctx, consent.Change{ContactID: withdrawn, Status: consent.Withdrawn, Source: consent.SourceAgent, Actor: "t"})
	require.NoError(t, err)
	_, ids := sendFixture(t, b.pool, 6)
	held, skipped, fresh, optedOut, gone, pinned := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET contact_id = contact_id + 1000`) // out of the way of the real ones
	require.NoError(t, err)
	for i, id := range []int64{held, skipped, fresh, pinned} {
		_, err = b.pool.Exec(ctx, `UPDATE deliveries SET contact_id = $2 WHERE id = $1`, id, granted[i])
		require.NoError(t, err)
	}
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET contact_id = $2 WHERE id = $1`, optedOut, withdrawn)
	require.NoError(t, err)
	// Erasure cancels a contact's pending deliveries; one claimed a moment before that reads none.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET contact_id = NULL WHERE id = $1`, gone)
	require.NoError(t, err)
	// pinned was attempted through account 9 and given back: its retry keeps that account.
	_, err = b.pool.Exec(ctx, `UPDATE deliveries SET account_id = 9, locale = 'fr', variant = 2, message_id = 'm-pinned' WHERE id = $1`, pinned)
	require.NoError(t, err)
	_, err = s.Claim(ctx, held, time.Now())
	require.NoError(t, err)
	require.NoError(t, s.Settle(ctx, skipped, delivery.Skipped(delivery.SkipWithdrawn)))

	ds, err := s.Deliveries(ctx, []int64{held, skipped, 1 << 40})
	require.NoError(t, err)
	require.Len(t, ds, 2, "an unknown id is missing")
	require.Equal(t, delivery.StatusSending, ds[held].Status)
	require.Equal(t, delivery.StatusSkipped, ds[skipped].Status)

	attempt := func(id int64, account int64) delivery.ClaimRequest {
		return delivery.ClaimRequest{ID: id, Attempt: delivery.Attempt{AccountID: account, Locale: "en", Variant: 1, MessageID: "m-" + itoa(id)}}
	}
	// fresh is asked for twice: claimed once.
	res, err := s.ClaimMany(ctx, []delivery.ClaimRequest{attempt(held, 1), attempt(skipped, 1), attempt(fresh, 1),
		attempt(1<<40, 1), attempt(fresh, 2), attempt(optedOut, 1), attempt(gone, 1), attempt(pinned, 1)},
		time.Now().Add(-time.Minute), consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Len(t, res, 8)
	require.ErrorIs(t, res[0].Err, delivery.ErrDeliveryBusy, "another worker holds it")
	require.ErrorIs(t, res[1].Err, delivery.ErrDeliveryFinal)
	require.NoError(t, res[2].Err)
	f := res[2].Delivery
	require.Equal(t, fresh, f.ID)
	require.Equal(t, delivery.StatusSending, f.Status)
	require.Equal(t, 1, f.Attempts)
	require.Equal(t, int64(1), *f.AccountID, "the attempt is recorded with the claim")
	require.Equal(t, "m-"+itoa(fresh), f.MessageID)
	require.Equal(t, 1, *f.Variant)
	require.Empty(t, res[2].Skip, "granted and not suppressed")
	require.ErrorIs(t, res[3].Err, delivery.ErrDeliveryFinal, "no such delivery")
	require.ErrorIs(t, res[4].Err, delivery.ErrDeliveryBusy, "the same delivery twice in one batch is claimed once")
	require.NoError(t, res[5].Err)
	require.Equal(t, delivery.SkipReason(consent.ExcludedSuppressed), res[5].Skip, "consent (the withdrawal suppressed the number) is read by the claim")
	require.NoError(t, res[6].Err)
	require.Equal(t, delivery.SkipContactErased, res[6].Skip)
	require.NoError(t, res[7].Err)
	p := res[7].Delivery
	require.Equal(t, int64(9), *p.AccountID, "an attempt pinned to an account is kept")
	require.Equal(t, "m-pinned", p.MessageID)
	require.Equal(t, "fr", p.Locale)
	require.Equal(t, 2, *p.Variant)

	sentAt := time.Now().Add(-time.Second).Truncate(time.Microsecond)
	errs, err := s.MarkSentMany(ctx, []int64{fresh, skipped, pinned},
		[]delivery.SentInfo{{ProviderID: "p-1", Rendered: "hi", SentAt: sentAt}, {}, {Rendered: "salut"}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], delivery.ErrDeliveryFinal)
	require.NoError(t, errs[2])

	ds, err = s.Deliveries(ctx, []int64{fresh, pinned})
	require.NoError(t, err)
	f, p = ds[fresh], ds[pinned]
	require.Equal(t, delivery.StatusSent, f.Status)
	require.Equal(t, "p-1", f.ProviderID)
	require.Equal(t, "hi", f.Rendered)
	require.True(t, f.SentAt.Equal(sentAt))
	require.Equal(t, delivery.StatusSent, p.Status)
	require.Equal(t, "", p.ProviderID)
	require.NotNil(t, p.SentAt, "a zero SentAt is now")
	var events int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE kind = 'sent' AND delivery_id = ANY ($1)`,
		[]int64{fresh, pinned, skipped}).Scan(&events))
	require.Equal(t, 2, events, "one sent event per delivery marked sent")
}
