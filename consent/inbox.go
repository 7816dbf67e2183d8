package consent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
)

// The replies inbox: the messages customers sent to our accounts, with the campaign
// message each answered (delivery.Sends.RecordReply attributes it) and whether someone has
// handled it.
//
// A reply is an inbound message whose text Crier still holds. Erasure and the retention
// purge set the text to NULL, and such a message leaves the inbox: there is nothing left to
// read or answer, and an unhandled one would otherwise stay in the unhandled list forever.

// InboxReply is a customer's message as the inbox shows it (Reply is the other way: our
// confirmation to them). Text and Phone are personal data:
// the API masks them for roles that may not see them.
type InboxReply struct {
	ID         int64
	AccountID  int64
	ContactID  *int64 // nil: the sender is not (or no longer) a contact
	CampaignID *int64 // the campaign message it answered; nil: none within the reply window
	DeliveryID *int64
	Class      Class // "" until the message is processed
	Text       string
	Phone      string // the sender's number, E.164
	ReceivedAt time.Time
	HandledAt  *time.Time // nil: not handled yet
	HandledBy  string     // who marked it handled ("key:…")
}

// Handled says whether someone has marked the reply handled.
func (r InboxReply) Handled() bool { return r.HandledAt != nil }

// ReplyFilter selects replies. Zero fields select everything.
type ReplyFilter struct {
	CampaignID int64
	AccountID  int64
	ContactID  int64
	Handled    *bool // nil: both
	// Cursor is the id of the last reply of the previous page: this page starts below it.
	Cursor int64
	Limit  int // default DefaultReplyLimit, at most MaxReplyLimit
}

// The page sizes of ReplyList.
const (
	DefaultReplyLimit = 50
	MaxReplyLimit     = 1000
)

const replyColumns = `id, account_id, contact_id, campaign_id, delivery_id, coalesce(class, ''), text,
	coalesce(from_phone, ''), received_at, handled_at, handled_by`

func scanReply(row pgx.Row) (InboxReply, error) {
	var r InboxReply
	err := row.Scan(&r.ID, &r.AccountID, &r.ContactID, &r.CampaignID, &r.DeliveryID, &r.Class, &r.Text, &r.Phone,
		&r.ReceivedAt, &r.HandledAt, &r.HandledBy)
	return r, err
}

// replyList pages through the replies, newest first. Every filter is a fixed predicate
// that a zero value turns off; the statement runs with plan_cache_mode force_custom_plan,
// so that each execution is planned with its values and the predicates switched off fold
// away. The filters then walk their indexes from the newest end: a campaign's replies
// inbound_messages_campaign_idx (campaign_id, id), the unhandled ones
// inbound_messages_unhandled_idx, a contact's inbound_messages_contact_idx, and the rest
// the primary key. A generic plan would keep every OR and read the primary key whatever
// the filter.
//
//	$1 cursor bigint, $2 campaign_id bigint, $3 account_id bigint, $4 contact_id bigint,
//	$5 handled boolean (NULL: both), $6 limit int
const replyList = `
SELECT ` + replyColumns + `
FROM inbound_messages
WHERE text IS NOT NULL
  AND ($1::bigint = 0 OR id < $1)
  AND ($2::bigint = 0 OR campaign_id = $2)
  AND ($3::bigint = 0 OR account_id = $3)
  AND ($4::bigint = 0 OR contact_id = $4)
  AND ($5::boolean IS NULL OR ($5 AND handled_at IS NOT NULL) OR (NOT $5 AND handled_at IS NULL))
ORDER BY id DESC
LIMIT $6`

// ReplyList returns a page of the replies that f selects, newest first, and the cursor of
// the next page (0: this is the last).
func (s *Service) ReplyList(ctx context.Context, f ReplyFilter) ([]InboxReply, int64, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultReplyLimit
	}
	f.Limit = min(f.Limit, MaxReplyLimit)
	var list []InboxReply
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, replyList, f.Cursor, f.CampaignID, f.AccountID, f.ContactID, f.Handled, f.Limit+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboxReply, error) { return scanReply(r) })
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("consent: list replies: %w", err)
	}
	var next int64
	if len(list) > f.Limit {
		list = list[:f.Limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

// replyHandle marks a reply handled by $2 at $3, keeping the first handler of one handled
// before, and says whether it was unhandled until now.
//
//	$1 id bigint, $2 actor text, $3 now timestamptz
const replyHandle = `
UPDATE inbound_messages m SET handled_at = coalesce(p.prev_at, $3),
	handled_by = CASE WHEN p.prev_at IS NULL THEN $2 ELSE m.handled_by END
FROM (SELECT id, handled_at AS prev_at FROM inbound_messages WHERE id = $1 AND text IS NOT NULL FOR UPDATE) p
WHERE m.id = p.id
RETURNING m.id, m.account_id, m.contact_id, m.campaign_id, m.delivery_id, coalesce(m.class, ''), m.text,
	coalesce(m.from_phone, ''), m.received_at, m.handled_at, m.handled_by, p.prev_at IS NULL`

// ReplyHandle marks a reply handled by actor, and returns it and whether it changed: marking
// a handled reply again changes nothing (its first handler and time stay). It answers
// NotFound for an id that is no reply (unknown, or its text erased or purged).
func (s *Service) ReplyHandle(ctx context.Context, id int64, actor string) (InboxReply, bool, error) {
	var r InboxReply
	var changed bool
	err := s.pool.QueryRow(ctx, replyHandle, id, actor, s.now()).Scan(&r.ID, &r.AccountID, &r.ContactID, &r.CampaignID,
		&r.DeliveryID, &r.Class, &r.Text, &r.Phone, &r.ReceivedAt, &r.HandledAt, &r.HandledBy, &changed)
	if errors.Is(err, pgx.ErrNoRows) {
		return InboxReply{}, false, apperr.NotFoundf("reply %d not found", id)
	}
	if err != nil {
		return InboxReply{}, false, fmt.Errorf("consent: handle reply %d: %w", id, err)
	}
	return r, changed, nil
}
