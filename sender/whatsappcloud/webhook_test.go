package whatsappcloud

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	secret := []byte("app-secret")
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	good := Sign(secret, body)
	// TestSignKnownValue checks Sign against RFC 4231, so Sign and VerifySignature cannot
	// be wrong in the same way.
	require.Equal(t, "sha256=", good[:7])
	require.Len(t, good, 7+64)

	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   error
	}{
		{"right", secret, body, good, nil},
		{"upper-case hex and prefix", secret, body, "SHA256=" + strings.ToUpper(good[7:]), nil},
		{"surrounding spaces", secret, body, " " + good + " ", nil},
		{"wrong secret", []byte("other-secret"), body, good, ErrSignatureMismatch},
		{"tampered body", secret, append(bytes.Clone(body), ' '), good, ErrSignatureMismatch},
		{"missing", secret, body, "", ErrSignatureMissing},
		{"no prefix", secret, body, good[7:], ErrSignatureMalformed},
		{"sha1 prefix", secret, body, "sha1=" + good[7:], ErrSignatureMalformed},
		{"short", secret, body, good[:len(good)-2], ErrSignatureMalformed},
		{"long", secret, body, good + "00", ErrSignatureMalformed},
		{"not hex", secret, body, "sha256=" + strings.Repeat("zz", 32), ErrSignatureMalformed},
		{"no secret", nil, body, good, ErrNoAppSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, VerifySignature(tt.secret, tt.body, tt.header), tt.want)
			if tt.want == nil {
				require.NoError(t, VerifySignature(tt.secret, tt.body, tt.header))
			}
		})
	}
}

func TestSignKnownValue(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?").
	require.Equal(t,
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		Sign([]byte("Jefe"), []byte("what do ya want for nothing?")))
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	q := func(mode, token, challenge string) url.Values {
		v := url.Values{}
		for k, s := range map[string]string{"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge} {
			if s != "" {
				v.Set(k, s)
			}
		}
		return v
	}
	tests := []struct {
		name  string
		query url.Values
		ours  string
		want  string
		err   error
	}{
		{"ok", q("subscribe", "tok-123", "1158201444"), "tok-123", "1158201444", nil},
		{"wrong token", q("subscribe", "tok-124", "1158201444"), "tok-123", "", ErrHandshakeToken},
		{"token prefix", q("subscribe", "tok-12", "1158201444"), "tok-123", "", ErrHandshakeToken},
		{"missing token", q("subscribe", "", "1158201444"), "tok-123", "", ErrHandshakeToken},
		{"ours empty", q("subscribe", "", "1158201444"), "", "", ErrHandshakeToken},
		{"wrong mode", q("unsubscribe", "tok-123", "1158201444"), "tok-123", "", ErrHandshakeMode},
		{"no mode", q("", "tok-123", "1158201444"), "tok-123", "", ErrHandshakeMode},
		{"no challenge", q("subscribe", "tok-123", ""), "tok-123", "", ErrHandshakeChallenge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Handshake(tt.query, tt.ours)
			require.ErrorIs(t, err, tt.err)
			if tt.err == nil {
				require.NoError(t, err)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func readWebhook(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
	require.NoError(t, err)
	return b
}

func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

const (
	testWABA    = "102290129340398"
	testPhoneID = "106540352242922"
	optOutText  = "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business"
)

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	statusWamid := "wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA="
	status := func(s DeliveryStatus, at int64) Notification {
		return Notification{Statuses: []StatusUpdate{{
			WABAID: testWABA, PhoneNumberID: testPhoneID, MessageID: statusWamid,
			Status: s, At: unix(at), Recipient: "+5516992318222",
		}}}
	}
	tests := []struct {
		file string
		want Notification
	}{
		{"text_message.json", Notification{Inbound: []InboundMessage{{
			WABAID: testWABA, PhoneNumberID: testPhoneID, From: "+16505551234",
			ProviderID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
			At:         unix(1749416383), Type: InboundText, Text: "STOP",
		}}}},
		{"button_reply.json", Notification{Inbound: []InboundMessage{
			{
				WABAID: testWABA, PhoneNumberID: testPhoneID, From: "+4915112345678",
				ProviderID: "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNFQjBCMUJEMjc0MkE5OTg3RkI5AA==",
				At:         unix(1749416390), Type: InboundButton, Text: "Stop promotions", Payload: "unsubscribe_marketing",
			},
			{
				WABAID: testWABA, PhoneNumberID: testPhoneID, From: "+4915112345678",
				ProviderID: "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNFQjBCMUJEMjc0MkE5OTg3RkI5AB==",
				At:         unix(1749416391), Type: InboundInteractive, Text: "Yes, please", Payload: "yes_please",
			},
			// The image that follows is ignored: not an error, not skipped.
		}}},
		{"status_sent.json", status(StatusSent, 1750857384)},
		{"status_delivered.json", status(StatusDelivered, 1750857386)},
		{"status_read.json", status(StatusRead, 1750857519)},
		{"status_failed.json", Notification{Statuses: []StatusUpdate{{
			WABAID: testWABA, PhoneNumberID: testPhoneID,
			MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQkMzRjQ1QjA0MEI4RkIA",
			Status:    StatusFailed, At: unix(1750858001), Recipient: "+16503879439",
			CallbackData: "3EB0A1B2C3D4E5F60718", ErrorCode: 131050, ErrorTitle: optOutText, ErrorDetail: optOutText,
		}}}},
		{"quality_update.json", Notification{Account: []AccountEvent{{
			Field: FieldQualityUpdate, WABAID: testWABA, At: unix(1739321024), Event: "FLAGGED",
			DisplayPhoneNumber: "15550783881", CurrentLimit: "TIER_1K",
		}}}},
		{"account_update.json", Notification{Account: []AccountEvent{{
			Field: FieldAccountUpdate, WABAID: testWABA, At: unix(1739321100), Event: "DISABLED_UPDATE",
			BanState: "DISABLE", BanDate: "February 12, 2025",
		}}}},
		{"account_restriction.json", Notification{Account: []AccountEvent{{
			Field: FieldAccountUpdate, WABAID: testWABA, At: unix(1739321200), Event: "ACCOUNT_RESTRICTION",
			Restrictions: []string{"RESTRICTED_BIZ_INITIATED_MESSAGING", "RESTRICTED_ADD_PHONE_NUMBER_ACTION"},
		}}}},
		{"template_status.json", Notification{Templates: []TemplateUpdate{{
			WABAID: testWABA, At: unix(1751247548), TemplateID: "1689556908129832",
			Name: "spring_sale", Language: "en_US", Event: TemplateRejected, Reason: "INVALID_FORMAT",
			Category: CategoryMarketing,
		}}}},
		{"batch.json", Notification{
			Statuses: []StatusUpdate{
				{WABAID: testWABA, PhoneNumberID: testPhoneID, MessageID: "wamid.AAA1", Status: StatusDelivered, At: unix(1750857400), Recipient: "+447700900123"},
				{WABAID: testWABA, PhoneNumberID: testPhoneID, MessageID: "wamid.AAA2", Status: StatusRead, At: unix(1750857401), Recipient: "+447700900124"},
				// "deleted" is not a status Crier reads: ignored.
			},
			Inbound: []InboundMessage{{
				WABAID: "209876543210987", PhoneNumberID: "201234567890123", From: "+33698765432",
				ProviderID: "wamid.BBB1", At: unix(1750857499), Type: InboundText, Text: "Bonjour",
			}},
			Account: []AccountEvent{
				{Field: FieldAccountUpdate, WABAID: testWABA, Event: "ACCOUNT_VIOLATION", ViolationType: "SCAM"},
				{
					Field: FieldQualityUpdate, WABAID: "209876543210987", At: unix(1750857500), Event: "UPGRADE",
					DisplayPhoneNumber: "33612345678", CurrentLimit: "TIER_10K", OldLimit: "TIER_1K",
				},
			},
			Skipped: 1, // the message from "not-a-number"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := ParseWebhook(readWebhook(t, tt.file))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseWebhookOptOut(t *testing.T) {
	t.Parallel()
	n, err := ParseWebhook(readWebhook(t, "status_failed.json"))
	require.NoError(t, err)
	require.True(t, n.Statuses[0].OptedOut())
	n, err = ParseWebhook(readWebhook(t, "status_read.json"))
	require.NoError(t, err)
	require.False(t, n.Statuses[0].OptedOut())
}

func TestParseWebhookRefuses(t *testing.T) {
	t.Parallel()
	big := append([]byte(`{"object":"whatsapp_business_account","entry":[],"pad":"`),
		bytes.Repeat([]byte("x"), MaxWebhookBytes)...)
	big = append(big, `"}`...)

	var many strings.Builder
	many.WriteString(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[`)
	for i := range MaxWebhookItems + 1 {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(`{"id":"w` + strconv.Itoa(i) + `","status":"read","timestamp":"1"}`)
	}
	many.WriteString(`]}}]}]}`)

	tests := []struct {
		name string
		body string
		want error
	}{
		{"empty", ``, ErrWebhookMalformed},
		{"not json", `object=whatsapp`, ErrWebhookMalformed},
		{"truncated", `{"object":"whatsapp_business_account","entry":[`, ErrWebhookMalformed},
		{"entry not a list", `{"object":"whatsapp_business_account","entry":"x"}`, ErrWebhookMalformed},
		{"array", `[]`, ErrWebhookMalformed},
		{"wrong object", `{"object":"page","entry":[]}`, ErrWebhookObject},
		{"no object", `{"entry":[]}`, ErrWebhookObject},
		{"null", `null`, ErrWebhookObject},
		{"too large", string(big), ErrWebhookTooLarge},
		{"too many items", many.String(), ErrWebhookTooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := ParseWebhook([]byte(tt.body))
			require.ErrorIs(t, err, tt.want)
			require.Zero(t, n.Len())
		})
	}
}

func TestParseWebhookLenient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want Notification
	}{
		{"no entries", `{"object":"whatsapp_business_account"}`, Notification{}},
		{"unknown field", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"calls","value":{"calls":[1,2]}}]}]}`, Notification{}},
		{"value of the wrong shape", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":"x"}}]}]}`, Notification{Skipped: 1}},
		{"status without id", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"status":"read"}]}}]}]}`, Notification{Skipped: 1}},
		{"numbers for strings, bad timestamp", `{"object":"whatsapp_business_account","entry":[{"id":7,"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":42},"statuses":[{"id":"w1","status":"read","timestamp":"soon","recipient_id":447700900123}]}}]}]}`,
			Notification{Statuses: []StatusUpdate{{WABAID: "7", PhoneNumberID: "42", MessageID: "w1", Status: StatusRead, Recipient: "+447700900123"}}}},
		{"template deletion with null reason", `{"object":"whatsapp_business_account","entry":[{"id":"1","time":"1751247548","changes":[{"field":"message_template_status_update","value":{"event":"PENDING_DELETION","message_template_id":"55","reason":null}}]}]}`,
			Notification{Templates: []TemplateUpdate{{WABAID: "1", At: unix(1751247548), TemplateID: "55", Event: "PENDING_DELETION"}}}},
		{"account event without event", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{}}]}]}`, Notification{Skipped: 1}},
		{"restriction_info of another shape", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":"soon"}}]}]}`,
			Notification{Account: []AccountEvent{{Field: FieldAccountUpdate, WABAID: "1", Event: "ACCOUNT_RESTRICTION"}}}},
		{"interactive of another type", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"447700900123","id":"w","type":"interactive","interactive":{"type":"nfm_reply"}}]}}]}]}`, Notification{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseWebhook([]byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDedupKeys(t *testing.T) {
	t.Parallel()
	keys := map[string]string{}
	for _, f := range []string{"status_sent.json", "status_delivered.json", "status_read.json", "status_failed.json", "text_message.json", "button_reply.json", "quality_update.json", "account_update.json", "account_restriction.json", "template_status.json", "batch.json"} {
		body := readWebhook(t, f)
		first, err := ParseWebhook(body)
		require.NoError(t, err)
		retry, err := ParseWebhook(bytes.Clone(body)) // Meta's retry of the same delivery
		require.NoError(t, err)
		a, b := first.DedupKeys(), retry.DedupKeys()
		require.Equal(t, a, b, f)
		for _, k := range a {
			require.NotEmpty(t, k)
			prev, dup := keys[k]
			require.False(t, dup, "%s: key %q also in %s", f, k, prev)
			keys[k] = f
		}
	}
	// The same message's statuses differ only by status, and so do their keys.
	require.Contains(t, keys, "status:wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA=:sent")
	require.Contains(t, keys, "status:wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA=:delivered")
	require.Contains(t, keys, "status:wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA=:read")
}

// FuzzParseWebhook checks that ParseWebhook never panics, that what it returns holds its
// documented invariants, and that the notification, written back in Meta's format by
// encodeNotification, parses to itself.
func FuzzParseWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	require.NoError(f, err)
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseWebhook(body)
		if err != nil {
			require.Zero(t, n.Len())
			return
		}
		require.LessOrEqual(t, n.Len()+n.Skipped, MaxWebhookItems)
		for _, s := range n.Statuses {
			require.NotEmpty(t, s.MessageID)
			require.Contains(t, []DeliveryStatus{StatusSent, StatusDelivered, StatusRead, StatusFailed}, s.Status)
			if s.Recipient != "" {
				_, ok := e164(s.Recipient[1:])
				require.True(t, ok, s.Recipient)
			}
		}
		for _, m := range n.Inbound {
			require.NotEmpty(t, m.ProviderID)
			_, ok := e164(strings.TrimPrefix(m.From, "+"))
			require.True(t, ok && m.From[0] == '+', m.From)
			require.Contains(t, []InboundType{InboundText, InboundButton, InboundInteractive}, m.Type)
		}
		for _, e := range n.Account {
			require.NotEmpty(t, e.Event)
		}
		for _, tu := range n.Templates {
			require.NotEmpty(t, tu.Event)
			require.NotEmpty(t, tu.TemplateID)
		}

		again, err := ParseWebhook(encodeNotification(t, n))
		require.NoError(t, err)
		n.Skipped = 0
		require.Equal(t, n, again)
	})
}

// encodeNotification writes n in Meta's webhook format, one entry per item.
func encodeNotification(t *testing.T, n Notification) []byte {
	t.Helper()
	type obj = map[string]any
	ts := func(at time.Time) string {
		if at.IsZero() {
			return ""
		}
		return strconv.FormatInt(at.Unix(), 10)
	}
	entry := func(waba string, at time.Time, field string, value obj) obj {
		e := obj{"id": waba, "changes": []obj{{"field": field, "value": value}}}
		if !at.IsZero() {
			e["time"] = at.Unix()
		}
		return e
	}
	var entries []obj
	for _, s := range n.Statuses {
		st := obj{"id": s.MessageID, "status": string(s.Status), "timestamp": ts(s.At),
			"recipient_id": strings.TrimPrefix(s.Recipient, "+"), "biz_opaque_callback_data": s.CallbackData}
		if s.ErrorCode != 0 || s.ErrorTitle != "" || s.ErrorDetail != "" {
			st["errors"] = []obj{{"code": s.ErrorCode, "title": s.ErrorTitle,
				"error_data": obj{"details": s.ErrorDetail}}}
		}
		entries = append(entries, entry(s.WABAID, time.Time{}, "messages", obj{
			"metadata": obj{"phone_number_id": s.PhoneNumberID}, "statuses": []obj{st}}))
	}
	for _, m := range n.Inbound {
		msg := obj{"from": strings.TrimPrefix(m.From, "+"), "id": m.ProviderID,
			"timestamp": ts(m.At), "type": string(m.Type)}
		switch m.Type {
		case InboundText:
			msg["text"] = obj{"body": m.Text}
		case InboundButton:
			msg["button"] = obj{"text": m.Text, "payload": m.Payload}
		case InboundInteractive:
			msg["interactive"] = obj{"type": "button_reply",
				"button_reply": obj{"id": m.Payload, "title": m.Text}}
		}
		entries = append(entries, entry(m.WABAID, time.Time{}, "messages", obj{
			"metadata": obj{"phone_number_id": m.PhoneNumberID}, "messages": []obj{msg}}))
	}
	for _, e := range n.Account {
		v := obj{"event": e.Event}
		if e.Field == FieldQualityUpdate {
			v["display_phone_number"], v["current_limit"], v["old_limit"] = e.DisplayPhoneNumber, e.CurrentLimit, e.OldLimit
		} else {
			v["ban_info"] = obj{"waba_ban_state": e.BanState, "waba_ban_date": e.BanDate}
			v["violation_info"] = obj{"violation_type": e.ViolationType}
			var rs []obj
			for _, r := range e.Restrictions {
				rs = append(rs, obj{"restriction_type": r})
			}
			v["restriction_info"] = rs
		}
		entries = append(entries, entry(e.WABAID, e.At, string(e.Field), v))
	}
	for _, tu := range n.Templates {
		entries = append(entries, entry(tu.WABAID, tu.At, "message_template_status_update", obj{
			"event": string(tu.Event), "message_template_id": tu.TemplateID, "message_template_name": tu.Name,
			"message_template_language": tu.Language, "reason": tu.Reason,
			"message_template_category": string(tu.Category)}))
	}
	b, err := json.Marshal(obj{"object": "whatsapp_business_account", "entry": entries})
	require.NoError(t, err)
	return b
}
