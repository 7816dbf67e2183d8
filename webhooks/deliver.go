package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/secretbox"
)

// The delivery schedule.
const (
	// MaxAge: a delivery still failing when its event is this old is given up.
	MaxAge = 24 * time.Hour
	// DisableAfter: an endpoint failing for this long is disabled.
	DisableAfter = 3 * 24 * time.Hour
	backoffBase  = 30 * time.Second
	backoffCap   = time.Hour
	// claimLease: how long an attempt holds its delivery against another task.
	claimLease = 30 * time.Second
	// maxError is the most of an answer or an error kept in last_error.
	maxError = 200
	// maxRead is the most of an answer read (and discarded), so that a connection can be
	// reused without a large body holding the worker.
	maxRead = 4 << 10
)

// UserAgent is the User-Agent of every delivery.
const UserAgent = "Crier-Webhooks/1"

// Backoff is the delay after the attempt-th failed attempt (from 1), before jitter:
// 30 s, doubling, at most an hour.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 8 {
		return backoffCap
	}
	return min(backoffBase<<(attempt-1), backoffCap)
}

// Deliverer makes the attempts: it is the handler of webhook:deliver.
type Deliverer struct {
	pool   *pgxpool.Pool
	box    *secretbox.Box
	client *http.Client
	opts   Options
}

// NewDeliverer returns the Deliverer; it opens the endpoints' secrets with box and queues
// retries on opts.Queue.
func NewDeliverer(pool *pgxpool.Pool, box *secretbox.Box, opts Options) *Deliverer {
	opts.setDefaults()
	return &Deliverer{pool: pool, box: box, client: newClient(opts.Timeout, opts.AllowPrivate), opts: opts}
}

// claimed is a delivery taken for an attempt.
type claimed struct {
	endpointID   int64
	eventID      string
	eventType    string
	payload      []byte
	attempts     int
	createdAt    time.Time
	url          string
	enabled      bool
	secret       string
	previous     *string
	previousTill *time.Time
}

// Deliver makes one attempt at a delivery, if it is pending and due: a task that comes
// late (a replay went first) or twice finds nothing to do. On failure the next attempt is
// recorded and queued; a delivery of a disabled endpoint fails at once. Only the database
// failing is an error: a receiver failing is the delivery's state.
func (d *Deliverer) Deliver(ctx context.Context, id int64) error {
	now := d.opts.Now()
	var c claimed
	err := d.pool.QueryRow(ctx, `
		UPDATE webhook_deliveries w SET next_attempt_at = $3
		FROM webhook_endpoints e
		WHERE w.id = $1 AND w.status = 'pending' AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= $2)
		  AND e.id = w.endpoint_id
		RETURNING w.endpoint_id, w.event_id, w.event_type, w.payload::text, w.attempts, w.created_at,
		          e.url, e.enabled, e.secret_sealed, e.previous_sealed, e.previous_expires_at`,
		id, now, now.Add(claimLease)).Scan(&c.endpointID, &c.eventID, &c.eventType, &c.payload, &c.attempts, &c.createdAt,
		&c.url, &c.enabled, &c.secret, &c.previous, &c.previousTill)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // delivered, given up, not due, or its endpoint deleted
	}
	if err != nil {
		return fmt.Errorf("webhooks: claim delivery %d: %w", id, err)
	}
	if !c.enabled {
		_, err := d.pool.Exec(ctx, `
			UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = 'endpoint disabled'
			WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("webhooks: fail delivery %d: %w", id, err)
		}
		return nil
	}
	status, problem := d.attempt(ctx, id, c, now)
	return d.record(ctx, id, c, now, status, problem)
}

// attempt signs and POSTs the event; it returns the answer's status (0: none) and, unless
// it was a 2xx, what went wrong, short.
func (d *Deliverer) attempt(ctx context.Context, id int64, c claimed, now time.Time) (int, string) {
	secrets, err := d.secrets(c, now)
	if err != nil {
		return 0, err.Error()
	}
	b, err := body(c.payload)
	if err != nil {
		return 0, "the stored event does not decode"
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b))
	if err != nil {
		return 0, "the endpoint's URL is not valid"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Crier-Event-Id", c.eventID)
	req.Header.Set("Crier-Event-Type", c.eventType)
	req.Header.Set("Crier-Delivery-Id", strconv.FormatInt(id, 10))
	req.Header.Set(SignatureHeader, Sign(b, now, secrets...))
	res, err := d.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, whose query may hold the receiver's token
		}
		return 0, short(err.Error())
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, maxRead))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return res.StatusCode, ""
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return res.StatusCode, fmt.Sprintf("HTTP %d: redirects are not followed", res.StatusCode)
	}
	msg := "HTTP " + strconv.Itoa(res.StatusCode)
	if a := strings.TrimSpace(strings.ToValidUTF8(string(answer), "")); a != "" {
		msg += ": " + a
	}
	return res.StatusCode, short(msg)
}

// secrets opens the secrets that sign now: the current one, then during a rotation the
// previous one.
func (d *Deliverer) secrets(c claimed, now time.Time) ([]string, error) {
	if d.box == nil {
		return nil, errors.New("CRIER_SECRET_KEY is not set: the endpoint's secret cannot be opened")
	}
	cur, err := d.box.Open(c.secret)
	if err != nil {
		return nil, errors.New("the endpoint's secret cannot be opened: was CRIER_SECRET_KEY changed?")
	}
	out := []string{cur}
	if c.previous != nil && c.previousTill != nil && now.Before(*c.previousTill) {
		if prev, err := d.box.Open(*c.previous); err == nil {
			out = append(out, prev)
		}
	}
	return out, nil
}

// short cuts s to maxError bytes, on a character boundary.
func short(s string) string {
	if len(s) <= maxError {
		return s
	}
	s = s[:maxError]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// record stores an attempt's outcome in the delivery and its endpoint's failure streak,
// then queues the next attempt if there is one.
func (d *Deliverer) record(ctx context.Context, id int64, c claimed, now time.Time, status int, problem string) error {
	attempts := c.attempts + 1
	var lastStatus *int
	if status != 0 {
		lastStatus = &status
	}
	var next *time.Time
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if problem == "" {
			if _, err := tx.Exec(ctx, `
				UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, last_status = $3, last_error = '',
					last_attempt_at = $4, delivered_at = $4, next_attempt_at = NULL
				WHERE id = $1`, id, attempts, lastStatus, now); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, c.endpointID)
			return err
		}
		state := Failed
		if now.Sub(c.createdAt) < MaxAge {
			state = Pending
			delay := Backoff(attempts)
			delay = time.Duration(float64(delay) * (0.9 + 0.2*d.opts.Jitter())) // ±10%: receivers back up together
			t := now.Add(delay).Truncate(time.Microsecond)                      // as stored
			next = &t
		}
		if _, err := tx.Exec(ctx, `
			UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status = $4, last_error = $5,
				last_attempt_at = $6, next_attempt_at = $7
			WHERE id = $1`, id, string(state), attempts, lastStatus, problem, now, next); err != nil {
			return err
		}
		// Three days of failures (and none of success) disable the endpoint.
		_, err := tx.Exec(ctx, `
			UPDATE webhook_endpoints SET
				failing_since = coalesce(failing_since, $2),
				enabled = enabled AND coalesce(failing_since, $2) > $3,
				disabled_reason = CASE WHEN enabled AND coalesce(failing_since, $2) <= $3
					THEN 'failing since ' || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
					ELSE disabled_reason END,
				updated_at = CASE WHEN enabled AND coalesce(failing_since, $2) <= $3 THEN now() ELSE updated_at END
			WHERE id = $1`, c.endpointID, now, now.Add(-DisableAfter))
		return err
	})
	if err != nil {
		return fmt.Errorf("webhooks: record attempt of %d: %w", id, err)
	}
	if next != nil && d.opts.Queue != nil {
		// A failure leaves the delivery pending with its due time: the sweep queues it.
		_ = d.opts.Queue.EnqueueWebhook(ctx, id, strconv.Itoa(attempts), *next)
	}
	return nil
}
