package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/crierhq/crier/sender"
)

// client is the part of *whatsmeow.Client that a Transport uses once connected. It exists
// so that the send logic can be tested without WhatsApp.
type client interface {
	IsLoggedIn() bool
	IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error)
	SendMessage(ctx context.Context, to types.JID, message *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error
	RemoveEventHandler(id uint32) bool
	Disconnect()
}

var _ client = (*whatsmeow.Client)(nil)

// Transport is one connected WhatsApp account. It implements sender.Transport and is safe
// for concurrent use (whatsmeow sends one message at a time per account).
type Transport struct {
	accountID int64
	cli       client
	events    sender.EventFunc
	log       *slog.Logger
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	rnd       *lockedRand
	pacing    Pacing
	onWA      *onWhatsAppCache
	resolvePN pnResolver
	release   func()
	runCtx    context.Context // the connection's life; events are delivered under it
	cancel    context.CancelFunc
	handlerID uint32

	status    atomic.Pointer[statusNote] // the last status reported; nil until the first
	ready     chan error                 // the outcome of the login, once
	readyOnce sync.Once

	// mu is held for reading while an event is delivered, and for writing by Close, so that
	// no event is delivered once Close returns.
	mu        sync.RWMutex
	closed    bool
	isClosed  atomic.Bool
	closeOnce sync.Once
}

var _ sender.Transport = (*Transport)(nil)

type statusNote struct {
	status sender.Status
	reason string
}

func newTransport(c *Connector, accountID int64, cli client, events sender.EventFunc, runCtx context.Context, cancel context.CancelFunc) *Transport {
	t := &Transport{
		accountID: accountID,
		cli:       cli,
		events:    events,
		log:       c.log.With("account_id", accountID),
		now:       c.now,
		sleep:     sleepCtx,
		rnd:       c.rnd,
		pacing:    c.opts.Pacing,
		onWA:      c.onWA,
		runCtx:    runCtx,
		cancel:    cancel,
		ready:     make(chan error, 1),
	}
	t.release = func() { c.release(accountID, t) }
	return t
}

// AccountID is the account the transport sends through.
func (t *Transport) AccountID() int64 { return t.accountID }

// Status is the account's last reported status and its reason; "" before the first.
func (t *Transport) Status() (sender.Status, string) {
	if n := t.status.Load(); n != nil {
		return n.status, n.reason
	}
	return "", ""
}

// Close disconnects the account. Events stop before it returns. It must not be called
// from the EventFunc, which runs inside event delivery. Closing twice does nothing.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.isClosed.Store(true)
		t.mu.Lock()
		t.closed = true
		t.mu.Unlock()
		t.cli.RemoveEventHandler(t.handlerID)
		t.cli.Disconnect()
		t.cancel()
		t.release()
	})
	return nil
}

// handle is the whatsmeow event handler: it maps the event and delivers the result.
func (t *Transport) handle(evt any) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return
	}
	out, warning := mapEvent(t.accountID, evt, t.now(), t.resolvePN)
	if warning != "" {
		t.log.Warn("whatsapp: " + warning)
	}
	for _, e := range out {
		if e.Kind == sender.EventStatus {
			t.status.Store(&statusNote{status: e.Status, reason: e.Reason})
			t.settleLogin(evt, e)
		}
		t.events(t.runCtx, e)
	}
}

// emit delivers one event unless the transport is closed.
func (t *Transport) emit(e sender.Event) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.closed {
		t.events(t.runCtx, e)
	}
}

// settleLogin ends waitLoggedIn: Connected succeeds; an event after which whatsmeow will
// not reconnect fails. Disconnected does not settle anything: whatsmeow retries.
func (t *Transport) settleLogin(evt any, e sender.Event) {
	var err error
	switch evt.(type) {
	case *events.Connected:
	case *events.LoggedOut, *events.TemporaryBan, *events.ConnectFailure, *events.ClientOutdated, *events.StreamReplaced:
		err = statusError(e.Status, e.Reason)
	default:
		return
	}
	t.readyOnce.Do(func() { t.ready <- err })
}

// statusError is the error of an account in that status.
func statusError(st sender.Status, reason string) error {
	switch st {
	case sender.StatusLoggedOut:
		return fmt.Errorf("%w (%s)", ErrLoggedOut, reason)
	case sender.StatusBanned:
		return fmt.Errorf("%w (%s)", ErrBanned, reason)
	}
	return errors.New("whatsapp: " + reason)
}

// waitLoggedIn waits for WhatsApp to log the device in after the handshake.
func (t *Transport) waitLoggedIn(ctx context.Context, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-t.ready:
		return err
	case <-timer.C:
		return fmt.Errorf("%w: the websocket opened but WhatsApp did not log the device in", ErrTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// messageForRetry is whatsmeow's GetMessageForRetry hook, called when a recipient asks for
// a message again and whatsmeow's cache no longer has it. Crier keeps no copy of the text
// here, so the message is lost for that device; see retryMissEvent.
func (t *Transport) messageForRetry(requester, _ types.JID, id types.MessageID) *waE2E.Message {
	if e, ok := retryMissEvent(t.accountID, requester, id, t.now()); ok {
		t.emit(e)
	}
	return nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
