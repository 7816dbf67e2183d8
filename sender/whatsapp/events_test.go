package whatsapp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/crierhq/crier/sender"
)

const (
	custDigits = "4915112345678"   // a customer's number
	custLID    = "210987654321012" // the same customer's LID
	ownDigits  = "15550001111"     // the account's own number
)

var (
	evNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	evTS  = time.Date(2025, 6, 1, 11, 59, 30, 0, time.UTC)

	custPN     = types.NewJID(custDigits, types.DefaultUserServer)
	custPNDev  = types.JID{User: custDigits, Device: 3, Server: types.DefaultUserServer}
	custLIDJID = types.NewJID(custLID, types.HiddenUserServer)
	custLIDDev = types.JID{User: custLID, Device: 3, Server: types.HiddenUserServer}
	ownPN      = types.NewJID(ownDigits, types.DefaultUserServer)
	group      = types.NewJID("120363000000000000", types.GroupServer)
)

func strp(s string) *string { return &s }

// knownLIDs resolves the customer's LID, as whatsmeow's LID map would after a send.
func knownLIDs(lid types.JID) (types.JID, bool) {
	if lid.User == custLID && lid.Server == types.HiddenUserServer {
		return custPN, true
	}
	return types.JID{}, false
}

func TestMapReceipts(t *testing.T) {
	t.Parallel()
	dm := types.MessageSource{Chat: custPN, Sender: custPNDev}
	tests := []struct {
		name string
		evt  *events.Receipt
		want []sender.Event
	}{
		{
			name: "delivered, one event per id, duplicates once",
			evt:  &events.Receipt{MessageSource: dm, Type: types.ReceiptTypeDelivered, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA", "3EB0BB", "3EB0AA", ""}},
			want: []sender.Event{
				{Kind: sender.EventDelivered, AccountID: 3, At: evTS, MessageID: "3EB0AA"},
				{Kind: sender.EventDelivered, AccountID: 3, At: evTS, MessageID: "3EB0BB"},
			},
		},
		{
			name: "read",
			evt:  &events.Receipt{MessageSource: dm, Type: types.ReceiptTypeRead, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
			want: []sender.Event{{Kind: sender.EventRead, AccountID: 3, At: evTS, MessageID: "3EB0AA"}},
		},
		{
			name: "played counts as read",
			evt:  &events.Receipt{MessageSource: dm, Type: types.ReceiptTypePlayed, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
			want: []sender.Event{{Kind: sender.EventRead, AccountID: 3, At: evTS, MessageID: "3EB0AA"}},
		},
		{
			name: "from a LID-addressed chat",
			evt:  &events.Receipt{MessageSource: types.MessageSource{Chat: custLIDJID, Sender: custLIDDev}, Type: types.ReceiptTypeRead, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
			want: []sender.Event{{Kind: sender.EventRead, AccountID: 3, At: evTS, MessageID: "3EB0AA"}},
		},
		{
			name: "no timestamp: now",
			evt:  &events.Receipt{MessageSource: dm, Type: types.ReceiptTypeDelivered, MessageIDs: []types.MessageID{"3EB0AA"}},
			want: []sender.Event{{Kind: sender.EventDelivered, AccountID: 3, At: evNow, MessageID: "3EB0AA"}},
		},
		{
			name: "retry: whatsmeow re-sends, nothing to report",
			evt:  &events.Receipt{MessageSource: dm, Type: types.ReceiptTypeRetry, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
		},
		{
			name: "server error (media re-upload), ignored",
			evt:  &events.Receipt{MessageSource: dm, Type: types.ReceiptTypeServerError, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
		},
		{
			name: "inactive, ignored",
			evt:  &events.Receipt{MessageSource: dm, Type: types.ReceiptTypeInactive, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
		},
		{
			name: "our other device read a customer's message (read-self)",
			evt:  &events.Receipt{MessageSource: types.MessageSource{Chat: custPN, Sender: ownPN, IsFromMe: true}, Type: types.ReceiptTypeReadSelf, Timestamp: evTS, MessageIDs: []types.MessageID{"ABCDEF"}},
		},
		{
			name: "our other device got our message (sender)",
			evt:  &events.Receipt{MessageSource: types.MessageSource{Chat: custPN, Sender: ownPN, IsFromMe: true}, Type: types.ReceiptTypeSender, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
		},
		{
			name: "group",
			evt:  &events.Receipt{MessageSource: types.MessageSource{Chat: group, Sender: custPNDev, IsGroup: true}, Type: types.ReceiptTypeRead, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
		},
		{
			name: "status broadcast",
			evt:  &events.Receipt{MessageSource: types.MessageSource{Chat: types.StatusBroadcastJID, Sender: custPNDev}, Type: types.ReceiptTypeRead, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, warning := mapEvent(3, tt.evt, evNow, knownLIDs)
			require.Empty(t, warning)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMapInbound(t *testing.T) {
	t.Parallel()
	text := &waE2E.Message{Conversation: strp("STOP")}
	msg := func(src types.MessageSource, m *waE2E.Message) *events.Message {
		return &events.Message{Info: types.MessageInfo{MessageSource: src, ID: "ABCDEF0123", Timestamp: evTS}, Message: m}
	}
	inbound := func(from, text string) []sender.Event {
		return []sender.Event{{Kind: sender.EventInbound, AccountID: 3, At: evTS, From: from, Text: text, ProviderID: "ABCDEF0123"}}
	}
	dm := types.MessageSource{Chat: custPN, Sender: custPNDev}
	tests := []struct {
		name    string
		evt     *events.Message
		resolve pnResolver
		want    []sender.Event
		warning bool
	}{
		{name: "conversation", evt: msg(dm, text), want: inbound("+"+custDigits, "STOP")},
		{
			name: "extended text (link preview, quote)",
			evt:  msg(dm, &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: strp("stop please https://x.example")}}),
			want: inbound("+"+custDigits, "stop please https://x.example"),
		},
		{
			name: "LID sender with the phone number alongside (SenderAlt)",
			evt:  msg(types.MessageSource{Chat: custLIDJID, Sender: custLIDDev, SenderAlt: custPNDev, AddressingMode: types.AddressingModeLID}, text),
			want: inbound("+"+custDigits, "STOP"),
		},
		{
			name:    "LID sender resolved through the LID map",
			evt:     msg(types.MessageSource{Chat: custLIDJID, Sender: custLIDDev}, text),
			resolve: knownLIDs,
			want:    inbound("+"+custDigits, "STOP"),
		},
		{
			name:    "LID sender nobody can resolve: dropped with a warning",
			evt:     msg(types.MessageSource{Chat: custLIDJID, Sender: custLIDDev}, text),
			resolve: func(types.JID) (types.JID, bool) { return types.JID{}, false },
			warning: true,
		},
		{
			name:    "LID sender, no resolver",
			evt:     msg(types.MessageSource{Chat: custLIDJID, Sender: custLIDDev}, text),
			warning: true,
		},
		{
			name: "no timestamp: now",
			evt:  &events.Message{Info: types.MessageInfo{MessageSource: dm, ID: "ABCDEF0123"}, Message: text},
			want: []sender.Event{{Kind: sender.EventInbound, AccountID: 3, At: evNow, From: "+" + custDigits, Text: "STOP", ProviderID: "ABCDEF0123"}},
		},
		{name: "from me (typed on the phone)", evt: msg(types.MessageSource{Chat: custPN, Sender: ownPN, IsFromMe: true}, text)},
		{name: "group", evt: msg(types.MessageSource{Chat: group, Sender: custPNDev, IsGroup: true}, text)},
		{name: "status broadcast", evt: msg(types.MessageSource{Chat: types.StatusBroadcastJID, Sender: custPNDev, IsGroup: true}, text)},
		{name: "newsletter", evt: msg(types.MessageSource{Chat: types.NewJID("1203630000", types.NewsletterServer), Sender: types.NewJID("1203630000", types.NewsletterServer)}, text)},
		{name: "bot", evt: msg(types.MessageSource{Chat: types.NewJID("13135550001", types.BotServer), Sender: types.NewJID("13135550001", types.BotServer)}, text)},
		{name: "image", evt: msg(dm, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: strp("STOP")}})},
		{name: "reaction", evt: msg(dm, &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: strp("👍")}})},
		{name: "empty text", evt: msg(dm, &waE2E.Message{Conversation: strp("")})},
		{name: "no message", evt: msg(dm, nil)},
		{name: "edit", evt: &events.Message{Info: types.MessageInfo{MessageSource: dm, ID: "ABCDEF0123", Timestamp: evTS}, Message: text, IsEdit: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, warning := mapEvent(3, tt.evt, evNow, tt.resolve)
			require.Equal(t, tt.want, got)
			if tt.warning {
				require.Contains(t, warning, "ABCDEF0123")
				require.NotContains(t, warning, custLID)
				require.NotContains(t, warning, custDigits)
			} else {
				require.Empty(t, warning)
			}
		})
	}
}

func TestMapStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		evt    any
		status sender.Status
		reason string // a part of the reason
	}{
		{name: "connected", evt: &events.Connected{}, status: sender.StatusConnected},
		{name: "keep-alive restored", evt: &events.KeepAliveRestored{}, status: sender.StatusConnected},
		{name: "disconnected", evt: &events.Disconnected{}, status: sender.StatusDisconnected, reason: "reconnecting"},
		{name: "keep-alive timeout", evt: &events.KeepAliveTimeout{ErrorCount: 2, LastSuccess: evNow.Add(-90 * time.Second)}, status: sender.StatusDisconnected, reason: "1m30s"},
		{name: "stream replaced", evt: &events.StreamReplaced{}, status: sender.StatusDisconnected, reason: "another client"},
		{name: "logged out from the phone", evt: &events.LoggedOut{Reason: events.ConnectFailureLoggedOut}, status: sender.StatusLoggedOut, reason: "401"},
		{name: "logged out, no reason", evt: &events.LoggedOut{}, status: sender.StatusLoggedOut, reason: "pair it again"},
		{name: "main device gone", evt: &events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureMainDeviceGone}, status: sender.StatusLoggedOut, reason: "403"},
		{name: "406 is a ban", evt: &events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureUnknownLogout}, status: sender.StatusBanned, reason: "banned"},
		{name: "temporary ban", evt: &events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: 24 * time.Hour}, status: sender.StatusBanned, reason: "(102: too many people blocked you); it ends in 24h0m0s, at 2025-06-02T12:00:00Z"},
		{name: "temporary ban, end unknown", evt: &events.TemporaryBan{Code: events.TempBanSentToTooManyPeople}, status: sender.StatusBanned, reason: "unknown"},
		{name: "connect failure: logged out", evt: &events.ConnectFailure{Reason: events.ConnectFailureLoggedOut}, status: sender.StatusLoggedOut, reason: "401"},
		{name: "connect failure: banned", evt: &events.ConnectFailure{Reason: events.ConnectFailureUnknownLogout}, status: sender.StatusBanned, reason: "406"},
		{name: "connect failure: temp banned", evt: &events.ConnectFailure{Reason: events.ConnectFailureTempBanned}, status: sender.StatusBanned, reason: "402"},
		{name: "connect failure: outdated", evt: &events.ConnectFailure{Reason: events.ConnectFailureClientOutdated}, status: sender.StatusDisconnected, reason: "upgrade Crier"},
		{name: "connect failure: other", evt: &events.ConnectFailure{Reason: events.ConnectFailureBadUserAgent, Message: "bad ua for 15551234567"}, status: sender.StatusDisconnected, reason: "409"},
		{name: "client outdated", evt: &events.ClientOutdated{}, status: sender.StatusDisconnected, reason: "405"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, warning := mapEvent(3, tt.evt, evNow, nil)
			require.Empty(t, warning)
			require.Len(t, got, 1)
			e := got[0]
			require.Equal(t, sender.EventStatus, e.Kind)
			require.Equal(t, int64(3), e.AccountID)
			require.Equal(t, evNow, e.At)
			require.Equal(t, tt.status, e.Status)
			require.Contains(t, e.Reason, tt.reason)
			require.NotRegexp(t, `[0-9]{7,}`, e.Reason, "no numbers in reasons")
		})
	}
}

func TestMapIgnoresOtherEvents(t *testing.T) {
	t.Parallel()
	for _, evt := range []any{
		&events.QR{Codes: []string{"x"}},
		&events.PairSuccess{ID: ownPN},
		&events.Presence{From: custPN},
		&events.ChatPresence{MessageSource: types.MessageSource{Chat: custPN, Sender: custPN}},
		&events.PushName{JID: custPN, NewPushName: "Ana"},
		&events.HistorySync{},
		&events.UndecryptableMessage{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: custPN, Sender: custPNDev}}},
		&events.OfflineSyncCompleted{},
		nil,
		"not an event",
	} {
		got, warning := mapEvent(3, evt, evNow, knownLIDs)
		require.Empty(t, got, "%T", evt)
		require.Empty(t, warning)
	}
}

func TestRetryMissEvent(t *testing.T) {
	t.Parallel()
	e, ok := retryMissEvent(3, custPN, "3EB0AA", evNow)
	require.True(t, ok)
	require.Equal(t, sender.EventFailed, e.Kind)
	require.Equal(t, "3EB0AA", e.MessageID)
	require.Equal(t, evNow, e.At)
	require.NotEmpty(t, e.Error)

	_, ok = retryMissEvent(3, custLIDJID, "3EB0AA", evNow)
	require.True(t, ok, "the primary phone by LID")
	_, ok = retryMissEvent(3, custPNDev, "3EB0AA", evNow)
	require.False(t, ok, "a linked device of the customer")
	_, ok = retryMissEvent(3, group, "3EB0AA", evNow)
	require.False(t, ok, "a group")
	_, ok = retryMissEvent(3, custPN, "", evNow)
	require.False(t, ok, "no id")
}
