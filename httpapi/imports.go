package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/crierhq/crier/contacts"
)

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
