package sender

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
)

// heldSet stands in for the Manager: the accounts it holds, and what a lease check says.
type heldSet struct {
	mu       sync.Mutex
	accounts map[int64]Account
	lease    func(id, token int64) (bool, error) // nil: held
}

func (h *heldSet) Held(id int64) (Transport, Account, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.accounts[id]
	if !ok {
		return nil, Account{}, 0, false
	}
	return nopTransport{}, a, 10 + id, true
}

func (h *heldSet) CheckLease(_ context.Context, id, token int64) (bool, error) {
	h.mu.Lock()
	lease := h.lease
	h.mu.Unlock()
	if lease == nil {
		_, _, held, ok := h.Held(id)
		return ok && held == token, nil
	}
	return lease(id, token)
}

func (h *heldSet) drop(id int64) {
	h.mu.Lock()
	delete(h.accounts, id)
	h.mu.Unlock()
}

type nopTransport struct{}

func (nopTransport) Send(context.Context, Message) (SendResult, error) { return SendResult{}, nil }
func (nopTransport) Close() error                                      { return nil }

// testPool is a Pool over accounts held at the given per-minute rates, on a Redis database
// of its own.
func testPool(t *testing.T, opts PoolOptions, rates map[int64]int) (*Pool, *heldSet, *redis.Client) {
	t.Helper()
	t.Parallel()
	rdb := testredis.New(t)
	held := &heldSet{accounts: map[int64]Account{}}
	for id, rate := range rates {
		held.accounts[id] = Account{ID: id, RatePerMinute: rate}
	}
	return NewPool(held, NewLimiter(rdb, LimiterOptions{}), opts), held, rdb
}

const fast = 10_000_000 // a rate that never refuses in a test

func TestPoolRotatesOverTheHeldAccounts(t *testing.T) {
	p, held, _ := testPool(t, PoolOptions{}, map[int64]int{1: fast, 2: fast, 3: fast})
	ctx := context.Background()
	req := Request{CampaignID: 7, Accounts: []int64{1, 2, 3}, Rotation: RoundRobin, ContactID: 5}
	var got []int64
	for range 6 {
		g, err := p.Acquire(ctx, req)
		require.NoError(t, err)
		require.NotNil(t, g.Transport)
		got = append(got, g.AccountID)
	}
	require.Equal(t, []int64{1, 2, 3, 1, 2, 3}, got, "in turn")

	held.drop(2)
	got = got[:0]
	for range 4 {
		g, err := p.Acquire(ctx, req)
		require.NoError(t, err)
		got = append(got, g.AccountID)
	}
	require.NotContains(t, got, int64(2), "an account not held here is left out")

	// A message pinned to an account goes through it alone, or not from here.
	g, err := p.Acquire(ctx, Request{CampaignID: 7, Accounts: []int64{1, 2, 3}, Pinned: 3, Rotation: RoundRobin, ContactID: 5})
	require.NoError(t, err)
	require.EqualValues(t, 3, g.AccountID)
	_, err = p.Acquire(ctx, Request{CampaignID: 7, Accounts: []int64{1, 2, 3}, Pinned: 2, Rotation: RoundRobin, ContactID: 5})
	require.ErrorIs(t, err, ErrNoneHeld)
	_, err = p.Acquire(ctx, Request{CampaignID: 7, Accounts: []int64{4}, Rotation: RoundRobin, ContactID: 5})
	require.ErrorIs(t, err, ErrNoneHeld)
}

// TestPoolSaysWhenToAskAgain: an account whose rate refuses for longer than MaxTokenWait is
// Busy, with the time its next token is due; the sticky account of a contact is waited
// for, not switched.
func TestPoolSaysWhenToAskAgain(t *testing.T) {
	p, _, _ := testPool(t, PoolOptions{MaxTokenWait: 50 * time.Millisecond}, map[int64]int{1: 60, 2: 60})
	ctx := context.Background()
	req := Request{CampaignID: 7, Accounts: []int64{1, 2}, Rotation: RoundRobin, ContactID: 5}
	for range 2 {
		_, err := p.Acquire(ctx, req)
		require.NoError(t, err, "a token of each account")
	}
	_, err := p.Acquire(ctx, req)
	var busy *Busy
	require.ErrorAs(t, err, &busy)
	require.Equal(t, "no account has a send token", busy.Reason)
	require.InDelta(t, time.Second, busy.RetryAfter, float64(200*time.Millisecond), "60 a minute: the next in about a second")
}

// TestPoolCampaignCap: a campaign's own cap refuses while its accounts could send, under a
// key of its own (no daily count), apart from every account's.
func TestPoolCampaignCap(t *testing.T) {
	p, _, rdb := testPool(t, PoolOptions{MaxTokenWait: 50 * time.Millisecond}, map[int64]int{1: fast, 2: fast})
	ctx := context.Background()
	req := Request{CampaignID: 7, Accounts: []int64{1, 2}, Rotation: RoundRobin, ContactID: 5, RatePerMinute: 60}
	_, err := p.Acquire(ctx, req)
	require.NoError(t, err)
	_, err = p.Acquire(ctx, req)
	var busy *Busy
	require.ErrorAs(t, err, &busy)
	require.Equal(t, "the campaign's rate cap", busy.Reason)
	require.InDelta(t, time.Second, busy.RetryAfter, float64(200*time.Millisecond))

	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Contains(t, keys, "rate:crier:limit:campaign:{7}:gcra")
	for _, k := range keys {
		require.NotContains(t, k, "{-7}", "no negated account id")
		require.NotContains(t, k, "campaign:{7}:day", "a campaign has no daily count")
	}

	// Another campaign over the same accounts has a cap of its own.
	_, err = p.Acquire(ctx, Request{CampaignID: 8, Accounts: []int64{1, 2}, Rotation: RoundRobin, ContactID: 5, RatePerMinute: 60})
	require.NoError(t, err)
}

// TestPoolRepliesGoFirst: while a reply waits for an account's token, campaign messages
// leave the account to it; the reply takes the next token.
func TestPoolRepliesGoFirst(t *testing.T) {
	p, _, _ := testPool(t, PoolOptions{MaxTokenWait: 50 * time.Millisecond, ReplyWait: 5 * time.Second}, map[int64]int{1: 60})
	ctx := context.Background()
	req := Request{CampaignID: 7, Accounts: []int64{1}, Rotation: RoundRobin, ContactID: 5}
	_, err := p.Acquire(ctx, req)
	require.NoError(t, err)

	type reply struct {
		g   Grant
		ok  bool
		err error
	}
	done := make(chan reply, 1)
	go func() {
		g, ok, err := p.AcquireReply(ctx, 1)
		done <- reply{g, ok, err}
	}()
	require.Eventually(t, func() bool { return p.replyPending(1) }, 5*time.Second, time.Millisecond)
	_, err = p.Acquire(ctx, req)
	var busy *Busy
	require.ErrorAs(t, err, &busy)
	require.Equal(t, "a reply to a customer goes first", busy.Reason)
	require.Equal(t, time.Second, busy.RetryAfter)

	r := <-done
	require.NoError(t, r.err)
	require.True(t, r.ok, "the reply got the next token")
	require.EqualValues(t, 1, r.g.AccountID)
	require.False(t, p.replyPending(1))

	_, ok, err := p.AcquireReply(ctx, 2)
	require.NoError(t, err)
	require.False(t, ok, "not held here")
}

// TestPoolConfirmTellsALostLeaseFromRedisFailing: a lease that moved is ErrLeaseMoved; a
// lease check that could not reach Redis is an error of its own, not a moved lease.
func TestPoolConfirmTellsALostLeaseFromRedisFailing(t *testing.T) {
	p, held, _ := testPool(t, PoolOptions{}, map[int64]int{1: fast})
	ctx := context.Background()
	g, err := p.Acquire(ctx, Request{CampaignID: 7, Accounts: []int64{1}, Rotation: RoundRobin})
	require.NoError(t, err)
	require.NoError(t, p.Confirm(ctx, g))

	held.mu.Lock()
	held.lease = func(int64, int64) (bool, error) { return false, nil }
	held.mu.Unlock()
	require.ErrorIs(t, p.Confirm(ctx, g), ErrLeaseMoved)

	down := errors.New("sender: check lease on account 1: dial tcp: connection refused")
	held.mu.Lock()
	held.lease = func(int64, int64) (bool, error) { return false, down }
	held.mu.Unlock()
	err = p.Confirm(ctx, g)
	require.ErrorIs(t, err, down)
	require.NotErrorIs(t, err, ErrLeaseMoved)
}

// TestPoolRefundGivesTheDailyTokenBack: a message never handed to the transport does not
// count against the account's daily cap.
func TestPoolRefundGivesTheDailyTokenBack(t *testing.T) {
	p, held, _ := testPool(t, PoolOptions{MaxTokenWait: 50 * time.Millisecond}, nil)
	held.accounts[1] = Account{ID: 1, RatePerMinute: fast, DailyCap: 1}
	ctx := context.Background()
	req := Request{CampaignID: 7, Accounts: []int64{1}, Rotation: RoundRobin}
	g, err := p.Acquire(ctx, req)
	require.NoError(t, err)
	_, err = p.Acquire(ctx, req)
	var busy *Busy
	require.ErrorAs(t, err, &busy, "the day's one token is taken")
	require.NoError(t, p.Refund(ctx, g))
	_, err = p.Acquire(ctx, req)
	require.NoError(t, err, "given back")
}

// TestWaitSlots: at most waitersPerKey callers of a process wait for one limiter key's
// tokens. A crowd asking Redis at each token's due time would take them late (with a burst
// of 1 a late token is lost), and sends queued behind one account would leave the others'
// tokens untaken. So a caller takes a free slot of the key with the soonest token, else of
// the next key, else whichever slot frees first. An account and a campaign of the same id
// have slots of their own.
func TestWaitSlots(t *testing.T) {
	p, _, _ := testPool(t, PoolOptions{MaxTokenWait: 300 * time.Millisecond}, nil)
	ctx := context.Background()
	a, c := accountKey(41), accountKey(42)

	var releases []chan struct{}
	for range waitersPerKey {
		key, slot, ok, err := p.waitSlot(ctx, []limitKey{a, c})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, a, key, "the soonest account's slots first")
		releases = append(releases, slot)
	}
	key, slotC, ok, err := p.waitSlot(ctx, []limitKey{a, c})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c, key, "a's slots are taken: the next account's")

	// The campaign 41's slots are not account 41's.
	_, campaignSlot, ok, err := p.waitSlot(ctx, []limitKey{campaignKey(41)})
	require.NoError(t, err)
	require.True(t, ok)
	<-campaignSlot

	// Only a's: wait for one to free.
	go func() { time.Sleep(100 * time.Millisecond); <-releases[0] }()
	began := time.Now()
	key, slot, ok, err := p.waitSlot(ctx, []limitKey{a})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, a, key)
	require.GreaterOrEqual(t, time.Since(began), 100*time.Millisecond, "it waited for the slot to free")

	// Every slot taken and none frees: it gives up after MaxTokenWait.
	began = time.Now()
	_, _, ok, err = p.waitSlot(ctx, []limitKey{a})
	require.NoError(t, err)
	require.False(t, ok)
	require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)

	// With every slot of both taken, the first to free wins, whichever key it is.
	for range waitersPerKey - 1 {
		_, s, ok, err := p.waitSlot(ctx, []limitKey{c})
		require.NoError(t, err)
		require.True(t, ok)
		defer func() { <-s }()
	}
	go func() { time.Sleep(50 * time.Millisecond); <-slotC }()
	key, _, ok, err = p.waitSlot(ctx, []limitKey{a, c})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c, key, "c's slot freed first")
	<-slot
	<-releases[1]
}
