package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/contacts"
)

// contactFields are the profile fields a request may set; absent fields are left alone.
type contactFields struct {
	Name       *string        `json:"name"`
	Email      *string        `json:"email"`
	Locale     *string        `json:"locale"`
	Timezone   *string        `json:"timezone"`
	Country    *string        `json:"country"`
	Tags       []string       `json:"tags"`
	Attributes map[string]any `json:"attributes"`
}

func (f contactFields) domain() contacts.Fields {
	return contacts.Fields{Name: f.Name, Email: f.Email, Locale: f.Locale, Timezone: f.Timezone,
		Country: f.Country, Tags: f.Tags, Attributes: f.Attributes}
}

type contactCreateRequest struct {
	Phone string `json:"phone" validate:"required"`
	contactFields
}

type contactPatchRequest struct {
	Phone *string `json:"phone"`
	contactFields
}

type tagsRequest struct {
	Tags []string `json:"tags" validate:"required,min=1,max=100"`
}

// contactJSON is a contact as the API shows it.
type contactJSON struct {
	ID         int64          `json:"id"`
	Phone      string         `json:"phone"`
	Name       string         `json:"name"`
	Email      string         `json:"email"`
	Locale     string         `json:"locale"`
	Timezone   string         `json:"timezone"`
	Country    string         `json:"country"`
	Tags       []string       `json:"tags"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// contactOut shapes a contact for the caller: phone and email are masked for roles
// without the personal-data permission.
func contactOut(r *http.Request, c contacts.Contact) contactJSON {
	out := contactJSON{
		ID: c.ID, Phone: c.Phone, Name: c.Name, Email: c.Email, Locale: c.Locale, Timezone: c.Timezone,
		Country: c.Country, Tags: c.Tags, Attributes: c.Attributes,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	}
	if !caller(r).Role.Can(auth.ContactsPII) {
		out.Phone, out.Email = contacts.MaskPhone(c.Phone), contacts.MaskEmail(c.Email)
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out
}

func (s *Server) contactUpsert(w http.ResponseWriter, r *http.Request) error {
	var req contactCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, created, err := s.Contacts.Upsert(r.Context(), req.Phone, r.URL.Query().Get("default_country"), req.domain())
	if err != nil {
		return err
	}
	setTarget(r, "contact", c.ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", fmt.Sprintf("/v1/contacts/%d", c.ID))
	}
	addDetail(r, "created", created)
	return writeJSON(w, status, contactOut(r, c))
}

// contactExists is the answer to a role that sees numbers masked and looks one up: whether
// a contact has it, and nothing else.
type contactExists struct {
	Exists bool `json:"exists"`
}

// contactList pages through the contacts, or looks one number up (?phone=). Paging needs
// contacts:list, which an agent (who sees numbers in clear) has not: an agent looks
// contacts up one at a time. A role that sees numbers masked learns only whether a number
// is a contact's ({"exists"}), and the lookup is audited; a role that sees them in clear is
// audited for every page.
func (s *Server) contactList(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	role := caller(r).Role
	lookup := q.Get("phone") != ""
	if !lookup && !role.Can(auth.ContactsList) {
		return errStatus(http.StatusForbidden, "forbidden", fmt.Sprintf(
			"the %s role may look contacts up one at a time (?phone=, or /v1/contacts/{id}) but not page through them (it needs the %s permission)",
			role, auth.ContactsList))
	}
	list, next, err := s.Contacts.List(r.Context(), contacts.ListParams{
		Tag: q.Get("tag"), Phone: q.Get("phone"), DefaultCountry: q.Get("default_country"), AfterID: after, Limit: limit,
	})
	if err != nil {
		return err
	}
	if lookup && !role.Can(auth.ContactsPII) {
		if err := s.auditRead(r, "contact.lookup", "contact", "", map[string]any{"found": len(list) > 0}); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, contactExists{Exists: len(list) > 0})
	}
	detail := map[string]any{"contacts": len(list), "by_phone": lookup}
	if len(list) > 0 {
		detail["first_id"], detail["last_id"] = list[0].ID, list[len(list)-1].ID
	}
	if _, err := s.piiRead(r, "contact.list", "contact", "", detail); err != nil {
		return err
	}
	out := make([]contactJSON, len(list))
	for i, c := range list {
		out[i] = contactOut(r, c)
	}
	return writeJSON(w, http.StatusOK, listResponse[contactJSON]{Data: out, NextCursor: cursor(next)})
}

func (s *Server) contactGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	c, err := s.Contacts.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.piiRead(r, "contact.read", "contact", c.ID, nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, contactOut(r, c))
}

func (s *Server) contactUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	var req contactPatchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.Contacts.Update(r.Context(), id, req.Phone, r.URL.Query().Get("default_country"), req.domain())
	if err != nil {
		return err
	}
	addDetail(r, "fields", req.given())
	return writeJSON(w, http.StatusOK, contactOut(r, c))
}

// given lists the names of the fields a patch sets, for the audit entry (names, never
// values).
func (p contactPatchRequest) given() []string {
	var names []string
	for name, set := range map[string]bool{
		"phone": p.Phone != nil, "name": p.Name != nil, "email": p.Email != nil, "locale": p.Locale != nil,
		"timezone": p.Timezone != nil, "country": p.Country != nil, "tags": p.Tags != nil, "attributes": p.Attributes != nil,
	} {
		if set {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func (s *Server) contactDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	if err := s.Contacts.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) contactTag(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	var req tagsRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.Contacts.AddTags(r.Context(), id, req.Tags)
	if err != nil {
		return err
	}
	addDetail(r, "tags", req.Tags)
	return writeJSON(w, http.StatusOK, contactOut(r, c))
}

func (s *Server) contactUntag(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	c, err := s.Contacts.RemoveTag(r.Context(), id, r.PathValue("tag"))
	if err != nil {
		return err
	}
	addDetail(r, "tag", r.PathValue("tag"))
	return writeJSON(w, http.StatusOK, contactOut(r, c))
}
