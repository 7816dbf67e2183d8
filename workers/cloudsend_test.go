package workers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// scripted is the sandbox network with a script of failures: each send is recorded, and
// the next scripted error, if any, is returned instead of sending.
type scripted struct {
	sender.Connector
	mu   sync.Mutex
	errs []error
	sent []sender.Message
}

func (s *scripted) Connect(ctx context.Context, a sender.Account, events sender.EventFunc) (sender.Transport, error) {
	t, err := s.Connector.Connect(ctx, a, events)
	if err != nil {
		return nil, err
	}
	return &scriptedTransport{Transport: t, script: s}, nil
}

func (s *scripted) messages() []sender.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sender.Message(nil), s.sent...)
}

type scriptedTransport struct {
	sender.Transport
	script *scripted
}

func (t *scriptedTransport) Send(ctx context.Context, m sender.Message) (sender.SendResult, error) {
	s := t.script
	s.mu.Lock()
	s.sent = append(s.sent, m)
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return sender.SendResult{}, err
	}
	return t.Transport.Send(ctx, m)
}

// startScriptedWorker starts a worker like startWorker(true), whose sandbox accounts send
// through the script.
func (b *bundle) startScriptedWorker(s *scripted) *worker {
	w := &worker{done: make(chan error, 1)}
	s.Connector = b.network
	mgr, err := sender.NewManager(b.rdb, b.accounts, map[sender.Channel]sender.Connector{sender.Sandbox: s},
		func(ctx context.Context, e sender.Event) { w.h.Events().OnEvent(ctx, e) },
		sender.ManagerOptions{Logger: b.log, Refresh: 200 * time.Millisecond, Leases: sender.LeaseManagerOptions{TTL: 3 * time.Second}})
	require.NoError(b.t, err)
	w.h = New(Deps{Redis: b.rdb, Sends: b.sends, Campaigns: b.campaigns, Consent: b.consent, Contacts: b.contacts,
		Templates: b.templates, Engine: b.engine, Limiter: b.limiter, Accounts: b.accounts, Metrics: NewMetrics(),
		Logger: b.log, Manager: mgr}, b.opts)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.h.RunWorker(ctx, 2*time.Second) }()
	b.t.Cleanup(w.stop)
	return w
}

// cloudCampaign schedules a campaign whose English locale is bound to Meta's spring_sale,
// its second parameter mapped to param2.
func (b *bundle) cloudCampaign(accounts []int64, param2 string) int64 {
	ctx := context.Background()
	tpl, err := b.templates.Create(ctx, templates.Template{Name: "spring_sale", Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Cloud: &templates.CloudTemplate{Name: "spring_sale", Language: "en_US",
			Body: "Hi {{1}}, {{2}} off!", OptOutButton: "Stop promotions", HeaderFormat: templates.CloudHeaderImage,
			HeaderLink: "https://cdn.example.com/spring.jpg", Params: []string{"{{ first_name }}", param2}}}}})
	require.NoError(b.t, err)
	name, rot := "20%", sender.RoundRobin
	c, err := b.campaigns.Create(ctx, campaigns.Input{Name: &name, TemplateID: &tpl.ID, AccountIDs: accounts,
		Audience: &campaigns.Audience{TagsAny: []string{"vip"}}, Rotation: &rot,
		QuietHours: &schedule.QuietHours{Start: "00:00", End: "00:00"}}, "test")
	require.NoError(b.t, err)
	require.NoError(b.t, b.campaigns.Schedule(ctx, c.ID))
	return c.ID
}

// launch queues the due campaign's launch.
func (b *bundle) launchDue(w *worker) {
	sched := NewScheduler(w.h, SchedulerOptions{})
	waitFor(b.t, 30*time.Second, "the campaign's launch to be queued", func() bool {
		n, err := sched.ScheduleDue(context.Background())
		require.NoError(b.t, err)
		return n == 1
	})
}

func TestCloudTemplateIsSent(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{NoAccountDelay: time.Second})
	b.people(1)
	acct := b.sandboxAccount("A", 600)
	id := b.cloudCampaign([]int64{acct}, "{{ campaign.name }}")
	s := &scripted{}
	w := b.startScriptedWorker(s)
	b.launchDue(w)
	waitFor(t, 30*time.Second, "the message is sent", func() bool {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, id) == 1
	})
	msgs := s.messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.True(t, m.Campaign, "a campaign's message is marked so")
	require.Equal(t, &sender.TemplateMessage{Name: "spring_sale", Language: "en_US", Params: []string{"Person", "20%"},
		Header: &sender.Media{Kind: "image", Link: "https://cdn.example.com/spring.jpg"}}, m.Template)
	require.Equal(t, "Hi Person, 20% off!\n\n[Stop promotions]", m.Text, "the text is what Meta shows")
	require.Equal(t, 1, b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND rendered = $2`, id, m.Text),
		"and it is stored with the delivery")
}

func TestThrottledSendWaitsWithoutFailing(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{NoAccountDelay: time.Second})
	b.people(1)
	acct := b.sandboxAccount("A", 600)
	id := b.campaign([]int64{acct}, "Hello {{ first_name }}")
	throttled := sender.Throttle(errors.New("whatsappcloud: rate limited by Meta (130429)"), time.Second)
	// More throttles than the task has retries: none of them may count as one.
	s := &scripted{errs: []error{throttled, throttled, throttled, throttled}}
	w := b.startScriptedWorker(s)
	b.launchDue(w)
	// Four delays of a second each; as failures, Asynq's backoff would take 30 s or more.
	waitFor(t, 20*time.Second, "the message is sent after the network's delays", func() bool {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, id) == 1
	})
	msgs := s.messages()
	require.Len(t, msgs, 5)
	for _, m := range msgs {
		require.Equal(t, msgs[0].ID, m.ID, "the same message each time")
		require.True(t, m.Campaign)
		require.Nil(t, m.Template, "a locale without a Cloud API binding sends text")
	}
	require.Equal(t, 1, b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND account_id = $2 AND error IS NULL`, id, acct))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM campaigns WHERE id = $1 AND status = 'running'`, id))
}

func TestRefusedTemplatePausesTheCampaign(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{NoAccountDelay: time.Second})
	b.people(1)
	acct := b.sandboxAccount("A", 600)
	id := b.cloudCampaign([]int64{acct}, "{{ campaign.name }}")
	refused := sender.Permanent(sender.Mark(errors.New(`whatsappcloud: send template: (#132001) Template name does not exist in the translation`), sender.ErrTemplateRefused))
	s := &scripted{errs: []error{refused}}
	w := b.startScriptedWorker(s)
	b.launchDue(w)
	waitFor(t, 30*time.Second, "the campaign pauses", func() bool {
		return b.count(`SELECT count(*) FROM campaigns WHERE id = $1 AND status = 'paused'`, id) == 1
	})
	var reason string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT status_reason FROM campaigns WHERE id = $1`, id).Scan(&reason))
	require.Equal(t, "the network refused the template: "+refused.Error(), reason)
	require.Equal(t, 1, b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'failed' AND error = $2`, id, refused.Error()),
		"the message failed, as any permanent failure does")
	require.Len(t, s.messages(), 1)
}

func TestCloudParameterWithoutValueFailsTheDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{NoAccountDelay: time.Second})
	b.people(1)
	acct := b.sandboxAccount("A", 600)
	id := b.cloudCampaign([]int64{acct}, "{{ attributes.discount }}")
	s := &scripted{}
	w := b.startScriptedWorker(s)
	b.launchDue(w)
	waitFor(t, 30*time.Second, "the delivery fails", func() bool {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'failed'`, id) == 1
	})
	var reason string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT error FROM deliveries WHERE campaign_id = $1`, id).Scan(&reason))
	require.Contains(t, reason, "parameter {{2}}")
	require.Contains(t, reason, "is empty for this contact")
	require.Empty(t, s.messages(), "Meta would refuse an empty parameter: nothing is sent")
}
