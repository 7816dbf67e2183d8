package sender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/internal/batch"
)

// The lease keys, one pair per account (ids only). The braces put both in one Redis Cluster
// slot, since the acquire script touches both.
//
//	crier:lease:{id}:holder  "<token>/<owner>" of the live lease; expires after the TTL
//	                         unless renewed
//	crier:lease:{id}:fence   the last fencing token handed out; never expires, so tokens
//	                         only grow (a lost Redis restarts them, but Check compares the
//	                         whole "<token>/<owner>", and owners are unique, so a stale
//	                         holder is still refused)

// ErrLeaseTaken is the cause of a LeaseLost event when Redis shows that another owner has
// the account: this process's lease expired and was taken over.
var ErrLeaseTaken = errors.New("sender: lease taken by another owner")

// ErrLeaseExpired is the cause of a LeaseLost event when the lease could not be renewed
// before its local deadline (Redis unreachable or too slow, or the process was paused).
var ErrLeaseExpired = errors.New("sender: lease not renewed in time")

var errLeaseManagerRunning = errors.New("sender: lease manager is already running")

// LeaseEventKind says what happened to a lease.
type LeaseEventKind string

// The kinds of LeaseEvent.
const (
	// LeaseAcquired: this process now holds the account; it may connect it.
	LeaseAcquired LeaseEventKind = "acquired"
	// LeaseLost: this process no longer holds the account and must disconnect it at once;
	// another process may connect it as soon as the lease expires in Redis (Margin later at
	// the earliest).
	LeaseLost LeaseEventKind = "lost"
	// LeaseReleased: this process is giving the account up (shutdown, or the account left
	// the wanted set). The lease stays in Redis until the EventFunc call returns, so
	// disconnect before returning and no other process connects in between.
	LeaseReleased LeaseEventKind = "released"
)

// LeaseEvent reports a change of a lease held by this process.
type LeaseEvent struct {
	// AccountID is the account whose lease changed.
	AccountID int64
	// Token is the fencing token of the lease that was acquired, lost or released.
	Token int64
	// Kind says what happened.
	Kind LeaseEventKind
	// Err is why a lease was lost (wrapping ErrLeaseTaken or ErrLeaseExpired); nil otherwise.
	Err error
}

// LeaseManagerOptions configure a LeaseManager. Zero durations take the defaults.
type LeaseManagerOptions struct {
	// Owner names this process in Redis; it must be unique among live processes and hold
	// no personal data. Empty means "<hostname>-<pid>-<random>".
	Owner string
	// TTL is how long a lease lives in Redis without renewal, and so how long an account
	// stays unconnected after its holder dies. Default 10s.
	TTL time.Duration
	// RenewEvery is the renewal period. Default TTL/3, so that two renewals can fail
	// before the lease is lost.
	RenewEvery time.Duration
	// AcquireEvery is how often an account that is not held is tried. Default TTL/5.
	AcquireEvery time.Duration
	// Margin is how much earlier than Redis this process considers its lease expired:
	// a lease is held locally for TTL-Margin after the start of the call that acquired or
	// last renewed it. It must cover clock-rate differences and the time to disconnect.
	// Default TTL/5.
	Margin time.Duration
	// ReleaseTimeout bounds how long a release waits for the EventFunc to handle the
	// LeaseReleased event (renewing the lease meanwhile) before deleting the lease anyway.
	// Default 30s.
	ReleaseTimeout time.Duration
	// EventFunc receives acquired, lost and released events, one at a time and in order,
	// from a goroutine of the manager's own: it may block without delaying renewals,
	// though it delays later events. Nil drops the events.
	EventFunc func(LeaseEvent)
	// Logger receives lease changes and Redis errors; nil means slog.Default().
	Logger *slog.Logger
}

func (o *LeaseManagerOptions) setDefaults() error {
	if o.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if o.TTL == 0 {
		o.TTL = 10 * time.Second
	}
	if o.RenewEvery == 0 {
		o.RenewEvery = o.TTL / 3
	}
	if o.AcquireEvery == 0 {
		o.AcquireEvery = o.TTL / 5
	}
	if o.Margin == 0 {
		o.Margin = o.TTL / 5
	}
	if o.ReleaseTimeout == 0 {
		o.ReleaseTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.TTL < 10*time.Millisecond:
		return fmt.Errorf("sender: lease TTL %v is below 10ms", o.TTL)
	case o.Margin < 0 || o.Margin >= o.TTL:
		return fmt.Errorf("sender: lease margin %v must be in [0, TTL %v)", o.Margin, o.TTL)
	case o.RenewEvery <= 0 || o.RenewEvery >= o.TTL-o.Margin:
		return fmt.Errorf("sender: lease renewal period %v must be positive and below TTL-margin %v", o.RenewEvery, o.TTL-o.Margin)
	case o.AcquireEvery <= 0:
		return fmt.Errorf("sender: lease acquire period %v must be positive", o.AcquireEvery)
	case o.ReleaseTimeout < 0:
		return fmt.Errorf("sender: lease release timeout %v must not be negative", o.ReleaseTimeout)
	}
	return nil
}

// LeaseManager keeps exactly one live connection per account across all worker processes:
// each process runs one manager, which takes a lease in Redis for every account it wants
// and nobody else holds, renews it, and gives it up on shutdown. A lease comes with a
// fencing token that grows with every acquisition, so a holder that was paused or cut off
// and missed its expiry can be recognised (Check) and refused.
//
// A manager considers a lease lost on its own clock, Margin before Redis expires it, when
// renewals fail for whatever reason: a process that cannot reach Redis stops using the
// account before another process can take it. Leases are measured on the real, monotonic
// clock because Redis expires them on real time; tests shorten the intervals instead.
type LeaseManager struct {
	rdb  redis.UniversalClient
	opts LeaseManagerOptions
	log  *slog.Logger

	changed chan struct{} // the wanted set changed; capacity 1

	mu      sync.Mutex
	wanted  map[int64]bool
	held    map[int64]heldLease
	running bool

	// beforeRenew, when set (by tests, before Run), is called before each renewal; a test
	// blocks in it to simulate a paused process.
	beforeRenew func(accountID int64)

	// holders reads the holders of leases for Check: the checks of concurrent sends are
	// one pipelined round trip, with one GET per account.
	holders *batch.Batcher[int64, string]
}

type heldLease struct {
	token      int64
	validUntil time.Time // the local deadline; carries a monotonic reading
}

// NewLeaseManager returns a manager that keeps its leases in rdb. It does nothing until Run.
func NewLeaseManager(rdb redis.UniversalClient, opts LeaseManagerOptions) (*LeaseManager, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	m := &LeaseManager{
		rdb:     rdb,
		opts:    opts,
		log:     opts.Logger.With(slog.String("lease_owner", opts.Owner)),
		changed: make(chan struct{}, 1),
		wanted:  map[int64]bool{},
		held:    map[int64]heldLease{},
	}
	m.holders = batch.New(m.readHolders, batch.Options{MaxSize: 1024, Runners: 1, Timeout: opts.TTL})
	return m, nil
}

// Owner is the name this manager holds its leases under.
func (m *LeaseManager) Owner() string { return m.opts.Owner }

// SetAccounts sets the accounts this process wants to connect, replacing the previous set.
// It may be called before and during Run. Accounts that leave the set are released (with
// a LeaseReleased event) so that another process can take them.
func (m *LeaseManager) SetAccounts(accountIDs []int64) {
	wanted := make(map[int64]bool, len(accountIDs))
	for _, id := range accountIDs {
		wanted[id] = true
	}
	m.mu.Lock()
	m.wanted = wanted
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// Holds reports whether this process holds the account's lease now, and its fencing token.
// It costs no Redis call, so the send path can ask before every send; Check asks Redis too.
func (m *LeaseManager) Holds(accountID int64) (token int64, ok bool) {
	m.mu.Lock()
	h, ok := m.held[accountID]
	m.mu.Unlock()
	if !ok || !time.Now().Before(h.validUntil) {
		return 0, false
	}
	return h.token, true
}

// Check reports whether token is still the account's current lease, held by this process:
// locally (as Holds) and in Redis (one GET). Call it right before a send with the token
// that Holds returned when the send began; false means the lease changed hands meanwhile
// and the message must not be sent from here.
func (m *LeaseManager) Check(ctx context.Context, accountID, token int64) (bool, error) {
	if held, ok := m.Holds(accountID); !ok || held != token {
		return false, nil
	}
	v, err := m.holders.Do(ctx, accountID)
	if err != nil {
		return false, fmt.Errorf("sender: check lease on account %d: %w", accountID, err)
	}
	return v == m.value(token), nil
}

// readHolders reads the holder of each account's lease ("" for none), once per account.
func (m *LeaseManager) readHolders(ctx context.Context, ids []int64) ([]batch.Result[string], error) {
	pipe := m.rdb.Pipeline()
	cmds := make(map[int64]*redis.StringCmd, len(ids))
	for _, id := range ids {
		if cmds[id] == nil {
			cmds[id] = pipe.Get(ctx, leaseHolderKey(id))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]batch.Result[string], len(ids))
	for i, id := range ids {
		v, err := cmds[id].Result()
		if errors.Is(err, redis.Nil) {
			v, err = "", nil
		}
		out[i] = batch.Result[string]{Value: v, Err: err}
	}
	return out, nil
}

// Run acquires and renews leases for the wanted accounts (see SetAccounts) until ctx ends.
// Then it releases every lease it holds: each one gets a LeaseReleased event, is renewed
// until the EventFunc returns (at most ReleaseTimeout), and is deleted from Redis. Run returns
// nil once all leases are released and all events delivered; it returns an error at once
// if the manager is already running.
func (m *LeaseManager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errLeaseManagerRunning
	}
	m.running = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()

	events := newLeaseEventQueue()
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		events.dispatch(m.opts.EventFunc)
	}()

	type loop struct {
		cancel   context.CancelFunc
		stopping bool
	}
	loops := map[int64]*loop{}
	exited := make(chan int64)
	reconcile := func() {
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		wanted := m.wanted
		m.mu.Unlock()
		for id, l := range loops {
			if !wanted[id] && !l.stopping {
				l.cancel()
				l.stopping = true
			}
		}
		for id := range wanted {
			if _, ok := loops[id]; ok {
				continue // running, or still releasing: started again once it exits
			}
			lctx, cancel := context.WithCancel(ctx)
			loops[id] = &loop{cancel: cancel}
			go func() {
				m.accountLoop(lctx, id, events)
				exited <- id
			}()
		}
	}

	reconcile()
	for {
		select {
		case <-m.changed:
			reconcile()
		case id := <-exited:
			loops[id].cancel()
			delete(loops, id)
			reconcile()
		case <-ctx.Done():
			for _, l := range loops {
				l.cancel()
			}
			for len(loops) > 0 {
				delete(loops, <-exited)
			}
			events.close()
			<-dispatched
			return nil
		}
	}
}

// accountLoop tries to acquire the account every AcquireEvery and holds it while it can,
// until ctx ends.
func (m *LeaseManager) accountLoop(ctx context.Context, accountID int64, events *leaseEventQueue) {
	log := m.log.With(slog.Int64("account_id", accountID))
	retry := time.NewTimer(0)
	defer retry.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
		token, validUntil, err := m.acquire(ctx, accountID)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("lease acquire failed", slog.Any("error", err))
			failing = true
		case err == nil:
			if failing {
				log.Info("lease acquire works again")
			}
			failing = false
		}
		if token != 0 {
			log.Info("lease acquired", slog.Int64("token", token))
			m.setHeld(accountID, token, validUntil)
			events.push(LeaseEvent{AccountID: accountID, Token: token, Kind: LeaseAcquired})
			m.hold(ctx, log, accountID, token, validUntil, events)
		}
		retry.Reset(m.opts.AcquireEvery)
	}
}

// hold renews a held lease until it is lost or ctx ends; then it releases it.
func (m *LeaseManager) hold(ctx context.Context, log *slog.Logger, accountID, token int64, validUntil time.Time, events *leaseEventQueue) {
	renew := time.NewTicker(m.opts.RenewEvery)
	defer renew.Stop()
	deadline := time.NewTimer(time.Until(validUntil))
	defer deadline.Stop()
	var lastErr error
	lose := func(cause error) {
		if lastErr != nil && errors.Is(cause, ErrLeaseExpired) {
			cause = fmt.Errorf("%w: %w", cause, lastErr)
		}
		m.dropHeld(accountID, token)
		log.Warn("lease lost", slog.Int64("token", token), slog.Any("error", cause))
		events.push(LeaseEvent{AccountID: accountID, Token: token, Kind: LeaseLost, Err: cause})
	}
	for {
		select {
		case <-ctx.Done():
			m.release(ctx, log, accountID, token, validUntil, events)
			return
		case <-deadline.C:
			lose(ErrLeaseExpired)
			return
		case <-renew.C:
			if m.beforeRenew != nil {
				m.beforeRenew(accountID)
			}
			if !time.Now().Before(validUntil) {
				lose(ErrLeaseExpired)
				return
			}
			ok, until, err := m.renew(ctx, accountID, token, validUntil)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					lastErr = err
					log.Warn("lease renewal failed", slog.Int64("token", token), slog.Any("error", err))
				}
			case !ok:
				lose(ErrLeaseTaken)
				return
			default:
				lastErr = nil
				validUntil = until
				m.setHeld(accountID, token, validUntil)
				deadline.Reset(time.Until(validUntil))
			}
		}
	}
}

// release gives a held lease up: it stops reporting it as held, tells the EventFunc, keeps
// the lease renewed until the EventFunc has returned (so that the account is disconnected
// here before anyone else can connect it), and deletes it from Redis.
func (m *LeaseManager) release(ctx context.Context, log *slog.Logger, accountID, token int64, validUntil time.Time, events *leaseEventQueue) {
	ctx = context.WithoutCancel(ctx)
	m.dropHeld(accountID, token)
	done := events.push(LeaseEvent{AccountID: accountID, Token: token, Kind: LeaseReleased})

	renew := time.NewTicker(m.opts.RenewEvery)
	defer renew.Stop()
	giveUp := time.NewTimer(m.opts.ReleaseTimeout)
	defer giveUp.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-giveUp.C:
			log.Warn("lease released before its event was handled", slog.Int64("token", token))
			break wait
		case <-renew.C:
			if !time.Now().Before(validUntil) {
				break wait
			}
			ok, until, err := m.renew(ctx, accountID, token, validUntil)
			if err == nil && !ok {
				return // someone else has it already; nothing left to release
			}
			if err == nil {
				validUntil = until
			}
		}
	}

	cctx, cancel := context.WithTimeout(ctx, m.opts.RenewEvery)
	defer cancel()
	if err := leaseReleaseScript.Run(cctx, m.rdb, []string{leaseHolderKey(accountID)}, m.value(token)).Err(); err != nil {
		// It expires by itself after the TTL.
		log.Warn("lease release failed", slog.Int64("token", token), slog.Any("error", err))
		return
	}
	log.Info("lease released", slog.Int64("token", token))
}

// leaseAcquireScript takes a free lease with a new fencing token.
// KEYS[1] holder, KEYS[2] fence; ARGV[1] owner, ARGV[2] TTL in ms.
// Returns the token, or 0 if the lease is held.
var leaseAcquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. '/' .. ARGV[1], 'PX', ARGV[2])
return token
`)

// leaseRenewScript extends the lease only if it is still ours with the same token.
// KEYS[1] holder; ARGV[1] "<token>/<owner>", ARGV[2] TTL in ms. Returns 1 or 0.
var leaseRenewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// leaseReleaseScript deletes the lease only if it is still ours with the same token.
// KEYS[1] holder; ARGV[1] "<token>/<owner>". Returns 1 or 0.
var leaseReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// acquire tries to take the account's lease. It returns token 0 if someone else holds it.
// The local deadline counts from before the call, so it is never later than Redis's.
func (m *LeaseManager) acquire(ctx context.Context, accountID int64) (int64, time.Time, error) {
	start := time.Now()
	validUntil := start.Add(m.opts.TTL - m.opts.Margin)
	cctx, cancel := context.WithDeadline(ctx, validUntil)
	defer cancel()
	token, err := leaseAcquireScript.Run(cctx, m.rdb,
		[]string{leaseHolderKey(accountID), leaseFenceKey(accountID)},
		m.opts.Owner, m.opts.TTL.Milliseconds()).Int64()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sender: acquire lease on account %d: %w", accountID, err)
	}
	return token, validUntil, nil
}

// renew extends a held lease; false means the lease is no longer ours. The call may not
// outlast the current local deadline.
func (m *LeaseManager) renew(ctx context.Context, accountID, token int64, validUntil time.Time) (bool, time.Time, error) {
	start := time.Now()
	cctx, cancel := context.WithDeadline(ctx, validUntil)
	defer cancel()
	n, err := leaseRenewScript.Run(cctx, m.rdb, []string{leaseHolderKey(accountID)}, m.value(token), m.opts.TTL.Milliseconds()).Int64()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("sender: renew lease on account %d: %w", accountID, err)
	}
	return n == 1, start.Add(m.opts.TTL - m.opts.Margin), nil
}

func (m *LeaseManager) setHeld(accountID, token int64, validUntil time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held[accountID] = heldLease{token: token, validUntil: validUntil}
}

func (m *LeaseManager) dropHeld(accountID, token int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held[accountID].token == token {
		delete(m.held, accountID)
	}
}

func (m *LeaseManager) value(token int64) string {
	return strconv.FormatInt(token, 10) + "/" + m.opts.Owner
}

func leaseHolderKey(accountID int64) string {
	return "crier:lease:{" + strconv.FormatInt(accountID, 10) + "}:holder"
}

func leaseFenceKey(accountID int64) string {
	return "crier:lease:{" + strconv.FormatInt(accountID, 10) + "}:fence"
}

// leaseEventQueue delivers lease events to the EventFunc in order on one goroutine, so
// that a slow EventFunc never holds up renewals. It is unbounded, but holds at most a few
// events per account: each one follows a Redis round trip.
type leaseEventQueue struct {
	mu     sync.Mutex
	items  []queuedLeaseEvent
	closed bool
	signal chan struct{} // capacity 1
}

type queuedLeaseEvent struct {
	ev   LeaseEvent
	done chan struct{} // closed once the EventFunc has returned
}

func newLeaseEventQueue() *leaseEventQueue {
	return &leaseEventQueue{signal: make(chan struct{}, 1)}
}

// push queues an event and returns a channel that is closed once it has been handled.
func (q *leaseEventQueue) push(ev LeaseEvent) <-chan struct{} {
	done := make(chan struct{})
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		close(done)
		return done
	}
	q.items = append(q.items, queuedLeaseEvent{ev: ev, done: done})
	q.mu.Unlock()
	q.wake()
	return done
}

// close makes dispatch return once the queued events are delivered.
func (q *leaseEventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}

func (q *leaseEventQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *leaseEventQueue) dispatch(fn func(LeaseEvent)) {
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		for _, it := range items {
			if fn != nil {
				fn(it.ev)
			}
			close(it.done)
		}
		if len(items) == 0 {
			if closed {
				return
			}
			<-q.signal
		}
	}
}

// LeaseHolders returns which process holds each account's connection lease (its
// LeaseManagerOptions.Owner; absent when nobody does), in one round trip: the console's
// accounts page shows it to ops.
func LeaseHolders(ctx context.Context, rdb redis.UniversalClient, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if rdb == nil || len(ids) == 0 {
		return out, nil
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Get(ctx, leaseHolderKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("sender: lease holders: %w", err)
	}
	for i, id := range ids {
		if v, err := cmds[i].Result(); err == nil {
			if _, owner, ok := strings.Cut(v, "/"); ok {
				out[id] = owner
			}
		}
	}
	return out, nil
}
