package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
)

// Status is a delivery's state.
type Status string

// The delivery states: pending until a 2xx answer (delivered) or until it is given up
// (failed: a day of failures, or its endpoint disabled).
const (
	Pending   Status = "pending"
	Delivered Status = "delivered"
	Failed    Status = "failed"
)

// Delivery is one event for one endpoint, as the delivery log shows it. The payload is not
// in it: the log is for seeing what went wrong, and the payload may hold personal data.
type Delivery struct {
	ID            int64
	EndpointID    int64
	EventID       string
	EventType     EventType
	Status        Status
	Attempts      int
	LastStatus    *int
	LastError     string
	NextAttemptAt *time.Time
	CreatedAt     time.Time
	LastAttemptAt *time.Time
	DeliveredAt   *time.Time
}

// Deliveries lists an endpoint's deliveries, newest first: up to limit with ids below
// before (0: from the newest), with status if not empty, and the cursor of the next page
// (0: none).
func (s *Service) Deliveries(ctx context.Context, endpointID int64, status Status, before int64, limit int) ([]Delivery, int64, error) {
	if status != "" && status != Pending && status != Delivered && status != Failed {
		return nil, 0, apperr.Field("status", "must be pending, delivered or failed")
	}
	if _, err := s.Get(ctx, endpointID); err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, endpoint_id, event_id, event_type, status, attempts, last_status, last_error, next_attempt_at,
		       created_at, last_attempt_at, delivered_at
		FROM webhook_deliveries
		WHERE endpoint_id = $1 AND ($2 = '' OR status = $2) AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, endpointID, string(status), before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("webhooks: deliveries of %d: %w", endpointID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatus, &d.LastError,
			&d.NextAttemptAt, &d.CreatedAt, &d.LastAttemptAt, &d.DeliveredAt)
		return d, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("webhooks: deliveries of %d: %w", endpointID, err)
	}
	var next int64
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	return list, next, nil
}

// Replay sends a delivery again, whatever its state: it is pending again, due now, and
// queued. A replayed delivery that fails is retried while its event is less than a day
// old; an older one gets this one attempt. An endpoint that is disabled is refused
// (Conflict): enable it first.
func (s *Service) Replay(ctx context.Context, endpointID, deliveryID int64) error {
	now := s.opts.Now()
	var attempts int
	err := s.pool.QueryRow(ctx, `
		UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = $3
		FROM webhook_endpoints e
		WHERE d.id = $2 AND d.endpoint_id = $1 AND e.id = d.endpoint_id AND e.enabled
		RETURNING d.attempts`, endpointID, deliveryID, now).Scan(&attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		if e, gerr := s.Get(ctx, endpointID); gerr != nil {
			return gerr
		} else if !e.Enabled {
			return apperr.Conflictf("webhook endpoint %d is disabled: enable it before replaying its deliveries", endpointID)
		}
		return apperr.NotFoundf("webhook endpoint %d has no delivery %d", endpointID, deliveryID)
	}
	if err != nil {
		return fmt.Errorf("webhooks: replay %d: %w", deliveryID, err)
	}
	if s.opts.Queue == nil {
		return nil // the sweep queues it
	}
	// A key of its own: a retry of the same attempt may still be scheduled for later.
	key := "replay-" + strconv.Itoa(attempts) + "-" + strconv.FormatInt(now.Unix(), 10)
	// Redis refusing it is no failure of the replay: the delivery is pending and due, and
	// the relay's sweep queues it within two minutes.
	_ = s.opts.Queue.EnqueueWebhook(ctx, deliveryID, key, now)
	return nil
}
