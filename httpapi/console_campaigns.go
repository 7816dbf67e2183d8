package httpapi

import "net/http"

func (s *Server) pageCampaigns(w http.ResponseWriter, r *http.Request) error   { return notYet(w, r) }
func (s *Server) pageCampaignNew(w http.ResponseWriter, r *http.Request) error { return notYet(w, r) }
func (s *Server) pageCampaign(w http.ResponseWriter, r *http.Request) error    { return notYet(w, r) }
