package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/crierhq/crier/internal/apperr"
)

// problem is an RFC 9457 problem detail.
type problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
}

// httpError is an error that already knows its status, for the failures that only the
// HTTP layer can have (authentication, media types, body sizes).
type httpError struct {
	status     int
	kind       string // the problem type's last segment
	detail     string
	fields     []apperr.FieldError
	retryAfter time.Duration // > 0: sent as Retry-After
}

func (e *httpError) Error() string { return e.detail }

func errStatus(status int, kind, detail string) error {
	return &httpError{status: status, kind: kind, detail: detail}
}

// codeStatus maps domain error codes to HTTP statuses: the one table that does.
var codeStatus = map[apperr.Code]struct {
	status int
	kind   string
}{
	apperr.Invalid:     {http.StatusUnprocessableEntity, "invalid"},
	apperr.NotFound:    {http.StatusNotFound, "not-found"},
	apperr.Conflict:    {http.StatusConflict, "conflict"},
	apperr.Unavailable: {http.StatusServiceUnavailable, "unavailable"},
}

const problemBase = "urn:crier:problem:"

// writeError turns err into a problem response. Errors the user may not read are logged
// here, once, and shown as a bare 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problem{RequestID: requestState(r).id}
	var he *httpError
	var ae *apperr.Error
	switch {
	case errors.As(err, &he):
		p.Status, p.Type, p.Detail, p.Errors = he.status, problemBase+he.kind, he.detail, he.fields
		if he.retryAfter > 0 {
			w.Header().Set("Retry-After", retryAfterSeconds(he.retryAfter))
		}
	case errors.As(err, &ae) && ae.Code != "":
		m, ok := codeStatus[ae.Code]
		if !ok {
			m.status, m.kind = http.StatusInternalServerError, "internal"
		}
		p.Status, p.Type, p.Detail, p.Errors = m.status, problemBase+m.kind, ae.Message, ae.Fields
		if ae.Code == apperr.Unavailable {
			s.Logger.WarnContext(r.Context(), "dependency unavailable", "error", err, "request_id", p.RequestID)
		}
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		// The client went away; nobody will read the answer.
		p.Status, p.Type, p.Detail = 499, problemBase+"client-closed", "the request was cancelled"
	default:
		s.Logger.ErrorContext(r.Context(), "request failed", "error", err, "route", r.Pattern, "request_id", p.RequestID)
		p.Status, p.Type, p.Detail = http.StatusInternalServerError, problemBase+"internal",
			"something went wrong on our side; the request id helps us find it"
	}
	if p.Status == http.StatusUnprocessableEntity && p.Detail == "" {
		p.Detail = "the request has invalid fields"
	}
	p.Title = http.StatusText(p.Status)
	if p.Title == "" {
		p.Title = "Client Closed Request"
	}
	if requestState(r).page {
		s.errorPage(w, r, p)
		return
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		slog.Debug("write problem", "error", err)
	}
}
