package campaigns

import "time"

// DeliveryStatus is where one message to one recipient of one run stands.
type DeliveryStatus string

// The delivery statuses (migrations/00006_campaigns.sql).
const (
	Queued    DeliveryStatus = "queued"    // materialised at launch, waiting for its due time
	Sending   DeliveryStatus = "sending"   // a worker holds it; resolved by the reconciler if the worker dies
	Sent      DeliveryStatus = "sent"      // the network accepted it
	Delivered DeliveryStatus = "delivered" // on the recipient's phone
	Read      DeliveryStatus = "read"      // read by the recipient
	Failed    DeliveryStatus = "failed"    // permanently failed (at send time or by a failed receipt)
	Skipped   DeliveryStatus = "skipped"   // never sent, with SkipReason (at launch or at send time)
	Cancelled DeliveryStatus = "cancelled" // the contact opted out, or the campaign was cancelled
	Expired   DeliveryStatus = "expired"   // not sent within its TTL; never sent late
)

// Final reports whether nothing more will be sent for a delivery in status s. (A final
// delivery may still move forward by receipts: sent → delivered → read.)
func (s DeliveryStatus) Final() bool { return s != Queued && s != Sending }

// Pending reports whether the delivery may still be sent.
func (s DeliveryStatus) Pending() bool { return s == Queued || s == Sending }

// Skip reasons: why a recipient of a run gets no message. Launch records the first five
// of consent.Exclusion's reasons as they come; the others are Crier's own.
const (
	SkipFrequencyCapped   = "frequency_capped"   // the contact got the cap's number of marketing messages in the window
	SkipExcludedTag       = "excluded_tag"       // matched the audience but has an excluded tag
	SkipLocalTimePassed   = "local_time_passed"  // a local-time campaign set to skip recipients whose time has passed
	SkipOptedOut          = "opted_out"          // opted out after launch (cancelled at once, or re-checked at send time)
	SkipCampaignCancelled = "campaign_cancelled" // the campaign was cancelled before it was sent
	SkipNoAccount         = "no_account"         // none of the campaign's accounts can send any more
)

// Delivery is one message to one recipient in one campaign run.
type Delivery struct {
	ID          int64          `json:"id"`
	RunID       int64          `json:"run_id"`
	CampaignID  int64          `json:"campaign_id"`
	ContactID   *int64         `json:"contact_id"` // nil once the contact is deleted or erased
	Status      DeliveryStatus `json:"status"`
	SkipReason  string         `json:"skip_reason,omitempty"`
	DueAt       time.Time      `json:"due_at"`
	Attempts    int            `json:"attempts"`
	AccountID   *int64         `json:"account_id,omitempty"`
	Variant     *int           `json:"variant,omitempty"`
	Locale      string         `json:"locale,omitempty"`
	MessageID   string         `json:"message_id,omitempty"`
	ProviderID  string         `json:"provider_id,omitempty"`
	Rendered    string         `json:"rendered,omitempty"` // the text as sent (personal data)
	Error       string         `json:"error,omitempty"`
	SentAt      *time.Time     `json:"sent_at,omitempty"`
	DeliveredAt *time.Time     `json:"delivered_at,omitempty"`
	ReadAt      *time.Time     `json:"read_at,omitempty"`
	FailedAt    *time.Time     `json:"failed_at,omitempty"`
	RepliedAt   *time.Time     `json:"replied_at,omitempty"`
	OptedOutAt  *time.Time     `json:"opted_out_at,omitempty"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// deliveryColumns selects a Delivery from deliveries aliased d, in the order of
// Delivery.fields: the send path, the deliveries list and the export all read it so.
const deliveryColumns = `d.id, d.run_id, d.campaign_id, d.contact_id, d.status, coalesce(d.skip_reason, ''),
	d.due_at, d.attempts, d.account_id, d.variant, coalesce(d.locale, ''), coalesce(d.message_id, ''),
	coalesce(d.provider_id, ''), coalesce(d.rendered, ''), coalesce(d.error, ''), d.sent_at, d.delivered_at,
	d.read_at, d.failed_at, d.replied_at, d.opted_out_at, d.updated_at`

// fields are the scan destinations of deliveryColumns, followed by extra.
func (d *Delivery) fields(extra ...any) []any {
	return append([]any{&d.ID, &d.RunID, &d.CampaignID, &d.ContactID, &d.Status, &d.SkipReason, &d.DueAt, &d.Attempts,
		&d.AccountID, &d.Variant, &d.Locale, &d.MessageID, &d.ProviderID, &d.Rendered, &d.Error, &d.SentAt,
		&d.DeliveredAt, &d.ReadAt, &d.FailedAt, &d.RepliedAt, &d.OptedOutAt, &d.UpdatedAt}, extra...)
}
