package httpapi

import "net/http"

// The replies inbox: /v1/replies.

func (s *Server) replyList(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) replyHandled(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}
