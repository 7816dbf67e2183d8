package httpapi

import "net/http"

func (s *Server) pageSelf(w http.ResponseWriter, r *http.Request) error  { return notYet(w, r) }
func (s *Server) pageUsers(w http.ResponseWriter, r *http.Request) error { return notYet(w, r) }
