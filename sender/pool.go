package sender

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"time"
)

// HeldAccounts are the accounts this process holds, as a Pool draws on them (the Manager).
type HeldAccounts interface {
	// Held returns the transport, record and lease token of an account that may send from
	// this process now.
	Held(id int64) (Transport, Account, int64, bool)
	// CheckLease verifies in Redis that this process still holds the account under token.
	CheckLease(ctx context.Context, id, token int64) (bool, error)
}

var _ HeldAccounts = (*Manager)(nil)

// ErrNoneHeld is Acquire's answer when none of the accounts a message may go through is
// held by this process: another process sends it, or this one once it holds one.
var ErrNoneHeld = errors.New("sender: none of the accounts is held by this process")

// ErrLeaseMoved is Confirm's answer when the account's lease is no longer this process's:
// another process has the account, and nothing may be sent through it from here.
var ErrLeaseMoved = errors.New("sender: the account's lease moved to another process")

// Busy is Acquire's answer "not now": the accounts are held here but none can send yet (their
// rate, their daily budget, the campaign's cap, or a reply that goes first). It is not a
// failure: asking again after RetryAfter may succeed.
type Busy struct {
	RetryAfter time.Duration
	Reason     string
}

func (e *Busy) Error() string { return "sender: no account can send now: " + e.Reason }

// PoolOptions tune a Pool. Zero values get defaults.
type PoolOptions struct {
	// MaxTokenWait is the longest Acquire waits in-process for a rate token (an account's,
	// or the campaign's cap) before it answers Busy. Default 2s.
	MaxTokenWait time.Duration
	// ReplyWait is the longest AcquireReply waits for an account's rate token. Default 30s.
	ReplyWait time.Duration
}

// Pool hands out the accounts this process holds, one message at a time: it picks the
// account by the campaign's rotation, takes a send token from the account's limits (and the
// campaign's own cap), lets replies to customers go first, and keeps the sends that wait
// for tokens few (waitersPerKey). The process that holds an account's lease is the only one
// that sends through it, so this in-process state is all the coordination sending needs;
// the limits themselves live in Redis (Limiter). A Pool is safe for concurrent use.
type Pool struct {
	held    HeldAccounts
	limiter *Limiter
	opts    PoolOptions

	mu      sync.Mutex
	turns   map[int64]uint64           // round-robin counter per campaign
	replies map[int64]int              // replies waiting for a token, per account: they go first
	waiters map[limitKey]chan struct{} // waiter slots per limiter key (waitSlot)
}

// NewPool returns a Pool over the accounts held drawing tokens from limiter.
func NewPool(held HeldAccounts, limiter *Limiter, opts PoolOptions) *Pool {
	if opts.MaxTokenWait <= 0 {
		opts.MaxTokenWait = 2 * time.Second
	}
	if opts.ReplyWait <= 0 {
		opts.ReplyWait = 30 * time.Second
	}
	return &Pool{held: held, limiter: limiter, opts: opts,
		turns: map[int64]uint64{}, replies: map[int64]int{}, waiters: map[limitKey]chan struct{}{}}
}

// Request is one campaign message that needs an account.
type Request struct {
	// CampaignID keys the round-robin turn and the campaign's cap.
	CampaignID int64
	// Accounts are the campaign's accounts, in the campaign's order.
	Accounts []int64
	// Pinned, when not 0, is the one account the message may go through: an earlier attempt
	// may have reached the network through it, under the same message id.
	Pinned int64
	// Rotation spreads the campaign's messages over its accounts; ContactID keys Sticky.
	Rotation  Rotation
	ContactID int64
	// RatePerMinute is the campaign's own cap over its accounts' rates; 0 for none.
	RatePerMinute int
}

// Grant is the right to send one message through an account this process holds: a send
// token of the account's rate and daily budget (and of the campaign's cap) is taken. Send
// through Transport after Confirm; a message that is not handed to Transport after all
// gives the token back with Refund.
type Grant struct {
	AccountID int64
	Transport Transport
	token     int64         // the account's lease token when it was granted
	decision  LimitDecision // the account's send token
}

// Acquire picks the account for one message and takes a send token from it. The candidates
// are the request's accounts this process holds (or the pinned account alone), in rotation
// order. It takes the first token free at once; failing that it waits up to MaxTokenWait for
// the soonest rate token, so that the configured rate is reached. A campaign with a cap
// first takes a token of the cap, the same way.
//
// It returns ErrNoneHeld when no candidate is held here, a *Busy when no token is due in
// time, and any other error when Redis could not be asked.
func (p *Pool) Acquire(ctx context.Context, req Request) (Grant, error) {
	candidates := req.Accounts
	if req.Pinned != 0 {
		candidates = []int64{req.Pinned}
	}
	order := Order(req.Rotation, candidates, req.ContactID, p.turn(req.CampaignID), p.usable)
	if len(order) == 0 {
		return Grant{}, ErrNoneHeld
	}
	if req.RatePerMinute > 0 {
		dec, err := p.waitAlone(ctx, campaignKey(req.CampaignID), AccountLimits{RatePerMinute: req.RatePerMinute})
		if err != nil {
			return Grant{}, err
		}
		if !dec.Allowed {
			return Grant{}, &Busy{RetryAfter: dec.RetryAfter, Reason: "the campaign's rate cap"}
		}
	}

	type refusal struct {
		key   limitKey
		after time.Duration
	}
	var refused []refusal // by the rate alone: a token is due soon
	soonest := time.Duration(1 << 62)
	waiting := false // a reply waits for one of the accounts: this message comes back later
	for _, id := range order {
		tr, a, token, ok := p.held.Held(id)
		if !ok {
			continue
		}
		if p.replyPending(id) {
			waiting = true
			continue
		}
		dec, err := p.limiter.Take(ctx, id, a.Limits())
		if err != nil {
			return Grant{}, err
		}
		if dec.Allowed {
			return Grant{AccountID: id, Transport: tr, token: token, decision: dec}, nil
		}
		soonest = min(soonest, dec.RetryAfter)
		if dec.Reason == LimitedByRate && dec.RetryAfter <= p.opts.MaxTokenWait {
			refused = append(refused, refusal{accountKey(id), dec.RetryAfter})
		}
	}
	// Wait for a token, as one of at most waitersPerKey waiters of the account in this
	// process: of the account with the soonest token and a free slot, or else of whichever
	// account's slot frees first. A waiter or two per account take each token as it comes
	// due; a crowd would only race for it, and with a burst of 1 a token taken late is lost,
	// so a crowd makes the account slower. And a send that queued for one account would
	// leave the others' tokens untaken while its queue is long.
	if len(refused) > 0 {
		slices.SortStableFunc(refused, func(a, b refusal) int { return cmp.Compare(a.after, b.after) })
		keys := make([]limitKey, len(refused))
		for i, r := range refused {
			keys[i] = r.key
		}
		began := time.Now()
		key, slot, ok, err := p.waitSlot(ctx, keys)
		if err != nil {
			return Grant{}, err
		}
		if ok {
			defer func() { <-slot }()
			if tr, a, token, held := p.held.Held(key.id); held {
				dec, err := p.limiter.Wait(ctx, key.id, a.Limits(), max(p.opts.MaxTokenWait-time.Since(began), 0))
				if err != nil {
					return Grant{}, err
				}
				if dec.Allowed {
					return Grant{AccountID: key.id, Transport: tr, token: token, decision: dec}, nil
				}
				soonest = dec.RetryAfter
			}
		}
	}
	if waiting && len(refused) == 0 {
		return Grant{}, &Busy{RetryAfter: time.Second, Reason: "a reply to a customer goes first"}
	}
	return Grant{}, &Busy{RetryAfter: soonest, Reason: "no account has a send token"}
}

// AcquireReply takes a send token of an account this process holds, for a reply to a
// customer (a confirmation is due now, an opt-out's within minutes, by law in places). It
// takes a free token at once; otherwise it waits up to ReplyWait, and meanwhile Acquire
// leaves the account's tokens to it. ok is false when the account is not held here or no
// token came in time.
func (p *Pool) AcquireReply(ctx context.Context, accountID int64) (g Grant, ok bool, err error) {
	tr, a, token, held := p.held.Held(accountID)
	if !held {
		return Grant{}, false, nil
	}
	dec, err := p.limiter.Take(ctx, accountID, a.Limits())
	if err == nil && !dec.Allowed {
		// One that has its token at once holds no send back.
		p.replyWaiting(accountID, +1)
		dec, err = p.limiter.Wait(ctx, accountID, a.Limits(), p.opts.ReplyWait)
		p.replyWaiting(accountID, -1)
	}
	if err != nil || !dec.Allowed {
		return Grant{}, false, err
	}
	return Grant{AccountID: accountID, Transport: tr, token: token, decision: dec}, true, nil
}

// Confirm checks in Redis, right before the send, that the account's lease is still the one
// g was granted under. It returns ErrLeaseMoved when another process has the account now
// (send nothing from here), and another error when Redis could not say.
func (p *Pool) Confirm(ctx context.Context, g Grant) error {
	ok, err := p.held.CheckLease(ctx, g.AccountID, g.token)
	if err != nil {
		return err
	}
	if !ok {
		return ErrLeaseMoved
	}
	return nil
}

// Refund gives back the daily-budget part of g's token, for a message that was never handed
// to the transport (Limiter.Refund).
func (p *Pool) Refund(ctx context.Context, g Grant) error {
	return p.limiter.Refund(ctx, g.decision)
}

func (p *Pool) usable(id int64) bool {
	_, _, _, ok := p.held.Held(id)
	return ok
}

func (p *Pool) turn(campaignID int64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.turns[campaignID]
	p.turns[campaignID] = n + 1
	return n
}

// replyWaiting marks (delta +1) or unmarks (-1) a reply waiting for a send token from an
// account. Only the process holding an account's lease sends through it, so this
// in-process count is all the priority a reply needs.
func (p *Pool) replyWaiting(accountID int64, delta int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.replies[accountID] += delta; p.replies[accountID] <= 0 {
		delete(p.replies, accountID)
	}
}

// replyPending reports whether a reply waits for a token from the account.
func (p *Pool) replyPending(accountID int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replies[accountID] > 0
}

// waitersPerKey is how many callers of a process may wait for the tokens of one limiter key.
const waitersPerKey = 2

// slots returns the waiter slots of a limiter key: a caller holds one while it waits.
func (p *Pool) slots(key limitKey) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	slots, ok := p.waiters[key]
	if !ok {
		if len(p.waiters) > 10_000 { // keys of deleted accounts and finished campaigns
			clear(p.waiters)
		}
		slots = make(chan struct{}, waitersPerKey)
		p.waiters[key] = slots
	}
	return slots
}

// waitSlot takes a waiter slot of one of the limiter keys: the first key's with a free slot,
// in order, or else whichever frees first within MaxTokenWait. ok is false when none did;
// the caller gives the slot back by receiving from it.
func (p *Pool) waitSlot(ctx context.Context, keys []limitKey) (key limitKey, slot chan struct{}, ok bool, err error) {
	for _, k := range keys {
		s := p.slots(k)
		select {
		case s <- struct{}{}:
			return k, s, true, nil
		default:
		}
	}
	if len(keys) == 0 {
		return limitKey{}, nil, false, nil
	}
	t := time.NewTimer(p.opts.MaxTokenWait)
	defer t.Stop()
	cases := make([]reflect.SelectCase, 0, len(keys)+2)
	for _, k := range keys {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectSend, Chan: reflect.ValueOf(p.slots(k)), Send: reflect.ValueOf(struct{}{})})
	}
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	switch i, _, _ := reflect.Select(cases); {
	case i < len(keys):
		return keys[i], cases[i].Chan.Interface().(chan struct{}), true, nil
	case i == len(keys): // MaxTokenWait passed
		return limitKey{}, nil, false, nil
	default:
		return limitKey{}, nil, false, ctx.Err()
	}
}

// waitAlone waits for a token of one limiter key as one of at most waitersPerKey callers of
// this process (waitSlot), MaxTokenWait in all. It returns a zero, not allowed, decision
// when no slot freed in time.
func (p *Pool) waitAlone(ctx context.Context, key limitKey, limits AccountLimits) (LimitDecision, error) {
	began := time.Now()
	_, slot, ok, err := p.waitSlot(ctx, []limitKey{key})
	if err != nil || !ok {
		return LimitDecision{}, err
	}
	defer func() { <-slot }()
	return p.limiter.wait(ctx, key, limits, max(p.opts.MaxTokenWait-time.Since(began), 0))
}
