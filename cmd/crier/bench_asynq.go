package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// benchRawAsynq measures Asynq alone on the same Redis: n no-op tasks enqueued by
// `enqueuers` goroutines while one server with the given concurrency processes them, as
// Crier's dispatcher and workers do. It returns tasks/s from the first enqueue to the last
// task done, and the CPU time the machine spent meanwhile (machineCPU).
func benchRawAsynq(ctx context.Context, rdb redis.UniversalClient, n, concurrency int, o benchOptions) (float64, time.Duration, error) {
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return 0, 0, err
	}
	defer rdb.FlushDB(context.Background())
	const queue = "bench"
	var done atomic.Int64
	finished := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:     concurrency,
		Queues:          map[string]int{queue: 1},
		LogLevel:        asynq.ErrorLevel,
		ShutdownTimeout: 10 * time.Second,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return 0, 0, fmt.Errorf("raw asynq: %w", err)
	}
	defer srv.Shutdown()

	bar := newBar(o, int64(n), "asynq   ")
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	start, cpuBefore := time.Now(), machineCPU()
	const enqueuers = 8
	var wg sync.WaitGroup
	errc := make(chan error, enqueuers)
	for w := range enqueuers {
		wg.Go(func() {
			for i := w; i < n; i += enqueuers {
				// A payload the size of Crier's message:send (an id), and a task id, as Crier's tasks have.
				_, err := client.EnqueueContext(ctx, asynq.NewTask("bench:noop", []byte(`{"delivery_id":1234567}`)),
					asynq.Queue(queue), asynq.TaskID(fmt.Sprintf("noop:%d", i)), asynq.MaxRetry(0))
				if err != nil {
					errc <- fmt.Errorf("raw asynq: enqueue: %w", err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(errc) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			bar.Set64(int64(n))
			bar.Finish()
			return float64(n) / time.Since(start).Seconds(), machineCPU() - cpuBefore, nil
		case err := <-errc:
			if err != nil {
				return 0, 0, err
			}
			errc = nil // all enqueued
		case <-tick.C:
			bar.Set64(done.Load())
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
}
