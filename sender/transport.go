package sender

import (
	"context"
	"errors"
	"time"
)

// Channel is the network an account sends on.
type Channel string

// The channels.
const (
	WhatsApp Channel = "whatsapp" // a real WhatsApp account, through go.mau.fi/whatsmeow
	Sandbox  Channel = "sandbox"  // the simulated network of sender/sandbox
	// WhatsAppCloud is Meta's WhatsApp Business Cloud API (sender/whatsappcloud). Its
	// accounts can be stored; no Connector is registered for it yet (issue 18).
	WhatsAppCloud Channel = "whatsapp_cloud"
)

// Message is one outbound text.
type Message struct {
	// ID is chosen by the caller and derived from the delivery, so that a retried send is
	// the same message: transports use it as the provider's message id where the network
	// allows it, and report receipts under it.
	ID   string
	To   string // E.164
	Text string
}

// SendResult is what a transport knows once the network has taken a message.
type SendResult struct {
	ProviderID string // the network's id for the message; equals Message.ID where we choose it
	SentAt     time.Time
}

// Transport sends through one connected account. Implementations are safe for concurrent
// use.
type Transport interface {
	// Send hands one message to the network. A failure that no retry can fix (the number
	// has no WhatsApp, the text is invalid) wraps ErrPermanent; a failure of the account
	// rather than the message (it is banned or logged out) wraps ErrAccount, and the
	// message may go through another account; any other error is transient.
	Send(ctx context.Context, m Message) (SendResult, error)
	// Close disconnects the account. Events stop before Close returns.
	Close() error
}

// Connector connects accounts of one channel. The process that holds an account's lease
// calls Connect; events of the connection go to the EventFunc until Close. cmd/crier
// registers each channel's Connector in Channels.
type Connector interface {
	Connect(ctx context.Context, a Account, events EventFunc) (Transport, error)
	// Capabilities says what the channel's transport can do; it never changes.
	Capabilities() Capabilities
}

// ErrPermanent marks a send failure that retrying cannot fix.
var ErrPermanent = errors.New("sender: permanent failure")

// ErrAccount marks a send failure that is the account's, not the message's: the account
// is banned, logged out or otherwise unable to send. The worker pauses the account and
// sends the message through another one.
var ErrAccount = errors.New("sender: the account cannot send")

// AccountFailure wraps err so that errors.Is(err, ErrAccount) holds, keeping err's message
// and chain.
func AccountFailure(err error) error {
	if err == nil || errors.Is(err, ErrAccount) {
		return err
	}
	return &accountError{err: err}
}

type accountError struct{ err error }

func (e *accountError) Error() string        { return e.err.Error() }
func (e *accountError) Unwrap() error        { return e.err }
func (e *accountError) Is(target error) bool { return target == ErrAccount }

// ErrInvalidPhone marks a number that is not E.164 ("+" and 7 to 15 digits, no leading
// 0): a customer's, given to Send, or the account's own, given to PairPhone. Transports
// return it with their own words (Mark).
var ErrInvalidPhone = errors.New("sender: invalid phone number: want E.164 (+ and 7 to 15 digits)")

// Mark returns an error with err's message and chain for which errors.Is(err, kind) holds
// too: a transport's own error that is also one of the kinds callers branch on
// (ErrInvalidPhone, ErrAlreadyPaired).
func Mark(err, kind error) error {
	if err == nil || errors.Is(err, kind) {
		return err
	}
	return &markedError{err: err, kind: kind}
}

type markedError struct{ err, kind error }

func (e *markedError) Error() string        { return e.err.Error() }
func (e *markedError) Unwrap() error        { return e.err }
func (e *markedError) Is(target error) bool { return target == e.kind }

// ErrNotOnWhatsApp is the permanent failure of a send to a number that has no WhatsApp.
var ErrNotOnWhatsApp = permanent("the number is not on WhatsApp")

type permanentError struct{ msg string }

func (e *permanentError) Error() string        { return e.msg }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// permanent returns an error that is ErrPermanent with its own message.
func permanent(msg string) error { return &permanentError{msg: msg} }

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds, keeping err's message
// and chain.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return &wrappedPermanent{err: err}
}

type wrappedPermanent struct{ err error }

func (e *wrappedPermanent) Error() string        { return e.err.Error() }
func (e *wrappedPermanent) Unwrap() error        { return e.err }
func (e *wrappedPermanent) Is(target error) bool { return target == ErrPermanent }

// EventKind says what an Event reports.
type EventKind string

// The events a connection reports.
const (
	EventDelivered EventKind = "delivered" // a message reached the phone
	EventRead      EventKind = "read"      // the customer read it
	EventFailed    EventKind = "failed"    // the network gave up on a message
	EventInbound   EventKind = "inbound"   // a customer wrote to the account
	EventOptOut    EventKind = "opt_out"   // the network says the customer (From) stopped marketing messages from the business
	EventStatus    EventKind = "status"    // the account's connection status changed
)

// Event is something the network told an account. Receipts carry MessageID; inbound
// messages carry From, Text and ProviderID; opt-outs carry From; status changes carry Status
// and Reason.
type Event struct {
	Kind      EventKind
	AccountID int64
	At        time.Time

	MessageID string // receipts: our id of the message (Message.ID)
	Error     string // failed receipts: why

	From       string // inbound and opt-out: the customer's E.164 number
	Text       string // inbound: the text
	ProviderID string // inbound: the network's id of the inbound message, for de-duplication

	Status Status // status changes
	Reason string // status changes: why, for the API to show

	// Simulated: the connection is a simulation (its connector's Capabilities.Simulated),
	// so an inbound message or opt-out speaks for no customer. The Manager sets it.
	Simulated bool
}

// EventFunc receives a connection's events. It is called from the transport's own
// goroutines and must not block for long: hand the event to a queue.
type EventFunc func(ctx context.Context, e Event)
