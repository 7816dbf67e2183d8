package whatsapp

import "regexp"

// webMessageID matches the ids WhatsApp Web makes: "3EB0" and 18 uppercase hex digits
// (current) or 16 (the older random ids).
var webMessageID = regexp.MustCompile(`^3EB0(?:[0-9A-F]{16}|[0-9A-F]{18})$`)

// ValidMessageID reports whether id has the shape of a WhatsApp Web message id, which
// WhatsApp accepts like any web client's. Send refuses any other id. A delivery's id comes
// from msgid.Of, which makes that shape, so that a retried send is the same message to
// WhatsApp and to Crier.
func ValidMessageID(id string) bool {
	return webMessageID.MatchString(id)
}
