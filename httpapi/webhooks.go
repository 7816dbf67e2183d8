package httpapi

import "net/http"

// Outbound webhooks: /v1/webhooks.

func (s *Server) webhookCreate(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) webhookList(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) webhookGet(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) webhookUpdate(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) webhookDelete(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) webhookRotate(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}

func (s *Server) webhookReplay(w http.ResponseWriter, r *http.Request) error {
	return errStatus(http.StatusNotImplemented, "not-implemented", "not implemented yet")
}
