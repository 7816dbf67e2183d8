package whatsapp

import (
	"errors"
	"strings"

	"github.com/crierhq/crier/sender"
)

// Errors callers branch on. The permanent ones wrap sender.ErrPermanent; the account's
// failures wrap sender.ErrAccount.
var (
	// ErrNotPaired: the account has no linked device (never paired, or its device was
	// unlinked and deleted). Its status is pending_pair until PairQR or PairPhone succeeds.
	ErrNotPaired = errors.New("whatsapp: the account is not paired: pair it first (status pending_pair)")
	// ErrAlreadyPaired: PairQR or PairPhone on an account that has a linked device. Unpair
	// it first to link another phone. It is sender.ErrAlreadyPaired.
	ErrAlreadyPaired = sender.Mark(errors.New("whatsapp: the account is already paired: unpair it first"), sender.ErrAlreadyPaired)
	// ErrAlreadyConnected: Connect on an account that this Connector has connected already.
	ErrAlreadyConnected = errors.New("whatsapp: the account is already connected in this process")
	// ErrTimeout: WhatsApp (or the proxy) did not answer within the connect timeout.
	ErrTimeout = errors.New("whatsapp: no answer in time")
	// ErrNotConnected: the account's connection is down for now; whatsmeow reconnects on its
	// own, so a send may be retried later. Transient.
	ErrNotConnected = errors.New("whatsapp: the account is not connected right now")
	// ErrClosed: the transport or connector was closed. Transient for a delivery: another
	// connection may send it.
	ErrClosed = errors.New("whatsapp: closed")
	// ErrPairingCancelled ends a pairing that was cancelled, replaced by a newer pairing of
	// the same account, or cut short by Connector.Close.
	ErrPairingCancelled = errors.New("whatsapp: pairing cancelled")

	// ErrLoggedOut: the account was unlinked from the phone and must be paired again. A
	// failure of the account (sender.ErrAccount): the worker sends the message through
	// another.
	ErrLoggedOut = sender.AccountFailure(errors.New("whatsapp: the account was logged out (unlinked from the phone): pair it again"))
	// ErrBanned: WhatsApp banned the account, for a while or for good. A failure of the
	// account (sender.ErrAccount): the worker sends the message through another.
	ErrBanned = sender.AccountFailure(errors.New("whatsapp: the account is banned"))
	// ErrInvalidMessageID: Message.ID does not have the shape of a WhatsApp message id
	// (ValidMessageID); derive it with msgid.Of.
	ErrInvalidMessageID = sender.Permanent(errors.New("whatsapp: invalid message id: derive it with msgid.Of"))
	// ErrInvalidPhone: the number is not E.164 ("+" and 7 to 15 digits, no leading 0). It
	// is sender.ErrInvalidPhone.
	ErrInvalidPhone = sender.Mark(sender.Permanent(errors.New("whatsapp: invalid phone number: want E.164 (+ and 7 to 15 digits)")), sender.ErrInvalidPhone)
	// ErrInvalidText: the text is empty or longer than WhatsApp accepts.
	ErrInvalidText = sender.Permanent(errors.New("whatsapp: invalid text: empty or longer than 65536 characters"))
)

// scrubbed hides the given numbers in err's message and keeps err's chain, so that an
// error about a customer's number can be logged or stored by the caller without the
// number (whatsmeow puts JIDs, which are phone numbers, into its error texts).
func scrubbed(err error, numbers ...string) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{err: err, numbers: numbers}
}

type scrubbedError struct {
	err     error
	numbers []string
}

func (e *scrubbedError) Error() string {
	msg := e.err.Error()
	for _, n := range e.numbers {
		if n != "" {
			msg = strings.ReplaceAll(msg, n, "<phone>")
		}
	}
	return scrubDigits(msg)
}

func (e *scrubbedError) Unwrap() error { return e.err }
