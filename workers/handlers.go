package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/batch"
	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// Campaigns is what the workers need from the campaign lifecycle (campaigns.Service, through
// a small adapter in cmd/crier).
type Campaigns interface {
	// Launch materialises the run's deliveries; launching a run again creates nothing new.
	Launch(ctx context.Context, campaignID int64, runAt time.Time) error
	// DueRuns lists the runs due to launch by now.
	DueRuns(ctx context.Context, now time.Time) ([]DueRun, error)
	// FinishRuns completes the runs (and campaigns) with nothing left pending.
	FinishRuns(ctx context.Context) (int, error)
	// Pause pauses a campaign with a reason people will read.
	Pause(ctx context.Context, campaignID int64, reason string) error
}

// DueRun is one campaign run due to launch.
type DueRun struct {
	CampaignID int64
	RunAt      time.Time
}

// Deps are the services the workers drive. Manager is nil in a process that holds no
// account connections (the scheduler): it sends nothing.
type Deps struct {
	Redis     redis.UniversalClient
	Sends     *campaigns.Sends
	Campaigns Campaigns
	Consent   *consent.Service
	Contacts  *contacts.Service
	Templates *templates.Store
	Engine    *templates.Engine
	Limiter   *sender.Limiter
	Manager   *sender.Manager
	Accounts  *sender.Accounts
	Privacy   *privacy.Service
	Metrics   *Metrics
	Logger    *slog.Logger
}

// Options tune the workers. Zero values get defaults.
type Options struct {
	// TTL: a delivery not sent within TTL after its due time is expired, never sent late.
	// Default 6h.
	TTL time.Duration
	// Horizon: the dispatcher keeps at most this much of each campaign's sending capacity
	// (its accounts' rates) in Redis. Default 2m.
	Horizon time.Duration
	// MaxInFlight caps each campaign's deliveries in Asynq, whatever its accounts' rates.
	// Accounts without a practical limit (a sandbox at ten million a minute) would otherwise
	// have the whole audience queued, and counted again before every dispatch. The
	// dispatcher counts the deliveries in flight, up to the cap, about once a second, and
	// tops them up about as often, so a campaign sends at most about MaxInFlight a second:
	// the default, 10 000 (5 MB of Redis), is far above what WhatsApp accounts send.
	MaxInFlight int
	// DispatchEvery is how often the worker asks for a dispatch of the campaigns with work.
	// Default 1s.
	DispatchEvery time.Duration
	// MaxTokenWait is the longest a send waits in-process for an account's rate token before
	// it gives the task back to Asynq. Default 2s.
	MaxTokenWait time.Duration
	// NoAccountDelay is when a send retries that found no account held here. Default 3s.
	NoAccountDelay time.Duration
	// StaleSending: a delivery in "sending" for longer than this has lost its worker.
	// Default 3m (above the message:send timeout).
	StaleSending time.Duration
	// CheckTasksAfter: the reconciler asks Redis whether the task of a delivery enqueued at
	// least this long ago still exists. Default 1m.
	CheckTasksAfter time.Duration
	// ReplyWindow: a reply counts on the latest message sent to the contact within this
	// window. Default 72h.
	ReplyWindow time.Duration
	// Retention: message text older than this is purged. Default 90 days.
	Retention time.Duration
	// ErrorWindow and ErrorThreshold: a campaign pauses itself when more than
	// ErrorThreshold of its last ErrorWindow sends in this process failed. Defaults 100 and 0.5.
	ErrorWindow    int
	ErrorThreshold float64
	// Concurrency is the number of tasks a worker runs at once. Default 1000: a send spends
	// most of its time waiting (for a rate token, for Redis, for the batch its database step
	// joins, for WhatsApp), and the more sends run at once, the larger those batches and the
	// busier the cores (docs/BENCHMARKS.md: 1000 against 512 at a million sends).
	Concurrency int
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.TTL, 6*time.Hour)
	def(&o.Horizon, 2*time.Minute)
	def(&o.DispatchEvery, time.Second)
	def(&o.MaxTokenWait, 2*time.Second)
	def(&o.NoAccountDelay, 3*time.Second)
	def(&o.StaleSending, 3*time.Minute)
	def(&o.CheckTasksAfter, time.Minute)
	def(&o.ReplyWindow, 72*time.Hour)
	def(&o.Retention, 90*24*time.Hour)
	if o.ErrorWindow <= 0 {
		o.ErrorWindow = 100
	}
	if o.ErrorThreshold <= 0 {
		o.ErrorThreshold = 0.5
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1000
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Handlers run Crier's tasks. Make one per process with New; it is safe for concurrent use.
type Handlers struct {
	deps      Deps
	opts      Options
	log       *slog.Logger
	client    *asynq.Client
	inspector *asynq.Inspector

	receipts  *batch.Batcher[receiptEvent, struct{}] // OnEvent's receipts, into event:receipts tasks
	campaigns *cache[int64, campaigns.SendCampaign]
	templates *cache[int64, templates.Stored]
	errors    *sender.ErrorWindow
	steps     *sendSteps
	stacks    *stacks

	mu      sync.Mutex
	replies map[int64]int           // replies waiting for a send token, per account: they go first
	turns   map[int64]uint64        // round-robin counter per campaign
	prev    map[[2]int64]int        // last variant per (account, template), for variant rotation
	waiters map[int64]chan struct{} // waiter slots per limiter key (waitAlone)
}

// New returns the handlers over deps.
func New(deps Deps, opts Options) *Handlers {
	opts.setDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics()
	}
	h := &Handlers{
		deps:      deps,
		opts:      opts,
		log:       deps.Logger,
		client:    asynq.NewClientFromRedisClient(deps.Redis),
		inspector: asynq.NewInspectorFromRedisClient(deps.Redis),
		// A paused or cancelled campaign stops sending within this long.
		campaigns: newCache[int64, campaigns.SendCampaign](time.Second),
		// A template edited mid-campaign reaches new sends within this long.
		templates: newCache[int64, templates.Stored](10 * time.Second),
		errors:    sender.NewErrorWindow(opts.ErrorWindow, opts.ErrorThreshold),
		replies:   map[int64]int{},
		turns:     map[int64]uint64{},
		prev:      map[[2]int64]int{},
		waiters:   map[int64]chan struct{}{},
	}
	h.steps = newSendSteps(h)
	h.stacks = newStacks(opts.Concurrency)
	h.receipts = batch.New(h.commitReceipts, batch.Options{MaxSize: maxReceiptsPerTask, Timeout: time.Minute, Linger: receiptLinger})
	return h
}

// replyWaiting marks (delta +1) or unmarks (-1) a reply waiting for a send token from an
// account. Only the process holding an account's lease sends through it, so this
// in-process count is all the priority a reply needs.
func (h *Handlers) replyWaiting(accountID int64, delta int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.replies[accountID] += delta; h.replies[accountID] <= 0 {
		delete(h.replies, accountID)
	}
}

// replyPending reports whether a reply waits for a token from the account.
func (h *Handlers) replyPending(accountID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.replies[accountID] > 0
}

// Client is the Asynq client the handlers enqueue with.
func (h *Handlers) Client() *asynq.Client { return h.client }

// Close queues the receipts still gathering, then releases the Asynq client and inspector
// (not the Redis connection).
func (h *Handlers) Close() error {
	h.receipts.Wait()
	h.stacks.close()
	return errors.Join(h.client.Close(), h.inspector.Close())
}

// Mux is the one ServeMux of every task type.
func (h *Handlers) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeCampaignLaunch, h.handleLaunch)
	mux.HandleFunc(TypeCampaignDispatch, h.handleDispatch)
	mux.HandleFunc(TypeMessageSend, h.handleSend)
	mux.HandleFunc(TypeEventReceipts, h.handleReceipts)
	mux.HandleFunc(TypeEventReceipt, h.handleReceipt)
	mux.HandleFunc(TypeEventInbound, h.handleInbound)
	mux.HandleFunc(TypeReplySend, h.handleReply)
	mux.HandleFunc(TypeImportRun, h.handleImport)
	mux.HandleFunc(TypeMaintenanceReconcile, h.handleReconcile)
	mux.HandleFunc(TypeMaintenanceRetention, h.handleRetention)
	return mux
}

// ServerConfigs are the Asynq servers a worker runs. An Asynq server takes its tasks from
// Redis one at a time, a round trip each (and one per empty queue it tries first), so a
// single server with every queue spends most of its time waiting for Redis and keeps only a
// fraction of its concurrency busy. A worker therefore runs one server for the events,
// campaign and maintenance queues (with their priorities), one for the replies, and
// sendServers servers for the send queue alone, which share the concurrency and take sends
// in parallel.
func (h *Handlers) ServerConfigs(shutdownTimeout time.Duration) []asynq.Config {
	sends := sendServers(h.opts.Concurrency)
	events := h.serverConfig(shutdownTimeout, max(4, h.opts.Concurrency/4), map[string]int{
		QueueEvents: Queues()[QueueEvents], QueueCampaigns: Queues()[QueueCampaigns], QueueMaintenance: Queues()[QueueMaintenance]})
	// Replies wait for their accounts' rate tokens: on servers of their own, a burst of them
	// never holds the events' slots (an opt-out takes effect at once) nor the sends'.
	replies := h.serverConfig(shutdownTimeout, max(4, h.opts.Concurrency/16), map[string]int{QueueReplies: 1})
	configs := []asynq.Config{events, replies}
	for i := range sends {
		// Split the concurrency: the first servers take the remainder.
		n := h.opts.Concurrency / sends
		if i < h.opts.Concurrency%sends {
			n++
		}
		configs = append(configs, h.serverConfig(shutdownTimeout, n, map[string]int{QueueSend: 1}))
	}
	return configs
}

// sendServers is how many Asynq servers take sends: one per 16 of concurrency, at most 8.
func sendServers(concurrency int) int { return min(max(1, concurrency/16), 8) }

func (h *Handlers) serverConfig(shutdownTimeout time.Duration, concurrency int, queues map[string]int) asynq.Config {
	return asynq.Config{
		Concurrency:              concurrency,
		Queues:                   queues,
		RetryDelayFunc:           RetryDelay,
		IsFailure:                IsFailure,
		Logger:                   NewLogger(h.log),
		LogLevel:                 asynq.WarnLevel,
		ShutdownTimeout:          shutdownTimeout,
		DelayedTaskCheckInterval: time.Second,
		TaskCheckInterval:        200 * time.Millisecond,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if !IsFailure(err) {
				return
			}
			id, _ := asynq.GetTaskID(ctx)
			// Errors are logged here, once. They never carry personal data: handlers wrap ids.
			h.log.WarnContext(ctx, "task failed", "task_type", t.Type(), "task_id", id, "error", err)
		}),
	}
}

func (h *Handlers) now() time.Time { return h.opts.Now() }

// enqueue adds a task whose TaskID dedupes it. A task with the same id that is still queued
// or running is left alone (ok); one that was archived after its retries ran out is deleted
// and replaced, so that a TaskID never blocks work for good.
func (h *Handlers) enqueue(ctx context.Context, t *asynq.Task) (bool, error) {
	_, err := h.client.EnqueueContext(ctx, t)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	info, ierr := h.inspector.GetTaskInfo(queueOf(t), taskIDOf(t))
	if ierr != nil || (info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted) {
		return false, nil // queued, scheduled, retrying or running: it will run
	}
	if derr := h.inspector.DeleteTask(info.Queue, info.ID); derr != nil && !errors.Is(derr, asynq.ErrTaskNotFound) {
		return false, derr
	}
	if _, err := h.client.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	return true, nil
}

// queueOf and taskIDOf read back the options our constructors set.
func queueOf(t *asynq.Task) string {
	switch t.Type() {
	case TypeMessageSend:
		return QueueSend
	case TypeEventReceipts, TypeEventReceipt, TypeEventInbound:
		return QueueEvents
	case TypeReplySend:
		return QueueReplies
	case TypeMaintenanceReconcile, TypeMaintenanceRetention:
		return QueueMaintenance
	default:
		return QueueCampaigns
	}
}

func taskIDOf(t *asynq.Task) string {
	var p struct {
		CampaignID int64     `json:"campaign_id"`
		RunAt      time.Time `json:"run_at"`
		DeliveryID int64     `json:"delivery_id"`
		InboundID  int64     `json:"inbound_id"`
		ImportID   int64     `json:"import_id"`
	}
	_ = decode(t, &p)
	switch t.Type() {
	case TypeCampaignLaunch:
		return launchTaskID(p.CampaignID, p.RunAt)
	case TypeCampaignDispatch:
		return dispatchTaskID(p.CampaignID)
	case TypeMessageSend:
		return SendTaskID(p.DeliveryID)
	case TypeEventReceipts:
		return receiptsTaskID(t.Payload())
	case TypeEventInbound:
		return inboundTaskID(p.InboundID)
	case TypeReplySend:
		return replyTaskID(p.InboundID)
	case TypeImportRun:
		return importTaskID(p.ImportID)
	case TypeMaintenanceReconcile:
		return "reconcile"
	default:
		return "retention"
	}
}

// handleLaunch materialises a run and starts dispatching it at once.
func (h *Handlers) handleLaunch(ctx context.Context, t *asynq.Task) error {
	var p LaunchPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if err := h.deps.Campaigns.Launch(ctx, p.CampaignID, p.RunAt); err != nil {
		if apperr.CodeOf(err) == apperr.Conflict || apperr.CodeOf(err) == apperr.NotFound {
			// Paused, cancelled, or the run moved: the scheduler queues the run again when
			// it is due again; retrying this one cannot succeed.
			return fmt.Errorf("launch campaign %d: %w: %w", p.CampaignID, err, asynq.SkipRetry)
		}
		return fmt.Errorf("launch campaign %d run %s: %w", p.CampaignID, p.RunAt.Format(time.RFC3339), err)
	}
	if _, err := h.enqueue(ctx, NewDispatchTask(p.CampaignID)); err != nil {
		h.log.WarnContext(ctx, "enqueue dispatch after launch", "campaign_id", p.CampaignID, "error", err)
	}
	return nil
}

// cache keeps values for a short time. It is small: campaigns and templates in use.
type cache[K comparable, V any] struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[K]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

func newCache[K comparable, V any](ttl time.Duration) *cache[K, V] {
	return &cache[K, V]{ttl: ttl, m: map[K]cached[V]{}}
}

func (c *cache[K, V]) get(k K, load func() (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if len(c.m) > 10_000 { // never grows without bound
		clear(c.m)
	}
	c.m[k] = cached[V]{v: v, at: time.Now()}
	c.mu.Unlock()
	return v, nil
}

func (c *cache[K, V]) forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
