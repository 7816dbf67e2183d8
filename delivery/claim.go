package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/consent"
)

// The set-based forms of the send path's steps. A worker sends many messages at once, and
// a statement per message per step would make PostgreSQL the bottleneck; the workers
// coalesce the steps of concurrent sends (internal/batch) into these, one statement for
// all. Each returns one result per input, in order.

// selectDeliveries reads deliveries as the send path sees them: Columns.
//
//	$1 ids bigint[]
const selectDeliveries = `
SELECT d.id, d.run_id, d.campaign_id, d.contact_id, d.status, coalesce(d.skip_reason, ''),
	d.due_at, d.attempts, d.account_id, d.variant, coalesce(d.locale, ''), coalesce(d.message_id, ''),
	coalesce(d.provider_id, ''), coalesce(d.rendered, ''), coalesce(d.error, ''), d.sent_at, d.delivered_at,
	d.read_at, d.failed_at, d.replied_at, d.opted_out_at, d.updated_at
FROM deliveries d WHERE d.id = ANY ($1)`

// Deliveries returns the deliveries with the given ids as the send path sees them; an id
// that is no delivery's is missing from the map.
func (s *Sends) Deliveries(ctx context.Context, ids []int64) (map[int64]Delivery, error) {
	rows, err := s.pool.Query(ctx, selectDeliveries, ids)
	if err != nil {
		return nil, fmt.Errorf("delivery: deliveries: %w", err)
	}
	out := make(map[int64]Delivery, len(ids))
	var d Delivery
	_, err = pgx.ForEachRow(rows, d.Fields(), func() error {
		out[d.ID] = d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: deliveries: %w", err)
	}
	return out, nil
}

// ClaimRequest asks to claim one delivery and, with a MessageID, to record the attempt about
// to be made in the same statement.
type ClaimRequest struct {
	ID      int64
	Attempt Attempt
}

// ClaimResult is the outcome of claiming one delivery: the claimed delivery, or
// ErrDeliveryFinal or ErrDeliveryBusy (wrapped).
type ClaimResult struct {
	Delivery Delivery
	// Skip, for a claimed delivery, is why it may not be sent after all, read in the claim's
	// transaction: a consent exclusion (consent.Exclusion), SkipContactErased or
	// SkipFrequencyCapped. "" means send.
	Skip SkipReason
	Err  error
}

// frequencyCapLockClass is the first key of the advisory locks the claim takes on contacts,
// a class of their own: the other advisory locks in Crier use the one-key form, whose keys
// never meet the two-key form's.
const frequencyCapLockClass int32 = 0x63617073 // "caps"

// lockContacts takes, in one order for every transaction (so that two claims cannot
// deadlock), a transaction-scoped advisory lock on each contact that a marketing delivery
// among $1 is for. A contact id past 2^31 shares its lock with a smaller one: more waiting,
// never less exclusion.
//
//	$1 ids bigint[] (deliveries), $2 lock class int (frequencyCapLockClass)
const lockContacts = `
SELECT count(pg_advisory_xact_lock($2, k)) FROM (
	SELECT DISTINCT (d.contact_id % 2147483648)::int AS k
	FROM deliveries d JOIN campaign_runs r ON r.id = d.run_id AND r.purpose = 'marketing'
	WHERE d.id = ANY ($1) AND d.contact_id IS NOT NULL
	ORDER BY k) c`

// claimDeliveries claims deliveries for sending and returns each one claimed with what the
// send must know now. A delivery is claimed when it is queued, or left in sending since
// before $3 (its worker died): it goes to sending with one more attempt. The request's
// attempt (account, locale, variant, message id) is recorded when it has one (a message id)
// and the delivery has none pinned to an account; SET reads the row as it was, so the four
// columns make the same test. RETURNING adds, after Columns:
//   - the contact's exclusion now, by contact_eligibility (empty when it may be messaged), or
//     'contact_erased' (SkipContactErased) when the contact is gone;
//   - with the cap on ($10 > 0), for a marketing run's delivery to a contact, how many other
//     marketing messages the contact was sent in the window or is being sent.
//
// The cap's count is two scans of deliveries_contact_idx: the messages sent in the window,
// and those not sent yet. The window is a row comparison on the index's two columns, which
// only deliveries_contact_idx can serve: as a plain sent_at >= $11, a generic plan over
// stale statistics (a table analysed when nothing was sent yet, or never) walked
// deliveries_sent_idx instead, every message sent in the window for each delivery claimed,
// and a million-message campaign slowed to a few hundred a second as it went. The second says status, not sending_since: the planner would
// otherwise walk deliveries_sending_idx, every message in flight, once per delivery. Both
// read the statement's snapshot, which does not show its own changes: a delivery it takes
// back from a dead worker (in sending, stale) is left out, as the batch is counted in Go.
//
//	$1 ids bigint[]               $7 message_ids text[] ('' for no attempt)
//	$2 now timestamptz            $8 channel text
//	$3 stale_before timestamptz   $9 purpose text
//	$4 account_ids bigint[]       $10 cap_max int (0: no frequency cap)
//	$5 locales text[]             $11 cap_since timestamptz
//	$6 variants int[]
const claimDeliveries = `
UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, updated_at = $2,
	enqueued_at = coalesce(d.enqueued_at, $2),
	account_id = CASE WHEN t.message_id <> '' AND (d.account_id IS NULL OR d.message_id IS NULL) THEN t.account_id ELSE d.account_id END,
	locale     = CASE WHEN t.message_id <> '' AND (d.account_id IS NULL OR d.message_id IS NULL) THEN t.locale ELSE d.locale END,
	variant    = CASE WHEN t.message_id <> '' AND (d.account_id IS NULL OR d.message_id IS NULL) THEN t.variant ELSE d.variant END,
	message_id = CASE WHEN t.message_id <> '' AND (d.account_id IS NULL OR d.message_id IS NULL) THEN t.message_id ELSE d.message_id END
FROM unnest($1::bigint[], $4::bigint[], $5::text[], $6::int[], $7::text[]) AS t(id, account_id, locale, variant, message_id)
WHERE d.id = t.id AND (d.status = 'queued' OR (d.status = 'sending' AND d.updated_at < $3))
RETURNING d.id, d.run_id, d.campaign_id, d.contact_id, d.status, coalesce(d.skip_reason, ''),
	d.due_at, d.attempts, d.account_id, d.variant, coalesce(d.locale, ''), coalesce(d.message_id, ''),
	coalesce(d.provider_id, ''), coalesce(d.rendered, ''), coalesce(d.error, ''), d.sent_at, d.delivered_at,
	d.read_at, d.failed_at, d.replied_at, d.opted_out_at, d.updated_at,
	coalesce((SELECT coalesce(e.exclusion, '') FROM contact_eligibility($8, $9) e WHERE (e.contact).id = d.contact_id),
	         'contact_erased'),
	CASE WHEN $10::int > 0 AND d.contact_id IS NOT NULL
	          AND (SELECT r.purpose FROM campaign_runs r WHERE r.id = d.run_id) = 'marketing'
	THEN ((SELECT count(*) FROM deliveries o JOIN campaign_runs r ON r.id = o.run_id AND r.purpose = 'marketing'
	       WHERE o.contact_id = d.contact_id AND (o.contact_id, o.sent_at) >= (d.contact_id, $11::timestamptz))
	    + (SELECT count(*) FROM deliveries o JOIN campaign_runs r ON r.id = o.run_id AND r.purpose = 'marketing'
	       WHERE o.contact_id = d.contact_id AND o.sent_at IS NULL AND o.status = 'sending'
	         AND NOT (o.id = ANY ($1) AND o.updated_at < $3)))::int
	END`

// ClaimMany claims deliveries (claimDeliveries) and, in the same statement, records each
// request's attempt and checks the contact's eligibility (consent and suppression, for the
// channel and purpose given) now. An attempt already recorded (account and message id) is
// kept: a retry goes through the same account as the message that may have reached the
// network, and the caller compares the returned AccountID with the account it meant to use.
// An id given twice is claimed once: the later ones are busy.
//
// The consent check is part of the claim: an opt-out committed before the statement began
// is seen, and one processed after it finds the delivery in sending, not queued.
//
// With the frequency cap on, a delivery of a marketing run is skipped (SkipFrequencyCapped)
// when its contact already has the cap's number of marketing messages sent in the window
// or being sent, counting the ones this batch lets through before it. The launch checks the
// cap too, but concurrent launches cannot see each other's deliveries; the claim is exact:
// it locks the batch's contacts first (lockContacts), in the same transaction, so that the
// claim statement's snapshot, taken once the locks are held, sees every other claim of
// those contacts that passed.
func (s *Sends) ClaimMany(ctx context.Context, reqs []ClaimRequest, staleBefore time.Time, ch consent.Channel, p consent.Purpose) ([]ClaimResult, error) {
	now := s.now()
	n := len(reqs)
	ids, accounts, locales, variants, messageIDs := make([]int64, n), make([]int64, n), make([]string, n), make([]int32, n), make([]string, n)
	for i, r := range reqs {
		ids[i], accounts[i], locales[i], variants[i], messageIDs[i] = r.ID, r.Attempt.AccountID, r.Attempt.Locale, int32(r.Attempt.Variant), r.Attempt.MessageID
	}
	type claim struct {
		d    Delivery
		skip SkipReason // consent's, or SkipContactErased
		// capped, for a delivery the cap applies to (cap on, a marketing run, a contact),
		// counts the contact's other marketing messages sent in the window or being sent.
		capped *int32
	}
	claimed := make(map[int64]claim, n)
	var c claim
	err := s.queryLocked(ctx, ids, func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, c.d.Fields(&c.skip, &c.capped), func() error {
			claimed[c.d.ID] = c
			return nil
		})
		return err
	}, claimDeliveries, ids, now, staleBefore, accounts, locales, variants, messageIDs, ch, p,
		s.frequencyCap.Max, now.Add(-s.frequencyCap.Window))
	if err != nil {
		return nil, fmt.Errorf("delivery: claim deliveries: %w", err)
	}
	var missed []int64
	for _, id := range ids {
		if _, ok := claimed[id]; !ok {
			missed = append(missed, id)
		}
	}
	statuses := map[int64]Status{}
	if len(missed) > 0 {
		rows, err := s.pool.Query(ctx, `SELECT id, status FROM deliveries WHERE id = ANY ($1)`, missed)
		if err != nil {
			return nil, fmt.Errorf("delivery: claim deliveries: %w", err)
		}
		var id int64
		var status Status
		if _, err := pgx.ForEachRow(rows, []any{&id, &status}, func() error {
			statuses[id] = status
			return nil
		}); err != nil {
			return nil, fmt.Errorf("delivery: claim deliveries: %w", err)
		}
	}
	out := make([]ClaimResult, n)
	given := make(map[int64]bool, len(claimed))
	passed := map[int64]int{} // per contact, the capped deliveries of this batch let through
	for i, id := range ids {
		c, ok := claimed[id]
		switch {
		case ok && !given[id]:
			if c.skip == "" && c.capped != nil {
				contact := *c.d.ContactID
				if int(*c.capped)+passed[contact] >= s.frequencyCap.Max {
					c.skip = SkipFrequencyCapped
				} else {
					passed[contact]++
				}
			}
			out[i].Delivery, out[i].Skip, given[id] = c.d, c.skip, true
		case ok, !statuses[id].Final(): // claimed by the first of two requests, or held by another worker
			out[i].Err = fmt.Errorf("delivery: claim delivery %d: %w", id, ErrDeliveryBusy)
		default: // settled, or no such delivery
			out[i].Err = fmt.Errorf("delivery: claim delivery %d: %w", id, ErrDeliveryFinal)
		}
	}
	return out, nil
}

// queryLocked runs a statement on deliveries ids and reads its rows with read, after
// lockContacts in the same transaction when the frequency cap is on.
func (s *Sends) queryLocked(ctx context.Context, ids []int64, read func(pgx.Rows) error, query string, args ...any) error {
	if s.frequencyCap.Max <= 0 {
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		return read(rows)
	}
	// A batch is one implicit transaction in one round trip: the locks are held until the
	// statement's changes commit.
	b := &pgx.Batch{}
	b.Queue(lockContacts, ids, frequencyCapLockClass)
	b.Queue(query, args...)
	br := s.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		return errors.Join(fmt.Errorf("lock contacts: %w", err), br.Close())
	}
	rows, err := br.Query()
	if err == nil {
		err = read(rows)
	}
	return errors.Join(err, br.Close())
}

// markSent records sent messages: sending → sent, with the network's id, the text as sent
// and the time, and appends each one's sent event. One statement, so one transaction: the
// status and its event together. It returns the ids it moved.
//
//	$1 ids bigint[]            $4 sent_at timestamptz[]
//	$2 provider_ids text[]     $5 now timestamptz (the events' time)
//	$3 rendered text[]
const markSent = `
WITH sent AS (
	UPDATE deliveries d SET status = 'sent', provider_id = nullif(t.provider_id, ''), rendered = t.rendered,
		sent_at = t.sent_at, error = NULL, updated_at = now()
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS t(id, provider_id, rendered, sent_at)
	WHERE d.id = t.id AND d.status = 'sending'
	RETURNING d.id),
events AS (
	INSERT INTO delivery_events (delivery_id, kind, occurred_at) SELECT id, 'sent', $5 FROM sent)
SELECT id FROM sent`

// MarkSentMany records sent messages (markSent): one error per delivery (nil, or
// ErrDeliveryFinal for one no longer sending).
func (s *Sends) MarkSentMany(ctx context.Context, ids []int64, sent []SentInfo) ([]error, error) {
	now := s.now()
	providers, rendered, at := make([]string, len(sent)), make([]string, len(sent)), make([]time.Time, len(sent))
	for i, si := range sent {
		providers[i], rendered[i], at[i] = si.ProviderID, si.Rendered, si.SentAt
		if at[i].IsZero() {
			at[i] = now
		}
	}
	rows, err := s.pool.Query(ctx, markSent, ids, providers, rendered, at, now)
	if err != nil {
		return nil, fmt.Errorf("delivery: mark sent: %w", err)
	}
	return s.perID(rows, ids, "mark sent")
}

// perID reads the ids a statement changed and returns, per input id, nil if it was
// changed and ErrDeliveryFinal otherwise. An id given twice counts once.
func (s *Sends) perID(rows pgx.Rows, ids []int64, what string) ([]error, error) {
	changed := make(map[int64]bool, len(ids))
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		changed[id] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("delivery: %s: %w", what, err)
	}
	out := make([]error, len(ids))
	for i, id := range ids {
		if changed[id] {
			delete(changed, id)
			continue
		}
		out[i] = fmt.Errorf("delivery: %s of delivery %d: %w", what, id, ErrDeliveryFinal)
	}
	return out, nil
}
