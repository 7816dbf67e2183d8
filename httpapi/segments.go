package httpapi

import (
	"fmt"
	"net/http"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/internal/apperr"
)

// Saved segments: /v1/segments.

// segmentRequest is a segment as written. On create, name and filter are required; on
// PATCH, absent fields are left alone.
type segmentRequest struct {
	Name        *string           `json:"name" validate:"omitempty,max=200"`
	Description *string           `json:"description" validate:"omitempty,max=2000"`
	Filter      *campaigns.Filter `json:"filter"`
}

func (req segmentRequest) input() campaigns.SegmentInput {
	return campaigns.SegmentInput{Name: req.Name, Description: req.Description, Filter: req.Filter}
}

// given lists the fields a request sets, for the audit entry (names, never values).
func (req segmentRequest) given() []string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"name", req.Name != nil}, {"description", req.Description != nil}, {"filter", req.Filter != nil}} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// segmentJSON is a segment as the API shows it; a single one has its live count.
type segmentJSON struct {
	campaigns.Segment
	Count *campaigns.SegmentCount `json:"count,omitempty"`
}

func (s *Server) segmentCreate(w http.ResponseWriter, r *http.Request) error {
	var req segmentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	sg, err := s.Campaigns.CreateSegment(r.Context(), req.input(), caller(r).Ref())
	if err != nil {
		return err
	}
	setTarget(r, "segment", sg.ID)
	w.Header().Set("Location", fmt.Sprintf("/v1/segments/%d", sg.ID))
	return writeJSON(w, http.StatusCreated, segmentJSON{Segment: sg})
}

func (s *Server) segmentList(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Campaigns.ListSegments(r.Context(), campaigns.SegmentListParams{AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]segmentJSON, len(list))
	for i, sg := range list {
		out[i] = segmentJSON{Segment: sg}
	}
	return writeJSON(w, http.StatusOK, listResponse[segmentJSON]{Data: out, NextCursor: cursor(next)})
}

// segmentGet answers the segment with its live count (campaigns.Service.SegmentCount).
func (s *Server) segmentGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "segment")
	if err != nil {
		return err
	}
	sg, err := s.Campaigns.GetSegment(r.Context(), id)
	if err != nil {
		return err
	}
	count, err := s.Campaigns.SegmentCount(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, segmentJSON{Segment: sg, Count: &count})
}

func (s *Server) segmentUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "segment")
	if err != nil {
		return err
	}
	var req segmentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	sg, err := s.Campaigns.UpdateSegment(r.Context(), id, req.input())
	if err != nil {
		return err
	}
	addDetail(r, "fields", req.given())
	return writeJSON(w, http.StatusOK, segmentJSON{Segment: sg})
}

func (s *Server) segmentDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "segment")
	if err != nil {
		return err
	}
	if err := s.Campaigns.DeleteSegment(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// segmentCountRequest is an unsaved filter to count: the filter field of a segment as
// POST /v1/segments takes it, so that a client sends the draft it would save and field
// errors carry the same paths (filter.tags_any, filter.attributes[0].value, …).
type segmentCountRequest struct {
	Filter *campaigns.Filter `json:"filter"`
}

// segmentCount counts a filter that is not saved, as segmentGet counts a saved one: the
// console's segment builder shows the count while the filter is being written. It reads
// and changes nothing, so it needs segments:read and records no audit entry.
func (s *Server) segmentCount(w http.ResponseWriter, r *http.Request) error {
	var req segmentCountRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Filter == nil {
		return apperr.Field("filter", "is required: give at least one of tags_any, tags_all, attributes, countries or locales")
	}
	count, err := s.Campaigns.FilterCount(r.Context(), *req.Filter)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, count)
}
