package workers

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
)

var _ CloudWebhooks = (*whatsappcloud.Webhooks)(nil)

// TestCloudWebhookTask: a signed webhook the API recorded is queued as cloud:webhook with
// its row id alone, and the task turns a customer's STOP into an opt-out through the same
// keyword handling as every channel. A row whose task Redis lost is queued again by the
// reconciler; a week after it was processed, the retention run prunes it.
func TestCloudWebhookTask(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	granted, _ := b.people(1)
	box, err := secretbox.New(bytes.Repeat([]byte{5}, secretbox.KeySize))
	require.NoError(t, err)
	accounts := sender.NewAccountsWithSecrets(b.pool, box)
	fake := cloudtest.New(t, cloudtest.Options{})
	acct, err := accounts.Create(ctx, sender.AccountInput{Name: "Cloud", Channel: sender.WhatsAppCloud,
		Cloud: &sender.CloudConfig{PhoneNumberID: fake.PhoneNumberID(), WABAID: fake.WABAID(), GraphURL: fake.URL,
			AccessToken: fake.Token(), AppSecret: fake.AppSecret()}})
	require.NoError(t, err)

	// As `crier all` wires them: the API records and queues, the worker processes, and the
	// events go to the workers' handlers.
	queue := NewQueue(b.rdb, b.log)
	t.Cleanup(func() { _ = queue.Close() })
	var h *Handlers
	hooks := whatsappcloud.NewWebhooks(b.pool, accounts, whatsappcloud.WebhookOptions{Enqueue: queue.EnqueueCloudWebhook,
		Events: func(ctx context.Context, e sender.Event) { h.Events().OnEvent(ctx, e) }, Logger: b.log})
	h = New(Deps{Redis: b.rdb, Queue: queue, Sends: b.sends, Campaigns: b.campaigns, Consent: b.consent,
		Contacts: b.contacts, Accounts: accounts, CloudWebhooks: hooks, Logger: b.log}, b.opts)
	t.Cleanup(func() { _ = h.Close() })
	inspector := asynq.NewInspectorFromRedisClient(b.rdb)

	body := fake.InboundWebhook(cloudtest.Inbound{From: granted[0], WAMID: "wamid.stop", Text: "STOP"})
	id, err := hooks.Receive(ctx, acct.ID, body, fake.Sign(body))
	require.NoError(t, err)
	info, err := inspector.GetTaskInfo(QueueEvents, cloudWebhookTaskID(id))
	require.NoError(t, err)
	require.Equal(t, TypeCloudWebhook, info.Type)
	require.JSONEq(t, `{"webhook_id": `+strconv.FormatInt(id, 10)+`}`, string(info.Payload), "no number, no text in Redis")

	require.NoError(t, h.Mux().ProcessTask(ctx, NewCloudWebhookTask(id)))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM cloud_webhooks WHERE id = $1 AND processed_at IS NOT NULL AND body IS NULL`, id))
	var inboundID int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT id FROM inbound_messages WHERE provider_id = 'wamid.stop' AND account_id = $1`,
		acct.ID).Scan(&inboundID))
	require.NoError(t, h.Mux().ProcessTask(ctx, NewInboundTask(inboundID, time.Now())))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM inbound_messages WHERE id = $1 AND class = 'opt_out'`, inboundID))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM consent_state WHERE status = 'withdrawn'`))

	// Meta's retry of the same delivery changes nothing.
	again, err := hooks.Receive(ctx, acct.ID, body, fake.Sign(body))
	require.NoError(t, err)
	require.NoError(t, h.Mux().ProcessTask(ctx, NewCloudWebhookTask(again)))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM inbound_messages`))

	// Redis loses the task of a recorded webhook: the reconciler queues it again.
	body = fake.InboundWebhook(cloudtest.Inbound{From: granted[0], WAMID: "wamid.later", Text: "hello"})
	lost, err := hooks.Receive(ctx, acct.ID, body, fake.Sign(body))
	require.NoError(t, err)
	require.NoError(t, b.rdb.FlushDB(ctx).Err())
	require.NoError(t, h.Mux().ProcessTask(ctx, NewReconcileTask()))
	n, err := b.rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Zero(t, n, "not a minute old yet: nothing queued")
	_, err = b.pool.Exec(ctx, `UPDATE cloud_webhooks SET received_at = received_at - interval '2 minutes' WHERE id = $1`, lost)
	require.NoError(t, err)
	require.NoError(t, h.Mux().ProcessTask(ctx, NewReconcileTask()))
	// A new client: the queue's own remembers having published the flushed queue's name.
	client := asynq.NewClientFromRedisClient(b.rdb)
	_, err = client.EnqueueContext(ctx, NewCloudWebhookTask(lost))
	require.ErrorIs(t, err, asynq.ErrTaskIDConflict, "queued again")
	require.NoError(t, h.Mux().ProcessTask(ctx, NewCloudWebhookTask(lost)))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM inbound_messages WHERE provider_id = 'wamid.later'`))

	// A week after processing, the rows go.
	_, err = b.pool.Exec(ctx, `UPDATE cloud_webhooks SET processed_at = processed_at - interval '8 days' WHERE id = $1`, id)
	require.NoError(t, err)
	require.NoError(t, h.Mux().ProcessTask(ctx, NewRetentionTask()))
	require.Zero(t, b.count(`SELECT count(*) FROM cloud_webhooks WHERE id = $1`, id))
	require.Equal(t, 2, b.count(`SELECT count(*) FROM cloud_webhooks`))
	require.False(t, strings.Contains(string(info.Payload), strings.TrimPrefix(granted[0], "+")))
}

// TestWithoutCloudWebhooks: a process without them has no cloud:webhook handler and its
// maintenance runs as before.
func TestWithoutCloudWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	h := New(Deps{Redis: b.rdb, Sends: b.sends, Logger: b.log}, b.opts)
	t.Cleanup(func() { _ = h.Close() })
	ctx := context.Background()
	require.Error(t, h.Mux().ProcessTask(ctx, NewCloudWebhookTask(1)), "no handler")
	require.NoError(t, h.Mux().ProcessTask(ctx, NewReconcileTask()))
	require.NoError(t, h.Mux().ProcessTask(ctx, NewRetentionTask()))
}
