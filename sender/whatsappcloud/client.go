package whatsappcloud

// Shapes checked with the search tool (December 2026): the template message with header
// media and body text parameters (Meta's "Template components" page and SDK copies of the
// send call), GET /{waba_id}/message_templates with its data[] and paging
// {cursors{before,after},next} (Meta's "Template management" page, an SDK's types), and
// the error payload (errors.go). The text message's {"preview_url","body"}, the send
// response {"contacts":[{"input","wa_id"}],"messages":[{"id"}]} and the phone number
// fields display_phone_number, verified_name and quality_rating are from memory of
// Meta's reference, not confirmed by the search.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/crierhq/crier/sender"
)

// The defaults of Config.
const (
	DefaultGraphURL   = "https://graph.facebook.com"
	DefaultAPIVersion = "v21.0"
	DefaultTimeout    = 30 * time.Second
)

// Bounds on what the client reads.
const (
	maxResponseBytes = 4 << 20 // one response: a page of templates is the largest
	maxTemplatePages = 1000    // a WABA has at most a few thousand templates
	templatePageSize = 100
)

// Errors of New and of the calls, besides *GraphError.
var (
	ErrConfig = errors.New("whatsappcloud: invalid config")
	// ErrInvalidPhone: the recipient is not E.164. It is sender.ErrInvalidPhone and
	// permanent.
	ErrInvalidPhone = sender.Mark(sender.Permanent(errors.New("whatsappcloud: invalid phone number: want E.164 (+ and 7 to 15 digits)")), sender.ErrInvalidPhone)
	// ErrInvalidMessage: the text or template is empty or malformed. Permanent.
	ErrInvalidMessage = sender.Permanent(errors.New("whatsappcloud: invalid message"))
)

// Config is one business phone number on the Cloud API. Its String and LogValue hide
// the access token.
type Config struct {
	GraphURL      string // default DefaultGraphURL; a test points it at cloudtest
	APIVersion    string // "v21.0"; default DefaultAPIVersion
	PhoneNumberID string // required: the number's id, not the number
	WABAID        string // the WhatsApp Business Account; required by Templates
	AccessToken   string // required: a system user's token, sent as a bearer token
	// HTTPClient overrides the client New builds (DefaultTimeout, bounded dial and TLS
	// handshake).
	HTTPClient *http.Client
}

// String describes c without its access token.
func (c Config) String() string {
	return fmt.Sprintf("whatsappcloud.Config{GraphURL:%s APIVersion:%s PhoneNumberID:%s WABAID:%s AccessToken:[redacted]}",
		c.GraphURL, c.APIVersion, c.PhoneNumberID, c.WABAID)
}

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return c.String() }

// LogValue is c for log/slog, without its access token.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("graph_url", c.GraphURL),
		slog.String("api_version", c.APIVersion),
		slog.String("phone_number_id", c.PhoneNumberID),
		slog.String("waba_id", c.WABAID),
	)
}

var apiVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// Client calls the Graph API for one business phone number. It is safe for concurrent
// use. Errors it returns never contain the access token or the recipient's number.
type Client struct {
	cfg  Config
	base *url.URL // GraphURL/APIVersion
	http *http.Client
}

// New checks cfg, applies its defaults and returns a Client. It does not call Meta:
// Check does.
func New(cfg Config) (*Client, error) {
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraphURL
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	var problems []string
	base, err := url.Parse(strings.TrimRight(cfg.GraphURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		problems = append(problems, "GraphURL must be an http(s) URL")
	}
	if !apiVersion.MatchString(cfg.APIVersion) {
		problems = append(problems, `APIVersion must look like "v21.0"`)
	}
	if !numericID(cfg.PhoneNumberID) {
		problems = append(problems, "PhoneNumberID must be the number's id (digits)")
	}
	if cfg.WABAID != "" && !numericID(cfg.WABAID) {
		problems = append(problems, "WABAID must be digits")
	}
	if strings.TrimSpace(cfg.AccessToken) == "" {
		problems = append(problems, "AccessToken is required")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	base = base.JoinPath(cfg.APIVersion)
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.TLSHandshakeTimeout = 10 * time.Second
		tr.ResponseHeaderTimeout = DefaultTimeout
		hc = &http.Client{Timeout: DefaultTimeout, Transport: tr}
	}
	return &Client{cfg: cfg, base: base, http: hc}, nil
}

// String describes the client without its access token.
func (c *Client) String() string { return "whatsappcloud.Client{" + c.cfg.String() + "}" }

func numericID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validE164 reports whether s is "+" and 7 to 15 digits, no leading 0.
func validE164(s string) bool {
	return len(s) >= 8 && s[0] == '+' && s[1] != '0' && numericID(s[1:]) && len(s) <= 16
}

// PhoneNumber is the business number as Meta describes it.
type PhoneNumber struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
	QualityRating      string `json:"quality_rating"` // GREEN, YELLOW, RED, UNKNOWN
}

// Check fetches the phone number with the access token: it proves that the token is
// valid and may use the number. A refused token is a *GraphError of ClassAccount
// (sender.ErrAccount).
func (c *Client) Check(ctx context.Context) (PhoneNumber, error) {
	q := url.Values{"fields": {"display_phone_number,verified_name,quality_rating"}}
	var p PhoneNumber
	if err := c.do(ctx, http.MethodGet, []string{c.cfg.PhoneNumberID}, q, nil, &p); err != nil {
		return PhoneNumber{}, fmt.Errorf("whatsappcloud: check phone number id %s (are the access token and the id right?): %w", c.cfg.PhoneNumberID, err)
	}
	return p, nil
}

// MediaKind is the kind of a template header's media.
type MediaKind string

// The media kinds of a template header.
const (
	MediaImage    MediaKind = "image"
	MediaVideo    MediaKind = "video"
	MediaDocument MediaKind = "document"
)

// Media is a template header's media, by public HTTPS link.
type Media struct {
	Kind MediaKind
	Link string
}

// Template is a template message to send: an approved template's name and language, and
// the values of its parameters.
type Template struct {
	Name       string
	Language   string   // Meta's code: "en_US", "pt_BR", "de"
	BodyParams []string // the body's parameters, {{1}} onwards, or in the order of BodyParamNames
	// BodyParamNames name each of BodyParams for a template with named parameters
	// ({{first_name}}): Meta wants each one's parameter_name. Nil for numbered ones.
	BodyParamNames []string
	Header         *Media // the header's media, for templates with a media header
}

// The request bodies of POST /{phone_number_id}/messages.
type (
	outMessage struct {
		MessagingProduct string       `json:"messaging_product"`
		RecipientType    string       `json:"recipient_type"`
		To               string       `json:"to"`
		Type             string       `json:"type"`
		Text             *outText     `json:"text,omitempty"`
		Template         *outTemplate `json:"template,omitempty"`
		// CallbackData is Crier's message id: Meta echoes it in the message's status
		// webhooks, so that a status names the attempt even when Meta's answer (the
		// wamid) was lost.
		CallbackData string `json:"biz_opaque_callback_data,omitempty"`
	}
	outText struct {
		PreviewURL bool   `json:"preview_url"`
		Body       string `json:"body"`
	}
	outTemplate struct {
		Name       string         `json:"name"`
		Language   outLanguage    `json:"language"`
		Components []outComponent `json:"components,omitempty"`
	}
	outLanguage struct {
		Code string `json:"code"`
	}
	outComponent struct {
		Type       string         `json:"type"`
		Parameters []outParameter `json:"parameters"`
	}
	outParameter struct {
		Type          string    `json:"type"`
		Text          string    `json:"text,omitempty"`
		ParameterName string    `json:"parameter_name,omitempty"`
		Image         *outMedia `json:"image,omitempty"`
		Video         *outMedia `json:"video,omitempty"`
		Document      *outMedia `json:"document,omitempty"`
	}
	outMedia struct {
		Link string `json:"link"`
	}
	sendResponse struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
)

// Bounds of a message Meta accepts.
const (
	maxTextLen     = 4096 // a text body, in characters
	maxCallbackLen = 512  // biz_opaque_callback_data, in characters
)

// SendText sends a free-form text to to (E.164) and returns Meta's message id (wamid).
// Meta takes it only inside the 24-hour customer service window (ErrOutsideWindow).
// messageID, Crier's id of the message (may be empty), goes with it as
// biz_opaque_callback_data, which Meta echoes in the message's status webhooks.
func (c *Client) SendText(ctx context.Context, to, body, messageID string) (string, error) {
	if !validE164(to) {
		return "", ErrInvalidPhone
	}
	if strings.TrimSpace(body) == "" || len([]rune(body)) > maxTextLen {
		return "", fmt.Errorf("%w: the text is empty or longer than %d characters", ErrInvalidMessage, maxTextLen)
	}
	if err := checkCallback(messageID); err != nil {
		return "", err
	}
	return c.send(ctx, outMessage{Type: "text", To: to, Text: &outText{Body: body}, CallbackData: messageID})
}

func checkCallback(messageID string) error {
	if len([]rune(messageID)) > maxCallbackLen {
		return fmt.Errorf("%w: the message id is longer than %d characters", ErrInvalidMessage, maxCallbackLen)
	}
	return nil
}

// SendTemplate sends an approved template to to (E.164) and returns Meta's message id
// (wamid). A template Meta does not accept is ErrTemplate. messageID is as for SendText.
func (c *Client) SendTemplate(ctx context.Context, to string, t Template, messageID string) (string, error) {
	if !validE164(to) {
		return "", ErrInvalidPhone
	}
	if err := checkCallback(messageID); err != nil {
		return "", err
	}
	if t.Name == "" || t.Language == "" {
		return "", fmt.Errorf("%w: the template's name and language are required", ErrInvalidMessage)
	}
	ot := &outTemplate{Name: t.Name, Language: outLanguage{Code: t.Language}}
	if h := t.Header; h != nil {
		p := outParameter{Type: string(h.Kind)}
		m := &outMedia{Link: h.Link}
		switch h.Kind {
		case MediaImage:
			p.Image = m
		case MediaVideo:
			p.Video = m
		case MediaDocument:
			p.Document = m
		default:
			return "", fmt.Errorf("%w: header media kind %q: want image, video or document", ErrInvalidMessage, h.Kind)
		}
		if u, err := url.Parse(h.Link); err != nil || u.Scheme != "https" || u.Host == "" {
			return "", fmt.Errorf("%w: the header's link must be an https URL", ErrInvalidMessage)
		}
		ot.Components = append(ot.Components, outComponent{Type: "header", Parameters: []outParameter{p}})
	}
	if t.BodyParamNames != nil && len(t.BodyParamNames) != len(t.BodyParams) {
		return "", fmt.Errorf("%w: %d body parameters but %d names", ErrInvalidMessage, len(t.BodyParams), len(t.BodyParamNames))
	}
	if len(t.BodyParams) > 0 {
		params := make([]outParameter, len(t.BodyParams))
		for i, v := range t.BodyParams {
			if strings.TrimSpace(v) == "" {
				// Meta refuses an empty parameter (132000 family); say which one here.
				return "", fmt.Errorf("%w: body parameter {{%d}} is empty", ErrInvalidMessage, i+1)
			}
			params[i] = outParameter{Type: "text", Text: v}
			if i < len(t.BodyParamNames) {
				params[i].ParameterName = t.BodyParamNames[i]
			}
		}
		ot.Components = append(ot.Components, outComponent{Type: "body", Parameters: params})
	}
	return c.send(ctx, outMessage{Type: "template", To: to, Template: ot, CallbackData: messageID})
}

func (c *Client) send(ctx context.Context, m outMessage) (string, error) {
	m.MessagingProduct, m.RecipientType = "whatsapp", "individual"
	body, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("whatsappcloud: send: %w", err)
	}
	var res sendResponse
	if err := c.do(ctx, http.MethodPost, []string{c.cfg.PhoneNumberID, "messages"}, nil, body, &res, m.To, strings.TrimPrefix(m.To, "+")); err != nil {
		return "", fmt.Errorf("whatsappcloud: send %s: %w", m.Type, err)
	}
	if len(res.Messages) == 0 || res.Messages[0].ID == "" {
		// Meta took the request but named no message. Transient, and as uncertain as a
		// timeout after Meta accepted: the Transport waits for the message's status
		// webhook (which carries the callback data) before it sends again.
		return "", fmt.Errorf("whatsappcloud: send %s: the answer has no message id", m.Type)
	}
	return res.Messages[0].ID, nil
}

// TemplateStatus is a template's review status.
type TemplateStatus string

// The statuses Crier acts on; Meta has others (IN_APPEAL, LIMIT_EXCEEDED, ARCHIVED…),
// which Templates passes through as they are.
const (
	TemplateApproved TemplateStatus = "APPROVED"
	TemplatePending  TemplateStatus = "PENDING"
	TemplateRejected TemplateStatus = "REJECTED"
	TemplatePaused   TemplateStatus = "PAUSED"
	TemplateDisabled TemplateStatus = "DISABLED"
)

// TemplateCategory is a template's category, which decides its price and whether it is
// marketing.
type TemplateCategory string

// The categories.
const (
	CategoryMarketing      TemplateCategory = "MARKETING"
	CategoryUtility        TemplateCategory = "UTILITY"
	CategoryAuthentication TemplateCategory = "AUTHENTICATION"
)

// MessageTemplate is one template (one name in one language) of the business account.
type MessageTemplate struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Language   string               `json:"language"`
	Category   TemplateCategory     `json:"category"`
	Status     TemplateStatus       `json:"status"`
	Components []TemplateComponents `json:"components"`
	// RejectedReason is why Meta rejected it (INVALID_FORMAT, PROMOTIONAL, …); "NONE" or
	// empty otherwise.
	RejectedReason string `json:"rejected_reason"`
}

// TemplateComponents is one component of a template as Meta lists it: HEADER (with a
// format: TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION), BODY, FOOTER or BUTTONS. Raw keeps the
// whole component (examples, buttons) for a later sync to read.
type TemplateComponents struct {
	Type   string          `json:"type"`
	Format string          `json:"format,omitempty"`
	Text   string          `json:"text,omitempty"`
	Raw    json.RawMessage `json:"-"`
}

// UnmarshalJSON reads a component and keeps it raw.
func (tc *TemplateComponents) UnmarshalJSON(b []byte) error {
	type plain TemplateComponents
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*tc = TemplateComponents(p)
	tc.Raw = append(json.RawMessage(nil), b...)
	return nil
}

type templatesPage struct {
	Data   []MessageTemplate `json:"data"`
	Paging struct {
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// Templates lists every template of the business account (Config.WABAID), following
// Meta's pages.
func (c *Client) Templates(ctx context.Context) ([]MessageTemplate, error) {
	if c.cfg.WABAID == "" {
		return nil, fmt.Errorf("%w: WABAID is required to list templates", ErrConfig)
	}
	var all []MessageTemplate
	after := ""
	for page := 0; ; page++ {
		if page == maxTemplatePages {
			return nil, fmt.Errorf("whatsappcloud: list templates: more than %d pages", maxTemplatePages)
		}
		q := url.Values{
			"fields": {"id,name,language,category,status,components,rejected_reason"},
			"limit":  {fmt.Sprint(templatePageSize)},
		}
		if after != "" {
			q.Set("after", after)
		}
		var p templatesPage
		if err := c.do(ctx, http.MethodGet, []string{c.cfg.WABAID, "message_templates"}, q, nil, &p); err != nil {
			return nil, fmt.Errorf("whatsappcloud: list templates: %w", err)
		}
		all = append(all, p.Data...)
		if p.Paging.Next == "" || len(p.Data) == 0 {
			return all, nil
		}
		// Follow the cursor rather than the next URL: Meta's next URL can carry the
		// access token in its query, and a failed request's error would then show it.
		next := p.Paging.Cursors.After
		if next == "" {
			if u, err := url.Parse(p.Paging.Next); err == nil {
				next = u.Query().Get("after")
			}
		}
		if next == "" || next == after {
			return nil, errors.New("whatsappcloud: list templates: a page says there is another but gives no new cursor")
		}
		after = next
	}
}

// do calls the Graph API at base/path?query with the bearer token and decodes a 2xx
// answer into out. A failed answer is a classified *GraphError; a failed call (network,
// timeout) is transient. The token and the given secrets are redacted from any error.
func (c *Client) do(ctx context.Context, method string, path []string, query url.Values, body []byte, out any, secrets ...string) error {
	u := c.base.JoinPath(path...)
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return redacted(err, c.cfg.AccessToken)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	secrets = append(secrets, c.cfg.AccessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return redacted(err, secrets...)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return redacted(fmt.Errorf("read the answer: %w", err), secrets...)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("the answer is over %d bytes", maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ge := parseGraphError(resp.StatusCode, data)
		ge.Message, ge.Details = redactString(ge.Message, secrets), redactString(ge.Details, secrets)
		return classified(ge)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the answer (HTTP %d) is not the expected JSON: %w", resp.StatusCode, err)
	}
	return nil
}

func redactString(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
