package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/sender"
)

const custE164 = "+" + custDigits

func TestSendSendsUnderOurID(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	cli := newFakeClient()
	cli.on(custE164)
	cli.sendTime = evTS
	tr, _, _ := newFakeTransport(t, Options{Now: clock.Now}, cli)

	id := msgid.Of(1)
	res, err := tr.Send(context.Background(), sender.Message{ID: id, To: custE164, Text: "Hello Ana"})
	require.NoError(t, err)
	require.Equal(t, sender.SendResult{ProviderID: id, SentAt: evTS}, res)
	require.Equal(t, []fakeSent{{to: custPN, text: "Hello Ana", id: "3EB0" + id[4:]}}, cli.sent)
	require.Empty(t, cli.presences, "pacing is off")

	// Without a server timestamp, the clock tells.
	cli.sendTime = time.Time{}
	res, err = tr.Send(context.Background(), sender.Message{ID: msgid.Of(2), To: custE164, Text: "again"})
	require.NoError(t, err)
	require.Equal(t, clock.Now(), res.SentAt)
}

func TestSendRejectsBadInputPermanently(t *testing.T) {
	t.Parallel()
	cli := newFakeClient()
	cli.on(custE164)
	tr, _, _ := newFakeTransport(t, Options{}, cli)
	long := make([]rune, maxTextLength+1)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name string
		m    sender.Message
		want error
	}{
		{"delivery id instead of a message id", sender.Message{ID: "42", To: custE164, Text: "hi"}, ErrInvalidMessageID},
		{"lowercase id", sender.Message{ID: "3eb00123456789abcdef01", To: custE164, Text: "hi"}, ErrInvalidMessageID},
		{"no plus", sender.Message{ID: msgid.Of(1), To: custDigits, Text: "hi"}, ErrInvalidPhone},
		{"too short", sender.Message{ID: msgid.Of(1), To: "+12345", Text: "hi"}, ErrInvalidPhone},
		{"too long", sender.Message{ID: msgid.Of(1), To: "+1234567890123456", Text: "hi"}, ErrInvalidPhone},
		{"not digits", sender.Message{ID: msgid.Of(1), To: "+49 151 1234", Text: "hi"}, ErrInvalidPhone},
		{"leading zero", sender.Message{ID: msgid.Of(1), To: "+0151123456", Text: "hi"}, ErrInvalidPhone},
		{"empty text", sender.Message{ID: msgid.Of(1), To: custE164, Text: ""}, ErrInvalidText},
		{"text too long", sender.Message{ID: msgid.Of(1), To: custE164, Text: string(long)}, ErrInvalidText},
	}
	for _, tt := range tests {
		_, err := tr.Send(context.Background(), tt.m)
		require.ErrorIs(t, err, tt.want, tt.name)
		require.ErrorIs(t, err, sender.ErrPermanent, tt.name)
	}
	require.Empty(t, cli.sent)
	require.Zero(t, cli.onWACalls)
}

func TestSendChecksOnWhatsAppOnceAndCaches(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	cli := newFakeClient()
	cli.on(custE164)
	tr, _, c := newFakeTransport(t, Options{Now: clock.Now, OnWhatsAppTTL: time.Hour}, cli)
	ctx := context.Background()

	for i := range 3 {
		_, err := tr.Send(ctx, sender.Message{ID: msgid.Of(int64(i)), To: custE164, Text: "hi"})
		require.NoError(t, err)
	}
	require.Equal(t, 1, cli.onWACalls, "asked once for three sends")

	// A number without WhatsApp fails at once, for good, and the answer is cached too.
	const noWA = "+4915199999999"
	for range 2 {
		_, err := tr.Send(ctx, sender.Message{ID: msgid.Of(10), To: noWA, Text: "hi"})
		require.ErrorIs(t, err, sender.ErrNotOnWhatsApp)
		require.ErrorIs(t, err, sender.ErrPermanent)
		require.NotContains(t, err.Error(), "4915199999999")
	}
	require.Equal(t, 2, cli.onWACalls)
	require.Len(t, cli.sent, 3)

	// The cache holds no number in its keys, and answers expire.
	require.Equal(t, 2, c.onWA.len())
	for k := range c.onWA.m {
		require.NotContains(t, fmt.Sprintf("%x%s", k, k[:]), custDigits)
	}
	clock.Advance(time.Hour)
	_, err := tr.Send(ctx, sender.Message{ID: msgid.Of(11), To: custE164, Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, 3, cli.onWACalls, "asked again after the TTL")

	// Erasure forgets the answer.
	c.onWA.forget(custDigits)
	_, err = tr.Send(ctx, sender.Message{ID: msgid.Of(12), To: custE164, Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, 4, cli.onWACalls)
}

func TestSendUsesTheCanonicalJID(t *testing.T) {
	t.Parallel()
	cli := newFakeClient()
	// Brazil dropped the ninth digit for old WhatsApp accounts: WhatsApp answers with the JID
	// that reaches the person.
	cli.on("+5511987654321", "551187654321")
	tr, _, c := newFakeTransport(t, Options{}, cli)

	for i := range 2 {
		_, err := tr.Send(context.Background(), sender.Message{ID: msgid.Of(int64(i)), To: "+5511987654321", Text: "oi"})
		require.NoError(t, err)
		require.Equal(t, types.NewJID("551187654321", types.DefaultUserServer), cli.sent[i].to)
	}
	require.Equal(t, 1, cli.onWACalls)
	e, ok := c.onWA.get("5511987654321", c.now())
	require.True(t, ok)
	require.Equal(t, "551187654321", e.user)
}

func TestSendLookupFailuresAreTransientAndNotCached(t *testing.T) {
	t.Parallel()
	cli := newFakeClient()
	cli.onWAErr = fmt.Errorf("failed to query %s@c.us: %w", custE164, whatsmeow.ErrIQRateOverLimit)
	tr, _, c := newFakeTransport(t, Options{}, cli)

	_, err := tr.Send(context.Background(), sender.Message{ID: msgid.Of(1), To: custE164, Text: "hi"})
	require.ErrorIs(t, err, whatsmeow.ErrIQRateOverLimit)
	require.NotErrorIs(t, err, sender.ErrPermanent)
	require.NotContains(t, err.Error(), custDigits, "the number is scrubbed from the error")
	require.Zero(t, c.onWA.len())
}

func TestSendWhenTheAccountCannotSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := sender.Message{ID: msgid.Of(1), To: custE164, Text: "hi"}

	t.Run("not connected now: transient", func(t *testing.T) {
		t.Parallel()
		cli := newFakeClient()
		cli.loggedIn = false
		tr, _, _ := newFakeTransport(t, Options{}, cli)
		_, err := tr.Send(ctx, m)
		require.ErrorIs(t, err, ErrNotConnected)
		require.NotErrorIs(t, err, sender.ErrPermanent)
		require.Zero(t, cli.onWACalls)
	})
	t.Run("logged out: the account's failure", func(t *testing.T) {
		t.Parallel()
		cli := newFakeClient()
		tr, _, _ := newFakeTransport(t, Options{}, cli)
		tr.handle(&events.LoggedOut{Reason: events.ConnectFailureLoggedOut})
		_, err := tr.Send(ctx, m)
		require.ErrorIs(t, err, ErrLoggedOut)
		require.ErrorIs(t, err, sender.ErrAccount)
		require.NotErrorIs(t, err, sender.ErrPermanent, "another account may send the message")
		require.ErrorContains(t, err, "401")
	})
	t.Run("banned: the account's failure", func(t *testing.T) {
		t.Parallel()
		cli := newFakeClient()
		tr, _, _ := newFakeTransport(t, Options{}, cli)
		tr.handle(&events.TemporaryBan{Code: events.TempBanSentTooManySameMessage, Expire: time.Hour})
		_, err := tr.Send(ctx, m)
		require.ErrorIs(t, err, ErrBanned)
		require.ErrorIs(t, err, sender.ErrAccount)
		require.NotErrorIs(t, err, sender.ErrPermanent)
		// A later login clears it.
		tr.handle(&events.Connected{})
		cli.on(custE164)
		_, err = tr.Send(ctx, m)
		require.NoError(t, err)
	})
	t.Run("closed: transient", func(t *testing.T) {
		t.Parallel()
		cli := newFakeClient()
		tr, _, _ := newFakeTransport(t, Options{}, cli)
		require.NoError(t, tr.Close())
		_, err := tr.Send(ctx, m)
		require.ErrorIs(t, err, ErrClosed)
		require.NotErrorIs(t, err, sender.ErrPermanent)
	})
}

func TestSendClassifiesWhatsmeowErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err       error
		permanent bool
		is        error
	}{
		{whatsmeow.ErrNotLoggedIn, false, ErrLoggedOut}, // the account's failure: sender.ErrAccount
		{whatsmeow.ErrRecipientADJID, true, whatsmeow.ErrRecipientADJID},
		{fmt.Errorf("%w %s", whatsmeow.ErrUnknownServer, "x"), true, whatsmeow.ErrUnknownServer},
		{whatsmeow.ErrNotConnected, false, ErrNotConnected},
		{whatsmeow.ErrIQDisconnected, false, ErrNotConnected},
		{whatsmeow.ErrMessageTimedOut, false, whatsmeow.ErrMessageTimedOut},
		{fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 479), false, whatsmeow.ErrServerReturnedError},
		{context.DeadlineExceeded, false, context.DeadlineExceeded},
		{fmt.Errorf("failed to get LID for PN %s@s.whatsapp.net: %w", custDigits, errors.New("db down")), false, nil},
	}
	for _, tt := range tests {
		cli := newFakeClient()
		cli.on(custE164)
		cli.sendErr = tt.err
		tr, _, _ := newFakeTransport(t, Options{}, cli)
		_, err := tr.Send(context.Background(), sender.Message{ID: msgid.Of(1), To: custE164, Text: "hi"})
		require.Error(t, err)
		require.Equal(t, tt.permanent, errors.Is(err, sender.ErrPermanent), "%v", tt.err)
		if tt.is != nil {
			require.ErrorIs(t, err, tt.is)
		}
		require.ErrorIs(t, err, tt.err, "the cause stays in the chain")
		require.NotContains(t, err.Error(), custDigits)
	}
}

func TestSendPacingShowsTyping(t *testing.T) {
	t.Parallel()
	cli := newFakeClient()
	cli.on(custE164)
	tr, _, _ := newFakeTransport(t, Options{Pacing: Pacing{Enabled: true, TypingMin: 2 * time.Second, TypingMax: 5 * time.Second}}, cli)
	var slept []time.Duration
	tr.sleep = func(_ context.Context, d time.Duration) error {
		require.Equal(t, []types.ChatPresence{types.ChatPresenceComposing}, cli.presences[len(cli.presences)-1:], "typing shows while waiting")
		slept = append(slept, d)
		return nil
	}
	for i := range 20 {
		_, err := tr.Send(context.Background(), sender.Message{ID: msgid.Of(int64(i)), To: custE164, Text: "hi"})
		require.NoError(t, err)
	}
	require.Len(t, slept, 20)
	distinct := map[time.Duration]bool{}
	for _, d := range slept {
		require.GreaterOrEqual(t, d, 2*time.Second)
		require.LessOrEqual(t, d, 5*time.Second)
		distinct[d] = true
	}
	require.Greater(t, len(distinct), 1, "jittered")
	require.Equal(t, types.ChatPresenceComposing, cli.presences[0])
	require.Equal(t, types.ChatPresencePaused, cli.presences[1])
	require.Len(t, cli.presences, 40)

	// A cancelled wait sends nothing.
	tr.sleep = func(ctx context.Context, d time.Duration) error { return context.Canceled }
	_, err := tr.Send(context.Background(), sender.Message{ID: msgid.Of(99), To: custE164, Text: "hi"})
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, cli.sent, 20)
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{ConnectTimeout: -1},
		{PairTimeout: -1},
		{OnWhatsAppTTL: -1},
		{OnWhatsAppMax: -1},
		{Pacing: Pacing{Enabled: true, TypingMin: 3 * time.Second, TypingMax: time.Second}},
	} {
		_, err := o.withDefaults()
		require.Error(t, err, "%+v", o)
	}
	o, err := Options{Pacing: Pacing{Enabled: true}}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultTypingMin, o.Pacing.TypingMin)
	require.Equal(t, DefaultTypingMax, o.Pacing.TypingMax)
	require.Equal(t, DefaultConnectTimeout, o.ConnectTimeout)
}
