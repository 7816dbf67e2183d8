package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Outcome is how Settle moves one delivery: Failed, Skipped, Expired, Released or Parked,
// and nothing else (the zero Outcome is refused). Each is one fixed statement, conditional
// on the delivery's status as the transitions table says.
type Outcome struct {
	move   move
	reason string     // Failed: the error; Released: the error, "" for none
	skip   SkipReason // Skipped
	keep   bool       // Released: keep the account, variant and message id
}

// Failed is the outcome of a delivery that cannot be sent, with why: pending → failed,
// with a failed event.
func Failed(reason string) Outcome { return Outcome{move: moveFailed, reason: reason} }

// Skipped is the outcome of a delivery that is not to be sent, with why: pending →
// skipped, with a skipped event.
func Skipped(reason SkipReason) Outcome { return Outcome{move: moveSkipped, skip: reason} }

// Expired is the outcome of a delivery not sent within its TTL: pending → expired, with
// an expired event.
func Expired() Outcome { return Outcome{move: moveExpired} }

// Released gives a claimed delivery back for a later attempt: sending → queued, its task
// still alive (it retries), with reason as its error ("" for none). With keepAccount the
// account, variant and message id stay pinned, because the message may have reached the
// network through that account; otherwise the account is forgotten (the account itself
// failed) and the retry may use another. No event.
func Released(keepAccount bool, reason string) Outcome {
	return Outcome{move: moveReleased, keep: keepAccount, reason: reason}
}

// Parked gives a claimed or queued delivery back without a task: its campaign is paused,
// and the dispatcher hands it out again once the campaign resumes. No event.
func Parked() Outcome { return Outcome{move: moveParked} }

// The statements of Settle, one per outcome. Each names the statuses it moves a delivery
// from in its WHERE, as the transitions table says (a test runs each against a delivery in
// every status), and returns the id it moved.

// settleFailed: $1 id bigint, $2 error text.
const settleFailed = `
UPDATE deliveries SET status = 'failed', error = $2, failed_at = now(), updated_at = now()
WHERE id = $1 AND status IN ('queued', 'sending')
RETURNING id`

// settleSkipped: $1 id bigint, $2 skip_reason text.
const settleSkipped = `
UPDATE deliveries SET status = 'skipped', skip_reason = $2, updated_at = now()
WHERE id = $1 AND status IN ('queued', 'sending')
RETURNING id`

// settleExpired: $1 id bigint.
const settleExpired = `
UPDATE deliveries SET status = 'expired', updated_at = now()
WHERE id = $1 AND status IN ('queued', 'sending')
RETURNING id`

// settleReleased: $1 id bigint, $2 keep_account boolean, $3 error text (” for none).
const settleReleased = `
UPDATE deliveries SET status = 'queued', error = nullif($3, ''), enqueued_at = now(), updated_at = now(),
	account_id = CASE WHEN $2 THEN account_id END
WHERE id = $1 AND status = 'sending'
RETURNING id`

// settleParked: $1 id bigint.
const settleParked = `
UPDATE deliveries SET status = 'queued', enqueued_at = NULL, updated_at = now()
WHERE id = $1 AND status IN ('queued', 'sending')
RETURNING id`

// appendEvent appends one delivery's event: $1 delivery_id bigint, $2 kind text,
// $3 occurred_at timestamptz.
const appendEvent = `INSERT INTO delivery_events (delivery_id, kind, occurred_at) VALUES ($1, $2, $3)`

// Settle moves one delivery as the outcome says, in one conditional statement; Failed,
// Skipped and Expired append their event in the same transaction. A delivery that is not
// in a status the outcome applies to (transitions), or that does not exist, is left as it
// is and Settle returns ErrDeliveryFinal (wrapped).
func (s *Sends) Settle(ctx context.Context, id int64, o Outcome) error {
	t, ok := transitions[o.move]
	if !ok || t.settle == "" {
		return fmt.Errorf("delivery: settle delivery %d: no outcome", id)
	}
	var args []any
	switch o.move {
	case moveFailed:
		args = []any{id, o.reason}
	case moveSkipped:
		args = []any{id, string(o.skip)}
	case moveReleased:
		args = []any{id, o.keep, o.reason}
	default:
		args = []any{id}
	}
	var err error
	if t.event == "" {
		var got int64
		err = s.pool.QueryRow(ctx, t.settle, args...).Scan(&got)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var got int64
			if err := tx.QueryRow(ctx, t.settle, args...).Scan(&got); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, appendEvent, id, t.event, s.now())
			return err
		})
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("delivery: delivery %d → %s: %w", id, t.to, ErrDeliveryFinal)
	}
	if err != nil {
		return fmt.Errorf("delivery: delivery %d → %s: %w", id, t.to, err)
	}
	return nil
}
