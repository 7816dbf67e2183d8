package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
	"github.com/redis/go-redis/v9"
)

// Deps are the services the API serves.
type Deps struct {
	Contacts  *contacts.Service
	Consent   *consent.Service
	Privacy   *privacy.Service
	Templates *templates.Store
	Engine    *templates.Engine
	Keys      *auth.Keys
	// Users are the console's people and their sessions; nil: no console, no cookie
	// sessions, and /v1/users answers 404.
	Users  *auth.Users
	Audit  *audit.Log
	Logger *slog.Logger

	Accounts  *sender.Accounts
	Campaigns *campaigns.Service
	Limiter   *sender.Limiter // optional: account usage in the API
	// Channels are the process's transports (cmd/crier registers them): the API asks them
	// what an account's channel can do, and pairs accounts through the Connector of a
	// channel that pairs (a Pairer). Nil: no pairing, no simulated inbound.
	Channels sender.Channels
	Sandbox  SentLog     // what the simulated network delivered (GET /v1/sandbox/messages)
	Inbound  InboundFunc // takes the sandbox's simulated customer messages
	// CloudWebhooks take the Cloud API's webhooks (POST /v1/channels/whatsapp_cloud/{id}/webhook);
	// nil: those routes answer 404.
	CloudWebhooks CloudWebhooks
	// CloudTemplates sync and list the Cloud API accounts' message templates
	// (whatsappcloud.TemplateSync); nil: those routes answer 404.
	CloudTemplates CloudTemplates
	// Webhooks manage the outbound webhooks (webhooks.Service: /v1/webhooks); nil: those
	// routes answer 404, as in a process without CRIER_SECRET_KEY.
	Webhooks Webhooks
	// Monitoring is the Asynq dashboard, mounted at /monitoring/ for the Dashboard
	// permission; Metrics is the Prometheus handler of GET /metrics. Nil: not served.
	Monitoring http.Handler
	Metrics    http.Handler
	// Ready are the readiness checks of GET /readyz, by name (e.g. "postgres", "redis").
	Ready map[string]func(context.Context) error
	// Redis holds the throttles' counts (failed authentication, requests per key), shared
	// by every API process; nil throttles nothing.
	Redis redis.UniversalClient
}

// Options tune the API. Zero values get defaults.
type Options struct {
	MaxBodyBytes   int64 // JSON bodies; default 1 MiB
	MaxImportBytes int64 // CSV imports; default 1 GiB
	// SandboxOff turns the sandbox routes off (CRIER_SANDBOX=off): they answer 404.
	SandboxOff bool
	// AuthFailuresPerMinute is how many failed authentications a client address may make
	// a minute before its requests with a key get 429 (CRIER_AUTH_FAILURES); default 20.
	// RequestsPerSecond is each API key's request rate, with bursts of twice as many
	// (CRIER_API_RATE); default 50, below zero none. Both need Deps.Redis.
	AuthFailuresPerMinute int
	RequestsPerSecond     int
	// TrustedProxies are the addresses of reverse proxies whose X-Forwarded-For names the
	// client (CRIER_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// PublicURL is where people reach Crier (CRIER_PUBLIC_URL, e.g.
	// https://crier.example.com): the base of the sign-in links the API makes. Empty: the
	// request's own Host, with https when s.secure says the browser came over TLS.
	PublicURL string
}

// Server is the HTTP API.
type Server struct {
	Deps
	opts     Options
	mux      *http.ServeMux
	throttle *throttle
	console  *consoleTemplates
}

// New returns the API with every route of routes() registered.
func New(d Deps, o Options) *Server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxImportBytes <= 0 {
		o.MaxImportBytes = 1 << 30
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if o.AuthFailuresPerMinute <= 0 {
		o.AuthFailuresPerMinute = 20
	}
	switch {
	case o.RequestsPerSecond == 0:
		o.RequestsPerSecond = 50
	case o.RequestsPerSecond < 0:
		o.RequestsPerSecond = 0
	}
	console, err := loadConsole()
	if err != nil {
		panic(fmt.Sprintf("httpapi: the embedded console does not parse: %v", err)) // a build defect, caught by every test
	}
	s := &Server{Deps: d, opts: o, mux: http.NewServeMux(), throttle: newThrottle(d.Redis, o), console: console}
	for _, rt := range append(s.routes(), s.consoleRoutes()...) {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	return s
}

// requestState is what the layers of one request share: its id, the caller, and what the
// handler says about the audit entry.
type reqState struct {
	id         string
	who        *principal
	page       bool // a console page: errors are HTML, a missing session goes to the sign-in page
	targetType string
	targetID   string
	detail     map[string]any
}

type stateKey struct{}

func requestState(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// setTarget names what a mutating request acted on, for its audit entry.
func setTarget(r *http.Request, typ string, id any) {
	st := requestState(r)
	st.targetType, st.targetID = typ, fmt.Sprint(id)
}

// addDetail adds a key to the audit entry's detail. Never personal data.
func addDetail(r *http.Request, k string, v any) {
	st := requestState(r)
	if st.detail == nil {
		st.detail = map[string]any{}
	}
	st.detail[k] = v
}

// principal is who makes a request: an API key, or a user signed in to the console.
type principal struct {
	KeyID  string // the API key's id; "" for a user
	UserID int64  // the user's id; 0 for an API key
	Name   string // the key's name or the user's email
	Role   auth.Role
	csrf   string // a session's CSRF token
}

// Ref names the principal in the records it makes ("key:abc", "user:7"): a campaign's
// creator, a consent record's actor.
func (p principal) Ref() string {
	if p.UserID != 0 {
		return fmt.Sprintf("user:%d", p.UserID)
	}
	return "key:" + p.KeyID
}

// caller returns who made the request.
func caller(r *http.Request) principal {
	if p := requestState(r).who; p != nil {
		return *p
	}
	return principal{}
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ServeHTTP gives every request an id, recovers panics, answers unknown routes with
// problem+json, and writes one access log line (route pattern, never the raw URL: query
// strings can hold phone numbers).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &reqState{id: r.Header.Get("X-Request-Id")}
	if !validRequestID.MatchString(st.id) {
		b := make([]byte, 8)
		rand.Read(b)
		st.id = hex.EncodeToString(b)
	}
	w.Header().Set("X-Request-Id", st.id)
	securityHeaders(w.Header())
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	sw := &statusWriter{ResponseWriter: w}

	h, pattern := s.mux.Handler(r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Logger.ErrorContext(r.Context(), "panic", "panic", fmt.Sprint(v), "route", pattern, "request_id", st.id)
			if sw.status == 0 {
				s.writeError(sw, r, fmt.Errorf("panic: %v", v))
			}
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"method", r.Method, "route", pattern, "status", sw.status,
			"duration_ms", time.Since(start).Milliseconds(), "request_id", st.id}
		switch {
		case st.who != nil && st.who.UserID != 0:
			attrs = append(attrs, "user_id", st.who.UserID)
		case st.who != nil:
			attrs = append(attrs, "key_id", st.who.KeyID)
		}
		s.Logger.Log(r.Context(), level, "http request", attrs...)
	}()

	if pattern == "" {
		s.noRoute(sw, r, h)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// securityHeaders go on every response: no page of Crier's is shown in another site's frame
// (clickjacking of the dashboard), no answer is sniffed into another content type, and no
// URL of Crier's (they can hold ids and, in a query, a phone number) leaves in a Referer.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("Referrer-Policy", "same-origin")
}

// noRoute answers a request no route matched: 405 with Allow when the path exists for
// other methods, else 404, both as problem+json.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, errStatus(http.StatusMethodNotAllowed, "method-not-allowed",
			fmt.Sprintf("%s is not allowed here; use %s", r.Method, rec.header.Get("Allow"))))
		return
	}
	s.writeError(w, r, errStatus(http.StatusNotFound, "not-found", "there is no such route: see docs/api.md"))
}

// wrap runs one route: authenticate, authorise, record the audit entry before acting,
// run the handler, record the outcome.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := requestState(r)
		st.page = rt.page
		sw := w.(*statusWriter)
		if rt.sandbox && s.opts.SandboxOff {
			s.writeError(w, r, errStatus(http.StatusNotFound, "not-found", "the sandbox is off on this server (CRIER_SANDBOX=off)"))
			return
		}
		if rt.perm != "" {
			if err := s.throttle.guessing(r.Context(), r); err != nil {
				s.writeError(w, r, err)
				return
			}
			who, err := s.authenticate(r, rt)
			if err != nil {
				if rt.page && errors.Is(err, errNoSession) {
					s.toSignIn(w, r)
					return
				}
				if he := (*httpError)(nil); errors.As(err, &he) && he.status == http.StatusUnauthorized && r.Header.Get("Authorization") != "" {
					s.throttle.failed(r.Context(), r) // a wrong key (not none, nor a database failure)
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="crier"`)
				if rt.browser {
					// A browser asks for the key (any user name, the key as the password).
					w.Header().Add("WWW-Authenticate", `Basic realm="crier", charset="UTF-8"`)
				}
				s.writeError(w, r, err)
				return
			}
			st.who = &who
			if err := s.throttle.request(r.Context(), who.Ref()); err != nil {
				s.writeError(w, r, err)
				return
			}
			if !who.Role.Can(rt.perm) {
				err := errStatus(http.StatusForbidden, "forbidden",
					fmt.Sprintf("the %s role may not do this (it needs the %s permission)", who.Role, rt.perm))
				s.writeError(w, r, err)
				if rt.action != "" {
					s.auditDenied(r, rt)
				}
				return
			}
		}
		if err := checkQueryText(r.URL); err != nil {
			s.writeError(w, r, err)
			return
		}
		if rt.target != "" {
			st.targetType, st.targetID = rt.target, r.PathValue("id")
		}
		var auditID int64
		if rt.action != "" {
			var err error
			auditID, err = s.Audit.Begin(r.Context(), s.auditEntry(r, rt, 0))
			if err != nil {
				s.Logger.ErrorContext(r.Context(), "audit log unavailable", "error", err, "request_id", st.id)
				s.writeError(w, r, errStatus(http.StatusServiceUnavailable, "unavailable",
					"the audit log cannot be written, so nothing was changed; try again"))
				return
			}
		}
		if err := rt.handle(w, r); err != nil {
			s.writeError(w, r, err)
		}
		if rt.action != "" {
			// The outcome is recorded even if the client has gone.
			ctx := context.WithoutCancel(r.Context())
			if err := s.Audit.Finish(ctx, auditID, sw.status, st.targetType, st.targetID, st.detail); err != nil {
				s.Logger.ErrorContext(ctx, "audit finish", "error", err, "audit_id", auditID, "request_id", st.id)
			}
		}
	})
}

func (s *Server) auditEntry(r *http.Request, rt route, status int) audit.Entry {
	st := requestState(r)
	who := caller(r)
	return audit.Entry{
		ActorKeyID: who.KeyID, ActorUserID: who.UserID, Actor: who.Name, Action: rt.action,
		TargetType: st.targetType, TargetID: st.targetID, RequestID: st.id, Status: status,
	}
}

// piiRead says whether the caller sees personal data in clear (contacts:pii); if so, the
// read is recorded in the audit log first, with the caller as actor, and an audit log that
// cannot be written means nothing is shown (503). action names what was read
// ("contact.read"); target and detail say which, never with the data itself.
func (s *Server) piiRead(r *http.Request, action, targetType string, targetID any, detail map[string]any) (bool, error) {
	if !caller(r).Role.Can(auth.ContactsPII) {
		return false, nil
	}
	return true, s.auditRead(r, action, targetType, targetID, detail)
}

// auditRead records a read of personal data, before it is answered.
func (s *Server) auditRead(r *http.Request, action, targetType string, targetID any, detail map[string]any) error {
	who := caller(r)
	e := audit.Entry{ActorKeyID: who.KeyID, ActorUserID: who.UserID, Actor: who.Name, Action: action, TargetType: targetType,
		TargetID: fmt.Sprint(targetID), RequestID: requestState(r).id, Status: http.StatusOK, Detail: detail}
	if err := s.Audit.Record(r.Context(), e); err != nil {
		s.Logger.ErrorContext(r.Context(), "audit log unavailable", "error", err, "request_id", e.RequestID)
		return errStatus(http.StatusServiceUnavailable, "unavailable",
			"the audit log cannot be written, so no personal data is shown; try again")
	}
	return nil
}

// auditDenied records a refused attempt at a mutating action.
func (s *Server) auditDenied(r *http.Request, rt route) {
	st := requestState(r)
	if rt.target != "" {
		st.targetType, st.targetID = rt.target, r.PathValue("id")
	}
	if err := s.Audit.Record(context.WithoutCancel(r.Context()), s.auditEntry(r, rt, http.StatusForbidden)); err != nil {
		s.Logger.ErrorContext(r.Context(), "audit denied", "error", err, "request_id", st.id)
	}
}

// authenticate returns who makes the request: the API key of a bearer token (or, for
// browsers, of HTTP Basic with the key as the password), else the user of a console
// session cookie. A session may change nothing without its CSRF token (csrf.go).
func (s *Server) authenticate(r *http.Request, rt route) (principal, error) {
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(rest)
		}
	}
	if token == "" {
		if _, pw, ok := r.BasicAuth(); ok {
			token = pw
		}
	}
	if token == "" {
		if c, err := r.Cookie(sessionCookie); err == nil && s.Users != nil {
			return s.sessionPrincipal(r, rt, c.Value)
		}
		if rt.page {
			return principal{}, errNoSession
		}
		return principal{}, errStatus(http.StatusUnauthorized, "unauthorized",
			"send an API key: Authorization: Bearer <key> (crier apikey create makes one)")
	}
	key, err := s.Keys.Authenticate(r.Context(), token)
	if err == auth.ErrUnauthenticated {
		return principal{}, errStatus(http.StatusUnauthorized, "unauthorized", "the API key is not valid or was revoked")
	}
	if err != nil {
		return principal{}, err
	}
	return principal{KeyID: key.ID, Name: key.Name, Role: key.Role}, nil
}

// writeJSON encodes v with the given status. It encodes before writing anything, so that
// an encoding failure can still become a proper error response.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client is gone
	return nil
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerRecorder captures what the mux's own 404/405 handler would write.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }
