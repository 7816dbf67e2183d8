package workers

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// Campaigns is what the workers need of the campaign lifecycle (campaigns.Service).
type Campaigns interface {
	// Launch materialises the run's deliveries; launching a run again creates nothing new.
	Launch(ctx context.Context, campaignID int64, runAt time.Time) (campaigns.Run, error)
	// DueRuns lists the runs due to launch by now.
	DueRuns(ctx context.Context, now time.Time) ([]campaigns.DueRun, error)
	// FinishRuns completes the runs (and campaigns) with nothing left pending.
	FinishRuns(ctx context.Context) (int, error)
	// Pause pauses a campaign with a reason people will read.
	Pause(ctx context.Context, campaignID int64, reason string) error
	// SendCampaign reads what the send path needs to know about a campaign.
	SendCampaign(ctx context.Context, id int64) (campaigns.SendCampaign, error)
}

var _ Campaigns = (*campaigns.Service)(nil)

// Deps are the services the workers drive. Manager is nil in a process that holds no
// account connections (the scheduler, the API): it sends nothing. Queue is the process's
// task queue, which the API's imports share; nil makes one on Redis for these handlers alone.
type Deps struct {
	Redis     redis.UniversalClient
	Queue     *Queue
	Sends     *delivery.Sends
	Campaigns Campaigns
	Consent   *consent.Service
	Contacts  *contacts.Service
	Templates *templates.Store
	Engine    *templates.Engine
	Limiter   *sender.Limiter
	Manager   *sender.Manager
	// Events are the handlers of the networks' events. The Manager delivers its connections'
	// events to Events.OnEvent, so a process that holds accounts makes them first, with
	// NewEvents, and passes them to both; nil: New makes them.
	Events   *Events
	Accounts *sender.Accounts
	Privacy  *privacy.Service
	// CloudWebhooks act on the Cloud API's stored webhooks (task cloud:webhook, and their
	// sweep and pruning in maintenance); nil: a process without whatsapp_cloud accounts.
	CloudWebhooks CloudWebhooks
	// Webhooks make the outbound webhooks' attempts (task webhook:deliver), and
	// WebhookRelay relays the logs into them (the scheduler steps it every second); nil: a
	// process without outbound webhooks (no CRIER_SECRET_KEY).
	Webhooks     WebhookDeliverer
	WebhookRelay WebhookRelay
	Metrics      *Metrics
	Logger       *slog.Logger
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
	// DispatchPartitions is how many parts a campaign's dispatch is cut into at most, each
	// a task of its own that any worker may run, side by side (Dispatcher); a campaign gets
	// one per 500 deliveries of capacity. Every process should have the same. Default 4.
	DispatchPartitions int
	// SendQueues is how many queues the sends are spread over (Queue.SpreadSends), for the
	// Queue New makes when Deps.Queue is nil; a Deps.Queue keeps its own. Every process
	// must have the same. Default 1.
	SendQueues int
	// minPartitionShare is the least capacity a partition gets (tests lower it). Default
	// minPartitionShare.
	minPartitionShare int
	// MaxTokenWait is the longest a send waits in-process for an account's rate token before
	// it gives the task back to Asynq (sender.PoolOptions). Default 2s.
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
	// ErrorThreshold of its last ErrorWindow sends in this process failed (the window is
	// kept per campaign; the accounts have their own, sender.ManagerOptions). Defaults 100
	// and 0.5.
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
	if o.DispatchPartitions <= 0 {
		o.DispatchPartitions = 4
	}
	if o.minPartitionShare <= 0 {
		o.minPartitionShare = minPartitionShare
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Handlers are a process's task handlers, one type per job: the Sender (message:send,
// reply:send), the Dispatcher (campaign:dispatch and its ticks), Events (event:* and the
// transports' events) and Maintenance (campaign:launch, import:run, cloud:webhook,
// maintenance:*); webhook:deliver goes to Deps.Webhooks. New
// assembles them over one Deps; Mux routes each task type to its handler.
type Handlers struct {
	redis     redis.UniversalClient
	manager   *sender.Manager
	campaigns Campaigns
	queue     *Queue
	ownQueue  bool // made by New: Close closes it
	opts      Options
	log       *slog.Logger

	send     *Sender
	dispatch *Dispatcher
	events   *Events
	upkeep   *Maintenance
	webhooks WebhookDeliverer // nil: none
	relay    WebhookRelay     // nil: none
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
	h := &Handlers{redis: deps.Redis, manager: deps.Manager, campaigns: deps.Campaigns, queue: deps.Queue,
		opts: opts, log: deps.Logger, webhooks: deps.Webhooks, relay: deps.WebhookRelay}
	if h.queue == nil {
		h.queue, h.ownQueue = NewQueue(deps.Redis, deps.Logger).SpreadSends(opts.SendQueues), true
	}
	// A service left out stays a nil interface (a nil pointer in one would not be): the
	// handlers skip what needs it, or are not run in such a process.
	var held heldAccounts
	var pool *sender.Pool
	if deps.Manager != nil {
		held = deps.Manager
		pool = sender.NewPool(deps.Manager, deps.Limiter, sender.PoolOptions{MaxTokenWait: opts.MaxTokenWait})
	}
	var records accountRecords
	if deps.Accounts != nil {
		records = deps.Accounts
	}
	h.send = newSender(senderDeps{sends: deps.Sends, contacts: deps.Contacts, templates: deps.Templates, engine: deps.Engine,
		campaigns: deps.Campaigns, pool: pool, held: held, records: records, replies: deps.Consent,
		metrics: deps.Metrics, log: deps.Logger}, opts)
	h.dispatch = &Dispatcher{sends: deps.Sends, queue: h.queue, metrics: deps.Metrics, log: deps.Logger, opts: opts}
	h.events = deps.Events
	if h.events == nil {
		h.events = newEvents(deps, h.queue, opts)
	}
	m := maintenanceDeps{sends: deps.Sends, queue: h.queue, log: deps.Logger}
	if deps.Campaigns != nil {
		m.runs = deps.Campaigns
	}
	if deps.Consent != nil {
		m.inbound = deps.Consent
	}
	if deps.Contacts != nil {
		m.imports = deps.Contacts
	}
	if deps.Privacy != nil {
		m.privacy = deps.Privacy
	}
	m.cloud = deps.CloudWebhooks
	h.upkeep = newMaintenance(m, opts)
	return h
}

// Sender is the process's message:send and reply:send handler.
func (h *Handlers) Sender() *Sender { return h.send }

// Dispatcher is the process's campaign:dispatch handler and dispatch loop.
func (h *Handlers) Dispatcher() *Dispatcher { return h.dispatch }

// Events is the process's event:* handler, and the transports' EventFunc (OnEvent).
func (h *Handlers) Events() *Events { return h.events }

// Maintenance is the process's handler of launches, imports and maintenance.
func (h *Handlers) Maintenance() *Maintenance { return h.upkeep }

// Queue is the task queue the handlers enqueue with.
func (h *Handlers) Queue() *Queue { return h.queue }

// Close queues the receipts still gathering, then stops the send goroutines and, if New
// made the queue, releases its Asynq client and inspector (not the Redis connection).
func (h *Handlers) Close() error {
	h.events.close()
	h.send.close()
	if h.ownQueue {
		return h.queue.Close()
	}
	return nil
}

// Mux is the one ServeMux of every task type.
func (h *Handlers) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeMessageSend, h.send.handleSend)
	mux.HandleFunc(TypeReplySend, h.send.handleReply)
	mux.HandleFunc(TypeCampaignDispatch, h.dispatch.handleDispatch)
	mux.HandleFunc(TypeEventReceipts, h.events.handleReceipts)
	mux.HandleFunc(TypeEventReceipt, h.events.handleReceipt)
	mux.HandleFunc(TypeEventInbound, h.events.handleInbound)
	mux.HandleFunc(TypeCampaignLaunch, h.upkeep.handleLaunch)
	mux.HandleFunc(TypeImportRun, h.upkeep.handleImport)
	mux.HandleFunc(TypeMaintenanceReconcile, h.upkeep.reconcileTask)
	mux.HandleFunc(TypeMaintenanceRetention, h.upkeep.retentionTask)
	if h.upkeep.cloud != nil {
		mux.HandleFunc(TypeCloudWebhook, h.upkeep.handleCloudWebhook)
	}
	if h.webhooks != nil {
		mux.HandleFunc(TypeWebhookDeliver, h.handleWebhook)
	}
	return mux
}

// ServerConfigs are the Asynq servers a worker runs. An Asynq server takes its tasks from
// Redis one at a time, a round trip each (and one per empty queue it tries first), so a
// single server with every queue spends most of its time waiting for Redis and keeps only a
// fraction of its concurrency busy. A worker therefore runs one server for the events,
// campaign and maintenance queues (with their priorities), one for the replies, one for
// the outbound webhooks if it has them, and
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
	if h.webhooks != nil {
		// Outbound webhooks wait on receivers, up to 10 s each: on servers of their own.
		configs = append(configs, h.serverConfig(shutdownTimeout, max(4, h.opts.Concurrency/16), map[string]int{QueueWebhooks: 1}))
	}
	queues := h.queue.SendQueues()
	for i := range sends {
		// Split the concurrency: the first servers take the remainder.
		n := h.opts.Concurrency / sends
		if i < h.opts.Concurrency%sends {
			n++
		}
		configs = append(configs, h.serverConfig(shutdownTimeout, n, sendServerQueues(queues, i, sends)))
	}
	return configs
}

// sendServerQueues are the send queues send server i of servers takes: with fewer queues
// than servers, queue i modulo their number; with more, every servers-th queue from i. So
// every queue has a server, and a server polls as few empty queues as it can.
func sendServerQueues(queues []string, i, servers int) map[string]int {
	m := min(len(queues), servers)
	out := map[string]int{}
	for k, q := range queues {
		if k%m == i%m {
			out[q] = 1
		}
	}
	return out
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
