package httpapi

import (
	"net/http"
	"strings"
)

// monitoring serves the Asynq dashboard (asynqmon), mounted at /monitoring/, to callers with
// the Dashboard permission (ops and admin). Browsers sign in with HTTP Basic, the API key as
// the password.
func (s *Server) monitoring(w http.ResponseWriter, r *http.Request) error {
	if s.Monitoring == nil {
		return errStatus(http.StatusNotFound, "not-found", "the dashboard is not served by this process")
	}
	if r.Method != http.MethodGet {
		setTarget(r, "monitoring", strings.TrimPrefix(r.URL.Path, "/monitoring/"))
	}
	s.Monitoring.ServeHTTP(w, r)
	return nil
}

// metrics serves the Prometheus metrics: the Asynq queues, the limiter and Crier's counters.
// It is public like the health checks and carries ids only; keep it off the public
// internet.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	if s.Metrics == nil {
		return errStatus(http.StatusNotFound, "not-found", "metrics are not served by this process")
	}
	s.Metrics.ServeHTTP(w, r)
	return nil
}
