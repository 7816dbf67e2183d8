package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/batch"
)

// sendSteps are the database steps of message:send, each coalesced across the sends this
// process runs at once (group commit): a worker running 64 sends makes one claim
// statement for the deliveries that reached that step together, not 64. A send that
// finds its step idle runs at once, alone, so batching adds no delay at low load.
type sendSteps struct {
	delivery *batch.Batcher[int64, campaigns.Delivery]
	claim    *batch.Batcher[int64, campaigns.Delivery]
	target   *batch.Batcher[int64, target]
	attempt  *batch.Batcher[attemptReq, struct{}]
	sent     *batch.Batcher[sentReq, struct{}]
}

// target is a recipient as the send needs it: whether it may be messaged, and its data.
type target struct {
	exclusion consent.Exclusion
	contact   contacts.Contact
}

type attemptReq struct {
	id int64
	campaigns.Attempt
}

type sentReq struct {
	id int64
	campaigns.SentInfo
}

// stepOptions: two statements of a step may run at once, so that one batch forms while
// the other runs.
var stepOptions = batch.Options{MaxSize: 256, Runners: 2, Timeout: 30 * time.Second}

func newSendSteps(h *Handlers) *sendSteps {
	s := h.deps.Sends
	return &sendSteps{
		delivery: batch.New(func(ctx context.Context, ids []int64) ([]batch.Result[campaigns.Delivery], error) {
			ds, err := s.Deliveries(ctx, ids)
			if err != nil {
				return nil, err
			}
			out := make([]batch.Result[campaigns.Delivery], len(ids))
			for i, id := range ids {
				d, ok := ds[id]
				out[i] = batch.Result[campaigns.Delivery]{Value: d}
				if !ok {
					out[i].Err = fmt.Errorf("delivery %d: %w", id, campaigns.ErrDeliveryFinal)
				}
			}
			return out, nil
		}, stepOptions),
		claim: batch.New(func(ctx context.Context, ids []int64) ([]batch.Result[campaigns.Delivery], error) {
			res, err := s.ClaimMany(ctx, ids, h.now().Add(-h.opts.StaleSending))
			if err != nil {
				return nil, err
			}
			out := make([]batch.Result[campaigns.Delivery], len(ids))
			for i, r := range res {
				out[i] = batch.Result[campaigns.Delivery]{Value: r.Delivery, Err: r.Err}
			}
			return out, nil
		}, stepOptions),
		target: batch.New(func(ctx context.Context, ids []int64) ([]batch.Result[target], error) {
			// Consent first: a contact erased between the two reads is missing from the second.
			ex, err := h.deps.Consent.Eligibilities(ctx, ids, consent.WhatsApp, consent.Marketing)
			if err != nil {
				return nil, err
			}
			cs, err := h.deps.Contacts.GetMany(ctx, ids)
			if err != nil {
				return nil, err
			}
			out := make([]batch.Result[target], len(ids))
			for i, id := range ids {
				e, ok1 := ex[id]
				c, ok2 := cs[id]
				out[i].Value = target{exclusion: e, contact: c}
				if !ok1 || !ok2 {
					out[i].Err = apperr.NotFoundf("contact %d not found", id)
				}
			}
			return out, nil
		}, stepOptions),
		attempt: batch.New(func(ctx context.Context, as []attemptReq) ([]batch.Result[struct{}], error) {
			ids, atts := make([]int64, len(as)), make([]campaigns.Attempt, len(as))
			for i, a := range as {
				ids[i], atts[i] = a.id, a.Attempt
			}
			return results(s.RecordAttempts(ctx, ids, atts))
		}, stepOptions),
		sent: batch.New(func(ctx context.Context, ss []sentReq) ([]batch.Result[struct{}], error) {
			ids, infos := make([]int64, len(ss)), make([]campaigns.SentInfo, len(ss))
			for i, m := range ss {
				ids[i], infos[i] = m.id, m.SentInfo
			}
			return results(s.MarkSentMany(ctx, ids, infos))
		}, stepOptions),
	}
}

// results turns per-input errors into batch results.
func results(errs []error, err error) ([]batch.Result[struct{}], error) {
	if err != nil {
		return nil, err
	}
	out := make([]batch.Result[struct{}], len(errs))
	for i, e := range errs {
		out[i].Err = e
	}
	return out, nil
}
