package workers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// handleReply sends the confirmation or help reply due to an inbound message, once: a reply
// already sent (or erased) is not sent again, and a retried send is the same message
// (ReplyMessageID). No account able to send it now means later, not a failure.
func (s *Sender) handleReply(ctx context.Context, t *asynq.Task) error {
	var p ReplyPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	r, ok, err := s.replies.PendingReply(ctx, p.InboundID)
	if err != nil || !ok {
		return err
	}
	if err := s.reply(ctx, r); err != nil {
		if errors.Is(err, ErrNoReplyAccount) {
			return later(5*time.Second, "no account held here can send the reply now")
		}
		return err
	}
	return s.replies.ReplySent(context.WithoutCancel(ctx), p.InboundID)
}

// ErrNoReplyAccount means no account that could send the reply is held by this process.
var ErrNoReplyAccount = errors.New("workers: no account held here can send the reply")

// reply sends consent's confirmation or help reply through an account this process holds:
// the one the customer wrote to, or else another connected account of the same channel. It
// takes a send token like any message (sender.Pool.AcquireReply, which goes before the
// campaign sends), so that replies count against the account's rate and daily cap too. Its
// message id is derived from the inbound message, so a retried reply is the same message.
func (s *Sender) reply(ctx context.Context, r consent.Reply) error {
	if s.pool == nil {
		return ErrNoReplyAccount
	}
	candidates, err := s.replyAccounts(ctx, r.AccountID)
	if err != nil {
		return err
	}
	for _, id := range candidates {
		g, ok, err := s.pool.AcquireReply(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := s.pool.Confirm(ctx, g); err != nil {
			_ = s.pool.Refund(context.WithoutCancel(ctx), g)
			if errors.Is(err, sender.ErrLeaseMoved) {
				continue
			}
			return err
		}
		_, err = g.Transport.Send(ctx, sender.Message{ID: ReplyMessageID(r.InboundID), To: r.To, Text: r.Text})
		s.held.ReportSend(ctx, id, err)
		if err != nil {
			return fmt.Errorf("workers: reply to inbound %d through account %d: %w", r.InboundID, id, err)
		}
		s.metrics.replies.WithLabelValues(itoa(id)).Inc()
		return nil
	}
	return ErrNoReplyAccount
}

// replyAccounts are the accounts a reply to a message received by an account may go
// through: that account while this process holds it, or else the connected accounts of its
// channel.
func (s *Sender) replyAccounts(ctx context.Context, received int64) ([]int64, error) {
	if _, _, _, ok := s.held.Held(received); ok || s.records == nil {
		return []int64{received}, nil
	}
	account, err := s.records.Get(ctx, received)
	if err != nil && apperr.CodeOf(err) != apperr.NotFound {
		return nil, err
	}
	var ids []int64
	for _, id := range s.held.Connected() {
		if _, other, _, ok := s.held.Held(id); ok && other.Channel == account.Channel {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ReplyMessageID is the message id of the reply to an inbound message: the shape of a
// WhatsApp Web id, like a delivery's (msgid.Of), from a namespace of its own so that it
// never equals a delivery's.
func ReplyMessageID(inboundID int64) string {
	sum := sha256.Sum256([]byte("crier/reply/message-id/v1:" + strconv.FormatInt(inboundID, 10)))
	return "3EB0" + strings.ToUpper(hex.EncodeToString(sum[:9]))
}
