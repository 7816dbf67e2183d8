// Package cloudtest is a fake of Meta's Graph API for the WhatsApp Cloud API, for tests:
// an httptest.Server that answers in Meta's documented shapes.
//
// It serves GET /{version}/{phone_number_id} (the number), POST
// /{version}/{phone_number_id}/messages (records each accepted message and answers with a
// wamid it makes) and GET /{version}/{waba_id}/message_templates (paged with
// paging.cursors.after and paging.next). Every request must carry the bearer token,
// else the answer is Meta's 401 with code 190. FailNext makes the next sends fail with a
// given code and HTTP status; LoseNextAnswers makes it accept the next sends and then drop
// the connection before answering, as a network failure after Meta accepted would.
//
// It also builds webhook bodies in Meta's shapes for the server's number (webhooks.go),
// signed with the app secret by Sign.
//
// It never reaches Meta, and it checks only what Crier relies on, not all of Meta's
// validation.
package cloudtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Options configure a Server. Zero values get the defaults.
type Options struct {
	Token         string // the bearer token it accepts; default "test-token"
	PhoneNumberID string // default "1000000001"
	WABAID        string // default "2000000002"
	PageSize      int    // templates per page when the request has no limit; default 25
	// DisplayPhoneNumber, VerifiedName, QualityRating: the number's fields; defaults
	// "+1 555-0100", "Crier Test", "GREEN".
	DisplayPhoneNumber, VerifiedName, QualityRating string
	// AppSecret signs the webhook bodies (Sign); default "test-app-secret".
	AppSecret string
}

// Message is a message the server accepted.
type Message struct {
	WAMID string // the id it answered with
	To    string // the request's "to"
	Type  string // "text" or "template"
	// CallbackData is the request's biz_opaque_callback_data (Crier's message id), which
	// Meta echoes in the message's status webhooks.
	CallbackData string
	Body         json.RawMessage // the request body, exactly as received
}

// Failure is an error the server answers instead of accepting a send: Meta's error
// payload with Code, or Raw as the body as it is (a proxy's page).
type Failure struct {
	HTTPStatus int    // default 400
	Code       int    // error.code
	Message    string // error.message; default "(#<code>) error"
	Details    string // error.error_data.details
	Raw        string // the body instead of Meta's payload, when set
}

// Template is a template as message_templates lists it; Components are written as they
// are.
type Template struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	Language   string           `json:"language"`
	Category   string           `json:"category"`
	Status     string           `json:"status"`
	Components []map[string]any `json:"components"`
	// RejectedReason: INVALID_FORMAT, PROMOTIONAL… for a REJECTED one; omitted: NONE.
	RejectedReason string `json:"rejected_reason,omitempty"`
}

// Server is the fake Graph API. It is safe for concurrent use.
type Server struct {
	*httptest.Server
	opts Options

	mu        sync.Mutex
	sent      []Message
	failures  []Failure
	failTo    map[string]Failure // by recipient: every send to them fails so (FailTo)
	expired   bool               // the token is refused (ExpireToken)
	lose      int                // answers still to drop after accepting (LoseNextAnswers)
	templates []Template
	requests  int
	seq       int
	leaked    bool
}

// New starts a Server that t closes at its end.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = "test-token"
	}
	if opts.PhoneNumberID == "" {
		opts.PhoneNumberID = "1000000001"
	}
	if opts.WABAID == "" {
		opts.WABAID = "2000000002"
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 25
	}
	if opts.DisplayPhoneNumber == "" {
		opts.DisplayPhoneNumber = "+1 555-0100"
	}
	if opts.VerifiedName == "" {
		opts.VerifiedName = "Crier Test"
	}
	if opts.QualityRating == "" {
		opts.QualityRating = "GREEN"
	}
	if opts.AppSecret == "" {
		opts.AppSecret = "test-app-secret"
	}
	s := &Server{opts: opts}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Token, PhoneNumberID and WABAID are what the server accepts.
func (s *Server) Token() string         { return s.opts.Token }
func (s *Server) PhoneNumberID() string { return s.opts.PhoneNumberID }
func (s *Server) WABAID() string        { return s.opts.WABAID }

// AppSecret is the app secret Sign signs with.
func (s *Server) AppSecret() string { return s.opts.AppSecret }

// Sent returns the messages accepted so far, in order.
func (s *Server) Sent() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.sent...)
}

// Requests returns how many requests reached the server.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// TokenInQuery reports whether any request carried an access_token query parameter, as
// Meta's paging.next URLs do: a URL with the token ends up in errors and logs.
func (s *Server) TokenInQuery() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaked
}

// FailNext makes the next n sends fail with f, in turn after failures already queued.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// FailTo makes every send to one recipient (as the request's "to" writes it) fail with
// f, as Meta answers for a number that stopped marketing messages (131050).
func (s *Server) FailTo(to string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTo == nil {
		s.failTo = map[string]Failure{}
	}
	s.failTo[to] = f
}

// ExpireToken makes the server refuse the token (190, as for an expired or revoked one)
// until it is called again with false.
func (s *Server) ExpireToken(expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired = expired
}

// LoseNextAnswers makes the next n sends be accepted and recorded (Sent lists them) and
// then drops the connection without an answer: the client cannot know that Meta took the
// message, as after a timeout or a crash between Meta's answer and its recording.
func (s *Server) LoseNextAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose += n
}

// SetTemplates sets the templates message_templates lists.
func (s *Server) SetTemplates(ts []Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates = append([]Template(nil), ts...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.leaked = s.leaked || r.URL.Query().Has("access_token")
	expired := s.expired
	s.mu.Unlock()
	if expired {
		writeError(w, Failure{HTTPStatus: http.StatusUnauthorized, Code: 190,
			Message: "Error validating access token: Session has expired"}, "OAuthException")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		// Meta's answer to a token it cannot parse or that expired.
		writeError(w, Failure{HTTPStatus: http.StatusUnauthorized, Code: 190,
			Message: "Invalid OAuth access token - Cannot parse access token"}, "OAuthException")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 2 && parts[1] == s.opts.PhoneNumberID:
		writeJSON(w, http.StatusOK, map[string]any{
			"id":                   s.opts.PhoneNumberID,
			"display_phone_number": s.opts.DisplayPhoneNumber,
			"verified_name":        s.opts.VerifiedName,
			"quality_rating":       s.opts.QualityRating,
		})
	case r.Method == http.MethodPost && len(parts) == 3 && parts[1] == s.opts.PhoneNumberID && parts[2] == "messages":
		s.messages(w, r)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == s.opts.WABAID && parts[2] == "message_templates":
		s.listTemplates(w, r, parts[0])
	default:
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100,
			Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist", strings.ToLower(r.Method), parts[len(parts)-1])}, "GraphMethodException")
	}
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) Invalid parameter"}, "OAuthException")
		return
	}
	var m struct {
		MessagingProduct string                 `json:"messaging_product"`
		To               string                 `json:"to"`
		Type             string                 `json:"type"`
		Text             *struct{ Body string } `json:"text"`
		CallbackData     string                 `json:"biz_opaque_callback_data"`
		Template         *struct {
			Name     string `json:"name"`
			Language struct {
				Code string `json:"code"`
			} `json:"language"`
		} `json:"template"`
	}
	if json.Unmarshal(body, &m) != nil || m.MessagingProduct != "whatsapp" || m.To == "" ||
		(m.Type == "text" && (m.Text == nil || m.Text.Body == "")) ||
		(m.Type == "template" && (m.Template == nil || m.Template.Name == "" || m.Template.Language.Code == "")) ||
		(m.Type != "text" && m.Type != "template") {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) Invalid parameter"}, "OAuthException")
		return
	}
	s.mu.Lock()
	if f, ok := s.failTo[m.To]; ok {
		s.mu.Unlock()
		writeError(w, f, "OAuthException")
		return
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		writeError(w, f, "OAuthException")
		return
	}
	s.seq++
	id := "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "crier-fake-%d", s.seq))
	s.sent = append(s.sent, Message{WAMID: id, To: m.To, Type: m.Type, CallbackData: m.CallbackData, Body: body})
	lose := s.lose > 0
	if lose {
		s.lose--
	}
	s.mu.Unlock()
	if lose {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": m.To, "wa_id": strings.TrimPrefix(m.To, "+")}},
		"messages":          []map[string]string{{"id": id, "message_status": "accepted"}},
	})
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request, version string) {
	q := r.URL.Query()
	limit := s.opts.PageSize
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		limit = min(l, s.opts.PageSize)
	}
	start := 0
	if a := q.Get("after"); a != "" {
		n, err := decodeCursor(a)
		if err != nil {
			writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) Invalid after cursor"}, "OAuthException")
			return
		}
		start = n
	}
	s.mu.Lock()
	all := s.templates
	s.mu.Unlock()
	start = min(start, len(all))
	end := min(start+limit, len(all))
	page := all[start:end]
	if page == nil {
		page = []Template{}
	}
	resp := map[string]any{"data": page}
	if len(page) > 0 {
		paging := map[string]any{"cursors": map[string]string{"before": cursor(start), "after": cursor(end)}}
		if end < len(all) {
			// Meta's next URLs carry the access token in the query; so does this one, so
			// that a client that follows it is caught leaking the token.
			next := url.URL{Scheme: "http", Host: r.Host, Path: "/" + version + "/" + s.opts.WABAID + "/message_templates",
				RawQuery: url.Values{"access_token": {s.opts.Token}, "limit": {strconv.Itoa(limit)}, "after": {cursor(end)}}.Encode()}
			paging["next"] = next.String()
		}
		resp["paging"] = paging
	}
	writeJSON(w, http.StatusOK, resp)
}

func cursor(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("idx:" + strconv.Itoa(n)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "idx:") {
		return 0, fmt.Errorf("bad cursor")
	}
	return strconv.Atoi(strings.TrimPrefix(string(b), "idx:"))
}

func writeError(w http.ResponseWriter, f Failure, typ string) {
	status := f.HTTPStatus
	if status == 0 {
		status = http.StatusBadRequest
	}
	if f.Raw != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, f.Raw)
		return
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("(#%d) error", f.Code)
	}
	e := map[string]any{
		"message":    msg,
		"type":       typ,
		"code":       f.Code,
		"fbtrace_id": "AFakeTraceId",
	}
	if f.Details != "" {
		e["error_data"] = map[string]string{"messaging_product": "whatsapp", "details": f.Details}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
