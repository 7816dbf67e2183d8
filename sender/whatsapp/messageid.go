package whatsapp

import (
	"regexp"

	"github.com/crierhq/crier/internal/msgid"
)

// MessageID returns the WhatsApp message id of a delivery (msgid.Of): "3EB0" followed by
// 16 uppercase hex digits, 20 characters in all, from which the delivery id can be read
// back. That is a shape WhatsApp Web gives its own ids (whatsmeow's GenerateMessageID makes
// it), so the id is accepted like any web client's, and it is the same every time the
// delivery is sent, which lets WhatsApp and Crier recognise a retried send as the same
// message.
//
// Message ids are scoped to the sending account and chat; two databases whose delivery ids
// overlap (a wiped development database) would repeat ids on an account they share.
// Deliveries sent before Crier's migration 00010 have ids of 18 digits, a hash of the
// delivery id; their receipts are still found (campaigns.Sends.ApplyReceipts).
func MessageID(deliveryID int64) string { return msgid.Of(deliveryID) }

// webMessageID matches the ids WhatsApp Web makes: "3EB0" and 18 uppercase hex digits
// (current) or 16 (the older random ids).
var webMessageID = regexp.MustCompile(`^3EB0(?:[0-9A-F]{16}|[0-9A-F]{18})$`)

// ValidMessageID reports whether id has the shape of a WhatsApp Web message id, as
// MessageID makes them. Send refuses any other id.
func ValidMessageID(id string) bool {
	return webMessageID.MatchString(id)
}
