package webhooks

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// EventType names what happened, as receivers see it in the "type" field and the
// Crier-Event-Type header.
type EventType string

// The event types an endpoint may subscribe to.
const (
	MessageSent       EventType = "message.sent"
	MessageDelivered  EventType = "message.delivered"
	MessageRead       EventType = "message.read"
	MessageFailed     EventType = "message.failed"
	MessageReplied    EventType = "message.replied"
	ContactOptedOut   EventType = "contact.opted_out"
	ContactOptedIn    EventType = "contact.opted_in"
	CampaignCompleted EventType = "campaign.completed"
	ImportCompleted   EventType = "import.completed"
)

// EventTypes are every event type, in the order the docs list them.
var EventTypes = []EventType{MessageSent, MessageDelivered, MessageRead, MessageFailed, MessageReplied,
	ContactOptedOut, ContactOptedIn, CampaignCompleted, ImportCompleted}

// Valid reports whether t is an event type Crier sends.
func (t EventType) Valid() bool { return slices.Contains(EventTypes, t) }

// Event is the body of every webhook POST: {"id","type","occurred_at","data"}. ID is
// derived from the row that recorded the event, so a receiver can drop a repeat.
type Event struct {
	ID         string          `json:"id"`
	Type       EventType       `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// MessageData is the data of the message.* events. Phone, Text and Error are personal
// data: only endpoints with include_pii receive them (Text is the message as sent, or for
// message.replied the customer's reply).
type MessageData struct {
	DeliveryID int64   `json:"delivery_id"`
	CampaignID int64   `json:"campaign_id"`
	RunID      int64   `json:"run_id"`
	ContactID  *int64  `json:"contact_id"`
	AccountID  *int64  `json:"account_id"`
	Phone      *string `json:"phone,omitempty"`
	Text       *string `json:"text,omitempty"`
	Error      *string `json:"error,omitempty"`
}

// ContactData is the data of contact.opted_out and contact.opted_in: one consent ledger
// entry. Phone is personal data.
type ContactData struct {
	ContactID int64   `json:"contact_id"`
	LedgerID  int64   `json:"ledger_id"`
	Channel   string  `json:"channel"`
	Purpose   string  `json:"purpose"`
	Source    string  `json:"source"`
	Phone     *string `json:"phone,omitempty"`
}

// CampaignData is the data of campaign.completed: one run of a campaign.
type CampaignData struct {
	CampaignID int64 `json:"campaign_id"`
	RunID      int64 `json:"run_id"`
	Matched    int64 `json:"matched"`
	Eligible   int64 `json:"eligible"`
}

// ImportData is the data of import.completed: a CSV import that ended, done or failed.
type ImportData struct {
	ImportID   int64  `json:"import_id"`
	Status     string `json:"status"`
	Rows       int64  `json:"rows"`
	Created    int64  `json:"created"`
	Updated    int64  `json:"updated"`
	Unchanged  int64  `json:"unchanged"`
	Rejected   int64  `json:"rejected"`
	Duplicates int64  `json:"duplicates"`
}

// body is the exact bytes sent for a stored payload: the fields in their documented
// order, compact. The stored jsonb has lost its key order, so it is re-encoded here.
func body(stored []byte) ([]byte, error) {
	var e Event
	if err := json.Unmarshal(stored, &e); err != nil {
		return nil, err
	}
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.UseNumber() // ids stay exact
	if err := dec.Decode(&data); err != nil {
		return nil, err
	}
	d, err := json.Marshal(data) // keys sorted: the same bytes for a retry and a replay
	if err != nil {
		return nil, err
	}
	e.Data = d
	return json.Marshal(e)
}
