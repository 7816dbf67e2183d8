package consent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	// SimulatedBy names who simulated the message (the sandbox API's caller, "key:…"), and
	// is empty for a real one. A simulated message is recorded with source sandbox and
	// lifts only what the sandbox itself suppressed: it never speaks for a customer.
	SimulatedBy string
}

// Outcome is what handling an inbound message did.
type Outcome struct {
	InboundID int64
	ContactID int64 // 0 for a sender who is not a contact
	Class     Class
	// Changed says that consent or suppression changed (a first STOP, a START that
	// resubscribed); a repeated STOP changes nothing and is not answered again.
	Changed bool
	// Reply is the text due back to the sender, if any. It is recorded as pending with the
	// message, for the workers to send separately (PendingReply, ReplySent), so that an
	// opt-out never waits for a send.
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

// HandleInbound records an inbound message and acts on it: see RecordInbound and
// ProcessInbound.
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
	from, err := contacts.NewPhone(in.From, "", s.hasher)
	if err != nil {
		return 0, false, apperr.Field("from", "%s", err)
	}
	// What a network sends is stored and classified whatever its bytes: a NUL character,
	// which PostgreSQL's text refuses, must not make a STOP disappear.
	in.Text, in.ProviderID = storableText(in.Text), storableText(in.ProviderID)
	if in.ProviderID == "" {
		return 0, false, apperr.Field("provider_id", "is required")
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = s.now()
	}
	var id int64
	err = s.pool.QueryRow(ctx, `
		INSERT INTO inbound_messages (account_id, provider_id, from_phone, phone_hash, text, received_at, simulated_by)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
		ON CONFLICT (account_id, provider_id) DO NOTHING
		RETURNING id`, in.AccountID, in.ProviderID, from.E164, from.Hash, in.Text, in.ReceivedAt, in.SimulatedBy).Scan(&id)
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
//   - opt-out: withdraw marketing consent and suppress the number for every purpose (also
//     for a sender who is not a contact, so that a later import cannot message them),
//     cancel the contact's pending messages, and make one confirmation due — only when
//     something changed, so a second STOP gets no second confirmation;
//   - opt-in: grant marketing consent with the message as evidence, which lifts the
//     number's suppressions (not a legal one), and confirm when the number may be
//     messaged again;
//   - help: make the help text due.
//
// A simulated message (Inbound.SimulatedBy) is recorded with source sandbox: its STOP
// suppresses like any other, but its START lifts only what the sandbox suppressed.
//
// The consent change, the suppression, the audit entries and the reply due are written in
// one transaction, and the pending messages are cancelled right after it: nothing here
// waits for an account, a rate limit or a send. The reply is left pending for the workers
// (PendingReply, ReplySent). Processing a message again changes nothing and answers
// Duplicate, with the reply if it is still due.
func (s *Service) ProcessInbound(ctx context.Context, id int64) (Outcome, error) {
	out := Outcome{InboundID: id}
	var cancelContact int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var accountID int64
		var from, text, simulatedBy *string
		var hash []byte
		var processed *time.Time
		var class, replyText *string
		var replyStatus string
		var contactID *int64
		err := tx.QueryRow(ctx, `
			SELECT account_id, from_phone, phone_hash, text, processed_at, class, reply_text, reply_status, contact_id, simulated_by
			FROM inbound_messages WHERE id = $1 FOR UPDATE`, id).
			Scan(&accountID, &from, &hash, &text, &processed, &class, &replyText, &replyStatus, &contactID, &simulatedBy)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.NotFoundf("inbound message %d not found", id)
		}
		if err != nil {
			return err
		}
		if processed != nil { // handled before: only a pending reply may remain to do
			out.Duplicate, out.Class = true, Class(deref(class))
			if contactID != nil {
				out.ContactID = *contactID
			}
			if replyStatus == "pending" && from != nil {
				out.Reply = deref(replyText)
			}
			return nil
		}

		var locale string
		err = tx.QueryRow(ctx, `SELECT id, locale FROM contact_keys WHERE phone = $1`, deref(from)).Scan(&out.ContactID, &locale)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		cl := s.classifier.Explain(deref(text))
		out.Class = cl.Class
		texts := s.replies.For(locale)
		evidence := map[string]any{"inbound_message_id": id, "account_id": accountID, "match": string(cl.Match)}
		source, actor := SourceKeyword, "inbound:account:"+strconv.FormatInt(accountID, 10)
		if simulatedBy != nil {
			source, actor = SourceSandbox, "sandbox:"+*simulatedBy
			evidence["simulated_by"] = *simulatedBy
		}

		switch cl.Class {
		case ClassOptOut:
			// The number first, also for a sender who is no contact, and also when the
			// state said withdrawn already (the number may not be suppressed yet).
			added, err := suppress(ctx, tx, [][]byte{hash}, Purposes, ReasonOptOut, source, actor)
			if err != nil {
				return err
			}
			if added {
				out.Changed = true
				if err := s.audit(ctx, tx, actor, "suppression.add", "suppression", hashKey(hash),
					map[string]any{"reason": ReasonOptOut, "source": source, "inbound_message_id": id}); err != nil {
					return err
				}
			}
			if out.ContactID != 0 {
				changed, err := s.recordIfChanged(ctx, tx, out.ContactID, Withdrawn, source, evidence, actor)
				if err != nil {
					return err
				}
				out.Changed = out.Changed || changed
				cancelContact = out.ContactID
			}
			if out.Changed {
				out.Reply = texts.OptOut
			}
		case ClassOptIn:
			if out.ContactID != 0 {
				changed, err := s.recordIfChanged(ctx, tx, out.ContactID, Granted, source, evidence, actor)
				if err != nil {
					return err
				}
				out.Changed = changed
			} else {
				tag, err := tx.Exec(ctx, liftSQL, hash, nil, source.liftCeiling())
				if err != nil {
					return err
				}
				out.Changed = tag.RowsAffected() > 0
			}
			// Confirm only what is true: a number still suppressed (a legal reason, or a
			// real opt-out that a simulated START cannot lift) is not subscribed again.
			still, err := suppressionOf(ctx, tx, hash, Marketing)
			if err != nil {
				return err
			}
			if out.Changed && still == nil {
				out.Reply = texts.OptIn
			}
		case ClassHelp:
			out.Reply = texts.Help
		}

		status := "none"
		if out.Reply != "" {
			status = "pending"
		}
		// processed_at is the clock's time, not the transaction's start: the last statement
		// before the commit, so that received_at → processed_at is the opt-out's latency.
		_, err = tx.Exec(ctx, `
			UPDATE inbound_messages SET class = $2, contact_id = nullif($3, 0), processed_at = clock_timestamp(),
				reply_text = nullif($4, ''), reply_status = $5
			WHERE id = $1`, id, out.Class, out.ContactID, out.Reply, status)
		return err
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("consent: process inbound %d: %w", id, err)
	}
	if cancelContact != 0 {
		s.cancelPending(ctx, cancelContact, "opted_out")
	}
	return out, nil
}

// NetworkOptOut is a network's own signal that the person with this number stopped
// marketing messages from the business.
type NetworkOptOut struct {
	AccountID int64
	Phone     string // E.164
	At        time.Time
	// Network is who reported it: "whatsapp" (Meta's error 131050) is recorded with
	// source whatsapp; any other network with source channel.
	Network string
	Detail  string // the network's words, kept as evidence
}

// ChannelOptOut records a network's own opt-out signal: it withdraws the person's
// marketing consent, suppresses the number for marketing, and cancels their pending
// messages. No confirmation is due: the network told the person already. It reports
// whether anything changed; the same signal again changes nothing.
func (s *Service) ChannelOptOut(ctx context.Context, o NetworkOptOut) (bool, error) {
	accountID, phone, at := o.AccountID, o.Phone, o.At
	source := SourceChannel
	if o.Network == "whatsapp" {
		source = SourceWhatsApp
	}
	p, err := contacts.NewPhone(phone, "", s.hasher)
	if err != nil {
		return false, apperr.Field("from", "%s", err)
	}
	e164, hash := p.E164, p.Hash
	actor := "channel:account:" + strconv.FormatInt(accountID, 10)
	var changed bool
	var contactID int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM contact_keys WHERE phone = $1`, e164).Scan(&contactID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		added, err := suppress(ctx, tx, [][]byte{hash}, []Purpose{Marketing}, ReasonOptOut, source, actor)
		if err != nil {
			return err
		}
		if added {
			changed = true
			if err := s.audit(ctx, tx, actor, "suppression.add", "suppression", hashKey(hash),
				map[string]any{"reason": ReasonOptOut, "source": source, "purpose": Marketing}); err != nil {
				return err
			}
		}
		if contactID != 0 {
			evidence := map[string]any{"account_id": accountID, "signal": "opt_out", "at": at.UTC().Format(time.RFC3339)}
			if o.Network != "" {
				evidence["network"] = o.Network
			}
			if o.Detail != "" {
				evidence["error"] = o.Detail
			}
			recorded, err := s.recordIfChanged(ctx, tx, contactID, Withdrawn, source, evidence, actor)
			changed = changed || recorded
			return err
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("consent: the network's opt-out on account %d: %w", accountID, err)
	}
	if contactID != 0 {
		s.cancelPending(ctx, contactID, "opted_out")
	}
	return changed, nil
}

// recordIfChanged records a customer's marketing decision (a keyword, a simulated keyword,
// the network's signal) for a contact unless it changes nothing: the state already says so
// and, for a grant, nothing the source may lift is suppressed.
func (s *Service) recordIfChanged(ctx context.Context, tx pgx.Tx, contactID int64, status Status, source Source,
	evidence map[string]any, actor string) (bool, error) {
	var current *string
	var liftable bool
	err := tx.QueryRow(ctx, `
		SELECT (SELECT status FROM consent_state WHERE contact_id = c.id AND channel = 'whatsapp' AND purpose = 'marketing'),
		       EXISTS (SELECT 1 FROM suppressions WHERE phone_hash = c.phone_hash AND suppression_strength(reason, source) <= $2)
		FROM contact_keys c WHERE c.id = $1`, contactID, source.liftCeiling()).Scan(&current, &liftable)
	if err != nil {
		return false, err
	}
	if current != nil && Status(*current) == status && !(status == Granted && liftable) {
		return false, nil
	}
	r, err := s.record(ctx, tx, Change{ContactID: contactID, Channel: WhatsApp, Purpose: Marketing, Status: status,
		Source: source, Evidence: evidence, Actor: actor, OccurredAt: s.now()})
	if err != nil {
		return false, err
	}
	action := "consent.withdraw"
	if status == Granted {
		action = "consent.grant"
	}
	return true, s.audit(ctx, tx, actor, action, "contact", strconv.FormatInt(contactID, 10),
		map[string]any{"ledger_id": r.ID, "source": source, "lifted_suppression": r.LiftedSuppression})
}

// PendingReply returns the reply still due for an inbound message, if there is one: its
// text, the account that received the message and the sender's number.
func (s *Service) PendingReply(ctx context.Context, inboundID int64) (Reply, bool, error) {
	r := Reply{InboundID: inboundID}
	err := s.pool.QueryRow(ctx, `
		SELECT account_id, from_phone, reply_text FROM inbound_messages
		WHERE id = $1 AND reply_status = 'pending' AND from_phone IS NOT NULL AND reply_text IS NOT NULL`, inboundID).
		Scan(&r.AccountID, &r.To, &r.Text)
	if errors.Is(err, pgx.ErrNoRows) {
		return Reply{}, false, nil
	}
	if err != nil {
		return Reply{}, false, fmt.Errorf("consent: pending reply to inbound %d: %w", inboundID, err)
	}
	return r, true, nil
}

// ReplySent records that the reply to an inbound message went out.
func (s *Service) ReplySent(ctx context.Context, inboundID int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE inbound_messages SET reply_status = 'sent' WHERE id = $1 AND reply_status = 'pending'`, inboundID); err != nil {
		return fmt.Errorf("consent: reply to inbound %d sent: %w", inboundID, err)
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

// storableText drops NUL characters and replaces invalid UTF-8 with U+FFFD, so that text
// from outside can be stored in PostgreSQL and read as it will be stored.
func storableText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
