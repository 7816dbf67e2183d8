package whatsappcloud

// The webhook side of the Cloud API, as pure functions: the request's signature, the
// GET handshake, and the POST body turned into neutral, typed items. No HTTP handler and
// no database here; httpapi mounts these and the workers act on the items.
//
// Shapes checked (search corpus, December 2026) against Meta's webhook references and
// copies of them: the message_template_status_update reference
// (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/message_template_status_update),
// the account_update reference (a mirror of developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/account_update),
// the phone_number_quality_update reference (a copy, "Updated: Nov 14, 2025": current_limit
// is announced for removal in February 2026 in favour of
// max_daily_conversations_per_business, so both are read), Meta's own sample messages and
// statuses payloads (text message, sent/delivered statuses with conversation and pricing),
// and the X-Hub-Signature-256 description quoted on Meta's developer forum ("sha256="
// then the hex HMAC-SHA256 of the payload with the app secret). Not confirmed from a
// primary source: the button and interactive inbound shapes and the failed status's
// errors[].error_data.details (third-party docs agree with the brief), the meaning of
// 131050 (third-party error lists: the recipient stopped marketing messages), and
// Meta's largest payload size (remembered as 3 MB, hence MaxWebhookBytes).

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the request header that carries a webhook body's signature.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// The errors of VerifySignature.
var (
	ErrNoAppSecret        = errors.New("whatsappcloud: webhook app secret is not configured")
	ErrSignatureMissing   = errors.New("whatsappcloud: webhook signature missing")
	ErrSignatureMalformed = errors.New("whatsappcloud: webhook signature malformed: want sha256=<64 hex digits>")
	ErrSignatureMismatch  = errors.New("whatsappcloud: webhook signature does not match the body")
)

// Sign returns the X-Hub-Signature-256 value Meta sends with body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with the app secret.
func Sign(appSecret, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(appSecret, body))
}

// VerifySignature checks header, the X-Hub-Signature-256 value, against the raw body.
// It returns ErrNoAppSecret when appSecret is empty (anyone can compute a keyless HMAC),
// ErrSignatureMissing, ErrSignatureMalformed or ErrSignatureMismatch; nil means the body
// comes from the app's owner. The comparison takes constant time.
func VerifySignature(appSecret, body []byte, header string) error {
	if len(appSecret) == 0 {
		return ErrNoAppSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	if len(header) != len(signaturePrefix)+2*sha256.Size ||
		!strings.EqualFold(header[:len(signaturePrefix)], signaturePrefix) {
		return ErrSignatureMalformed
	}
	got, err := hex.DecodeString(header[len(signaturePrefix):])
	if err != nil {
		return ErrSignatureMalformed
	}
	if !hmac.Equal(got, mac(appSecret, body)) {
		return ErrSignatureMismatch
	}
	return nil
}

func mac(key, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return h.Sum(nil)
}

// The errors of Handshake.
var (
	ErrHandshakeMode      = errors.New(`whatsappcloud: webhook handshake: hub.mode is not "subscribe"`)
	ErrHandshakeToken     = errors.New("whatsappcloud: webhook handshake: hub.verify_token does not match")
	ErrHandshakeChallenge = errors.New("whatsappcloud: webhook handshake: hub.challenge missing")
)

// Handshake answers Meta's GET verification of the callback URL: hub.mode must be
// "subscribe" and hub.verify_token equal to verifyToken (compared in constant time; an
// empty verifyToken matches nothing). It returns hub.challenge, which the handler writes
// back as the plain-text body, or ErrHandshakeMode, ErrHandshakeToken or
// ErrHandshakeChallenge.
func Handshake(query url.Values, verifyToken string) (challenge string, err error) {
	if query.Get("hub.mode") != "subscribe" {
		return "", ErrHandshakeMode
	}
	got := query.Get("hub.verify_token")
	if verifyToken == "" || subtle.ConstantTimeCompare([]byte(got), []byte(verifyToken)) != 1 {
		return "", ErrHandshakeToken
	}
	challenge = query.Get("hub.challenge")
	if challenge == "" {
		return "", ErrHandshakeChallenge
	}
	return challenge, nil
}

// Bounds on what ParseWebhook accepts.
const (
	// MaxWebhookBytes is the largest body ParseWebhook reads; the handler should cap its
	// reader at the same size.
	MaxWebhookBytes = 3 << 20
	// MaxWebhookItems is the most items one notification may carry.
	MaxWebhookItems = 10_000
)

// The errors of ParseWebhook. Each means the whole body is refused; a single item Crier
// cannot read is skipped and counted in Notification.Skipped instead, so that one odd
// item does not make Meta retry the whole delivery.
var (
	ErrWebhookTooLarge  = fmt.Errorf("whatsappcloud: webhook body over %d bytes", MaxWebhookBytes)
	ErrWebhookTooMany   = fmt.Errorf("whatsappcloud: webhook over %d items", MaxWebhookItems)
	ErrWebhookMalformed = errors.New("whatsappcloud: webhook body is not a valid notification")
	ErrWebhookObject    = errors.New(`whatsappcloud: webhook object is not "whatsapp_business_account"`)
)

// Notification is one webhook delivery, as neutral items. Meta retries a delivery it
// thinks failed, so each item has a DedupKey.
type Notification struct {
	Statuses  []StatusUpdate
	Inbound   []InboundMessage
	Account   []AccountEvent
	Templates []TemplateUpdate
	// Skipped counts the items of a known kind that could not be read (no id, a sender
	// that is not a phone number): for the handler to log, never an error.
	Skipped int
}

// Len returns the number of items.
func (n Notification) Len() int {
	return len(n.Statuses) + len(n.Inbound) + len(n.Account) + len(n.Templates)
}

// DedupKeys returns the de-duplication key of every item, in the order of the fields.
func (n Notification) DedupKeys() []string {
	keys := make([]string, 0, n.Len())
	for _, s := range n.Statuses {
		keys = append(keys, s.DedupKey())
	}
	for _, m := range n.Inbound {
		keys = append(keys, m.DedupKey())
	}
	for _, e := range n.Account {
		keys = append(keys, e.DedupKey())
	}
	for _, t := range n.Templates {
		keys = append(keys, t.DedupKey())
	}
	return keys
}

// DeliveryStatus is the state a status notification reports for an outbound message.
type DeliveryStatus string

// The delivery statuses Crier reads; others ("deleted", "warning") are ignored.
const (
	StatusSent      DeliveryStatus = "sent"
	StatusDelivered DeliveryStatus = "delivered"
	StatusRead      DeliveryStatus = "read"
	StatusFailed    DeliveryStatus = "failed"
)

// StatusUpdate is a receipt for an outbound message.
type StatusUpdate struct {
	WABAID        string // the WhatsApp Business Account (entry.id)
	PhoneNumberID string // the business number that sent the message
	MessageID     string // Meta's id of the outbound message (wamid)
	Status        DeliveryStatus
	At            time.Time // zero when Meta sent no readable timestamp
	Recipient     string    // the customer, E.164; empty when Meta's value is not a number
	// CallbackData is the biz_opaque_callback_data the message was sent with: Crier's
	// message id, so that a status names the attempt even when Meta's answer was lost.
	CallbackData string
	// The first of a failed status's errors; zero and empty otherwise.
	ErrorCode   int
	ErrorTitle  string
	ErrorDetail string // error_data.details, else message
}

// DedupKey identifies the update across Meta's retries: one message passes through each
// status once.
func (s StatusUpdate) DedupKey() string { return "status:" + s.MessageID + ":" + string(s.Status) }

// OptedOut reports whether the failure says the recipient stopped marketing messages
// from the business (131050, the code of ErrMarketingOptOut).
func (s StatusUpdate) OptedOut() bool {
	return s.Status == StatusFailed && s.ErrorCode == codeMarketingOptOut
}

// InboundType is the kind of an inbound message Crier reads.
type InboundType string

// The inbound types Crier reads; media, reactions, locations and others are ignored.
const (
	InboundText        InboundType = "text"
	InboundButton      InboundType = "button"      // a quick-reply button of a template
	InboundInteractive InboundType = "interactive" // a reply button or list row of an interactive message
)

// InboundMessage is a customer's message to a business number.
type InboundMessage struct {
	WABAID        string
	PhoneNumberID string // the business number written to
	From          string // the customer, E.164
	ProviderID    string // Meta's id of the message (wamid), for de-duplication
	At            time.Time
	Type          InboundType
	Text          string // what the customer saw and sent: the body, or the button's title
	Payload       string // button: the template button's payload; interactive: the reply's id
}

// DedupKey identifies the message across Meta's retries.
func (m InboundMessage) DedupKey() string { return "inbound:" + m.ProviderID }

// AccountField is the webhook field of an account event.
type AccountField string

// The account fields Crier reads.
const (
	FieldQualityUpdate AccountField = "phone_number_quality_update"
	FieldAccountUpdate AccountField = "account_update"
)

// AccountEvent is a change to the business account or one of its numbers.
type AccountEvent struct {
	Field  AccountField
	WABAID string
	At     time.Time // entry.time
	Event  string    // FLAGGED, UNFLAGGED, DOWNGRADE, UPGRADE, ONBOARDING, THROUGHPUT_UPGRADE; DISABLED_UPDATE, ACCOUNT_VIOLATION, ACCOUNT_RESTRICTION, …

	// phone_number_quality_update
	DisplayPhoneNumber string
	// CurrentLimit is current_limit, or max_daily_conversations_per_business where Meta
	// sends only that (current_limit is being retired): TIER_250, TIER_1K, TIER_UNLIMITED…
	CurrentLimit string
	OldLimit     string

	// account_update
	BanState      string // ban_info.waba_ban_state (DISABLED_UPDATE)
	BanDate       string // ban_info.waba_ban_date, as Meta writes it
	ViolationType string // violation_info.violation_type (ACCOUNT_VIOLATION)
	// Restrictions are restriction_info[].restriction_type (ACCOUNT_RESTRICTION), e.g.
	// RESTRICTED_BIZ_INITIATED_MESSAGING.
	Restrictions []string
}

// DedupKey identifies the event across Meta's retries. Meta gives account events no id,
// so the key is what the event says and when.
func (e AccountEvent) DedupKey() string {
	return "account:" + string(e.Field) + ":" + e.WABAID + ":" + e.DisplayPhoneNumber + ":" +
		e.Event + ":" + e.CurrentLimit + ":" + unixKey(e.At)
}

// TemplateUpdate is a change to a message template's status.
type TemplateUpdate struct {
	WABAID     string
	At         time.Time // entry.time
	TemplateID string
	Name       string
	Language   string
	Event      TemplateStatus // the new status: the TemplateStatus constants, or FLAGGED, ARCHIVED, …
	Reason     string         // REJECTED: INVALID_FORMAT, PROMOTIONAL, …; "NONE" or empty otherwise
	Category   TemplateCategory
}

// DedupKey identifies the update across Meta's retries.
func (t TemplateUpdate) DedupKey() string {
	return "template:" + t.TemplateID + ":" + string(t.Event) + ":" + unixKey(t.At)
}

func unixKey(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// ParseWebhook reads a webhook POST body. Unknown fields, unknown change fields and
// unknown message or status types are ignored; an item of a known kind that cannot be
// read is counted in Skipped. It returns ErrWebhookTooLarge, ErrWebhookMalformed (bad
// JSON or envelope), ErrWebhookObject or ErrWebhookTooMany, and never panics.
func ParseWebhook(body []byte) (Notification, error) {
	if len(body) > MaxWebhookBytes {
		return Notification{}, ErrWebhookTooLarge
	}
	var env struct {
		Object string `json:"object"`
		Entry  []struct {
			ID      flexString `json:"id"`
			Time    unixTime   `json:"time"`
			Changes []struct {
				Field string          `json:"field"`
				Value json.RawMessage `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Notification{}, fmt.Errorf("%w: %w", ErrWebhookMalformed, err)
	}
	if env.Object != "whatsapp_business_account" {
		return Notification{}, ErrWebhookObject
	}
	var n Notification
	for _, e := range env.Entry {
		for _, c := range e.Changes {
			if len(c.Value) == 0 {
				continue
			}
			var err error
			switch c.Field {
			case "messages":
				err = n.addMessages(string(e.ID), c.Value)
			case string(FieldQualityUpdate), string(FieldAccountUpdate):
				err = n.addAccount(AccountField(c.Field), string(e.ID), e.Time.t, c.Value)
			case "message_template_status_update":
				err = n.addTemplate(string(e.ID), e.Time.t, c.Value)
			}
			if err != nil {
				n.Skipped++
			}
			if n.Len()+n.Skipped > MaxWebhookItems {
				return Notification{}, ErrWebhookTooMany
			}
		}
	}
	return n, nil
}

// errUnreadable marks a change or item skipped; it never leaves the package.
var errUnreadable = errors.New("unreadable")

func (n *Notification) addMessages(wabaID string, raw json.RawMessage) error {
	var v struct {
		Metadata struct {
			PhoneNumberID flexString `json:"phone_number_id"`
		} `json:"metadata"`
		Messages []struct {
			From      flexString `json:"from"`
			ID        string     `json:"id"`
			Timestamp unixTime   `json:"timestamp"`
			Type      string     `json:"type"`
			Text      struct {
				Body string `json:"body"`
			} `json:"text"`
			Button struct {
				Text    string `json:"text"`
				Payload string `json:"payload"`
			} `json:"button"`
			Interactive struct {
				Type        string `json:"type"`
				ButtonReply struct {
					ID    string `json:"id"`
					Title string `json:"title"`
				} `json:"button_reply"`
				ListReply struct {
					ID    string `json:"id"`
					Title string `json:"title"`
				} `json:"list_reply"`
			} `json:"interactive"`
		} `json:"messages"`
		Statuses []struct {
			ID          string     `json:"id"`
			Status      string     `json:"status"`
			Timestamp   unixTime   `json:"timestamp"`
			RecipientID flexString `json:"recipient_id"`
			Callback    string     `json:"biz_opaque_callback_data"`
			Errors      []struct {
				Code      int    `json:"code"`
				Title     string `json:"title"`
				Message   string `json:"message"`
				ErrorData struct {
					Details string `json:"details"`
				} `json:"error_data"`
			} `json:"errors"`
		} `json:"statuses"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return errUnreadable
	}
	phoneID := string(v.Metadata.PhoneNumberID)
	for _, m := range v.Messages {
		in := InboundMessage{
			WABAID: wabaID, PhoneNumberID: phoneID, ProviderID: m.ID, At: m.Timestamp.t,
			Type: InboundType(m.Type),
		}
		switch in.Type {
		case InboundText:
			in.Text = m.Text.Body
		case InboundButton:
			in.Text, in.Payload = m.Button.Text, m.Button.Payload
		case InboundInteractive:
			switch m.Interactive.Type {
			case "button_reply":
				in.Text, in.Payload = m.Interactive.ButtonReply.Title, m.Interactive.ButtonReply.ID
			case "list_reply":
				in.Text, in.Payload = m.Interactive.ListReply.Title, m.Interactive.ListReply.ID
			default:
				continue
			}
		default:
			continue
		}
		from, ok := e164(string(m.From))
		if !ok || m.ID == "" {
			n.Skipped++
			continue
		}
		in.From = from
		n.Inbound = append(n.Inbound, in)
	}
	for _, s := range v.Statuses {
		st := StatusUpdate{
			WABAID: wabaID, PhoneNumberID: phoneID, MessageID: s.ID,
			Status: DeliveryStatus(s.Status), At: s.Timestamp.t, CallbackData: s.Callback,
		}
		switch st.Status {
		case StatusSent, StatusDelivered, StatusRead, StatusFailed:
		default:
			continue
		}
		if st.MessageID == "" {
			n.Skipped++
			continue
		}
		st.Recipient, _ = e164(string(s.RecipientID))
		if st.Status == StatusFailed && len(s.Errors) > 0 {
			e := s.Errors[0]
			st.ErrorCode, st.ErrorTitle, st.ErrorDetail = e.Code, e.Title, e.ErrorData.Details
			if st.ErrorDetail == "" {
				st.ErrorDetail = e.Message
			}
		}
		n.Statuses = append(n.Statuses, st)
	}
	return nil
}

func (n *Notification) addAccount(field AccountField, wabaID string, at time.Time, raw json.RawMessage) error {
	var v struct {
		DisplayPhoneNumber flexString `json:"display_phone_number"`
		Event              string     `json:"event"`
		CurrentLimit       string     `json:"current_limit"`
		MaxDaily           string     `json:"max_daily_conversations_per_business"`
		OldLimit           string     `json:"old_limit"`
		BanInfo            struct {
			State string `json:"waba_ban_state"`
			Date  string `json:"waba_ban_date"`
		} `json:"ban_info"`
		ViolationInfo struct {
			Type string `json:"violation_type"`
		} `json:"violation_info"`
		// Read apart: a restriction_info of another shape must not lose the event.
		RestrictionInfo json.RawMessage `json:"restriction_info"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Event == "" {
		return errUnreadable
	}
	ev := AccountEvent{Field: field, WABAID: wabaID, At: at, Event: v.Event}
	if field == FieldQualityUpdate {
		ev.DisplayPhoneNumber = string(v.DisplayPhoneNumber)
		ev.CurrentLimit, ev.OldLimit = v.CurrentLimit, v.OldLimit
		if ev.CurrentLimit == "" {
			ev.CurrentLimit = v.MaxDaily
		}
	} else {
		ev.BanState, ev.BanDate = v.BanInfo.State, v.BanInfo.Date
		ev.ViolationType = v.ViolationInfo.Type
		var restrictions []struct {
			Type string `json:"restriction_type"`
		}
		_ = json.Unmarshal(v.RestrictionInfo, &restrictions)
		for _, r := range restrictions {
			if r.Type != "" {
				ev.Restrictions = append(ev.Restrictions, r.Type)
			}
		}
	}
	n.Account = append(n.Account, ev)
	return nil
}

func (n *Notification) addTemplate(wabaID string, at time.Time, raw json.RawMessage) error {
	var v struct {
		Event    string     `json:"event"`
		ID       flexString `json:"message_template_id"`
		Name     string     `json:"message_template_name"`
		Language string     `json:"message_template_language"`
		Reason   *string    `json:"reason"` // null when the template is scheduled for deletion
		Category string     `json:"message_template_category"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Event == "" || v.ID == "" {
		return errUnreadable
	}
	t := TemplateUpdate{
		WABAID: wabaID, At: at, TemplateID: string(v.ID), Name: v.Name, Language: v.Language,
		Event: TemplateStatus(v.Event), Category: TemplateCategory(v.Category),
	}
	if v.Reason != nil {
		t.Reason = *v.Reason
	}
	n.Templates = append(n.Templates, t)
	return nil
}

// e164 turns Meta's wa_id (country code and number, digits only) into E.164.
func e164(waID string) (string, bool) {
	if s := "+" + waID; validE164(s) {
		return s, true
	}
	return "", false
}

// flexString reads a JSON string or number (Meta writes ids and numbers either way) and
// leaves anything else empty rather than failing the whole body.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var v string
		if json.Unmarshal(b, &v) == nil {
			*s = flexString(v)
		}
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*s = flexString(b)
	}
	return nil
}

// unixTime reads unix seconds, as a string (messages, statuses) or a number
// (entry.time). Anything unreadable, or outside years 1970 to 9999, is the zero time.
type unixTime struct{ t time.Time }

// maxUnix is the last second of year 9999, the last that RFC 3339 can write.
const maxUnix = 253402300799

func (u *unixTime) UnmarshalJSON(b []byte) error {
	var s flexString
	_ = s.UnmarshalJSON(b)
	if sec, err := strconv.ParseInt(string(s), 10, 64); err == nil && sec > 0 && sec <= maxUnix {
		u.t = time.Unix(sec, 0).UTC()
	}
	return nil
}
