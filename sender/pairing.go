package sender

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrAlreadyPaired marks a pairing of an account that is linked to a phone already:
// unpair it first to link another. Transports return it with their own words (Mark).
var ErrAlreadyPaired = errors.New("sender: the account is already paired: unpair it first")

// PairEventKind says what a PairEvent reports.
type PairEventKind string

// The kinds of PairEvent. A pairing reports codes, then exactly one of the others, last.
const (
	PairCode    PairEventKind = "code"    // a QR code to show: Code, valid for Expires
	PairSuccess PairEventKind = "success" // the phone linked the account: Phone, Device
	PairTimeout PairEventKind = "timeout" // no phone linked in time: Err
	PairFailed  PairEventKind = "failed"  // pairing went wrong, or was cancelled: Err
)

// PairEvent is one step of a pairing.
type PairEvent struct {
	Kind PairEventKind
	// Code is the text of the QR code to show (PairCode).
	Code string
	// Expires is how long Code is shown before the next one replaces it (PairCode).
	Expires time.Duration
	// Phone is the account's own number in E.164, the business's (PairSuccess).
	Phone string
	// Device is the network's id of the linked device, e.g. a WhatsApp JID such as
	// 15550001111:12@s.whatsapp.net (PairSuccess).
	Device string
	// Err says why the pairing ended without success (PairTimeout, PairFailed).
	Err error
}

// pairingEvents is the buffer of a Pairing's events: the QR codes nobody reads in time
// are dropped beyond it, never the final event.
const pairingEvents = 16

// Pairing is the linking of an account to a phone, under way. A transport that pairs
// (Capabilities.Pairs) returns it from PairQR or PairPhone; it goes on in the background
// until a phone links the account, the codes run out, the transport's time is up, or
// Cancel, and nobody has to read its events for it to finish.
type Pairing struct {
	// AccountID is the account being paired.
	AccountID int64
	// Code is what the person pairing needs first: the first QR text (PairQR), or the
	// pairing code to type on the phone, e.g. "ABCD-EFGH" (PairPhone).
	Code string
	// Timeout is how long the pairing waits for the phone before it gives up.
	Timeout time.Duration

	events    chan PairEvent
	done      chan struct{}
	final     PairEvent
	cancel    context.CancelFunc
	cancelled atomic.Bool
}

// NewPairing returns the pairing of an account, for the transport that runs it: Cancel
// calls cancel, and the transport reports QR codes with EmitCode and the end, once, with
// Finish.
func NewPairing(accountID int64, cancel context.CancelFunc) *Pairing {
	return &Pairing{
		AccountID: accountID,
		events:    make(chan PairEvent, pairingEvents),
		done:      make(chan struct{}),
		cancel:    cancel,
	}
}

// Events yields the QR codes as the network rotates them (PairQR only; the first is
// Code), then the final event, and is then closed. Codes that nobody reads in time are
// dropped, never the final event.
func (p *Pairing) Events() <-chan PairEvent { return p.events }

// Done is closed when the pairing has ended.
func (p *Pairing) Done() <-chan struct{} { return p.done }

// Result waits for the pairing to end and returns its final event.
func (p *Pairing) Result() PairEvent {
	<-p.done
	return p.final
}

// Wait waits for the pairing to end and returns its final event, or ctx's error.
func (p *Pairing) Wait(ctx context.Context) (PairEvent, error) {
	select {
	case <-p.done:
		return p.final, nil
	case <-ctx.Done():
		return PairEvent{}, ctx.Err()
	}
}

// Cancel ends the pairing (with PairFailed) unless it has ended.
func (p *Pairing) Cancel() {
	p.cancelled.Store(true)
	p.cancel()
}

// Cancelled reports whether Cancel was called, for the transport to tell a cancelled
// pairing from one that timed out.
func (p *Pairing) Cancelled() bool { return p.cancelled.Load() }

// EmitCode passes a QR code on unless the buffer is full, keeping room for the final
// event. Only the transport's goroutine that runs the pairing may call it, so the length
// check is safe.
func (p *Pairing) EmitCode(e PairEvent) {
	if len(p.events) < cap(p.events)-1 {
		p.events <- e
	}
}

// Finish reports the final event and ends the pairing. The transport calls it once, from
// the goroutine that emits the codes.
func (p *Pairing) Finish(final PairEvent) {
	p.final = final
	p.events <- final
	close(p.events)
	close(p.done)
}
