package httpapi

import "net/http"

// campaignTimeline answers what happened to a campaign's messages over time, for the
// console's live chart (campaigns.Service.Timeline): counts only, nothing personal.
func (s *Server) campaignTimeline(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaign")
	if err != nil {
		return err
	}
	tl, err := s.Campaigns.Timeline(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, tl)
}
