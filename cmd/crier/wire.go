package main

import (
	"context"
	"fmt"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
	"github.com/crierhq/crier/sender/whatsapp"
	"github.com/crierhq/crier/templates"
)

// services are the domain services every long-running command shares, wired in one place
// so that the tests exercise exactly what production runs.
type services struct {
	contacts  *contacts.Service
	consent   *consent.Service
	templates *templates.Store
	engine    *templates.Engine
	keys      *auth.Keys
	audit     *audit.Log
	whatsapp  *whatsapp.Connector
	accounts  *sender.Accounts
	limiter   *sender.Limiter
	sandbox   *sandbox.Network
	privacy   *privacy.Service
	campaigns *campaigns.Service
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
		contacts: contacts.NewService(a.pool, hasher),
		keys:     auth.NewKeys(a.pool),
		audit:    audit.NewLog(a.pool),
	}
	if s.engine, err = templates.New(templates.Options{}); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	s.templates = templates.NewStore(a.pool, s.engine)
	if s.whatsapp, err = whatsapp.New(ctx, a.pool, whatsapp.Options{Logger: a.logger}); err != nil {
		return nil, fmt.Errorf("whatsapp: %w", err)
	}
	s.accounts = sender.NewAccounts(a.pool)
	s.limiter = sender.NewLimiter(a.redis, sender.LimiterOptions{})
	s.sandbox = sandbox.New(a.pool, sandbox.Options{})
	s.campaigns = campaigns.New(a.pool, campaigns.Options{QuietHours: a.cfg.QuietHours, FrequencyCap: a.cfg.FrequencyCap,
		Templates: s.templates, Engine: s.engine, Logger: a.logger})
	// A withdrawal or a suppression cancels the contact's queued deliveries at once.
	if s.consent, err = consent.New(a.pool, hasher, consent.Options{Brand: a.cfg.Brand, Logger: a.logger, Canceller: s.campaigns}); err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	s.contacts.ImportConsent = s.consent
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

func (s *services) Close() {
	if s.sandbox != nil {
		s.sandbox.Close()
	}
	if s.whatsapp != nil {
		s.whatsapp.Close()
	}
}
