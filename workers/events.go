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
	"github.com/crierhq/crier/internal/batch"
	"github.com/crierhq/crier/sender"
)

// OnEvent is the sender.EventFunc of the account connections: it turns the network's
// receipts and inbound messages into event:* tasks. It runs on the transports' goroutines,
// so it only stores and enqueues. Receipts go into event:receipts tasks of up to 256 that
// gather for receiptLinger: a transport reports them one by one, and a task (and a
// transaction) per receipt would cost as much as the send. OnEvent does not wait for that;
// Close does. An inbound message is stored in Postgres first and its task carries the row
// id, never the number or the text; OnEvent returns once it is queued. When Redis refuses
// a task the events are handled at once, in-process. A network's own opt-out signal is
// recorded at once: it is one small transaction, and nothing may be sent in between.
func (h *Handlers) OnEvent(ctx context.Context, e sender.Event) {
	ctx = context.WithoutCancel(ctx)
	switch e.Kind {
	case sender.EventDelivered, sender.EventRead, sender.EventFailed:
		p := ReceiptPayload{AccountID: e.AccountID, MessageID: e.MessageID, Status: string(e.Kind), At: e.At.UTC()}
		h.receipts.Go(receiptEvent{ReceiptPayload: p, detail: e.Error})
	case sender.EventInbound:
		in := consent.Inbound{AccountID: e.AccountID, From: e.From, Text: e.Text, ProviderID: e.ProviderID, ReceivedAt: e.At}
		if h.simulated(e.AccountID) {
			in.SimulatedBy = "account:" + itoa(e.AccountID)
		}
		if _, err := h.Inbound(ctx, in); err != nil {
			h.log.ErrorContext(ctx, "record inbound message", "account_id", e.AccountID, "error", err)
		}
	case sender.EventOptOut:
		if _, err := h.deps.Consent.ChannelOptOut(ctx, e.AccountID, e.From, e.At); err != nil {
			h.log.ErrorContext(ctx, "record the network's opt-out", "account_id", e.AccountID, "error", err)
		}
	}
}

// simulated reports whether an account is the sandbox's: its inbound messages are simulated
// and must never speak for a customer.
func (h *Handlers) simulated(accountID int64) bool {
	if h.deps.Manager == nil {
		return false
	}
	_, a, _, ok := h.deps.Manager.Held(accountID)
	return ok && a.Channel == sender.Sandbox
}

// maxReceiptsPerTask caps an event:receipts batch: a receipt is about 130 bytes of payload.
const maxReceiptsPerTask = 256

// receiptLinger is how long receipts gather before their task is queued. A receipt is in
// this process's memory that long, so a crash may lose it: a status update (delivered,
// read), never a message. whatsmeow acknowledges receipts to WhatsApp as they arrive, so
// waiting for Redis in OnEvent would not make them safer.
const receiptLinger = 20 * time.Millisecond

// Receipts that overtook their sends come back in a task of their own: after 2 s, then
// twice as long each time up to maxRetryDelay, for at most earlyReceiptAttempts tasks in all
// (about two hours: a send whose worker died is given back after Options.StaleSending and
// sent again as the same message). Then the task is archived, with its receipts, for ops.
const earlyReceiptAttempts = 30

func earlyReceiptDelay(attempt int) time.Duration {
	return min(2*time.Second<<min(attempt, 10), maxRetryDelay)
}

// receiptEvent is a receipt from a transport: the payload, and a failed receipt's reason,
// which is free text and so stays out of Redis (DESIGN §3 invariant 6).
type receiptEvent struct {
	ReceiptPayload
	detail string
}

// commitReceipts is the receipts batcher's function: the receipts that arrived together
// become one event:receipts task. When Redis refuses it, they are applied at once, with their
// reasons; a receipt that overtook its send is then lost (logged), as before batching.
func (h *Handlers) commitReceipts(ctx context.Context, in []receiptEvent) ([]batch.Result[struct{}], error) {
	p := ReceiptsPayload{Receipts: make([]ReceiptPayload, len(in))}
	details := make([]string, len(in))
	for i, r := range in {
		p.Receipts[i], details[i] = r.ReceiptPayload, r.detail
	}
	if _, err := h.enqueue(ctx, NewReceiptsTask(p)); err != nil {
		h.log.WarnContext(ctx, "enqueue receipts; applying them now", "receipts", len(in), "error", err)
		// Its own time: a slow refusal must not use up the time to apply them.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		outs, err := h.applyReceipts(actx, p.Receipts, details)
		if err != nil {
			h.log.ErrorContext(ctx, "apply receipts", "receipts", len(in), "error", err)
		}
		for i, out := range outs {
			if out.Err != nil {
				h.log.ErrorContext(ctx, "apply receipt", "account_id", in[i].AccountID, "error", out.Err)
			}
		}
	}
	return make([]batch.Result[struct{}], len(in)), nil
}

// handleReceipts applies a batch of receipts: each delivery moves forward, never back, and
// the event is logged with it. The receipts that overtook their sends come back alone in a
// new task a little later (the others are not applied again); a receipt that can never apply
// (an unknown status) archives the task once the rest is done.
func (h *Handlers) handleReceipts(ctx context.Context, t *asynq.Task) error {
	var p ReceiptsPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	outs, err := h.applyReceipts(ctx, p.Receipts, nil)
	if err != nil {
		return err // nothing applied; applying them again is safe
	}
	var early []ReceiptPayload
	var errs []error
	for i, out := range outs {
		switch {
		case out.Early():
			early = append(early, p.Receipts[i])
		case out.Err != nil:
			errs = append(errs, out.Err)
		}
	}
	if len(early) > 0 {
		next := ReceiptsPayload{Receipts: early, Attempt: p.Attempt + 1}
		if next.Attempt >= earlyReceiptAttempts {
			errs = append(errs, fmt.Errorf("%d receipts still before their sends after %d attempts", len(early), next.Attempt))
		} else if _, err := h.enqueue(ctx, NewReceiptsTask(next, asynq.ProcessIn(earlyReceiptDelay(p.Attempt)))); err != nil {
			// The whole task again: the receipts applied now change nothing the second time.
			return fmt.Errorf("queue %d receipts that overtook their sends: %w", len(early), err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errors.Join(errs...), asynq.SkipRetry)
	}
	return nil
}

// handleReceipt applies one receipt of an event:receipt task, as queued by an earlier
// version: the delivery moves forward, never back, and the event is logged with it.
func (h *Handlers) handleReceipt(ctx context.Context, t *asynq.Task) error {
	var p ReceiptPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	outs, err := h.applyReceipts(ctx, []ReceiptPayload{p}, nil)
	if err != nil {
		return err
	}
	if outs[0].Early() {
		return later(2*time.Second, "the send is not recorded yet")
	}
	return outs[0].Err
}

// applyReceipts applies receipts (details: the failed ones' reasons, or nil) and counts the
// ones that moved a delivery.
func (h *Handlers) applyReceipts(ctx context.Context, ps []ReceiptPayload, details []string) ([]campaigns.ReceiptOutcome, error) {
	rs := make([]campaigns.Receipt, len(ps))
	for i, p := range ps {
		rs[i] = campaigns.Receipt{MessageID: p.MessageID, Kind: campaigns.ReceiptKind(p.Status), At: p.At}
		if details != nil {
			rs[i].Error = details[i]
		}
	}
	outs, err := h.deps.Sends.ApplyReceipts(ctx, rs)
	if err != nil {
		return nil, err
	}
	for i, out := range outs {
		if !out.Moved {
			continue
		}
		campaign, account := itoa(out.CampaignID), itoa(out.AccountID)
		switch rs[i].Kind {
		case campaigns.ReceiptDelivered:
			h.deps.Metrics.delivered.WithLabelValues(campaign, account).Inc()
		case campaigns.ReceiptRead:
			h.deps.Metrics.read.WithLabelValues(campaign, account).Inc()
		case campaigns.ReceiptFailed:
			h.deps.Metrics.failed.WithLabelValues(campaign, account).Inc()
		}
	}
	return outs, nil
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
	if err != nil {
		return err
	}
	if !out.Duplicate && out.ContactID != 0 {
		at := p.At
		if at.IsZero() {
			at = h.now()
		}
		optOut := out.Class == consent.ClassOptOut
		r, ok, err := h.deps.Sends.RecordReply(ctx, out.ContactID, at, h.opts.ReplyWindow, optOut)
		if err != nil {
			return err
		}
		if ok && r.First {
			campaign, account := itoa(r.CampaignID), itoa(r.AccountID)
			h.deps.Metrics.replied.WithLabelValues(campaign, account).Inc()
			if optOut {
				h.deps.Metrics.optedOut.WithLabelValues(campaign, account).Inc()
			}
		}
	}
	if out.Reply != "" {
		// The reply waits for a rate token on servers of its own. If Redis refuses it, it
		// stays pending in Postgres, and the reconciler queues it again.
		if _, err := h.enqueue(ctx, NewReplyTask(p.InboundID)); err != nil {
			h.log.WarnContext(ctx, "enqueue reply; the reconciler will retry", "inbound_id", p.InboundID, "error", err)
		}
	}
	return nil
}

// handleReply sends the confirmation or help reply due to an inbound message, once: a reply
// already sent (or erased) is not sent again, and a retried send is the same message
// (ReplyMessageID). No account able to send it now means later, not a failure.
func (h *Handlers) handleReply(ctx context.Context, t *asynq.Task) error {
	var p ReplyPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	r, ok, err := h.deps.Consent.PendingReply(ctx, p.InboundID)
	if err != nil || !ok {
		return err
	}
	if err := h.Replier().Reply(ctx, r); err != nil {
		if errors.Is(err, ErrNoReplyAccount) {
			return later(5*time.Second, "no account held here can send the reply now")
		}
		return err
	}
	return h.deps.Consent.ReplySent(context.WithoutCancel(ctx), p.InboundID)
}

// Replier sends consent's confirmation and help replies through an account this process
// holds: the one the customer wrote to, or else another connected account of the same
// channel. It takes a send token like any message, so that replies count against the
// account's rate and daily cap too.
type Replier struct{ h *Handlers }

// Replier returns the Replier of this process.
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
		// A confirmation is due now (an opt-out's within minutes, by law in places): if
		// there is no token at once, campaign sends leave this account's tokens to it while
		// it waits. One that has its token at once holds no send back.
		dec, err := h.deps.Limiter.Take(ctx, id, a.Limits())
		if err == nil && !dec.Allowed {
			h.replyWaiting(id, +1)
			dec, err = h.deps.Limiter.Wait(ctx, id, a.Limits(), 30*time.Second)
			h.replyWaiting(id, -1)
		}
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

// Inbound takes a customer's message the way a transport event does (OnEvent, and the
// sandbox API): it stores the message and queues its event:inbound task, or handles it at
// once when Redis refuses the task. The outcome's InboundID is always set; its Class only
// when it was handled at once.
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
