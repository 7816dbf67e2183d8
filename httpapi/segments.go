package httpapi

import "net/http"

// Saved segments: /v1/segments.

func (s *Server) segmentCreate(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) segmentList(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) segmentGet(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) segmentUpdate(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) segmentDelete(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}
