package workers

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/delivery"
)

// dispatchStore hands the due deliveries to the send queue (delivery.Sends).
type dispatchStore interface {
	DispatchCampaigns(ctx context.Context) ([]int64, error)
	DispatchBudget(ctx context.Context, campaignID int64, countUpTo int) (delivery.DispatchBudget, error)
	DispatchTake(ctx context.Context, campaignID int64, limit int) ([]int64, error)
	Unenqueue(ctx context.Context, ids []int64) (int64, error)
}

// Dispatcher keeps each campaign's send queue topped up from Postgres: campaign:dispatch
// tops up one campaign (Dispatch), and RunDispatcher asks for a dispatch of every campaign
// with work, every DispatchEvery.
type Dispatcher struct {
	sends   dispatchStore
	queue   *Queue
	metrics *Metrics
	log     *slog.Logger
	opts    Options
}

// handleDispatch tops up one campaign's send queue from Postgres: it hands Asynq the due
// deliveries that have no task yet, but never more than the campaign's accounts can send
// within the horizon (the sum of their per-minute rates, capped by the campaign's own rate,
// times Horizon, and never more than Options.MaxInFlight) minus what is already in flight.
// Redis so holds a few minutes of work per campaign whatever the audience's size (a pending
// task is about half a kilobyte), and Postgres keeps the rest.
func (d *Dispatcher) handleDispatch(ctx context.Context, t *asynq.Task) error {
	var p DispatchPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	// A full batch means there may be more room: carry on at once rather than at the
	// dispatcher's next tick, for a while (the task's timeout is a minute).
	began := time.Now()
	for {
		n, err := d.Dispatch(ctx, p.CampaignID)
		if err != nil {
			return err
		}
		if n > 0 {
			d.log.DebugContext(ctx, "dispatched", "campaign_id", p.CampaignID, "deliveries", n)
		}
		if n < maxDispatchBatch || time.Since(began) > 20*time.Second {
			return nil
		}
	}
}

// Dispatch tops up one campaign's send queue (see handleDispatch) and returns how many
// deliveries it handed to Asynq.
func (d *Dispatcher) Dispatch(ctx context.Context, campaignID int64) (int, error) {
	s := d.sends
	b, err := s.DispatchBudget(ctx, campaignID, d.opts.MaxInFlight)
	if err != nil {
		return 0, err
	}
	capacity := int(min(float64(b.PerMinute)*d.opts.Horizon.Minutes(), float64(d.opts.MaxInFlight)))
	if b.PerMinute > 0 {
		capacity = max(capacity, 1)
	}
	room := min(capacity-b.InFlight, maxDispatchBatch)
	if room <= 0 {
		return 0, nil
	}
	ids, err := s.DispatchTake(ctx, campaignID, room)
	if err != nil {
		return 0, err
	}
	n, err := d.enqueueSends(ctx, ids)
	d.metrics.dispatched.WithLabelValues(itoa(campaignID)).Add(float64(n))
	if err != nil {
		return n, fmt.Errorf("dispatch campaign %d: %w", campaignID, err)
	}
	return n, nil
}

// enqueueSends enqueues the sends of ids with dispatchEnqueuers enqueues in flight: one
// at a time, a dispatcher would hand out only as many sends per second as it has round
// trips to Redis. It returns how many it enqueued; the ids whose enqueue failed (Redis is
// failing) are given back to the next dispatch.
func (d *Dispatcher) enqueueSends(ctx context.Context, ids []int64) (int, error) {
	var (
		mu       sync.Mutex
		failed   []int64
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range min(dispatchEnqueuers, len(ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				if _, err := d.queue.enqueue(ctx, NewSendTask(ids[i])); err != nil {
					mu.Lock()
					failed = append(failed, ids[i])
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	n := len(ids) - len(failed)
	if firstErr == nil {
		return n, nil
	}
	if _, err := d.sends.Unenqueue(context.WithoutCancel(ctx), failed); err != nil {
		return n, fmt.Errorf("%w (and unenqueue: %v)", firstErr, err)
	}
	return n, fmt.Errorf("%d of %d sends not enqueued: %w", len(failed), len(ids), firstErr)
}

// dispatchEnqueuers is how many enqueues a dispatch keeps in flight.
const dispatchEnqueuers = 16

// maxDispatchBatch bounds one dispatch, so that a task never runs for long; the next tick
// dispatches more.
const maxDispatchBatch = 5000

// RunDispatcher asks, every DispatchEvery until ctx ends, for a campaign:dispatch of every
// campaign with due deliveries without a task. The dispatch task's TaskID is the campaign's,
// so however many workers run this loop, one dispatch per campaign is queued at a time.
func (d *Dispatcher) RunDispatcher(ctx context.Context) error {
	t := time.NewTicker(d.opts.DispatchEvery)
	defer t.Stop()
	failing := false
	for {
		err := d.requestDispatches(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			d.log.WarnContext(ctx, "dispatcher", "error", err)
			failing = true
		case err == nil && failing:
			d.log.InfoContext(ctx, "dispatcher works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *Dispatcher) requestDispatches(ctx context.Context) error {
	ids, err := d.sends.DispatchCampaigns(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := d.queue.enqueue(ctx, NewDispatchTask(id)); err != nil {
			return fmt.Errorf("enqueue dispatch of campaign %d: %w", id, err)
		}
	}
	return nil
}
