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
func (m *Maintenance) handleReconcile(ctx context.Context, _ *asynq.Task) error {
	r, err := m.Reconcile(ctx)
	if r != (Reconciled{}) {
		m.log.InfoContext(ctx, "reconciled", "expired", r.Expired, "stuck_released", r.StuckReleased,
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
//   - runs with nothing pending are completed;
//   - the campaigns' delivery counters are folded (delivery.Sends.FoldCounts).
func (m *Maintenance) Reconcile(ctx context.Context) (Reconciled, error) {
	var r Reconciled
	var errs []error
	s := m.sends
	now := m.opts.Now()
	n, err := s.ExpireOverdue(ctx, now.Add(-m.opts.TTL))
	r.Expired, errs = n, append(errs, err)
	n, err = s.ReleaseStuck(ctx, now.Add(-m.opts.StaleSending))
	r.StuckReleased, errs = n, append(errs, err)
	n, err = m.requeueLost(ctx)
	r.TasksLost, errs = n, append(errs, err)
	if m.inbound != nil {
		ids, err := m.inbound.Unsettled(ctx, m.opts.CheckTasksAfter, 1000)
		errs = append(errs, err)
		for _, id := range ids {
			if _, err := m.queue.enqueue(ctx, NewInboundTask(id, now)); err != nil {
				errs = append(errs, err)
				break
			}
			r.InboundRetried++
		}
	}
	if m.imports != nil {
		ids, err := m.imports.ImportsPending(ctx, m.opts.CheckTasksAfter, 100)
		errs = append(errs, err)
		for _, id := range ids {
			queued, err := m.queue.enqueue(ctx, NewImportTask(id))
			if err != nil {
				errs = append(errs, err)
				break
			}
			if queued {
				r.ImportsQueued++
			}
		}
	}
	if m.runs != nil {
		r.RunsFinished, err = m.runs.FinishRuns(ctx)
		errs = append(errs, err)
	}
	_, err = s.FoldCounts(ctx)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("reconcile: %w", err)
	}
	return r, nil
}

// requeueLost finds queued deliveries enqueued more than CheckTasksAfter ago and asks Redis
// for each one's task; those without one get their enqueued mark cleared, so that the
// dispatcher hands them out again. A live task that waits (for an account or a retry)
// touches its delivery, so the scan stays small.
func (m *Maintenance) requeueLost(ctx context.Context) (int64, error) {
	var lost int64
	var after int64
	before := m.opts.Now().Add(-m.opts.CheckTasksAfter)
	for {
		ids, err := m.sends.EnqueuedBefore(ctx, before, after, 1000)
		if err != nil {
			return lost, err
		}
		if len(ids) == 0 {
			return lost, nil
		}
		var missing []int64
		for _, id := range ids {
			info, err := m.queue.inspector.GetTaskInfo(m.queue.sendQueue(id), SendTaskID(id))
			switch {
			case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
				missing = append(missing, id)
			case err != nil:
				return lost, fmt.Errorf("task of delivery %d: %w", id, err)
			case info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted:
				// Its task ended but left the delivery queued: start afresh.
				if err := m.queue.inspector.DeleteTask(info.Queue, info.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
					return lost, err
				}
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			n, err := m.sends.Unenqueue(ctx, missing)
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
func (m *Maintenance) handleRetention(ctx context.Context, _ *asynq.Task) error {
	if m.privacy == nil {
		return nil
	}
	purged, err := m.privacy.Purge(ctx, m.opts.Retention)
	for name, n := range purged {
		if n > 0 {
			m.log.InfoContext(ctx, "retention purge", "holder", name, "rows", n)
		}
	}
	return err
}
