package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
)

// events collects what a connection reports.
type events struct {
	mu  sync.Mutex
	all []sender.Event
	ch  chan sender.Event
}

func newEvents() *events { return &events{ch: make(chan sender.Event, 1000)} }

func (e *events) fn(_ context.Context, ev sender.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.ch <- ev
}

// next waits for the next event of a kind (receipts come from timers).
func (e *events) next(t *testing.T, kind sender.EventKind) sender.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event", kind)
		}
	}
}

func setup(t *testing.T) (*sandbox.Network, *pgxpool.Pool) {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	n := sandbox.New(pool, sandbox.Options{Rand: rand.New(rand.NewPCG(1, 2))})
	t.Cleanup(n.Close)
	return n, pool
}

func connect(t *testing.T, n *sandbox.Network, cfg sender.SandboxConfig) (sender.Transport, *events) {
	t.Helper()
	ev := newEvents()
	tr, err := n.Connect(context.Background(), sender.Account{ID: 7, Channel: sender.Sandbox, Sandbox: &cfg}, ev.fn)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	require.Equal(t, sender.StatusConnected, ev.next(t, sender.EventStatus).Status)
	return tr, ev
}

func TestSendStoresOnceAndReceipts(t *testing.T) {
	n, _ := setup(t)
	tr, ev := connect(t, n, sender.SandboxConfig{DeliveredAfterMS: 5, ReadAfterMS: 10})
	ctx := context.Background()
	m := sender.Message{ID: "3EB0AA", To: "+6591234567", Text: "Hi Ada"}
	res, err := tr.Send(ctx, m)
	require.NoError(t, err)
	require.Equal(t, "3EB0AA", res.ProviderID)
	_, err = tr.Send(ctx, m) // a retry of the same message
	require.NoError(t, err)

	msgs, next, err := n.Messages(ctx, sender.SentFilter{Limit: 10})
	require.NoError(t, err)
	require.Zero(t, next)
	require.Len(t, msgs, 1, "one message per id")
	require.Equal(t, "Hi Ada", msgs[0].Text)
	require.Equal(t, "+6591234567", msgs[0].To)
	require.EqualValues(t, 7, msgs[0].AccountID)

	d := ev.next(t, sender.EventDelivered)
	require.Equal(t, "3EB0AA", d.MessageID)
	r := ev.next(t, sender.EventRead)
	require.Equal(t, "3EB0AA", r.MessageID)
	require.False(t, r.At.Before(d.At))
}

func TestFailuresOnPurpose(t *testing.T) {
	n, _ := setup(t)
	ctx := context.Background()

	tr, _ := connect(t, n, sender.SandboxConfig{NotOnWhatsAppSuffixes: []string{"0000"}})
	_, err := tr.Send(ctx, sender.Message{ID: "a", To: "+6591230000", Text: "x"})
	require.ErrorIs(t, err, sender.ErrNotOnWhatsApp)
	require.ErrorIs(t, err, sender.ErrPermanent)

	tr, _ = connect(t, n, sender.SandboxConfig{SendFailureRate: 1})
	_, err = tr.Send(ctx, sender.Message{ID: "b", To: "+6591234567", Text: "x"})
	require.ErrorIs(t, err, sandbox.ErrSimulatedFailure)
	require.NotErrorIs(t, err, sender.ErrPermanent, "a network failure is worth a retry")

	tr, ev := connect(t, n, sender.SandboxConfig{UndeliverableRate: 1, DeliveredAfterMS: 1})
	_, err = tr.Send(ctx, sender.Message{ID: "c", To: "+6591234567", Text: "x"})
	require.NoError(t, err)
	require.Equal(t, "c", ev.next(t, sender.EventFailed).MessageID)

	tr, ev = connect(t, n, sender.SandboxConfig{BanAfter: 2, BanForMS: 60_000})
	for i := range 2 {
		_, err = tr.Send(ctx, sender.Message{ID: fmt.Sprint("d", i), To: "+6591234567", Text: "x"})
		require.NoError(t, err)
	}
	_, err = tr.Send(ctx, sender.Message{ID: "d3", To: "+6591234567", Text: "x"})
	require.ErrorIs(t, err, sender.ErrAccount, "a ban is the account's failure, not the message's")
	require.Equal(t, sender.StatusBanned, ev.next(t, sender.EventStatus).Status)
	_, err = tr.Send(ctx, sender.Message{ID: "d4", To: "+6591234567", Text: "x"})
	require.ErrorIs(t, err, sandbox.ErrBanned)

	require.NoError(t, tr.Close())
	_, err = tr.Send(ctx, sender.Message{ID: "e", To: "+6591234567", Text: "x"})
	require.ErrorContains(t, err, "disconnected")
	_, err = n.Connect(ctx, sender.Account{ID: 8, Channel: sender.WhatsApp}, nil)
	require.Error(t, err)
}

func TestBanEnds(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	n := sandbox.New(pool, sandbox.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	defer n.Close()
	tr, _ := connect(t, n, sender.SandboxConfig{BanAfter: 1, BanForMS: 1000})
	ctx := context.Background()
	_, err := tr.Send(ctx, sender.Message{ID: "1", To: "+6591234567", Text: "x"})
	require.NoError(t, err)
	_, err = tr.Send(ctx, sender.Message{ID: "2", To: "+6591234567", Text: "x"})
	require.ErrorIs(t, err, sandbox.ErrBanned)
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	_, err = tr.Send(ctx, sender.Message{ID: "3", To: "+6591234567", Text: "x"})
	require.NoError(t, err, "the ban is temporary")
}

func TestMessagesFilterAndPage(t *testing.T) {
	n, _ := setup(t)
	ctx := context.Background()
	tr, _ := connect(t, n, sender.SandboxConfig{})
	for i := range 5 {
		_, err := tr.Send(ctx, sender.Message{ID: fmt.Sprint(i), To: fmt.Sprintf("+659123456%d", i%2), Text: "x"})
		require.NoError(t, err)
	}
	page, next, err := n.Messages(ctx, sender.SentFilter{To: "+6591234560", Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	rest, _, err := n.Messages(ctx, sender.SentFilter{To: "+6591234560", AfterSeq: next, Limit: 2})
	require.NoError(t, err)
	require.Len(t, rest, 1)
	none, _, err := n.Messages(ctx, sender.SentFilter{AccountID: 99, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, none)
}

// TestCapabilities: the sandbox declares what it does, and does it: receipts for what it
// sends, simulated inbound messages, text only, and nothing to pair.
func TestCapabilities(t *testing.T) {
	n, _ := setup(t)
	caps := n.Capabilities()
	require.Equal(t, sender.Capabilities{Receipts: true, Inbound: true, Simulated: true}, caps)

	tr, ev := connect(t, n, sender.SandboxConfig{DeliveredAfterMS: 1, ReadAfterMS: 2})
	id := msgid.Of(1)
	_, err := tr.Send(context.Background(), sender.Message{ID: id, To: "+6591234567", Text: "x"})
	require.NoError(t, err)
	require.Equal(t, id, ev.next(t, sender.EventDelivered).MessageID, "Receipts")
	require.Equal(t, id, ev.next(t, sender.EventRead).MessageID, "Receipts")

	require.False(t, caps.Pairs())
	_, pairs := any(n).(interface {
		PairQR(context.Context, sender.Account) (*sender.Pairing, error)
	})
	require.False(t, pairs, "nothing to pair")
	got, ok := sender.Channels{sender.Sandbox: n}.Capabilities(sender.Sandbox)
	require.True(t, ok)
	require.Equal(t, caps, got)
}

func TestCloseFailsPendingSends(t *testing.T) {
	t.Parallel()
	n := sandbox.New(testdb.New(t), sandbox.Options{})
	tr, _ := connect(t, n, sender.SandboxConfig{})
	n.Close()
	_, err := tr.Send(context.Background(), sender.Message{ID: "x", To: "+6591234567", Text: "x"})
	require.True(t, errors.Is(err, context.Canceled) || err != nil)
	require.ErrorContains(t, err, "closed")
}

// BenchmarkSend measures the network alone: 64 concurrent senders on one account, every
// message stored before Send returns. It must never be what limits a benchmark of Crier.
//
//	go test ./sender/sandbox -run '^$' -bench Send -benchtime 100000x
func BenchmarkSend(b *testing.B) {
	pool := testdb.New(b)
	n := sandbox.New(pool, sandbox.Options{})
	defer n.Close()
	tr, err := n.Connect(context.Background(), sender.Account{ID: 1, Channel: sender.Sandbox,
		Sandbox: &sender.SandboxConfig{ReadAfterMS: -1}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	b.SetParallelism(32) // × GOMAXPROCS goroutines
	var seq int64
	var mu sync.Mutex
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			seq++
			id := fmt.Sprintf("m%d", seq)
			mu.Unlock()
			if _, err := tr.Send(context.Background(), sender.Message{ID: id, To: "+6591234567", Text: "Hello there, a sale!"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}
