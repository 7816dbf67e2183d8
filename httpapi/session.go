package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
)

// The console's cookies. The session cookie is HttpOnly and SameSite=Lax (a link from an
// email to a console page arrives signed in; a cross-site POST carries no cookie at
// all), Secure behind TLS. The sign-in form's CSRF cookie pairs with its hidden field
// (the double-submit pattern), as there is no session yet to hold a token.
const (
	sessionCookie = "crier_session"
	signInCookie  = "crier_signin"
	csrfHeader    = "X-CSRF-Token"
)

// errNoSession is a console page asked for without a live session: the answer is the
// sign-in page.
var errNoSession = errors.New("no console session")

// sessionPrincipal returns the user of a session cookie. A change (any method but GET,
// HEAD and OPTIONS) also needs the session's CSRF token in the X-CSRF-Token header, which
// the console's script sends and another site cannot read; the Asynq dashboard, whose
// script Crier does not write, is allowed a same-origin request instead (Origin or
// Referer, as monitoring.go checks for every change anyway).
func (s *Server) sessionPrincipal(r *http.Request, rt route, token string) (principal, error) {
	sess, err := s.Users.Lookup(r.Context(), token)
	if errors.Is(err, auth.ErrUnauthenticated) {
		if rt.page {
			return principal{}, errNoSession
		}
		return principal{}, errStatus(http.StatusUnauthorized, "unauthorized",
			"your console session has ended; sign in again")
	}
	if err != nil {
		return principal{}, err
	}
	p := principal{UserID: sess.User.ID, Name: sess.User.Email, Role: sess.User.Role, csrf: sess.CSRFToken}
	if safeMethod(r.Method) {
		return p, nil
	}
	given := r.Header.Get(csrfHeader)
	switch {
	case given != "" && subtle.ConstantTimeCompare([]byte(given), []byte(sess.CSRFToken)) == 1 && !crossSite(r):
	case given == "" && rt.browser && sameOrigin(r):
	default:
		return principal{}, errStatus(http.StatusForbidden, "csrf",
			"this change did not come from a Crier console page (its CSRF token is missing or wrong): reload the page and try again")
	}
	return p, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossSite reports a request a browser says another site made.
func crossSite(r *http.Request) bool { return r.Header.Get("Sec-Fetch-Site") == "cross-site" }

// secure reports whether the browser reached Crier over TLS: directly, or through a
// trusted proxy that says so.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if r.Header.Get("X-Forwarded-Proto") != "https" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && inPrefixes(s.opts.TrustedProxies, addr)
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// toSignIn sends a browser without a session to the sign-in page, to come back after.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on this site: a path, never "//host", "/\\host"
// or a URL. Control characters are refused too: browsers drop tabs and newlines from a
// URL, so "/<tab>/evil.example" would be read as "//evil.example".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return next
}

type signInView struct {
	Next  string
	Email string
	Error string
	CSRF  string
	Link  string // a sign-in link's token: the form redeems it
}

// signInPage shows the sign-in form with a fresh double-submit token.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) error {
	if s.Users == nil {
		return errStatus(http.StatusNotFound, "not-found", "the console is not enabled on this server")
	}
	v := signInView{Next: safeNext(r.URL.Query().Get("next"))}
	return s.renderSignIn(w, r, http.StatusOK, v)
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, v signInView) error {
	tok := newSignInToken()
	v.CSRF = tok
	s.setCookie(w, r, signInCookie, tok, "/", 30*time.Minute)
	return s.renderBare(w, r, status, "signin", v)
}

func newSignInToken() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// signInCSRF checks the sign-in form's double-submit token.
func signInCSRF(r *http.Request) bool {
	c, err := r.Cookie(signInCookie)
	form := r.PostFormValue("csrf")
	return err == nil && form != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1 && !crossSite(r)
}

// signIn checks an email and password and starts a session.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	if s.Users == nil {
		return errStatus(http.StatusNotFound, "not-found", "the console is not enabled on this server")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	v := signInView{Next: safeNext(r.PostFormValue("next")), Email: r.PostFormValue("email")}
	if !signInCSRF(r) {
		v.Error = "The form expired. Please sign in again."
		return s.renderSignIn(w, r, http.StatusForbidden, v)
	}
	if err := s.throttle.guessing(r.Context(), r); err != nil {
		v.Error = "Too many failed sign-ins from this address. Wait a minute and try again."
		return s.renderSignIn(w, r, http.StatusTooManyRequests, v)
	}
	if s.throttle.guessingEmail(r.Context(), v.Email) {
		v.Error = "Too many failed sign-ins for this email. Wait 15 minutes and try again."
		return s.renderSignIn(w, r, http.StatusTooManyRequests, v)
	}
	sess, err := s.Users.SignIn(r.Context(), v.Email, r.PostFormValue("password"))
	if errors.Is(err, auth.ErrBadSignIn) {
		s.throttle.failed(r.Context(), r)
		s.throttle.failedEmail(r.Context(), v.Email)
		s.recordSignIn(r, principal{Name: strings.ToLower(strings.TrimSpace(v.Email))}, "user.sign_in", http.StatusUnauthorized)
		v.Error = "The email or password is wrong."
		return s.renderSignIn(w, r, http.StatusUnauthorized, v)
	}
	if err != nil {
		return err
	}
	return s.startSession(w, r, sess, v.Next, "password")
}

// signInLinkPage shows the form that redeems a one-time sign-in link. Opening the link
// changes nothing (mail scanners open links); the button does.
func (s *Server) signInLinkPage(w http.ResponseWriter, r *http.Request) error {
	if s.Users == nil {
		return errStatus(http.StatusNotFound, "not-found", "the console is not enabled on this server")
	}
	return s.renderSignIn(w, r, http.StatusOK, signInView{Next: "/", Link: r.PathValue("token")})
}

// signInLink redeems a one-time sign-in link.
func (s *Server) signInLink(w http.ResponseWriter, r *http.Request) error {
	if s.Users == nil {
		return errStatus(http.StatusNotFound, "not-found", "the console is not enabled on this server")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	v := signInView{Next: "/account", Link: r.PathValue("token")}
	if !signInCSRF(r) {
		v.Error = "The form expired. Please try again."
		return s.renderSignIn(w, r, http.StatusForbidden, v)
	}
	if err := s.throttle.guessing(r.Context(), r); err != nil {
		v.Error = "Too many failed sign-ins from this address. Wait a minute and try again."
		return s.renderSignIn(w, r, http.StatusTooManyRequests, v)
	}
	sess, err := s.Users.Redeem(r.Context(), v.Link)
	if errors.Is(err, auth.ErrBadSignIn) {
		s.throttle.failed(r.Context(), r)
		v.Error = "This sign-in link has been used or has expired. Ask an admin for a new one."
		v.Link = ""
		return s.renderSignIn(w, r, http.StatusUnauthorized, v)
	}
	if err != nil {
		return err
	}
	return s.startSession(w, r, sess, v.Next, "link")
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, sess auth.Session, next, method string) error {
	s.setCookie(w, r, sessionCookie, sess.Token, "/", time.Until(sess.ExpiresAt))
	s.setCookie(w, r, signInCookie, "", "/", -1)
	who := principal{UserID: sess.User.ID, Name: sess.User.Email, Role: sess.User.Role}
	s.recordSignIn(r, who, "user.sign_in", http.StatusSeeOther, "method", method)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// signOut ends the session. It needs the CSRF token like every change, so that another
// site cannot sign a user out.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil || s.Users == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	sess, err := s.Users.Lookup(r.Context(), c.Value)
	if err == nil {
		if r.PostFormValue("csrf") == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRFToken)) != 1 {
			return errStatus(http.StatusForbidden, "csrf", "reload the page and sign out again")
		}
		if err := s.Users.SignOut(r.Context(), c.Value); err != nil {
			return err
		}
		s.recordSignIn(r, principal{UserID: sess.User.ID, Name: sess.User.Email}, "user.sign_out", http.StatusSeeOther)
	}
	s.setCookie(w, r, sessionCookie, "", "/", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// recordSignIn audits a sign-in, a failed one (with the email tried as the actor) and a
// sign-out.
func (s *Server) recordSignIn(r *http.Request, who principal, action string, status int, detail ...any) {
	d := map[string]any{}
	for i := 0; i+1 < len(detail); i += 2 {
		d[fmt.Sprint(detail[i])] = detail[i+1]
	}
	e := audit.Entry{ActorUserID: who.UserID, Actor: who.Name, Action: action, TargetType: "user",
		RequestID: requestState(r).id, Status: status, Detail: d}
	if who.UserID != 0 {
		e.TargetID = fmt.Sprint(who.UserID)
	}
	if err := s.Audit.Record(context.WithoutCancel(r.Context()), e); err != nil {
		s.Logger.ErrorContext(r.Context(), "audit sign-in", "error", err, "request_id", e.RequestID)
	}
}
