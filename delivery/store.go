package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors of the send side, to branch on with errors.Is.
var (
	// ErrDeliveryFinal: the delivery is settled (sent, failed, skipped, …) or gone; there is
	// nothing to send. Settle says it too for a delivery not in a status its outcome applies
	// to (a Released one no longer sending), which it leaves as it is.
	ErrDeliveryFinal = errors.New("delivery: the delivery is final")
	// ErrDeliveryBusy: another worker holds the delivery right now.
	ErrDeliveryBusy = errors.New("delivery: another worker is sending the delivery")
	// ErrReceiptEarly: a receipt arrived for a message whose send is not recorded yet; apply
	// it again in a moment.
	ErrReceiptEarly = errors.New("delivery: receipt before the send was recorded")
)

// Options configure Sends. Zero values get defaults.
type Options struct {
	// FrequencyCap is the cross-campaign cap the claim enforces again at send time (see
	// ClaimMany): campaigns.Service's, with the same default (2 per 24 h) and Max < 0 for off.
	FrequencyCap FrequencyCap
	Now          func() time.Time
}

// Sends makes the send-side transitions of deliveries. It is safe for concurrent use.
type Sends struct {
	pool         *pgxpool.Pool
	frequencyCap FrequencyCap // Max 0: off
	now          func() time.Time
}

// New returns the send side of the deliveries in pool.
func New(pool *pgxpool.Pool, opts Options) *Sends {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sends{pool: pool, frequencyCap: opts.FrequencyCap.WithDefault(), now: opts.Now}
}

// DispatchCampaigns returns the campaigns that may send and have due deliveries without a
// task.
func (s *Sends) DispatchCampaigns(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.id FROM campaigns c
		WHERE c.status IN ('running', 'scheduled')
		  AND EXISTS (SELECT 1 FROM deliveries d
		              WHERE d.campaign_id = c.id AND d.pending = 'queued' AND d.enqueued_at IS NULL AND d.due_at <= $1)
		ORDER BY c.id`, s.now())
	if err != nil {
		return nil, fmt.Errorf("delivery: campaigns to dispatch: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("delivery: campaigns to dispatch: %w", err)
	}
	return ids, nil
}

// Partition is one of Of disjoint parts of a campaign's deliveries: those whose id modulo
// Of is Index. Dispatchers of different partitions take different deliveries and count
// their own work in flight, so they run side by side without waiting for each other. Of
// 0 or 1 is the whole campaign.
type Partition struct {
	Index int
	Of    int
}

// Whole reports whether p is the whole campaign.
func (p Partition) Whole() bool { return p.Of <= 1 }

// args are the partition's statement parameters: the modulus and the remainder.
func (p Partition) args() (int64, int64) {
	if p.Whole() {
		return 1, 0
	}
	return int64(p.Of), int64(p.Index)
}

// DispatchRate is how fast a campaign can send, and whether it may.
type DispatchRate struct {
	// PerMinute is the sum of the per-minute rates of the campaign's accounts that can send
	// (connected, not paused or deleted), capped by the campaign's own rate.
	PerMinute int
	// Sending is false for a campaign that is not running or scheduled (paused, cancelled,
	// completed, gone): its deliveries are not dispatched.
	Sending bool
}

// DispatchRate returns the campaign's sending rate and whether it may send.
func (s *Sends) DispatchRate(ctx context.Context, campaignID int64) (DispatchRate, error) {
	var r DispatchRate
	var capRate *int
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce((SELECT sum(a.rate_per_minute) FROM accounts a
		                 WHERE a.id = ANY (c.account_ids) AND a.deleted_at IS NULL AND a.paused_at IS NULL
		                   AND a.status = 'connected'), 0),
		       c.rate_per_minute,
		       c.status IN ('running', 'scheduled')
		FROM campaigns c WHERE c.id = $1`, campaignID).Scan(&r.PerMinute, &capRate, &r.Sending)
	if errors.Is(err, pgx.ErrNoRows) {
		return DispatchRate{}, nil
	}
	if err != nil {
		return DispatchRate{}, fmt.Errorf("delivery: dispatch rate of %d: %w", campaignID, err)
	}
	if capRate != nil && *capRate < r.PerMinute {
		r.PerMinute = *capRate
	}
	return r, nil
}

// dispatchInFlight counts up to $2 of the deliveries of partition $3, $4 of a campaign
// that are handed to Asynq and not settled yet, newest task first.
//
// The partition's test is written as a CASE so that the planner takes it to keep half the
// rows, as it does any boolean expression it has no statistics for; as a plain equality on
// an expression it would take it to keep one row in two hundred, and in dispatchTake that
// estimate makes it sort the whole campaign rather than walk the index for a few thousand.
//
//	$1 campaign_id bigint, $2 count up to int, $3 partitions int, $4 partition int
const dispatchInFlight = `
SELECT count(*) FROM (
	SELECT FROM deliveries
	WHERE campaign_id = $1 AND pending IS NOT NULL AND enqueued_at IS NOT NULL
	  AND CASE WHEN id % $3 = $4 THEN true ELSE false END
	ORDER BY enqueued_at DESC LIMIT $2) f`

// DispatchInFlight counts the deliveries of a partition of the campaign that are handed to
// Asynq and not settled yet, up to countUpTo: the count reads an index entry (and, with
// several partitions, a row) per delivery in flight, and a dispatcher only needs to know
// whether there is room below its share.
//
// The count walks deliveries_inflight_idx from the newest task down, and only that way.
// Every delivery leaves two entries there (queued, then sending) that are dead once it is
// sent, and they stay until a vacuum, which on a busy table comes rarely: a million sends
// leave two million. A bitmap scan, which the planner prefers for a count, visits the heap
// page of every one of them, each time (a second or so for a million sends, a quarter of
// the database's work in a run of them). An index scan marks the dead entries it meets so
// that later scans step over them without the heap, and from the newest end it reaches
// countUpTo live entries (the work in flight was enqueued last) before most dead ones.
func (s *Sends) DispatchInFlight(ctx context.Context, campaignID int64, part Partition, countUpTo int) (int, error) {
	var n int
	mod, rem := part.args()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, dispatchInFlight, campaignID, countUpTo, mod, rem).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("delivery: work in flight of %d: %w", campaignID, err)
	}
	return n, nil
}

// dispatchTake marks up to $2 of the due deliveries of partition $4, $5 of a campaign
// that have no task as enqueued at $3 and returns their ids: the earliest due, by a walk
// of deliveries_dispatch_idx (campaign_id, due_at) over exactly those deliveries, which
// steps over the other partitions' rows (see dispatchInFlight for the CASE). SKIP LOCKED
// gives concurrent dispatchers of one partition disjoint sets.
//
// The ids go to the update as an array, which it looks up by primary key. Joined to the
// subquery instead, the update was planned as a hash join over a sequential scan of the
// whole table once a batch reached a few thousand: at a million deliveries, a second or two
// a batch rather than a fraction of one.
//
//	$1 campaign_id bigint, $2 limit int, $3 now timestamptz, $4 partitions int, $5 partition int
const dispatchTake = `
UPDATE deliveries SET enqueued_at = $3
WHERE id = ANY (ARRAY(
	SELECT id FROM deliveries
	WHERE campaign_id = $1 AND pending = 'queued' AND enqueued_at IS NULL AND due_at <= $3
	  AND CASE WHEN id % $4 = $5 THEN true ELSE false END
	ORDER BY due_at LIMIT $2
	FOR UPDATE SKIP LOCKED))
RETURNING id`

// DispatchTake marks up to limit of the earliest due deliveries of a partition of the
// campaign that have no task as enqueued and returns their ids. Concurrent
// dispatchers take disjoint sets, whatever their partitions: a delivery is taken only
// while it has no enqueued mark, and the mark is set in the same statement. The caller
// enqueues a task for each, and calls Unenqueue for those it could not enqueue.
func (s *Sends) DispatchTake(ctx context.Context, campaignID int64, part Partition, limit int) ([]int64, error) {
	if limit <= 0 {
		return nil, nil
	}
	mod, rem := part.args()
	rows, err := s.pool.Query(ctx, dispatchTake, campaignID, limit, s.now(), mod, rem)
	if err != nil {
		return nil, fmt.Errorf("delivery: dispatch campaign %d: %w", campaignID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("delivery: dispatch campaign %d: %w", campaignID, err)
	}
	return ids, nil
}

// Unenqueue forgets that queued deliveries have a task, so that the dispatcher hands them
// out again: their enqueue failed, or Redis lost the task.
func (s *Sends) Unenqueue(ctx context.Context, ids []int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET enqueued_at = NULL WHERE id = ANY ($1) AND status = 'queued'`, ids)
	if err != nil {
		return 0, fmt.Errorf("delivery: unenqueue: %w", err)
	}
	return tag.RowsAffected(), nil
}

// EnqueuedBefore returns up to limit queued deliveries handed to Asynq before the given
// time, oldest first, after afterID: the ones whose task the reconciler checks.
func (s *Sends) EnqueuedBefore(ctx context.Context, before time.Time, afterID int64, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id FROM deliveries
		WHERE pending = 'queued' AND enqueued_at IS NOT NULL AND enqueued_at < $1 AND id > $2
		ORDER BY id LIMIT $3`, before, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("delivery: enqueued deliveries: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("delivery: enqueued deliveries: %w", err)
	}
	return ids, nil
}

// Touch records that a pending delivery's task is still alive (it is waiting to retry), so
// that the reconciler does not take it for lost.
func (s *Sends) Touch(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET enqueued_at = $2 WHERE id = $1 AND status IN ('queued', 'sending')`, id, s.now())
	if err != nil {
		return fmt.Errorf("delivery: touch delivery %d: %w", id, err)
	}
	return nil
}

// Attempt is what a worker is about to send for a delivery, recorded with its claim
// (ClaimMany) before the message goes to the network. A retry after a crash or a transient
// error finds it and sends the same message through the same account (Settle(Released) keeps it), so
// that the network recognises it as the same message.
type Attempt struct {
	AccountID int64
	Locale    string
	Variant   int
	MessageID string
}

// SentInfo is what the network said when it took a message.
type SentInfo struct {
	ProviderID string
	Rendered   string
	SentAt     time.Time
}

// expireOverdue expires every queued delivery due before $1, campaign by campaign, through
// the partial indexes of the queued deliveries: those without a task by
// deliveries_dispatch_idx (campaign_id, due_at), and those handed to Asynq by
// deliveries_inflight_idx (no more than the dispatcher keeps in flight). No index reads
// every queued delivery by due time (migration 00024).
//
//	$1 due before timestamptz
const expireOverdue = `
WITH expired AS (
	UPDATE deliveries SET status = 'expired', updated_at = now()
	WHERE id = ANY (ARRAY(
		SELECT id FROM deliveries
		WHERE campaign_id = ANY (ARRAY(SELECT id FROM campaigns))
		  AND pending = 'queued' AND enqueued_at IS NULL AND due_at < $1
		UNION ALL
		SELECT id FROM deliveries
		WHERE campaign_id = ANY (ARRAY(SELECT id FROM campaigns))
		  AND enqueued_at IS NOT NULL AND pending = 'queued' AND due_at < $1))
	  AND pending = 'queued' AND due_at < $1
	RETURNING id)
INSERT INTO delivery_events (delivery_id, kind, occurred_at) SELECT id, 'expired', now() FROM expired`

// ExpireOverdue expires, in one statement, every queued delivery due before dueBefore: a
// message that could not go out within its TTL is never sent late.
func (s *Sends) ExpireOverdue(ctx context.Context, dueBefore time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, expireOverdue, dueBefore)
	if err != nil {
		return 0, fmt.Errorf("delivery: expire overdue deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ReleaseStuck gives back the deliveries left in sending since before the given time (their
// worker died): sending → queued without a task, keeping the account, variant and message
// id, so that the dispatcher sends them again as the same message through the same account.
func (s *Sends) ReleaseStuck(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET status = 'queued', enqueued_at = NULL, updated_at = now(),
			error = 'the worker stopped while sending; retried as the same message'
		WHERE sending_since < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("delivery: release stuck deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ReceiptKind is what a receipt says about a sent message.
type ReceiptKind string

// The receipt kinds, in the order a message goes through them (failed is an end of its own).
const (
	ReceiptDelivered ReceiptKind = "delivered"
	ReceiptRead      ReceiptKind = "read"
	ReceiptFailed    ReceiptKind = "failed"
)

// Receipt is what the network reported about one of our messages.
type Receipt struct {
	MessageID string
	Kind      ReceiptKind
	At        time.Time
	Error     string // failed: why
}

// ReceiptOutcome is what applying a receipt did.
type ReceiptOutcome struct {
	DeliveryID int64
	CampaignID int64
	AccountID  int64
	// Moved says the status moved forward; false for a repeated or out-of-order receipt
	// (its time is still recorded).
	Moved bool
	// Found is false for a message id that is no delivery's (a confirmation reply).
	Found bool
	// Err is this receipt's own error in a batch (ApplyReceipts): it wraps ErrReceiptEarly
	// while the send is not recorded yet (see Early), or says the kind is unknown. The
	// batch's other receipts are applied all the same.
	Err error
}

// receiptRank orders the statuses a receipt may move between; failed ranks with delivered,
// so that a failure report never undoes a delivery or a read.
var receiptRank = map[Status]int{StatusSent: 1, StatusDelivered: 2, StatusFailed: 2, StatusRead: 3}

// ReplyOutcome is the delivery a customer's reply was counted on.
type ReplyOutcome struct {
	DeliveryID int64
	CampaignID int64
	AccountID  int64
	// First is true the first time this delivery got a reply (or, for an opt-out, the first
	// opt-out): count it then, not on a repeat.
	First bool
}

// RecordReply counts a customer's reply (and, with optOut, their opt-out) on the latest
// message sent to them within window before at, and attributes their message, inbound
// message inboundID, to it (inbound_messages.delivery_id and campaign_id: the replies
// inbox). Every reply is attributed; only the first on a delivery is counted. ok is false
// when no such message exists. Repeating it changes nothing.
func (s *Sends) RecordReply(ctx context.Context, inboundID, contactID int64, at time.Time, window time.Duration, optOut bool) (ReplyOutcome, bool, error) {
	var out ReplyOutcome
	var account *int64
	var firstReply, firstOptOut bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE deliveries d SET replied_at = coalesce(d.replied_at, $2),
				opted_out_at = CASE WHEN $4 THEN coalesce(d.opted_out_at, $2) ELSE d.opted_out_at END,
				updated_at = now()
			FROM (SELECT id, replied_at AS prev_replied, opted_out_at AS prev_opted_out FROM deliveries
			      WHERE contact_id = $1 AND sent_at IS NOT NULL AND sent_at > $3 AND sent_at <= $2
			      ORDER BY sent_at DESC LIMIT 1
			      FOR UPDATE) p
			WHERE d.id = p.id
			RETURNING d.id, d.campaign_id, d.account_id, p.prev_replied IS NULL, $4 AND p.prev_opted_out IS NULL`,
			contactID, at, at.Add(-window), optOut).Scan(&out.DeliveryID, &out.CampaignID, &account, &firstReply, &firstOptOut)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE inbound_messages SET delivery_id = $2, campaign_id = $3 WHERE id = $1`,
			inboundID, out.DeliveryID, out.CampaignID); err != nil {
			return err
		}
		for kind, first := range map[string]bool{"replied": firstReply, "opted_out": firstOptOut} {
			if first {
				if _, err := tx.Exec(ctx, `INSERT INTO delivery_events (delivery_id, kind, occurred_at) VALUES ($1, $2, $3)`,
					out.DeliveryID, kind, at); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return ReplyOutcome{}, false, nil
	}
	if err != nil {
		return ReplyOutcome{}, false, fmt.Errorf("delivery: record reply: %w", err)
	}
	if account != nil {
		out.AccountID = *account
	}
	out.First = firstReply || firstOptOut
	return out, true, nil
}

// SentSince counts the messages an account sent since the given time, for seeding a daily
// counter that Redis lost (sender.Limiter.SeedDay). The Limiter counts a token for every
// message handed to the transport, sent or not, so this counts, besides the deliveries
// recorded as sent since then, those in flight through the account: claimed or waiting for
// a retry with the account pinned and a message id recorded (the message may have reached
// the network) and touched since then. That errs towards counting a message twice or one
// that never went out, the safe side of a daily cap. It still misses what the deliveries do
// not record per account and day: attempts that failed for good at the transport, the
// earlier attempts of a retried delivery, and confirmation replies (consent).
func (s *Sends) SentSince(ctx context.Context, accountID int64, since time.Time) (int, error) {
	var n int
	// Two counts, each over a partial index: deliveries_account_sent_idx for the sent ones,
	// and deliveries_inflight_idx (a few minutes of work) for those in flight.
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM deliveries WHERE account_id = $1 AND sent_at >= $2)
		     + (SELECT count(*) FROM deliveries
		        WHERE pending IS NOT NULL AND enqueued_at IS NOT NULL
		          AND account_id = $1 AND message_id IS NOT NULL AND sent_at IS NULL AND updated_at >= $2)`,
		accountID, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("delivery: sent by account %d: %w", accountID, err)
	}
	return n, nil
}

// FrequencyCap limits the marketing messages one contact gets across all campaigns: at
// most Max in any Window. Max 0 turns the cap off. The launch (campaigns) and the claim
// (ClaimMany) enforce the same cap.
type FrequencyCap struct {
	Max    int
	Window time.Duration
}

// WithDefault applies the options' rule: zero is 2 per 24 h, a Max below zero is off
// (Max 0), and a missing window is 24 h.
func (c FrequencyCap) WithDefault() FrequencyCap {
	switch {
	case c.Max == 0:
		c = FrequencyCap{Max: 2, Window: 24 * time.Hour}
	case c.Max < 0:
		c.Max = 0
	}
	if c.Window <= 0 {
		c.Window = 24 * time.Hour
	}
	return c
}
