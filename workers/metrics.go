package workers

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/sender"
)

// Metrics are Crier's Prometheus counters of the send pipeline, labelled by campaign and
// account id (never a phone number). Each process counts what it did itself; Prometheus sums
// the workers.
type Metrics struct {
	sent, delivered, read, failed, optedOut, replied *prometheus.CounterVec // campaign_id, account_id
	skipped                                          *prometheus.CounterVec // campaign_id, reason
	expired, dispatched, autoPaused                  *prometheus.CounterVec // campaign_id
	replies                                          *prometheus.CounterVec // account_id: confirmation and help replies
}

// NewMetrics returns unregistered metrics; see Register.
func NewMetrics() *Metrics {
	byCampaignAccount := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "crier", Name: name, Help: help},
			[]string{"campaign_id", "account_id"})
	}
	return &Metrics{
		sent:      byCampaignAccount("messages_sent_total", "Campaign messages the network accepted."),
		delivered: byCampaignAccount("messages_delivered_total", "Campaign messages with a delivered receipt."),
		read:      byCampaignAccount("messages_read_total", "Campaign messages with a read receipt."),
		failed:    byCampaignAccount("messages_failed_total", "Campaign messages that failed for good (at send time or by a failed receipt)."),
		optedOut:  byCampaignAccount("opted_out_total", "Recipients who opted out in reply to a campaign message."),
		replied:   byCampaignAccount("replies_total", "Recipients who replied to a campaign message (first reply per message)."),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "crier", Name: "deliveries_skipped_at_send_total",
			Help: "Deliveries skipped at send time, by reason (consent withdrawn, suppressed, …)."}, []string{"campaign_id", "reason"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "crier", Name: "deliveries_expired_total",
			Help: "Deliveries not sent within their TTL."}, []string{"campaign_id"}),
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "crier", Name: "deliveries_dispatched_total",
			Help: "Deliveries handed to Asynq by the dispatcher."}, []string{"campaign_id"}),
		autoPaused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "crier", Name: "campaigns_auto_paused_total",
			Help: "Campaigns paused by their own error rate."}, []string{"campaign_id"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "crier", Name: "confirmation_replies_total",
			Help: "Opt-out, opt-in and help replies sent."}, []string{"account_id"}),
	}
}

// Register adds the metrics to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.sent, m.delivered, m.read, m.failed, m.optedOut, m.replied,
		m.skipped, m.expired, m.dispatched, m.autoPaused, m.replies} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// QueueCollector reports Asynq's queues on each scrape: tasks by state, latency, memory and
// processed/failed totals, read from Redis with asynq.Inspector.
type QueueCollector struct {
	inspector *asynq.Inspector
	tasks     *prometheus.Desc
	latency   *prometheus.Desc
	memory    *prometheus.Desc
	processed *prometheus.Desc
	failed    *prometheus.Desc
	paused    *prometheus.Desc
}

// NewQueueCollector returns a collector over the Asynq queues in rdb.
func NewQueueCollector(rdb redis.UniversalClient) *QueueCollector {
	return &QueueCollector{
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		tasks:     prometheus.NewDesc("asynq_tasks_enqueued", "Tasks in a queue, by state.", []string{"queue", "state"}, nil),
		latency:   prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the oldest pending task.", []string{"queue"}, nil),
		memory:    prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes", "Approximate Redis memory of the queue.", []string{"queue"}, nil),
		processed: prometheus.NewDesc("asynq_tasks_processed_total", "Tasks processed (succeeded and failed).", []string{"queue"}, nil),
		failed:    prometheus.NewDesc("asynq_tasks_failed_total", "Tasks that failed.", []string{"queue"}, nil),
		paused:    prometheus.NewDesc("asynq_queue_paused_total", "1 if the queue is paused.", []string{"queue"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.tasks, c.latency, c.memory, c.processed, c.failed, c.paused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	queues, err := c.inspector.Queues()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.tasks, err)
		return
	}
	for _, q := range queues {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.tasks, err)
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed, "aggregating": info.Aggregating} {
			ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), q)
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(info.MemoryUsage), q)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(info.FailedTotal), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q)
	}
}

// LimiterCollector reports each account's limiter state on each scrape: today's tokens
// used, the day's budget, and their ratio (utilisation), read from Redis.
type LimiterCollector struct {
	accounts    *sender.Accounts
	limiter     *sender.Limiter
	used, limit *prometheus.Desc
	utilisation *prometheus.Desc
	rate        *prometheus.Desc
}

// NewLimiterCollector returns a collector over the accounts' limiters.
func NewLimiterCollector(accounts *sender.Accounts, limiter *sender.Limiter) *LimiterCollector {
	l := []string{"account_id"}
	return &LimiterCollector{
		accounts:    accounts,
		limiter:     limiter,
		used:        prometheus.NewDesc("crier_limiter_daily_used", "Send tokens the account took today.", l, nil),
		limit:       prometheus.NewDesc("crier_limiter_daily_limit", "The account's budget today (daily cap or warm-up); -1 for none.", l, nil),
		utilisation: prometheus.NewDesc("crier_limiter_daily_utilisation", "Share of today's budget used (0 without a budget).", l, nil),
		rate:        prometheus.NewDesc("crier_limiter_rate_per_minute", "The account's configured per-minute rate.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *LimiterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.limit
	ch <- c.utilisation
	ch <- c.rate
}

// Collect implements prometheus.Collector.
func (c *LimiterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := c.accounts.Connectable(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.used, err)
		return
	}
	for _, a := range list {
		u, err := c.limiter.Usage(ctx, a.ID, a.Limits())
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.used, err)
			continue
		}
		id := itoa(a.ID)
		util := 0.0
		if u.DailyLimit > 0 {
			util = float64(u.Used) / float64(u.DailyLimit)
		}
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(u.Used), id)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(u.DailyLimit), id)
		ch <- prometheus.MustNewConstMetric(c.utilisation, prometheus.GaugeValue, util, id)
		ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, float64(a.RatePerMinute), id)
	}
}
