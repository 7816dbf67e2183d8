package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
)

// Lease tests run on real time: the point is how leases behave as Redis expires them. They
// shorten the TTL instead. 3s rather than less keeps them steady on a loaded machine, where
// Redis calls may stall for hundreds of milliseconds.
const testLeaseTTL = 3 * time.Second

// leaseClients returns n separate clients on one private database, one per "process".
func leaseClients(t *testing.T, n int) []*redis.Client {
	t.Helper()
	opts := testredis.Options(t)
	clients := make([]*redis.Client, n)
	for i := range clients {
		o := *opts
		clients[i] = redis.NewClient(&o)
		t.Cleanup(func() { clients[i].Close() })
	}
	return clients
}

// leaseEvents records a manager's events.
type leaseEvents struct {
	mu     sync.Mutex
	events []LeaseEvent
}

func (r *leaseEvents) add(ev LeaseEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *leaseEvents) all() []LeaseEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// waitFor returns the first recorded event of that kind for the account, waiting for it at
// most timeout.
func (r *leaseEvents) waitFor(t *testing.T, kind LeaseEventKind, accountID int64, timeout time.Duration) LeaseEvent {
	t.Helper()
	var found LeaseEvent
	require.Eventually(t, func() bool {
		for _, ev := range r.all() {
			if ev.Kind == kind && ev.AccountID == accountID {
				found = ev
				return true
			}
		}
		return false
	}, timeout, 5*time.Millisecond, "no %s event for account %d", kind, accountID)
	return found
}

type testLeaseManager struct {
	*LeaseManager
	events *leaseEvents
	stop   func() // cancels Run and waits for it; idempotent
}

// startLeaseManager runs a manager named name that wants accountIDs, with test intervals
// unless opts sets them. opts.EventFunc, if set, runs after each event is recorded; setup,
// if set, runs before Run.
func startLeaseManager(t *testing.T, rdb redis.UniversalClient, name string, opts LeaseManagerOptions, accountIDs []int64, setup func(*LeaseManager)) *testLeaseManager {
	t.Helper()
	rec := &leaseEvents{}
	next := opts.EventFunc
	opts.EventFunc = func(ev LeaseEvent) {
		rec.add(ev)
		if next != nil {
			next(ev)
		}
	}
	opts.Owner = name
	if opts.TTL == 0 {
		opts.TTL = testLeaseTTL
	}
	if opts.AcquireEvery == 0 {
		opts.AcquireEvery = 50 * time.Millisecond
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	m, err := NewLeaseManager(rdb, opts)
	require.NoError(t, err)
	if setup != nil {
		setup(m)
	}
	m.SetAccounts(accountIDs)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Errorf("lease manager %s did not stop", name)
			}
		})
	}
	t.Cleanup(stop)
	return &testLeaseManager{LeaseManager: m, events: rec, stop: stop}
}

// leaseHolders returns, per account, the managers that hold it now.
func leaseHolders(managers []*testLeaseManager, accountIDs []int64) map[int64][]*testLeaseManager {
	h := map[int64][]*testLeaseManager{}
	for _, id := range accountIDs {
		for _, m := range managers {
			if _, ok := m.Holds(id); ok {
				h[id] = append(h[id], m)
			}
		}
	}
	return h
}

// TestLeaseExclusiveAcrossManagers runs three managers for four accounts and checks, every
// millisecond throughout, that no account is held by two of them; that a crashed holder's
// accounts are taken over within seconds with higher fencing tokens; and that a stopped
// holder's accounts are handed over.
func TestLeaseExclusiveAcrossManagers(t *testing.T) {
	t.Parallel()
	accounts := []int64{1, 2, 3, 4}
	clients := leaseClients(t, 3)
	var managers []*testLeaseManager
	for i, rdb := range clients {
		managers = append(managers, startLeaseManager(t, rdb, fmt.Sprintf("m%d", i), LeaseManagerOptions{}, accounts, nil))
	}

	// The watchdog: at most one holder per account at any time, and tokens only grow.
	var (
		violations atomic.Int64
		lastToken  sync.Map // account → highest token seen
	)
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for watchCtx.Err() == nil {
			<-tick.C
			for _, id := range accounts {
				n := 0
				for _, m := range managers {
					token, ok := m.Holds(id)
					if !ok {
						continue
					}
					n++
					if prev, loaded := lastToken.LoadOrStore(id, token); loaded {
						if token < prev.(int64) {
							violations.Add(1)
						}
						lastToken.Store(id, max(token, prev.(int64)))
					}
				}
				if n > 1 {
					violations.Add(1)
				}
			}
		}
	}()

	allHeldBy := func(alive []*testLeaseManager) func() bool {
		return func() bool {
			h := leaseHolders(alive, accounts)
			for _, id := range accounts {
				if len(h[id]) != 1 {
					return false
				}
			}
			return true
		}
	}
	require.Eventually(t, allHeldBy(managers), testLeaseTTL, 5*time.Millisecond, "not every account was acquired")

	// Crash the holder of account 1: its Redis connection is gone, so it cannot renew (or
	// release) anything.
	victim := leaseHolders(managers, accounts)[1][0]
	victimTokens := map[int64]int64{}
	for _, id := range accounts {
		if token, ok := victim.Holds(id); ok {
			victimTokens[id] = token
		}
	}
	survivors := slices.DeleteFunc(slices.Clone(managers), func(m *testLeaseManager) bool { return m == victim })
	crashed := time.Now()
	require.NoError(t, clients[slices.Index(managers, victim)].Close())

	// It stops holding on its own clock, even though it cannot reach Redis...
	for id, token := range victimTokens {
		ev := victim.events.waitFor(t, LeaseLost, id, testLeaseTTL)
		require.Equal(t, token, ev.Token)
		require.ErrorIs(t, ev.Err, ErrLeaseExpired)
	}
	// ...and the survivors take its accounts over within TTL + AcquireEvery (+ slack).
	require.Eventually(t, allHeldBy(survivors), testLeaseTTL+2*time.Second, 5*time.Millisecond, "accounts of the crashed holder were not taken over")
	t.Logf("crashed holder's %d accounts taken over after %v (TTL %v)", len(victimTokens), time.Since(crashed).Round(time.Millisecond), testLeaseTTL)
	for id, old := range victimTokens {
		h := leaseHolders(survivors, accounts)[id]
		require.Len(t, h, 1)
		token, _ := h[0].Holds(id)
		require.Greater(t, token, old, "fencing token of account %d did not grow", id)
		ok, err := h[0].Check(t.Context(), id, token)
		require.NoError(t, err)
		require.True(t, ok)
	}

	// Stop one survivor cleanly: the last manager gets everything.
	survivors[0].stop()
	require.Eventually(t, allHeldBy(survivors[1:]), testLeaseTTL, 5*time.Millisecond)
	for _, ev := range survivors[0].events.all() {
		require.NotEqual(t, LeaseLost, ev.Kind, "a clean stop releases, it does not lose")
	}

	stopWatch()
	<-watched
	require.Zero(t, violations.Load(), "an account had two holders, or its token went down")
}

// TestLeaseReleaseHandsOver checks that a stopping holder keeps its lease until its
// EventFunc has disconnected the account (renewing it for longer than the TTL if need be),
// then releases it so that another manager takes over at once rather than after the TTL.
func TestLeaseReleaseHandsOver(t *testing.T) {
	t.Parallel()
	const account = 7
	clients := leaseClients(t, 3)
	disconnected := make(chan struct{})
	a := startLeaseManager(t, clients[0], "a", LeaseManagerOptions{
		EventFunc: func(ev LeaseEvent) {
			if ev.Kind == LeaseReleased {
				<-disconnected // the connection is being closed
			}
		},
	}, []int64{account}, nil)
	tokenA := a.events.waitFor(t, LeaseAcquired, account, testLeaseTTL).Token
	b := startLeaseManager(t, clients[1], "b", LeaseManagerOptions{}, []int64{account}, nil)
	c := startLeaseManager(t, clients[2], "c", LeaseManagerOptions{}, []int64{account}, nil)

	stopped := make(chan struct{})
	go func() {
		a.stop()
		close(stopped)
	}()
	a.events.waitFor(t, LeaseReleased, account, testLeaseTTL)
	_, held := a.Holds(account)
	require.False(t, held, "a releasing manager no longer holds the account")

	// Longer than the TTL: without renewal during the disconnect the lease would lapse.
	time.Sleep(testLeaseTTL * 3 / 2)
	v, err := clients[0].Get(t.Context(), leaseHolderKey(account)).Result()
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%d/a", tokenA), v, "the lease must stay until the account is disconnected")
	for _, m := range []*testLeaseManager{b, c} {
		_, held := m.Holds(account)
		require.False(t, held)
	}

	close(disconnected)
	released := time.Now()
	<-stopped
	var next *testLeaseManager
	require.Eventually(t, func() bool {
		h := leaseHolders([]*testLeaseManager{b, c}, []int64{account})[account]
		if len(h) == 1 {
			next = h[0]
		}
		return next != nil
	}, testLeaseTTL/2, 5*time.Millisecond, "release did not hand over promptly")
	t.Logf("handed over %v after release", time.Since(released).Round(time.Millisecond))
	tokenNext, _ := next.Holds(account)
	require.Greater(t, tokenNext, tokenA)

	// Dropping the account from the wanted set releases it too.
	other := b
	if next == b {
		other = c
	}
	next.SetAccounts(nil)
	next.events.waitFor(t, LeaseReleased, account, testLeaseTTL/2)
	var tokenOther int64
	require.Eventually(t, func() bool {
		tokenOther, held = other.Holds(account)
		return held
	}, testLeaseTTL/2, 5*time.Millisecond, "dropping the account did not hand it over")
	require.Greater(t, tokenOther, tokenNext)
}

// TestLeasePausedHolder freezes a holder (as a long GC pause or SIGSTOP would) past its
// lease: another manager takes the account, the frozen holder stops reporting the lease as
// held without running a single instruction of its loop, Redis refuses its token, and
// when it resumes it reports the lease lost.
func TestLeasePausedHolder(t *testing.T) {
	t.Parallel()
	const account = 9
	clients := leaseClients(t, 2)
	var paused atomic.Bool
	resume := make(chan struct{})
	a := startLeaseManager(t, clients[0], "a", LeaseManagerOptions{}, []int64{account}, func(m *LeaseManager) {
		m.beforeRenew = func(int64) {
			if paused.Load() {
				<-resume
			}
		}
	})
	tokenA := a.events.waitFor(t, LeaseAcquired, account, testLeaseTTL).Token
	paused.Store(true)
	defer func() {
		select {
		case <-resume:
		default:
			close(resume)
		}
	}()

	b := startLeaseManager(t, clients[1], "b", LeaseManagerOptions{}, []int64{account}, nil)
	tokenB := b.events.waitFor(t, LeaseAcquired, account, 2*testLeaseTTL).Token
	require.Greater(t, tokenB, tokenA)

	_, held := a.Holds(account)
	require.False(t, held, "a paused holder's lease ends on its own clock")
	ok, err := a.Check(t.Context(), account, tokenA)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = b.Check(t.Context(), account, tokenB)
	require.NoError(t, err)
	require.True(t, ok)

	// Redis refuses the stale token for renewal and release, whatever the local state says.
	renewed, _, err := a.renew(t.Context(), account, tokenA, time.Now().Add(time.Second))
	require.NoError(t, err)
	require.False(t, renewed)
	n, err := leaseReleaseScript.Run(t.Context(), clients[0], []string{leaseHolderKey(account)}, a.value(tokenA)).Int()
	require.NoError(t, err)
	require.Zero(t, n)
	ok, err = b.Check(t.Context(), account, tokenB)
	require.NoError(t, err)
	require.True(t, ok, "the stale holder's release must not remove the new lease")

	close(resume)
	ev := a.events.waitFor(t, LeaseLost, account, testLeaseTTL)
	require.Equal(t, tokenA, ev.Token)
	require.Error(t, ev.Err)
	require.True(t, errors.Is(ev.Err, ErrLeaseExpired) || errors.Is(ev.Err, ErrLeaseTaken), "%v", ev.Err)
	a.stop()
	ok, err = b.Check(t.Context(), account, tokenB)
	require.NoError(t, err)
	require.True(t, ok, "stopping the stale holder must not remove the new lease")
}

func TestLeaseCheck(t *testing.T) {
	t.Parallel()
	rdb := leaseClients(t, 1)[0]
	m := startLeaseManager(t, rdb, "m", LeaseManagerOptions{}, []int64{1}, nil)
	token := m.events.waitFor(t, LeaseAcquired, 1, testLeaseTTL).Token

	for _, tt := range []struct {
		name      string
		accountID int64
		token     int64
		want      bool
	}{
		{"current", 1, token, true},
		{"older token", 1, token - 1, false},
		{"newer token", 1, token + 1, false},
		{"other account", 2, token, false},
	} {
		ok, err := m.Check(t.Context(), tt.accountID, tt.token)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, ok, tt.name)
	}

	// Deleting the key behind its back (say, Redis lost its data) makes Check refuse.
	require.NoError(t, rdb.Del(t.Context(), leaseHolderKey(1)).Err())
	ok, err := m.Check(t.Context(), 1, token)
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, m.Run(t.Context()), errLeaseManagerRunning)
}

// TestLeaseCheckConcurrently: the checks of concurrent sends share round trips to Redis,
// and each still gets its own account's answer.
func TestLeaseCheckConcurrently(t *testing.T) {
	t.Parallel()
	rdb := leaseClients(t, 1)[0]
	m := startLeaseManager(t, rdb, "m", LeaseManagerOptions{}, []int64{1, 2, 3}, nil)
	tokens := map[int64]int64{}
	for id := range int64(3) {
		tokens[id+1] = m.events.waitFor(t, LeaseAcquired, id+1, testLeaseTTL).Token
	}
	require.NoError(t, rdb.Del(t.Context(), leaseHolderKey(3)).Err()) // lost behind its back

	var wg sync.WaitGroup
	for i := range 300 {
		account := int64(1 + i%3)
		wg.Go(func() {
			ok, err := m.Check(t.Context(), account, tokens[account])
			assert.NoError(t, err)
			assert.Equal(t, account != 3, ok, "account %d", account)
		})
	}
	wg.Wait()
}

func TestLeaseManagerOptions(t *testing.T) {
	t.Parallel()
	m, err := NewLeaseManager(nil, LeaseManagerOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, m.Owner())
	require.Equal(t, 10*time.Second, m.opts.TTL)
	require.Equal(t, 10*time.Second/3, m.opts.RenewEvery)
	require.Equal(t, 2*time.Second, m.opts.AcquireEvery)
	require.Equal(t, 2*time.Second, m.opts.Margin)

	for name, opts := range map[string]LeaseManagerOptions{
		"tiny TTL":               {TTL: time.Millisecond},
		"margin as long as TTL":  {TTL: time.Second, Margin: time.Second},
		"renewal after deadline": {TTL: time.Second, Margin: 200 * time.Millisecond, RenewEvery: 800 * time.Millisecond},
		"negative acquire":       {AcquireEvery: -time.Second},
	} {
		_, err := NewLeaseManager(nil, opts)
		require.Error(t, err, name)
	}
}

// TestLeaseHolders: the console's accounts page names the process holding each lease, and
// nobody for an account no manager wants.
func TestLeaseHolders(t *testing.T) {
	t.Parallel()
	rdb := leaseClients(t, 1)[0]
	m := startLeaseManager(t, rdb, "worker-a", LeaseManagerOptions{}, []int64{1, 2}, nil)
	m.events.waitFor(t, LeaseAcquired, 1, testLeaseTTL)
	m.events.waitFor(t, LeaseAcquired, 2, testLeaseTTL)

	got, err := LeaseHolders(t.Context(), rdb, []int64{1, 2, 3})
	require.NoError(t, err)
	require.Equal(t, map[int64]string{1: "worker-a", 2: "worker-a"}, got)

	m.stop() // released: nobody holds them
	got, err = LeaseHolders(t.Context(), rdb, []int64{1, 2})
	require.NoError(t, err)
	require.Empty(t, got)

	got, err = LeaseHolders(t.Context(), nil, []int64{1})
	require.NoError(t, err)
	require.Empty(t, got, "no Redis: no holders, no error")
}
