package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/batch"
)

// sendSteps are the database steps of message:send, each coalesced across the sends this
// process runs at once (group commit): a worker running 1000 sends makes one claim
// statement for the deliveries that reached that step together (up to 512), not one each.
type sendSteps struct {
	load  *batch.Batcher[int64, loaded]
	claim *batch.Batcher[delivery.ClaimRequest, delivery.ClaimResult]
	sent  *batch.Batcher[sentReq, struct{}]
}

// loaded is a delivery and its recipient (nil once erased).
type loaded struct {
	delivery delivery.Delivery
	contact  *contacts.Contact
}

type sentReq struct {
	id int64
	delivery.SentInfo
}

// stepOptions: one statement per step at a time, so that the sends arriving meanwhile
// share the next, and each waits stepLinger for more sends to join it. Sends arrive in
// bursts (the batch of the step before), and a statement costs PostgreSQL about as much
// for one row as for dozens: on two cores, a linger of 5 ms took `crier bench` from about
// 1 900 to 3 100 sends/s at concurrency 256, and 10 ms with concurrency 512 spent a tenth
// less CPU per message again (15 ms or more leaves the cores idle: the sends then wait
// more than they work). A send pays it at most once per step (three).
const stepLinger = 10 * time.Millisecond

var stepOptions = batch.Options{MaxSize: 512, Runners: 1, Timeout: 30 * time.Second, Linger: stepLinger}

// newSendSteps batches the steps over sends and contacts; staleBefore is when a delivery in
// "sending" has lost its worker, for the claim.
func newSendSteps(s deliveryStore, people contactStore, staleBefore func() time.Time) *sendSteps {
	return &sendSteps{
		load: batch.New(func(ctx context.Context, ids []int64) ([]batch.Result[loaded], error) {
			ds, err := s.Deliveries(ctx, ids)
			if err != nil {
				return nil, err
			}
			contactIDs := make([]int64, 0, len(ds))
			for _, d := range ds {
				if d.ContactID != nil {
					contactIDs = append(contactIDs, *d.ContactID)
				}
			}
			cs, err := people.GetMany(ctx, contactIDs)
			if err != nil {
				return nil, err
			}
			out := make([]batch.Result[loaded], len(ids))
			for i, id := range ids {
				d, ok := ds[id]
				if !ok {
					out[i].Err = fmt.Errorf("delivery %d: %w", id, delivery.ErrDeliveryFinal)
					continue
				}
				out[i].Value.delivery = d
				if d.ContactID != nil {
					if c, ok := cs[*d.ContactID]; ok {
						out[i].Value.contact = &c
					}
				}
			}
			return out, nil
		}, stepOptions),
		claim: batch.New(func(ctx context.Context, reqs []delivery.ClaimRequest) ([]batch.Result[delivery.ClaimResult], error) {
			res, err := s.ClaimMany(ctx, reqs, staleBefore(), consent.WhatsApp, consent.Marketing)
			if err != nil {
				return nil, err
			}
			out := make([]batch.Result[delivery.ClaimResult], len(res))
			for i, r := range res {
				out[i] = batch.Result[delivery.ClaimResult]{Value: r, Err: r.Err}
			}
			return out, nil
		}, stepOptions),
		sent: batch.New(func(ctx context.Context, ss []sentReq) ([]batch.Result[struct{}], error) {
			ids, infos := make([]int64, len(ss)), make([]delivery.SentInfo, len(ss))
			for i, m := range ss {
				ids[i], infos[i] = m.id, m.SentInfo
			}
			errs, err := s.MarkSentMany(ctx, ids, infos)
			if err != nil {
				return nil, err
			}
			out := make([]batch.Result[struct{}], len(errs))
			for i, e := range errs {
				out[i].Err = e
			}
			return out, nil
		}, stepOptions),
	}
}
