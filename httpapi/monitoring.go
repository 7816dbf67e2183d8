package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// monitoring serves the Asynq dashboard (asynqmon), mounted at /monitoring/, to callers with
// the Dashboard permission (ops and admin). Browsers sign in with HTTP Basic, the API key as
// the password.
//
// The browser resends HTTP Basic credentials to any page that asks, whoever made the page,
// so a change (pause a queue, delete tasks) must come from the dashboard itself: its Origin
// (or, without one, its Referer) must be this server's. A form on another site that pauses
// the events queue would otherwise hold up every STOP.
func (s *Server) monitoring(w http.ResponseWriter, r *http.Request) error {
	if s.Monitoring == nil {
		return errStatus(http.StatusNotFound, "not-found", "the dashboard is not served by this process")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		setTarget(r, "monitoring", strings.TrimPrefix(r.URL.Path, "/monitoring/"))
		if !sameOrigin(r) {
			return errStatus(http.StatusForbidden, "forbidden",
				"a change to the dashboard must come from the dashboard's own pages (same-origin Origin or Referer header)")
		}
	}
	s.Monitoring.ServeHTTP(w, r)
	return nil
}

// sameOrigin reports whether a request says it comes from a page of this server: its Origin
// header, or else its Referer, names the host the request was sent to.
func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" || from == "null" {
		from = r.Header.Get("Referer")
	}
	u, err := url.Parse(from)
	if from == "" || err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
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
