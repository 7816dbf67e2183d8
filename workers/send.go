package workers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsapp"
	"github.com/crierhq/crier/templates"
)

// handleSend sends one delivery, following DESIGN §2:
//
//  1. load the delivery and its recipient; stop if the delivery is final or the campaign
//     paused or cancelled; expire it past its TTL;
//  2. pick an account among the campaign's accounts this process holds, by the rotation
//     rule, that has a rate token and daily budget (waiting up to MaxTokenWait for a rate
//     token); none → retry later, not a failure;
//  3. pick the variant; claim the delivery (queued → sending), record the attempt (account,
//     variant, message id) and re-check consent and suppression now, in one statement;
//  4. render, send with the deterministic message id, record the result.
//
// At most one message per delivery: the claim admits one worker at a time; the account,
// variant and message id are recorded with it, before the network is called, and reused by
// any retry, so a retry after a crash is the same message through the same account, which
// the network recognises (the sandbox stores one row per message id). The database steps
// are shared with the sends running at the same time (sendSteps). The work runs on a
// goroutine whose stack has already grown (stacks).
func (h *Handlers) handleSend(ctx context.Context, t *asynq.Task) (err error) {
	h.stacks.run(func() { err = h.sendTask(ctx, t) })
	return err
}

func (h *Handlers) sendTask(ctx context.Context, t *asynq.Task) error {
	var p SendPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if h.deps.Manager == nil {
		return later(h.opts.NoAccountDelay, "this process holds no accounts")
	}
	err := h.send(ctx, p.DeliveryID)
	if errors.Is(err, campaigns.ErrDeliveryFinal) {
		return nil // settled meanwhile (sent, opted out, cancelled): nothing to do
	}
	return err
}

func (h *Handlers) send(ctx context.Context, id int64) error {
	s := h.deps.Sends
	ld, err := h.steps.load.Do(ctx, id)
	if err != nil {
		return err
	}
	d := ld.delivery
	if d.Status.Final() {
		return nil
	}
	if d.Status == campaigns.Sending && h.now().Sub(d.UpdatedAt) < h.opts.StaleSending {
		return nil // another worker holds it; the reconciler takes it back if that worker dies
	}
	camp, err := h.campaigns.get(d.CampaignID, func() (campaigns.SendCampaign, error) {
		return s.SendCampaign(ctx, d.CampaignID)
	})
	if err != nil {
		return err
	}
	switch {
	case camp.Status == "cancelled":
		return h.skip(ctx, d, campaigns.SkipCampaignCancelled)
	case camp.Paused():
		return s.Park(ctx, id) // dispatched again on resume
	case h.now().After(d.DueAt.Add(h.opts.TTL)):
		if err := s.Expire(ctx, id); err != nil {
			return err
		}
		h.deps.Metrics.expired.WithLabelValues(itoa(d.CampaignID)).Inc()
		return nil
	case ld.contact == nil:
		return h.skip(ctx, d, campaigns.SkipContactErased)
	}
	contact := *ld.contact
	tpl, err := h.templates.get(camp.TemplateID, func() (templates.Stored, error) {
		return h.deps.Templates.Get(ctx, camp.TemplateID)
	})
	if err != nil {
		return err
	}

	acct, err := h.takeAccount(ctx, camp, d)
	if err != nil {
		var rl *retryLater
		if errors.As(err, &rl) {
			// The task waits in Asynq; tell the reconciler it is alive.
			if terr := s.Touch(ctx, id); terr != nil {
				return terr
			}
		}
		return err
	}
	sent := false
	defer func() {
		if !sent {
			acct.refund(ctx, h)
		}
	}()

	choice := h.choose(tpl, contact.Locale, d, acct.id)
	msgID := whatsapp.MessageID(d.ID)
	claim, err := h.steps.claim.Do(ctx, campaigns.ClaimRequest{ID: id,
		Attempt: campaigns.Attempt{AccountID: acct.id, Locale: choice.Locale, Variant: choice.Variant, MessageID: msgID}})
	if err != nil {
		if errors.Is(err, campaigns.ErrDeliveryBusy) {
			return nil
		}
		return err
	}
	d = claim.Delivery
	// Consent and suppression as the claim read them: a STOP processed from here on finds
	// this delivery in "sending", and whatever was processed before is seen. The claim also
	// applies the frequency cap, exactly across workers (frequency_capped).
	if claim.Skip != "" {
		return h.skip(ctx, d, claim.Skip)
	}
	if d.AccountID == nil || *d.AccountID != acct.id {
		// Another attempt was recorded since the delivery was loaded: the retry must go
		// through that account.
		return h.releaseLater(ctx, d, true, "the delivery is pinned to another account")
	}
	if d.MessageID != "" {
		// The recorded id: the message may have reached the network under it, and an
		// attempt recorded before migration 00010 has an id of the older shape.
		msgID = d.MessageID
	}
	choice = h.choose(tpl, contact.Locale, d, acct.id) // the recorded choice
	text, err := h.deps.Engine.Render(ctx, tpl.Template, choice, templates.Data{
		Name: contact.Name, Email: contact.Email, Locale: contact.Locale, Country: contact.Country,
		Timezone: contact.Timezone, Tags: contact.Tags, Attributes: contact.Attributes,
		Campaign: templates.Campaign{Name: camp.Name},
	})
	if err != nil {
		if ctx.Err() != nil {
			return h.release(ctx, d, true, err)
		}
		// The message stays with the delivery for the template's author; it may quote a
		// contact's value, so it is not logged.
		if ferr := s.MarkFailed(ctx, id, err.Error()); ferr != nil {
			return ferr
		}
		h.countFailure(ctx, camp, acct.id)
		return fmt.Errorf("delivery %d: render: %w", id, asynq.SkipRetry)
	}

	if ok, err := h.deps.Manager.CheckLease(ctx, acct.id, acct.token); err != nil || !ok {
		// Another process has the account now; nothing was sent.
		return h.releaseLater(ctx, d, ld.delivery.AccountID != nil, "the account's lease moved")
	}

	sent = true // from here the message may reach the network: the token is spent
	res, serr := acct.transport.Send(ctx, sender.Message{ID: msgID, To: contact.Phone, Text: text})
	h.deps.Manager.ReportSend(ctx, acct.id, serr)
	campaign, account := itoa(camp.ID), itoa(acct.id)
	switch {
	case serr == nil:
		if _, err := h.steps.sent.Do(ctx, sentReq{id, campaigns.SentInfo{ProviderID: res.ProviderID, Rendered: text, SentAt: res.SentAt}}); err != nil {
			return err
		}
		h.remember(acct.id, tpl.ID, choice)
		h.deps.Metrics.sent.WithLabelValues(campaign, account).Inc()
		h.errors.Record(camp.ID, false)
		return nil
	case errors.Is(serr, sender.ErrPermanent):
		if err := s.MarkFailed(context.WithoutCancel(ctx), id, serr.Error()); err != nil {
			return err
		}
		h.deps.Metrics.failed.WithLabelValues(campaign, account).Inc()
		h.countFailure(ctx, camp, acct.id)
		return fmt.Errorf("delivery %d: %w: %w", id, serr, asynq.SkipRetry)
	case errors.Is(serr, sender.ErrAccount):
		// The account failed, not the message (the Manager pauses it): another account
		// sends it, soon and without counting a failure.
		return h.releaseLater(ctx, d, false, "account failure: "+serr.Error())
	default:
		h.countFailure(ctx, camp, acct.id)
		if lastAttempt(ctx) {
			if err := s.MarkFailed(context.WithoutCancel(ctx), id, serr.Error()); err != nil {
				return err
			}
			h.deps.Metrics.failed.WithLabelValues(campaign, account).Inc()
			return fmt.Errorf("delivery %d: %w: %w", id, serr, asynq.SkipRetry)
		}
		// Transient: the message may have reached the network, so the retry keeps the
		// account (and the message id) and backs off.
		if err := s.Release(context.WithoutCancel(ctx), id, true, serr.Error()); err != nil {
			return err
		}
		return fmt.Errorf("delivery %d: send through account %d: %w", id, acct.id, serr)
	}
}

// heldAccount is an account this process holds, with a send token taken from it.
type heldAccount struct {
	id        int64
	token     int64
	transport sender.Transport
	decision  sender.LimitDecision
	campaign  sender.LimitDecision // the campaign's own rate token, if it has a cap
}

func (a *heldAccount) refund(ctx context.Context, h *Handlers) {
	ctx = context.WithoutCancel(ctx)
	if err := h.deps.Limiter.Refund(ctx, a.decision); err != nil {
		h.log.WarnContext(ctx, "refund send token", "account_id", a.id, "error", err)
	}
}

// takeAccount picks the account for a delivery and takes a send token from it. The
// candidates are the campaign's accounts this process holds (or, for a delivery already
// attempted, its pinned account alone), in rotation order. It takes the first token free at
// once; failing that it waits up to MaxTokenWait for the soonest rate token, so that the
// configured rate is reached. Otherwise it returns a retryLater for when a token is due.
func (h *Handlers) takeAccount(ctx context.Context, camp campaigns.SendCampaign, d campaigns.Delivery) (*heldAccount, error) {
	candidates := camp.AccountIDs
	if d.AccountID != nil && d.MessageID != "" {
		candidates = []int64{*d.AccountID} // a previous attempt may have reached the network
	}
	usable := func(id int64) bool {
		_, _, _, ok := h.deps.Manager.Held(id)
		return ok
	}
	waiting := false // a reply waits for one of the accounts: this send comes back later
	order := sender.Order(camp.Rotation, candidates, *d.ContactID, h.turn(camp.ID), usable)
	if len(order) == 0 {
		return nil, later(h.opts.NoAccountDelay, "none of the campaign's accounts is held by this worker")
	}

	var camDecision sender.LimitDecision
	if camp.RatePerMinute > 0 {
		dec, err := h.waitAlone(ctx, -camp.ID, sender.AccountLimits{RatePerMinute: camp.RatePerMinute})
		if err != nil {
			return nil, err
		}
		if !dec.Allowed {
			return nil, later(dec.RetryAfter, "the campaign's rate cap")
		}
		camDecision = dec
	}

	type refusal struct {
		id    int64
		after time.Duration
	}
	var refused []refusal // by the rate alone: a token is due soon
	soonest := time.Duration(1 << 62)
	for _, id := range order {
		tr, a, token, ok := h.deps.Manager.Held(id)
		if !ok {
			continue
		}
		if h.replyPending(id) {
			waiting = true
			continue
		}
		dec, err := h.deps.Limiter.Take(ctx, id, a.Limits())
		if err != nil {
			return nil, err
		}
		if dec.Allowed {
			return &heldAccount{id: id, token: token, transport: tr, decision: dec, campaign: camDecision}, nil
		}
		soonest = min(soonest, dec.RetryAfter)
		if dec.Reason == sender.LimitedByRate && dec.RetryAfter <= h.opts.MaxTokenWait {
			refused = append(refused, refusal{id, dec.RetryAfter})
		}
	}
	// Wait for a token, as one of at most waitersPerKey waiters of the account in this
	// process: of the account with the soonest token and a free slot, or else of whichever
	// account's slot frees first. A waiter or two per account take each token as it comes
	// due; a crowd would only race for it, and with a burst of 1 a token taken late is lost,
	// so a crowd makes the account slower. And a send that queued for one account would
	// leave the others' tokens untaken while its queue is long.
	slices.SortStableFunc(refused, func(a, b refusal) int { return cmp.Compare(a.after, b.after) })
	keys := make([]int64, len(refused))
	for i, r := range refused {
		keys[i] = r.id
	}
	began := time.Now()
	id, release, ok, err := h.waitSlot(ctx, keys)
	if err != nil {
		return nil, err
	}
	if ok {
		defer release()
		if tr, a, token, held := h.deps.Manager.Held(id); held {
			dec, err := h.deps.Limiter.Wait(ctx, id, a.Limits(), max(h.opts.MaxTokenWait-time.Since(began), 0))
			if err != nil {
				return nil, err
			}
			if dec.Allowed {
				return &heldAccount{id: id, token: token, transport: tr, decision: dec, campaign: camDecision}, nil
			}
			soonest = dec.RetryAfter
		}
	}
	if waiting && len(refused) == 0 {
		return nil, later(time.Second, "a reply to a customer goes first")
	}
	return nil, later(soonest, "no account has a send token")
}

// waitersPerKey is how many sends of a process may wait for the tokens of one limiter key.
const waitersPerKey = 2

// waitSlots returns the waiter slots of a limiter key: a send holds one while it waits.
func (h *Handlers) waitSlots(key int64) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	slots, ok := h.waiters[key]
	if !ok {
		if len(h.waiters) > 10_000 { // keys of deleted accounts and finished campaigns
			clear(h.waiters)
		}
		slots = make(chan struct{}, waitersPerKey)
		h.waiters[key] = slots
	}
	return slots
}

// waitSlot takes a waiter slot of one of the limiter keys (accounts, or a campaign's own
// rate as its negated id): the first key's with a free slot, in order, or else whichever
// frees first within MaxTokenWait. ok is false when none did; release gives the slot back.
func (h *Handlers) waitSlot(ctx context.Context, keys []int64) (key int64, release func(), ok bool, err error) {
	if len(keys) == 0 {
		return 0, nil, false, nil
	}
	slots := make([]chan struct{}, len(keys))
	for i, k := range keys {
		slots[i] = h.waitSlots(k)
		select {
		case slots[i] <- struct{}{}:
			return k, func() { <-slots[i] }, true, nil
		default:
		}
	}
	t := time.NewTimer(h.opts.MaxTokenWait)
	defer t.Stop()
	cases := make([]reflect.SelectCase, 0, len(slots)+2)
	for _, c := range slots {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectSend, Chan: reflect.ValueOf(c), Send: reflect.ValueOf(struct{}{})})
	}
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	switch i, _, _ := reflect.Select(cases); {
	case i < len(slots):
		return keys[i], func() { <-slots[i] }, true, nil
	case i == len(slots): // MaxTokenWait passed
		return 0, nil, false, nil
	default:
		return 0, nil, false, ctx.Err()
	}
}

// waitAlone waits for a send token of one limiter key as one of at most waitersPerKey sends
// of this process (waitSlot), MaxTokenWait in all. It returns a zero, not allowed, decision
// when no slot freed in time.
func (h *Handlers) waitAlone(ctx context.Context, key int64, limits sender.AccountLimits) (sender.LimitDecision, error) {
	began := time.Now()
	_, release, ok, err := h.waitSlot(ctx, []int64{key})
	if err != nil || !ok {
		return sender.LimitDecision{}, err
	}
	defer release()
	return h.deps.Limiter.Wait(ctx, key, limits, max(h.opts.MaxTokenWait-time.Since(began), 0))
}

func (h *Handlers) turn(campaignID int64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.turns[campaignID]
	h.turns[campaignID] = n + 1
	return n
}

// choose returns the delivery's recorded choice (a retry renders the same text) or makes a
// new one, rotating variants per sending account.
func (h *Handlers) choose(tpl templates.Stored, contactLocale string, d campaigns.Delivery, accountID int64) templates.Choice {
	seed := uint64(d.ID)
	if d.Variant != nil && d.Locale != "" {
		return templates.Choice{Locale: d.Locale, Variant: *d.Variant, Seed: seed}
	}
	h.mu.Lock()
	prev, ok := h.prev[[2]int64{accountID, tpl.ID}]
	h.mu.Unlock()
	if !ok {
		prev = -1
	}
	return tpl.Choose(contactLocale, seed, prev)
}

func (h *Handlers) remember(accountID, templateID int64, c templates.Choice) {
	h.mu.Lock()
	h.prev[[2]int64{accountID, templateID}] = c.Variant
	h.mu.Unlock()
}

// countFailure feeds the campaign's error window and pauses the campaign when too many of
// its recent sends failed.
func (h *Handlers) countFailure(ctx context.Context, camp campaigns.SendCampaign, accountID int64) {
	reason := h.errors.Record(camp.ID, true)
	if reason == "" {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if err := h.deps.Campaigns.Pause(ctx, camp.ID, reason); err != nil {
		h.log.ErrorContext(ctx, "pause campaign on error rate", "campaign_id", camp.ID, "error", err)
		return
	}
	h.campaigns.forget(camp.ID)
	h.deps.Metrics.autoPaused.WithLabelValues(itoa(camp.ID)).Inc()
	h.log.WarnContext(ctx, "campaign paused itself", "campaign_id", camp.ID, "account_id", accountID, "reason", reason)
}

func (h *Handlers) skip(ctx context.Context, d campaigns.Delivery, reason string) error {
	if err := h.deps.Sends.Skip(ctx, d.ID, reason); err != nil {
		return err
	}
	h.deps.Metrics.skipped.WithLabelValues(itoa(d.CampaignID), reason).Inc()
	return nil
}

// release gives a claimed delivery back after an unexpected error (the database, the
// context) and returns the error, for Asynq's backoff.
func (h *Handlers) release(ctx context.Context, d campaigns.Delivery, keepAccount bool, cause error) error {
	if err := h.deps.Sends.Release(context.WithoutCancel(ctx), d.ID, keepAccount, ""); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("delivery %d: %w", d.ID, cause)
}

// releaseLater gives a claimed delivery back for a retry soon that is not a failure.
func (h *Handlers) releaseLater(ctx context.Context, d campaigns.Delivery, keepAccount bool, reason string) error {
	if err := h.deps.Sends.Release(context.WithoutCancel(ctx), d.ID, keepAccount, ""); err != nil {
		return err
	}
	return later(h.opts.NoAccountDelay, reason)
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
