package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/internal/apperr"
)

// repairStore is what the reconciler repairs in the deliveries (delivery.Sends).
type repairStore interface {
	ExpireOverdue(ctx context.Context, dueBefore time.Time) (int64, error)
	ReleaseStuck(ctx context.Context, before time.Time) (int64, error)
	EnqueuedBefore(ctx context.Context, before time.Time, afterID int64, limit int) ([]int64, error)
	Unenqueue(ctx context.Context, ids []int64) (int64, error)
	FoldCounts(ctx context.Context) (int64, error)
}

// runStore launches and completes campaign runs (Campaigns).
type runStore interface {
	Launch(ctx context.Context, campaignID int64, runAt time.Time) (campaigns.Run, error)
	FinishRuns(ctx context.Context) (int, error)
}

// inboundRetries lists the customers' messages left unsettled (consent.Service).
type inboundRetries interface {
	Unsettled(ctx context.Context, minAge time.Duration, limit int) ([]int64, error)
}

// importRunner runs stored imports (contacts.Service).
type importRunner interface {
	ImportRun(ctx context.Context, id int64) error
	ImportFail(ctx context.Context, id int64, cause error) error
	ImportsPending(ctx context.Context, idle time.Duration, limit int) ([]int64, error)
}

// purger purges message text past retention (privacy.Service).
type purger interface {
	Purge(ctx context.Context, retention time.Duration) (map[string]int64, error)
}

// maintenanceDeps are what Maintenance needs; a nil one is skipped (a process or test
// without it).
type maintenanceDeps struct {
	sends   repairStore
	runs    runStore
	inbound inboundRetries
	imports importRunner
	privacy purger
	cloud   CloudWebhooks
	queue   *Queue
	log     *slog.Logger
}

// Maintenance runs the work the scheduler and the API queue besides sends: campaign
// launches (campaign:launch), imports (import:run), the Cloud API's stored webhooks
// (cloud:webhook), the reconciler (maintenance:reconcile) and the retention purge
// (maintenance:retention).
type Maintenance struct {
	maintenanceDeps
	opts Options
}

func newMaintenance(deps maintenanceDeps, opts Options) *Maintenance {
	return &Maintenance{maintenanceDeps: deps, opts: opts}
}

// handleLaunch materialises a run and starts dispatching it at once.
func (m *Maintenance) handleLaunch(ctx context.Context, t *asynq.Task) error {
	var p LaunchPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if _, err := m.runs.Launch(ctx, p.CampaignID, p.RunAt); err != nil {
		if apperr.CodeOf(err) == apperr.Conflict || apperr.CodeOf(err) == apperr.NotFound {
			// Paused, cancelled, or the run moved: the scheduler queues the run again when
			// it is due again; retrying this one cannot succeed.
			return fmt.Errorf("launch campaign %d: %w: %w", p.CampaignID, err, asynq.SkipRetry)
		}
		return fmt.Errorf("launch campaign %d run %s: %w", p.CampaignID, p.RunAt.Format(time.RFC3339), err)
	}
	if err := m.queue.enqueueDispatch(ctx, p.CampaignID, m.opts.DispatchPartitions); err != nil {
		m.log.WarnContext(ctx, "enqueue dispatch after launch", "campaign_id", p.CampaignID, "error", err)
	}
	return nil
}

// reconcileTask is maintenance:reconcile: the reconciler's pass, then the sweep of the
// Cloud API webhooks whose task was lost. Both repair what a crash or a Redis loss left,
// on the scheduler's reconcile period.
func (m *Maintenance) reconcileTask(ctx context.Context, t *asynq.Task) error {
	err := m.handleReconcile(ctx, t)
	if m.cloud == nil {
		return err
	}
	n, serr := m.sweepCloudWebhooks(ctx)
	if n > 0 {
		m.log.InfoContext(ctx, "reconciled", "cloud_webhooks_queued", n)
	}
	if serr != nil {
		serr = fmt.Errorf("sweep cloud webhooks: %w", serr)
	}
	return errors.Join(err, serr)
}

// retentionTask is maintenance:retention: the retention purge, then the pruning of the
// Cloud API webhooks processed more than a week ago, on the scheduler's retention
// period (hourly: each run deletes about an hour's rows).
func (m *Maintenance) retentionTask(ctx context.Context, t *asynq.Task) error {
	err := m.handleRetention(ctx, t)
	if m.cloud == nil {
		return err
	}
	if perr := m.pruneCloudWebhooks(ctx); perr != nil {
		err = errors.Join(err, fmt.Errorf("prune cloud webhooks: %w", perr))
	}
	return err
}
