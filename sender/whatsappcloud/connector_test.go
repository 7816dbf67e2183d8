package whatsappcloud_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
)

// clock is a settable time for the transport's pair gap, back-offs and confirm window.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eventLog keeps the events a connection or the webhooks report.
type eventLog struct {
	mu     sync.Mutex
	events []sender.Event
}

func (l *eventLog) add(_ context.Context, e sender.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// take returns the events so far and forgets them.
func (l *eventLog) take() []sender.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// cloudBundle is a database, an account store with secrets, a fake Graph API and a
// cloud account on it.
type cloudBundle struct {
	pool     *pgxpool.Pool
	accounts *sender.Accounts
	fake     *cloudtest.Server
	account  sender.Account
	clock    *clock
	events   *eventLog
}

func setupCloud(t *testing.T, opts cloudtest.Options) *cloudBundle {
	t.Helper()
	pool := testdb.New(t)
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	require.NoError(t, err)
	b := &cloudBundle{pool: pool, accounts: sender.NewAccountsWithSecrets(pool, box), fake: cloudtest.New(t, opts),
		clock: &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}, events: &eventLog{}}
	b.account = b.cloudAccount(t, "Cloud", b.fake, b.fake.Token())
	return b
}

// cloudAccount creates an account of the fake's number with token.
func (b *cloudBundle) cloudAccount(t *testing.T, name string, fake *cloudtest.Server, token string) sender.Account {
	t.Helper()
	a, err := b.accounts.Create(context.Background(), sender.AccountInput{Name: name, Channel: sender.WhatsAppCloud,
		Cloud: &sender.CloudConfig{PhoneNumberID: fake.PhoneNumberID(), WABAID: fake.WABAID(), GraphURL: fake.URL,
			VerifyToken: "hook-token-" + name, AccessToken: token, AppSecret: fake.AppSecret()}})
	require.NoError(t, err)
	return a
}

func (b *cloudBundle) connector(opts whatsappcloud.ConnectorOptions) *whatsappcloud.Connector {
	opts.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	opts.Now = b.clock.Now
	return whatsappcloud.NewConnector(b.pool, b.accounts, opts)
}

func (b *cloudBundle) connect(t *testing.T, opts whatsappcloud.ConnectorOptions) sender.Transport {
	t.Helper()
	tr, err := b.connector(opts).Connect(context.Background(), b.account, b.events.add)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func (b *cloudBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func TestConnectorCapabilities(t *testing.T) {
	t.Parallel()
	c := whatsappcloud.NewConnector(nil, nil, whatsappcloud.ConnectorOptions{})
	require.Equal(t, sender.Capabilities{Receipts: true, Inbound: true, TemplatesOutsideWindow: true, Media: true}, c.Capabilities())
}

func TestConnectChecksTheToken(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	ctx := context.Background()
	c := b.connector(whatsappcloud.ConnectorOptions{})

	tr, err := c.Connect(ctx, b.account, b.events.add)
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "twice is harmless")

	const expired = "EAAGexpired-token-value"
	other := cloudtest.New(t, cloudtest.Options{PhoneNumberID: "1000000009"})
	bad := b.cloudAccount(t, "Expired", other, expired)
	_, err = c.Connect(ctx, bad, b.events.add)
	require.ErrorIs(t, err, sender.ErrAccount)
	require.ErrorContains(t, err, "the access token expired or was revoked (190)")
	require.NotContains(t, err.Error(), expired)

	// Meta is not asked again at once: the Manager retries every few seconds.
	requests := other.Requests()
	_, again := c.Connect(ctx, bad, b.events.add)
	require.Equal(t, err, again)
	require.Equal(t, requests, other.Requests())
	b.clock.Add(time.Minute)
	_, err = c.Connect(ctx, bad, b.events.add)
	require.ErrorIs(t, err, sender.ErrAccount)
	require.Equal(t, requests+1, other.Requests(), "asked again a minute later")
}

func TestCheckCredentials(t *testing.T) {
	t.Parallel()
	fake := cloudtest.New(t, cloudtest.Options{})
	c := whatsappcloud.NewConnector(nil, nil, whatsappcloud.ConnectorOptions{HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	ctx := context.Background()
	input := func(phoneID, token string) sender.AccountInput {
		return sender.AccountInput{Name: "x", Channel: sender.WhatsAppCloud, Cloud: &sender.CloudConfig{
			PhoneNumberID: phoneID, WABAID: fake.WABAID(), GraphURL: fake.URL, APIVersion: "v21.0",
			AccessToken: token, AppSecret: "s"}}
	}

	require.NoError(t, c.CheckCredentials(ctx, input(fake.PhoneNumberID(), fake.Token())))

	const wrong = "EAAGwrong-token-value"
	err := c.CheckCredentials(ctx, input(fake.PhoneNumberID(), wrong))
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	fields := apperr.FieldsOf(err)
	require.Len(t, fields, 1)
	require.Equal(t, "cloud.access_token", fields[0].Field)
	require.Contains(t, fields[0].Message, "(190)")
	require.NotContains(t, err.Error(), wrong)

	err = c.CheckCredentials(ctx, input("1999999999", fake.Token()))
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	require.Equal(t, "cloud.phone_number_id", apperr.FieldsOf(err)[0].Field)
	require.Contains(t, apperr.FieldsOf(err)[0].Message, "no phone number with this ID")

	err = c.CheckCredentials(ctx, sender.AccountInput{Channel: sender.WhatsAppCloud})
	require.Equal(t, "cloud", apperr.FieldsOf(err)[0].Field)

	fake.Close()
	err = c.CheckCredentials(ctx, input(fake.PhoneNumberID(), fake.Token()))
	require.Equal(t, apperr.Unavailable, apperr.CodeOf(err))
	require.NotContains(t, err.Error(), fake.Token())
}

func TestSendTemplateTextAndCampaign(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	tr := b.connect(t, whatsappcloud.ConnectorOptions{})
	ctx := context.Background()

	res, err := tr.Send(ctx, sender.Message{ID: "3EB00000000000000001", To: customer, Text: "Hi Ada, 20% off", Campaign: true,
		Template: &sender.TemplateMessage{Name: "spring_sale", Language: "en_US", Params: []string{"Ada", "20%"},
			Header: &sender.Media{Kind: "image", Link: "https://cdn.example.com/sale.jpg"}}})
	require.NoError(t, err)
	sent := b.fake.Sent()
	require.Len(t, sent, 1)
	require.Equal(t, sent[0].WAMID, res.ProviderID)
	require.Equal(t, b.clock.Now(), res.SentAt)
	require.Equal(t, "template", sent[0].Type)
	require.Equal(t, "3EB00000000000000001", sent[0].CallbackData, "Meta echoes the message id in its status webhooks")
	require.Contains(t, string(sent[0].Body), `"link":"https://cdn.example.com/sale.jpg"`)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM cloud_messages WHERE message_id = '3EB00000000000000001'
		AND account_id = $1 AND wamid = $2 AND accepted_at IS NOT NULL`, b.account.ID, res.ProviderID))

	// A reply inside the window is free text.
	_, err = tr.Send(ctx, sender.Message{ID: "3EB00000000000000002", To: "+4915112345679", Text: "You won't get more messages."})
	require.NoError(t, err)
	require.Equal(t, "text", b.fake.Sent()[1].Type)

	// A campaign message without a template can never go.
	_, err = tr.Send(ctx, sender.Message{ID: "3EB00000000000000003", To: "+4915112345670", Text: "Sale!", Campaign: true})
	require.ErrorIs(t, err, sender.ErrPermanent)
	require.ErrorIs(t, err, whatsappcloud.ErrCampaignWithoutTemplate)
	require.Len(t, b.fake.Sent(), 2)
	require.Zero(t, b.count(t, `SELECT count(*) FROM cloud_messages WHERE message_id = '3EB00000000000000003'`))

	_, err = tr.Send(ctx, sender.Message{To: customer, Text: "no id"})
	require.ErrorIs(t, err, sender.ErrPermanent)
}

// TestRetryNeverSendsTwice: a retry of an accepted message returns its wamid; a retry of
// an attempt whose answer was lost waits for the status webhook, which confirms it, and
// never sends a second message.
func TestRetryNeverSendsTwice(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	tr := b.connect(t, whatsappcloud.ConnectorOptions{})
	ctx := context.Background()
	m := sender.Message{ID: "3EB0000000000000000A", To: customer, Text: "hello"}

	first, err := tr.Send(ctx, m)
	require.NoError(t, err)
	b.clock.Add(time.Hour) // past the pair gap and the confirm window: only the record decides
	again, err := tr.Send(ctx, m)
	require.NoError(t, err)
	require.Equal(t, first.ProviderID, again.ProviderID)
	require.Equal(t, first.SentAt, again.SentAt)
	require.Len(t, b.fake.Sent(), 1)

	// Meta accepts, and the answer is lost (a timeout, a crash before the record).
	lost := sender.Message{ID: "3EB0000000000000000B", To: "+4915112345679", Text: "hello"}
	b.fake.LoseNextAnswers(1)
	_, err = tr.Send(ctx, lost)
	require.Error(t, err)
	require.NotErrorIs(t, err, sender.ErrPermanent, "retried")
	require.NotContains(t, err.Error(), "4915112345679")
	require.Len(t, b.fake.Sent(), 2, "Meta has it")

	b.clock.Add(30 * time.Second) // past the pair gap, inside the confirm window
	_, err = tr.Send(ctx, lost)
	require.ErrorIs(t, err, sender.ErrThrottled)
	require.ErrorIs(t, err, whatsappcloud.ErrUnconfirmed)
	d, ok := sender.ThrottledFor(err)
	require.True(t, ok)
	require.Equal(t, 90*time.Second, d, "the rest of the confirm window")
	require.Len(t, b.fake.Sent(), 2)

	// The sent status names the attempt by its callback data.
	hooks := whatsappcloud.NewWebhooks(b.pool, b.accounts, whatsappcloud.WebhookOptions{Now: b.clock.Now, Events: b.events.add})
	body := b.fake.StatusWebhook(cloudtest.StatusOf(b.fake.Sent()[1], "sent"))
	id, err := hooks.Receive(ctx, b.account.ID, body, b.fake.Sign(body))
	require.NoError(t, err)
	require.NoError(t, hooks.Process(ctx, id))
	require.Empty(t, b.events.take(), "a sent status is no receipt")

	res, err := tr.Send(ctx, lost)
	require.NoError(t, err)
	require.Equal(t, b.fake.Sent()[1].WAMID, res.ProviderID)
	b.clock.Add(time.Hour)
	_, err = tr.Send(ctx, lost)
	require.NoError(t, err)
	require.Len(t, b.fake.Sent(), 2, "never a second message")
}

// TestUnconfirmedAttemptSendsAfterTheWindow: an attempt whose answer was lost and that no
// status webhook confirmed within the window was not accepted, and the retry sends.
func TestUnconfirmedAttemptSendsAfterTheWindow(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	tr := b.connect(t, whatsappcloud.ConnectorOptions{ConfirmWindow: time.Minute})
	ctx := context.Background()
	m := sender.Message{ID: "3EB0000000000000000C", To: customer, Text: "hello"}

	b.fake.FailNext(1, cloudtest.Failure{HTTPStatus: http.StatusBadGateway, Raw: "<html>Bad Gateway</html>"})
	_, err := tr.Send(ctx, m)
	require.Error(t, err)
	require.NotErrorIs(t, err, sender.ErrPermanent)
	b.clock.Add(59 * time.Second)
	_, err = tr.Send(ctx, m)
	require.ErrorIs(t, err, whatsappcloud.ErrUnconfirmed, "a 502 may hide an accepted message")
	b.clock.Add(time.Second)
	_, err = tr.Send(ctx, m)
	require.NoError(t, err)
	require.Len(t, b.fake.Sent(), 1)
}

// TestRefusedAttemptRetriesAtOnce: Meta's refusal (a 4xx) is a definite answer, so the
// retry does not wait for a status webhook.
func TestRefusedAttemptRetriesAtOnce(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	tr := b.connect(t, whatsappcloud.ConnectorOptions{})
	ctx := context.Background()
	m := sender.Message{ID: "3EB0000000000000000D", To: customer, Text: "hello"}

	b.fake.FailNext(1, cloudtest.Failure{Code: 130429, Message: "(#130429) Rate limit hit"})
	_, err := tr.Send(ctx, m)
	d, ok := sender.ThrottledFor(err)
	require.True(t, ok)
	b.clock.Add(d)
	_, err = tr.Send(ctx, m)
	require.NoError(t, err)
	require.Len(t, b.fake.Sent(), 1)
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	tr := b.connect(t, whatsappcloud.ConnectorOptions{})
	ctx := context.Background()
	tpl := &sender.TemplateMessage{Name: "spring_sale", Language: "en_US"}
	send := func(id, to string) error {
		b.clock.Add(time.Minute)
		_, err := tr.Send(ctx, sender.Message{ID: id, To: to, Text: "x", Campaign: true, Template: tpl})
		return err
	}

	// 131050: the customer stopped marketing messages; recorded as their opt-out.
	const optOut = "This recipient has chosen to stop receiving marketing messages on WhatsApp from your business"
	b.fake.FailNext(1, cloudtest.Failure{Code: 131050, Details: optOut})
	err := send("3EB00000000000000010", customer)
	require.ErrorIs(t, err, sender.ErrPermanent)
	require.ErrorIs(t, err, whatsappcloud.ErrMarketingOptOut)
	require.Equal(t, []sender.Event{{Kind: sender.EventOptOut, AccountID: b.account.ID, At: b.clock.Now(), From: customer,
		Network: "whatsapp", Error: optOut}}, b.events.take())

	// 132xxx: the template; the campaign stops at the first.
	b.fake.FailNext(1, cloudtest.Failure{Code: 132001, Details: "template name does not exist in the translation"})
	err = send("3EB00000000000000011", customer)
	require.ErrorIs(t, err, sender.ErrTemplateRefused)
	require.ErrorIs(t, err, sender.ErrPermanent)

	// 5xx: transient.
	b.fake.FailNext(1, cloudtest.Failure{HTTPStatus: 500, Code: 131000})
	err = send("3EB00000000000000012", customer)
	require.Error(t, err)
	for _, kind := range []error{sender.ErrPermanent, sender.ErrAccount, sender.ErrThrottled} {
		require.NotErrorIs(t, err, kind)
	}

	// 190 and 368: the account; the Manager pauses it with this reason.
	b.fake.FailNext(1, cloudtest.Failure{HTTPStatus: 401, Code: 190, Message: "Error validating access token: Session has expired"})
	err = send("3EB00000000000000013", customer)
	require.ErrorIs(t, err, sender.ErrAccount)
	require.ErrorContains(t, err, "the access token expired or was revoked (190)")
	b.fake.FailNext(1, cloudtest.Failure{HTTPStatus: 403, Code: 368})
	err = send("3EB00000000000000014", customer)
	require.ErrorIs(t, err, sender.ErrAccount)
	require.ErrorContains(t, err, "policy violations (368)")
	require.NotContains(t, err.Error(), b.fake.Token())
	require.NotContains(t, err.Error(), "4915112345678")
	require.Empty(t, b.fake.Sent())
	require.Empty(t, b.events.take())
}

func TestThrottles(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	tr := b.connect(t, whatsappcloud.ConnectorOptions{PairGap: 6 * time.Second})
	ctx := context.Background()
	var seq atomic.Int64
	send := func(to string) error {
		_, err := tr.Send(ctx, sender.Message{ID: "3EB0" + string(rune('A'+seq.Add(1))) + "000000000000000", To: to, Text: "hi"})
		return err
	}
	const other = "+4915112345679"

	// The pair rate limit: one message to a recipient every PairGap.
	require.NoError(t, send(customer))
	err := send(customer)
	require.ErrorIs(t, err, whatsappcloud.ErrPairGap)
	d, _ := sender.ThrottledFor(err)
	require.Equal(t, 6*time.Second, d)
	require.NoError(t, send(other), "another recipient goes at once")
	b.clock.Add(6 * time.Second)
	require.NoError(t, send(customer))

	// Meta's pair rate limit (131056) holds back that recipient only.
	b.clock.Add(time.Minute)
	b.fake.FailNext(1, cloudtest.Failure{Code: 131056})
	err = send(customer)
	require.ErrorIs(t, err, sender.ErrThrottled)
	d, _ = sender.ThrottledFor(err)
	require.Equal(t, time.Minute, d)
	require.NoError(t, send(other))
	b.clock.Add(30 * time.Second)
	require.ErrorIs(t, send(customer), sender.ErrThrottled)

	// The account's throughput (130429): every send backs off, without asking Meta.
	b.clock.Add(time.Minute)
	b.fake.FailNext(1, cloudtest.Failure{Code: 130429})
	err = send(customer)
	require.ErrorIs(t, err, sender.ErrThrottled)
	d, _ = sender.ThrottledFor(err)
	requests := b.fake.Requests()
	err = send(other)
	require.ErrorIs(t, err, whatsappcloud.ErrBackingOff)
	require.Equal(t, requests, b.fake.Requests())
	b.clock.Add(d)
	require.NoError(t, send(other))
	require.Len(t, b.fake.Sent(), 5)
}

func TestSyncRunsWhileConnected(t *testing.T) {
	t.Parallel()
	b := setupCloud(t, cloudtest.Options{})
	var calls atomic.Int64
	sync := func(_ context.Context, id int64) error {
		if id != b.account.ID {
			return errors.New("wrong account")
		}
		calls.Add(1)
		return nil
	}
	tr := b.connect(t, whatsappcloud.ConnectorOptions{SyncFunc: sync, SyncEvery: 5 * time.Millisecond})
	require.Eventually(t, func() bool { return calls.Load() >= 3 }, 5*time.Second, time.Millisecond,
		"once at once, then every SyncEvery")
	require.NoError(t, tr.Close())
	n := calls.Load()
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, n, calls.Load(), "Close stops it")
}
