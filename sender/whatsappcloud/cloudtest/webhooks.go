package cloudtest

// Webhook bodies as Meta sends them to the callback URL, for the server's number and
// business account. The shapes follow Meta's webhook references as
// sender/whatsappcloud/webhook.go reads them (and its testdata/webhooks): the messages
// field with metadata, contacts, messages or statuses (with conversation and pricing for
// sent and delivered, errors for failed), phone_number_quality_update and account_update.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sign returns the X-Hub-Signature-256 value Meta sends with body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with the app secret.
func Sign(appSecret string, body []byte) string {
	h := hmac.New(sha256.New, []byte(appSecret))
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// Sign signs body with the server's app secret (Options.AppSecret).
func (s *Server) Sign(body []byte) string { return Sign(s.opts.AppSecret, body) }

// Status is one status notification of an outbound message.
type Status struct {
	WAMID        string    // Meta's id of the message
	Status       string    // "sent", "delivered", "read" or "failed"
	Recipient    string    // the customer, E.164 (the + is dropped, as Meta writes wa_ids)
	CallbackData string    // the biz_opaque_callback_data the message was sent with
	At           time.Time // default: now
	// A failed status's error; Meta's title is also its message and details unless set.
	ErrorCode    int
	ErrorTitle   string
	ErrorDetails string
}

// StatusOf returns a status of an accepted message, with its wamid, recipient and
// callback data.
func StatusOf(m Message, status string) Status {
	return Status{WAMID: m.WAMID, Status: status, Recipient: m.To, CallbackData: m.CallbackData}
}

// Failed returns a failed status of an accepted message with Meta's error code and
// details.
func Failed(m Message, code int, details string) Status {
	st := StatusOf(m, "failed")
	st.ErrorCode, st.ErrorTitle, st.ErrorDetails = code, details, details
	return st
}

// Inbound is a customer's message to the server's number.
type Inbound struct {
	From  string // the customer, E.164
	WAMID string // default: a new one
	Text  string // a text message's body
	// Button, when set, makes it a template's quick-reply button press ("button") with
	// this text and Payload instead of a text message.
	Button  string
	Payload string
	Name    string    // the customer's profile name; default "Customer"
	At      time.Time // default: now
}

// QualityUpdate is a phone_number_quality_update of the server's number.
type QualityUpdate struct {
	Event        string // FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE…
	CurrentLimit string // TIER_250, TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED…
	OldLimit     string
	At           time.Time // default: now
}

// AccountUpdate is an account_update of the server's business account.
type AccountUpdate struct {
	Event         string   // ACCOUNT_VIOLATION, ACCOUNT_RESTRICTION, DISABLED_UPDATE…
	BanState      string   // DISABLED_UPDATE: DISABLE, REINSTATE, SCHEDULE_FOR_DISABLE
	ViolationType string   // ACCOUNT_VIOLATION: e.g. SCAM
	Restrictions  []string // ACCOUNT_RESTRICTION: e.g. RESTRICTED_BIZ_INITIATED_MESSAGING
	At            time.Time
}

type obj = map[string]any

// StatusWebhook returns a notification of statuses of the server's number's messages.
func (s *Server) StatusWebhook(sts ...Status) []byte {
	list := make([]obj, len(sts))
	for i, st := range sts {
		v := obj{
			"id":           st.WAMID,
			"status":       st.Status,
			"timestamp":    unixString(st.At),
			"recipient_id": strings.TrimPrefix(st.Recipient, "+"),
		}
		if st.CallbackData != "" {
			v["biz_opaque_callback_data"] = st.CallbackData
		}
		switch st.Status {
		case "sent", "delivered":
			v["conversation"] = obj{"id": "conv-" + st.WAMID, "origin": obj{"type": "marketing"}}
			v["pricing"] = obj{"billable": true, "pricing_model": "PMP", "category": "marketing"}
		case "failed":
			title := st.ErrorTitle
			if title == "" {
				title = fmt.Sprintf("error %d", st.ErrorCode)
			}
			details := st.ErrorDetails
			if details == "" {
				details = title
			}
			v["errors"] = []obj{{
				"code": st.ErrorCode, "title": title, "message": title,
				"error_data": obj{"details": details},
				"href":       "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
			}}
		}
		list[i] = v
	}
	return s.messagesWebhook(obj{"statuses": list})
}

// InboundWebhook returns a notification of customers' messages to the server's number.
func (s *Server) InboundWebhook(msgs ...Inbound) []byte {
	contacts := make([]obj, len(msgs))
	list := make([]obj, len(msgs))
	for i, m := range msgs {
		waID := strings.TrimPrefix(m.From, "+")
		name := m.Name
		if name == "" {
			name = "Customer"
		}
		id := m.WAMID
		if id == "" {
			s.mu.Lock()
			s.seq++
			id = "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "crier-fake-in-%d", s.seq))
			s.mu.Unlock()
		}
		contacts[i] = obj{"profile": obj{"name": name}, "wa_id": waID}
		v := obj{"from": waID, "id": id, "timestamp": unixString(m.At)}
		if m.Button != "" {
			v["type"], v["button"] = "button", obj{"text": m.Button, "payload": m.Payload}
		} else {
			v["type"], v["text"] = "text", obj{"body": m.Text}
		}
		list[i] = v
	}
	return s.messagesWebhook(obj{"contacts": contacts, "messages": list})
}

// QualityWebhook returns a phone_number_quality_update of the server's number. Meta
// sends the limit both as current_limit and as max_daily_conversations_per_business,
// which replaces it.
func (s *Server) QualityWebhook(q QualityUpdate) []byte {
	v := obj{"display_phone_number": s.displayDigits(), "event": q.Event,
		"current_limit": q.CurrentLimit, "max_daily_conversations_per_business": q.CurrentLimit}
	if q.OldLimit != "" {
		v["old_limit"] = q.OldLimit
	}
	return s.webhook("phone_number_quality_update", q.At, v)
}

// AccountWebhook returns an account_update of the server's business account.
func (s *Server) AccountWebhook(a AccountUpdate) []byte {
	v := obj{"event": a.Event}
	if a.BanState != "" {
		v["ban_info"] = obj{"waba_ban_state": a.BanState, "waba_ban_date": "February 12, 2025"}
	}
	if a.ViolationType != "" {
		v["violation_info"] = obj{"violation_type": a.ViolationType}
	}
	if len(a.Restrictions) > 0 {
		rs := make([]obj, len(a.Restrictions))
		for i, r := range a.Restrictions {
			rs[i] = obj{"restriction_type": r, "expiration": "2026-04-19T13:59:20+0000"}
		}
		v["restriction_info"] = rs
	}
	return s.webhook("account_update", a.At, v)
}

func (s *Server) messagesWebhook(v obj) []byte {
	v["messaging_product"] = "whatsapp"
	v["metadata"] = obj{"display_phone_number": s.displayDigits(), "phone_number_id": s.opts.PhoneNumberID}
	return s.webhook("messages", time.Time{}, v)
}

// webhook wraps one change in Meta's envelope; at, when set, is the entry's time.
func (s *Server) webhook(field string, at time.Time, value obj) []byte {
	entry := obj{"id": s.opts.WABAID, "changes": []obj{{"value": value, "field": field}}}
	if field != "messages" {
		if at.IsZero() {
			at = time.Now()
		}
		entry["time"] = at.Unix()
	}
	b, err := json.Marshal(obj{"object": "whatsapp_business_account", "entry": []obj{entry}})
	if err != nil {
		panic(err) // maps of strings and numbers: cannot fail
	}
	return b
}

// displayDigits is the display number as Meta writes it in webhooks: digits only.
func (s *Server) displayDigits() string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s.opts.DisplayPhoneNumber)
}

func unixString(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return strconv.FormatInt(t.Unix(), 10)
}
