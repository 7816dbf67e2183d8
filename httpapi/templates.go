package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/templates"
)

type variantJSON struct {
	Body   string `json:"body"`
	Weight *int   `json:"weight"` // omitted: 1
}

type localeJSON struct {
	Locale   string        `json:"locale"`
	Variants []variantJSON `json:"variants"`
	Footer   string        `json:"footer"`
	// Cloud binds the locale to an approved Cloud API template; its variant and footer
	// are then derived from Meta's text (templates.CloudTemplate).
	Cloud *templates.CloudTemplate `json:"cloud,omitempty"`
}

// templateRequest is a template as written: either locales, or the single-locale
// shorthand locale + variants + footer.
type templateRequest struct {
	Name     string       `json:"name" validate:"required"`
	Category string       `json:"category" validate:"required"`
	Locales  []localeJSON `json:"locales"`

	Locale   *string       `json:"locale"`
	Variants []variantJSON `json:"variants"`
	Footer   *string       `json:"footer"`
}

// template turns the request into a template, and reports whether it used the shorthand.
func (req templateRequest) template() (templates.Template, bool, error) {
	shorthand := req.Locale != nil || req.Variants != nil || req.Footer != nil
	if shorthand && req.Locales != nil {
		return templates.Template{}, false, apperr.Field("locales", "give either locales, or locale with variants and footer, not both")
	}
	locales := req.Locales
	if shorthand {
		l := localeJSON{Locale: "en", Variants: req.Variants}
		if req.Locale != nil {
			l.Locale = *req.Locale
		}
		if req.Footer != nil {
			l.Footer = *req.Footer
		}
		locales = []localeJSON{l}
	}
	t := templates.Template{Name: req.Name, Category: templates.Category(req.Category), Locales: make([]templates.Locale, len(locales))}
	for i, l := range locales {
		out := templates.Locale{Locale: l.Locale, Footer: l.Footer, Cloud: l.Cloud, Variants: make([]templates.Variant, len(l.Variants))}
		for j, v := range l.Variants {
			out.Variants[j] = templates.Variant{Body: v.Body, Weight: 1}
			if v.Weight != nil {
				out.Variants[j].Weight = *v.Weight
			}
		}
		t.Locales[i] = out
	}
	return t, shorthand, nil
}

// shorthandErrors points the errors of a shorthand template at the fields the user wrote:
// locales[0].variants[1].body → variants[1].body.
func shorthandErrors(err error) error {
	fields := apperr.FieldsOf(err)
	if fields == nil {
		return err
	}
	out := make([]apperr.FieldError, len(fields))
	for i, f := range fields {
		f.Field = strings.TrimPrefix(f.Field, "locales[0].")
		if f.Field == "locales" {
			f.Field = "variants"
		}
		out[i] = f
	}
	return &apperr.Error{Code: apperr.CodeOf(err), Message: "invalid template", Fields: out}
}

type templateJSON struct {
	ID        int64              `json:"id"`
	Name      string             `json:"name"`
	Category  templates.Category `json:"category"`
	Locales   []templates.Locale `json:"locales"`
	Version   int                `json:"version"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

func templateOut(t templates.Stored) templateJSON {
	return templateJSON{ID: t.ID, Name: t.Name, Category: t.Category, Locales: t.Locales, Version: t.Version,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
}

func (s *Server) templateCreate(w http.ResponseWriter, r *http.Request) error {
	t, shorthand, err := s.decodeTemplate(w, r)
	if err != nil {
		return err
	}
	st, err := s.Templates.Create(r.Context(), t)
	if shorthand && err != nil {
		err = shorthandErrors(err)
	}
	if err != nil {
		return err
	}
	setTarget(r, "template", st.ID)
	w.Header().Set("Location", fmt.Sprintf("/v1/templates/%d", st.ID))
	return writeJSON(w, http.StatusCreated, templateOut(st))
}

func (s *Server) templateUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "template")
	if err != nil {
		return err
	}
	t, shorthand, err := s.decodeTemplate(w, r)
	if err != nil {
		return err
	}
	st, err := s.Templates.Update(r.Context(), id, t)
	if shorthand && err != nil {
		err = shorthandErrors(err)
	}
	if err != nil {
		return err
	}
	addDetail(r, "version", st.Version)
	return writeJSON(w, http.StatusOK, templateOut(st))
}

func (s *Server) decodeTemplate(w http.ResponseWriter, r *http.Request) (templates.Template, bool, error) {
	var req templateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return templates.Template{}, false, err
	}
	return req.template()
}

func (s *Server) templateGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "template")
	if err != nil {
		return err
	}
	st, err := s.Templates.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, templateOut(st))
}

func (s *Server) templateList(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Templates.List(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := make([]templateJSON, len(list))
	for i, t := range list {
		out[i] = templateOut(t)
	}
	return writeJSON(w, http.StatusOK, listResponse[templateJSON]{Data: out, NextCursor: cursor(next)})
}

type previewRequest struct {
	ContactID *int64          `json:"contact_id"`
	Variables *templates.Data `json:"variables"`
	Spins     int             `json:"spins" validate:"gte=0,max=20"`
}

// templatePreview renders every variant of the locale the recipient would get, a few spins
// each, for a contact or for variables given in the request.
func (s *Server) templatePreview(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "template")
	if err != nil {
		return err
	}
	var req previewRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if (req.ContactID == nil) == (req.Variables == nil) {
		return apperr.Field("contact_id", "give either contact_id or variables")
	}
	st, err := s.Templates.Get(r.Context(), id)
	if err != nil {
		return err
	}
	var data templates.Data
	if req.Variables != nil {
		data = *req.Variables
	} else {
		c, err := s.Contacts.Get(r.Context(), *req.ContactID)
		if apperr.CodeOf(err) == apperr.NotFound {
			return apperr.Field("contact_id", "there is no contact %d", *req.ContactID)
		}
		if err != nil {
			return err
		}
		clear, err := s.piiRead(r, "contact.read", "contact", c.ID, map[string]any{"template_preview": id})
		if err != nil {
			return err
		}
		if !clear {
			c.Email = contacts.MaskEmail(c.Email)
		}
		data = ContactData(c)
	}
	p, err := s.Engine.Preview(r.Context(), st.Template, data, req.Spins)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// ContactData is what a contact contributes to a message's variables.
func ContactData(c contacts.Contact) templates.Data {
	return templates.Data{Name: c.Name, Email: c.Email, Locale: c.Locale, Country: c.Country,
		Timezone: c.Timezone, Tags: c.Tags, Attributes: c.Attributes}
}
