package whatsapp

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"

	"go.mau.fi/whatsmeow"
)

// messageIDNamespace makes the hashed input specific to this use, so the ids never collide
// with hashes of delivery ids made for anything else.
const messageIDNamespace = "crier/whatsapp/message-id/v1:"

// MessageID returns the WhatsApp message id of a delivery: "3EB0" followed by 18 uppercase
// hex digits of SHA-256(namespace, delivery id), 22 characters in all. That is the shape
// WhatsApp Web gives its own ids (whatsmeow's Client.GenerateMessageID: the "3EB0" prefix
// and 9 bytes of a hash), so the id is accepted like any web client's, and it is the same
// every time the delivery is sent, which lets WhatsApp and Crier recognise a retried send
// as the same message.
//
// A delivery id is unique per campaign run, so the id is too. Message ids are scoped to
// the sending account and chat; two databases whose delivery ids overlap (a wiped
// development database) would repeat ids on an account they share.
func MessageID(deliveryID int64) string {
	sum := sha256.Sum256([]byte(messageIDNamespace + strconv.FormatInt(deliveryID, 10)))
	return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// webMessageID matches the ids WhatsApp Web makes: "3EB0" and 18 uppercase hex digits
// (current) or 16 (the older random ids).
var webMessageID = regexp.MustCompile(`^3EB0(?:[0-9A-F]{16}|[0-9A-F]{18})$`)

// ValidMessageID reports whether id has the shape of a WhatsApp Web message id, as
// MessageID makes them. Send refuses any other id.
func ValidMessageID(id string) bool {
	return webMessageID.MatchString(id)
}
