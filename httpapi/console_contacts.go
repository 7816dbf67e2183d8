package httpapi

import "net/http"

func (s *Server) pageContacts(w http.ResponseWriter, r *http.Request) error     { return notYet(w, r) }
func (s *Server) pageContact(w http.ResponseWriter, r *http.Request) error      { return notYet(w, r) }
func (s *Server) pageLookup(w http.ResponseWriter, r *http.Request) error       { return notYet(w, r) }
func (s *Server) pageSuppressions(w http.ResponseWriter, r *http.Request) error { return notYet(w, r) }
func (s *Server) pageAudit(w http.ResponseWriter, r *http.Request) error        { return notYet(w, r) }
