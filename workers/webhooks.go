package workers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// TypeWebhookDeliver makes one attempt at an outbound webhook delivery
// (webhook_deliveries); the webhooks package relays, signs and schedules them.
const TypeWebhookDeliver = "webhook:deliver"

// QueueWebhooks holds the outbound webhooks, on Asynq servers of their own
// (ServerConfigs): a receiver that times out holds a slot for 10 s, and a dead one with
// thousands of events pending must not hold the events' slots (an opt-out takes effect at
// once) nor delay launches and maintenance.
const QueueWebhooks = "webhooks"

// WebhookPayload is the payload of webhook:deliver: the delivery's id, and which attempt
// the task is (its TaskID's key). The event, with its personal data if the endpoint
// receives it, stays in PostgreSQL.
type WebhookPayload struct {
	DeliveryID int64  `json:"webhook_delivery_id"`
	Attempt    string `json:"attempt"`
}

// WebhookDeliverer makes webhook delivery attempts (webhooks.Deliverer).
type WebhookDeliverer interface {
	Deliver(ctx context.Context, deliveryID int64) error
}

// WebhookRelay turns the logs into webhook deliveries (webhooks.Relay); the scheduler
// steps it every second.
type WebhookRelay interface {
	Step(ctx context.Context) (int, error)
}

// webhookTimeout bounds one attempt: the receiver's 10 s and the database around it.
const webhookTimeout = 30 * time.Second

// NewWebhookTask makes one attempt at a delivery at the given time. Its TaskID names the
// delivery and the attempt (key), so that the relay, the sweep and a retry queue each
// attempt once; the retries are new tasks with ProcessAt, recorded in next_attempt_at, so
// the task's own retries only cover the database failing.
func NewWebhookTask(deliveryID int64, key string, at time.Time) *asynq.Task {
	return newTask(TypeWebhookDeliver, WebhookPayload{DeliveryID: deliveryID, Attempt: key},
		asynq.Queue(QueueWebhooks), asynq.MaxRetry(5), asynq.Timeout(webhookTimeout), asynq.ProcessAt(at),
		asynq.TaskID(webhookTaskID(deliveryID, key)))
}

func webhookTaskID(deliveryID int64, key string) string {
	return "webhook:" + strconv.FormatInt(deliveryID, 10) + ":" + key
}

// EnqueueWebhook queues an attempt at a webhook delivery (webhooks.Queue). The caller
// ignores a failure: the delivery stays pending, and the relay's sweep queues it again.
func (q *Queue) EnqueueWebhook(ctx context.Context, deliveryID int64, key string, at time.Time) error {
	if _, err := q.enqueue(ctx, NewWebhookTask(deliveryID, key, at)); err != nil {
		q.log.WarnContext(ctx, "enqueue webhook delivery", "webhook_delivery_id", deliveryID, "error", err)
		return fmt.Errorf("workers: enqueue webhook delivery %d: %w", deliveryID, err)
	}
	return nil
}

// handleWebhook is webhook:deliver.
func (h *Handlers) handleWebhook(ctx context.Context, t *asynq.Task) error {
	var p WebhookPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if err := h.webhooks.Deliver(ctx, p.DeliveryID); err != nil {
		return fmt.Errorf("webhook delivery %d: %w", p.DeliveryID, err)
	}
	return nil
}
