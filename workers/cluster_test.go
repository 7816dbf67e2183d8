package workers

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
)

// TestMain stops the Redis Cluster that the *Cluster* tests of this package start.
func TestMain(m *testing.M) {
	code := m.Run()
	testredis.StopCluster()
	os.Exit(code)
}

// setupCluster is setup with Asynq, the limiter and the leases on a real three-node Redis
// Cluster (the bundle's own single Redis goes unused).
func setupCluster(t *testing.T, opts Options) (*bundle, *redis.ClusterClient) {
	t.Helper()
	b := setup(t, opts)
	c := testredis.Cluster(t)
	b.limiter = sender.NewLimiter(c, sender.LimiterOptions{})
	return b, c
}

// startClusterWorker is startWorker on rdb, as `crier worker` runs with CRIER_REDIS_CLUSTER.
func (b *bundle) startClusterWorker(rdb redis.UniversalClient, queue *Queue) *worker {
	w := &worker{done: make(chan error, 1)}
	mgr, err := sender.NewManager(rdb, b.accounts, map[sender.Channel]sender.Connector{sender.Sandbox: b.network},
		func(ctx context.Context, e sender.Event) { w.h.Events().OnEvent(ctx, e) },
		sender.ManagerOptions{Logger: b.log, Refresh: 200 * time.Millisecond,
			Leases: sender.LeaseManagerOptions{TTL: 3 * time.Second}})
	require.NoError(b.t, err)
	w.h = New(Deps{Redis: rdb, Queue: queue, Manager: mgr, Sends: b.sends, Campaigns: b.campaigns, Consent: b.consent,
		Contacts: b.contacts, Templates: b.templates, Engine: b.engine, Limiter: b.limiter, Accounts: b.accounts,
		Metrics: NewMetrics(), Logger: b.log}, b.opts)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.h.RunWorker(ctx, 2*time.Second) }()
	b.t.Cleanup(w.stop)
	return w
}

// TestQueueClusterRoundTrip: on a Redis Cluster, workers.Queue enqueues a task (its TaskID
// still dedupes it, through the inspector), the Asynq servers of a worker process it, and
// the queue metrics read every queue, whichever node holds it.
func TestQueueClusterRoundTrip(t *testing.T) {
	t.Parallel()
	b, c := setupCluster(t, Options{})
	ctx := context.Background()
	queue := NewQueue(c, b.log)
	t.Cleanup(func() { _ = queue.Close() })
	b.contacts = contacts.New(b.pool, b.hasher, contacts.Options{ImportConsent: b.consent, ImportQueue: queue})

	nodes := map[string]bool{}
	for _, q := range []string{QueueSend, QueueEvents, QueueReplies, QueueCampaigns, QueueMaintenance} {
		nodes[testredis.NodeOf(t, c, "asynq:{"+q+"}:pending")] = true
	}
	t.Logf("Asynq's five queues live on %d of the 3 nodes", len(nodes))

	id, err := b.contacts.ImportSubmit(ctx, strings.NewReader("phone,name,consent\n+6591234567,Ada Tan,yes\n"),
		contacts.ImportOptions{ConsentSource: "shop", Actor: "test"}, nil)
	require.NoError(t, err)
	require.NoError(t, queue.EnqueueImport(ctx, id), "a second enqueue of a queued task is a no-op")
	inspector := asynq.NewInspectorFromRedisClient(c)
	t.Cleanup(func() { _ = inspector.Close() })
	info, err := inspector.GetQueueInfo(QueueCampaigns)
	require.NoError(t, err)
	require.Equal(t, 1, info.Pending, "one task, deduped by its TaskID")
	task, err := inspector.GetTaskInfo(QueueCampaigns, importTaskID(id))
	require.NoError(t, err)
	require.Equal(t, TypeImportRun, task.Type)

	b.startClusterWorker(c, queue)
	waitFor(t, 30*time.Second, "the import to run on the cluster", func() bool {
		return b.count(`SELECT count(*) FROM contact_imports WHERE id = $1 AND status = 'done'`, id) == 1
	})
	require.Equal(t, 1, b.count(`SELECT count(*) FROM contacts WHERE name = 'Ada Tan'`))
	waitFor(t, 10*time.Second, "Asynq to count the task processed", func() bool {
		info, err := inspector.GetQueueInfo(QueueCampaigns)
		require.NoError(t, err)
		return info.Processed >= 1 && info.Pending == 0 && info.Active == 0
	})
	servers, err := inspector.Servers()
	require.NoError(t, err)
	require.NotEmpty(t, servers, "the worker's Asynq servers report in on the cluster")

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewQueueCollector(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	require.NotEmpty(t, families)
}

// TestPipelineClusterEndToEnd sends a small campaign through the whole pipeline with Asynq,
// the limiter, the leases and the scheduler's lock on a Redis Cluster: launch, dispatch,
// rate-limited sends over two sandbox accounts, an opt-out on the way. Every eligible
// contact gets exactly one message, nobody else any, and no account goes over its rate.
func TestPipelineClusterEndToEnd(t *testing.T) {
	t.Parallel()
	const rate = 300 // per account and minute: 5 a second, so the run lasts about 5 s
	b, c := setupCluster(t, Options{Horizon: 2 * time.Second, DispatchEvery: 200 * time.Millisecond,
		NoAccountDelay: time.Second, Concurrency: 16})
	ctx := context.Background()
	granted, others := b.people(64) // 48 eligible
	acctA, acctB := b.sandboxAccount("A", rate), b.sandboxAccount("B", rate)
	campaignID := b.campaign([]int64{acctA, acctB}, "Hi {{ first_name }}, deals inside.")

	// The sends are spread over three queues (CRIER_SEND_QUEUES=3), so over the cluster's
	// nodes, as their names' slots place them.
	queue := NewQueue(c, b.log).SpreadSends(3)
	t.Cleanup(func() { _ = queue.Close() })
	for _, name := range queue.SendQueues() {
		t.Logf("queue %s is on %s", name, testredis.NodeOf(t, c, "asynq:{"+name+"}:pending"))
	}
	w := b.startClusterWorker(c, queue)
	sched := NewScheduler(w.h, SchedulerOptions{})
	require.True(t, sched.lead(ctx), "the scheduler's lock works on the cluster")
	waitFor(t, 30*time.Second, "the campaign's launch to be queued", func() bool {
		n, err := sched.ScheduleDue(ctx)
		require.NoError(t, err)
		return n == 1
	})
	sentCount := func() int {
		return b.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, campaignID)
	}
	waitFor(t, 60*time.Second, "the first sends", func() bool { return sentCount() >= 4 })

	// A recipient not reached yet replies STOP: the event goes through Asynq too.
	var stopper string
	require.NoError(t, b.pool.QueryRow(ctx, `
		SELECT c.phone FROM deliveries d JOIN contacts c ON c.id = d.contact_id
		WHERE d.campaign_id = $1 AND d.status = 'queued' AND d.enqueued_at IS NULL ORDER BY d.id DESC LIMIT 1`, campaignID).Scan(&stopper))
	_, err := w.h.Events().Inbound(ctx, consent.Inbound{AccountID: acctA, From: stopper, Text: "STOP",
		ProviderID: "in-cluster", ReceivedAt: time.Now()})
	require.NoError(t, err)
	waitFor(t, 30*time.Second, "the opt-out's confirmation", func() bool {
		return b.count(`SELECT count(*) FROM inbound_messages WHERE reply_status = 'sent'`) == 1
	})

	b.finish(w, campaignID, 2*time.Minute, "the campaign to finish on the cluster")
	b.checkOneEach(granted, others, stopper)
	require.Equal(t, 1, b.count(`SELECT count(*) FROM sandbox_messages WHERE to_phone = $1 AND text LIKE 'You won''t get more messages from Acme%'`, stopper))
	require.Equal(t, 2, b.count(`SELECT count(DISTINCT account_id) FROM deliveries WHERE campaign_id = $1 AND sent_at IS NOT NULL`, campaignID))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM campaign_runs WHERE campaign_id = $1 AND status = 'completed'`, campaignID))
	for _, name := range queue.SendQueues() {
		info, err := queue.inspector.GetQueueInfo(name)
		require.NoError(t, err, name)
		require.Positive(t, info.Processed, "queue %s took no sends", name)
	}
	// The limiter on the cluster held each account to its rate: in any 2 s the network saw at
	// most 2 s worth of its messages, and one of slack for the two clocks.
	for _, acct := range []int64{acctA, acctB} {
		worst := b.count(`
			SELECT coalesce(max(n), 0) FROM (
				SELECT count(*) OVER (ORDER BY sent_at RANGE BETWEEN CURRENT ROW AND interval '2 seconds' FOLLOWING) AS n
				FROM sandbox_messages WHERE account_id = $1 AND text NOT LIKE 'You won''t get%') x`, acct)
		require.LessOrEqual(t, worst, rate/30+2, "account %d", acct)
	}
}
