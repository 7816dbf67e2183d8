package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// AccountStore is what the Manager needs from the account records.
type AccountStore interface {
	Connectable(ctx context.Context) ([]Account, error)
	SetStatus(ctx context.Context, id int64, status Status, reason string) error
	Pause(ctx context.Context, id int64, reason string) (Account, error)
}

// ManagerOptions configure a Manager. Zero values get defaults.
type ManagerOptions struct {
	Leases LeaseManagerOptions
	// Refresh is how often the account list is read again (new, paused, resumed, deleted
	// accounts) and failed connections retried. Default 3 s.
	Refresh time.Duration
	// ErrorWindow and ErrorThreshold: an account pauses itself when more than
	// ErrorThreshold of its last ErrorWindow sends failed. Defaults 50 and 0.5.
	ErrorWindow    int
	ErrorThreshold float64
	// AcquiredFunc, if set, is called each time this process acquires the lease on an
	// account, before it connects the account and so before Held returns it: the place to
	// restore per-account state that Redis may have lost with the leases (the Limiter's
	// daily count, see Limiter.SeedDay). If it fails the account stays unusable and the
	// call is retried with the connection, every Refresh.
	AcquiredFunc func(ctx context.Context, a Account) error
	Logger       *slog.Logger
}

// Manager keeps this process's share of the account connections: it takes a lease on
// every connectable account that no other process holds, connects the accounts it leases,
// disconnects the ones whose lease it loses, records status changes, and pauses an account
// on a ban signal or when too many of its sends fail. The send path asks it for the
// transport of an account (Held).
type Manager struct {
	store      AccountStore
	connectors map[Channel]Connector
	events     EventFunc
	leases     *LeaseManager
	window     *ErrorWindow
	opts       ManagerOptions
	log        *slog.Logger

	mu       sync.Mutex
	accounts map[int64]Account // the connectable accounts, as last read
	conns    map[int64]*held   // accounts whose lease this process holds
	ctx      context.Context
}

type held struct {
	token     int64
	transport Transport // nil until connected
	failed    time.Time // when the last connect failed
}

// NewManager returns a Manager. events receives the connections' receipts and inbound
// messages (status events are handled here and passed on too).
func NewManager(rdb redis.UniversalClient, store AccountStore, connectors map[Channel]Connector, events EventFunc, opts ManagerOptions) (*Manager, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = 3 * time.Second
	}
	if opts.ErrorWindow <= 0 {
		opts.ErrorWindow = 50
	}
	if opts.ErrorThreshold <= 0 {
		opts.ErrorThreshold = 0.5
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if events == nil {
		events = func(context.Context, Event) {}
	}
	m := &Manager{store: store, connectors: connectors, events: events, opts: opts, log: opts.Logger,
		window: NewErrorWindow(opts.ErrorWindow, opts.ErrorThreshold), accounts: map[int64]Account{}, conns: map[int64]*held{}}
	opts.Leases.EventFunc = m.onLease
	if opts.Leases.Logger == nil {
		opts.Leases.Logger = opts.Logger
	}
	leases, err := NewLeaseManager(rdb, opts.Leases)
	if err != nil {
		return nil, err
	}
	m.leases = leases
	return m, nil
}

// Owner names this process in the leases.
func (m *Manager) Owner() string { return m.leases.Owner() }

// Run holds leases and connections until ctx ends, then closes every connection and
// releases every lease.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	if err := m.refresh(ctx); err != nil {
		m.log.WarnContext(ctx, "read accounts", "error", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.leases.Run(ctx) }()
	t := time.NewTicker(m.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			m.closeAll()
			return err
		case <-t.C:
			if err := m.refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.WarnContext(ctx, "read accounts", "error", err)
			}
			m.retryConnects(ctx)
		}
	}
}

// refresh reads the connectable accounts and hands their ids to the lease manager.
func (m *Manager) refresh(ctx context.Context) error {
	list, err := m.store.Connectable(ctx)
	if err != nil {
		return err
	}
	ids := make([]int64, len(list))
	accounts := make(map[int64]Account, len(list))
	for i, a := range list {
		ids[i] = a.ID
		accounts[a.ID] = a
	}
	m.mu.Lock()
	m.accounts = accounts
	m.mu.Unlock()
	m.leases.SetAccounts(ids)
	return nil
}

// onLease connects an account whose lease was acquired, and disconnects one whose lease
// was lost or is being released (before returning, so that no other process connects it
// while this one still is).
func (m *Manager) onLease(ev LeaseEvent) {
	switch ev.Kind {
	case LeaseAcquired:
		m.mu.Lock()
		m.conns[ev.AccountID] = &held{token: ev.Token}
		ctx := m.ctx
		m.mu.Unlock()
		if ctx != nil {
			// In the background: a slow connect must not hold up the next lease events.
			// A connection that completes after its lease went is closed (see connect).
			go m.connect(ctx, ev.AccountID, ev.Token)
		}
	case LeaseLost, LeaseReleased:
		m.mu.Lock()
		h := m.conns[ev.AccountID]
		if h != nil && h.token == ev.Token {
			delete(m.conns, ev.AccountID)
		}
		m.mu.Unlock()
		m.window.Forget(ev.AccountID)
		if h != nil && h.transport != nil {
			if err := h.transport.Close(); err != nil {
				m.log.Warn("close connection", "account_id", ev.AccountID, "error", err)
			}
			_ = m.store.SetStatus(context.Background(), ev.AccountID, StatusDisconnected, "lease "+string(ev.Kind))
		}
	}
}

// connect prepares (AcquiredFunc) and connects a leased account; a failure of either
// leaves the lease held and the connection to retryConnects.
func (m *Manager) connect(ctx context.Context, id, token int64) {
	m.mu.Lock()
	a, known := m.accounts[id]
	m.mu.Unlock()
	if !known {
		return
	}
	conn, ok := m.connectors[a.Channel]
	if !ok {
		m.log.ErrorContext(ctx, "no connector for the account's channel", "account_id", id, "channel", a.Channel)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if m.opts.AcquiredFunc != nil {
		if err := m.opts.AcquiredFunc(cctx, a); err != nil {
			m.mu.Lock()
			if h := m.conns[id]; h != nil && h.token == token {
				h.failed = time.Now()
			}
			m.mu.Unlock()
			m.log.WarnContext(ctx, "prepare leased account", "account_id", id, "error", err)
			return
		}
	}
	simulated := conn.Capabilities().Simulated
	tr, err := conn.Connect(cctx, a, func(ctx context.Context, e Event) {
		e.Simulated = simulated
		m.onEvent(ctx, e)
	})
	m.mu.Lock()
	h := m.conns[id]
	stale := h == nil || h.token != token
	if err != nil && h != nil && !stale {
		h.failed = time.Now()
	}
	if err == nil && !stale {
		h.transport = tr
	}
	m.mu.Unlock()
	switch {
	case err != nil:
		m.log.WarnContext(ctx, "connect account", "account_id", id, "error", err)
		_ = m.store.SetStatus(ctx, id, StatusDisconnected, err.Error())
	case stale: // the lease went while connecting
		_ = tr.Close()
	default:
		m.log.InfoContext(ctx, "account connected", "account_id", id, "lease_token", token)
		_ = m.store.SetStatus(ctx, id, StatusConnected, "")
	}
}

// retryConnects connects again the leased accounts whose connection failed a while ago.
func (m *Manager) retryConnects(ctx context.Context) {
	m.mu.Lock()
	var due []struct{ id, token int64 }
	for id, h := range m.conns {
		if h.transport == nil && time.Since(h.failed) >= m.opts.Refresh {
			due = append(due, struct{ id, token int64 }{id, h.token})
		}
	}
	m.mu.Unlock()
	for _, d := range due {
		m.connect(ctx, d.id, d.token)
	}
}

// onEvent records status changes (a ban pauses the account; a logout ends its
// connection) and passes every event on.
func (m *Manager) onEvent(ctx context.Context, e Event) {
	if e.Kind == EventStatus {
		if err := m.store.SetStatus(ctx, e.AccountID, e.Status, e.Reason); err != nil {
			m.log.ErrorContext(ctx, "record account status", "account_id", e.AccountID, "error", err)
		}
		if e.Status == StatusBanned {
			m.pause(ctx, e.AccountID, "banned: "+e.Reason)
		}
	}
	m.events(ctx, e)
}

func (m *Manager) pause(ctx context.Context, id int64, reason string) {
	a, err := m.store.Pause(ctx, id, reason)
	if err != nil {
		m.log.ErrorContext(ctx, "pause account", "account_id", id, "error", err)
		return
	}
	m.log.WarnContext(ctx, "account paused", "account_id", id, "reason", reason)
	m.mu.Lock()
	if _, ok := m.accounts[id]; ok {
		m.accounts[id] = a
	}
	m.mu.Unlock()
}

// Held returns the transport, account record and lease token of an account whose
// connection this process holds and which may send now (healthy and not paused). The
// send path checks the token with CheckLease right before sending.
func (m *Manager) Held(id int64) (Transport, Account, int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, a := m.conns[id], m.accounts[id]
	if h == nil || h.transport == nil || a.PausedAt != nil || a.Status == StatusBanned || a.Status == StatusLoggedOut {
		return nil, Account{}, 0, false
	}
	if token, ok := m.leases.Holds(id); !ok || token != h.token {
		return nil, Account{}, 0, false
	}
	return h.transport, a, h.token, true
}

// CheckLease verifies in Redis that this process still holds the account under token.
func (m *Manager) CheckLease(ctx context.Context, id, token int64) (bool, error) {
	return m.leases.Check(ctx, id, token)
}

// ReportSend tells the Manager how a send through an account went. Failures of the
// account or the network count towards its error rate; a message that cannot be delivered
// at all (ErrPermanent) does not. An account failure pauses the account at once.
func (m *Manager) ReportSend(ctx context.Context, id int64, err error) {
	switch {
	case errors.Is(err, ErrAccount):
		m.pause(ctx, id, fmt.Sprintf("paused itself: %v", err))
	case err != nil && !errors.Is(err, ErrPermanent) && !errors.Is(err, context.Canceled):
		if reason := m.window.Record(id, true); reason != "" {
			m.pause(ctx, id, reason)
		}
	default:
		m.window.Record(id, false)
	}
}

// Connected lists the accounts this process has connected, for metrics and tests.
func (m *Manager) Connected() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []int64
	for id, h := range m.conns {
		if h.transport != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func (m *Manager) closeAll() {
	m.mu.Lock()
	conns := m.conns
	m.conns = map[int64]*held{}
	m.mu.Unlock()
	for id, h := range conns {
		if h.transport != nil {
			_ = h.transport.Close()
			_ = m.store.SetStatus(context.Background(), id, StatusDisconnected, "worker stopped")
		}
	}
}
