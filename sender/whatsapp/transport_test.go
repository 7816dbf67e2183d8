package whatsapp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/crierhq/crier/sender"
)

func TestTransportDeliversEventsUntilClosed(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	cli := newFakeClient()
	tr, log, c := newFakeTransport(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, cli)
	tr.resolvePN = knownLIDs
	tr.handlerID = 5

	tr.handle(&events.Connected{})
	tr.handle(&events.Receipt{MessageSource: types.MessageSource{Chat: custPN, Sender: custPNDev}, Type: types.ReceiptTypeRead, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA", "3EB0BB"}})
	tr.handle(&events.Message{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: custLIDJID, Sender: custLIDDev}, ID: "ABCDEF", Timestamp: evTS}, Message: &waE2E.Message{Conversation: strp("STOP")}})
	tr.handle(&events.Message{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: types.NewJID("999999999999999", types.HiddenUserServer), Sender: types.NewJID("999999999999999", types.HiddenUserServer)}, ID: "UNRESOLVED", Timestamp: evTS}, Message: &waE2E.Message{Conversation: strp("secret text")}})
	require.Nil(t, tr.messageForRetry(custPN, custPN, "3EB0CC"))
	tr.handle(&events.StreamReplaced{})

	got := log.all()
	kinds := make([]sender.EventKind, len(got))
	for i, e := range got {
		kinds[i] = e.Kind
		require.Equal(t, int64(7), e.AccountID)
	}
	require.Equal(t, []sender.EventKind{sender.EventStatus, sender.EventRead, sender.EventRead, sender.EventInbound, sender.EventFailed, sender.EventStatus}, kinds)
	require.Equal(t, "+"+custDigits, got[3].From)
	st, reason := tr.Status()
	require.Equal(t, sender.StatusDisconnected, st)
	require.Contains(t, reason, "another client")

	// The unresolvable inbound was logged by id, without its number or text.
	require.Contains(t, logs.String(), "UNRESOLVED")
	require.NotContains(t, logs.String(), "999999999999999")
	require.NotContains(t, logs.String(), "secret text")

	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "twice")
	tr.handle(&events.Connected{})
	tr.messageForRetry(custPN, custPN, "3EB0DD")
	require.Len(t, log.all(), 6, "no events after Close")
	require.Equal(t, []uint32{5}, cli.removed)
	require.Equal(t, 1, cli.disconnect)
	c.mu.Lock()
	require.Empty(t, c.active, "the account's slot is free again")
	c.mu.Unlock()
}

func TestTransportLoginOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		evt  any
		want error // nil: logged in
	}{
		{&events.Connected{}, nil},
		{&events.LoggedOut{Reason: events.ConnectFailureLoggedOut}, ErrLoggedOut},
		{&events.TemporaryBan{Code: events.TempBanBlockedByUsers}, ErrBanned},
		{&events.ConnectFailure{Reason: events.ConnectFailureUnknownLogout}, ErrBanned},
	}
	for _, tt := range tests {
		tr, _, _ := newFakeTransport(t, Options{}, newFakeClient())
		tr.handle(&events.Disconnected{}) // does not settle: whatsmeow retries
		tr.handle(tt.evt)
		tr.handle(&events.Connected{}) // only the first outcome counts
		err := <-tr.ready
		if tt.want == nil {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, tt.want)
		}
	}

	tr, _, _ := newFakeTransport(t, Options{}, newFakeClient())
	tr.handle(&events.ClientOutdated{})
	err := <-tr.ready
	require.ErrorContains(t, err, "upgrade Crier")
}

func TestWALoggerScrubsAndDropsDebug(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	l := newWALogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime})), "", false).Sub("Client").Sub("Recv")
	l.Infof("Successfully paired %s", "15550001111:12@s.whatsapp.net")
	l.Warnf("failed for +4915112345678 in %s", "120363000000000000@g.us")
	l.Errorf("code %d", 479)
	l.Debugf("<message from=%q>", "4915112345678@s.whatsapp.net")
	out := buf.String()
	require.Equal(t, 3, strings.Count(out, "\n"), "debug dropped: %s", out)
	require.NotRegexp(t, `[0-9]{7,}`, out)
	require.Contains(t, out, "wa_module=Client/Recv")
	require.Contains(t, out, "code 479")
	require.Contains(t, out, "<redacted>:12@s.whatsapp.net")

	buf.Reset()
	dbg := newWALogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "", true)
	dbg.Debugf("<message from=%q>", "4915112345678@s.whatsapp.net")
	require.Contains(t, buf.String(), "<redacted>@s.whatsapp.net")
}

func TestOnWhatsAppCacheStaysBounded(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	c := newOnWhatsAppCache(time.Hour, 100)
	for i := range 1000 {
		c.put(fmt.Sprintf("4915100%06d", i), true, fmt.Sprintf("4915100%06d", i), clock.Now())
		require.LessOrEqual(t, c.len(), 100)
	}
	// The newest entry survives eviction.
	_, ok := c.get("4915100000999", clock.Now())
	require.True(t, ok)
	// Expired entries go first.
	clock.Advance(2 * time.Hour)
	c.put("4915199999999", false, "4915199999999", clock.Now())
	require.Equal(t, 1, c.len())
	e, ok := c.get("4915199999999", clock.Now())
	require.True(t, ok)
	require.False(t, e.in)
	require.Empty(t, e.user, "no number stored when it is the key's")
}

// TestCapabilities: the Connector declares what it does, and does it: it pairs by QR code
// and by code, reports receipts and customers' messages, and needs no template outside a
// service window.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	tr, log, c := newFakeTransport(t, Options{}, newFakeClient())
	caps := c.Capabilities()
	require.Equal(t, sender.Capabilities{Receipts: true, Inbound: true, PairQR: true, PairPhone: true}, caps)

	_, pairs := any(c).(interface {
		PairQR(context.Context, sender.Account) (*sender.Pairing, error)
		PairPhone(context.Context, sender.Account, string) (*sender.Pairing, error)
	})
	require.True(t, pairs, "PairQR and PairPhone")

	tr.resolvePN = knownLIDs
	tr.handle(&events.Receipt{MessageSource: types.MessageSource{Chat: custPN, Sender: custPNDev}, Type: types.ReceiptTypeDelivered, Timestamp: evTS, MessageIDs: []types.MessageID{"3EB0AA"}})
	tr.handle(&events.Message{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: custPN, Sender: custPNDev}, ID: "ABCDEF", Timestamp: evTS}, Message: &waE2E.Message{Conversation: strp("hi")}})
	var kinds []sender.EventKind
	for _, e := range log.all() {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []sender.EventKind{sender.EventDelivered, sender.EventInbound}, kinds, "Receipts and Inbound")
}
