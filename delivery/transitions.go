package delivery

// move names one transition of the state machine: a Settle outcome, a set-based step of
// Sends, a receipt, or a cancellation that campaigns makes.
type move string

// The moves.
const (
	// Settle's outcomes.
	moveFailed   move = "Failed"
	moveSkipped  move = "Skipped"
	moveExpired  move = "Expired"
	moveReleased move = "Released"
	moveParked   move = "Parked"
	// The set-based steps of Sends.
	moveClaim         move = "ClaimMany" // also takes back a sending delivery whose worker died
	moveMarkSent      move = "MarkSentMany"
	moveExpireOverdue move = "ExpireOverdue"
	moveReleaseStuck  move = "ReleaseStuck" // sending since before a time
	// The receipts (ApplyReceipts), forward only.
	moveReceiptDelivered move = "receipt delivered"
	moveReceiptRead      move = "receipt read"
	moveReceiptFailed    move = "receipt failed"
	// The cancellations, by campaigns: a contact's opt-out (Service.CancelPending) and a
	// cancelled campaign (Service.Cancel).
	moveCancelPending  move = "campaigns.CancelPending"
	moveCancelCampaign move = "campaigns.Cancel"
)

// transition is one move: the statuses it takes a delivery from, the status it leaves it
// in, and, for Settle's outcomes, the statement and the event.
type transition struct {
	from    []Status
	to      Status
	receipt bool   // a receipt's move forward: the only moves from a final status
	settle  string // Settle's statement; "" for the others
	event   string // the delivery_events kind Settle appends; "" for none
}

var pending = []Status{StatusQueued, StatusSending}

// transitions is the state machine, as data: every move of a delivery's status that Go code
// makes, from where to where. (Two more cancel a contact's queued deliveries as
// moveCancelPending does: its erasure, campaigns/privacy.go, and the trigger that runs when
// a contact is deleted, migrations/00006_campaigns.sql.) A test makes each move against a delivery in every status and checks that it
// moves the ones the table lists and leaves every other as it was (Settle: with
// ErrDeliveryFinal), and that only receipts move a final delivery, and only forward.
var transitions = map[move]transition{
	moveFailed:   {from: pending, to: StatusFailed, settle: settleFailed, event: "failed"},
	moveSkipped:  {from: pending, to: StatusSkipped, settle: settleSkipped, event: "skipped"},
	moveExpired:  {from: pending, to: StatusExpired, settle: settleExpired, event: "expired"},
	moveReleased: {from: []Status{StatusSending}, to: StatusQueued, settle: settleReleased},
	moveParked:   {from: pending, to: StatusQueued, settle: settleParked},

	moveClaim:         {from: pending, to: StatusSending}, // sending: only once stale
	moveMarkSent:      {from: []Status{StatusSending}, to: StatusSent},
	moveExpireOverdue: {from: []Status{StatusQueued}, to: StatusExpired},
	moveReleaseStuck:  {from: []Status{StatusSending}, to: StatusQueued},

	moveReceiptDelivered: {from: []Status{StatusSent}, to: StatusDelivered, receipt: true},
	moveReceiptRead:      {from: []Status{StatusSent, StatusDelivered, StatusFailed}, to: StatusRead, receipt: true}, // a read message was not lost after all
	moveReceiptFailed:    {from: []Status{StatusSent}, to: StatusFailed, receipt: true},

	moveCancelPending:  {from: []Status{StatusQueued}, to: StatusCancelled},
	moveCancelCampaign: {from: []Status{StatusQueued}, to: StatusCancelled},
}
