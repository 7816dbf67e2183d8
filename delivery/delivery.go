package delivery

import "time"

// Status is where one message to one recipient of one run stands.
type Status string

// The delivery statuses (migrations/00006_campaigns.sql). Queued and sending are pending;
// the others are final (see the package's state diagram).
const (
	StatusQueued    Status = "queued"    // materialised at launch, waiting for its due time
	StatusSending   Status = "sending"   // a worker holds it; resolved by the reconciler if the worker dies
	StatusSent      Status = "sent"      // the network accepted it
	StatusDelivered Status = "delivered" // on the recipient's phone
	StatusRead      Status = "read"      // read by the recipient
	StatusFailed    Status = "failed"    // permanently failed (at send time or by a failed receipt)
	StatusSkipped   Status = "skipped"   // never sent, with a SkipReason (at launch or at send time)
	StatusCancelled Status = "cancelled" // the contact opted out, or the campaign was cancelled
	StatusExpired   Status = "expired"   // not sent within its TTL; never sent late
)

// Statuses are all the delivery statuses, pending first.
var Statuses = []Status{StatusQueued, StatusSending, StatusSent, StatusDelivered, StatusRead, StatusFailed,
	StatusSkipped, StatusCancelled, StatusExpired}

// Final reports whether nothing more will be sent for a delivery in status s. (A final
// delivery may still move forward by receipts: sent → delivered → read.)
func (s Status) Final() bool { return s != StatusQueued && s != StatusSending }

// Pending reports whether the delivery may still be sent.
func (s Status) Pending() bool { return s == StatusQueued || s == StatusSending }

// Delivery is one message to one recipient in one campaign run.
type Delivery struct {
	ID          int64      `json:"id"`
	RunID       int64      `json:"run_id"`
	CampaignID  int64      `json:"campaign_id"`
	ContactID   *int64     `json:"contact_id"` // nil once the contact is deleted or erased
	Status      Status     `json:"status"`
	SkipReason  SkipReason `json:"skip_reason,omitempty"`
	DueAt       time.Time  `json:"due_at"`
	Attempts    int        `json:"attempts"`
	AccountID   *int64     `json:"account_id,omitempty"`
	Variant     *int       `json:"variant,omitempty"`
	Locale      string     `json:"locale,omitempty"`
	MessageID   string     `json:"message_id,omitempty"`
	ProviderID  string     `json:"provider_id,omitempty"`
	Rendered    string     `json:"rendered,omitempty"` // the text as sent (personal data)
	Error       string     `json:"error,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	ReadAt      *time.Time `json:"read_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
	RepliedAt   *time.Time `json:"replied_at,omitempty"`
	OptedOutAt  *time.Time `json:"opted_out_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Columns selects a Delivery from deliveries aliased d, in the order of Delivery.Fields:
// the send path, campaigns' deliveries list and the privacy export all read it so.
const Columns = `d.id, d.run_id, d.campaign_id, d.contact_id, d.status, coalesce(d.skip_reason, ''),
	d.due_at, d.attempts, d.account_id, d.variant, coalesce(d.locale, ''), coalesce(d.message_id, ''),
	coalesce(d.provider_id, ''), coalesce(d.rendered, ''), coalesce(d.error, ''), d.sent_at, d.delivered_at,
	d.read_at, d.failed_at, d.replied_at, d.opted_out_at, d.updated_at`

// Fields are the scan destinations of Columns, followed by extra.
func (d *Delivery) Fields(extra ...any) []any {
	return append([]any{&d.ID, &d.RunID, &d.CampaignID, &d.ContactID, &d.Status, &d.SkipReason, &d.DueAt, &d.Attempts,
		&d.AccountID, &d.Variant, &d.Locale, &d.MessageID, &d.ProviderID, &d.Rendered, &d.Error, &d.SentAt,
		&d.DeliveredAt, &d.ReadAt, &d.FailedAt, &d.RepliedAt, &d.OptedOutAt, &d.UpdatedAt}, extra...)
}
