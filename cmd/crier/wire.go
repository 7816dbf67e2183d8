package main

import (
	"context"
	"fmt"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
	"github.com/crierhq/crier/sender/whatsapp"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/templates"
	"github.com/crierhq/crier/webhooks"
	"github.com/crierhq/crier/workers"
)

// services are the domain services every long-running command shares, wired in one place
// so that the tests exercise exactly what production runs.
type services struct {
	contacts  *contacts.Service
	consent   *consent.Service
	templates *templates.Store
	engine    *templates.Engine
	keys      *auth.Keys
	users     *auth.Users
	audit     *audit.Log
	*transports
	accounts  *sender.Accounts
	limiter   *sender.Limiter
	privacy   *privacy.Service
	campaigns *campaigns.Service
	queue     *workers.Queue // Asynq: the API queues imports on it, the workers their tasks
	// webhooks are the outbound webhooks, which need CRIER_SECRET_KEY to seal their
	// secrets: nil without it (the API's routes answer 404, nothing is relayed).
	webhooks *outbound
}

// outbound are the outbound webhooks' parts: the endpoints (API), the relay (scheduler)
// and the deliverer (worker).
type outbound struct {
	service *webhooks.Service
	relay   *webhooks.Relay
	deliver *webhooks.Deliverer
}

// newOutbound builds the outbound webhooks over the process's queue, or nil without a
// secret key.
func newOutbound(a *app, queue *workers.Queue) (*outbound, error) {
	if len(a.cfg.SecretKey) == 0 {
		return nil, nil
	}
	box, err := secretbox.New(a.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	opts := webhooks.Options{AllowPrivate: a.cfg.WebhookAllowPrivate, Queue: queue}
	return &outbound{service: webhooks.New(a.pool, box, opts), relay: webhooks.NewRelay(a.pool, opts),
		deliver: webhooks.NewDeliverer(a.pool, box, opts)}, nil
}

func newServices(ctx context.Context, a *app) (*services, error) {
	if err := a.cfg.requireHashKey(); err != nil {
		return nil, err
	}
	hasher, err := phonehash.New(a.cfg.HashKey)
	if err != nil {
		return nil, err
	}
	s := &services{
		keys:  auth.NewKeys(a.pool),
		users: auth.NewUsers(a.pool),
		audit: audit.NewLog(a.pool),
		queue: workers.NewQueue(a.redis, a.logger).SpreadSends(a.cfg.SendQueues),
	}
	if s.engine, err = templates.New(templates.Options{}); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	s.templates = templates.NewStore(a.pool, s.engine)
	if s.accounts, err = a.accounts(); err != nil {
		return nil, err
	}
	if s.transports, err = newTransports(ctx, a, s.accounts, s.templates); err != nil {
		return nil, fmt.Errorf("whatsapp: %w", err)
	}
	s.limiter = sender.NewLimiter(a.redis, sender.LimiterOptions{})
	if s.webhooks, err = newOutbound(a, s.queue); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	// The launch's phone-zone backfill needs a contacts.Service without imports: s.contacts
	// comes after consent, which needs s.campaigns.
	s.campaigns = campaigns.New(a.pool, campaigns.Options{QuietHours: a.cfg.QuietHours, FrequencyCap: a.cfg.FrequencyCap,
		Templates: s.templates, Engine: s.engine, PhoneZones: contacts.New(a.pool, hasher, contacts.Options{}),
		LaunchParts: a.cfg.LaunchParts, Logger: a.logger})
	// A withdrawal or a suppression cancels the contact's queued deliveries at once.
	if s.consent, err = consent.New(a.pool, hasher, consent.Options{Brand: a.cfg.Brand, Logger: a.logger, Canceller: s.campaigns}); err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	// An import records its consent column in the ledger; the API queues it for a worker.
	s.contacts = contacts.New(a.pool, hasher, contacts.Options{ImportConsent: s.consent, ImportQueue: s.queue})
	// Every package that keeps personal data, in erasure order: the contact itself last.
	s.privacy = privacy.New(a.pool,
		[]privacy.Holder{
			s.consent.PrivacyHolder(),
			s.whatsapp.PrivacyHolder(),
			s.sandbox.PrivacyHolder(),
			s.campaigns.PrivacyHolder(),
			s.audit.PrivacyHolder(),
			s.contacts.PrivacyHolder(),
		},
		map[string]privacy.Purger{
			"inbound_messages": s.consent.InboundPurger(),
			"sandbox_messages": s.sandbox.Purger(),
			"deliveries":       s.campaigns.RenderedPurger(),
			"import_rejects":   s.contacts.ImportRejectsPurger(),
		})
	return s, nil
}

// webhookAPI is what the API serves /v1/webhooks with: nil (404) without outbound
// webhooks. (A nil *webhooks.Service in the interface would not be nil.)
func (s *services) webhookAPI() httpapi.Webhooks {
	if s.webhooks == nil {
		return nil
	}
	return s.webhooks.service
}

func (s *services) Close() {
	if s.queue != nil {
		_ = s.queue.Close()
	}
	if s.transports != nil {
		s.transports.Close()
	}
}

// transports are the channels' adapters. This is the one place that names them: a new
// channel is built in newTransports and registered in channels, and the rest of Crier
// reaches it through sender.Channels (the Manager, the API, `crier accounts pair`) and
// asks its sender.Capabilities instead of its name.
type transports struct {
	whatsapp  *whatsapp.Connector
	sandbox   *sandbox.Network
	cloud     *whatsappcloud.Connector
	cloudSync *whatsappcloud.TemplateSync
	channels  sender.Channels
}

// What the API finds in the adapters: WhatsApp's connector pairs, the sandbox keeps a log.
var (
	_ httpapi.Pairer  = (*whatsapp.Connector)(nil)
	_ httpapi.SentLog = (*sandbox.Network)(nil)
)

// newTransports builds every channel's Connector over the account store. With a template
// store, the Cloud API accounts' templates are synced into it while a worker holds the
// account, and on demand (cloudSync: POST /v1/accounts/{id}/templates/sync); a command
// that only creates or pairs accounts passes nil. Close them.
func newTransports(ctx context.Context, a *app, accounts *sender.Accounts, tpl *templates.Store) (*transports, error) {
	wa, err := whatsapp.New(ctx, a.pool, whatsapp.Options{Logger: a.logger})
	if err != nil {
		return nil, err
	}
	sb := sandbox.New(a.pool, sandbox.Options{})
	var sync *whatsappcloud.TemplateSync
	var syncFunc whatsappcloud.SyncFunc
	if tpl != nil {
		sync = whatsappcloud.NewTemplateSync(a.pool, accounts, accounts, tpl, whatsappcloud.SyncOptions{Logger: a.logger})
		syncFunc = func(ctx context.Context, id int64) error { _, err := sync.Sync(ctx, id); return err }
	}
	cloud := whatsappcloud.NewConnector(a.pool, accounts, whatsappcloud.ConnectorOptions{Logger: a.logger, SyncFunc: syncFunc})
	return &transports{whatsapp: wa, sandbox: sb, cloud: cloud, cloudSync: sync, channels: sender.Channels{
		sender.WhatsApp:      wa,
		sender.Sandbox:       sb,
		sender.WhatsAppCloud: cloud,
	}}, nil
}

// Close stops the sandbox's writer and disconnects WhatsApp's accounts.
func (t *transports) Close() {
	t.sandbox.Close()
	t.whatsapp.Close()
}
