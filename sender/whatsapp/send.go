package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/crierhq/crier/sender"
)

// Send sends a text to m.To under the id m.ID, which must have the shape ValidMessageID
// checks (a delivery's id from msgid.Of has it), so that a retried send is the same message.
//
// Before the first message to a number (and again once the cached answer expires) it asks
// WhatsApp whether the number has WhatsApp; a number without it fails at once with
// sender.ErrNotOnWhatsApp. With pacing on, the customer sees "typing…" for a moment
// first.
//
// Errors: ErrInvalidMessageID, ErrInvalidPhone, ErrInvalidText, sender.ErrNotOnWhatsApp,
// ErrLoggedOut and ErrBanned are permanent (the last two for this account only: the
// message may go through another); ErrNotConnected, ErrClosed, timeouts and anything else
// are transient. No error text contains the number.
func (t *Transport) Send(ctx context.Context, m sender.Message) (sender.SendResult, error) {
	if !ValidMessageID(m.ID) {
		return sender.SendResult{}, ErrInvalidMessageID
	}
	digits, err := phoneDigits(m.To)
	if err != nil {
		return sender.SendResult{}, fmt.Errorf("whatsapp: send %s: %w", m.ID, err)
	}
	if m.Text == "" || utf8.RuneCountInString(m.Text) > maxTextLength {
		return sender.SendResult{}, fmt.Errorf("whatsapp: send %s: %w", m.ID, ErrInvalidText)
	}
	if err := t.usable(); err != nil {
		return sender.SendResult{}, fmt.Errorf("whatsapp: send %s: %w", m.ID, err)
	}
	to, err := t.recipient(ctx, digits)
	if err != nil {
		return sender.SendResult{}, fmt.Errorf("whatsapp: send %s: %w", m.ID, err)
	}
	if t.pacing.Enabled {
		if err := t.showTyping(ctx, to); err != nil {
			return sender.SendResult{}, fmt.Errorf("whatsapp: send %s: %w", m.ID, err)
		}
	}
	text := m.Text
	resp, err := t.cli.SendMessage(ctx, to, &waE2E.Message{Conversation: &text}, whatsmeow.SendRequestExtra{ID: types.MessageID(m.ID)})
	if t.pacing.Enabled {
		// Best effort: the indicator also clears when the message arrives.
		_ = t.cli.SendChatPresence(ctx, to, types.ChatPresencePaused, types.ChatPresenceMediaText)
	}
	if err != nil {
		return sender.SendResult{}, fmt.Errorf("whatsapp: send %s: %w", m.ID, classify(scrubbed(err, digits, to.User)))
	}
	res := sender.SendResult{ProviderID: m.ID, SentAt: resp.Timestamp}
	if resp.ID != "" {
		res.ProviderID = string(resp.ID)
	}
	if res.SentAt.IsZero() {
		res.SentAt = t.now()
	}
	return res, nil
}

// usable fails when the account cannot send now.
func (t *Transport) usable() error {
	if t.isClosed.Load() {
		return ErrClosed
	}
	if n := t.status.Load(); n != nil && (n.status == sender.StatusLoggedOut || n.status == sender.StatusBanned) {
		return statusError(n.status, n.reason)
	}
	if !t.cli.IsLoggedIn() {
		return ErrNotConnected
	}
	return nil
}

// recipient returns the JID to send to, asking WhatsApp whether the number has WhatsApp
// unless the cache knows.
func (t *Transport) recipient(ctx context.Context, digits string) (types.JID, error) {
	now := t.now()
	if e, ok := t.onWA.get(digits, now); ok {
		return cachedRecipient(e, digits)
	}
	answers, err := t.cli.IsOnWhatsApp(ctx, []string{"+" + digits})
	if err != nil {
		return types.JID{}, fmt.Errorf("is the number on WhatsApp: %w", classify(scrubbed(err, digits)))
	}
	if len(answers) == 0 {
		// No answer about the number: do not cache, do not fail it for good.
		return types.JID{}, errors.New("is the number on WhatsApp: WhatsApp gave no answer")
	}
	// One number asked, one answer. WhatsApp's canonical JID may differ from the number
	// asked (some countries changed their numbering); messages go to the canonical one.
	a := answers[0]
	user := digits
	if a.IsIn && a.JID.Server == types.DefaultUserServer && isPhoneDigits(a.JID.User) {
		user = a.JID.User
	}
	t.onWA.put(digits, a.IsIn, user, now)
	return cachedRecipient(onWhatsAppEntry{in: a.IsIn, user: user}, digits)
}

func cachedRecipient(e onWhatsAppEntry, digits string) (types.JID, error) {
	if !e.in {
		return types.JID{}, sender.ErrNotOnWhatsApp
	}
	user := e.user
	if user == "" {
		user = digits
	}
	return types.NewJID(user, types.DefaultUserServer), nil
}

// showTyping shows "typing…" in the chat for a random time within the pacing range.
func (t *Transport) showTyping(ctx context.Context, to types.JID) error {
	// Best effort: a lost indicator does not make the message worse.
	_ = t.cli.SendChatPresence(ctx, to, types.ChatPresenceComposing, types.ChatPresenceMediaText)
	return t.sleep(ctx, t.rnd.durationBetween(t.pacing.TypingMin, t.pacing.TypingMax))
}

// classify marks the whatsmeow errors that retrying cannot fix on this account as
// permanent; everything else (disconnects, timeouts, server errors, rate limits) stays
// transient, bounded by the task queue's retry limit.
func classify(err error) error {
	switch {
	case errors.Is(err, whatsmeow.ErrNotLoggedIn):
		// The device store has no JID: whatsmeow deleted it after a logout.
		return fmt.Errorf("%w: %w", ErrLoggedOut, err)
	case errors.Is(err, whatsmeow.ErrRecipientADJID),
		errors.Is(err, whatsmeow.ErrUnknownServer),
		errors.Is(err, whatsmeow.ErrBroadcastListUnsupported):
		return sender.Permanent(err)
	case errors.Is(err, whatsmeow.ErrNotConnected), errors.Is(err, whatsmeow.ErrIQDisconnected):
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return err
}

// phoneDigits checks an E.164 number ("+" and 7 to 15 digits, the first not 0) and
// returns its digits, which are the user part of its WhatsApp JID.
func phoneDigits(e164 string) (string, error) {
	digits, ok := strings.CutPrefix(e164, "+")
	if !ok || !isPhoneDigits(digits) {
		return "", ErrInvalidPhone
	}
	return digits, nil
}

// isPhoneDigits reports whether s could be the digits of an E.164 number.
func isPhoneDigits(s string) bool {
	if len(s) < 7 || len(s) > 15 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
