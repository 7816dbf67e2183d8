package sender_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
)

type managerBundle struct {
	rdb      *redis.Client // the managers' Redis database
	store    *sender.Accounts
	network  *sandbox.Network
	managers []*sender.Manager
	cancels  []context.CancelFunc
	done     []chan error
}

// startManagers runs n managers, as n worker processes would: one Redis database (a
// client each), one PostgreSQL, one simulated network.
func startManagers(t *testing.T, n int, accounts ...sender.AccountInput) (*managerBundle, []sender.Account) {
	t.Helper()
	return startManagersWith(t, n, sender.ManagerOptions{}, accounts...)
}

// startManagersWith is startManagers with options; the test settings override refresh,
// error window and leases.
func startManagersWith(t *testing.T, n int, base sender.ManagerOptions, accounts ...sender.AccountInput) (*managerBundle, []sender.Account) {
	t.Helper()
	pool := testdb.New(t)
	ropts := testredis.Options(t)
	b := &managerBundle{store: sender.NewAccounts(pool), network: sandbox.New(pool, sandbox.Options{})}
	b.rdb = redis.NewClient(ropts)
	t.Cleanup(func() { b.rdb.Close() })
	t.Cleanup(b.network.Close)
	var created []sender.Account
	for _, in := range accounts {
		a, err := b.store.Create(context.Background(), in)
		require.NoError(t, err)
		created = append(created, a)
	}
	for i := range n {
		rdb := redis.NewClient(ropts)
		t.Cleanup(func() { rdb.Close() })
		opts := base
		opts.Refresh, opts.ErrorWindow = 50*time.Millisecond, 10
		opts.Leases = sender.LeaseManagerOptions{Owner: fmt.Sprintf("worker-%d", i), TTL: time.Second}
		m, err := sender.NewManager(rdb, b.store, map[sender.Channel]sender.Connector{sender.Sandbox: b.network}, nil, opts)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx); close(done) }() // closed: stop and Cleanup may both wait
		b.managers, b.cancels, b.done = append(b.managers, m), append(b.cancels, cancel), append(b.done, done)
	}
	t.Cleanup(func() {
		for i, c := range b.cancels {
			c()
			<-b.done[i]
		}
	})
	return b, created
}

// stop stops manager i as a process shutting down would.
func (b *managerBundle) stop(i int) {
	b.cancels[i]()
	<-b.done[i]
}

func sandboxAccount(name string, cfg sender.SandboxConfig) sender.AccountInput {
	return sender.AccountInput{Name: name, Channel: sender.Sandbox, Sandbox: &cfg}
}

// connections returns, per account, how many of the managers have it connected.
func connections(ms []*sender.Manager) map[int64]int {
	out := map[int64]int{}
	for _, m := range ms {
		for _, id := range m.Connected() {
			out[id]++
		}
	}
	return out
}

// TestManagersConnectEachAccountOnce runs three managers over one Redis: every account is
// connected by exactly one of them at every moment; when that one stops, the others take
// its accounts over within seconds.
func TestManagersConnectEachAccountOnce(t *testing.T) {
	t.Parallel()
	var inputs []sender.AccountInput
	for i := range 5 {
		inputs = append(inputs, sandboxAccount(fmt.Sprint("sandbox-", i), sender.SandboxConfig{}))
	}
	b, accounts := startManagers(t, 3, inputs...)

	require.Eventually(t, func() bool { return len(connections(b.managers)) == 5 }, 5*time.Second, 10*time.Millisecond)
	for range 50 { // watch for a while: never two connections to one account
		for id, n := range connections(b.managers) {
			require.Equal(t, 1, n, "account %d has %d connections", id, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, a := range accounts {
		got, err := b.store.Get(context.Background(), a.ID)
		require.NoError(t, err)
		require.Equal(t, sender.StatusConnected, got.Status)
	}

	// The manager holding the most accounts stops; the others take them over.
	busiest := 0
	for i, m := range b.managers {
		if len(m.Connected()) > len(b.managers[busiest].Connected()) {
			busiest = i
		}
	}
	moving := b.managers[busiest].Connected()
	require.NotEmpty(t, moving)
	b.stop(busiest)
	rest := slices.Delete(slices.Clone(b.managers), busiest, busiest+1)
	require.Eventually(t, func() bool { return len(connections(rest)) == 5 }, 5*time.Second, 10*time.Millisecond,
		"the accounts of a stopped worker are taken over")
	for id, n := range connections(rest) {
		require.Equal(t, 1, n, "account %d", id)
	}
}

// TestManagerPausesAnAccountOnBanOrErrors: a ban signal pauses the account at once, a high
// failure rate pauses it too, and a paused account is not handed to the send path.
func TestManagerPausesAnAccountOnBanOrErrors(t *testing.T) {
	t.Parallel()
	b, accounts := startManagers(t, 1,
		sandboxAccount("bans", sender.SandboxConfig{BanAfter: 1}),
		sandboxAccount("flaky", sender.SandboxConfig{SendFailureRate: 1}))
	m := b.managers[0]
	ctx := context.Background()
	require.Eventually(t, func() bool { return len(m.Connected()) == 2 }, 5*time.Second, 10*time.Millisecond)

	bans, flaky := accounts[0].ID, accounts[1].ID
	tr, a, token, ok := m.Held(bans)
	require.True(t, ok)
	require.Equal(t, bans, a.ID)
	held, err := m.CheckLease(ctx, bans, token)
	require.NoError(t, err)
	require.True(t, held)
	_, err = tr.Send(ctx, sender.Message{ID: "1", To: "+6591234567", Text: "x"})
	require.NoError(t, err)
	_, err = tr.Send(ctx, sender.Message{ID: "2", To: "+6591234567", Text: "x"})
	require.ErrorIs(t, err, sender.ErrAccount)
	m.ReportSend(ctx, bans, err)
	_, _, _, ok = m.Held(bans)
	require.False(t, ok, "a paused account is not used")
	got, err := b.store.Get(ctx, bans)
	require.NoError(t, err)
	status, reason := got.ShownStatus()
	require.Equal(t, sender.StatusPaused, status)
	require.Contains(t, reason, "banned")

	tr, _, _, ok = m.Held(flaky)
	require.True(t, ok)
	for i := range 10 {
		_, err := tr.Send(ctx, sender.Message{ID: fmt.Sprint("f", i), To: "+6591234567", Text: "x"})
		require.Error(t, err)
		m.ReportSend(ctx, flaky, err)
	}
	got, err = b.store.Get(ctx, flaky)
	require.NoError(t, err)
	status, reason = got.ShownStatus()
	require.Equal(t, sender.StatusPaused, status)
	require.Contains(t, reason, "sends failed")

	// Resumed by ops, it is used again after the next refresh.
	_, err = b.store.Resume(ctx, flaky)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, _, _, ok := m.Held(flaky); return ok }, 5*time.Second, 10*time.Millisecond)
}

// TestManagerCallsAcquiredFuncBeforeUse: an account is usable only after AcquiredFunc
// succeeded for its lease; while it fails the account stays unusable and it is retried;
// and when Redis loses the leases, the account is acquired and prepared again.
func TestManagerCallsAcquiredFuncBeforeUse(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		fail     = true
		calls    int
		prepared int64 // the account of the last successful call
	)
	hook := func(_ context.Context, a sender.Account) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if fail {
			return errors.New("postgres is down")
		}
		prepared = a.ID
		return nil
	}
	state := func() (bool, int, int64) {
		mu.Lock()
		defer mu.Unlock()
		return fail, calls, prepared
	}
	b, accounts := startManagersWith(t, 1, sender.ManagerOptions{AcquiredFunc: hook}, sandboxAccount("a", sender.SandboxConfig{}))
	m, id := b.managers[0], accounts[0].ID

	require.Eventually(t, func() bool { _, n, _ := state(); return n >= 3 }, 5*time.Second, 10*time.Millisecond,
		"a failed call is retried")
	_, _, _, ok := m.Held(id)
	require.False(t, ok, "not usable while AcquiredFunc fails")
	require.Empty(t, m.Connected())

	mu.Lock()
	fail = false
	mu.Unlock()
	// Held may return the account only once the hook has succeeded for it.
	require.Eventually(t, func() bool {
		_, _, _, ok := m.Held(id)
		if ok {
			_, _, p := state()
			require.Equal(t, id, p, "usable before AcquiredFunc succeeded")
		}
		return ok
	}, 5*time.Second, time.Millisecond)

	// Redis loses everything: the lease is acquired again, and prepared again first.
	_, before, _ := state()
	require.NoError(t, b.rdb.FlushDB(context.Background()).Err())
	require.Eventually(t, func() bool {
		_, n, _ := state()
		_, _, _, ok := m.Held(id)
		return n > before && ok
	}, 5*time.Second, 10*time.Millisecond, "re-acquired after the flush and prepared again")
}

// TestManagerMarksSimulatedEvents: the events of a connection whose connector is a
// simulation (Capabilities.Simulated) come out marked, so that nothing it reports speaks
// for a customer.
func TestManagerMarksSimulatedEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	store := sender.NewAccounts(pool)
	network := sandbox.New(pool, sandbox.Options{})
	t.Cleanup(network.Close)
	a, err := store.Create(ctx, sandboxAccount("sim", sender.SandboxConfig{DeliveredAfterMS: 1}))
	require.NoError(t, err)

	got := make(chan sender.Event, 16)
	m, err := sender.NewManager(testredis.New(t), store, sender.Channels{sender.Sandbox: network},
		func(_ context.Context, e sender.Event) { got <- e },
		sender.ManagerOptions{Refresh: 50 * time.Millisecond, Leases: sender.LeaseManagerOptions{Owner: "w", TTL: time.Second}})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	var tr sender.Transport
	require.Eventually(t, func() bool {
		var ok bool
		tr, _, _, ok = m.Held(a.ID)
		return ok
	}, 10*time.Second, 20*time.Millisecond)
	_, err = tr.Send(ctx, sender.Message{ID: "3EB00000000000000001", To: "+6591234567", Text: "hi"})
	require.NoError(t, err)
	for {
		select {
		case e := <-got:
			require.True(t, e.Simulated, "the sandbox is a simulation: %s event", e.Kind)
			if e.Kind == sender.EventDelivered {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no receipt")
		}
	}
}
