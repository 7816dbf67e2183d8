package whatsappcloud

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// WebhookOptions configure Webhooks. Zero values get the defaults.
type WebhookOptions struct {
	// Enqueue queues the processing of a recorded webhook (the workers' cloud:webhook
	// task, with the row's id only); nil: nothing is queued and the sweep (Unprocessed)
	// finds the rows.
	Enqueue func(ctx context.Context, id int64) error
	// Events receives what the webhooks report: receipts, customers' messages and
	// opt-outs, as a connection's events (workers.Events.OnEvent). Each event may come
	// more than once (see Process); nil drops them.
	Events sender.EventFunc
	Logger *slog.Logger
	Now    func() time.Time
}

// Webhook processing bounds.
const (
	secretCacheFor     = time.Minute // how long Receive trusts an account's app secret without reading it again
	maxProcessAttempts = 20          // failed processings before a row is given up
	pruneBatch         = 5000        // rows Prune deletes per statement
	maxErrorLen        = 500         // of cloud_webhooks.error
)

// qualityFlagged is the quality update that warns of a number's low quality.
const qualityFlagged = "FLAGGED"

// Webhooks take the Cloud API's webhooks for whatsapp_cloud accounts: Receive checks a
// POST's signature and records it (fast, so that Meta is answered at once), Process
// acts on a recorded one later, in a worker.
type Webhooks struct {
	pool     *pgxpool.Pool
	accounts *sender.Accounts
	opts     WebhookOptions
	log      *slog.Logger

	mu      sync.Mutex
	secrets map[int64]cachedSecret
}

type cachedSecret struct {
	appSecret string
	until     time.Time
}

// NewWebhooks returns the webhook side of the Cloud API on pool (cloud_webhooks,
// cloud_webhook_events, cloud_messages) and the account store.
func NewWebhooks(pool *pgxpool.Pool, accounts *sender.Accounts, opts WebhookOptions) *Webhooks {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Events == nil {
		opts.Events = func(context.Context, sender.Event) {}
	}
	return &Webhooks{pool: pool, accounts: accounts, opts: opts, log: opts.Logger, secrets: map[int64]cachedSecret{}}
}

// cloudAccount returns a live whatsapp_cloud account, or apperr.NotFound.
func (w *Webhooks) cloudAccount(ctx context.Context, id int64) (sender.Account, error) {
	a, err := w.accounts.Get(ctx, id)
	if err != nil {
		return sender.Account{}, err
	}
	if a.Channel != sender.WhatsAppCloud || a.Cloud == nil {
		return sender.Account{}, apperr.NotFoundf("account %d takes no Cloud API webhooks: it is a %s account", id, a.Channel)
	}
	return a, nil
}

// appSecret returns a live whatsapp_cloud account's app secret, read at most once a
// minute.
func (w *Webhooks) appSecret(ctx context.Context, id int64) (string, error) {
	now := w.opts.Now()
	w.mu.Lock()
	c, ok := w.secrets[id]
	w.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.appSecret, nil
	}
	if _, err := w.cloudAccount(ctx, id); err != nil {
		return "", err
	}
	_, secret, err := w.accounts.CloudSecrets(ctx, id)
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	w.secrets[id] = cachedSecret{appSecret: secret, until: now.Add(secretCacheFor)}
	w.mu.Unlock()
	return secret, nil
}

// Handshake answers Meta's subscription check of an account's callback URL with the
// account's verify token: the challenge, or Handshake's errors. An account that is not
// a live whatsapp_cloud account is apperr.NotFound.
func (w *Webhooks) Handshake(ctx context.Context, accountID int64, q url.Values) (string, error) {
	a, err := w.cloudAccount(ctx, accountID)
	if err != nil {
		return "", err
	}
	return Handshake(q, a.Cloud.VerifyToken)
}

// Receive checks a webhook POST's signature with the account's app secret, records the
// body and queues its processing; it returns the recorded row's id. It refuses an
// unsigned or wrongly signed body (ErrSignatureMissing, ErrSignatureMalformed,
// ErrSignatureMismatch), one over MaxWebhookBytes (ErrWebhookTooLarge), and an account
// that is not a live whatsapp_cloud account (apperr.NotFound). A failure to queue is
// logged, not returned: the row is recorded, and the workers' sweep finds it.
func (w *Webhooks) Receive(ctx context.Context, accountID int64, body []byte, signature string) (int64, error) {
	if len(body) > MaxWebhookBytes {
		return 0, ErrWebhookTooLarge
	}
	secret, err := w.appSecret(ctx, accountID)
	if err != nil {
		return 0, err
	}
	if err := VerifySignature([]byte(secret), body, signature); err != nil {
		return 0, err
	}
	var id int64
	err = w.pool.QueryRow(ctx, `INSERT INTO cloud_webhooks (account_id, body, received_at) VALUES ($1, $2, $3) RETURNING id`,
		accountID, body, w.opts.Now()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("whatsappcloud: record a webhook of account %d: %w", accountID, err)
	}
	if w.opts.Enqueue != nil {
		if err := w.opts.Enqueue(ctx, id); err != nil {
			w.log.WarnContext(ctx, "queue a Cloud API webhook; the sweep will", "webhook_id", id, "account_id", accountID, "error", err)
		}
	}
	return id, nil
}

// Process acts on a recorded webhook: statuses become receipts (delivered, read,
// failed; a sent status confirms the attempt in cloud_messages), a 131050 failure also
// an opt-out, customers' messages inbound events, quality updates set the daily cap
// from the messaging tier (and FLAGGED pauses), and restrictions, violations and bans of
// the business account pause its accounts. Items are routed by phone number id (or
// business account id) to the live account they name, and items already handled (Meta
// retries) are skipped. A processed row is left alone. The claim is one statement, so
// its row lock ends with it: the task and the sweep may process one row at once, and the
// events below are idempotent for that reason too.
//
// The events go out after the database changes and before the items are marked as
// handled. A crash in between makes the next Process send them again, so an event may
// come twice, and every one is idempotent (receipts only move forward, an inbound
// message is recorded once by its wamid, an opt-out once), but none is lost: marking
// first would lose the events of a crash, an opt-out among them.
func (w *Webhooks) Process(ctx context.Context, id int64) error {
	var accountID int64
	var body []byte
	var attempts int
	err := w.pool.QueryRow(ctx, `
		UPDATE cloud_webhooks SET attempts = attempts + 1
		WHERE id = (SELECT id FROM cloud_webhooks WHERE id = $1 AND processed_at IS NULL FOR UPDATE SKIP LOCKED)
		RETURNING account_id, body, attempts`, id).Scan(&accountID, &body, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("whatsappcloud: claim webhook %d: %w", id, err)
	}
	n, err := ParseWebhook(body)
	if err != nil {
		// Meta signed it, yet it cannot be read: no retry can help.
		w.log.WarnContext(ctx, "unreadable Cloud API webhook", "webhook_id", id, "account_id", accountID, "error", err)
		return w.finish(ctx, id, nil, err.Error())
	}
	p := &processing{w: w, receivedBy: accountID, byPhone: map[string]int64{}, byWABA: map[string][]int64{}}
	if err := p.apply(ctx, n); err != nil {
		err = fmt.Errorf("whatsappcloud: process webhook %d: %w", id, err)
		if attempts >= maxProcessAttempts {
			w.log.ErrorContext(ctx, "gave up a Cloud API webhook", "webhook_id", id, "attempts", attempts, "error", err)
			return w.finish(ctx, id, nil, "gave up: "+err.Error())
		}
		w.noteError(ctx, id, err)
		return err
	}
	for _, e := range p.events {
		w.opts.Events(ctx, e)
	}
	if n.Skipped > 0 || p.unrouted > 0 {
		w.log.InfoContext(ctx, "Cloud API webhook items ignored", "webhook_id", id, "unreadable", n.Skipped, "unrouted", p.unrouted)
	}
	return w.finish(ctx, id, p.keys, "")
}

// finish marks the items as handled and the row as processed, and drops its body (it
// holds customers' numbers and texts).
func (w *Webhooks) finish(ctx context.Context, id int64, keys []string, note string) error {
	now := w.opts.Now()
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if len(keys) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO cloud_webhook_events (key, seen_at) SELECT unnest($1::text[]), $2
				ON CONFLICT (key) DO NOTHING`, keys, now); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE cloud_webhooks SET body = NULL, processed_at = $2, error = $3 WHERE id = $1`,
			id, now, truncate(note, maxErrorLen))
		return err
	})
	if err != nil {
		return fmt.Errorf("whatsappcloud: finish webhook %d: %w", id, err)
	}
	return nil
}

// noteError keeps a failed processing's error on the row, for ops.
func (w *Webhooks) noteError(ctx context.Context, id int64, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := w.pool.Exec(ctx, `UPDATE cloud_webhooks SET error = $2 WHERE id = $1`, id, truncate(cause.Error(), maxErrorLen)); err != nil {
		w.log.WarnContext(ctx, "note a Cloud API webhook's error", "webhook_id", id, "error", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !validCut(s, n) {
		n--
	}
	return s[:n]
}

// validCut reports whether s[:n] ends on a UTF-8 character boundary.
func validCut(s string, n int) bool { return n == len(s) || s[n]&0xC0 != 0x80 }

// Unprocessed lists recorded webhooks received before before and not yet processed (nor
// given up), oldest first: their task was lost, or failed.
func (w *Webhooks) Unprocessed(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	rows, err := w.pool.Query(ctx, `
		SELECT id FROM cloud_webhooks
		WHERE processed_at IS NULL AND received_at < $1 AND attempts < $3
		ORDER BY received_at LIMIT $2`, before, limit, maxProcessAttempts)
	if err != nil {
		return nil, fmt.Errorf("whatsappcloud: unprocessed webhooks: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("whatsappcloud: unprocessed webhooks: %w", err)
	}
	return ids, nil
}

// Prune deletes the webhooks processed before before and the handled items' keys seen
// before it (Meta stops retrying a delivery within days), and returns how many rows went.
func (w *Webhooks) Prune(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		// Batches keep each statement short; the oldest rows come first by id.
		`DELETE FROM cloud_webhooks WHERE id IN (
			SELECT id FROM cloud_webhooks WHERE processed_at < $1 ORDER BY id LIMIT $2)`,
		`DELETE FROM cloud_webhook_events WHERE key IN (
			SELECT key FROM cloud_webhook_events WHERE seen_at < $1 LIMIT $2)`,
	} {
		for {
			tag, err := w.pool.Exec(ctx, q, before, pruneBatch)
			if err != nil {
				return total, fmt.Errorf("whatsappcloud: prune webhooks: %w", err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

// processing is one Process of one webhook: the accounts its items route to, the
// events they make and the keys of the items handled.
type processing struct {
	w          *Webhooks
	receivedBy int64 // the account whose callback URL (and app secret) took the webhook
	byPhone    map[string]int64
	byWABA     map[string][]int64
	seen       map[string]bool
	keys       []string
	events     []sender.Event
	unrouted   int
}

func (p *processing) apply(ctx context.Context, n Notification) error {
	if err := p.loadSeen(ctx, n.DedupKeys()); err != nil {
		return err
	}
	for _, s := range n.Statuses {
		if p.fresh(s.DedupKey()) {
			if err := p.status(ctx, s); err != nil {
				return err
			}
		}
	}
	for _, m := range n.Inbound {
		if p.fresh(m.DedupKey()) {
			if err := p.inbound(ctx, m); err != nil {
				return err
			}
		}
	}
	for _, e := range n.Account {
		if p.fresh(e.DedupKey()) {
			if err := p.account(ctx, e); err != nil {
				return err
			}
		}
	}
	for _, t := range n.Templates {
		if p.fresh(t.DedupKey()) {
			if err := p.template(ctx, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadSeen reads which of keys were handled already.
func (p *processing) loadSeen(ctx context.Context, keys []string) error {
	p.seen = map[string]bool{}
	if len(keys) == 0 {
		return nil
	}
	rows, err := p.w.pool.Query(ctx, `SELECT key FROM cloud_webhook_events WHERE key = ANY($1)`, keys)
	if err != nil {
		return err
	}
	seen, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, k := range seen {
		p.seen[k] = true
	}
	return nil
}

// fresh reports whether the item of key is new (neither handled before nor earlier in
// this webhook), and counts it as handled from now on.
func (p *processing) fresh(key string) bool {
	if p.seen[key] {
		return false
	}
	p.seen[key] = true
	p.keys = append(p.keys, key)
	return true
}

// sameApp reports whether account id's app secret is the receiving account's, so that a
// body signed for one account cannot speak for an account of another Meta app.
func (p *processing) sameApp(ctx context.Context, id int64) (bool, error) {
	if id == p.receivedBy {
		return true, nil
	}
	theirs, err := p.w.appSecret(ctx, id)
	if apperr.CodeOf(err) == apperr.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ours, err := p.w.appSecret(ctx, p.receivedBy)
	if apperr.CodeOf(err) == apperr.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(theirs), []byte(ours)) == 1, nil
}

// phoneAccount returns the live whatsapp_cloud account of a phone number id, or 0. One
// Meta app's webhook carries the events of every number it serves, so the number, not
// the callback URL, says whose they are.
func (p *processing) phoneAccount(ctx context.Context, phoneNumberID string) (int64, error) {
	if id, ok := p.byPhone[phoneNumberID]; ok {
		return id, nil
	}
	var id int64
	err := p.w.pool.QueryRow(ctx, `
		SELECT id FROM accounts
		WHERE channel = 'whatsapp_cloud' AND deleted_at IS NULL AND phone_number_id = $1`, phoneNumberID).Scan(&id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if id != 0 {
		ok, err := p.sameApp(ctx, id)
		if err != nil {
			return 0, err
		}
		if !ok {
			p.w.log.WarnContext(ctx, "a Cloud API webhook names a number of another app's account: ignored",
				"account_id", p.receivedBy, "named_account_id", id)
			id = 0
		}
	}
	p.byPhone[phoneNumberID] = id
	return id, nil
}

// wabaAccounts returns the live whatsapp_cloud accounts of a WhatsApp Business Account.
func (p *processing) wabaAccounts(ctx context.Context, wabaID string) ([]int64, error) {
	if ids, ok := p.byWABA[wabaID]; ok {
		return ids, nil
	}
	rows, err := p.w.pool.Query(ctx, `
		SELECT id FROM accounts WHERE channel = 'whatsapp_cloud' AND deleted_at IS NULL AND waba_id = $1 ORDER BY id`, wabaID)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, id := range all {
		ok, err := p.sameApp(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, id)
		}
	}
	p.byWABA[wabaID] = ids
	return ids, nil
}

func (p *processing) at(t time.Time) time.Time {
	if t.IsZero() {
		return p.w.opts.Now()
	}
	return t
}

// status applies a receipt. Any status proves that Meta accepted the message, so the
// attempt it names by callback data gets its wamid (a retry then never sends again);
// delivered, read and failed become receipts under Crier's message id.
func (p *processing) status(ctx context.Context, s StatusUpdate) error {
	acct, err := p.phoneAccount(ctx, s.PhoneNumberID)
	if err != nil {
		return err
	}
	if acct == 0 {
		p.unrouted++
		return nil
	}
	at := p.at(s.At)
	if s.CallbackData != "" {
		_, err := p.w.pool.Exec(ctx, `
			UPDATE cloud_messages SET wamid = $2, accepted_at = coalesce(accepted_at, $3)
			WHERE message_id = $1 AND wamid IS NULL
				AND NOT EXISTS (SELECT 1 FROM cloud_messages WHERE wamid = $2)`, s.CallbackData, s.MessageID, at)
		if err != nil {
			return err
		}
	}
	var kind sender.EventKind
	switch s.Status {
	case StatusDelivered:
		kind = sender.EventDelivered
	case StatusRead:
		kind = sender.EventRead
	case StatusFailed:
		kind = sender.EventFailed
	default:
		return nil // sent: the send recorded it already
	}
	// Crier's id of the message: by the wamid Meta answered with, else by the callback
	// data. Neither: a message Crier did not send (another tool on the same number).
	var messageID string
	err = p.w.pool.QueryRow(ctx, `SELECT message_id FROM cloud_messages WHERE wamid = $1`, s.MessageID).Scan(&messageID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if messageID == "" {
		messageID = s.CallbackData
	}
	if messageID == "" {
		p.unrouted++
		return nil
	}
	if s.OptedOut() && s.Recipient != "" {
		// The opt-out first: it is the event that must not wait.
		p.events = append(p.events, sender.Event{Kind: sender.EventOptOut, AccountID: acct, At: at, From: s.Recipient,
			Network: "whatsapp", Error: statusDetail(s)})
	}
	e := sender.Event{Kind: kind, AccountID: acct, At: at, MessageID: messageID}
	if kind == sender.EventFailed {
		e.Error = fmt.Sprintf("%d: %s", s.ErrorCode, statusDetail(s))
	}
	p.events = append(p.events, e)
	return nil
}

func statusDetail(s StatusUpdate) string {
	switch {
	case s.ErrorDetail != "" && s.ErrorTitle != "" && s.ErrorDetail != s.ErrorTitle:
		return s.ErrorTitle + ": " + s.ErrorDetail
	case s.ErrorDetail != "":
		return s.ErrorDetail
	case s.ErrorTitle != "":
		return s.ErrorTitle
	}
	return "failed"
}

// inbound turns a customer's message into the account's inbound event, which goes
// through the same keyword handling as every channel's.
func (p *processing) inbound(ctx context.Context, m InboundMessage) error {
	acct, err := p.phoneAccount(ctx, m.PhoneNumberID)
	if err != nil {
		return err
	}
	if acct == 0 {
		p.unrouted++
		return nil
	}
	p.events = append(p.events, sender.Event{Kind: sender.EventInbound, AccountID: acct, At: p.at(m.At), From: m.From,
		Text: m.Text, ProviderID: m.ProviderID})
	return nil
}

// tierCaps are the messaging tiers (unique customers a day outside the service window)
// as daily caps; 0 is none.
var tierCaps = map[string]int{
	"TIER_50": 50, "TIER_250": 250, "TIER_1K": 1_000, "TIER_2K": 2_000, "TIER_10K": 10_000,
	"TIER_100K": 100_000, "TIER_UNLIMITED": 0,
}

// account applies a change of the business account or its number to the accounts of the
// business account.
//
// Meta sets the messaging tier per business portfolio, shared by all its numbers
// (since October 2025), so the cap goes to every account of the business account. A
// quality update names the number only by its display number, which Crier does not
// keep, so FLAGGED pauses every account of the business account too: the safe side.
func (p *processing) account(ctx context.Context, e AccountEvent) error {
	ids, err := p.wabaAccounts(ctx, e.WABAID)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		p.unrouted++
		return nil
	}
	var pause string
	switch e.Field {
	case FieldQualityUpdate:
		if limit, ok := tierCaps[e.CurrentLimit]; ok {
			for _, id := range ids {
				changed, err := p.w.accounts.SetDailyCap(ctx, id, limit)
				if err != nil {
					return err
				}
				if changed {
					p.w.log.InfoContext(ctx, "daily cap set from Meta's messaging tier", "account_id", id, "tier", e.CurrentLimit, "daily_cap", limit)
				}
			}
		}
		if e.Event == qualityFlagged {
			pause = "Meta flagged the number's quality (phone_number_quality_update FLAGGED): its messaging limit drops unless the quality improves; check the quality rating in WhatsApp Manager"
		}
	case FieldAccountUpdate:
		pause = accountPauseReason(e)
	}
	if pause == "" {
		return nil
	}
	for _, id := range ids {
		if _, err := p.w.accounts.Pause(ctx, id, pause); err != nil && apperr.CodeOf(err) != apperr.NotFound {
			return err
		}
		p.w.log.WarnContext(ctx, "account paused by Meta's webhook", "account_id", id, "event", e.Event)
	}
	return nil
}

// accountPauseReason says why an account_update stops the business account from
// sending, or "" when it does not.
func accountPauseReason(e AccountEvent) string {
	switch e.Event {
	case "ACCOUNT_VIOLATION":
		return fmt.Sprintf("Meta reported a policy violation of the WhatsApp Business Account (account_update ACCOUNT_VIOLATION: %s)", orUnknown(e.ViolationType))
	case "ACCOUNT_RESTRICTION":
		return fmt.Sprintf("Meta restricted the WhatsApp Business Account (account_update ACCOUNT_RESTRICTION: %s)", orUnknown(strings.Join(e.Restrictions, ", ")))
	case "DISABLED_UPDATE":
		if e.BanState == "REINSTATE" {
			return "" // lifted: ops resume the accounts
		}
		return fmt.Sprintf("Meta disabled the WhatsApp Business Account (account_update DISABLED_UPDATE: %s)", orUnknown(e.BanState))
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "no details"
	}
	return s
}

// template keeps a template's review status current between syncs, so that scheduling
// checks what Meta says now (a PAUSED or DISABLED template is seen at once).
func (p *processing) template(ctx context.Context, t TemplateUpdate) error {
	switch t.Event {
	case TemplateApproved, TemplatePending, TemplateRejected, TemplatePaused, TemplateDisabled:
	default:
		return nil
	}
	ids, err := p.wabaAccounts(ctx, t.WABAID)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		p.unrouted++
		return nil
	}
	reason := t.Reason
	if reason == "NONE" {
		reason = ""
	}
	_, err = p.w.pool.Exec(ctx, `
		UPDATE cloud_templates SET status = $4, reason = $5
		WHERE waba_id = $1 AND name = $2 AND language = $3`,
		t.WABAID, t.Name, t.Language, string(t.Event), reason)
	return err
}
