package httpapi

// RouteInfo is a route as the tests see it.
type RouteInfo struct {
	Pattern string
	Perm    string
	Action  string
}

// Routes exposes the route table to the external tests.
func (s *Server) Routes() []RouteInfo {
	var out []RouteInfo
	for _, rt := range s.routes() {
		out = append(out, RouteInfo{Pattern: rt.pattern, Perm: string(rt.perm), Action: rt.action})
	}
	return out
}
