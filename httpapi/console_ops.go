package httpapi

import "net/http"

func (s *Server) pageAccounts(w http.ResponseWriter, r *http.Request) error   { return notYet(w, r) }
func (s *Server) pageAccountNew(w http.ResponseWriter, r *http.Request) error { return notYet(w, r) }
func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request) error    { return notYet(w, r) }
func (s *Server) qrSVG(w http.ResponseWriter, r *http.Request) error          { return notYet(w, r) }
