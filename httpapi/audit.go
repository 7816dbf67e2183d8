package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/internal/apperr"
)

type auditJSON struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	ActorKeyID string         `json:"actor_key_id"`
	ActorUser  *int64         `json:"actor_user_id"`
	Actor      string         `json:"actor"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	RequestID  string         `json:"request_id"`
	Status     int            `json:"status"`
	Detail     map[string]any `json:"detail"`
}

// auditList pages through the audit log, newest first, optionally for one target, actor
// or action.
func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	limit, before, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var userID int64
	if v := q.Get("actor_user_id"); v != "" {
		if userID, err = strconv.ParseInt(v, 10, 64); err != nil || userID <= 0 {
			return apperr.Field("actor_user_id", "must be a user id")
		}
	}
	list, next, err := s.Audit.List(r.Context(), audit.ListParams{
		BeforeID: before, Limit: limit, TargetType: q.Get("target_type"), TargetID: q.Get("target_id"),
		ActorKeyID: q.Get("actor_key_id"), ActorUserID: userID, Action: q.Get("action"),
	})
	if err != nil {
		return err
	}
	out := make([]auditJSON, len(list))
	for i, e := range list {
		out[i] = auditJSON{ID: e.ID, At: e.At.UTC(), ActorKeyID: e.ActorKeyID, Actor: e.Actor, Action: e.Action,
			TargetType: e.TargetType, TargetID: e.TargetID, RequestID: e.RequestID, Status: e.Status, Detail: e.Detail}
		if e.ActorUserID != 0 {
			out[i].ActorUser = &e.ActorUserID
		}
	}
	return writeJSON(w, http.StatusOK, listResponse[auditJSON]{Data: out, NextCursor: cursor(next)})
}
