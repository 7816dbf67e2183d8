package httpapi

import "net/http"

// The API's description of itself: GET /openapi.yaml and GET /docs.

func (s *Server) openapiSpec(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) apiDocs(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}
