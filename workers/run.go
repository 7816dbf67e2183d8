package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// RunWorker is `crier worker`: it holds this process's share of the account connections
// (Deps.Manager), serves every task type with Asynq, and runs the dispatcher, until ctx ends.
// Then it stops taking tasks, lets the ones in flight finish for up to shutdownTimeout (Asynq
// puts back the rest; the reconciler repairs whatever a harder stop leaves), and only then
// closes the connections and releases their leases.
func (h *Handlers) RunWorker(ctx context.Context, shutdownTimeout time.Duration) error {
	if h.manager == nil {
		return errors.New("workers: a worker needs a sender.Manager")
	}
	mctx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	defer stopManager()
	managerDone := make(chan error, 1)
	go func() { managerDone <- h.manager.Run(mctx) }()

	var servers []*asynq.Server
	shutdown := func() {
		var wg sync.WaitGroup
		for _, srv := range servers {
			wg.Go(srv.Shutdown) // in parallel: each waits up to shutdownTimeout for its tasks
		}
		wg.Wait()
	}
	mux := h.Mux()
	for _, cfg := range h.ServerConfigs(shutdownTimeout) {
		srv := asynq.NewServerFromRedisClient(h.redis, cfg)
		if err := srv.Start(mux); err != nil {
			shutdown()
			stopManager()
			<-managerDone
			return fmt.Errorf("workers: start: %w", err)
		}
		servers = append(servers, srv)
	}
	dctx, stopDispatcher := context.WithCancel(ctx)
	dispatcherDone := make(chan struct{})
	go func() {
		defer close(dispatcherDone)
		_ = h.dispatch.RunDispatcher(dctx)
	}()
	h.log.InfoContext(ctx, "worker started", "concurrency", h.opts.Concurrency, "lease_owner", h.manager.Owner())

	var err error
	select {
	case <-ctx.Done():
	case err = <-managerDone:
		err = fmt.Errorf("workers: account manager stopped: %w", err)
		managerDone <- nil
	}
	stopDispatcher()
	<-dispatcherDone
	shutdown()
	stopManager()
	<-managerDone
	h.log.InfoContext(context.WithoutCancel(ctx), "worker stopped")
	return err
}
