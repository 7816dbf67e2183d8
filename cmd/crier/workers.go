package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/workers"
)

// pipeline is the send pipeline's side of the services: the task handlers and, in a
// process that sends, the account connections.
type pipeline struct {
	campaigns *campaigns.Service
	handlers  *workers.Handlers
	metrics   *workers.Metrics
	manager   *sender.Manager // nil unless the process holds account connections
	// cloudWebhooks take the Cloud API's webhooks: the API records and queues them, a
	// worker processes them into its events.
	cloudWebhooks *whatsappcloud.Webhooks
	registry      *prometheus.Registry
}

// newPipeline wires the workers over svc. With holdAccounts the process takes leases on the
// accounts and connects them (a worker); otherwise it only enqueues (the API, the scheduler).
func newPipeline(a *app, svc *services, holdAccounts bool) (*pipeline, error) {
	metrics := workers.NewMetrics()
	p := &pipeline{campaigns: svc.campaigns, metrics: metrics, registry: prometheus.NewRegistry()}
	sends := delivery.New(a.pool, delivery.Options{FrequencyCap: a.cfg.FrequencyCap})
	deps := workers.Deps{
		Redis:     a.redis,
		Queue:     svc.queue,
		Sends:     sends,
		Campaigns: svc.campaigns,
		Consent:   svc.consent,
		Contacts:  svc.contacts,
		Templates: svc.templates,
		Engine:    svc.engine,
		Limiter:   svc.limiter,
		Accounts:  svc.accounts,
		Privacy:   svc.privacy,
		Metrics:   metrics,
		Logger:    a.logger,
	}
	opts := workers.Options{
		TTL:          a.cfg.SendTTL,
		Horizon:      a.cfg.DispatchHorizon,
		StaleSending: a.cfg.StaleSending,
		Concurrency:  a.cfg.Concurrency,
		Retention:    time.Duration(a.cfg.RetentionDays) * 24 * time.Hour,

		DispatchPartitions: a.cfg.DispatchPartitions,
		SendQueues:         a.cfg.SendQueues,
		MaxInFlight:        a.cfg.MaxInFlight,
	}
	if holdAccounts {
		// The connections' events go to the event handlers, which the handlers then share.
		deps.Events = workers.NewEvents(deps, opts)
		var err error
		p.manager, err = sender.NewManager(a.redis, svc.accounts, svc.channels, deps.Events.OnEvent,
			sender.ManagerOptions{Logger: a.logger, AcquiredFunc: func(ctx context.Context, acct sender.Account) error {
				// Redis may have lost the daily counter with the lease: restore it from the
				// deliveries before the account sends through this process.
				_, err := svc.limiter.SeedDay(ctx, acct.ID, acct.Limits(), sends.SentSince)
				return err
			}})
		if err != nil {
			return nil, err
		}
		deps.Manager = p.manager
		p.cloudWebhooks = whatsappcloud.NewWebhooks(a.pool, svc.accounts, whatsappcloud.WebhookOptions{
			Enqueue: svc.queue.EnqueueCloudWebhook, Events: deps.Events.OnEvent, Logger: a.logger})
		deps.CloudWebhooks = p.cloudWebhooks
	} else {
		p.cloudWebhooks = whatsappcloud.NewWebhooks(a.pool, svc.accounts, whatsappcloud.WebhookOptions{
			Enqueue: svc.queue.EnqueueCloudWebhook, Logger: a.logger})
	}
	if svc.webhooks != nil {
		deps.Webhooks, deps.WebhookRelay = svc.webhooks.deliver, svc.webhooks.relay
	}
	p.handlers = workers.New(deps, opts)
	err := errors.Join(
		metrics.Register(p.registry),
		p.registry.Register(collectors.NewGoCollector()),
		p.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		p.registry.Register(workers.NewQueueCollector(a.redis)),
		p.registry.Register(workers.NewLimiterCollector(svc.accounts, svc.limiter)),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return p, nil
}

func (p *pipeline) Close() { _ = p.handlers.Close() }

// metricsHandler serves the pipeline's Prometheus registry.
func (p *pipeline) metricsHandler() http.Handler {
	return promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{})
}

// monitoring returns the Asynq dashboard for /monitoring/, on its own Redis connections.
func monitoring(a *app) (*asynqmon.HTTPHandler, error) {
	opt, err := a.asynqRedis()
	if err != nil {
		return nil, err
	}
	return asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt}), nil
}

// cmdWorker is `crier worker`: the Asynq server, the account connections and the
// dispatcher, until SIGINT/SIGTERM.
func cmdWorker(ctx context.Context, a *app, args []string, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: worker takes no arguments", errUsage)
	}
	return runRoles(ctx, a, nil, roles{worker: true})
}

// cmdScheduler is `crier scheduler`: due campaign runs and the periodic maintenance, with
// one active scheduler however many run.
func cmdScheduler(ctx context.Context, a *app, args []string, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: scheduler takes no arguments", errUsage)
	}
	return runRoles(ctx, a, nil, roles{scheduler: true})
}

// cmdAll is `crier all`: the API, a worker and a scheduler in one process.
func cmdAll(ctx context.Context, a *app, args []string, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: all takes no arguments", errUsage)
	}
	ln, err := listenAPI(a)
	if err != nil {
		return err
	}
	return runRoles(ctx, a, ln, roles{api: true, worker: true, scheduler: true})
}

// roles are what one process runs.
type roles struct{ api, worker, scheduler bool }

// runRoles runs the given roles over one set of services until ctx ends or one of them
// fails, then stops them all: the API drains its requests, the worker its tasks.
func runRoles(ctx context.Context, a *app, ln net.Listener, r roles) error {
	if ln != nil {
		defer ln.Close() // for a failure before the API runs; closing it twice is harmless
	}
	if err := checkMigrated(ctx, a); err != nil {
		return err
	}
	svc, err := newServices(ctx, a)
	if err != nil {
		return err
	}
	defer svc.Close()
	pipe, err := newPipeline(a, svc, r.worker)
	if err != nil {
		return err
	}
	defer pipe.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
			cancel() // one role ending stops the others
		}()
	}
	if r.api {
		start("api", func(ctx context.Context) error { return runAPI(ctx, a, ln, svc, pipe) })
	} else if a.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (CRIER_METRICS_ADDR): %w", a.cfg.MetricsAddr, err)
		}
		start("metrics", func(ctx context.Context) error { return serveMetrics(ctx, mln, pipe) })
	}
	if r.worker {
		start("worker", func(ctx context.Context) error {
			return pipe.handlers.RunWorker(ctx, a.cfg.ShutdownTimeout)
		})
	}
	if r.scheduler {
		start("scheduler", workers.NewScheduler(pipe.handlers, workers.SchedulerOptions{ReconcileEvery: a.cfg.ReconcileEvery}).Run)
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// serveMetrics serves /metrics alone, for a worker or scheduler process.
func serveMetrics(ctx context.Context, ln net.Listener, pipe *pipeline) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", pipe.metricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
