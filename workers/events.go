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

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// OnEvent is the sender.EventFunc of the account connections: it turns the network's
// receipts and inbound messages into event:* tasks. It runs on the transports' goroutines,
// so it only stores and enqueues. An inbound message is stored in Postgres first and its
// task carries the row id, never the number or the text. When Redis refuses the task the
// event is handled at once, in-process, so that nothing is lost.
func (h *Handlers) OnEvent(ctx context.Context, e sender.Event) {
	ctx = context.WithoutCancel(ctx)
	switch e.Kind {
	case sender.EventDelivered, sender.EventRead, sender.EventFailed:
		p := ReceiptPayload{AccountID: e.AccountID, MessageID: e.MessageID, Status: string(e.Kind), At: e.At.UTC()}
		if _, err := h.enqueue(ctx, NewReceiptTask(p)); err != nil {
			h.log.WarnContext(ctx, "enqueue receipt; applying it now", "account_id", e.AccountID, "error", err)
			if err := h.applyReceipt(ctx, p, e.Error); err != nil {
				h.log.ErrorContext(ctx, "apply receipt", "account_id", e.AccountID, "error", err)
			}
		}
	case sender.EventInbound:
		id, fresh, err := h.deps.Consent.RecordInbound(ctx, consent.Inbound{
			AccountID: e.AccountID, From: e.From, Text: e.Text, ProviderID: e.ProviderID, ReceivedAt: e.At})
		if err != nil {
			h.log.ErrorContext(ctx, "record inbound message", "account_id", e.AccountID, "error", err)
			return
		}
		if !fresh {
			return
		}
		if _, err := h.enqueue(ctx, NewInboundTask(id, e.At)); err != nil {
			h.log.WarnContext(ctx, "enqueue inbound; handling it now", "inbound_id", id, "error", err)
			if err := h.processInbound(ctx, InboundPayload{InboundID: id, At: e.At}); err != nil {
				h.log.ErrorContext(ctx, "handle inbound", "inbound_id", id, "error", err)
			}
		}
	}
}

// handleReceipt applies a receipt: the delivery moves forward, never back, and the event is
// logged with it.
func (h *Handlers) handleReceipt(ctx context.Context, t *asynq.Task) error {
	var p ReceiptPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	err := h.applyReceipt(ctx, p, "")
	if errors.Is(err, campaigns.ErrReceiptEarly) {
		return later(2*time.Second, "the send is not recorded yet")
	}
	return err
}

func (h *Handlers) applyReceipt(ctx context.Context, p ReceiptPayload, detail string) error {
	out, err := h.deps.Sends.ApplyReceipt(ctx, campaigns.Receipt{MessageID: p.MessageID, Kind: campaigns.ReceiptKind(p.Status), At: p.At, Error: detail})
	if err != nil {
		return err
	}
	if !out.Moved {
		return nil
	}
	campaign, account := itoa(out.CampaignID), itoa(out.AccountID)
	switch campaigns.ReceiptKind(p.Status) {
	case campaigns.ReceiptDelivered:
		h.deps.Metrics.delivered.WithLabelValues(campaign, account).Inc()
	case campaigns.ReceiptRead:
		h.deps.Metrics.read.WithLabelValues(campaign, account).Inc()
	case campaigns.ReceiptFailed:
		h.deps.Metrics.failed.WithLabelValues(campaign, account).Inc()
	}
	return nil
}

// handleInbound runs the consent side of a customer's message (an opt-out withdraws consent,
// suppresses the number, cancels pending deliveries at once and sends one confirmation) and
// counts the reply on the campaign message it answers.
func (h *Handlers) handleInbound(ctx context.Context, t *asynq.Task) error {
	var p InboundPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	return h.processInbound(ctx, p)
}

func (h *Handlers) processInbound(ctx context.Context, p InboundPayload) error {
	out, err := h.deps.Consent.ProcessInbound(ctx, p.InboundID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return nil // erased since
	}
	if err != nil && out.InboundID == 0 {
		return err
	}
	if !out.Duplicate && out.ContactID != 0 {
		at := p.At
		if at.IsZero() {
			at = h.now()
		}
		optOut := out.Class == consent.ClassOptOut
		r, ok, rerr := h.deps.Sends.RecordReply(ctx, out.ContactID, at, h.opts.ReplyWindow, optOut)
		if rerr != nil {
			return errors.Join(err, rerr)
		}
		if ok && r.First {
			campaign, account := itoa(r.CampaignID), itoa(r.AccountID)
			h.deps.Metrics.replied.WithLabelValues(campaign, account).Inc()
			if optOut {
				h.deps.Metrics.optedOut.WithLabelValues(campaign, account).Inc()
			}
		}
	}
	if err != nil {
		// The reply could not go out (no account held here, or a send failure): it stays
		// pending in Postgres and this task comes back; the reconciler retries pending
		// replies too.
		return later(5*time.Second, "confirmation reply pending: "+err.Error())
	}
	return nil
}

// Replier sends consent's confirmation and help replies through an account this process
// holds: the one the customer wrote to, or else another connected account of the same
// channel. It takes a send token like any message, so that replies count against the
// account's rate and daily cap too.
type Replier struct{ h *Handlers }

var _ consent.Replier = Replier{}

// Replier returns the consent.Replier of this process.
func (h *Handlers) Replier() Replier { return Replier{h: h} }

// ErrNoReplyAccount means no account that could send the reply is held by this process.
var ErrNoReplyAccount = errors.New("workers: no account held here can send the reply")

// Reply sends r. Its message id is derived from the inbound message, so a retried reply is
// the same message.
func (r Replier) Reply(ctx context.Context, reply consent.Reply) error {
	h := r.h
	if h.deps.Manager == nil {
		return ErrNoReplyAccount
	}
	candidates := []int64{reply.AccountID}
	if _, _, _, ok := h.deps.Manager.Held(reply.AccountID); !ok && h.deps.Accounts != nil {
		candidates = nil
		received, err := h.deps.Accounts.Get(ctx, reply.AccountID)
		if err != nil && apperr.CodeOf(err) != apperr.NotFound {
			return err
		}
		for _, id := range h.deps.Manager.Connected() {
			if _, other, _, ok := h.deps.Manager.Held(id); ok && other.Channel == received.Channel {
				candidates = append(candidates, id)
			}
		}
	}
	for _, id := range candidates {
		tr, a, token, ok := h.deps.Manager.Held(id)
		if !ok {
			continue
		}
		// A confirmation is due now (an opt-out's within minutes, by law in places): while
		// it waits, campaign sends leave this account's tokens to it.
		h.replyWaiting(id, +1)
		dec, err := h.deps.Limiter.Wait(ctx, id, a.Limits(), 30*time.Second)
		h.replyWaiting(id, -1)
		if err != nil {
			return err
		}
		if !dec.Allowed {
			continue
		}
		if ok, err := h.deps.Manager.CheckLease(ctx, id, token); err != nil || !ok {
			_ = h.deps.Limiter.Refund(context.WithoutCancel(ctx), dec)
			continue
		}
		_, err = tr.Send(ctx, sender.Message{ID: ReplyMessageID(reply.InboundID), To: reply.To, Text: reply.Text})
		h.deps.Manager.ReportSend(ctx, id, err)
		if err != nil {
			return fmt.Errorf("workers: reply to inbound %d through account %d: %w", reply.InboundID, id, err)
		}
		h.deps.Metrics.replies.WithLabelValues(itoa(id)).Inc()
		return nil
	}
	return ErrNoReplyAccount
}

// ReplyMessageID is the message id of the reply to an inbound message: the shape of a
// WhatsApp Web id, like whatsapp.MessageID, from a namespace of its own so that it never
// equals a delivery's.
func ReplyMessageID(inboundID int64) string {
	sum := sha256.Sum256([]byte("crier/reply/message-id/v1:" + strconv.FormatInt(inboundID, 10)))
	return "3EB0" + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// Inbound takes a customer's message the way a transport event does, for the sandbox API: it
// stores the message and queues its event:inbound task, or handles it at once when Redis
// refuses the task. The outcome's InboundID is always set; its Class only when it was
// handled at once.
func (h *Handlers) Inbound(ctx context.Context, in consent.Inbound) (consent.Outcome, error) {
	id, fresh, err := h.deps.Consent.RecordInbound(ctx, in)
	if err != nil {
		return consent.Outcome{}, err
	}
	out := consent.Outcome{InboundID: id, Duplicate: !fresh}
	if !fresh {
		return out, nil
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = h.now()
	}
	if _, err := h.enqueue(ctx, NewInboundTask(id, at)); err != nil {
		h.log.WarnContext(ctx, "enqueue inbound; handling it now", "inbound_id", id, "error", err)
		if err := h.processInbound(ctx, InboundPayload{InboundID: id, At: at}); err != nil {
			return out, err
		}
	}
	return out, nil
}
