package sandbox

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/crierhq/crier/sender"
)

// Default receipt delays and ban length.
const (
	defaultDeliveredAfter = 500 * time.Millisecond
	defaultReadAfter      = 3 * time.Second
	defaultBanFor         = time.Minute
)

// ErrSimulatedFailure is the transient failure a share of sends gets.
var ErrSimulatedFailure = errors.New("sandbox: simulated network failure")

// ErrBanned is what sends get while a sandbox account is banned.
var ErrBanned = sender.AccountFailure(errors.New("sandbox: the account is temporarily banned (simulated)"))

// Transport is one connected sandbox account.
type Transport struct {
	n         *Network
	accountID int64
	cfg       sender.SandboxConfig
	events    sender.EventFunc

	mu          sync.Mutex
	sent        int
	bannedUntil time.Time
	closed      bool

	receipts *receiptQueue
}

var _ sender.Transport = (*Transport)(nil)

func newTransport(n *Network, accountID int64, cfg sender.SandboxConfig, events sender.EventFunc) *Transport {
	t := &Transport{n: n, accountID: accountID, cfg: cfg, events: events}
	t.receipts = newReceiptQueue(func(e sender.Event) { t.events(context.Background(), e) })
	return t
}

// Send "delivers" m: it stores it (once per message id) and schedules its receipts, or
// fails the way the account's configuration says.
func (t *Transport) Send(ctx context.Context, m sender.Message) (sender.SendResult, error) {
	now := t.n.opts.Now()
	t.mu.Lock()
	switch {
	case t.closed:
		t.mu.Unlock()
		return sender.SendResult{}, fmt.Errorf("sandbox: account %d: disconnected", t.accountID)
	case now.Before(t.bannedUntil):
		t.mu.Unlock()
		return sender.SendResult{}, ErrBanned
	}
	if t.cfg.BanAfter > 0 && t.sent >= t.cfg.BanAfter {
		t.sent = 0
		banFor := time.Duration(t.cfg.BanForMS) * time.Millisecond
		if banFor == 0 {
			banFor = defaultBanFor
		}
		t.bannedUntil = now.Add(banFor)
		t.mu.Unlock()
		t.events(ctx, sender.Event{Kind: sender.EventStatus, AccountID: t.accountID, At: now, Status: sender.StatusBanned,
			Reason: fmt.Sprintf("temporary ban for %s after %d messages (simulated)", banFor, t.cfg.BanAfter)})
		return sender.SendResult{}, ErrBanned
	}
	t.mu.Unlock()

	for _, suffix := range t.cfg.NotOnWhatsAppSuffixes {
		if strings.HasSuffix(m.To, suffix) {
			return sender.SendResult{}, sender.ErrNotOnWhatsApp
		}
	}
	if t.cfg.SendFailureRate > 0 && t.n.float() < t.cfg.SendFailureRate {
		return sender.SendResult{}, ErrSimulatedFailure
	}
	if m.ID == "" || m.To == "" || m.Text == "" {
		return sender.SendResult{}, sender.Permanent(errors.New("sandbox: a message needs an id, a number and a text"))
	}
	if err := t.n.writer.write(ctx, message{id: m.ID, accountID: t.accountID, to: m.To, text: m.Text, sentAt: now}); err != nil {
		return sender.SendResult{}, fmt.Errorf("sandbox: account %d: %w", t.accountID, err)
	}
	t.mu.Lock()
	t.sent++
	t.mu.Unlock()
	t.scheduleReceipts(m.ID, now)
	return sender.SendResult{ProviderID: m.ID, SentAt: now}, nil
}

func (t *Transport) scheduleReceipts(id string, sentAt time.Time) {
	delivered := time.Duration(t.cfg.DeliveredAfterMS) * time.Millisecond
	if delivered == 0 {
		delivered = defaultDeliveredAfter
	}
	if t.cfg.UndeliverableRate > 0 && t.n.float() < t.cfg.UndeliverableRate {
		t.receipts.push(sentAt.Add(delivered), sender.Event{Kind: sender.EventFailed, AccountID: t.accountID,
			MessageID: id, Error: "undeliverable (simulated)"})
		return
	}
	t.receipts.push(sentAt.Add(delivered), sender.Event{Kind: sender.EventDelivered, AccountID: t.accountID, MessageID: id})
	read := time.Duration(t.cfg.ReadAfterMS) * time.Millisecond
	if t.cfg.ReadAfterMS == 0 {
		read = defaultReadAfter
	}
	readRate := t.cfg.ReadRate
	if readRate == 0 {
		readRate = 1
	}
	if read < 0 || readRate < 0 || (readRate < 1 && t.n.float() >= readRate) {
		return
	}
	t.receipts.push(sentAt.Add(max(read, delivered)), sender.Event{Kind: sender.EventRead, AccountID: t.accountID, MessageID: id})
}

// Close disconnects the account; receipts not yet due are dropped, as a real network's
// would arrive at a connection that no longer exists.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.receipts.close()
	return nil
}

// receiptQueue emits events at their due time, in order, from one goroutine.
type receiptQueue struct {
	mu     sync.Mutex
	items  receiptHeap
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	emit   func(sender.Event)
	closed bool
}

func newReceiptQueue(emit func(sender.Event)) *receiptQueue {
	q := &receiptQueue{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), emit: emit}
	go q.run()
	return q
}

func (q *receiptQueue) push(at time.Time, e sender.Event) {
	e.At = at
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	heap.Push(&q.items, receipt{at: at, event: e})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *receiptQueue) run() {
	defer close(q.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		var due []sender.Event
		now := time.Now()
		for q.items.Len() > 0 && !q.items[0].at.After(now) {
			due = append(due, heap.Pop(&q.items).(receipt).event)
		}
		wait := time.Hour
		if q.items.Len() > 0 {
			wait = q.items[0].at.Sub(now)
		}
		q.mu.Unlock()
		for _, e := range due {
			q.emit(e)
		}
		timer.Reset(wait)
		select {
		case <-q.stop:
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

func (q *receiptQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
}

type receipt struct {
	at    time.Time
	event sender.Event
}

type receiptHeap []receipt

func (h receiptHeap) Len() int           { return len(h) }
func (h receiptHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h receiptHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *receiptHeap) Push(x any)        { *h = append(*h, x.(receipt)) }
func (h *receiptHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
