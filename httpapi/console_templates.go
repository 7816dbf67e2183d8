package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/templates"
)

// The template pages: a list, and one editor for new and saved templates. The editor is
// rendered from the stored template and saved by template.js through POST or PUT
// /v1/templates, so the engine's validation (Liquid, spintax, lengths, the opt-out footer)
// answers with the same field errors a client of the API gets.

// templateRow is one line of the template list.
type templateRow struct {
	ID       int64
	Name     string
	Category templates.Category
	Locales  []string
	Variants int
	Version  int
	Updated  time.Time
}

type templateListPage struct {
	Rows  []templateRow
	Next  string // the cursor of the next page; "" at the end
	Paged bool   // past the first page: offer the way back
}

// pageTemplates lists the templates in id order, a page at a time (keyset: ?cursor=).
func (s *Server) pageTemplates(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Templates.List(r.Context(), after, limit)
	if err != nil {
		return err
	}
	p := templateListPage{Rows: make([]templateRow, len(list)), Paged: after > 0}
	for i, t := range list {
		row := templateRow{ID: t.ID, Name: t.Name, Category: t.Category, Version: t.Version, Updated: t.UpdatedAt,
			Locales: make([]string, len(t.Locales))}
		for j, l := range t.Locales {
			row.Locales[j] = l.Locale
			row.Variants += len(l.Variants)
		}
		p.Rows[i] = row
	}
	if c := cursor(next); c != nil {
		p.Next = *c
	}
	return s.render(w, r, "templates", "Templates", p)
}

// templateEditor is what the editor page shows and what template.js starts from.
type templateEditor struct {
	ID        int64
	Name      string
	Category  templates.Category
	Version   int
	Updated   time.Time
	Locales   []templates.Locale
	Editable  bool     // the user may save (templates:write)
	Variables []string // what a body may use, for the hint
	Script    editorScript
}

// editorScript is the part of the editor template.js reads from the page.
type editorScript struct {
	ID int64 `json:"id"` // 0: not saved yet, nothing to preview
	// Footer is the opt-out rule for the live hint: the built-in footers by language and the
	// keywords a marketing footer must name (the engine's defaults, which `crier serve` uses).
	// The API's check on save is the one that counts.
	Footer footerRule `json:"footer"`
	// Cloud holds each locale's binding to a Cloud API template (null for none), sent back
	// unchanged on save: the editor shows a bound locale but does not edit its binding.
	Cloud []*templates.CloudTemplate `json:"cloud"`
}

type footerRule struct {
	Defaults map[string]string `json:"defaults"`
	Keywords []string          `json:"keywords"`
}

func newEditor(id int64, locales []templates.Locale, editable bool) templateEditor {
	sc := editorScript{ID: id, Cloud: make([]*templates.CloudTemplate, len(locales)),
		Footer: footerRule{Defaults: templates.DefaultFooters(), Keywords: templates.DefaultOptOutKeywords()}}
	for i, l := range locales {
		sc.Cloud[i] = l.Cloud
	}
	return templateEditor{ID: id, Locales: locales, Editable: editable, Variables: templates.Variables(), Script: sc}
}

// pageTemplateNew is the editor for a new template: one English locale with one variant.
func (s *Server) pageTemplateNew(w http.ResponseWriter, r *http.Request) error {
	ed := newEditor(0, []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Weight: 1}}}}, true)
	ed.Category = templates.Marketing
	return s.render(w, r, "template", "New template", ed)
}

// pageTemplate is the editor for a saved template; read-only for roles that may not write
// templates. An unknown id is the 404 page.
func (s *Server) pageTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "template")
	if err != nil {
		return err
	}
	st, err := s.Templates.Get(r.Context(), id)
	if err != nil {
		return err
	}
	ed := newEditor(st.ID, st.Locales, caller(r).Role.Can(auth.TemplatesWrite))
	ed.Name, ed.Category, ed.Version, ed.Updated = st.Name, st.Category, st.Version, st.UpdatedAt
	title := strings.TrimSpace(st.Name)
	if title == "" {
		title = "Template"
	}
	return s.render(w, r, "template", title, ed)
}
