package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crierhq/crier/consent"
)

// The one-delivery forms of the send steps, for tests: the workers use the set-based ones.

// Delivery returns one delivery as the send path sees it.
func (s *Sends) Delivery(ctx context.Context, id int64) (Delivery, error) {
	ds, err := s.Deliveries(ctx, []int64{id})
	if err != nil {
		return Delivery{}, err
	}
	d, ok := ds[id]
	if !ok {
		return Delivery{}, fmt.Errorf("delivery: delivery %d: %w", id, ErrDeliveryFinal)
	}
	return d, nil
}

// Claim takes a delivery for sending: queued → sending, one more attempt. A delivery left in
// sending since before staleBefore (its worker died) is claimed again. It returns
// ErrDeliveryFinal for a settled delivery and ErrDeliveryBusy for one another worker holds.
func (s *Sends) Claim(ctx context.Context, id int64, staleBefore time.Time) (Delivery, error) {
	r, err := one(s.ClaimMany(ctx, []ClaimRequest{{ID: id}}, staleBefore, consent.WhatsApp, consent.Marketing))
	if err != nil {
		return Delivery{}, err
	}
	return r.Delivery, r.Err
}

// MarkSent records a sent message: sending → sent. It returns ErrDeliveryFinal if the
// delivery is no longer sending.
func (s *Sends) MarkSent(ctx context.Context, id int64, sent SentInfo) error {
	result, err := one(s.MarkSentMany(ctx, []int64{id}, []SentInfo{sent}))
	return errors.Join(err, result)
}

// ApplyReceipt applies one receipt: ApplyReceipts of a batch of one. It returns
// ErrReceiptEarly while the send is not recorded yet.
func (s *Sends) ApplyReceipt(ctx context.Context, r Receipt) (ReceiptOutcome, error) {
	outs, err := s.ApplyReceipts(ctx, []Receipt{r})
	if err != nil {
		return ReceiptOutcome{}, err
	}
	return outs[0], outs[0].Err
}

// one returns the only result of a set-based call with one input.
func one[T any](res []T, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	if len(res) != 1 {
		var zero T
		return zero, errors.New("delivery: one result expected")
	}
	return res[0], nil
}

// Move is a transition's row of the transitions table, for the external tests.
type Move struct {
	From    []Status
	To      Status
	Receipt bool
}

// Transitions returns the transitions table by move name.
func Transitions() map[string]Move {
	out := make(map[string]Move, len(transitions))
	for m, t := range transitions {
		out[string(m)] = Move{From: t.from, To: t.to, Receipt: t.receipt}
	}
	return out
}
