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
	// WhatsAppCloud is Meta's WhatsApp Business Cloud API (sender/whatsappcloud).
	WhatsAppCloud Channel = "whatsapp_cloud"
)

// Message is one outbound message.
type Message struct {
	// ID is chosen by the caller and derived from the delivery, so that a retried send is
	// the same message: transports use it as the provider's message id where the network
	// allows it, and report receipts under it.
	ID   string
	To   string // E.164
	Text string // the text as the customer reads it; for a template, its rendered body
	// Campaign: a campaign's message, not a reply or a confirmation to something the
	// customer wrote. On a network that takes only templates outside the customer service
	// window (Capabilities.TemplatesOutsideWindow), such a message goes only as Template,
	// and the transport refuses it without one.
	Campaign bool
	// Template: the message as a template the network approved in advance, where the
	// template's locale names one; nil otherwise.
	Template *TemplateMessage
}

// TemplateMessage is a message as a pre-approved template: its name and language on the
// network, and the values of its parameters, rendered for the recipient.
type TemplateMessage struct {
	Name     string
	Language string   // the network's code: "en_US", "pt_BR", "de"
	Params   []string // the body's parameters in order ({{1}}, {{2}}… or named ones as they appear)
	// ParamNames are the placeholders' names, one per Params entry, for a template with
	// named placeholders ({{first_name}}); nil for numbered ones.
	ParamNames []string
	Header     *Media // the header's media, for a template with a media header
}

// Media is a file a message shows, by public HTTPS link.
type Media struct {
	Kind string // "image", "video" or "document"
	Link string
}

// CredentialChecker is a Connector that can check a new account's credentials with the
// network before the account is created (the Cloud API's access token). The API and
// `crier accounts add` call it when the channel's Connector has it.
type CredentialChecker interface {
	CheckCredentials(ctx context.Context, in AccountInput) error
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

	// Network names who reported an opt-out when it is the messaging network itself
	// ("whatsapp": Meta's error 131050), for the consent ledger's source; Error (above)
	// is then the network's words, kept as evidence.
	Network string

	Status Status // status changes
	Reason string // status changes: why, for the API to show

	// Simulated: the connection is a simulation (its connector's Capabilities.Simulated),
	// so an inbound message or opt-out speaks for no customer. The Manager sets it.
	Simulated bool
}

// EventFunc receives a connection's events. It is called from the transport's own
// goroutines and must not block for long: hand the event to a queue.
type EventFunc func(ctx context.Context, e Event)

// ErrTemplateRefused marks a send the network refused for the template itself (Meta's
// 132xxx: not approved, paused, parameters that do not match): every message of the
// campaign would fail the same way, so the campaign pauses at the first one, with the
// reason. The failure is also ErrPermanent for the message.
var ErrTemplateRefused = errors.New("sender: the network refused the message template")

// ErrThrottled marks a send the network refused for a rate limit: of the account, or of
// this recipient. Nothing was sent; the message is retried after ThrottledFor's delay,
// through the same account, without counting as a failure.
var ErrThrottled = errors.New("sender: rate limited by the network")

// Throttle wraps err as ErrThrottled with the delay the network asks for (at least a
// second).
func Throttle(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &throttledError{err: err, after: max(after, time.Second)}
}

// ThrottledFor returns the delay of a Throttle error.
func ThrottledFor(err error) (time.Duration, bool) {
	var t *throttledError
	if errors.As(err, &t) {
		return t.after, true
	}
	return 0, false
}

type throttledError struct {
	err   error
	after time.Duration
}

func (e *throttledError) Error() string        { return e.err.Error() }
func (e *throttledError) Unwrap() error        { return e.err }
func (e *throttledError) Is(target error) bool { return target == ErrThrottled }
