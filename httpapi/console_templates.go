package httpapi

import "net/http"

func (s *Server) pageTemplates(w http.ResponseWriter, r *http.Request) error   { return notYet(w, r) }
func (s *Server) pageTemplateNew(w http.ResponseWriter, r *http.Request) error { return notYet(w, r) }
func (s *Server) pageTemplate(w http.ResponseWriter, r *http.Request) error    { return notYet(w, r) }
