package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// handleDispatch tops up one campaign's send queue from Postgres: it hands Asynq the due
// deliveries that have no task yet, but never more than the campaign's accounts can send
// within the horizon (the sum of their per-minute rates, capped by the campaign's own rate,
// times Horizon) minus what is already in flight. Redis so holds a few minutes of work per
// campaign whatever the audience's size (a pending task is about half a kilobyte), and
// Postgres keeps the rest.
func (h *Handlers) handleDispatch(ctx context.Context, t *asynq.Task) error {
	var p DispatchPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	n, err := h.Dispatch(ctx, p.CampaignID)
	if err != nil {
		return err
	}
	if n > 0 {
		h.log.DebugContext(ctx, "dispatched", "campaign_id", p.CampaignID, "deliveries", n)
	}
	return nil
}

// Dispatch tops up one campaign's send queue (see handleDispatch) and returns how many
// deliveries it handed to Asynq.
func (h *Handlers) Dispatch(ctx context.Context, campaignID int64) (int, error) {
	s := h.deps.Sends
	b, err := s.DispatchBudget(ctx, campaignID)
	if err != nil {
		return 0, err
	}
	capacity := int(float64(b.PerMinute) * h.opts.Horizon.Minutes())
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
	var failed []int64
	for i, id := range ids {
		if _, err := h.enqueue(ctx, NewSendTask(id)); err != nil {
			// Redis is failing: give the rest back to the next dispatch.
			failed = append(failed, ids[i:]...)
			if _, uerr := s.Unenqueue(context.WithoutCancel(ctx), failed); uerr != nil {
				return i, fmt.Errorf("dispatch campaign %d: %w (and unenqueue: %v)", campaignID, err, uerr)
			}
			return i, fmt.Errorf("dispatch campaign %d: %w", campaignID, err)
		}
	}
	h.deps.Metrics.dispatched.WithLabelValues(itoa(campaignID)).Add(float64(len(ids)))
	return len(ids), nil
}

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
