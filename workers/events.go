package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/batch"
	"github.com/crierhq/crier/sender"
)

// receiptStore applies receipts and replies to the deliveries (delivery.Sends).
type receiptStore interface {
	ApplyReceipts(ctx context.Context, rs []delivery.Receipt) ([]delivery.ReceiptOutcome, error)
	RecordReply(ctx context.Context, inboundID, contactID int64, at time.Time, window time.Duration, optOut bool) (delivery.ReplyOutcome, bool, error)
}

// inboundStore keeps customers' messages and runs their consent side (consent.Service).
type inboundStore interface {
	RecordInbound(ctx context.Context, in consent.Inbound) (int64, bool, error)
	ProcessInbound(ctx context.Context, id int64) (consent.Outcome, error)
	ChannelOptOut(ctx context.Context, o consent.NetworkOptOut) (bool, error)
}

// eventsDeps are what Events needs.
type eventsDeps struct {
	sends   receiptStore
	consent inboundStore
	queue   *Queue
	metrics *Metrics
	log     *slog.Logger
}

// Events turns what the networks report into tasks and applies them: receipts
// (event:receipts, and event:receipt queued by an earlier version), customers' messages
// (event:inbound) and the networks' own opt-outs. OnEvent is the transports' EventFunc;
// Inbound takes a customer's message from the sandbox API too.
type Events struct {
	eventsDeps
	opts     Options
	receipts *batch.Batcher[receiptEvent, struct{}] // OnEvent's receipts, into event:receipts tasks
}

// NewEvents returns the event handlers over deps (Sends, Consent, Metrics, Logger and
// Redis or Queue), for a process that hands them to a sender.Manager before New: see
// Deps.Events.
func NewEvents(deps Deps, opts Options) *Events {
	opts.setDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics()
	}
	q := deps.Queue
	if q == nil {
		q = NewQueue(deps.Redis, deps.Logger)
	}
	return newEvents(deps, q, opts)
}

func newEvents(deps Deps, q *Queue, opts Options) *Events {
	ev := &Events{eventsDeps: eventsDeps{sends: deps.Sends, consent: deps.Consent, queue: q, metrics: deps.Metrics,
		log: deps.Logger}, opts: opts}
	ev.receipts = batch.New(ev.commitReceipts, batch.Options{MaxSize: maxReceiptsPerTask, Timeout: time.Minute, Linger: receiptLinger})
	return ev
}

// close queues the receipts still gathering.
func (ev *Events) close() { ev.receipts.Wait() }

// OnEvent is the sender.EventFunc of the account connections: it turns the network's
// receipts and inbound messages into event:* tasks. It runs on the transports' goroutines,
// so it only stores and enqueues. Receipts go into event:receipts tasks of up to 256 that
// gather for receiptLinger: a transport reports them one by one, and a task (and a
// transaction) per receipt would cost as much as the send. OnEvent does not wait for that;
// Close does. An inbound message is stored in Postgres first and its task carries the row
// id, never the number or the text; OnEvent returns once it is queued. When Redis refuses
// a task the events are handled at once, in-process. A network's own opt-out signal is
// recorded at once: it is one small transaction, and nothing may be sent in between.
func (ev *Events) OnEvent(ctx context.Context, e sender.Event) {
	ctx = context.WithoutCancel(ctx)
	switch e.Kind {
	case sender.EventDelivered, sender.EventRead, sender.EventFailed:
		p := ReceiptPayload{AccountID: e.AccountID, MessageID: e.MessageID, Status: string(e.Kind), At: e.At.UTC()}
		ev.receipts.Go(receiptEvent{ReceiptPayload: p, detail: e.Error})
	case sender.EventInbound:
		in := consent.Inbound{AccountID: e.AccountID, From: e.From, Text: e.Text, ProviderID: e.ProviderID, ReceivedAt: e.At}
		if e.Simulated { // a simulated message must never speak for a customer
			in.SimulatedBy = "account:" + itoa(e.AccountID)
		}
		if _, err := ev.Inbound(ctx, in); err != nil {
			ev.log.ErrorContext(ctx, "record inbound message", "account_id", e.AccountID, "error", err)
		}
	case sender.EventOptOut:
		if _, err := ev.consent.ChannelOptOut(ctx, consent.NetworkOptOut{AccountID: e.AccountID, Phone: e.From, At: e.At, Network: e.Network, Detail: e.Error}); err != nil {
			ev.log.ErrorContext(ctx, "record the network's opt-out", "account_id", e.AccountID, "error", err)
		}
	}
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
func (ev *Events) commitReceipts(ctx context.Context, in []receiptEvent) ([]batch.Result[struct{}], error) {
	p := ReceiptsPayload{Receipts: make([]ReceiptPayload, len(in))}
	details := make([]string, len(in))
	for i, r := range in {
		p.Receipts[i], details[i] = r.ReceiptPayload, r.detail
	}
	if _, err := ev.queue.enqueue(ctx, NewReceiptsTask(p)); err != nil {
		ev.log.WarnContext(ctx, "enqueue receipts; applying them now", "receipts", len(in), "error", err)
		// Its own time: a slow refusal must not use up the time to apply them.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		outs, err := ev.applyReceipts(actx, p.Receipts, details)
		if err != nil {
			ev.log.ErrorContext(ctx, "apply receipts", "receipts", len(in), "error", err)
		}
		for i, out := range outs {
			if out.Err != nil {
				ev.log.ErrorContext(ctx, "apply receipt", "account_id", in[i].AccountID, "error", out.Err)
			}
		}
	}
	return make([]batch.Result[struct{}], len(in)), nil
}

// handleReceipts applies a batch of receipts: each delivery moves forward, never back, and
// the event is logged with it. The receipts that overtook their sends come back alone in a
// new task a little later (the others are not applied again); a receipt that can never apply
// (an unknown status) archives the task once the rest is done.
func (ev *Events) handleReceipts(ctx context.Context, t *asynq.Task) error {
	var p ReceiptsPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	outs, err := ev.applyReceipts(ctx, p.Receipts, nil)
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
		} else if _, err := ev.queue.enqueue(ctx, NewReceiptsTask(next, asynq.ProcessIn(earlyReceiptDelay(p.Attempt)))); err != nil {
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
func (ev *Events) handleReceipt(ctx context.Context, t *asynq.Task) error {
	var p ReceiptPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	outs, err := ev.applyReceipts(ctx, []ReceiptPayload{p}, nil)
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
func (ev *Events) applyReceipts(ctx context.Context, ps []ReceiptPayload, details []string) ([]delivery.ReceiptOutcome, error) {
	rs := make([]delivery.Receipt, len(ps))
	for i, p := range ps {
		rs[i] = delivery.Receipt{MessageID: p.MessageID, Kind: delivery.ReceiptKind(p.Status), At: p.At}
		if details != nil {
			rs[i].Error = details[i]
		}
	}
	outs, err := ev.sends.ApplyReceipts(ctx, rs)
	if err != nil {
		return nil, err
	}
	for i, out := range outs {
		if !out.Moved {
			continue
		}
		campaign, account := itoa(out.CampaignID), itoa(out.AccountID)
		switch rs[i].Kind {
		case delivery.ReceiptDelivered:
			ev.metrics.delivered.WithLabelValues(campaign, account).Inc()
		case delivery.ReceiptRead:
			ev.metrics.read.WithLabelValues(campaign, account).Inc()
		case delivery.ReceiptFailed:
			ev.metrics.failed.WithLabelValues(campaign, account).Inc()
		}
	}
	return outs, nil
}

// handleInbound runs the consent side of a customer's message (an opt-out withdraws consent,
// suppresses the number, cancels pending deliveries at once and sends one confirmation) and
// counts the reply on the campaign message it answers.
func (ev *Events) handleInbound(ctx context.Context, t *asynq.Task) error {
	var p InboundPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	return ev.processInbound(ctx, p)
}

func (ev *Events) processInbound(ctx context.Context, p InboundPayload) error {
	out, err := ev.consent.ProcessInbound(ctx, p.InboundID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return nil // erased since
	}
	if err != nil {
		return err
	}
	// A message processed before is counted too: its task is being retried because the
	// counting failed, and counting again changes nothing.
	if out.ContactID != 0 {
		at := p.At
		if at.IsZero() {
			at = ev.opts.Now()
		}
		optOut := out.Class == consent.ClassOptOut
		r, ok, err := ev.sends.RecordReply(ctx, p.InboundID, out.ContactID, at, ev.opts.ReplyWindow, optOut)
		if err != nil {
			return err
		}
		if ok && r.First {
			campaign, account := itoa(r.CampaignID), itoa(r.AccountID)
			ev.metrics.replied.WithLabelValues(campaign, account).Inc()
			if optOut {
				ev.metrics.optedOut.WithLabelValues(campaign, account).Inc()
			}
		}
	}
	if out.Reply != "" {
		// The reply waits for a rate token on servers of its own. If Redis refuses it, it
		// stays pending in Postgres, and the reconciler queues it again.
		if _, err := ev.queue.enqueue(ctx, NewReplyTask(p.InboundID)); err != nil {
			ev.log.WarnContext(ctx, "enqueue reply; the reconciler will retry", "inbound_id", p.InboundID, "error", err)
		}
	}
	return nil
}

// Inbound takes a customer's message the way a transport event does (OnEvent, and the
// sandbox API): it stores the message and queues its event:inbound task, or handles it at
// once when Redis refuses the task. The outcome's InboundID is always set; its Class only
// when it was handled at once.
func (ev *Events) Inbound(ctx context.Context, in consent.Inbound) (consent.Outcome, error) {
	id, fresh, err := ev.consent.RecordInbound(ctx, in)
	if err != nil {
		return consent.Outcome{}, err
	}
	out := consent.Outcome{InboundID: id, Duplicate: !fresh}
	if !fresh {
		return out, nil
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = ev.opts.Now()
	}
	if _, err := ev.queue.enqueue(ctx, NewInboundTask(id, at)); err != nil {
		ev.log.WarnContext(ctx, "enqueue inbound; handling it now", "inbound_id", id, "error", err)
		if err := ev.processInbound(ctx, InboundPayload{InboundID: id, At: at}); err != nil {
			return out, err
		}
	}
	return out, nil
}
