package workers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/delivery"
)

// The task types, "noun:verb" as Asynq names them.
const (
	TypeCampaignLaunch       = "campaign:launch"       // materialise a run's deliveries
	TypeCampaignDispatch     = "campaign:dispatch"     // top up the send queue of one campaign
	TypeMessageSend          = "message:send"          // send one delivery
	TypeEventReceipts        = "event:receipts"        // a batch of delivered/read/failed receipts
	TypeEventReceipt         = "event:receipt"         // one receipt: what was queued before receipts were batched
	TypeEventInbound         = "event:inbound"         // a customer's message, stored in inbound_messages
	TypeReplySend            = "reply:send"            // the confirmation or help reply due to an inbound message
	TypeImportRun            = "import:run"            // merge a stored CSV import into the contacts
	TypeCloudWebhook         = "cloud:webhook"         // act on a Cloud API webhook stored in cloud_webhooks
	TypeMaintenanceReconcile = "maintenance:reconcile" // repair what a crash or a Redis loss left behind
	TypeMaintenanceRetention = "maintenance:retention" // purge message text past retention
)

// The queues, with their priorities (Queues). Events go first: an opt-out must take effect
// while a campaign is sending. Maintenance goes last. Replies wait for rate tokens like sends,
// on servers of their own (ServerConfigs), so that neither holds up the other or the events.
const (
	QueueEvents      = "events"
	QueueReplies     = "replies"
	QueueSend        = "send"
	QueueCampaigns   = "campaigns"
	QueueMaintenance = "maintenance"
)

// SendQueues are the names of n send queues: QueueSend, then QueueSend-1 … QueueSend-(n-1)
// (one queue, n ≤ 1, is QueueSend alone, as before there were several).
func SendQueues(n int) []string {
	names := []string{QueueSend}
	for k := 1; k < n; k++ {
		names = append(names, QueueSend+"-"+strconv.Itoa(k))
	}
	return names
}

// SendQueue is the queue, among n, of delivery id's send task: its id modulo n.
func SendQueue(id int64, n int) string {
	if n <= 1 {
		return QueueSend
	}
	k := id % int64(n)
	if k < 0 {
		k = -k
	}
	if k == 0 {
		return QueueSend
	}
	return QueueSend + "-" + strconv.FormatInt(k, 10)
}

// Queues are the queues a worker serves and their weights.
func Queues() map[string]int {
	return map[string]int{QueueEvents: 6, QueueReplies: 4, QueueCampaigns: 3, QueueSend: 3, QueueMaintenance: 1}
}

// Payloads carry ids, times and statuses only: never a phone number, a name or message text
// (DESIGN §3 invariant 6). Ops read them in the dashboard.

// LaunchPayload is the payload of campaign:launch.
type LaunchPayload struct {
	CampaignID int64     `json:"campaign_id"`
	RunAt      time.Time `json:"run_at"`
}

// DispatchPayload is the payload of campaign:dispatch: partition Partition of Partitions
// of the campaign's deliveries (delivery.Partition). Partitions 0, as in a task queued
// before there were partitions, is the whole campaign.
type DispatchPayload struct {
	CampaignID int64 `json:"campaign_id"`
	Partition  int   `json:"partition,omitempty"`
	Partitions int   `json:"partitions,omitempty"`
}

func (p DispatchPayload) partition() delivery.Partition {
	return delivery.Partition{Index: p.Partition, Of: p.Partitions}
}

// SendPayload is the payload of message:send.
type SendPayload struct {
	DeliveryID int64 `json:"delivery_id"`
}

// ReceiptPayload is one receipt: the payload of event:receipt, and an element of
// event:receipts. MessageID is our id of the message, made from the delivery id. A failed
// receipt's reason is not in it: it is the network's free text.
type ReceiptPayload struct {
	AccountID int64     `json:"account_id"`
	MessageID string    `json:"message_id"`
	Status    string    `json:"status"` // delivered, read or failed
	At        time.Time `json:"at"`
}

// ReceiptsPayload is the payload of event:receipts: the receipts that arrived together.
// Attempt counts how many times they have come back because their sends were not recorded
// yet (0 for the receipts as they arrived).
type ReceiptsPayload struct {
	Receipts []ReceiptPayload `json:"receipts"`
	Attempt  int              `json:"attempt,omitempty"`
}

// InboundPayload is the payload of event:inbound: the id of the stored message.
type InboundPayload struct {
	InboundID int64     `json:"inbound_id"`
	At        time.Time `json:"at"`
}

// ReplyPayload is the payload of reply:send: the inbound message whose reply is due.
type ReplyPayload struct {
	InboundID int64 `json:"inbound_id"`
}

// ImportPayload is the payload of import:run: the import's id. The file is in PostgreSQL
// (contact_import_chunks), never in Redis.
type ImportPayload struct {
	ImportID int64 `json:"import_id"`
}

// CloudWebhookPayload is the payload of cloud:webhook: the id of the stored webhook. Its
// body, with customers' numbers and texts, stays in PostgreSQL.
type CloudWebhookPayload struct {
	WebhookID int64 `json:"webhook_id"`
}

// NewLaunchTask launches a campaign run. Its TaskID is the run's, so a run is launched by one
// task at a time however many schedulers enqueue it (and Launch is idempotent besides).
func NewLaunchTask(campaignID int64, runAt time.Time) *asynq.Task {
	return newTask(TypeCampaignLaunch, LaunchPayload{CampaignID: campaignID, RunAt: runAt.UTC()},
		asynq.Queue(QueueCampaigns), asynq.MaxRetry(10), asynq.Timeout(10*time.Minute),
		asynq.TaskID(launchTaskID(campaignID, runAt)))
}

// NewDispatchTask tops up one partition of a campaign's send queue. Its TaskID is the
// campaign's and the partition's, so at most one dispatch per partition is queued or
// running, and the partitions of a campaign run side by side.
func NewDispatchTask(campaignID int64, part delivery.Partition) *asynq.Task {
	p := DispatchPayload{CampaignID: campaignID}
	if !part.Whole() {
		p.Partition, p.Partitions = part.Index, part.Of
	}
	return newTask(TypeCampaignDispatch, p,
		asynq.Queue(QueueCampaigns), asynq.MaxRetry(3), asynq.Timeout(time.Minute),
		asynq.TaskID(dispatchTaskID(campaignID, part)))
}

// NewImportTask runs a stored import. Its TaskID is the import's, so an import has at most
// one task; the import itself runs in one transaction under a lock, so a task that runs
// again after a crash starts it over, never applies it twice. A large file takes a while:
// the timeout is generous, and the worker keeps the task's lease meanwhile.
func NewImportTask(importID int64) *asynq.Task {
	return newTask(TypeImportRun, ImportPayload{ImportID: importID},
		asynq.Queue(QueueCampaigns), asynq.MaxRetry(importMaxRetry), asynq.Timeout(3*time.Hour),
		asynq.TaskID(importTaskID(importID)))
}

// importMaxRetry is how many failed runs an import survives before it is failed.
const importMaxRetry = 4

func importTaskID(importID int64) string { return "import:" + strconv.FormatInt(importID, 10) }

func launchTaskID(campaignID int64, runAt time.Time) string {
	return "launch:" + strconv.FormatInt(campaignID, 10) + ":" + strconv.FormatInt(runAt.UnixMicro(), 10)
}

// dispatchTaskID is "dispatch:ID" for a whole campaign (the id a task had before there were
// partitions) and "dispatch:ID:INDEX/OF" for a partition.
func dispatchTaskID(campaignID int64, part delivery.Partition) string {
	id := "dispatch:" + strconv.FormatInt(campaignID, 10)
	if part.Whole() {
		return id
	}
	return id + ":" + strconv.Itoa(part.Index) + "/" + strconv.Itoa(part.Of)
}

// receiptsTaskID names an event:receipts task by its payload, so that a handler that runs
// again queues the same follow-up task, not a second one.
func receiptsTaskID(payload []byte) string {
	sum := sha256.Sum256(payload)
	return "receipts:" + hex.EncodeToString(sum[:16])
}

func inboundTaskID(inboundID int64) string { return "inbound:" + strconv.FormatInt(inboundID, 10) }

func replyTaskID(inboundID int64) string { return "reply:" + strconv.FormatInt(inboundID, 10) }

// SendTaskID is the TaskID of a delivery's message:send task.
func SendTaskID(deliveryID int64) string { return "send:" + strconv.FormatInt(deliveryID, 10) }

// NewSendTask sends one delivery. Its TaskID is derived from the delivery, so a delivery has
// at most one task.
func NewSendTask(deliveryID int64) *asynq.Task {
	return newTask(TypeMessageSend, SendPayload{DeliveryID: deliveryID},
		asynq.Queue(QueueSend), asynq.MaxRetry(sendMaxRetry), asynq.Timeout(2*time.Minute),
		asynq.TaskID(SendTaskID(deliveryID)))
}

// sendMaxRetry is how many transient failures a delivery survives; waiting for an account
// does not count.
const sendMaxRetry = 8

// NewReceiptsTask applies a batch of receipts; opts come after the defaults (ProcessIn for
// receipts that come back). Its TaskID is a hash of the payload: applying receipts is
// idempotent, so the id only spares a duplicate task.
func NewReceiptsTask(p ReceiptsPayload, opts ...asynq.Option) *asynq.Task {
	b := marshal(TypeEventReceipts, p)
	return asynq.NewTask(TypeEventReceipts, b, append([]asynq.Option{asynq.Queue(QueueEvents), asynq.MaxRetry(20),
		asynq.Timeout(time.Minute), asynq.TaskID(receiptsTaskID(b))}, opts...)...)
}

// NewInboundTask handles one stored inbound message.
func NewInboundTask(inboundID int64, at time.Time) *asynq.Task {
	return newTask(TypeEventInbound, InboundPayload{InboundID: inboundID, At: at.UTC()},
		asynq.Queue(QueueEvents), asynq.MaxRetry(25), asynq.Timeout(time.Minute),
		asynq.TaskID(inboundTaskID(inboundID)))
}

// NewReplyTask sends the reply due to one inbound message. Its TaskID is the message's, so a
// reply has at most one task; the reply's message id is the message's too
// (ReplyMessageID), so a send retried after a crash is the same message.
func NewReplyTask(inboundID int64) *asynq.Task {
	return newTask(TypeReplySend, ReplyPayload{InboundID: inboundID},
		asynq.Queue(QueueReplies), asynq.MaxRetry(25), asynq.Timeout(time.Minute),
		asynq.TaskID(replyTaskID(inboundID)))
}

// NewCloudWebhookTask acts on one stored Cloud API webhook, on the events queue: a
// customer's STOP may be in it. Its TaskID is the row's, so a webhook has at most one task;
// processing is idempotent besides, and the reconciler's sweep queues the rows a lost or
// exhausted task left unprocessed.
func NewCloudWebhookTask(webhookID int64) *asynq.Task {
	return newTask(TypeCloudWebhook, CloudWebhookPayload{WebhookID: webhookID},
		asynq.Queue(QueueEvents), asynq.MaxRetry(10), asynq.Timeout(time.Minute),
		asynq.TaskID(cloudWebhookTaskID(webhookID)))
}

func cloudWebhookTaskID(webhookID int64) string {
	return "cloudwebhook:" + strconv.FormatInt(webhookID, 10)
}

// NewReconcileTask runs the reconciler once; one is queued at a time.
func NewReconcileTask() *asynq.Task {
	return newTask(TypeMaintenanceReconcile, struct{}{}, asynq.Queue(QueueMaintenance), asynq.MaxRetry(1),
		asynq.Timeout(5*time.Minute), asynq.TaskID("reconcile"))
}

// NewRetentionTask purges message text past the retention period; one is queued at a time.
func NewRetentionTask() *asynq.Task {
	return newTask(TypeMaintenanceRetention, struct{}{}, asynq.Queue(QueueMaintenance), asynq.MaxRetry(3),
		asynq.Timeout(30*time.Minute), asynq.TaskID("retention"))
}

func newTask(typ string, payload any, opts ...asynq.Option) *asynq.Task {
	return asynq.NewTask(typ, marshal(typ, payload), opts...)
}

func marshal(typ string, payload any) []byte {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("workers: marshal %s payload: %v", typ, err)) // plain structs: a programming error
	}
	return b
}

// decode reads a task's payload; a payload that does not decode can never succeed.
func decode(t *asynq.Task, v any) error {
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("workers: %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}
