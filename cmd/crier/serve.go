package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/migrations"
)

func cmdServe(ctx context.Context, a *app, args []string, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: serve takes no arguments", errUsage)
	}
	ln, err := listenAPI(a)
	if err != nil {
		return err
	}
	return serve(ctx, a, ln)
}

// listenAPI checks what the API needs before it listens on CRIER_HTTP_ADDR.
func listenAPI(a *app) (net.Listener, error) {
	if err := a.cfg.requireHashKey(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (CRIER_HTTP_ADDR): %w", a.cfg.HTTPAddr, err)
	}
	return ln, nil
}

// checkMigrated refuses to start against a database that lacks migrations: running old
// queries on a new schema (or the reverse) fails in ways far harder to read.
func checkMigrated(ctx context.Context, a *app) error {
	db := stdlib.OpenDBFromPool(a.pool)
	defer db.Close()
	pending, err := migrations.Pending(ctx, db)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("the database is not migrated: run `crier migrate` first")
	}
	return nil
}

// serve runs the API on ln until ctx ends, then drains requests in flight for up to
// CRIER_SHUTDOWN_TIMEOUT.
func serve(ctx context.Context, a *app, ln net.Listener) error {
	return runRoles(ctx, a, ln, roles{api: true})
}

// runAPI serves the API over svc and pipe (see serve); runRoles closes ln.
func runAPI(ctx context.Context, a *app, ln net.Listener, svc *services, pipe *pipeline) error {
	dashboard, err := monitoring(a)
	if err != nil {
		return err
	}
	defer dashboard.Close()
	if n, err := svc.contacts.BackfillPhoneHashes(ctx); err != nil {
		return err
	} else if n > 0 {
		a.logger.Info("backfilled phone hashes", "contacts", n)
	}
	api := httpapi.New(httpapi.Deps{
		Contacts:  svc.contacts,
		Consent:   svc.consent,
		Privacy:   svc.privacy,
		Templates: svc.templates,
		Engine:    svc.engine,
		Keys:      svc.keys,
		Users:     svc.users,
		Audit:     svc.audit,
		Logger:    a.logger,
		Accounts:  svc.accounts,
		Campaigns: svc.campaigns,
		Limiter:   svc.limiter,
		Channels:  svc.channels,
		Sandbox:   svc.sandbox,
		// Stored, then handled by a worker (event:inbound), like a transport's message.
		Inbound:        pipe.handlers.Events().Inbound,
		CloudWebhooks:  pipe.cloudWebhooks,
		CloudTemplates: svc.cloudSync,
		Webhooks:       svc.webhookAPI(),
		Monitoring:     dashboard,
		Metrics:        pipe.metricsHandler(),
		Ready: map[string]func(context.Context) error{
			"postgres": a.pool.Ping,
			"redis":    func(ctx context.Context) error { return a.redis.Ping(ctx).Err() },
		},
		Redis: a.redis, // the throttles
	}, httpapi.Options{MaxBodyBytes: a.cfg.MaxBodyBytes, MaxImportBytes: a.cfg.MaxImportBytes,
		SandboxOff: a.cfg.SandboxOff, AuthFailuresPerMinute: a.cfg.AuthFailures, RequestsPerSecond: a.cfg.APIRate,
		TrustedProxies: a.cfg.TrustedProxies, PublicURL: a.cfg.PublicURL})

	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		// Long enough for ordinary bodies; the import route lifts both for its request.
		ReadTimeout:  time.Minute,
		WriteTimeout: time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.logger.Info("API listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.logger.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.logger.Info("stopped")
	return nil
}
