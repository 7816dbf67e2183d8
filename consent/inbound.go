package consent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// Inbound is a message a customer sent to one of our accounts.
type Inbound struct {
	AccountID  int64
	From       string // the sender's number
	Text       string
	ProviderID string // the network's id of the message; a repeat of it changes nothing
	ReceivedAt time.Time
}

// Outcome is what handling an inbound message did.
type Outcome struct {
	InboundID int64
	ContactID int64 // 0 for a sender who is not a contact
	Class     Class
	// Changed says that consent or suppression changed (a first STOP, a START that
	// resubscribed); a repeated STOP changes nothing and is not answered again.
	Changed bool
	// Reply is the text due back to the sender, if any: sent through the Replier, or left
	// pending for RetryReplies when there is none or it failed.
	Reply string
	// Duplicate says that this message had been handled before.
	Duplicate bool
}

// Reply is a confirmation or help text to send back through the account that received
// the customer's message.
type Reply struct {
	InboundID int64 // the message it answers: at most one reply each
	AccountID int64
	To        string // E.164
	Text      string
}

// Replier sends replies. The worker that holds the account's connection implements it;
// it must derive the message id from InboundID, so that a retried reply is the same
// message.
type Replier interface {
	Reply(ctx context.Context, r Reply) error
}

// HandleInbound records an inbound message and acts on it: see RecordInbound and
// ProcessInbound. It is what a transport's event handler calls.
func (s *Service) HandleInbound(ctx context.Context, in Inbound) (Outcome, error) {
	id, _, err := s.RecordInbound(ctx, in)
	if err != nil {
		return Outcome{}, err
	}
	return s.ProcessInbound(ctx, id)
}

// RecordInbound stores an inbound message, once per account and provider id, and returns
// its id and whether it is new. Storing it first lets the work queue carry the id alone,
// never the number or the text.
func (s *Service) RecordInbound(ctx context.Context, in Inbound) (int64, bool, error) {
	from, _, err := contacts.NormalizePhone(in.From, "")
	if err != nil {
		return 0, false, apperr.Field("from", "%s", err)
	}
	if in.ProviderID == "" {
		return 0, false, apperr.Field("provider_id", "is required")
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = s.now()
	}
	var id int64
	err = s.pool.QueryRow(ctx, `
		INSERT INTO inbound_messages (account_id, provider_id, from_phone, phone_hash, text, received_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account_id, provider_id) DO NOTHING
		RETURNING id`, in.AccountID, in.ProviderID, from, s.hasher.Sum(from), in.Text, in.ReceivedAt).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("consent: record inbound: %w", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT id FROM inbound_messages WHERE account_id = $1 AND provider_id = $2`,
		in.AccountID, in.ProviderID).Scan(&id)
	if err != nil {
		return 0, false, fmt.Errorf("consent: record inbound: %w", err)
	}
	return id, false, nil
}

// ProcessInbound classifies a recorded message and acts on it, once:
//
//   - opt-out: withdraw marketing consent and suppress the number (also for a sender who
//     is not a contact, so that a later import cannot message them), cancel the contact's
//     pending messages, and reply exactly one confirmation — only when something changed,
//     so a second STOP gets no second confirmation;
//   - opt-in: grant marketing consent with the message as evidence, which lifts a
//     suppression, and confirm when that changed anything;
//   - help: reply the help text.
//
// The consent change, the suppression, the audit entries and the reply due are written in
// one transaction; the reply is sent after it. Processing a message again changes nothing
// but retries a reply that is still pending.
func (s *Service) ProcessInbound(ctx context.Context, id int64) (Outcome, error) {
	out := Outcome{InboundID: id}
	var reply Reply
	var cancelContact int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var from, text *string
		var hash []byte
		var processed *time.Time
		var class, replyText *string
		var replyStatus string
		var contactID *int64
		err := tx.QueryRow(ctx, `
			SELECT account_id, from_phone, phone_hash, text, processed_at, class, reply_text, reply_status, contact_id
			FROM inbound_messages WHERE id = $1 FOR UPDATE`, id).
			Scan(&reply.AccountID, &from, &hash, &text, &processed, &class, &replyText, &replyStatus, &contactID)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.NotFoundf("inbound message %d not found", id)
		}
		if err != nil {
			return err
		}
		if processed != nil { // handled before: only a pending reply remains to do
			out.Duplicate, out.Class = true, Class(deref(class))
			if contactID != nil {
				out.ContactID = *contactID
			}
			if replyStatus == "pending" && from != nil {
				out.Reply = deref(replyText)
				reply.To, reply.Text = *from, out.Reply
			}
			return nil
		}

		var locale string
		err = tx.QueryRow(ctx, `SELECT id, locale FROM contacts WHERE phone = $1`, deref(from)).Scan(&out.ContactID, &locale)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		cl := s.classifier.Explain(deref(text))
		out.Class = cl.Class
		texts := s.replies.For(locale)
		evidence := map[string]any{"inbound_message_id": id, "account_id": reply.AccountID, "match": string(cl.Match)}
		actor := "inbound:account:" + strconv.FormatInt(reply.AccountID, 10)

		switch cl.Class {
		case ClassOptOut:
			if out.ContactID != 0 {
				changed, err := s.recordIfChanged(ctx, tx, out.ContactID, Withdrawn, evidence, actor)
				if err != nil {
					return err
				}
				out.Changed = changed
				cancelContact = out.ContactID
			}
			_, added, err := suppress(ctx, tx, hash, ReasonOptOut, "keyword")
			if err != nil {
				return err
			}
			if added {
				out.Changed = true
				if err := s.audit(ctx, tx, actor, "suppression.add", "suppression", hashKey(hash), map[string]any{"reason": ReasonOptOut, "inbound_message_id": id}); err != nil {
					return err
				}
			}
			if out.Changed {
				out.Reply = texts.OptOut
			}
		case ClassOptIn:
			if out.ContactID != 0 {
				changed, err := s.recordIfChanged(ctx, tx, out.ContactID, Granted, evidence, actor)
				if err != nil {
					return err
				}
				out.Changed = changed
			} else {
				tag, err := tx.Exec(ctx, liftSQL, hash)
				if err != nil {
					return err
				}
				out.Changed = tag.RowsAffected() > 0
			}
			if out.Changed {
				out.Reply = texts.OptIn
			}
		case ClassHelp:
			out.Reply = texts.Help
		}

		status := "none"
		if out.Reply != "" {
			status = "pending"
			reply.To, reply.Text = deref(from), out.Reply
		}
		_, err = tx.Exec(ctx, `
			UPDATE inbound_messages SET class = $2, contact_id = nullif($3, 0), processed_at = now(),
				reply_text = nullif($4, ''), reply_status = $5
			WHERE id = $1`, id, out.Class, out.ContactID, out.Reply, status)
		return err
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("consent: process inbound %d: %w", id, err)
	}
	if cancelContact != 0 && s.opts.Canceller != nil {
		if _, err := s.opts.Canceller.CancelPending(ctx, cancelContact, "opted_out"); err != nil {
			// The send path checks consent again before every message; log and go on.
			s.opts.Logger.ErrorContext(ctx, "cancel pending messages", "contact_id", cancelContact, "error", err)
		}
	}
	if reply.Text != "" {
		reply.InboundID = id
		if err := s.sendReply(ctx, reply); err != nil {
			return out, err
		}
	}
	return out, nil
}

// recordIfChanged records a keyword decision for a contact unless it changes nothing: the
// state already says so and, for a grant, the number is not suppressed.
func (s *Service) recordIfChanged(ctx context.Context, tx pgx.Tx, contactID int64, status Status, evidence map[string]any, actor string) (bool, error) {
	var current *string
	var suppressed bool
	err := tx.QueryRow(ctx, `
		SELECT (SELECT status FROM consent_state WHERE contact_id = c.id AND channel = 'whatsapp' AND purpose = 'marketing'),
		       EXISTS (SELECT 1 FROM suppressions WHERE phone_hash = c.phone_hash AND reason <> 'legal')
		FROM contacts c WHERE c.id = $1`, contactID).Scan(&current, &suppressed)
	if err != nil {
		return false, err
	}
	if current != nil && Status(*current) == status && !(status == Granted && suppressed) {
		return false, nil
	}
	e, err := s.record(ctx, tx, Change{ContactID: contactID, Channel: WhatsApp, Purpose: Marketing, Status: status,
		Source: SourceKeyword, Evidence: evidence, Actor: actor, OccurredAt: s.now()})
	if err != nil {
		return false, err
	}
	action := "consent.withdraw"
	if status == Granted {
		action = "consent.grant"
	}
	return true, s.audit(ctx, tx, actor, action, "contact", strconv.FormatInt(contactID, 10),
		map[string]any{"ledger_id": e.ID, "source": SourceKeyword, "lifted_suppression": e.LiftedSuppression})
}

// sendReply hands a due reply to the Replier and marks it sent. Without a Replier, or when
// it fails, the reply stays pending for RetryReplies.
func (s *Service) sendReply(ctx context.Context, r Reply) error {
	if s.opts.Replier == nil {
		return nil
	}
	if err := s.opts.Replier.Reply(ctx, r); err != nil {
		return fmt.Errorf("consent: reply to inbound %d: %w", r.InboundID, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE inbound_messages SET reply_status = 'sent' WHERE id = $1`, r.InboundID); err != nil {
		return fmt.Errorf("consent: reply to inbound %d: %w", r.InboundID, err)
	}
	return nil
}

// Unsettled returns the ids of inbound messages older than minAge that are not settled:
// never processed (their event task was lost, e.g. with Redis) or processed with a reply
// still due. A reconciler processes them again; processing is idempotent, so a message
// whose task is merely slow is not acted on twice. Without this, a STOP whose task Redis
// lost would never be honoured.
func (s *Service) Unsettled(ctx context.Context, minAge time.Duration, limit int) ([]int64, error) {
	cutoff := s.now().Add(-minAge)
	rows, err := s.pool.Query(ctx, `
		(SELECT id FROM inbound_messages WHERE processed_at IS NULL AND recorded_at < $1 ORDER BY id LIMIT $2)
		UNION
		(SELECT id FROM inbound_messages
		 WHERE reply_status = 'pending' AND processed_at < $1 AND from_phone IS NOT NULL ORDER BY id LIMIT $2)
		ORDER BY id LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("consent: unsettled inbound: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("consent: unsettled inbound: %w", err)
	}
	return ids, nil
}

func (s *Service) audit(ctx context.Context, tx pgx.Tx, actor, action, targetType, targetID string, detail map[string]any) error {
	_, err := audit.Write(ctx, tx, audit.Entry{Actor: actor, Action: action, TargetType: targetType, TargetID: targetID, Status: 200, Detail: detail})
	return err
}

// hashKey shortens a phone hash for audit targets: enough to find the suppression,
// useless for recovering the number.
func hashKey(hash []byte) string { return fmt.Sprintf("%x", hash[:8]) }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
