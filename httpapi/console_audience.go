package httpapi

import "net/http"

func (s *Server) pageImportNew(w http.ResponseWriter, r *http.Request) error  { return notYet(w, r) }
func (s *Server) pageImport(w http.ResponseWriter, r *http.Request) error     { return notYet(w, r) }
func (s *Server) pageSegments(w http.ResponseWriter, r *http.Request) error   { return notYet(w, r) }
func (s *Server) pageSegmentNew(w http.ResponseWriter, r *http.Request) error { return notYet(w, r) }
func (s *Server) pageSegment(w http.ResponseWriter, r *http.Request) error    { return notYet(w, r) }
