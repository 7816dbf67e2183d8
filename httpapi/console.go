package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
)

// The console: Crier's web application, at /. Its pages are html/template files in
// console/pages, rendered on the server from the same services as the API, behind the
// same route table (a route with page set), so one permission table decides what a user
// may see and do. Every change a page makes goes through the JSON API (console/static/
// console.js sends the session's CSRF token), so it is authorised and audited exactly as
// an API key's would be. Everything is embedded: the console works offline.
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP allows only Crier's own scripts, styles and connections: no inline script,
// no other origin.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// consoleTemplates are parsed once: each page is the layout plus its own file.
type consoleTemplates struct {
	pages   map[string]*template.Template
	version string // the static files' hash: their URLs change when they do
}

var consoleFuncs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return fmt.Sprint(t)
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// num writes an integer with thousands separators: 1 234 567.
	"num": func(n any) string {
		s := fmt.Sprint(n)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteRune('\u202f')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	},
	// json embeds a value in a <script type="application/json"> block for a page's script.
	"json": func(v any) (template.JS, error) {
		b, err := json.Marshal(v)
		return template.JS(b), err
	},
	// query builds a query string (without "?") for a link: <a href="/x?{{query "a" .A}}">.
	"query": func(kv ...any) template.URL {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if v := fmt.Sprint(kv[i+1]); v != "" && v != "0" {
				q.Set(fmt.Sprint(kv[i]), v)
			}
		}
		return template.URL(q.Encode()) // url.Values.Encode escapes every value
	},
	"join": strings.Join,
	// The choices of the withdrawal form (partials.html).
	"purposes":          func() []consent.Purpose { return consent.Purposes },
	"withdrawalSources": func() []consent.Source { return withdrawalSources },
	"add":               func(a, b int) int { return a + b },
}

func loadConsole() (*consoleTemplates, error) {
	ct := &consoleTemplates{pages: map[string]*template.Template{}}
	base, err := template.New("").Funcs(consoleFuncs).ParseFS(consoleFiles, "console/layout.html", "console/partials.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(consoleFiles, "console/pages/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		t, err := template.Must(base.Clone()).ParseFS(consoleFiles, f)
		if err != nil {
			return nil, err
		}
		ct.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	h := sha256.New()
	err = fs.WalkDir(consoleFiles, "console/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	ct.version = hex.EncodeToString(h.Sum(nil))[:12]
	return ct, err
}

// navItem is one link of the console's menu, shown to the roles that have its permission.
type navItem struct {
	Label, Href string
	Perm        auth.Permission
}

// consoleNav is the menu, in the order of a marketer's day, then ops, compliance, admin.
var consoleNav = []navItem{
	{"Campaigns", "/campaigns", auth.CampaignsRead},
	{"Templates", "/templates", auth.TemplatesRead},
	{"Segments", "/segments", auth.SegmentsRead},
	{"Contacts", "/contacts", auth.ContactsList},
	{"Import", "/imports/new", auth.ContactsWrite},
	{"Look up", "/lookup", auth.ContactsPII},
	{"Accounts", "/accounts", auth.AccountsRead},
	{"Suppressions", "/suppressions", auth.SuppressionsRead},
	{"Audit log", "/audit", auth.AuditRead},
	{"Users", "/users", auth.UsersManage},
}

// view is what every console template gets: who is signed in, the CSRF token for the
// page's script, the menu, and the page's own data.
type view struct {
	Title   string
	Who     principal
	CSRF    string
	Path    string
	Nav     []navItem
	Version string
	Data    any
}

// Can reports whether the signed-in user's role has a permission: templates show only
// the buttons a user may press (the API refuses the others anyway).
func (v view) Can(p string) bool { return v.Who.Role.Can(auth.Permission(p)) }

// render writes a console page for the signed-in user.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title string, data any) error {
	who := caller(r)
	v := view{Title: title, Who: who, CSRF: who.csrf, Path: r.URL.Path, Data: data, Version: s.console.version}
	for _, n := range consoleNav {
		if who.Role.Can(n.Perm) {
			v.Nav = append(v.Nav, n)
		}
	}
	return s.renderPage(w, http.StatusOK, name, v)
}

// renderBare writes a page outside the session (sign-in): the layout without the menu.
func (s *Server) renderBare(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	return s.renderPage(w, status, name, view{Title: "Sign in", Data: data, Version: s.console.version, Path: r.URL.Path})
}

func (s *Server) renderPage(w http.ResponseWriter, status int, name string, v view) error {
	t, ok := s.console.pages[name]
	if !ok {
		return fmt.Errorf("console: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", consoleCSP)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

type errorView struct {
	Status    int
	Title     string
	Detail    string
	RequestID string
}

// errorPage is a problem shown as a console page.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, p problem) {
	ev := errorView{Status: p.Status, Title: p.Title, Detail: p.Detail, RequestID: p.RequestID}
	who := caller(r)
	v := view{Title: p.Title, Who: who, CSRF: who.csrf, Path: r.URL.Path, Data: ev, Version: s.console.version}
	for _, n := range consoleNav {
		if who.Role != "" && who.Role.Can(n.Perm) {
			v.Nav = append(v.Nav, n)
		}
	}
	if err := s.renderPage(w, p.Status, "error", v); err != nil {
		writeProblem(w, p)
	}
}

// consoleStatic serves the console's own scripts and styles. Their URLs carry the
// files' hash (?v=), so a browser may keep them.
func (s *Server) consoleStatic(w http.ResponseWriter, r *http.Request) error {
	sub, _ := fs.Sub(consoleFiles, "console/static")
	name := r.PathValue("file")
	if _, err := fs.Stat(sub, name); err != nil || strings.Contains(name, "..") {
		return errStatus(http.StatusNotFound, "not-found", "there is no such file")
	}
	if r.URL.Query().Get("v") == s.console.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, sub, name)
	return nil
}

// consoleHome sends a user to the first page of the menu their role may see.
func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request) error {
	if s.Users == nil {
		return errStatus(http.StatusNotFound, "not-found", "there is no such route: see /docs")
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	sess, err := s.Users.Lookup(r.Context(), c.Value)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	for _, n := range consoleNav {
		if sess.User.Role.Can(n.Perm) {
			http.Redirect(w, r, n.Href, http.StatusSeeOther)
			return nil
		}
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}
