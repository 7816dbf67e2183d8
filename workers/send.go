package workers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// deliveryStore is the delivery state machine as the Sender drives it (delivery.Sends).
type deliveryStore interface {
	Deliveries(ctx context.Context, ids []int64) (map[int64]delivery.Delivery, error)
	ClaimMany(ctx context.Context, reqs []delivery.ClaimRequest, staleBefore time.Time, ch consent.Channel, p consent.Purpose) ([]delivery.ClaimResult, error)
	MarkSentMany(ctx context.Context, ids []int64, sent []delivery.SentInfo) ([]error, error)
	Settle(ctx context.Context, id int64, o delivery.Outcome) error
	Touch(ctx context.Context, id int64) error
}

// contactStore reads the recipients (contacts.Service).
type contactStore interface {
	GetMany(ctx context.Context, ids []int64) (map[int64]contacts.Contact, error)
}

// templateStore reads the campaigns' templates (templates.Store).
type templateStore interface {
	Get(ctx context.Context, id int64) (templates.Stored, error)
}

// renderer renders a message, and its Cloud API template where its locale has one
// (templates.Engine).
type renderer interface {
	Render(ctx context.Context, t templates.Template, c templates.Choice, d templates.Data) (string, error)
	RenderCloud(ctx context.Context, t templates.Template, c templates.Choice, d templates.Data) (templates.CloudMessage, bool, error)
}

// sendCampaigns reads a campaign's send settings and pauses a campaign whose sends fail
// (Campaigns).
type sendCampaigns interface {
	SendCampaign(ctx context.Context, id int64) (campaigns.SendCampaign, error)
	Pause(ctx context.Context, campaignID int64, reason string) error
}

// heldAccounts are the accounts this process holds, and their health (sender.Manager).
type heldAccounts interface {
	Held(id int64) (sender.Transport, sender.Account, int64, bool)
	Connected() []int64
	ReportSend(ctx context.Context, id int64, err error)
}

// accountRecords reads an account's record (sender.Accounts).
type accountRecords interface {
	Get(ctx context.Context, id int64) (sender.Account, error)
}

// replyStore hands out the replies due to customers' messages (consent.Service).
type replyStore interface {
	PendingReply(ctx context.Context, inboundID int64) (consent.Reply, bool, error)
	ReplySent(ctx context.Context, inboundID int64) error
}

// senderDeps are what the Sender needs. pool, held and records are nil in a process that
// holds no accounts: it sends nothing.
type senderDeps struct {
	sends     deliveryStore
	contacts  contactStore
	templates templateStore
	engine    renderer
	campaigns sendCampaigns
	pool      *sender.Pool
	held      heldAccounts
	records   accountRecords
	replies   replyStore
	metrics   *Metrics
	log       *slog.Logger
}

// Sender runs message:send and reply:send. A campaign message goes through owners that each
// do one thing: the delivery's state (delivery.Sends, its database steps batched across the
// sends running at once), the account and its send token (sender.Pool), the text
// (templates.Engine) and the network (sender.Transport).
type Sender struct {
	senderDeps
	opts Options

	steps  *sendSteps
	stacks *stacks
	// A paused or cancelled campaign stops sending within a second; a template edited
	// mid-campaign reaches new sends within ten.
	campaignCache *cache[int64, campaigns.SendCampaign]
	templateCache *cache[int64, templates.Stored]
	errors        *sender.ErrorWindow // per campaign: a campaign whose sends fail pauses itself
	variants      variantMemory
}

func newSender(deps senderDeps, opts Options) *Sender {
	return &Sender{senderDeps: deps, opts: opts,
		steps:         newSendSteps(deps.sends, deps.contacts, func() time.Time { return opts.Now().Add(-opts.StaleSending) }),
		stacks:        newStacks(opts.Concurrency),
		campaignCache: newCache[int64, campaigns.SendCampaign](time.Second),
		templateCache: newCache[int64, templates.Stored](10 * time.Second),
		errors:        sender.NewErrorWindow(opts.ErrorWindow, opts.ErrorThreshold),
		variants:      variantMemory{prev: map[[2]int64]int{}},
	}
}

func (s *Sender) close() { s.stacks.close() }

// handleSend sends one delivery, following DESIGN §2:
//
//  1. load the delivery and its recipient; stop if the delivery is final or the campaign
//     paused or cancelled; expire it past its TTL;
//  2. take an account among the campaign's accounts this process holds, by the rotation
//     rule, with a rate token and daily budget (sender.Pool); none → retry later, not a
//     failure;
//  3. pick the variant; claim the delivery (queued → sending), record the attempt (account,
//     variant, message id) and re-check consent and suppression now, in one statement;
//  4. render, check the account's lease, send with the deterministic message id, record the
//     result.
//
// At most one message per delivery: the claim admits one worker at a time; the account,
// variant and message id are recorded with it, before the network is called, and reused by
// any retry, so a retry after a crash is the same message through the same account, which
// the network recognises (the sandbox stores one row per message id). The work runs on a
// goroutine whose stack has already grown (stacks).
func (s *Sender) handleSend(ctx context.Context, t *asynq.Task) (err error) {
	s.stacks.run(func() { err = s.sendTask(ctx, t) })
	return err
}

func (s *Sender) sendTask(ctx context.Context, t *asynq.Task) error {
	var p SendPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if s.pool == nil {
		return later(s.opts.NoAccountDelay, "this process holds no accounts")
	}
	err := s.send(ctx, p.DeliveryID)
	if errors.Is(err, errSettled) || errors.Is(err, delivery.ErrDeliveryFinal) {
		return nil // settled here, or meanwhile (sent, opted out, cancelled): nothing to do
	}
	return err
}

// errSettled ends a send early with nothing left to do: the delivery needed no send, or was
// settled already (skipped, parked, expired, held by another worker).
var errSettled = errors.New("workers: settled")

// message is one delivery on its way through send.
type message struct {
	delivery   delivery.Delivery // as loaded, then as claimed
	hadAccount bool              // an attempt was pinned to an account before this one
	contact    contacts.Contact
	campaign   campaigns.SendCampaign
	template   templates.Stored
	accountID  int64            // the account granted
	choice     templates.Choice // the locale and variant, as claimed
	id         string           // the message id, as claimed
}

func (s *Sender) send(ctx context.Context, id int64) error {
	var m message
	if err := s.load(ctx, id, &m); err != nil {
		return err
	}
	grant, err := s.acquire(ctx, &m)
	if err != nil {
		return err
	}
	sent := false
	defer func() {
		if !sent {
			s.refund(ctx, grant)
		}
	}()
	if err := s.claim(ctx, &m); err != nil {
		return err
	}
	msg, err := s.render(ctx, &m)
	if err != nil {
		return err
	}
	if err := s.confirmLease(ctx, &m, grant); err != nil {
		return err
	}
	sent = true // from here the message may reach the network: the token is spent
	res, err := grant.Transport.Send(ctx, msg)
	return s.settle(ctx, &m, msg.Text, res, err)
}

// load reads the delivery, its recipient, campaign and template into m, and settles the
// deliveries that are not to be sent now (errSettled): final ones, ones another worker holds,
// a paused or cancelled campaign's, ones past their TTL and erased recipients'.
func (s *Sender) load(ctx context.Context, id int64, m *message) error {
	ld, err := s.steps.load.Do(ctx, id)
	if err != nil {
		return err
	}
	d := ld.delivery
	if d.Status.Final() {
		return errSettled
	}
	if d.Status == delivery.StatusSending && s.opts.Now().Sub(d.UpdatedAt) < s.opts.StaleSending {
		return errSettled // another worker holds it; the reconciler takes it back if that worker dies
	}
	camp, err := s.campaignCache.get(d.CampaignID, func() (campaigns.SendCampaign, error) {
		return s.campaigns.SendCampaign(ctx, d.CampaignID)
	})
	if err != nil {
		return err
	}
	switch {
	case camp.Cancelled():
		return s.skip(ctx, d, delivery.SkipCampaignCancelled)
	case camp.Paused():
		if err := s.giveBack(ctx, id, delivery.Parked()); err != nil {
			return err
		}
		return errSettled // dispatched again on resume
	case s.opts.Now().After(d.DueAt.Add(s.opts.TTL)):
		if err := s.sends.Settle(ctx, id, delivery.Expired()); err != nil {
			return err
		}
		s.metrics.expired.WithLabelValues(itoa(d.CampaignID)).Inc()
		return errSettled
	case ld.contact == nil:
		return s.skip(ctx, d, delivery.SkipContactErased)
	}
	tpl, err := s.templateCache.get(camp.TemplateID, func() (templates.Stored, error) {
		return s.templates.Get(ctx, camp.TemplateID)
	})
	if err != nil {
		return err
	}
	*m = message{delivery: d, hadAccount: d.AccountID != nil, contact: *ld.contact, campaign: camp, template: tpl}
	return nil
}

// acquire takes an account and a send token for m (sender.Pool).
func (s *Sender) acquire(ctx context.Context, m *message) (sender.Grant, error) {
	d, camp := &m.delivery, &m.campaign
	req := sender.Request{CampaignID: camp.ID, Accounts: camp.AccountIDs, Rotation: camp.Rotation,
		ContactID: *d.ContactID, RatePerMinute: camp.RatePerMinute}
	if d.AccountID != nil && d.MessageID != "" {
		req.Pinned = *d.AccountID // a previous attempt may have reached the network
	}
	g, err := s.pool.Acquire(ctx, req)
	if err != nil {
		return g, s.notNow(ctx, d.ID, err)
	}
	m.accountID = g.AccountID
	return g, nil
}

// notNow turns the Pool's "not now" into a retry later, not a failure: the task waits in
// Asynq, and the delivery is touched so that the reconciler knows its task is alive. Any
// other error is returned as it is.
func (s *Sender) notNow(ctx context.Context, id int64, err error) error {
	var busy *sender.Busy
	switch {
	case errors.Is(err, sender.ErrNoneHeld):
		err = later(s.opts.NoAccountDelay, "none of the campaign's accounts is held by this worker")
	case errors.As(err, &busy):
		err = later(busy.RetryAfter, busy.Reason)
	default:
		return err
	}
	if terr := s.sends.Touch(ctx, id); terr != nil {
		return terr
	}
	return err
}

// refund gives back the send token of a message that never reached the transport.
func (s *Sender) refund(ctx context.Context, g sender.Grant) {
	ctx = context.WithoutCancel(ctx)
	if err := s.pool.Refund(ctx, g); err != nil {
		s.log.WarnContext(ctx, "refund send token", "account_id", g.AccountID, "error", err)
	}
}

// claim moves the delivery to "sending" and records the attempt (account, variant, message
// id), in one statement that re-checks consent, suppression and the frequency cap, exactly
// across workers. An attempt recorded before wins: a retry sends what it recorded.
func (s *Sender) claim(ctx context.Context, m *message) error {
	id := msgid.Of(m.delivery.ID)
	choice := s.choose(m.template, m.contact.Locale, m.delivery, m.accountID)
	claim, err := s.steps.claim.Do(ctx, delivery.ClaimRequest{ID: m.delivery.ID,
		Attempt: delivery.Attempt{AccountID: m.accountID, Locale: choice.Locale, Variant: choice.Variant, MessageID: id}})
	if errors.Is(err, delivery.ErrDeliveryBusy) {
		return errSettled
	}
	if err != nil {
		return err
	}
	d := claim.Delivery
	m.delivery = d
	// Consent and suppression as the claim read them: a STOP processed from here on finds
	// this delivery in "sending", and whatever was processed before is seen.
	if claim.Skip != "" {
		return s.skip(ctx, d, claim.Skip)
	}
	if d.AccountID == nil || *d.AccountID != m.accountID {
		// Another attempt was recorded since the delivery was loaded: the retry must go
		// through that account.
		return s.releaseLater(ctx, d, true, "the delivery is pinned to another account")
	}
	// The recorded id: the message may have reached the network under it, and an attempt
	// recorded before migration 00010 has an id of the older shape.
	m.id = cmp.Or(d.MessageID, id)
	m.choice = s.choose(m.template, m.contact.Locale, d, m.accountID)
	return nil
}

// render renders the claimed message: its text and, where its template locale is bound to
// a Cloud API template, that template with its parameters. A campaign message is marked
// Campaign, so that a network that takes only templates outside the customer service window
// never sends it as free text. A template that does not render fails the delivery for good;
// the error stays with the delivery for the template's author (it may quote a contact's
// value, so it is not logged).
func (s *Sender) render(ctx context.Context, m *message) (sender.Message, error) {
	c := &m.contact
	data := templates.Data{
		Name: c.Name, Email: c.Email, Locale: c.Locale, Country: c.Country,
		Timezone: c.Timezone, Tags: c.Tags, Attributes: c.Attributes,
		Campaign: templates.Campaign{Name: m.campaign.Name},
	}
	msg := sender.Message{ID: m.id, To: c.Phone, Campaign: true}
	text, err := s.engine.Render(ctx, m.template.Template, m.choice, data)
	if err == nil {
		msg.Text = text
		var cm templates.CloudMessage
		var bound bool
		cm, bound, err = s.engine.RenderCloud(ctx, m.template.Template, m.choice, data)
		if bound && err == nil {
			msg.Template = templateMessage(cm)
		}
	}
	if err == nil {
		return msg, nil
	}
	if ctx.Err() != nil {
		return sender.Message{}, s.release(ctx, m.delivery, true, err)
	}
	if ferr := s.sends.Settle(ctx, m.delivery.ID, delivery.Failed(err.Error())); ferr != nil {
		return sender.Message{}, ferr
	}
	s.countFailure(ctx, m.campaign, m.accountID)
	return sender.Message{}, fmt.Errorf("delivery %d: render: %w", m.delivery.ID, asynq.SkipRetry)
}

// templateMessage is a rendered Cloud API template as the transports take it.
func templateMessage(cm templates.CloudMessage) *sender.TemplateMessage {
	tm := &sender.TemplateMessage{Name: cm.Name, Language: cm.Language, Params: cm.Params, ParamNames: cm.ParamNames}
	if cm.HeaderKind != "" {
		tm.Header = &sender.Media{Kind: cm.HeaderKind, Link: cm.HeaderLink}
	}
	return tm
}

// confirmLease checks, right before the send, that this process still holds the account's
// lease. Nothing was sent: a lease that moved gives the delivery back for another worker,
// soon and without a failure; an error of Redis gives it back for Asynq's backoff.
func (s *Sender) confirmLease(ctx context.Context, m *message, g sender.Grant) error {
	err := s.pool.Confirm(ctx, g)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sender.ErrLeaseMoved):
		return s.releaseLater(ctx, m.delivery, m.hadAccount, "the account's lease moved")
	default:
		return s.release(ctx, m.delivery, m.hadAccount, err)
	}
}

// settle records how the send went: sent; failed for good (the message is undeliverable,
// or this was the last attempt); given back for another account (the account failed); or
// given back to retry through the same account, under the same id (a transient failure: the
// message may have reached the network).
func (s *Sender) settle(ctx context.Context, m *message, text string, res sender.SendResult, serr error) error {
	id := m.delivery.ID
	campaign, account := itoa(m.campaign.ID), itoa(m.accountID)
	if errors.Is(serr, sender.ErrThrottled) {
		// The network's rate limit: nothing was sent, and neither the message nor the
		// account failed (the account's health window does not count it). The delivery
		// waits, pinned to its account, for the delay the network asked for.
		after, _ := sender.ThrottledFor(serr)
		if err := s.giveBack(context.WithoutCancel(ctx), id, delivery.Released(true, "")); err != nil {
			return err
		}
		return later(after, "rate limited by the network: "+serr.Error())
	}
	s.held.ReportSend(ctx, m.accountID, serr)
	switch {
	case serr == nil:
		if _, err := s.steps.sent.Do(ctx, sentReq{id, delivery.SentInfo{ProviderID: res.ProviderID, Rendered: text, SentAt: res.SentAt}}); err != nil {
			return err
		}
		s.remember(m.accountID, m.template.ID, m.choice)
		s.metrics.sent.WithLabelValues(campaign, account).Inc()
		s.errors.Record(m.campaign.ID, false)
		return nil
	case errors.Is(serr, sender.ErrPermanent):
		if err := s.sends.Settle(context.WithoutCancel(ctx), id, delivery.Failed(serr.Error())); err != nil {
			return err
		}
		s.metrics.failed.WithLabelValues(campaign, account).Inc()
		if errors.Is(serr, sender.ErrTemplateRefused) {
			// Every message of the campaign would be refused the same way.
			s.pauseCampaign(ctx, m.campaign, m.accountID, "the network refused the template: "+serr.Error())
		} else {
			s.countFailure(ctx, m.campaign, m.accountID)
		}
		return fmt.Errorf("delivery %d: %w: %w", id, serr, asynq.SkipRetry)
	case errors.Is(serr, sender.ErrAccount):
		// The account failed, not the message (the Manager pauses it): another account
		// sends it, soon and without counting a failure.
		return s.releaseLater(ctx, m.delivery, false, "account failure: "+serr.Error())
	default:
		s.countFailure(ctx, m.campaign, m.accountID)
		if lastAttempt(ctx) {
			if err := s.sends.Settle(context.WithoutCancel(ctx), id, delivery.Failed(serr.Error())); err != nil {
				return err
			}
			s.metrics.failed.WithLabelValues(campaign, account).Inc()
			return fmt.Errorf("delivery %d: %w: %w", id, serr, asynq.SkipRetry)
		}
		if err := s.giveBack(context.WithoutCancel(ctx), id, delivery.Released(true, serr.Error())); err != nil {
			return err
		}
		return fmt.Errorf("delivery %d: send through account %d: %w", id, m.accountID, serr)
	}
}

// variantMemory is the variant each account last sent of each template, so that an
// account rotates its variants.
type variantMemory struct {
	mu   sync.Mutex
	prev map[[2]int64]int // (account, template) → variant
}

// choose returns the delivery's recorded choice (a retry renders the same text) or makes a
// new one, rotating variants per sending account.
func (s *Sender) choose(tpl templates.Stored, contactLocale string, d delivery.Delivery, accountID int64) templates.Choice {
	seed := uint64(d.ID)
	if d.Variant != nil && d.Locale != "" {
		return templates.Choice{Locale: d.Locale, Variant: *d.Variant, Seed: seed}
	}
	s.variants.mu.Lock()
	prev, ok := s.variants.prev[[2]int64{accountID, tpl.ID}]
	s.variants.mu.Unlock()
	if !ok {
		prev = -1
	}
	return tpl.Choose(contactLocale, seed, prev)
}

func (s *Sender) remember(accountID, templateID int64, c templates.Choice) {
	s.variants.mu.Lock()
	s.variants.prev[[2]int64{accountID, templateID}] = c.Variant
	s.variants.mu.Unlock()
}

// countFailure feeds the campaign's error window and pauses the campaign when too many of
// its recent sends in this process failed.
func (s *Sender) countFailure(ctx context.Context, camp campaigns.SendCampaign, accountID int64) {
	if reason := s.errors.Record(camp.ID, true); reason != "" {
		s.pauseCampaign(ctx, camp, accountID, reason)
	}
}

// pauseCampaign pauses a campaign whose sends fail, with the reason for people. Another
// worker may have paused it first: that is no error.
func (s *Sender) pauseCampaign(ctx context.Context, camp campaigns.SendCampaign, accountID int64, reason string) {
	ctx = context.WithoutCancel(ctx)
	s.campaignCache.forget(camp.ID)
	if err := s.campaigns.Pause(ctx, camp.ID, reason); err != nil {
		if apperr.CodeOf(err) != apperr.Conflict {
			s.log.ErrorContext(ctx, "pause campaign", "campaign_id", camp.ID, "error", err)
		}
		return
	}
	s.metrics.autoPaused.WithLabelValues(itoa(camp.ID)).Inc()
	s.log.WarnContext(ctx, "campaign paused itself", "campaign_id", camp.ID, "account_id", accountID, "reason", reason)
}

// skip settles a delivery that is not to be sent, with the reason, and returns errSettled.
func (s *Sender) skip(ctx context.Context, d delivery.Delivery, reason delivery.SkipReason) error {
	if err := s.sends.Settle(ctx, d.ID, delivery.Skipped(reason)); err != nil {
		return err
	}
	s.metrics.skipped.WithLabelValues(itoa(d.CampaignID), string(reason)).Inc()
	return errSettled
}

// release gives a claimed delivery back after an unexpected error (the database, the
// context, Redis) and returns the error, for Asynq's backoff.
func (s *Sender) release(ctx context.Context, d delivery.Delivery, keepAccount bool, cause error) error {
	if err := s.giveBack(context.WithoutCancel(ctx), d.ID, delivery.Released(keepAccount, "")); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("delivery %d: %w", d.ID, cause)
}

// releaseLater gives a claimed delivery back for a retry soon that is not a failure.
func (s *Sender) releaseLater(ctx context.Context, d delivery.Delivery, keepAccount bool, reason string) error {
	if err := s.giveBack(context.WithoutCancel(ctx), d.ID, delivery.Released(keepAccount, "")); err != nil {
		return err
	}
	return later(s.opts.NoAccountDelay, reason)
}

// giveBack settles a delivery as Released or Parked. A delivery that moved on meanwhile
// (settled, or taken back by the reconciler) has nothing to give back: that is no error.
func (s *Sender) giveBack(ctx context.Context, id int64, o delivery.Outcome) error {
	if err := s.sends.Settle(ctx, id, o); err != nil && !errors.Is(err, delivery.ErrDeliveryFinal) {
		return err
	}
	return nil
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
