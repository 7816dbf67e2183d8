package workers

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// Reconciled is what one reconciler pass repaired.
type Reconciled struct {
	Expired        int64 // queued deliveries past their TTL, now expired
	StuckReleased  int64 // deliveries left in sending by a dead worker, given back
	TasksLost      int64 // queued deliveries whose task Redis no longer had, given back
	RunsFinished   int   // runs completed
	InboundRetried int   // inbound messages processed again: never processed (task lost) or reply still due
	ImportsQueued  int   // imports queued or running whose task may be lost, queued again
}

// handleReconcile runs one reconciler pass.
func (h *Handlers) handleReconcile(ctx context.Context, _ *asynq.Task) error {
	r, err := h.Reconcile(ctx)
	if r != (Reconciled{}) {
		h.log.InfoContext(ctx, "reconciled", "expired", r.Expired, "stuck_released", r.StuckReleased,
			"tasks_lost", r.TasksLost, "runs_finished", r.RunsFinished, "inbound_retried", r.InboundRetried,
			"imports_queued", r.ImportsQueued)
	}
	return err
}

// Reconcile repairs what a worker crash or a Redis loss left behind (DESIGN §3 invariant 7):
//
//   - deliveries still queued past their TTL are expired (never sent late);
//   - deliveries stuck in "sending" (their worker died mid-send) go back to the queue with
//     their account, variant and message id kept, so the retry is the same message through
//     the same account and the network recognises it: nothing is sent twice;
//   - queued deliveries handed to Asynq a while ago whose task Redis no longer has (a flush,
//     a failover without persistence) are handed out again by the dispatcher;
//   - inbound messages never processed (their task was lost with Redis: a STOP must still
//     be honoured) or whose confirmation reply is still due are processed again;
//   - imports queued or running whose row has not moved for a while get their import:run
//     task again (a task that still exists is left alone);
//   - runs with nothing pending are completed.
func (h *Handlers) Reconcile(ctx context.Context) (Reconciled, error) {
	var r Reconciled
	var errs []error
	s := h.deps.Sends
	now := h.now()
	n, err := s.ExpireOverdue(ctx, now.Add(-h.opts.TTL))
	r.Expired, errs = n, append(errs, err)
	n, err = s.ReleaseStuck(ctx, now.Add(-h.opts.StaleSending))
	r.StuckReleased, errs = n, append(errs, err)
	n, err = h.requeueLost(ctx)
	r.TasksLost, errs = n, append(errs, err)
	if h.deps.Consent != nil {
		ids, err := h.deps.Consent.Unsettled(ctx, h.opts.CheckTasksAfter, 1000)
		errs = append(errs, err)
		for _, id := range ids {
			if _, err := h.enqueue(ctx, NewInboundTask(id, now)); err != nil {
				errs = append(errs, err)
				break
			}
			r.InboundRetried++
		}
	}
	if h.deps.Contacts != nil {
		ids, err := h.deps.Contacts.ImportsPending(ctx, h.opts.CheckTasksAfter, 100)
		errs = append(errs, err)
		for _, id := range ids {
			queued, err := h.enqueue(ctx, NewImportTask(id))
			if err != nil {
				errs = append(errs, err)
				break
			}
			if queued {
				r.ImportsQueued++
			}
		}
	}
	if h.deps.Campaigns != nil {
		r.RunsFinished, err = h.deps.Campaigns.FinishRuns(ctx)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("reconcile: %w", err)
	}
	return r, nil
}

// requeueLost finds queued deliveries enqueued more than CheckTasksAfter ago and asks Redis
// for each one's task; those without one get their enqueued mark cleared, so that the
// dispatcher hands them out again. A live task that waits (for an account or a retry)
// touches its delivery, so the scan stays small.
func (h *Handlers) requeueLost(ctx context.Context) (int64, error) {
	var lost int64
	var after int64
	before := h.now().Add(-h.opts.CheckTasksAfter)
	for {
		ids, err := h.deps.Sends.EnqueuedBefore(ctx, before, after, 1000)
		if err != nil {
			return lost, err
		}
		if len(ids) == 0 {
			return lost, nil
		}
		var missing []int64
		for _, id := range ids {
			info, err := h.inspector.GetTaskInfo(QueueSend, SendTaskID(id))
			switch {
			case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
				missing = append(missing, id)
			case err != nil:
				return lost, fmt.Errorf("task of delivery %d: %w", id, err)
			case info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted:
				// Its task ended but left the delivery queued: start afresh.
				if err := h.inspector.DeleteTask(QueueSend, info.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
					return lost, err
				}
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			n, err := h.deps.Sends.Unenqueue(ctx, missing)
			lost += n
			if err != nil {
				return lost, err
			}
		}
		after = ids[len(ids)-1]
	}
}

// handleRetention purges message text older than the retention period from every package
// that keeps it (privacy.Service's purgers).
func (h *Handlers) handleRetention(ctx context.Context, _ *asynq.Task) error {
	if h.deps.Privacy == nil {
		return nil
	}
	purged, err := h.deps.Privacy.Purge(ctx, h.opts.Retention)
	for name, n := range purged {
		if n > 0 {
			h.log.InfoContext(ctx, "retention purge", "holder", name, "rows", n)
		}
	}
	return err
}
