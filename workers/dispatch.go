package workers

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// handleDispatch tops up one campaign's send queue from Postgres: it hands Asynq the due
// deliveries that have no task yet, but never more than the campaign's accounts can send
// within the horizon (the sum of their per-minute rates, capped by the campaign's own rate,
// times Horizon, and never more than Options.MaxInFlight) minus what is already in flight.
// Redis so holds a few minutes of work per campaign whatever the audience's size (a pending
// task is about half a kilobyte), and Postgres keeps the rest.
func (h *Handlers) handleDispatch(ctx context.Context, t *asynq.Task) error {
	var p DispatchPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	// A full batch means there may be more room: carry on at once rather than at the
	// dispatcher's next tick, for a while (the task's timeout is a minute).
	began := time.Now()
	for {
		n, err := h.Dispatch(ctx, p.CampaignID)
		if err != nil {
			return err
		}
		if n > 0 {
			h.log.DebugContext(ctx, "dispatched", "campaign_id", p.CampaignID, "deliveries", n)
		}
		if n < maxDispatchBatch || time.Since(began) > 20*time.Second {
			return nil
		}
	}
}

// Dispatch tops up one campaign's send queue (see handleDispatch) and returns how many
// deliveries it handed to Asynq.
func (h *Handlers) Dispatch(ctx context.Context, campaignID int64) (int, error) {
	s := h.deps.Sends
	b, err := s.DispatchBudget(ctx, campaignID, h.opts.MaxInFlight)
	if err != nil {
		return 0, err
	}
	capacity := int(min(float64(b.PerMinute)*h.opts.Horizon.Minutes(), float64(h.opts.MaxInFlight)))
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
	n, err := h.enqueueSends(ctx, ids)
	h.deps.Metrics.dispatched.WithLabelValues(itoa(campaignID)).Add(float64(n))
	if err != nil {
		return n, fmt.Errorf("dispatch campaign %d: %w", campaignID, err)
	}
	return n, nil
}

// enqueueSends enqueues the sends of ids with dispatchEnqueuers enqueues in flight: one
// at a time, a dispatcher would hand out only as many sends per second as it has round
// trips to Redis. It returns how many it enqueued; the ids whose enqueue failed (Redis is
// failing) are given back to the next dispatch.
func (h *Handlers) enqueueSends(ctx context.Context, ids []int64) (int, error) {
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
				if _, err := h.enqueue(ctx, NewSendTask(ids[i])); err != nil {
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
	if _, err := h.deps.Sends.Unenqueue(context.WithoutCancel(ctx), failed); err != nil {
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
func (h *Handlers) RunDispatcher(ctx context.Context) error {
	t := time.NewTicker(h.opts.DispatchEvery)
	defer t.Stop()
	failing := false
	for {
		err := h.requestDispatches(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			h.log.WarnContext(ctx, "dispatcher", "error", err)
			failing = true
		case err == nil && failing:
			h.log.InfoContext(ctx, "dispatcher works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (h *Handlers) requestDispatches(ctx context.Context) error {
	ids, err := h.deps.Sends.DispatchCampaigns(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := h.enqueue(ctx, NewDispatchTask(id)); err != nil {
			return fmt.Errorf("enqueue dispatch of campaign %d: %w", id, err)
		}
	}
	return nil
}
