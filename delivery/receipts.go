package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/msgid"
)

// Early reports whether the receipt came before its send was recorded (Err wraps
// ErrReceiptEarly): apply it again in a moment.
func (o ReceiptOutcome) Early() bool { return errors.Is(o.Err, ErrReceiptEarly) }

// ApplyReceipts applies a batch of receipts in one transaction and returns one outcome per
// receipt, in order. Each receipt moves its delivery forward, never backwards: a read
// receipt that overtook its delivered receipt leaves the delivery read and records the
// delivered time too; a failed receipt fails only a message still "sent"; a repeated receipt
// changes nothing. Every receipt that changed something is appended to the delivery's
// events. Receipts of the same message in one batch are applied in their order, each seeing
// what the ones before it did.
//
// A receipt whose delivery is still pending (queued or sending: the send is not recorded
// yet) changes nothing and its outcome's Err wraps ErrReceiptEarly (Early); an unknown kind
// is an error of that receipt only. The returned error is for the whole batch (the
// database): then nothing was applied, and applying the batch again is safe.
//
// It takes three statements whatever the batch size: one locks the deliveries of the
// batch's message ids; one updates the rows that changed; one appends their events. A
// message id made by msgid names its delivery, which is found by primary key; other ids
// (made before migration 00010, a confirmation reply's) need a fourth statement, over the
// index of those. Each locks in id order, the keyed rows first, so that concurrent batches
// never deadlock on each other: a row is found one way only, by the shape of its id.
func (s *Sends) ApplyReceipts(ctx context.Context, rs []Receipt) ([]ReceiptOutcome, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	var keyed []int64
	var keyedIDs, others []string
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		if seen[r.MessageID] {
			continue
		}
		seen[r.MessageID] = true
		if id, ok := msgid.Delivery(r.MessageID); ok {
			keyed, keyedIDs = append(keyed, id), append(keyedIDs, r.MessageID)
		} else {
			others = append(others, r.MessageID)
		}
	}
	var outs []ReceiptOutcome
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		byMessage := make(map[string]*receiptTarget, len(seen))
		if len(keyed) > 0 {
			if err := lockReceiptTargets(ctx, tx, byMessage, lockKeyedReceiptTargets, keyed, keyedIDs); err != nil {
				return err
			}
		}
		if len(others) > 0 {
			if err := lockReceiptTargets(ctx, tx, byMessage, lockLegacyReceiptTargets, others); err != nil {
				return err
			}
		}
		var changed []*receiptTarget
		var events receiptEvents
		outs, changed, events = decideReceipts(rs, byMessage, s.now())
		if len(changed) == 0 {
			return nil
		}
		u := receiptUpdates{}
		for _, t := range changed {
			u.add(t)
		}
		if _, err := tx.Exec(ctx, applyReceiptUpdates, u.ids, u.statuses, u.delivered, u.read, u.failed, u.errors); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, appendReceiptEvents, events.deliveryIDs, events.kinds, events.details, events.at)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: apply %d receipts: %w", len(rs), err)
	}
	return outs, nil
}

// The receipts' statements. The two look-ups lock the deliveries of a batch's message ids
// in id order and read what decideReceipts needs; each returns
// id, message_id, campaign_id, account_id, status, delivered_at, read_at, failed_at.

// lockKeyedReceiptTargets finds deliveries by the ids their message ids name (msgid): by
// primary key, checking that the message id is theirs.
//
//	$1 ids bigint[], $2 message_ids text[]
const lockKeyedReceiptTargets = `
SELECT d.id, d.message_id, d.campaign_id, d.account_id, d.status, d.delivered_at, d.read_at, d.failed_at
FROM deliveries d
WHERE d.id = ANY ($1) AND d.message_id = ANY ($2)
ORDER BY d.id
FOR UPDATE`

// lockLegacyReceiptTargets finds deliveries by message ids not made by msgid (made before
// migration 00010, or a confirmation reply's), through deliveries_legacy_message_idx. The
// pattern is msgid.Pattern, word for word: the very predicate of that partial index, which
// the planner can use only when the statement repeats it (a test checks it).
//
//	$1 message_ids text[]
const lockLegacyReceiptTargets = `
SELECT d.id, d.message_id, d.campaign_id, d.account_id, d.status, d.delivered_at, d.read_at, d.failed_at
FROM deliveries d
WHERE d.message_id = ANY ($1) AND d.message_id !~ '^3EB0[0-9A-F]{16}$'
ORDER BY d.id
FOR UPDATE`

// applyReceiptUpdates sets the new state of each changed delivery, as decideReceipts left
// it: the rows are locked and each holds its whole new state.
//
//	$1 ids bigint[]                  $4 read_at timestamptz[]
//	$2 statuses text[]               $5 failed_at timestamptz[]
//	$3 delivered_at timestamptz[]    $6 errors text[] (NULL: keep the delivery's)
const applyReceiptUpdates = `
UPDATE deliveries d SET status = u.status, updated_at = now(),
	delivered_at = u.delivered_at, read_at = u.read_at, failed_at = u.failed_at,
	error = coalesce(u.error, d.error)
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::text[])
	AS u(id, status, delivered_at, read_at, failed_at, error)
WHERE d.id = u.id`

// appendReceiptEvents appends the receipts' events in the batch's order, so that a
// delivery's events keep the order of its receipts.
//
//	$1 delivery_ids bigint[], $2 kinds text[], $3 details text[] (JSON), $4 occurred_at timestamptz[]
const appendReceiptEvents = `
INSERT INTO delivery_events (delivery_id, kind, detail, occurred_at)
SELECT e.delivery_id, e.kind, e.detail::jsonb, e.occurred_at
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY
	AS e(delivery_id, kind, detail, occurred_at, n)
ORDER BY e.n`

// lockReceiptTargets runs a look-up (lockKeyedReceiptTargets, lockLegacyReceiptTargets)
// and adds the deliveries it locked to byMessage by message id.
func lockReceiptTargets(ctx context.Context, tx pgx.Tx, byMessage map[string]*receiptTarget, lookup string, args ...any) error {
	rows, err := tx.Query(ctx, lookup, args...)
	if err != nil {
		return err
	}
	var messageID string
	var t receiptTarget
	_, err = pgx.ForEachRow(rows, []any{&t.id, &messageID, &t.campaignID, &t.accountID, &t.status, &t.delivered, &t.read, &t.failed}, func() error {
		target := t
		byMessage[messageID] = &target
		return nil
	})
	return err
}

// receiptTarget is a delivery a batch of receipts applies to, as locked and as the batch
// leaves it.
type receiptTarget struct {
	id, campaignID          int64
	accountID               *int64
	status                  Status
	delivered, read, failed *time.Time
	error                   *string // the new error text, if a failed receipt gave one
	changed                 bool
}

// receiptEvents are the delivery_events rows of a batch, as columns.
type receiptEvents struct {
	deliveryIDs []int64
	kinds       []string
	details     []string // JSON
	at          []time.Time
}

// receiptUpdates are the changed deliveries of a batch, as columns.
type receiptUpdates struct {
	ids                     []int64
	statuses                []string
	delivered, read, failed []*time.Time
	errors                  []*string
}

func (u *receiptUpdates) add(t *receiptTarget) {
	u.ids = append(u.ids, t.id)
	u.statuses = append(u.statuses, string(t.status))
	u.delivered = append(u.delivered, t.delivered)
	u.read = append(u.read, t.read)
	u.failed = append(u.failed, t.failed)
	u.errors = append(u.errors, t.error)
}

// decideReceipts applies rs, in order, to the locked deliveries (by message id) in memory.
// It returns each receipt's outcome, the deliveries that changed (each once, in the order
// they first changed) and the events to append. A receipt without a time gets now.
func decideReceipts(rs []Receipt, byMessage map[string]*receiptTarget, now time.Time) ([]ReceiptOutcome, []*receiptTarget, receiptEvents) {
	outs := make([]ReceiptOutcome, len(rs))
	var changed []*receiptTarget
	var events receiptEvents
	for i, r := range rs {
		if r.At.IsZero() {
			r.At = now
		}
		t, ok := byMessage[r.MessageID]
		if !ok {
			continue // not a delivery's message (a confirmation reply): not an error
		}
		out := &outs[i]
		out.Found, out.DeliveryID, out.CampaignID = true, t.id, t.campaignID
		if t.accountID != nil {
			out.AccountID = *t.accountID
		}
		if t.status.Pending() {
			out.Err = fmt.Errorf("delivery: receipt %s: %w", r.Kind, ErrReceiptEarly)
			continue
		}
		if receiptRank[t.status] == 0 { // skipped, cancelled, expired: nothing was sent
			continue
		}
		next := t.status
		switch r.Kind {
		case ReceiptDelivered, ReceiptRead:
			if receiptRank[Status(r.Kind)] > receiptRank[t.status] {
				next = Status(r.Kind)
			}
		case ReceiptFailed:
			if t.status == StatusSent {
				next = StatusFailed
			}
		default:
			out.Err = fmt.Errorf("delivery: receipt %s: unknown receipt kind %q", r.Kind, r.Kind)
			continue
		}
		if next == t.status &&
			(r.Kind != ReceiptDelivered || t.delivered != nil) &&
			(r.Kind != ReceiptRead || t.read != nil) &&
			(r.Kind != ReceiptFailed || t.failed != nil || next != StatusFailed) {
			continue // nothing new: a repeat, or a late receipt already implied
		}
		out.Moved = next != t.status
		at := r.At
		if (r.Kind == ReceiptDelivered || r.Kind == ReceiptRead) && t.delivered == nil {
			t.delivered = &at
		}
		if r.Kind == ReceiptRead && t.read == nil {
			t.read = &at
		}
		if next == StatusFailed {
			if t.failed == nil {
				t.failed = &at
			}
			if r.Error != "" {
				text := r.Error
				t.error = &text
			}
		}
		t.status = next
		if !t.changed {
			t.changed = true
			changed = append(changed, t)
		}
		detail := map[string]string{}
		if r.Error != "" {
			detail["error"] = r.Error
		}
		b, err := json.Marshal(detail)
		if err != nil {
			panic(err) // a map of strings always marshals
		}
		events.deliveryIDs = append(events.deliveryIDs, t.id)
		events.kinds = append(events.kinds, string(r.Kind))
		events.details = append(events.details, string(b))
		events.at = append(events.at, r.At)
	}
	return outs, changed, events
}
