package whatsapp

import (
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/crierhq/crier/sender"
)

// pnResolver finds the phone-number JID of a LID (a WhatsApp "hidden user" id) in
// whatsmeow's LID map; ok is false when the map does not know it.
type pnResolver func(lid types.JID) (pn types.JID, ok bool)

// mapEvent turns one whatsmeow event into Crier events; most events map to none. It is pure
// but for resolve, which it calls only for an inbound message whose sender is known by LID
// alone. now stamps status events and anything that lacks a timestamp.
//
// warning is set, without any personal data, when an event that would have mattered had
// to be dropped; the caller logs it.
func mapEvent(accountID int64, evt any, now time.Time, resolve pnResolver) (out []sender.Event, warning string) {
	switch e := evt.(type) {
	case *events.Receipt:
		return mapReceipt(accountID, e, now), ""
	case *events.Message:
		return mapInbound(accountID, e, now, resolve)
	}
	if st, reason, ok := mapStatus(evt, now); ok {
		return []sender.Event{{Kind: sender.EventStatus, AccountID: accountID, At: now, Status: st, Reason: reason}}, ""
	}
	return nil, ""
}

// mapReceipt reports receipts from the customer for our messages, one event per message id
// (WhatsApp batches several ids into one receipt).
//
// Ignored: receipts from our own devices (IsFromMe: "sender", "read-self",
// "played-self"), group and broadcast receipts (Crier sends 1:1 only), and "retry"
// receipts, which whatsmeow answers by re-sending from its cache of recent messages
// (a retry it cannot serve is reported by retryMissEvent instead). "played" is a read of
// a view-once message and counts as read.
func mapReceipt(accountID int64, e *events.Receipt, now time.Time) []sender.Event {
	if e.IsFromMe || e.IsGroup || !isUserServer(e.Chat.Server) {
		return nil
	}
	var kind sender.EventKind
	switch e.Type {
	case types.ReceiptTypeDelivered:
		kind = sender.EventDelivered
	case types.ReceiptTypeRead, types.ReceiptTypePlayed:
		kind = sender.EventRead
	default:
		return nil
	}
	at := e.Timestamp
	if at.IsZero() {
		at = now
	}
	out := make([]sender.Event, 0, len(e.MessageIDs))
	seen := make(map[types.MessageID]bool, len(e.MessageIDs))
	for _, id := range e.MessageIDs {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, sender.Event{Kind: kind, AccountID: accountID, At: at, MessageID: string(id)})
	}
	return out
}

// mapInbound reports a text a customer wrote to the account in a 1:1 chat: a Conversation
// or an ExtendedTextMessage (a text with a link preview, a quote or a mention). whatsmeow
// has already unwrapped ephemeral (disappearing) and device-sent wrappers.
//
// Ignored: our own messages (IsFromMe, including those typed on the phone), groups,
// broadcast lists and status updates, newsletters, bots, edits and every non-text message
// (media, reactions, polls, protocol messages).
//
// The sender's number: WhatsApp now addresses many chats by LID, a per-user id that is not
// the phone number. When Sender is a LID, the phone-number JID comes from SenderAlt (the
// server sends it with LID-addressed messages) or else from whatsmeow's LID map, which
// learns the pair whenever we send to that number. If neither knows it, the message is
// dropped with a warning: an inbound event needs a number to find the contact by.
func mapInbound(accountID int64, e *events.Message, now time.Time, resolve pnResolver) ([]sender.Event, string) {
	info := e.Info
	if info.IsFromMe || info.IsGroup || e.IsEdit || e.Message == nil {
		return nil, ""
	}
	if !isUserServer(info.Chat.Server) || info.Sender.IsBot() || info.Chat.IsBot() {
		return nil, ""
	}
	text := e.Message.GetConversation()
	if text == "" {
		text = e.Message.GetExtendedTextMessage().GetText()
	}
	if text == "" {
		return nil, ""
	}
	digits, ok := senderPhone(info.MessageSource, resolve)
	if !ok {
		return nil, fmt.Sprintf("inbound text %s dropped: its sender is known only by a LID that has no phone number in whatsmeow's LID map", info.ID)
	}
	at := info.Timestamp
	if at.IsZero() {
		at = now
	}
	return []sender.Event{{
		Kind:       sender.EventInbound,
		AccountID:  accountID,
		At:         at,
		From:       "+" + digits,
		Text:       text,
		ProviderID: string(info.ID),
	}}, ""
}

// senderPhone returns the digits of the sender's phone number; see mapInbound.
func senderPhone(src types.MessageSource, resolve pnResolver) (string, bool) {
	s := src.Sender
	if s.IsEmpty() {
		s = src.Chat
	}
	var user string
	switch s.Server {
	case types.DefaultUserServer:
		user = s.User
	case types.HiddenUserServer:
		if src.SenderAlt.Server == types.DefaultUserServer {
			user = src.SenderAlt.User
		} else if resolve != nil {
			if pn, ok := resolve(s.ToNonAD()); ok && pn.Server == types.DefaultUserServer {
				user = pn.User
			}
		}
	}
	if !isPhoneDigits(user) {
		return "", false
	}
	return user, true
}

// mapStatus maps the connection events that change an account's status.
//
//   - Connected, KeepAliveRestored → connected.
//   - Disconnected, KeepAliveTimeout → disconnected; whatsmeow reconnects on its own.
//   - StreamReplaced → disconnected: another client took the session over; whatsmeow does
//     not reconnect (two processes holding one account would take turns forever).
//   - LoggedOut → logged_out, except reason 406, which WhatsApp Web calls BANNED → banned.
//   - TemporaryBan → banned, with the reason and when it ends.
//   - ConnectFailure (whatsmeow emits it only for reasons it does not turn into LoggedOut
//     or TemporaryBan, but the mapping handles every reason) → logged_out, banned or
//     disconnected by reason.
//   - ClientOutdated → disconnected: the whatsmeow version must be upgraded.
func mapStatus(evt any, now time.Time) (sender.Status, string, bool) {
	switch e := evt.(type) {
	case *events.Connected, *events.KeepAliveRestored:
		return sender.StatusConnected, "", true
	case *events.Disconnected:
		return sender.StatusDisconnected, "the connection to WhatsApp was lost; reconnecting", true
	case *events.KeepAliveTimeout:
		reason := "WhatsApp does not answer keep-alive pings; reconnecting"
		if !e.LastSuccess.IsZero() {
			reason = fmt.Sprintf("WhatsApp has not answered keep-alive pings for %s; reconnecting", now.Sub(e.LastSuccess).Round(time.Second))
		}
		return sender.StatusDisconnected, reason, true
	case *events.StreamReplaced:
		return sender.StatusDisconnected, "another client connected with this account's session (stream replaced): make sure only one process connects the account", true
	case *events.LoggedOut:
		st, reason := loggedOutStatus(e.Reason)
		return st, reason, true
	case *events.TemporaryBan:
		return sender.StatusBanned, tempBanReason(e, now), true
	case *events.ConnectFailure:
		switch {
		case e.Reason.IsLoggedOut():
			st, reason := loggedOutStatus(e.Reason)
			return st, reason, true
		case e.Reason == events.ConnectFailureTempBanned:
			return sender.StatusBanned, "temporarily banned by WhatsApp (" + e.Reason.String() + ")", true
		case e.Reason == events.ConnectFailureClientOutdated:
			return sender.StatusDisconnected, clientOutdatedReason, true
		}
		reason := "WhatsApp refused the connection (" + e.Reason.String() + ")"
		if e.Message != "" {
			reason += ": " + scrubDigits(e.Message)
		}
		return sender.StatusDisconnected, reason, true
	case *events.ClientOutdated:
		return sender.StatusDisconnected, clientOutdatedReason, true
	}
	return "", "", false
}

const clientOutdatedReason = "WhatsApp rejected this client version as outdated (405): upgrade Crier"

func loggedOutStatus(r events.ConnectFailureReason) (sender.Status, string) {
	switch r {
	case events.ConnectFailureUnknownLogout:
		return sender.StatusBanned, "WhatsApp banned the account and unlinked it (" + r.String() + "); pair it again if an appeal succeeds"
	case 0:
		return sender.StatusLoggedOut, "unlinked from the phone: pair it again"
	}
	return sender.StatusLoggedOut, "unlinked from the phone (" + r.String() + "): pair it again"
}

func tempBanReason(e *events.TemporaryBan, now time.Time) string {
	reason := fmt.Sprintf("temporarily banned by WhatsApp (%s)", e.Code)
	if e.Expire <= 0 {
		return reason + "; the end of the ban is unknown"
	}
	return fmt.Sprintf("%s; it ends in %s, at %s", reason, e.Expire, now.Add(e.Expire).UTC().Format(time.RFC3339))
}

// retryMissEvent reports a message that the customer's phone could not decrypt and asked
// us to re-send, when whatsmeow no longer has it in its cache of recent messages (256 per
// connection, lost on restart): the customer then sees "waiting for this message" for
// good. Only a retry request from the primary phone (device 0) counts; a linked device of
// the customer failing to decrypt does not mean the customer did not get the message.
func retryMissEvent(accountID int64, requester types.JID, id types.MessageID, now time.Time) (sender.Event, bool) {
	if id == "" || requester.Device != 0 || !isUserServer(requester.Server) {
		return sender.Event{}, false
	}
	return sender.Event{
		Kind:      sender.EventFailed,
		AccountID: accountID,
		At:        now,
		MessageID: string(id),
		Error:     "the recipient's phone could not decrypt the message, and it could no longer be re-sent",
	}, true
}

// isUserServer tells a 1:1 chat with a person: by phone number or by LID.
func isUserServer(server string) bool {
	return server == types.DefaultUserServer || server == types.HiddenUserServer
}
