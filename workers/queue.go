package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/contacts"
)

// Queue puts Crier's tasks into Asynq. A process has one: the handlers queue their follow-up
// tasks through it, and the API queues imports (contacts.ImportQueue) with nothing else of
// the workers, so it is built before the services that enqueue. It is safe for concurrent
// use.
type Queue struct {
	client     *asynq.Client
	inspector  *asynq.Inspector
	log        *slog.Logger
	sendQueues int // how many queues the sends are spread over (SendQueue); at least 1
}

var _ contacts.ImportQueue = (*Queue)(nil)

// NewQueue returns a Queue on rdb; nil logger means slog.Default().
func NewQueue(rdb redis.UniversalClient, logger *slog.Logger) *Queue {
	if logger == nil {
		logger = slog.Default()
	}
	return &Queue{client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb), log: logger,
		sendQueues: 1}
}

// SpreadSends spreads the sends this Queue enqueues over n send queues (SendQueues), by
// delivery id, and returns q. Asynq keeps each queue in one Redis Cluster slot, so a
// single send queue is one node's work however many nodes the cluster has; n queues are
// spread over the nodes by their names' slots. Every process must say the same n: the
// workers serve the queues this Queue names, and the reconciler looks a send's task up in
// its queue. Call it before the Queue is used.
func (q *Queue) SpreadSends(n int) *Queue {
	q.sendQueues = max(n, 1)
	return q
}

// SendQueues are the queues the sends go to (SendQueues of SpreadSends' n).
func (q *Queue) SendQueues() []string { return SendQueues(q.sendQueues) }

// sendQueue is the queue of delivery id's send task.
func (q *Queue) sendQueue(id int64) string { return SendQueue(id, q.sendQueues) }

// Close releases the Asynq client and inspector (not the Redis connection).
func (q *Queue) Close() error { return errors.Join(q.client.Close(), q.inspector.Close()) }

// EnqueueImport queues import:run for a stored import (contacts.ImportQueue). A failure is
// logged here: the import stays queued, and the reconciler queues it again.
func (q *Queue) EnqueueImport(ctx context.Context, importID int64) error {
	if _, err := q.enqueue(ctx, NewImportTask(importID)); err != nil {
		q.log.WarnContext(ctx, "enqueue import", "import_id", importID, "error", err)
		return fmt.Errorf("workers: enqueue import %d: %w", importID, err)
	}
	return nil
}

// EnqueueCloudWebhook queues cloud:webhook for a stored Cloud API webhook
// (whatsappcloud.WebhookOptions.Enqueue). The caller logs a failure: the row stays
// unprocessed, and the reconciler's sweep queues it again.
func (q *Queue) EnqueueCloudWebhook(ctx context.Context, webhookID int64) error {
	if _, err := q.enqueue(ctx, NewCloudWebhookTask(webhookID)); err != nil {
		return fmt.Errorf("workers: enqueue cloud webhook %d: %w", webhookID, err)
	}
	return nil
}

// enqueue adds a task whose TaskID dedupes it (enqueueIn, to the queue its constructor
// set).
func (q *Queue) enqueue(ctx context.Context, t *asynq.Task) (bool, error) {
	return q.enqueueIn(ctx, t, queueOf(t))
}

// enqueueSend adds delivery id's send task to its send queue (SpreadSends).
func (q *Queue) enqueueSend(ctx context.Context, id int64) (bool, error) {
	return q.enqueueIn(ctx, NewSendTask(id), q.sendQueue(id))
}

// enqueueIn adds a task whose TaskID dedupes it to queue. A task with the same id that is
// still queued or running is left alone (ok); one that was archived after its retries ran
// out is deleted and replaced, so that a TaskID never blocks work for good.
func (q *Queue) enqueueIn(ctx context.Context, t *asynq.Task, queue string) (bool, error) {
	opts := []asynq.Option{asynq.Queue(queue)} // an option given here overrides the task's
	_, err := q.client.EnqueueContext(ctx, t, opts...)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	info, ierr := q.inspector.GetTaskInfo(queue, taskIDOf(t))
	if ierr != nil || (info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted) {
		return false, nil // queued, scheduled, retrying or running: it will run
	}
	if derr := q.inspector.DeleteTask(info.Queue, info.ID); derr != nil && !errors.Is(derr, asynq.ErrTaskNotFound) {
		return false, derr
	}
	if _, err := q.client.EnqueueContext(ctx, t, opts...); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	return true, nil
}

// queueOf and taskIDOf read back the options our constructors set (a send's queue among
// several is Queue.sendQueue's: enqueueSend).
func queueOf(t *asynq.Task) string {
	switch t.Type() {
	case TypeMessageSend:
		return QueueSend
	case TypeEventReceipts, TypeEventReceipt, TypeEventInbound, TypeCloudWebhook:
		return QueueEvents
	case TypeReplySend:
		return QueueReplies
	case TypeMaintenanceReconcile, TypeMaintenanceRetention:
		return QueueMaintenance
	case TypeWebhookDeliver:
		return QueueWebhooks
	default:
		return QueueCampaigns
	}
}

func taskIDOf(t *asynq.Task) string {
	var p struct {
		CampaignID int64     `json:"campaign_id"`
		RunAt      time.Time `json:"run_at"`
		DeliveryID int64     `json:"delivery_id"`
		InboundID  int64     `json:"inbound_id"`
		ImportID   int64     `json:"import_id"`
		WebhookID  int64     `json:"webhook_id"`
	}
	if t.Type() == TypeWebhookDeliver {
		var w WebhookPayload
		_ = decode(t, &w)
		return webhookTaskID(w.DeliveryID, w.Attempt)
	}
	_ = decode(t, &p)
	switch t.Type() {
	case TypeCampaignLaunch:
		return launchTaskID(p.CampaignID, p.RunAt)
	case TypeCampaignDispatch:
		var d DispatchPayload
		_ = decode(t, &d)
		return dispatchTaskID(d.CampaignID, d.partition())
	case TypeMessageSend:
		return SendTaskID(p.DeliveryID)
	case TypeEventReceipts:
		return receiptsTaskID(t.Payload())
	case TypeEventInbound:
		return inboundTaskID(p.InboundID)
	case TypeReplySend:
		return replyTaskID(p.InboundID)
	case TypeImportRun:
		return importTaskID(p.ImportID)
	case TypeCloudWebhook:
		return cloudWebhookTaskID(p.WebhookID)
	case TypeMaintenanceReconcile:
		return "reconcile"
	default:
		return "retention"
	}
}
