package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crierhq/crier/contacts"
)

// importJSON is an import as the API shows it: the answer of POST /v1/contacts/import
// when the import ends within the request, and of GET /v1/imports/{id}. The lists hold
// the first contacts.ImportListed lines; the counts say how many there are, and
// rejects_url serves every rejected line.
type importJSON struct {
	ImportID         int64            `json:"import_id"`
	Status           string           `json:"status"`
	Rows             int64            `json:"rows"`
	Created          int64            `json:"created"`
	Updated          int64            `json:"updated"`
	Unchanged        int64            `json:"unchanged"`
	Rejected         []rejectedJSON   `json:"rejected"`
	RejectedCount    int64            `json:"rejected_count"`
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
	RejectsURL       string           `json:"rejects_url"`
	Duplicates       []duplicateJSON  `json:"duplicates"`
	DuplicatesCount  int64            `json:"duplicates_count"`
	Consent          map[string]int64 `json:"consent,omitempty"` // what the consent ledger recorded
	// The file's attribute columns, sorted, and those of them no contact had before.
	AttributeKeys    []string   `json:"attribute_keys"`
	NewAttributeKeys []string   `json:"new_attribute_keys"`
	Bytes            int64      `json:"bytes"`
	Error            string     `json:"error,omitempty"` // why a failed import failed
	CreatedAt        time.Time  `json:"created_at"`
	StartedAt        *time.Time `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at"`
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

// importAcceptedJSON is the answer of an import that goes on in the background (202).
type importAcceptedJSON struct {
	ImportID int64  `json:"import_id"`
	Status   string `json:"status"`
}

func importOut(j contacts.ImportJob) importJSON {
	res := j.Result
	out := importJSON{ImportID: j.ID, Status: string(j.Status), Rows: res.Rows, Created: res.Created, Updated: res.Updated,
		Unchanged: res.Unchanged, Rejected: make([]rejectedJSON, len(res.Rejected)), RejectedCount: res.RejectedCount,
		RejectedByReason: res.RejectedByReason, RejectsURL: importPath(j.ID) + "/rejects",
		Duplicates: make([]duplicateJSON, len(res.Duplicates)), DuplicatesCount: res.DuplicateCount,
		Consent: res.Consent, AttributeKeys: nonNilStrings(res.AttributeKeys),
		NewAttributeKeys: nonNilStrings(res.NewAttributeKeys), Bytes: j.Bytes, Error: j.Error, CreatedAt: j.CreatedAt.UTC(),
		StartedAt: utcPtr(j.StartedAt), FinishedAt: utcPtr(j.FinishedAt)}
	if out.RejectedByReason == nil {
		out.RejectedByReason = map[string]int64{}
	}
	for i, rj := range res.Rejected {
		out.Rejected[i] = rejectedJSON{Line: rj.Line, Field: rj.Field, Error: rj.Error}
	}
	for i, d := range res.Duplicates {
		out.Duplicates[i] = duplicateJSON{Line: d.Line, ReplacedBy: d.ReplacedBy}
	}
	return out
}

// nonNilStrings makes a missing list an empty one, [] rather than null in JSON.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func importPath(id int64) string { return "/v1/imports/" + strconv.FormatInt(id, 10) }

// How long the import request waits for its import to end before it answers 202. A
// client asks for another wait with Prefer: wait=N (seconds, RFC 7240), up to
// maxImportWait, or for none with Prefer: respond-async.
const (
	importWait    = 5 * time.Second
	maxImportWait = time.Minute
	// importRetryAfter is what a refused import is told to wait (Retry-After).
	importRetryAfter = 30 * time.Second
)

// contactImport receives a CSV file and has it imported in the background (see
// contacts.Service.ImportSubmit): the body goes to a temporary file under the size, rate
// and time limits before the import takes a database connection, then to the database in
// one short step, then to a worker. The request waits a little for the worker: a small
// file gets its summary (200), a large one its id (202, Location: /v1/imports/{id}).
func (s *Server) contactImport(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "text/csv" && mt != "application/csv" {
		return errStatus(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"send the file as Content-Type: text/csv (header: "+strings.Join(contacts.ImportColumns, ",")+")")
	}
	q := r.URL.Query()
	var tags []string
	for _, v := range q["tags"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	reqID := requestState(r).id
	start := time.Now()
	// The upload sets its own read deadlines (the limits); the answer gets a write
	// deadline of its own once the upload is over.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // not every ResponseWriter supports deadlines
	id, err := s.Contacts.ImportSubmit(r.Context(), http.MaxBytesReader(w, r.Body, s.opts.MaxImportBytes), contacts.ImportOptions{
		DefaultCountry: q.Get("default_country"),
		Tags:           tags,
		ConsentSource:  q.Get("consent_source"),
		Actor:          caller(r).Ref(),
	}, rc.SetReadDeadline)
	if id != 0 {
		setTarget(r, "import", id)
	}
	if err != nil {
		return s.importError(w, err)
	}
	wait, async := preferWait(r)
	job, err := s.Contacts.ImportWait(r.Context(), id, wait)
	if err != nil {
		return err
	}
	_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
	addDetail(r, "status", string(job.Status))
	switch job.Status {
	case contacts.ImportDone:
		res := job.Result
		for k, v := range map[string]int64{"rows": res.Rows, "created": res.Created, "updated": res.Updated,
			"unchanged": res.Unchanged, "rejected": res.RejectedCount, "duplicates": res.DuplicateCount} {
			addDetail(r, k, v)
		}
		s.Logger.InfoContext(r.Context(), "import done", "import_id", id, "rows", res.Rows,
			"created", res.Created, "updated", res.Updated, "rejected", res.RejectedCount,
			"duration_ms", time.Since(start).Milliseconds(), "request_id", reqID)
		return writeJSON(w, http.StatusOK, importOut(job))
	case contacts.ImportFailed:
		return job.Err()
	}
	s.Logger.InfoContext(r.Context(), "import accepted", "import_id", id, "status", job.Status,
		"bytes", job.Bytes, "request_id", reqID)
	w.Header().Set("Location", importPath(id))
	if async {
		w.Header().Set("Preference-Applied", "respond-async")
	}
	return writeJSON(w, http.StatusAccepted, importAcceptedJSON{ImportID: id, Status: string(job.Status)})
}

// importError says why an upload did not make an import. A client that went away is no
// server error: 499, not logged as one.
func (s *Server) importError(w http.ResponseWriter, err error) error {
	lim := s.Contacts.ImportLimits()
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errStatus(http.StatusRequestEntityTooLarge, "too-large",
			fmt.Sprintf("the file is larger than %d bytes (CRIER_MAX_IMPORT_BYTES); nothing was imported", tooBig.Limit))
	case errors.Is(err, contacts.ErrUploadTooSlow):
		return errStatus(http.StatusRequestTimeout, "upload-too-slow",
			fmt.Sprintf("the upload fell below %d bytes a second on average; nothing was imported", lim.MinRate))
	case errors.Is(err, contacts.ErrUploadTimeout):
		return errStatus(http.StatusRequestTimeout, "upload-timeout",
			fmt.Sprintf("the upload took longer than %s; nothing was imported", lim.UploadTimeout))
	case errors.Is(err, contacts.ErrUploadInterrupted):
		return errStatus(499, "client-closed", "the upload was interrupted; nothing was imported")
	case errors.Is(err, contacts.ErrImportsBusy):
		w.Header().Set("Retry-After", strconv.Itoa(int(importRetryAfter.Seconds())))
		return errStatus(http.StatusTooManyRequests, "too-many-imports",
			fmt.Sprintf("%d imports are in progress, the most at once; try again later", lim.Concurrent))
	}
	return err
}

// preferWait reads RFC 7240 preferences: wait=N seconds, and respond-async (no wait
// unless wait is given too).
func preferWait(r *http.Request) (wait time.Duration, async bool) {
	wait, given := importWait, false
	for _, v := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			pref, _, _ = strings.Cut(pref, ";")
			name, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "respond-async":
				async = true
			case "wait":
				if n, err := strconv.Atoi(strings.Trim(val, `" `)); err == nil && n >= 0 {
					wait, given = min(time.Duration(n)*time.Second, maxImportWait), true
				}
			}
		}
	}
	if async && !given {
		wait = 0
	}
	return wait, async
}

// importGet shows an import: its status, its counts so far, and once done its first
// rejected and duplicate lines.
func (s *Server) importGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "import")
	if err != nil {
		return err
	}
	job, err := s.Contacts.ImportGet(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, importOut(job))
}

// importRejects streams every rejected line of a done import as CSV (line,field,error), a
// stored block at a time: neither the list nor a database connection is held while the
// client reads.
func (s *Server) importRejects(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "import")
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	started := false
	begin := func() {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="import-%d-rejects.csv"`, id))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("line,field,error\n"))
		started = true
	}
	var writeErr error
	err = s.Contacts.ImportRejects(r.Context(), id, func(block []byte) error {
		if !started {
			begin()
		}
		// Each block gets its own deadline: a client that stops reading is cut off.
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		_, writeErr = w.Write(block)
		return writeErr
	})
	switch {
	case err == nil:
		if !started {
			begin() // no rejected lines: the header alone
		}
		return nil
	case !started:
		return err
	case writeErr != nil:
		return nil // the client went away
	}
	// The answer has begun: cut it off, so that the client sees an error, not a short file.
	s.Logger.ErrorContext(r.Context(), "import rejects", "import_id", id, "error", err, "request_id", requestState(r).id)
	panic(http.ErrAbortHandler)
}
