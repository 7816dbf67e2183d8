package httpapi

import "net/http"

// PATCH /v1/accounts/{id}.

func (s *Server) accountUpdate(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}
