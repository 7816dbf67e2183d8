package httpapi

import (
	"net/http"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/contacts"
)

// The console's audience pages: a CSV import with its progress, and the segment builder.
// They read; the upload (POST /v1/contacts/import) and the segment's save (POST or PATCH
// /v1/segments) are the API's, called by console/static/import.js and segment.js. The
// audience counts are the API's too (POST /v1/segments/count), fetched by the page's
// script after it renders: an exact count over a million contacts is no page's business.

// importNewPage is what the upload page shows: the columns the import knows and its size
// limit.
type importNewPage struct {
	Columns  []string
	MaxBytes int64
}

func (s *Server) pageImportNew(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "import_new", "Import contacts", importNewPage{Columns: contacts.ImportColumns, MaxBytes: s.opts.MaxImportBytes})
}

// importPage is an import as the API shows it (importOut: counts, reasons, line numbers,
// nothing personal), for the page and, as JSON, for its polling script.
type importPage struct {
	Import importJSON
	Final  bool
}

func (s *Server) pageImport(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "import")
	if err != nil {
		return err
	}
	job, err := s.Contacts.ImportGet(r.Context(), id)
	if err != nil {
		return err
	}
	return s.render(w, r, "import", "Import "+r.PathValue("id"), importPage{Import: importOut(job), Final: job.Status.Final()})
}

// segmentsPage is one page of the saved segments, in id order (keyset: Next is the cursor
// of the following page, "" at the end; Later says this is not the first page).
type segmentsPage struct {
	Segments []campaigns.Segment
	Next     string
	Later    bool
}

func (s *Server) pageSegments(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Campaigns.ListSegments(r.Context(), campaigns.SegmentListParams{AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	p := segmentsPage{Segments: list, Later: after != 0}
	if c := cursor(next); c != nil {
		p.Next = *c
	}
	return s.render(w, r, "segments", "Segments", p)
}

// segmentPage is the builder: a new segment (ID 0) or a saved one, whose filter the page's
// script lays out in the builder's fields.
type segmentPage struct {
	Segment campaigns.Segment
}

func (s *Server) pageSegmentNew(w http.ResponseWriter, r *http.Request) error {
	empty := campaigns.Segment{Filter: campaigns.Filter{TagsAny: []string{}, TagsAll: []string{}, ExcludeTags: []string{}}}
	return s.render(w, r, "segment", "New segment", segmentPage{Segment: empty})
}

func (s *Server) pageSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "segment")
	if err != nil {
		return err
	}
	sg, err := s.Campaigns.GetSegment(r.Context(), id)
	if err != nil {
		return err
	}
	return s.render(w, r, "segment", sg.Name, segmentPage{Segment: sg})
}
