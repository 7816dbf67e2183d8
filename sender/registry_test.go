package sender_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender"
)

// capsConnector is a Connector that only declares its capabilities.
type capsConnector struct{ caps sender.Capabilities }

func (f capsConnector) Connect(context.Context, sender.Account, sender.EventFunc) (sender.Transport, error) {
	return nil, errors.New("fake")
}

func (f capsConnector) Capabilities() sender.Capabilities { return f.caps }

func TestChannelsAnswerForTheirTransports(t *testing.T) {
	t.Parallel()
	paired := capsConnector{sender.Capabilities{Receipts: true, PairQR: true}}
	simulated := capsConnector{sender.Capabilities{Receipts: true, Simulated: true}}
	chs := sender.Channels{"zeta": paired, sender.WhatsApp: paired, sender.Sandbox: simulated}

	caps, ok := chs.Capabilities(sender.WhatsApp)
	require.True(t, ok)
	require.True(t, caps.Pairs())
	caps, ok = chs.Capabilities("sms")
	require.False(t, ok, "not registered")
	require.Equal(t, sender.Capabilities{}, caps)

	require.Equal(t, []sender.Channel{sender.WhatsApp, "zeta"}, chs.Where(sender.Capabilities.Pairs), "sorted")
	require.Equal(t, []sender.Channel{sender.Sandbox, sender.WhatsApp, "zeta"}, chs.Where(func(c sender.Capabilities) bool { return c.Receipts }))
	require.Empty(t, chs.Where(func(c sender.Capabilities) bool { return c.Media }))
	require.Equal(t, "whatsapp or zeta", sender.ChannelNames(chs.Where(sender.Capabilities.Pairs)))
	require.Equal(t, "sandbox", sender.ChannelNames([]sender.Channel{sender.Sandbox}))

	var none sender.Channels
	_, ok = none.Capabilities(sender.WhatsApp)
	require.False(t, ok, "a nil set knows no channel")
	require.Empty(t, none.Where(sender.Capabilities.Pairs))
}

func TestCapabilitiesPairs(t *testing.T) {
	t.Parallel()
	require.False(t, sender.Capabilities{Receipts: true, Inbound: true}.Pairs())
	require.True(t, sender.Capabilities{PairQR: true}.Pairs())
	require.True(t, sender.Capabilities{PairPhone: true}.Pairs())
}

func TestMarkKeepsTheMessageAndAddsTheKind(t *testing.T) {
	t.Parallel()
	own := errors.New("whatsapp: invalid phone number")
	err := sender.Mark(sender.Permanent(own), sender.ErrInvalidPhone)
	require.EqualError(t, err, "whatsapp: invalid phone number")
	require.ErrorIs(t, err, sender.ErrInvalidPhone)
	require.ErrorIs(t, err, sender.ErrPermanent)
	require.ErrorIs(t, err, own)
	require.NotErrorIs(t, err, sender.ErrAlreadyPaired)
	require.Same(t, err, sender.Mark(err, sender.ErrInvalidPhone), "marked once")
	require.NoError(t, sender.Mark(nil, sender.ErrInvalidPhone))
}

// TestPairing: a transport emits codes and finishes once; a caller reads the codes, the
// final event, and the result, or cancels.
func TestPairing(t *testing.T) {
	t.Parallel()
	cancelled := false
	p := sender.NewPairing(3, func() { cancelled = true })
	require.EqualValues(t, 3, p.AccountID)
	for range 40 { // more than the buffer holds: the extra codes are dropped, never the end
		p.EmitCode(sender.PairEvent{Kind: sender.PairCode, Code: "2@x", Expires: time.Minute})
	}
	select {
	case <-p.Done():
		t.Fatal("done before Finish")
	default:
	}
	p.Finish(sender.PairEvent{Kind: sender.PairSuccess, Phone: "+15550001111", Device: "15550001111:12@s.whatsapp.net"})
	var got []sender.PairEvent
	for e := range p.Events() {
		got = append(got, e)
	}
	require.Greater(t, len(got), 1)
	require.Equal(t, sender.PairCode, got[0].Kind)
	require.Equal(t, sender.PairSuccess, got[len(got)-1].Kind, "the final event is never dropped")
	require.Equal(t, "+15550001111", p.Result().Phone)
	res, err := p.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, sender.PairSuccess, res.Kind)

	require.False(t, p.Cancelled())
	p.Cancel()
	require.True(t, p.Cancelled())
	require.True(t, cancelled)

	waiting := sender.NewPairing(4, func() {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = waiting.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
