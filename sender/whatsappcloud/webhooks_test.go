package whatsappcloud_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
)

type webhookBundle struct {
	*cloudBundle
	hooks    *whatsappcloud.Webhooks
	enqueued *idLog
}

type idLog struct {
	mu  sync.Mutex
	ids []int64
}

func (l *idLog) add(_ context.Context, id int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = append(l.ids, id)
	return nil
}

func setupWebhooks(t *testing.T) *webhookBundle {
	t.Helper()
	b := &webhookBundle{cloudBundle: setupCloud(t, cloudtest.Options{}), enqueued: &idLog{}}
	b.hooks = whatsappcloud.NewWebhooks(b.pool, b.accounts, whatsappcloud.WebhookOptions{
		Enqueue: b.enqueued.add, Events: b.events.add, Now: b.clock.Now})
	return b
}

// deliver receives a signed body for the account and processes it.
func (b *webhookBundle) deliver(t *testing.T, body []byte) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)
	require.NoError(t, b.hooks.Process(ctx, id))
	return id
}

// sent records messages as the transport does: sends through the fake, with their ids.
func (b *webhookBundle) sent(t *testing.T, ids ...string) []cloudtest.Message {
	t.Helper()
	tr := b.connect(t, whatsappcloud.ConnectorOptions{PairGap: time.Nanosecond})
	for i, id := range ids {
		_, err := tr.Send(context.Background(), sender.Message{ID: id, To: customer, Text: "hello " + string(rune('a'+i))})
		require.NoError(t, err)
		b.clock.Add(time.Millisecond)
	}
	return b.fake.Sent()
}

func TestWebhookReceiveChecksTheSignature(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	body := b.fake.InboundWebhook(cloudtest.Inbound{From: customer, Text: "STOP"})

	id, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)
	require.Equal(t, []int64{id}, b.enqueued.ids, "queued by id")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM cloud_webhooks WHERE id = $1 AND account_id = $2 AND body = $3
		AND processed_at IS NULL`, id, b.account.ID, body))

	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-2] = ' '
	for _, tt := range []struct {
		name      string
		body      []byte
		signature string
		want      error
	}{
		{"unsigned", body, "", whatsappcloud.ErrSignatureMissing},
		{"another app's secret", body, cloudtest.Sign("another-secret", body), whatsappcloud.ErrSignatureMismatch},
		{"tampered", tampered, b.fake.Sign(body), whatsappcloud.ErrSignatureMismatch},
		{"malformed", body, "sha1=abc", whatsappcloud.ErrSignatureMalformed},
	} {
		_, err := b.hooks.Receive(ctx, b.account.ID, tt.body, tt.signature)
		require.ErrorIs(t, err, tt.want, tt.name)
	}
	_, err = b.hooks.Receive(ctx, b.account.ID, make([]byte, whatsappcloud.MaxWebhookBytes+1), "")
	require.ErrorIs(t, err, whatsappcloud.ErrWebhookTooLarge)

	// Only live whatsapp_cloud accounts take webhooks.
	sandbox, err := b.accounts.Create(ctx, sender.AccountInput{Name: "Sandbox", Channel: sender.Sandbox})
	require.NoError(t, err)
	for _, accountID := range []int64{sandbox.ID, 999999} {
		_, err = b.hooks.Receive(ctx, accountID, body, b.fake.Sign(body))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	}
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM cloud_webhooks`), "nothing unsigned is stored")

	// A failed enqueue is the sweep's: the row is recorded all the same.
	failing := whatsappcloud.NewWebhooks(b.pool, b.accounts, whatsappcloud.WebhookOptions{
		Enqueue: func(context.Context, int64) error { return errors.New("redis down") }})
	_, err = failing.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM cloud_webhooks`))
}

func TestWebhookHandshake(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"hook-token-Cloud"}, "hub.challenge": {"1158201444"}}

	challenge, err := b.hooks.Handshake(ctx, b.account.ID, q)
	require.NoError(t, err)
	require.Equal(t, "1158201444", challenge)
	q.Set("hub.verify_token", "guess")
	_, err = b.hooks.Handshake(ctx, b.account.ID, q)
	require.ErrorIs(t, err, whatsappcloud.ErrHandshakeToken)
	_, err = b.hooks.Handshake(ctx, 999999, q)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

// TestWebhookStatuses: statuses become receipts under Crier's message ids, a 131050
// failure also the customer's opt-out, and Meta's retries change nothing.
func TestWebhookStatuses(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	sent := b.sent(t, "3EB00000000000000101", "3EB00000000000000102", "3EB00000000000000103")
	at := b.clock.Now().Add(time.Minute).Truncate(time.Second)
	statuses := []cloudtest.Status{cloudtest.StatusOf(sent[0], "sent"), cloudtest.StatusOf(sent[0], "delivered"),
		cloudtest.StatusOf(sent[1], "read"), cloudtest.Failed(sent[2], 131050, "This recipient has chosen to stop receiving marketing messages")}
	for i := range statuses {
		statuses[i].At = at
	}
	// The second message's status carries no callback data (an older template send): its
	// wamid names it.
	statuses[2].CallbackData = ""
	body := b.fake.StatusWebhook(statuses...)

	id := b.deliver(t, body)
	acct := b.account.ID
	require.Equal(t, []sender.Event{
		{Kind: sender.EventDelivered, AccountID: acct, At: at, MessageID: "3EB00000000000000101"},
		{Kind: sender.EventRead, AccountID: acct, At: at, MessageID: "3EB00000000000000102"},
		{Kind: sender.EventOptOut, AccountID: acct, At: at, From: customer, Network: "whatsapp",
			Error: "This recipient has chosen to stop receiving marketing messages"},
		{Kind: sender.EventFailed, AccountID: acct, At: at, MessageID: "3EB00000000000000103",
			Error: "131050: This recipient has chosen to stop receiving marketing messages"},
	}, b.events.take())
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM cloud_webhooks WHERE id = $1 AND body IS NULL AND processed_at IS NOT NULL`, id),
		"the body, with customers' numbers, is gone")

	// Meta retries the same delivery; the worker runs the task twice.
	again := b.deliver(t, body)
	require.NoError(t, b.hooks.Process(context.Background(), again))
	require.NoError(t, b.hooks.Process(context.Background(), id))
	require.Empty(t, b.events.take())

	// A status of a message Crier did not send (another tool on the number) is ignored.
	b.deliver(t, b.fake.StatusWebhook(cloudtest.Status{WAMID: "wamid.other", Status: "delivered", Recipient: customer}))
	require.Empty(t, b.events.take())
}

func TestWebhookInbound(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	at := b.clock.Now().Truncate(time.Second)
	b.deliver(t, b.fake.InboundWebhook(
		cloudtest.Inbound{From: customer, WAMID: "wamid.in1", Text: "STOP", At: at},
		cloudtest.Inbound{From: "+4915112345679", WAMID: "wamid.in2", Button: "Stop promotions", Payload: "unsubscribe", At: at},
	))
	acct := b.account.ID
	require.Equal(t, []sender.Event{
		{Kind: sender.EventInbound, AccountID: acct, At: at, From: customer, Text: "STOP", ProviderID: "wamid.in1"},
		{Kind: sender.EventInbound, AccountID: acct, At: at, From: "+4915112345679", Text: "Stop promotions", ProviderID: "wamid.in2"},
	}, b.events.take())
}

// TestWebhookRouting: one app's webhook carries every number it serves, so items go to
// the account of the number they name, if that account belongs to the same Meta app.
func TestWebhookRouting(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	sibling := cloudtest.New(t, cloudtest.Options{PhoneNumberID: "1000000002"}) // same WABA, same app secret
	siblingAccount := b.cloudAccount(t, "Sibling", sibling, sibling.Token())
	stranger := cloudtest.New(t, cloudtest.Options{PhoneNumberID: "1000000003", AppSecret: "another-app"})
	b.cloudAccount(t, "Stranger", stranger, stranger.Token())

	// Signed with the first account's app secret, received at its URL.
	for _, fake := range []*cloudtest.Server{sibling, stranger} {
		body := fake.InboundWebhook(cloudtest.Inbound{From: customer, Text: "hi from " + fake.PhoneNumberID()})
		id, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
		require.NoError(t, err)
		require.NoError(t, b.hooks.Process(ctx, id))
	}
	events := b.events.take()
	require.Len(t, events, 1, "another app's number is not this app's to speak for")
	require.Equal(t, siblingAccount.ID, events[0].AccountID)
	require.Equal(t, "hi from 1000000002", events[0].Text)
}

func TestWebhookQualityUpdate(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	capOf := func() int {
		a, err := b.accounts.Get(ctx, b.account.ID)
		require.NoError(t, err)
		return a.DailyCap
	}

	b.deliver(t, b.fake.QualityWebhook(cloudtest.QualityUpdate{Event: "UPGRADE", CurrentLimit: "TIER_10K", OldLimit: "TIER_1K"}))
	require.Equal(t, 10_000, capOf())
	a, err := b.accounts.Get(ctx, b.account.ID)
	require.NoError(t, err)
	require.Nil(t, a.PausedAt)

	b.clock.Add(time.Hour)
	b.deliver(t, b.fake.QualityWebhook(cloudtest.QualityUpdate{Event: "FLAGGED", CurrentLimit: "TIER_1K", At: b.clock.Now()}))
	require.Equal(t, 1_000, capOf())
	a, err = b.accounts.Get(ctx, b.account.ID)
	require.NoError(t, err)
	require.NotNil(t, a.PausedAt)
	require.Contains(t, a.PausedReason, "FLAGGED")

	b.clock.Add(time.Hour)
	b.deliver(t, b.fake.QualityWebhook(cloudtest.QualityUpdate{Event: "UPGRADE", CurrentLimit: "TIER_UNLIMITED", At: b.clock.Now()}))
	require.Zero(t, capOf(), "no cap")
	b.deliver(t, b.fake.QualityWebhook(cloudtest.QualityUpdate{Event: "UPGRADE", CurrentLimit: "TIER_SOMETHING_NEW", At: b.clock.Now().Add(time.Second)}))
	require.Zero(t, capOf(), "an unknown tier changes nothing")
	require.Empty(t, b.events.take())
}

func TestWebhookAccountUpdatePauses(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	sibling := cloudtest.New(t, cloudtest.Options{PhoneNumberID: "1000000002"})
	siblingAccount := b.cloudAccount(t, "Sibling", sibling, sibling.Token())

	b.deliver(t, b.fake.AccountWebhook(cloudtest.AccountUpdate{Event: "DISABLED_UPDATE", BanState: "REINSTATE"}))
	a, err := b.accounts.Get(ctx, b.account.ID)
	require.NoError(t, err)
	require.Nil(t, a.PausedAt, "a reinstatement stops nothing")

	b.deliver(t, b.fake.AccountWebhook(cloudtest.AccountUpdate{Event: "ACCOUNT_RESTRICTION",
		Restrictions: []string{"RESTRICTED_BIZ_INITIATED_MESSAGING"}}))
	for _, id := range []int64{b.account.ID, siblingAccount.ID} {
		a, err := b.accounts.Get(ctx, id)
		require.NoError(t, err)
		require.NotNil(t, a.PausedAt, "every account of the business account")
		require.Contains(t, a.PausedReason, "RESTRICTED_BIZ_INITIATED_MESSAGING")
	}
}

// TestWebhookEventsSurviveACrash: a processing that dies after its database work and
// before it marks the items handled sends the events again next time; none is lost.
func TestWebhookEventsSurviveACrash(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	body := b.fake.InboundWebhook(cloudtest.Inbound{From: customer, WAMID: "wamid.crash", Text: "STOP"})
	id, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)

	crashing, cancel := context.WithCancel(ctx)
	dying := whatsappcloud.NewWebhooks(b.pool, b.accounts, whatsappcloud.WebhookOptions{Now: b.clock.Now,
		Events: func(ctx context.Context, e sender.Event) { b.events.add(ctx, e); cancel() }})
	require.Error(t, dying.Process(crashing, id))
	require.Len(t, b.events.take(), 1)

	b.clock.Add(2 * time.Minute)
	ids, err := b.hooks.Unprocessed(ctx, b.clock.Now().Add(-time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{id}, ids, "the sweep finds it")
	require.NoError(t, b.hooks.Process(ctx, id))
	events := b.events.take()
	require.Len(t, events, 1, "sent again")
	require.Equal(t, "wamid.crash", events[0].ProviderID)
	ids, err = b.hooks.Unprocessed(ctx, b.clock.Now(), 10)
	require.NoError(t, err)
	require.Empty(t, ids)
}

func TestWebhookUnprocessedAndPrune(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	body := b.fake.InboundWebhook(cloudtest.Inbound{From: customer, Text: "hello"})
	old, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)
	b.clock.Add(time.Minute)
	fresh, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)

	ids, err := b.hooks.Unprocessed(ctx, b.clock.Now().Add(-30*time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{old}, ids)
	ids, err = b.hooks.Unprocessed(ctx, b.clock.Now().Add(time.Second), 1)
	require.NoError(t, err)
	require.Equal(t, []int64{old}, ids, "oldest first, up to the limit")

	require.NoError(t, b.hooks.Process(ctx, old))
	require.NoError(t, b.hooks.Process(ctx, fresh))
	n, err := b.hooks.Prune(ctx, b.clock.Now())
	require.NoError(t, err)
	require.Zero(t, n, "nothing older than the cut-off")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM cloud_webhooks`))

	b.clock.Add(8 * 24 * time.Hour)
	unprocessed, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)
	n, err = b.hooks.Prune(ctx, b.clock.Now().Add(-7*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, int64(3), n, "two webhooks and one key")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM cloud_webhooks WHERE id = $1`, unprocessed))
	require.Zero(t, b.count(t, `SELECT count(*) FROM cloud_webhook_events`))
}

func TestWebhookUnreadableBodyIsSetAside(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	body := []byte(`{"object":"page","entry":[]}`)
	id, err := b.hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)
	require.NoError(t, b.hooks.Process(ctx, id))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM cloud_webhooks WHERE id = $1 AND processed_at IS NOT NULL
		AND error LIKE '%whatsapp_business_account%'`, id))
}
