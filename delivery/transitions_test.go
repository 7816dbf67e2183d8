package delivery_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/internal/testdb"
)

// TestTransitionsFollowTheTable makes every move of the transitions table against a
// delivery in every status, and checks that it moves exactly the ones the table lists,
// to the table's status, and leaves every other row as it was, byte for byte (a receipt,
// its status: ApplyReceipts records a late receipt's time without a move); Settle's
// outcomes and the per-delivery steps (ClaimMany, MarkSentMany) say ErrDeliveryFinal for
// those. Each delivery in sending was claimed an hour ago (its worker is taken for dead,
// as the claim and ReleaseStuck see it).
func TestTransitionsFollowTheTable(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{FrequencyCap: delivery.FrequencyCap{Max: -1}})
	camps := campaigns.New(pool, campaigns.Options{})
	ctx := context.Background()
	future := time.Now().Add(time.Hour)

	// Each move runs on the deliveries ids (one per status, in delivery.Statuses' order)
	// and returns, per delivery, the error it said for it (nil for the bulk ones).
	settle := func(o delivery.Outcome) func([]int64, int64) []error {
		return func(ids []int64, _ int64) []error {
			errs := make([]error, len(ids))
			for i, id := range ids {
				errs[i] = s.Settle(ctx, id, o)
			}
			return errs
		}
	}
	receipt := func(kind delivery.ReceiptKind) func([]int64, int64) []error {
		return func(ids []int64, _ int64) []error {
			rs := make([]delivery.Receipt, len(ids))
			for i, id := range ids {
				rs[i] = delivery.Receipt{MessageID: msgid.Of(id), Kind: kind}
			}
			_, err := s.ApplyReceipts(ctx, rs)
			require.NoError(t, err)
			return make([]error, len(ids))
		}
	}
	bulk := func(f func() error) func([]int64, int64) []error {
		return func(ids []int64, _ int64) []error {
			require.NoError(t, f())
			return make([]error, len(ids))
		}
	}
	moves := map[string]func(ids []int64, campaignID int64) []error{
		"Failed":   settle(delivery.Failed("refused")),
		"Skipped":  settle(delivery.Skipped(delivery.SkipWithdrawn)),
		"Expired":  settle(delivery.Expired()),
		"Released": settle(delivery.Released(true, "transient")),
		"Parked":   settle(delivery.Parked()),
		"ClaimMany": func(ids []int64, _ int64) []error {
			reqs := make([]delivery.ClaimRequest, len(ids))
			for i, id := range ids {
				reqs[i] = delivery.ClaimRequest{ID: id}
			}
			res, err := s.ClaimMany(ctx, reqs, time.Now(), consent.WhatsApp, consent.Marketing)
			require.NoError(t, err)
			errs := make([]error, len(ids))
			for i, r := range res {
				errs[i] = r.Err
			}
			return errs
		},
		"MarkSentMany": func(ids []int64, _ int64) []error {
			errs, err := s.MarkSentMany(ctx, ids, make([]delivery.SentInfo, len(ids)))
			require.NoError(t, err)
			return errs
		},
		"ExpireOverdue":     bulk(func() error { _, err := s.ExpireOverdue(ctx, future); return err }),
		"ReleaseStuck":      bulk(func() error { _, err := s.ReleaseStuck(ctx, future); return err }),
		"receipt delivered": receipt(delivery.ReceiptDelivered),
		"receipt read":      receipt(delivery.ReceiptRead),
		"receipt failed":    receipt(delivery.ReceiptFailed),
		"campaigns.CancelPending": func(ids []int64, _ int64) []error {
			for _, id := range ids {
				_, err := camps.CancelPending(ctx, id, string(delivery.SkipOptedOut)) // contact id = delivery id
				require.NoError(t, err)
			}
			return make([]error, len(ids))
		},
		"campaigns.Cancel": func(ids []int64, campaignID int64) []error {
			_, err := camps.Cancel(ctx, campaignID, "stopped")
			require.NoError(t, err)
			return make([]error, len(ids))
		},
	}

	table := delivery.Transitions()
	require.Len(t, moves, len(table), "every move of the table is tested, and nothing else")
	row := func(id int64) string {
		var b []byte
		require.NoError(t, pool.QueryRow(ctx, `SELECT to_jsonb(d) FROM deliveries d WHERE id = $1`, id).Scan(&b))
		return string(b)
	}
	for name, tr := range table {
		run, ok := moves[name]
		require.True(t, ok, "no test of move %s", name)
		campaignID, ids := sendFixture(t, pool, len(delivery.Statuses))
		for i, st := range delivery.Statuses {
			_, err := pool.Exec(ctx, `
				UPDATE deliveries SET status = $2, contact_id = id, message_id = $3, account_id = 1,
					updated_at = now() - interval '1 hour',
					sent_at = CASE WHEN $2 IN ('sent', 'delivered', 'read') THEN now() - interval '1 hour' END,
					delivered_at = CASE WHEN $2 IN ('delivered', 'read') THEN now() - interval '1 hour' END,
					read_at = CASE WHEN $2 = 'read' THEN now() - interval '1 hour' END,
					failed_at = CASE WHEN $2 = 'failed' THEN now() - interval '1 hour' END
				WHERE id = $1`, ids[i], string(st), msgid.Of(ids[i]))
			require.NoError(t, err)
		}
		before := make([]string, len(ids))
		for i, id := range ids {
			before[i] = row(id)
		}
		errs := run(ids, campaignID)
		got, err := s.Deliveries(ctx, ids)
		require.NoError(t, err)
		for i, st := range delivery.Statuses {
			if slices.Contains(tr.From, st) {
				require.NoError(t, errs[i], "%s from %s", name, st)
				require.Equal(t, tr.To, got[ids[i]].Status, "%s from %s", name, st)
				continue
			}
			if tr.Receipt {
				// A receipt that moves nothing may still record its time (ApplyReceipts).
				require.Equal(t, st, got[ids[i]].Status, "%s from %s", name, st)
				continue
			}
			require.JSONEq(t, before[i], row(ids[i]), "%s from %s: the delivery is left as it was", name, st)
		}
		// Settle's outcomes and the per-delivery steps say so when they move nothing.
		if isPerDelivery(name) {
			for i, st := range delivery.Statuses {
				if !slices.Contains(tr.From, st) {
					require.ErrorIs(t, errs[i], delivery.ErrDeliveryFinal, "%s from %s", name, st)
				}
			}
		}
	}
}

// isPerDelivery reports whether a move answers for each delivery (Settle's outcomes,
// ClaimMany, MarkSentMany); the bulk ones and the receipts do not.
func isPerDelivery(name string) bool {
	switch name {
	case "Failed", "Skipped", "Expired", "Released", "Parked", "ClaimMany", "MarkSentMany":
		return true
	}
	return false
}

// TestOnlyReceiptsLeaveAFinalStatus: every move starts from a pending status, except the
// receipts, which move a sent message forward only (sent → delivered → read, sent → failed).
func TestOnlyReceiptsLeaveAFinalStatus(t *testing.T) {
	t.Parallel()
	rank := map[delivery.Status]int{delivery.StatusSent: 1, delivery.StatusDelivered: 2, delivery.StatusFailed: 2, delivery.StatusRead: 3}
	for name, tr := range delivery.Transitions() {
		require.NotEmpty(t, tr.From, name)
		for _, from := range tr.From {
			require.Contains(t, delivery.Statuses, from, name)
			if !from.Final() {
				require.False(t, tr.Receipt, "%s: a receipt moves a sent message only", name)
				continue
			}
			require.True(t, tr.Receipt, "%s leaves the final status %s", name, from)
			require.Greater(t, rank[tr.To], rank[from], "%s: a receipt moves forward only (%s → %s)", name, from, tr.To)
		}
	}
}

// TestSettleRefusesNoOutcome: the zero Outcome is no transition.
func TestSettleRefusesNoOutcome(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	_, ids := sendFixture(t, pool, 1)
	require.Error(t, s.Settle(context.Background(), ids[0], delivery.Outcome{}))
	d, err := s.Delivery(context.Background(), ids[0])
	require.NoError(t, err)
	require.Equal(t, delivery.StatusQueued, d.Status)
}
