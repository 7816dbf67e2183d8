package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
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

func (s *Server) contactList(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, next, err := s.Contacts.List(r.Context(), contacts.ListParams{
		Tag: q.Get("tag"), Phone: q.Get("phone"), DefaultCountry: q.Get("default_country"), AfterID: after, Limit: limit,
	})
	if err != nil {
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

type importResponse struct {
	ImportID   int64            `json:"import_id"`
	Rows       int64            `json:"rows"`
	Created    int64            `json:"created"`
	Updated    int64            `json:"updated"`
	Unchanged  int64            `json:"unchanged"`
	Rejected   []rejectedJSON   `json:"rejected"`
	Duplicates []duplicateJSON  `json:"duplicates"`
	Consent    map[string]int64 `json:"consent,omitempty"` // what the consent ledger recorded
}

type rejectedJSON struct {
	Line  int64  `json:"line"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

type duplicateJSON struct {
	Line       int64 `json:"line"`
	ReplacedBy int64 `json:"replaced_by"`
}

// contactImport streams a CSV body into the contacts. A large file takes a while, so the
// server's read and write deadlines are lifted for this request; the body size limit
// still holds.
func (s *Server) contactImport(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "text/csv" && mt != "application/csv" {
		return errStatus(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"send the file as Content-Type: text/csv (header: "+strings.Join(contacts.ImportColumns, ",")+")")
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // not every ResponseWriter supports deadlines; the server's then apply
	_ = rc.SetWriteDeadline(time.Time{})

	q := r.URL.Query()
	var tags []string
	for _, v := range q["tags"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	key := caller(r)
	reqID := requestState(r).id
	start := time.Now()
	res, err := s.Contacts.Import(r.Context(), http.MaxBytesReader(w, r.Body, s.opts.MaxImportBytes), contacts.ImportOptions{
		DefaultCountry: q.Get("default_country"),
		Tags:           tags,
		ConsentSource:  q.Get("consent_source"),
		Actor:          "key:" + key.ID,
		Progress: func(rows int64) {
			s.Logger.InfoContext(r.Context(), "import progress", "rows", rows, "request_id", reqID)
		},
	})
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errStatus(http.StatusRequestEntityTooLarge, "too-large",
			fmt.Sprintf("the file is larger than %d bytes (CRIER_MAX_IMPORT_BYTES); nothing was imported", tooBig.Limit))
	}
	if err != nil {
		return err
	}
	setTarget(r, "import", res.ImportID)
	for k, v := range map[string]int64{"rows": res.Rows, "created": res.Created, "updated": res.Updated,
		"unchanged": res.Unchanged, "rejected": int64(len(res.Rejected)), "duplicates": int64(len(res.Duplicates))} {
		addDetail(r, k, v)
	}
	s.Logger.InfoContext(r.Context(), "import done", "import_id", res.ImportID, "rows", res.Rows,
		"created", res.Created, "updated", res.Updated, "rejected", len(res.Rejected),
		"duration_ms", time.Since(start).Milliseconds(), "request_id", reqID)

	out := importResponse{ImportID: res.ImportID, Rows: res.Rows, Created: res.Created, Updated: res.Updated,
		Unchanged: res.Unchanged, Rejected: make([]rejectedJSON, len(res.Rejected)), Duplicates: make([]duplicateJSON, len(res.Duplicates)),
		Consent: res.Consent}
	for i, rj := range res.Rejected {
		out.Rejected[i] = rejectedJSON{Line: rj.Line, Field: rj.Field, Error: rj.Error}
	}
	for i, d := range res.Duplicates {
		out.Duplicates[i] = duplicateJSON{Line: d.Line, ReplacedBy: d.ReplacedBy}
	}
	return writeJSON(w, http.StatusOK, out)
}
