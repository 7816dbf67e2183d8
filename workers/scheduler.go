package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/campaigns"
)

// SchedulerOptions tune the scheduler. Zero values get defaults.
type SchedulerOptions struct {
	// PollEvery is how often due campaign runs are looked for. Default 5s.
	PollEvery time.Duration
	// ReconcileEvery is how often a reconciler pass is queued. Default 30s.
	ReconcileEvery time.Duration
	// RetentionEvery is how often a retention purge is queued. Default 1h.
	RetentionEvery time.Duration
	// RelayEvery is how often the outbound webhooks' relay steps, when the handlers have
	// one. Default 1s.
	RelayEvery time.Duration
	// LockTTL is how long the leader lock lives without renewal: how long the other
	// schedulers wait after the leader dies. Default 15s; renewed every LockTTL/3.
	LockTTL time.Duration
	// Owner names this process in the lock; default host-pid-random.
	Owner string
}

// schedulerLockKey is the leader lock: "<owner>" with an expiry.
const schedulerLockKey = "crier:scheduler:leader"

// Scheduler is `crier scheduler`: it queues campaign:launch for every due run (cron ticks,
// one-off schedules) with a TaskID per run, and the periodic maintenance tasks, and steps
// the outbound webhooks' relay every second. Several may
// run for availability; a Redis lock (SET NX PX, renewed, released on shutdown) lets exactly
// one of them act at a time, and the TaskIDs make even an overlap at a hand-over harmless.
type Scheduler struct {
	runs  dueRuns
	relay WebhookRelay // nil: no outbound webhooks
	queue *Queue
	rdb   redis.UniversalClient
	log   *slog.Logger
	now   func() time.Time
	opts  SchedulerOptions
	owner string
}

// dueRuns lists the campaign runs due to launch (Campaigns).
type dueRuns interface {
	DueRuns(ctx context.Context, now time.Time) ([]campaigns.DueRun, error)
}

// NewScheduler returns a scheduler that queues tasks for h's handlers, on h's queue and
// Redis.
func NewScheduler(h *Handlers, opts SchedulerOptions) *Scheduler {
	if opts.PollEvery <= 0 {
		opts.PollEvery = 5 * time.Second
	}
	if opts.ReconcileEvery <= 0 {
		opts.ReconcileEvery = 30 * time.Second
	}
	if opts.RetentionEvery <= 0 {
		opts.RetentionEvery = time.Hour
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = 15 * time.Second
	}
	if opts.RelayEvery <= 0 {
		opts.RelayEvery = time.Second
	}
	if opts.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		opts.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	return &Scheduler{runs: h.campaigns, relay: h.relay, queue: h.queue, rdb: h.redis, log: h.log, now: h.opts.Now, opts: opts, owner: opts.Owner}
}

// leadScript takes the lock if it is free and extends it if it is ours already.
// KEYS[1] the lock; ARGV[1] owner, ARGV[2] TTL in ms. Returns 1 when we hold it.
var leadScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// lead takes or keeps the leader lock and reports whether this process leads now. Each
// round acts right after renewing, well within the lock's TTL; the TaskIDs of what it
// queues make an overlap at a hand-over harmless.
func (s *Scheduler) lead(ctx context.Context) bool {
	n, err := leadScript.Run(ctx, s.rdb, []string{schedulerLockKey}, s.owner, s.opts.LockTTL.Milliseconds()).Int64()
	return err == nil && n == 1
}

// Run schedules until ctx ends, then gives up the lock.
func (s *Scheduler) Run(ctx context.Context) error {
	log := s.log.With("scheduler", s.owner)
	every := min(s.opts.PollEvery, s.opts.LockTTL/3)
	if s.relay != nil {
		every = min(every, s.opts.RelayEvery)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	leading := false
	var lastPoll, lastReconcile, lastRetention time.Time
	defer func() {
		if leading {
			_ = releaseScript.Run(context.WithoutCancel(ctx), s.rdb, []string{schedulerLockKey}, s.owner).Err()
		}
	}()
	for {
		ok := s.lead(ctx)
		switch {
		case ok && !leading:
			log.InfoContext(ctx, "scheduler leads")
		case !ok && leading:
			log.WarnContext(ctx, "scheduler lost the lead")
		}
		leading = ok
		now := time.Now()
		if leading && now.Sub(lastPoll) >= s.opts.PollEvery {
			lastPoll = now
			if n, err := s.ScheduleDue(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "schedule due runs", "error", err)
			} else if n > 0 {
				log.InfoContext(ctx, "launches queued", "runs", n)
			}
		}
		if leading && s.relay != nil {
			// The relay runs here because one scheduler leads at a time: a step is a
			// transaction over the logs, and one at a time is enough (it also takes an
			// advisory lock, for an overlap at a hand-over).
			if _, err := s.relay.Step(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "relay webhooks", "error", err)
			}
		}
		if leading && now.Sub(lastReconcile) >= s.opts.ReconcileEvery {
			lastReconcile = now
			if _, err := s.queue.enqueue(ctx, NewReconcileTask()); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "queue reconcile", "error", err)
			}
		}
		if leading && now.Sub(lastRetention) >= s.opts.RetentionEvery {
			lastRetention = now
			if _, err := s.queue.enqueue(ctx, NewRetentionTask()); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "queue retention", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// ScheduleDue queues a campaign:launch for every run due now and returns how many it queued
// (a run whose launch is still queued is not counted again).
func (s *Scheduler) ScheduleDue(ctx context.Context) (int, error) {
	runs, err := s.runs.DueRuns(ctx, s.now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range runs {
		added, err := s.queue.enqueue(ctx, NewLaunchTask(r.CampaignID, r.RunAt))
		if err != nil {
			return n, fmt.Errorf("queue launch of campaign %d: %w", r.CampaignID, err)
		}
		if added {
			n++
		}
	}
	return n, nil
}
