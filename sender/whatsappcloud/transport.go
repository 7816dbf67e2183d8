package whatsappcloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/sender"
)

// The errors of Transport.Send besides the Client's.
var (
	// ErrCampaignWithoutTemplate: a campaign message whose template locale names no
	// approved Cloud API template. Meta takes marketing outside the customer service
	// window only as a template, so the message can never go. Permanent.
	ErrCampaignWithoutTemplate = sender.Permanent(errors.New("whatsappcloud: a campaign message goes through the Cloud API only as an approved template; the template's locale has none"))
	// ErrUnconfirmed: an earlier attempt of the message may have reached Meta (its
	// answer was lost), so the message is not sent again until the attempt's status
	// webhook says so or the confirm window passes. Returned as a sender.Throttle.
	ErrUnconfirmed = errors.New("whatsappcloud: an earlier attempt's outcome is unknown: waiting for Meta's status webhook")
	// ErrPairGap: the account sent to this recipient moments ago, and Meta allows one
	// message to the same person every few seconds (pair rate limit). Returned as a
	// sender.Throttle.
	ErrPairGap = errors.New("whatsappcloud: a message to this recipient went out moments ago: Meta's pair rate limit allows one every few seconds")
	// ErrBackingOff: Meta rate-limited the account lately and asked it to wait. Returned
	// as a sender.Throttle, without calling Meta.
	ErrBackingOff  = errors.New("whatsappcloud: backing off after Meta's rate limit")
	errNoMessageID = sender.Permanent(errors.New("whatsappcloud: a message needs an id"))
)

// Transport sends through one connected whatsapp_cloud account. A retried message is
// never sent twice: every attempt is recorded in cloud_messages (Crier's message id →
// Meta's wamid) before Meta is called, and a retry of an accepted message returns its
// wamid instead of sending. The account's lease means one process sends on it, so the
// pair rate limit and Meta's back-offs are kept in memory.
type Transport struct {
	pool      *pgxpool.Pool
	accountID int64
	client    *Client
	events    sender.EventFunc
	opts      ConnectorOptions
	log       *slog.Logger

	mu           sync.Mutex
	closed       bool
	backoffUntil time.Time // the account's back-off after Meta's rate limit
	backoffErr   error     // the error that set it
	// notBefore: the earliest next send to each recipient (the pair gap, or Meta's
	// per-recipient back-off). The numbers are in memory only; entries past are pruned.
	notBefore map[string]time.Time
	nextPrune time.Time

	stopSync context.CancelFunc
	syncDone chan struct{}
}

var _ sender.Transport = (*Transport)(nil)

func newTransport(pool *pgxpool.Pool, accountID int64, client *Client, events sender.EventFunc, opts ConnectorOptions) *Transport {
	return &Transport{pool: pool, accountID: accountID, client: client, events: events, opts: opts,
		log: opts.Logger.With("account_id", accountID), notBefore: map[string]time.Time{}}
}

// startSync runs sync at once and every `every` until Close.
func (t *Transport) startSync(sync SyncFunc, every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	t.stopSync, t.syncDone = cancel, make(chan struct{})
	go func() {
		defer close(t.syncDone)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if err := sync(ctx, t.accountID); err != nil && ctx.Err() == nil {
				t.log.WarnContext(ctx, "sync the account's message templates", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// Close stops the template sync and refuses further sends.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	if t.stopSync != nil {
		t.stopSync()
		<-t.syncDone
	}
	return nil
}

// Send sends m as an approved template (m.Template), or as free text when it is a reply
// or a confirmation (inside the customer service window); a campaign message without a
// template is refused. See the package's errors for what a failure means: a rate limit
// is a sender.Throttle, a template Meta refuses is sender.ErrTemplateRefused, a refused
// account is sender.ErrAccount with the reason, and a 131050 failure also reports the
// recipient's opt-out to the events.
func (t *Transport) Send(ctx context.Context, m sender.Message) (sender.SendResult, error) {
	if m.ID == "" {
		return sender.SendResult{}, errNoMessageID
	}
	call, err := t.request(m)
	if err != nil {
		return sender.SendResult{}, err
	}
	now := t.opts.Now()
	release, err := t.reserve(m.To, now)
	if err != nil {
		return sender.SendResult{}, err
	}
	reached := false // whether the message may have reached the recipient
	defer func() {
		if !reached {
			release()
		}
	}()

	prior, err := t.claim(ctx, m.ID, now)
	switch {
	case err != nil:
		return sender.SendResult{}, err
	case prior.wamid != "":
		return sender.SendResult{ProviderID: prior.wamid, SentAt: prior.acceptedAt}, nil
	case prior.wait > 0:
		return sender.SendResult{}, sender.Throttle(ErrUnconfirmed, prior.wait)
	}

	wamid, err := call(ctx)
	if err != nil {
		if refused(err) {
			t.unclaim(ctx, m.ID, now)
		} else {
			// Meta may have taken it: the attempt stays claimed until its status webhook
			// or the confirm window, and the recipient's pair gap stays spent.
			reached = true
		}
		return sender.SendResult{}, t.failure(ctx, m, now, err)
	}
	reached = true
	t.record(ctx, m.ID, wamid, now)
	return sender.SendResult{ProviderID: wamid, SentAt: now}, nil
}

// request returns the Graph call that sends m.
func (t *Transport) request(m sender.Message) (func(context.Context) (string, error), error) {
	if tm := m.Template; tm != nil {
		tpl := Template{Name: tm.Name, Language: tm.Language, BodyParams: tm.Params, BodyParamNames: tm.ParamNames}
		if h := tm.Header; h != nil {
			tpl.Header = &Media{Kind: MediaKind(h.Kind), Link: h.Link}
		}
		return func(ctx context.Context) (string, error) { return t.client.SendTemplate(ctx, m.To, tpl, m.ID) }, nil
	}
	if m.Campaign {
		return nil, ErrCampaignWithoutTemplate
	}
	return func(ctx context.Context) (string, error) { return t.client.SendText(ctx, m.To, m.Text, m.ID) }, nil
}

// reserve checks the account's back-off and the recipient's pair gap, and takes the
// recipient's next slot; release gives the slot back when nothing was sent.
func (t *Transport) reserve(to string, now time.Time) (release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("whatsappcloud: account %d: disconnected", t.accountID)
	}
	if now.Before(t.backoffUntil) {
		return nil, sender.Throttle(fmt.Errorf("%w: %w", ErrBackingOff, t.backoffErr), t.backoffUntil.Sub(now))
	}
	if !now.Before(t.nextPrune) {
		for k, until := range t.notBefore {
			if !until.After(now) {
				delete(t.notBefore, k)
			}
		}
		t.nextPrune = now.Add(t.opts.PairGap)
	}
	prev, had := t.notBefore[to]
	if now.Before(prev) {
		return nil, sender.Throttle(ErrPairGap, prev.Sub(now))
	}
	mine := now.Add(t.opts.PairGap)
	t.notBefore[to] = mine
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.notBefore[to].Equal(mine) { // not moved since (by a back-off)
			if had {
				t.notBefore[to] = prev
			} else {
				delete(t.notBefore, to)
			}
		}
	}, nil
}

// prior is what cloud_messages knows of earlier attempts of a message.
type prior struct {
	wamid      string        // Meta accepted one: its id
	acceptedAt time.Time     // and when
	wait       time.Duration // an attempt of unknown outcome: how long until a new one may go
}

// claim records this attempt of messageID before Meta is called, unless an earlier one
// was accepted (its wamid is known) or may have been (attempted within the confirm
// window, outcome unknown). An earlier attempt older than the window was not accepted:
// Meta's status webhook (which echoes the message id) would have said so by then.
func (t *Transport) claim(ctx context.Context, messageID string, now time.Time) (prior, error) {
	tag, err := t.pool.Exec(ctx, `
		INSERT INTO cloud_messages AS c (message_id, account_id, attempted_at) VALUES ($1, $2, $3)
		ON CONFLICT (message_id) DO UPDATE SET account_id = excluded.account_id, attempted_at = excluded.attempted_at
			WHERE c.wamid IS NULL AND c.attempted_at <= $4`,
		messageID, t.accountID, now, now.Add(-t.opts.ConfirmWindow))
	if err != nil {
		return prior{}, fmt.Errorf("whatsappcloud: account %d: record the attempt: %w", t.accountID, err)
	}
	if tag.RowsAffected() == 1 {
		return prior{}, nil
	}
	var wamid *string
	var attemptedAt time.Time
	var acceptedAt *time.Time
	err = t.pool.QueryRow(ctx, `SELECT wamid, attempted_at, accepted_at FROM cloud_messages WHERE message_id = $1`, messageID).
		Scan(&wamid, &attemptedAt, &acceptedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		// The other attempt was just refused and forgotten: try again in a moment.
		return prior{wait: time.Second}, nil
	}
	if err != nil {
		return prior{}, fmt.Errorf("whatsappcloud: account %d: read the earlier attempt: %w", t.accountID, err)
	}
	if wamid != nil {
		p := prior{wamid: *wamid, acceptedAt: attemptedAt.UTC()}
		if acceptedAt != nil {
			p.acceptedAt = acceptedAt.UTC()
		}
		return p, nil
	}
	return prior{wait: max(attemptedAt.Add(t.opts.ConfirmWindow).Sub(now), time.Second)}, nil
}

// unclaim forgets an attempt that Meta refused, so that a retry may send at once.
func (t *Transport) unclaim(ctx context.Context, messageID string, attemptedAt time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := t.pool.Exec(ctx, `DELETE FROM cloud_messages WHERE message_id = $1 AND wamid IS NULL AND attempted_at = $2`,
		messageID, attemptedAt)
	if err != nil {
		// The retry waits for the confirm window instead: later, never twice.
		t.log.WarnContext(ctx, "forget a refused attempt", "error", err)
	}
}

// record keeps Meta's wamid of an accepted message. Its failure is logged, not
// returned: the message went, and the status webhook fills the wamid in too.
func (t *Transport) record(ctx context.Context, messageID, wamid string, at time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := t.pool.Exec(ctx, `
		UPDATE cloud_messages SET wamid = $2, accepted_at = coalesce(accepted_at, $3) WHERE message_id = $1`,
		messageID, wamid, at)
	if err != nil {
		t.log.WarnContext(ctx, "record Meta's message id; the status webhook will", "error", err)
	}
}

// refused reports whether err says that Meta did not take the message: it answered with
// a client error (4xx), or the message never left (invalid input). A network failure, a
// server error or an answer without a message id may hide an accepted message.
func refused(err error) bool {
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.HTTPStatus >= 400 && ge.HTTPStatus < 500
	}
	return errors.Is(err, ErrInvalidPhone) || errors.Is(err, ErrInvalidMessage)
}

// failure turns a failed send into what the sender package acts on, and reports a
// recipient's opt-out.
func (t *Transport) failure(ctx context.Context, m sender.Message, now time.Time, err error) error {
	var ge *GraphError
	errors.As(err, &ge)
	switch {
	case errors.Is(err, ErrMarketingOptOut):
		detail := ""
		if ge != nil {
			detail = ge.Details
			if detail == "" {
				detail = ge.Message
			}
		}
		t.events(ctx, sender.Event{Kind: sender.EventOptOut, AccountID: t.accountID, From: m.To, At: now,
			Network: "whatsapp", Error: detail})
		return err
	case errors.Is(err, ErrTemplate):
		return sender.Mark(err, sender.ErrTemplateRefused)
	case errors.Is(err, ErrThrottled) && ge != nil:
		until := now.Add(ge.RetryAfter)
		t.mu.Lock()
		if ge.Class == ClassRecipientThrottled {
			if until.After(t.notBefore[m.To]) {
				t.notBefore[m.To] = until
			}
		} else if until.After(t.backoffUntil) {
			t.backoffUntil, t.backoffErr = until, ge
		}
		t.mu.Unlock()
		return sender.Throttle(err, ge.RetryAfter)
	case ge != nil && ge.Class == ClassAccount:
		return sender.AccountFailure(fmt.Errorf("%s: %w", accountReason(ge), err))
	}
	return err
}
