package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// CloudWebhooks act on the Cloud API's webhooks that the API stored
// (whatsappcloud.Webhooks): Process turns one into receipts, inbound messages, opt-outs
// and account changes; the reconciler sweeps the rows whose task was lost, and the
// retention run prunes the old ones.
type CloudWebhooks interface {
	// Process acts on a stored webhook; one processed already, or held by another worker,
	// is left alone.
	Process(ctx context.Context, id int64) error
	// Unprocessed lists the webhooks received before before and still unprocessed.
	Unprocessed(ctx context.Context, before time.Time, limit int) ([]int64, error)
	// Prune deletes what was processed before before.
	Prune(ctx context.Context, before time.Time) (int64, error)
}

// The upkeep of the stored webhooks.
const (
	// cloudWebhookSweepAge: a webhook still unprocessed this long after it arrived lost its
	// task (Redis refused or lost it) or used up its retries, and is queued again.
	cloudWebhookSweepAge   = time.Minute
	cloudWebhookSweepBatch = 1000
	// cloudWebhookKeep: processed webhooks and the keys of the events handled are kept a
	// week, longer than Meta retries a delivery.
	cloudWebhookKeep = 7 * 24 * time.Hour
)

// handleCloudWebhook is cloud:webhook: it acts on one stored webhook.
func (m *Maintenance) handleCloudWebhook(ctx context.Context, t *asynq.Task) error {
	var p CloudWebhookPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if err := m.cloud.Process(ctx, p.WebhookID); err != nil {
		return fmt.Errorf("cloud webhook %d: %w", p.WebhookID, err)
	}
	return nil
}

// sweepCloudWebhooks queues again the webhooks left unprocessed for a while, and returns
// how many it queued.
func (m *Maintenance) sweepCloudWebhooks(ctx context.Context) (int, error) {
	ids, err := m.cloud.Unprocessed(ctx, m.opts.Now().Add(-cloudWebhookSweepAge), cloudWebhookSweepBatch)
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, id := range ids {
		ok, err := m.queue.enqueue(ctx, NewCloudWebhookTask(id))
		if err != nil {
			return queued, fmt.Errorf("queue cloud webhook %d: %w", id, err)
		}
		if ok {
			queued++
		}
	}
	return queued, nil
}

// pruneCloudWebhooks deletes the webhooks processed more than a week ago.
func (m *Maintenance) pruneCloudWebhooks(ctx context.Context) error {
	n, err := m.cloud.Prune(ctx, m.opts.Now().Add(-cloudWebhookKeep))
	if n > 0 {
		m.log.InfoContext(ctx, "pruned Cloud API webhooks", "rows", n)
	}
	return err
}
