package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// campaignRequest is a campaign as written. On create, name, template_id, account_ids and
// audience are required; on PATCH, absent fields are left alone. audience is an inline
// filter or {"segment_id": N} (campaigns.Audience).
type campaignRequest struct {
	Name          *string              `json:"name" validate:"omitempty,max=200"`
	TemplateID    *int64               `json:"template_id" validate:"omitempty,gt=0"`
	AccountIDs    []int64              `json:"account_ids" validate:"omitempty,max=100"`
	Audience      *campaigns.Audience  `json:"audience"`
	Schedule      *schedule.Schedule   `json:"schedule"`
	QuietHours    *schedule.QuietHours `json:"quiet_hours"`
	Rotation      *string              `json:"rotation" validate:"omitempty,oneof=round_robin sticky"`
	RatePerMinute *int                 `json:"rate_per_minute" validate:"omitempty,gte=0,max=100000"`
}

func (req campaignRequest) input() campaigns.Input {
	in := campaigns.Input{Name: req.Name, TemplateID: req.TemplateID, AccountIDs: req.AccountIDs, Audience: req.Audience,
		Schedule: req.Schedule, QuietHours: req.QuietHours, RatePerMinute: req.RatePerMinute}
	if req.Rotation != nil {
		r := sender.Rotation(*req.Rotation)
		in.Rotation = &r
	}
	return in
}

// given lists the fields a request sets, for the audit entry (names, never values).
func (req campaignRequest) given() []string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"name", req.Name != nil}, {"template_id", req.TemplateID != nil}, {"account_ids", req.AccountIDs != nil},
		{"audience", req.Audience != nil}, {"schedule", req.Schedule != nil}, {"quiet_hours", req.QuietHours != nil},
		{"rotation", req.Rotation != nil}, {"rate_per_minute", req.RatePerMinute != nil}} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// campaignJSON is a campaign as the API shows it.
type campaignJSON struct {
	ID            int64               `json:"id"`
	Name          string              `json:"name"`
	TemplateID    int64               `json:"template_id"`
	AccountIDs    []int64             `json:"account_ids"`
	Audience      any                 `json:"audience"` // the inline filter, or {"segment_id": N}
	Schedule      schedule.Schedule   `json:"schedule"`
	QuietHours    schedule.QuietHours `json:"quiet_hours"`
	Rotation      sender.Rotation     `json:"rotation"`
	RatePerMinute *int                `json:"rate_per_minute"`
	Status        campaigns.Status    `json:"status"`
	StatusReason  string              `json:"status_reason,omitempty"`
	PausedFrom    campaigns.Status    `json:"paused_from,omitempty"`
	NextRunAt     *time.Time          `json:"next_run_at"`
	CreatedBy     string              `json:"created_by"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
}

func campaignOut(c campaigns.Campaign) campaignJSON {
	out := campaignJSON{ID: c.ID, Name: c.Name, TemplateID: c.TemplateID, AccountIDs: c.AccountIDs, Audience: c.Audience,
		Schedule: c.Schedule, QuietHours: c.QuietHours, Rotation: c.Rotation, Status: c.Status, StatusReason: c.StatusReason,
		PausedFrom: c.PausedFrom, NextRunAt: c.NextRunAt, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.Audience.SegmentID != 0 {
		// The filter stored with it is the segment's last resolved copy, not the audience.
		out.Audience = struct {
			SegmentID int64 `json:"segment_id"`
		}{c.Audience.SegmentID}
	}
	if c.RatePerMinute > 0 {
		out.RatePerMinute = &c.RatePerMinute
	}
	if out.AccountIDs == nil {
		out.AccountIDs = []int64{}
	}
	return out
}

func (s *Server) campaignCreate(w http.ResponseWriter, r *http.Request) error {
	var req campaignRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.Campaigns.Create(r.Context(), req.input(), caller(r).Ref())
	if err != nil {
		return err
	}
	setTarget(r, "campaign", c.ID)
	w.Header().Set("Location", fmt.Sprintf("/v1/campaigns/%d", c.ID))
	return writeJSON(w, http.StatusCreated, campaignOut(c))
}

func (s *Server) campaignUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaign")
	if err != nil {
		return err
	}
	var req campaignRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.Campaigns.Update(r.Context(), id, req.input())
	if err != nil {
		return err
	}
	addDetail(r, "fields", req.given())
	return writeJSON(w, http.StatusOK, campaignOut(c))
}

func (s *Server) campaignGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaign")
	if err != nil {
		return err
	}
	c, err := s.Campaigns.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, campaignOut(c))
}

func (s *Server) campaignList(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Campaigns.List(r.Context(), campaigns.ListParams{
		Status: campaigns.Status(r.URL.Query().Get("status")), AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]campaignJSON, len(list))
	for i, c := range list {
		out[i] = campaignOut(c)
	}
	return writeJSON(w, http.StatusOK, listResponse[campaignJSON]{Data: out, NextCursor: cursor(next)})
}

// campaignPreview counts the audience as a launch would and renders a few samples.
func (s *Server) campaignPreview(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaign")
	if err != nil {
		return err
	}
	p, err := s.Campaigns.Preview(r.Context(), id, caller(r).Role.Can(auth.ContactsPII))
	if err != nil {
		return err
	}
	if _, err := s.piiRead(r, "campaign.preview.read", "campaign", id, map[string]any{"samples": len(p.Samples)}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

type reasonRequest struct {
	Reason string `json:"reason" validate:"max=500"`
}

// decodeReason reads the optional {"reason": "..."} body of pause and cancel.
func (s *Server) decodeReason(w http.ResponseWriter, r *http.Request) (string, error) {
	if r.ContentLength == 0 {
		return "", nil
	}
	var req reasonRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return "", err
	}
	return req.Reason, nil
}

// campaignAction runs one lifecycle action and answers with the campaign.
func (s *Server) campaignAction(act func(r *http.Request, id int64) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "campaign")
		if err != nil {
			return err
		}
		if err := act(r, id); err != nil {
			return err
		}
		c, err := s.Campaigns.Get(r.Context(), id)
		if err != nil {
			return err
		}
		addDetail(r, "status", c.Status)
		return writeJSON(w, http.StatusOK, campaignOut(c))
	}
}

func (s *Server) campaignSchedule(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(func(r *http.Request, id int64) error { return s.Campaigns.Schedule(r.Context(), id) })(w, r)
}

func (s *Server) campaignPause(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(func(r *http.Request, id int64) error {
		reason, err := s.decodeReason(w, r)
		if err != nil {
			return err
		}
		return s.Campaigns.Pause(r.Context(), id, reason)
	})(w, r)
}

func (s *Server) campaignResume(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(func(r *http.Request, id int64) error { return s.Campaigns.Resume(r.Context(), id) })(w, r)
}

func (s *Server) campaignCancel(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(func(r *http.Request, id int64) error {
		reason, err := s.decodeReason(w, r)
		if err != nil {
			return err
		}
		n, err := s.Campaigns.Cancel(r.Context(), id, reason)
		addDetail(r, "deliveries_cancelled", n)
		return err
	})(w, r)
}

func (s *Server) campaignStats(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaign")
	if err != nil {
		return err
	}
	st, err := s.Campaigns.Stats(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// campaignDeliveries lists per-recipient rows; phones are masked and the message text
// left out for roles without the personal-data permission.
func (s *Server) campaignDeliveries(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaign")
	if err != nil {
		return err
	}
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var runID int64
	if v := q.Get("run_id"); v != "" {
		if runID, err = strconv.ParseInt(v, 10, 64); err != nil || runID <= 0 {
			return apperr.Field("run_id", "must be the id of a run")
		}
	}
	list, next, err := s.Campaigns.Deliveries(r.Context(), id, campaigns.DeliveryListParams{
		Status: delivery.Status(q.Get("status")), RunID: runID, AfterID: after, Limit: limit,
		PII: caller(r).Role.Can(auth.ContactsPII)})
	if err != nil {
		return err
	}
	if _, err := s.piiRead(r, "campaign.deliveries.read", "campaign", id, map[string]any{"deliveries": len(list)}); err != nil {
		return err
	}
	if list == nil {
		list = []campaigns.DeliveryRow{}
	}
	return writeJSON(w, http.StatusOK, listResponse[campaigns.DeliveryRow]{Data: list, NextCursor: cursor(next)})
}
