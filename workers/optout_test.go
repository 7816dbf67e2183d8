package workers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/sender"
)

// TestOptOutsDoNotWaitForReplies: a burst of STOPs to an account that may send 30 messages
// a minute. Every withdrawal takes effect at once, while the confirmations queue behind the
// account's rate. Before replies had tasks of their own, each STOP held one of the events
// server's four slots while its confirmation waited (up to 30 s) for a rate token, so the
// STOPs took effect at the account's rate: the twentieth after about 40 s.
func TestOptOutsDoNotWaitForReplies(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Concurrency: 4})
	ctx := context.Background()
	granted, _ := b.people(32) // 24 with consent
	acct := b.sandboxAccount("slow", 30)
	w := b.startWorker(true)
	waitFor(t, 10*time.Second, "the account is connected", func() bool {
		_, _, _, ok := w.h.manager.Held(acct)
		return ok
	})

	const stops = 20
	for i, phone := range granted[:stops] {
		_, err := w.h.Events().Inbound(ctx, consent.Inbound{AccountID: acct, From: phone, Text: "STOP",
			ProviderID: fmt.Sprintf("wamid.stop.%d", i), ReceivedAt: time.Now()})
		require.NoError(t, err)
	}
	waitFor(t, 15*time.Second, "every STOP has taken effect", func() bool {
		return b.count(`SELECT count(*) FROM consent_state WHERE status = 'withdrawn'`) == stops+4 && // + the imported "no"s
			b.count(`SELECT count(*) FROM inbound_messages WHERE class = 'opt_out'`) == stops
	})
	require.Equal(t, 2*stops, b.count(`SELECT count(*) FROM suppressions WHERE source = 'keyword'`))
	require.Positive(t, b.count(`SELECT count(*) FROM inbound_messages WHERE reply_status = 'pending'`),
		"the confirmations wait for the account's rate, and the opt-outs did not wait for them")
}

// TestReplyIsSentOnce: the reply task of a message whose reply went out already sends
// nothing; one for a message without a reply due sends nothing either.
func TestReplyIsSentOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	granted, _ := b.people(1)
	acct := b.sandboxAccount("replies", 600)
	w := b.startWorker(true)
	waitFor(t, 10*time.Second, "the account is connected", func() bool {
		_, _, _, ok := w.h.manager.Held(acct)
		return ok
	})
	out, err := b.consent.HandleInbound(ctx, consent.Inbound{AccountID: acct, From: granted[0], Text: "STOP",
		ProviderID: "wamid.1", ReceivedAt: time.Now()})
	require.NoError(t, err)
	task := NewReplyTask(out.InboundID)
	for range 3 {
		require.NoError(t, w.h.send.handleReply(ctx, task))
	}
	require.Equal(t, 1, b.count(`SELECT count(*) FROM sandbox_messages WHERE to_phone = $1`, granted[0]))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM inbound_messages WHERE reply_status = 'sent'`))

	none, err := b.consent.HandleInbound(ctx, consent.Inbound{AccountID: acct, From: granted[0], Text: "thanks",
		ProviderID: "wamid.2", ReceivedAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, w.h.send.handleReply(ctx, NewReplyTask(none.InboundID)))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM sandbox_messages WHERE to_phone = $1`, granted[0]))
}

// TestNetworkOptOutEvent: a channel's own opt-out signal withdraws and suppresses at once.
func TestNetworkOptOutEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	granted, _ := b.people(1)
	w := b.startWorker(true)
	w.h.Events().OnEvent(context.Background(), sender.Event{Kind: sender.EventOptOut, AccountID: 9, From: granted[0], At: time.Now()})
	require.Equal(t, 1, b.count(`SELECT count(*) FROM suppressions WHERE source = 'channel' AND purpose = 'marketing'`))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM consent_ledger WHERE source = 'channel' AND status = 'withdrawn'`))
	require.Zero(t, b.count(`SELECT count(*) FROM inbound_messages`), "no message, no confirmation")
}

// TestSimulatedInboundSpeaksForNobody: a message from a simulated connection is stored as
// simulated (by its account), so its STOP never withdraws a customer's consent.
func TestSimulatedInboundSpeaksForNobody(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	granted, _ := b.people(1)
	w := b.startWorker(true)
	w.h.Events().OnEvent(context.Background(), sender.Event{Kind: sender.EventInbound, AccountID: 9, From: granted[0],
		Text: "STOP", ProviderID: "sim.1", At: time.Now(), Simulated: true})
	require.Equal(t, 1, b.count(`SELECT count(*) FROM inbound_messages WHERE simulated_by = 'account:9'`))
	w.h.Events().OnEvent(context.Background(), sender.Event{Kind: sender.EventInbound, AccountID: 9, From: granted[0],
		Text: "hello", ProviderID: "real.1", At: time.Now()})
	require.Equal(t, 1, b.count(`SELECT count(*) FROM inbound_messages WHERE simulated_by IS NULL`))
}
