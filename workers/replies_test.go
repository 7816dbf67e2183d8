package workers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
)

// TestInboundReplyIsAttributedToItsCampaign: a campaign message, then the customer's
// replies. Each reply, through the event:inbound task, is attributed to the campaign
// message it answered (the replies inbox); the delivery counts the first. A retried task
// whose message was processed already still attributes it.
func TestInboundReplyIsAttributedToItsCampaign(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	granted, _ := b.people(1)
	var contactID int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone = $1`, granted[0]).Scan(&contactID))
	campaignID := b.sentDeliveries("att-", 1)
	_, err := b.pool.Exec(ctx, `UPDATE deliveries SET contact_id = $2, sent_at = now() - interval '1 hour' WHERE campaign_id = $1`,
		campaignID, contactID)
	require.NoError(t, err)
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Consent: b.consent, Metrics: NewMetrics(), Logger: b.log}, b.opts)
	t.Cleanup(func() { _ = h.Close() })

	var inbound []int64
	for i, text := range []string{"is it still on?", "which sizes?"} {
		out, err := h.Events().Inbound(ctx, consent.Inbound{AccountID: 7, From: granted[0], Text: text,
			ProviderID: "wamid.reply." + itoa(int64(i)), ReceivedAt: time.Now()})
		require.NoError(t, err)
		inbound = append(inbound, out.InboundID)
		require.NoError(t, h.events.handleInbound(ctx, NewInboundTask(out.InboundID, time.Now())))
	}
	// A retry of a task whose message was processed, but not counted: the counting failed.
	_, err = b.pool.Exec(ctx, `UPDATE inbound_messages SET campaign_id = NULL, delivery_id = NULL WHERE id = $1`, inbound[1])
	require.NoError(t, err)
	require.NoError(t, h.events.handleInbound(ctx, NewInboundTask(inbound[1], time.Now())))

	for _, id := range inbound {
		require.Equal(t, 1, b.count(`
			SELECT count(*) FROM inbound_messages m JOIN deliveries d ON d.id = m.delivery_id
			WHERE m.id = $1 AND m.campaign_id = $2 AND d.campaign_id = $2`, id, campaignID), "reply %d", id)
	}
	list, _, err := b.consent.ReplyList(ctx, consent.ReplyFilter{CampaignID: campaignID})
	require.NoError(t, err)
	require.Len(t, list, 2, "both replies are in the campaign's inbox")
	require.Equal(t, 1, b.count(`SELECT count(*) FROM delivery_events WHERE kind = 'replied'`), "counted once")
}
