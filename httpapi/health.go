package httpapi

import (
	"context"
	"net/http"
	"sort"
	"time"
)

// healthz says the process is alive; it checks nothing else, so that an orchestrator
// does not restart a healthy process because a dependency is down.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz runs the readiness checks (PostgreSQL, Redis) with a short timeout each and
// answers 503 when any fails.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	names := make([]string, 0, len(s.Ready))
	for name := range s.Ready {
		names = append(names, name)
	}
	sort.Strings(names)
	checks := map[string]string{}
	status := http.StatusOK
	for _, name := range names {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := s.Ready[name](ctx)
		cancel()
		if err != nil {
			checks[name] = "unavailable"
			status = http.StatusServiceUnavailable
			s.Logger.WarnContext(r.Context(), "not ready", "check", name, "error", err)
			continue
		}
		checks[name] = "ok"
	}
	state := "ready"
	if status != http.StatusOK {
		state = "not ready"
	}
	return writeJSON(w, status, map[string]any{"status": state, "checks": checks})
}
