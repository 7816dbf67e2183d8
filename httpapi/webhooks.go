package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/webhooks"
)

// Outbound webhooks: /v1/webhooks.

// Webhooks manage the outbound webhook endpoints and their delivery logs
// (webhooks.Service).
type Webhooks interface {
	Create(ctx context.Context, in webhooks.Input, actor string) (webhooks.Endpoint, string, error)
	List(ctx context.Context, after int64, limit int) ([]webhooks.Endpoint, int64, error)
	Get(ctx context.Context, id int64) (webhooks.Endpoint, error)
	Update(ctx context.Context, id int64, p webhooks.Patch) (webhooks.Endpoint, error)
	Delete(ctx context.Context, id int64) error
	RotateSecret(ctx context.Context, id int64, grace time.Duration) (string, time.Time, error)
	Deliveries(ctx context.Context, endpointID int64, status webhooks.Status, before int64, limit int) ([]webhooks.Delivery, int64, error)
	Replay(ctx context.Context, endpointID, deliveryID int64) error
}

var _ Webhooks = (*webhooks.Service)(nil)

type webhookRequest struct {
	URL         string   `json:"url" validate:"required"`
	Events      []string `json:"events" validate:"required"`
	IncludePII  bool     `json:"include_pii"`
	Description string   `json:"description"`
}

type webhookPatch struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	IncludePII  *bool     `json:"include_pii"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

type webhookJSON struct {
	ID                  int64                `json:"id"`
	URL                 string               `json:"url"`
	Description         string               `json:"description"`
	Events              []webhooks.EventType `json:"events"`
	IncludePII          bool                 `json:"include_pii"`
	Enabled             bool                 `json:"enabled"`
	DisabledReason      string               `json:"disabled_reason"`
	FailingSince        *time.Time           `json:"failing_since"`
	SecretRotatingUntil *time.Time           `json:"secret_rotating_until"`
	CreatedBy           string               `json:"created_by"`
	CreatedAt           time.Time            `json:"created_at"`
	UpdatedAt           time.Time            `json:"updated_at"`
	// Secret is in the answer of the create only.
	Secret string `json:"secret,omitempty"`
}

func webhookOut(e webhooks.Endpoint) webhookJSON {
	return webhookJSON{ID: e.ID, URL: e.URL, Description: e.Description, Events: e.Events, IncludePII: e.IncludePII,
		Enabled: e.Enabled, DisabledReason: e.DisabledReason, FailingSince: e.FailingSince,
		SecretRotatingUntil: e.SecretRotatingUntil, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// webhookService returns the service, or the 404 of a server without outbound webhooks.
func (s *Server) webhookService() (Webhooks, error) {
	if s.Webhooks == nil {
		return nil, errStatus(http.StatusNotFound, "not-found", "this server has no outbound webhooks (CRIER_SECRET_KEY is not set)")
	}
	return s.Webhooks, nil
}

// webhookEndpoint returns the webhooks service and the endpoint id of the request's path.
func (s *Server) webhookEndpoint(r *http.Request) (Webhooks, int64, error) {
	svc, err := s.webhookService()
	if err != nil {
		return nil, 0, err
	}
	id, err := pathID(r, "webhook endpoint")
	return svc, id, err
}

func (s *Server) webhookCreate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	e, secret, err := svc.Create(r.Context(), webhooks.Input{URL: req.URL, Events: req.Events, IncludePII: req.IncludePII,
		Description: req.Description}, caller(r).Ref())
	if err != nil {
		return err
	}
	setTarget(r, "webhook", e.ID)
	addDetail(r, "include_pii", e.IncludePII)
	out := webhookOut(e)
	out.Secret = secret
	w.Header().Set("Location", fmt.Sprintf("/v1/webhooks/%d", e.ID))
	return writeJSON(w, http.StatusCreated, out)
}

func (s *Server) webhookList(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := svc.List(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, len(list))
	for i, e := range list {
		out[i] = webhookOut(e)
	}
	return writeJSON(w, http.StatusOK, listResponse[webhookJSON]{Data: out, NextCursor: cursor(next)})
}

func (s *Server) webhookGet(w http.ResponseWriter, r *http.Request) error {
	svc, id, err := s.webhookEndpoint(r)
	if err != nil {
		return err
	}
	e, err := svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookOut(e))
}

func (s *Server) webhookUpdate(w http.ResponseWriter, r *http.Request) error {
	svc, id, err := s.webhookEndpoint(r)
	if err != nil {
		return err
	}
	var req webhookPatch
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	p := webhooks.Patch{URL: req.URL, IncludePII: req.IncludePII, Description: req.Description, Enabled: req.Enabled}
	if req.Events != nil {
		p.Events = *req.Events
		if p.Events == nil {
			p.Events = []string{} // null: refused as empty, not read as "unchanged"
		}
	}
	e, err := svc.Update(r.Context(), id, p)
	if err != nil {
		return err
	}
	if req.IncludePII != nil {
		addDetail(r, "include_pii", e.IncludePII)
	}
	if req.Enabled != nil {
		addDetail(r, "enabled", e.Enabled)
	}
	return writeJSON(w, http.StatusOK, webhookOut(e))
}

func (s *Server) webhookDelete(w http.ResponseWriter, r *http.Request) error {
	svc, id, err := s.webhookEndpoint(r)
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type rotateRequest struct {
	// GraceHours: how long the current secret keeps signing beside the new one; absent:
	// 24, 0: it stops at once.
	GraceHours *int `json:"grace_hours" validate:"omitnil,min=0,max=168"`
}

func (s *Server) webhookRotate(w http.ResponseWriter, r *http.Request) error {
	svc, id, err := s.webhookEndpoint(r)
	if err != nil {
		return err
	}
	var req rotateRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	grace := webhooks.DefaultGrace
	if req.GraceHours != nil {
		grace = time.Duration(*req.GraceHours) * time.Hour
	}
	secret, until, err := svc.RotateSecret(r.Context(), id, grace)
	if err != nil {
		return err
	}
	addDetail(r, "grace_hours", int(grace.Hours()))
	var expires *time.Time
	if grace > 0 {
		expires = &until
	}
	return writeJSON(w, http.StatusOK, map[string]any{"secret": secret, "previous_expires_at": expires})
}

type webhookDeliveryJSON struct {
	ID            int64              `json:"id"`
	EventID       string             `json:"event_id"`
	EventType     webhooks.EventType `json:"event_type"`
	Status        webhooks.Status    `json:"status"`
	Attempts      int                `json:"attempts"`
	LastStatus    *int               `json:"last_status"`
	LastError     string             `json:"last_error"`
	NextAttemptAt *time.Time         `json:"next_attempt_at"`
	CreatedAt     time.Time          `json:"created_at"`
	LastAttemptAt *time.Time         `json:"last_attempt_at"`
	DeliveredAt   *time.Time         `json:"delivered_at"`
}

// webhookDeliveries lists an endpoint's delivery log, newest first. The payloads are not
// in it: the log says what went wrong, and a payload may hold personal data.
func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, id, err := s.webhookEndpoint(r)
	if err != nil {
		return err
	}
	limit, before, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := svc.Deliveries(r.Context(), id, webhooks.Status(r.URL.Query().Get("status")), before, limit)
	if err != nil {
		return err
	}
	out := make([]webhookDeliveryJSON, len(list))
	for i, d := range list {
		out[i] = webhookDeliveryJSON{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Status: d.Status, Attempts: d.Attempts,
			LastStatus: d.LastStatus, LastError: d.LastError, NextAttemptAt: d.NextAttemptAt, CreatedAt: d.CreatedAt,
			LastAttemptAt: d.LastAttemptAt, DeliveredAt: d.DeliveredAt}
	}
	return writeJSON(w, http.StatusOK, listResponse[webhookDeliveryJSON]{Data: out, NextCursor: cursor(next)})
}

func (s *Server) webhookReplay(w http.ResponseWriter, r *http.Request) error {
	svc, id, err := s.webhookEndpoint(r)
	if err != nil {
		return err
	}
	delivery, perr := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if perr != nil || delivery <= 0 {
		return apperr.NotFoundf("webhook endpoint %d has no delivery %q", id, r.PathValue("delivery"))
	}
	if err := svc.Replay(r.Context(), id, delivery); err != nil {
		return err
	}
	addDetail(r, "delivery_id", delivery)
	return writeJSON(w, http.StatusAccepted, map[string]any{"delivery_id": delivery, "status": webhooks.Pending})
}
