package contacts

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/crierhq/crier/internal/apperr"
)

// ImportColumns are the columns a CSV import understands, in the documented order. Only
// phone is required; columns may come in any order.
var ImportColumns = []string{"phone", "name", "email", "locale", "timezone", "country", "tags", "consent"}

// ConsentStatus is what an import's consent column says about a contact.
type ConsentStatus string

// The consent values an import records.
const (
	ConsentGranted   ConsentStatus = "granted"
	ConsentWithdrawn ConsentStatus = "withdrawn"
)

// ImportConsentRecorder records an import's consent column. It runs inside the import's
// transaction, after the contacts are merged, and may read the temporary table
// import_src (line bigint, phone text, consent text): the last line of each phone, with
// consent ” (nothing said), 'granted' or 'withdrawn'. It returns named counts for the
// import's result.
type ImportConsentRecorder interface {
	RecordImportConsent(ctx context.Context, tx pgx.Tx, importID int64, source, actor string) (map[string]int64, error)
}

// ImportOptions apply to a whole import.
type ImportOptions struct {
	DefaultCountry string   // region of national numbers, unless the row has a country
	Tags           []string // added to every imported contact
	ConsentSource  string   // where the consent column's consent was collected; kept as evidence
	Actor          string   // who imports, for the import record
	// Progress, when set, is called every ProgressEvery rows (default 100 000) with the
	// number of rows read so far.
	Progress      func(rows int64)
	ProgressEvery int64
}

// ImportResult says what an import did. Rejected and Duplicates are sorted by line.
type ImportResult struct {
	ImportID   int64
	Rows       int64 // data rows read, header excluded
	Created    int64
	Updated    int64
	Unchanged  int64
	Rejected   []RejectedLine
	Duplicates []DuplicateLine
	Consent    map[string]int64 // what ImportConsent recorded, when there is a consent column
}

// RejectedLine is a CSV line that was not imported, and why.
type RejectedLine struct {
	Line  int64
	Field string // the first field at fault, "" for the line as a whole
	Error string
}

// DuplicateLine is a line whose phone number appears again later in the same file: the
// later line (ReplacedBy) wins.
type DuplicateLine struct {
	Line       int64
	ReplacedBy int64
}

const (
	maxRecordBytes = 1 << 20 // one CSV record; more means an unterminated quote
	batchSize      = 1024
	maxSourceLen   = 200
)

// Import reads a CSV file of contacts from r and creates or updates them, as one
// transaction: either every good line is imported, or (on a file or database error)
// nothing changes. The file is streamed: memory does not grow with its size, only with the
// number of rejected and duplicate lines. Rows are validated in parallel, COPYed into a
// staging table and merged into contacts with one statement, so importing the same file
// twice changes nothing the second time.
//
// Empty cells leave the contact's field as it is; tags are added to the contact's tags.
// When the same phone appears on several lines, the last line wins and the others are
// reported as duplicates.
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	if err := opts.normalize(); err != nil {
		return ImportResult{}, err
	}
	in := newRecordReader(r)
	cols, err := in.header()
	if err != nil {
		return ImportResult{}, err
	}
	if cols.has("consent") && opts.ConsentSource == "" {
		return ImportResult{}, apperr.Field("consent_source",
			"is required when the file has a consent column: it is kept as the evidence of consent")
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	res := ImportResult{}
	if err := tx.QueryRow(ctx, `
		INSERT INTO contact_imports (actor, default_country, consent_source, tags)
		VALUES ($1, $2, $3, $4) RETURNING id`,
		opts.Actor, opts.DefaultCountry, opts.ConsentSource, opts.Tags).Scan(&res.ImportID); err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: %w", err)
	}
	// The staging table is not WAL-logged and vanishes at commit.
	if _, err := tx.Exec(ctx, `
		SET LOCAL work_mem = '64MB';
		CREATE TEMP TABLE import_rows (
			line bigint, phone text, phone_region text, name text, email text, locale text,
			timezone text, country text, tags text[], consent text, phone_hash bytea
		) ON COMMIT DROP`); err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: staging: %w", err)
	}

	staged, rejected, rows, err := s.stage(ctx, tx, in, cols, opts)
	if err != nil {
		return ImportResult{}, err
	}
	res.Rows, res.Rejected = rows, rejected

	if err := merge(ctx, tx, staged, &res); err != nil {
		return ImportResult{}, err
	}
	if cols.has("consent") && s.ImportConsent != nil {
		res.Consent, err = s.ImportConsent.RecordImportConsent(ctx, tx, res.ImportID, opts.ConsentSource, opts.Actor)
		if err != nil {
			return ImportResult{}, fmt.Errorf("contacts: import: consent: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `
		UPDATE contact_imports SET rows = $2, created = $3, updated = $4, unchanged = $5, rejected = $6, duplicates = $7
		WHERE id = $1`, res.ImportID, res.Rows, res.Created, res.Updated, res.Unchanged,
		len(res.Rejected), len(res.Duplicates)); err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: commit: %w", interpretError(err, 0))
	}
	return res, nil
}

func (o *ImportOptions) normalize() error {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100_000
	}
	var errs []apperr.FieldError
	if c, err := NormalizeCountry(o.DefaultCountry); err != nil {
		errs = append(errs, apperr.FieldError{Field: "default_country", Message: err.Error()})
	} else {
		o.DefaultCountry = c
	}
	if tags, err := NormalizeTags(o.Tags); err != nil {
		errs = append(errs, apperr.FieldError{Field: "tags", Message: err.Error()})
	} else {
		o.Tags = tags
	}
	o.ConsentSource = strings.TrimSpace(o.ConsentSource)
	if utf8.RuneCountInString(o.ConsentSource) > maxSourceLen || !utf8.ValidString(o.ConsentSource) {
		errs = append(errs, apperr.FieldError{Field: "consent_source", Message: fmt.Sprintf("must be valid text of at most %d characters", maxSourceLen)})
	}
	return apperr.Fields(errs...)
}

// stage streams the file into import_rows. One goroutine reads CSV records, one per CPU
// validates them (phone parsing is the costly part), and COPY consumes the result on this
// goroutine. It returns the number of staged rows, the rejected lines, and the number of
// rows read.
func (s *Service) stage(ctx context.Context, tx pgx.Tx, in *recordReader, cols columns, opts ImportOptions) (int64, []RejectedLine, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	raw := make(chan []rawRecord, 4)
	valid := make(chan validated, 4)

	var rows int64
	g.Go(func() error {
		defer close(raw)
		batch := make([]rawRecord, 0, batchSize)
		for {
			rec, err := in.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			rows++
			batch = append(batch, rec)
			if len(batch) == batchSize {
				select {
				case raw <- batch:
				case <-gctx.Done():
					return gctx.Err()
				}
				batch = make([]rawRecord, 0, batchSize)
			}
			if opts.Progress != nil && rows%opts.ProgressEvery == 0 {
				opts.Progress(rows)
			}
		}
		if len(batch) > 0 {
			select {
			case raw <- batch:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})

	workers := max(1, runtime.GOMAXPROCS(0))
	validators, vctx := errgroup.WithContext(gctx)
	for range workers {
		validators.Go(func() error {
			for batch := range raw {
				out := validated{rows: make([][]any, 0, len(batch))}
				for _, rec := range batch {
					row, rej := validateRecord(rec, cols, opts)
					if rej == nil {
						row = append(row, s.hasher.Sum(row[1].(string)))
					}
					if rej != nil {
						out.rejected = append(out.rejected, *rej)
						continue
					}
					out.rows = append(out.rows, row)
				}
				select {
				case valid <- out:
				case <-vctx.Done():
					return vctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(valid)
		return validators.Wait()
	})

	src := &stagingSource{in: valid}
	staged, copyErr := tx.CopyFrom(ctx, pgx.Identifier{"import_rows"},
		[]string{"line", "phone", "phone_region", "name", "email", "locale", "timezone", "country", "tags", "consent", "phone_hash"}, src)
	if copyErr != nil {
		cancel() // stop the reader and validators, which may be blocked on a full channel
	}
	readErr := g.Wait()
	switch {
	case readErr != nil && !errors.Is(readErr, context.Canceled):
		return 0, nil, 0, readErr
	case copyErr != nil:
		return 0, nil, 0, fmt.Errorf("contacts: import: copy: %w", copyErr)
	case readErr != nil:
		return 0, nil, 0, readErr
	}
	slices.SortFunc(src.rejected, func(a, b RejectedLine) int { return int(a.Line - b.Line) })
	return staged, src.rejected, rows, nil
}

type validated struct {
	rows     [][]any
	rejected []RejectedLine
}

// stagingSource feeds COPY from the validators' output and keeps the rejected lines.
type stagingSource struct {
	in       <-chan validated
	cur      [][]any
	i        int
	rejected []RejectedLine
}

func (s *stagingSource) Next() bool {
	for s.i >= len(s.cur) {
		b, ok := <-s.in
		if !ok {
			return false
		}
		s.cur, s.i = b.rows, 0
		s.rejected = append(s.rejected, b.rejected...)
	}
	s.i++
	return true
}

func (s *stagingSource) Values() ([]any, error) { return s.cur[s.i-1], nil }
func (s *stagingSource) Err() error             { return nil }

// merge upserts the staged rows into contacts. The statements are set-based: one sort
// picks the last line of each phone, one upsert applies them, and only rows whose values
// change are written, so a repeated import leaves contacts untouched.
func merge(ctx context.Context, tx pgx.Tx, staged int64, res *ImportResult) error {
	tag, err := tx.Exec(ctx, `
		CREATE TEMP TABLE import_src ON COMMIT DROP AS
		SELECT DISTINCT ON (phone) * FROM import_rows ORDER BY phone, line DESC`)
	if err != nil {
		return fmt.Errorf("contacts: import: dedupe: %w", err)
	}
	if distinct := tag.RowsAffected(); distinct < staged {
		rows, err := tx.Query(ctx, `
			SELECT r.line, s.line FROM import_rows r JOIN import_src s USING (phone)
			WHERE r.line <> s.line ORDER BY r.line`)
		if err != nil {
			return fmt.Errorf("contacts: import: duplicates: %w", err)
		}
		res.Duplicates, err = pgx.CollectRows(rows, pgx.RowToStructByPos[DuplicateLine])
		if err != nil {
			return fmt.Errorf("contacts: import: duplicates: %w", err)
		}
	}

	// Temporary tables are never auto-analysed; without statistics the planner may join
	// import_src to contacts row by row.
	if _, err := tx.Exec(ctx, `ANALYZE import_src`); err != nil {
		return fmt.Errorf("contacts: import: analyze: %w", err)
	}

	// xmax = 0 marks a row this statement inserted rather than updated. The WHERE on the
	// update skips rows that would not change, which is what makes a re-import a no-op.
	err = tx.QueryRow(ctx, `
		WITH merged AS (
			INSERT INTO contacts AS c (phone, phone_region, name, email, locale, timezone, country, tags, phone_hash)
			SELECT phone, phone_region, name, email, locale, timezone, country, tags, phone_hash FROM import_src
			ON CONFLICT (phone) DO UPDATE SET
				name       = CASE WHEN excluded.name = '' THEN c.name ELSE excluded.name END,
				email      = CASE WHEN excluded.email = '' THEN c.email ELSE excluded.email END,
				locale     = CASE WHEN excluded.locale = '' THEN c.locale ELSE excluded.locale END,
				timezone   = CASE WHEN excluded.timezone = '' THEN c.timezone ELSE excluded.timezone END,
				country    = CASE WHEN excluded.country = '' THEN c.country ELSE excluded.country END,
				tags       = contact_tags_union(c.tags, excluded.tags),
				updated_at = now()
			WHERE (c.name, c.email, c.locale, c.timezone, c.country, c.tags) IS DISTINCT FROM (
				CASE WHEN excluded.name = '' THEN c.name ELSE excluded.name END,
				CASE WHEN excluded.email = '' THEN c.email ELSE excluded.email END,
				CASE WHEN excluded.locale = '' THEN c.locale ELSE excluded.locale END,
				CASE WHEN excluded.timezone = '' THEN c.timezone ELSE excluded.timezone END,
				CASE WHEN excluded.country = '' THEN c.country ELSE excluded.country END,
				contact_tags_union(c.tags, excluded.tags))
			RETURNING xmax = 0 AS created
		)
		SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM merged`,
	).Scan(&res.Created, &res.Updated)
	if err != nil {
		return fmt.Errorf("contacts: import: merge: %w", interpretError(err, 0))
	}
	res.Unchanged = staged - int64(len(res.Duplicates)) - res.Created - res.Updated
	return nil
}

// columns maps a column name to its index in the file's records.
type columns map[string]int

func (c columns) has(name string) bool { _, ok := c[name]; return ok }

// cell returns the trimmed value of a column, or "" when the file has no such column.
func (c columns) cell(rec []string, name string) string {
	i, ok := c[name]
	if !ok {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

type rawRecord struct {
	line   int64
	fields []string
	err    string // a CSV syntax error on this line
}

// validateRecord turns one CSV record into a staging row, or says why it is rejected.
func validateRecord(rec rawRecord, cols columns, opts ImportOptions) ([]any, *RejectedLine) {
	if rec.err != "" {
		return nil, &RejectedLine{Line: rec.line, Error: rec.err}
	}
	if len(rec.fields) != len(cols) {
		return nil, &RejectedLine{Line: rec.line, Error: fmt.Sprintf("has %d fields; the header has %d", len(rec.fields), len(cols))}
	}
	var bad []apperr.FieldError
	fail := func(field string, err error) {
		bad = append(bad, apperr.FieldError{Field: field, Message: err.Error()})
	}
	f := cols.cell
	country, err := NormalizeCountry(f(rec.fields, "country"))
	if err != nil {
		fail("country", err)
	}
	region := opts.DefaultCountry
	if country != "" {
		region = country
	}
	phone, phoneRegion, err := NormalizePhone(f(rec.fields, "phone"), region)
	if err != nil {
		fail("phone", err)
	}
	name, err := normalizeName(f(rec.fields, "name"))
	if err != nil {
		fail("name", err)
	}
	email, err := normalizeEmail(f(rec.fields, "email"))
	if err != nil {
		fail("email", err)
	}
	locale, err := NormalizeLocale(f(rec.fields, "locale"))
	if err != nil {
		fail("locale", err)
	}
	tz, err := NormalizeTimezone(f(rec.fields, "timezone"))
	if err != nil {
		fail("timezone", err)
	}
	var tags []string
	if cell := f(rec.fields, "tags"); cell != "" {
		tags, err = NormalizeTags(strings.Split(cell, ";"))
		if err != nil {
			fail("tags", err)
		}
	}
	tags = mergeTags(tags, opts.Tags)
	consent, err := parseConsent(f(rec.fields, "consent"))
	if err != nil {
		fail("consent", err)
	}
	if len(bad) > 0 {
		msgs := make([]string, len(bad))
		for i, b := range bad {
			msgs[i] = b.Field + " " + b.Message
		}
		return nil, &RejectedLine{Line: rec.line, Field: bad[0].Field, Error: strings.Join(msgs, "; ")}
	}
	if tags == nil {
		tags = []string{}
	}
	return []any{rec.line, phone, phoneRegion, name, email, locale, tz, country, tags, string(consent)}, nil
}

// parseConsent reads the consent column: granted or withdrawn, with the usual spreadsheet
// spellings of yes and no; empty means the file says nothing about consent.
func parseConsent(s string) (ConsentStatus, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "granted", "yes", "y", "true", "1", "opt-in", "opted-in", "optin", "subscribed":
		return ConsentGranted, nil
	case "withdrawn", "no", "n", "false", "0", "opt-out", "opted-out", "optout", "unsubscribed":
		return ConsentWithdrawn, nil
	}
	return "", fmt.Errorf("must be granted or withdrawn (or yes/no), not %q", truncate(s, 20))
}

// recordReader reads CSV records with their line numbers. It strips a UTF-8 byte order
// mark, accepts CRLF line ends, and refuses a record longer than maxRecordBytes, which is
// what an unterminated quote turns the rest of a file into.
type recordReader struct {
	csv   *csv.Reader
	guard *recordGuard
}

func newRecordReader(r io.Reader) *recordReader {
	guard := &recordGuard{r: r}
	br := bufio.NewReaderSize(guard, 64<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\xef\xbb\xbf" {
		br.Discard(3) //nolint:errcheck // Peek just returned these bytes
	}
	c := csv.NewReader(br)
	c.FieldsPerRecord = -1 // checked per line, to report it and go on
	c.ReuseRecord = true
	guard.csv = c
	return &recordReader{csv: c, guard: guard}
}

func (r *recordReader) header() (columns, error) {
	rec, err := r.csv.Read()
	if err == io.EOF {
		return nil, apperr.Field("body", "the file is empty: it needs a header line (%s)", strings.Join(ImportColumns, ","))
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, apperr.Field("header", "line 1 is not valid CSV: %v", pe.Err)
	}
	if err != nil {
		return nil, readError(err)
	}
	cols := make(columns, len(rec))
	for i, name := range rec {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case !slices.Contains(ImportColumns, name):
			return nil, apperr.Field("header", "unknown column %q: the columns are %s", truncate(name, 40), strings.Join(ImportColumns, ","))
		case cols.has(name):
			return nil, apperr.Field("header", "column %q appears twice", name)
		}
		cols[name] = i
	}
	if !cols.has("phone") {
		return nil, apperr.Field("header", "there is no phone column: the columns are %s", strings.Join(ImportColumns, ","))
	}
	return cols, nil
}

// next returns the next record. A line that is not valid CSV comes back with err set, so
// it can be reported while the import goes on; io.EOF ends the file; other errors end the
// import.
func (r *recordReader) next() (rawRecord, error) {
	rec, err := r.csv.Read()
	if err == io.EOF {
		return rawRecord{}, io.EOF
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return rawRecord{line: int64(pe.StartLine), err: "is not valid CSV: " + pe.Err.Error()}, nil
	}
	if err != nil {
		return rawRecord{}, readError(err)
	}
	line, _ := r.csv.FieldPos(0)
	return rawRecord{line: int64(line), fields: slices.Clone(rec)}, nil
}

// errRecordTooLong ends an import whose record grows past maxRecordBytes.
var errRecordTooLong = apperr.Field("body", "a line is longer than %d bytes: is a quote left open?", maxRecordBytes)

// readError wraps an error of the underlying reader (body too large, client gone…).
func readError(err error) error {
	if errors.Is(err, errRecordTooLong) {
		return errRecordTooLong
	}
	return fmt.Errorf("contacts: import: read: %w", err)
}

// recordGuard fails a read when the CSV reader has consumed more than maxRecordBytes
// beyond the end of its last complete record.
type recordGuard struct {
	r    io.Reader
	csv  *csv.Reader
	read int64
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if g.csv != nil && g.read-g.csv.InputOffset() > maxRecordBytes {
		return 0, errRecordTooLong
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}
