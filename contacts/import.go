package contacts

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/errgroup"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/pgbinary"
)

// ImportColumns are the columns a CSV import understands, in the documented order. Only
// phone is required; columns may come in any order, and their names are matched without
// regard to case. Any other column is an attribute column (see Service.Import).
var ImportColumns = []string{"phone", "name", "email", "locale", "timezone", "country", "tags", "consent"}

// ConsentStatus is what an import's consent column says about a contact.
type ConsentStatus string

// The consent values an import records.
const (
	ConsentGranted   ConsentStatus = "granted"
	ConsentWithdrawn ConsentStatus = "withdrawn"
)

// ImportConsentRecorder records an import's consent column. The import merges its rows in
// chunks, on several connections at once, each with a share of the phones in a
// transaction of its own (see pipeline); after each chunk is merged, inside that
// transaction, it hands the recorder the chunk's lines that say something about consent.
// Calls for different shares may run at the same time. No phone appears twice in one
// call, all of a phone's lines come through the same transaction, and a phone's later
// line never comes in an earlier call than its earlier line. The recorder returns named
// counts, which the import adds up over the chunks.
type ImportConsentRecorder interface {
	RecordImportConsent(ctx context.Context, tx pgx.Tx, importID int64, source, actor string, lines []ImportConsentLine) (map[string]int64, error)
}

// ImportConsentLine is what one line of an import says about consent.
type ImportConsentLine struct {
	Line   int64
	Phone  string // E.164
	Hash   []byte // the number's keyed hash (Phone.Hash)
	Status ConsentStatus
	// Created is the id of the contact that this chunk's merge created for the line, in
	// the recorder's transaction: a contact no one else can see yet, with no consent
	// recorded. 0: the contact existed before the chunk, and is found by Phone.
	Created int64
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
	// ChunkRows is how many rows are merged at a time (default 10 000).
	ChunkRows int
	// Merges is how many connections merge the file at once, each a share of the phones
	// (default GOMAXPROCS, at most 4); an import takes no more than the pool can spare at
	// once, keeping two connections of the pool for the rest.
	Merges int
}

// ImportListed is how many rejected and duplicate lines an import's summary lists: the
// first ones by line. The rejected lines are all kept (Service.ImportRejects); the counts
// say how many there are.
const ImportListed = 100

// ImportResult says what an import did. Memory does not grow with the file: the lists
// hold the first ImportListed lines, by line, and the counts say how many there are.
type ImportResult struct {
	ImportID         int64
	Rows             int64 // data rows read, header excluded
	Created          int64
	Updated          int64
	Unchanged        int64
	Rejected         []RejectedLine   // the first rejected lines
	RejectedCount    int64            // every rejected line
	RejectedByReason map[string]int64 // RejectedLine.Reason → lines
	Duplicates       []DuplicateLine  // the first duplicate lines
	DuplicateCount   int64            // every duplicate line
	Consent          map[string]int64 // what Options.ImportConsent recorded, when there is a consent column
	// AttributeKeys are the file's attribute columns, sorted; NewAttributeKeys are those
	// of them that no contact had before the import.
	AttributeKeys    []string
	NewAttributeKeys []string
}

// RejectedLine is a CSV line that was not imported, and why. (Its JSON form is how an
// import's first rejected lines are stored.)
type RejectedLine struct {
	Line  int64  `json:"line"`
	Field string `json:"field,omitempty"` // the first field at fault, "" for the line as a whole
	// Reason is what rejects are counted by: Field, or RejectCSV or RejectColumns for a
	// line at fault as a whole.
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// The reasons of a line rejected as a whole.
const (
	RejectCSV     = "csv"     // the line is not valid CSV
	RejectColumns = "columns" // the line has more or fewer fields than the header
)

// DuplicateLine is a line whose phone number appears again later in the same file: the
// last line of the phone (ReplacedBy) wins.
type DuplicateLine struct {
	Line       int64 `json:"line"`
	ReplacedBy int64 `json:"replaced_by"`
}

const (
	maxRecordBytes = 1 << 20 // one CSV record; more means an unterminated quote
	batchSize      = 1024
	maxSourceLen   = 200
)

// Import reads a CSV file of contacts from r and creates or updates them: either every
// good line is imported, or (on a file or database error) nothing changes. The rows are
// merged on several connections at once (ImportOptions.Merges), each a share of the
// phones in a transaction of its own, committed together at the end: only a failure in
// the milliseconds between those commits leaves some shares imported, each contact with
// its consent (see pipeline), and importing the file again completes it. The file is
// streamed and memory does not grow with it: rows are validated while earlier ones are
// merged into contacts, a chunk at a time with one set-based statement, and what the
// import must remember across chunks (the phones seen, the rejected and duplicate lines)
// goes to the database as it is found. Only rows whose values change are written, so
// importing the same file twice changes nothing the second time.
//
// Empty cells leave the contact's field as it is; tags are added to the contact's tags.
// When the same phone appears on several lines, the last line wins and the others are
// reported as duplicates.
//
// A column that is not one of ImportColumns is an attribute column: its name, trimmed,
// is the attribute key, as the API would take it (case kept). Its cells are merged into
// the contact's attributes key by key, typed by attributeJSON; an empty cell sets
// nothing. The result lists the attribute keys and which of them are new.
//
// Import runs in the caller's request; ImportSubmit stores a file and has it imported in
// the background (ImportRun), which is what the API does.
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	if err := opts.normalize(); err != nil {
		return ImportResult{}, err
	}
	in := newRecordReader(r)
	cols, err := in.header()
	if err != nil {
		return ImportResult{}, err
	}
	if err := opts.check(cols); err != nil {
		return ImportResult{}, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	var id int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO contact_imports (actor, default_country, consent_source, tags, status, started_at)
		VALUES ($1, $2, $3, $4, 'running', now()) RETURNING id`,
		opts.Actor, opts.DefaultCountry, opts.ConsentSource, opts.Tags).Scan(&id); err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: %w", err)
	}
	res, err := s.importIn(ctx, tx, id, in, cols, opts, nil)
	if err != nil {
		return ImportResult{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: commit: %w", interpretError(err, 0))
	}
	s.analyze(ctx, res)
	return res, nil
}

// analyzeAfterRows is how many contacts an import must create or change before it
// refreshes the planner's statistics (Service.analyze).
const analyzeAfterRows = 10_000

// analyze refreshes the planner's statistics of the tables the audience statements plan
// over, once an import that created or changed at least s.analyzeAfter contacts has
// committed. Autovacuum analyses them too, but only on its next round, and not at all
// where it is off; a launch or preview planned before then reads the tables as they were.
// After a first import of 50 000 contacts, the preview's samples were planned for 111
// contacts and 8 suppressions and joined them by a nested loop over the whole suppression
// list (docs/BENCHMARKS.md). ANALYZE reads a sample of 30 000 rows a table, whatever its
// size. The consent tables are the consent package's, analysed here because the import
// wrote them (ImportConsentRecorder) in its transaction.
//
// It is best effort, like the progress: the import has committed, so a failure here must
// not report it failed (or retry it), and autovacuum analyses the tables on its next round
// anyway. A role that does not own the tables gets a warning from PostgreSQL, not an error.
func (s *Service) analyze(ctx context.Context, res ImportResult) {
	if res.Created+res.Updated < int64(s.analyzeAfter) {
		return
	}
	_, _ = s.pool.Exec(ctx, `ANALYZE contacts, consent_state, suppressions`)
}

// afterChunkFunc is called after each merged chunk with the records done so far and the
// result as it stands; an error ends the import.
type afterChunkFunc func(ctx context.Context, records int64, res *ImportResult) error

// importIn imports the file (its header read already) as import id, inside tx, and
// records the outcome on the import's row.
func (s *Service) importIn(ctx context.Context, tx pgx.Tx, id int64, in *recordReader, cols columns, opts ImportOptions, after afterChunkFunc) (ImportResult, error) {
	res := ImportResult{ImportID: id, RejectedByReason: map[string]int64{}}
	if err := newAttributeKeys(ctx, tx, cols, &res); err != nil {
		return ImportResult{}, err
	}
	p := &pipeline{svc: s, tx: tx, cols: cols, opts: opts, res: &res, after: after,
		recordConsent: cols.has("consent") && s.consent != nil}
	if err := p.run(ctx, in); err != nil {
		return ImportResult{}, err
	}
	if _, err := tx.Exec(ctx, `
		UPDATE contact_imports SET status = 'done', rows = $2, created = $3, updated = $4, unchanged = $5,
			rejected = $6, duplicates = $7, rejected_by_reason = $8, first_rejects = $9, first_duplicates = $10,
			consent = $11, attribute_keys = $12, new_attribute_keys = $13, error = '', error_field = '',
			finished_at = now(), updated_at = now()
		WHERE id = $1`, id, res.Rows, res.Created, res.Updated, res.Unchanged, res.RejectedCount, res.DuplicateCount,
		res.RejectedByReason, nonNil(res.Rejected), nonNil(res.Duplicates), res.Consent, nonNil(res.AttributeKeys),
		nonNil(res.NewAttributeKeys)); err != nil {
		return ImportResult{}, fmt.Errorf("contacts: import: %w", err)
	}
	return res, nil
}

// newAttributeKeys sets the file's attribute keys on res, and those that no contact has
// yet. It runs before the merge, inside the import's transaction. Without an index on
// attributes, only a scan of contacts can tell that a key is new: the keys found among
// the first contacts are known at once, and the others are looked for in one scan
// together, not one each (at a million contacts, a scan takes about 0.4 s).
func newAttributeKeys(ctx context.Context, tx pgx.Tx, cols columns, res *ImportResult) error {
	keys := cols.attributeKeys()
	if len(keys) == 0 {
		return nil
	}
	var unsure []string
	if err := tx.QueryRow(ctx, `
		SELECT coalesce(array_agg(k), '{}') FROM unnest($1::text[]) AS k
		WHERE NOT EXISTS (SELECT 1 FROM (SELECT attributes FROM contacts LIMIT 1000) c WHERE c.attributes ? k)`,
		keys).Scan(&unsure); err != nil {
		return fmt.Errorf("contacts: import: attribute keys: %w", err)
	}
	if len(unsure) > 0 {
		var found []string
		if err := tx.QueryRow(ctx, `
			SELECT coalesce(array_agg(DISTINCT k), '{}') FROM contacts c, unnest($1::text[]) AS k
			WHERE c.attributes ?| $1 AND c.attributes ? k`, unsure).Scan(&found); err != nil {
			return fmt.Errorf("contacts: import: attribute keys: %w", err)
		}
		unsure = slices.DeleteFunc(unsure, func(k string) bool { return slices.Contains(found, k) })
	}
	slices.Sort(unsure)
	res.AttributeKeys, res.NewAttributeKeys = keys, unsure
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (o *ImportOptions) normalize() error {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100_000
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = defaultChunkRows
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
	if utf8.RuneCountInString(o.ConsentSource) > maxSourceLen || !utf8.ValidString(o.ConsentSource) ||
		strings.ContainsRune(o.ConsentSource, 0) { // PostgreSQL's text cannot hold a NUL
		errs = append(errs, apperr.FieldError{Field: "consent_source", Message: fmt.Sprintf("must be valid text of at most %d characters", maxSourceLen)})
	}
	return apperr.Fields(errs...)
}

// check says whether the options suit a file with these columns.
func (o *ImportOptions) check(cols columns) error {
	if cols.has("consent") && o.ConsentSource == "" {
		return apperr.Field("consent_source",
			"is required when the file has a consent column: it is kept as the evidence of consent")
	}
	return nil
}

// defaultChunkRows is how many rows are merged at a time. While PostgreSQL merges one
// chunk, the validators and the chunker prepare the next, so parsing (Go) and merging
// (PostgreSQL) overlap; each chunk is large enough for set-based statements to pay off.
const defaultChunkRows = 10_000

// maxMerges caps the connections that merge one import (ImportOptions.Merges).
const maxMerges = 4

// partAcquireWait is how long an import waits for each connection of its parts; one not
// there by then, the import merges on fewer.
const partAcquireWait = 2 * time.Second

// pipeline streams the file into contacts: one goroutine reads CSV records in numbered
// batches, validators check them on every core but one (phone parsing is the costly
// part), one goroutine puts the batches back in file order and deals the rows out to the
// parts by phone, and each part merges its chunks into contacts, with their consent,
// on a connection of its own, so that PostgreSQL merges on several cores.
//
// A part is the phones whose phoneKey modulo the number of parts is its index. Part 0
// runs in the import's transaction and also stores the rejected lines; each other part
// has a transaction of its own, held open until every part has merged its last chunk.
// Then the other parts commit, each writing its counts to contact_import_parts in the
// same transaction, and the import's transaction commits last (its caller commits it).
// What is traded: between the first part's commit and the import's, a few milliseconds,
// another transaction may see some parts and not the others; each contact comes with its
// consent entries and suppression, since a phone's lines all belong to one part. A run
// that dies in that window leaves the import running, and the next run (ImportRun is
// retried) merges only the parts not committed and reads the others' counts: the import
// ends as if it had run once. An error or a crash before the commits changes nothing.
//
// The last line of a phone wins. A phone's lines all go to one part, in file order;
// within a chunk that is settled before anything is written; across a part's chunks, a
// temporary table of the phones seen (import_seen) says which rows repeat a phone of an
// earlier chunk and which lines they replace, so that memory holds a chunk per part, not
// every phone of the file. A phone whose lines fall in different chunks is merged once
// per chunk; the state each contact had before the import is stashed when the import
// first changes it, so that at the end such a contact is counted by what really changed,
// and one that is back where it started keeps its old updated_at: importing the same file
// twice changes nothing, duplicates or not.
type pipeline struct {
	svc           *Service
	tx            pgx.Tx // the import's transaction: part 0, the rejected lines
	cols          columns
	opts          ImportOptions
	res           *ImportResult
	recordConsent bool
	after         afterChunkFunc

	mu           sync.Mutex // guards records, the reject counts that after sees, and calls of after
	records      int64      // records merged so far
	rejectBlocks int32      // contact_import_rejects rows written, by part 0
}

// part is one share of an import's phones, merged in its own transaction.
type part struct {
	index     int
	tx        pgx.Tx
	phones    int64 // distinct phones staged
	repeats   int64 // rows that repeat a phone of an earlier chunk
	created   int64
	updated   int64
	dups      int64 // lines replaced by a later line of their phone
	firstDups []DuplicateLine
	consent   map[string]int64
}

// partResult is what a part committed on its own did, as contact_import_parts keeps it.
type partResult struct {
	Created    int64            `json:"created"`
	Updated    int64            `json:"updated"`
	Unchanged  int64            `json:"unchanged"`
	Duplicates int64            `json:"duplicates"`
	FirstDups  []DuplicateLine  `json:"first_duplicates"`
	Consent    map[string]int64 `json:"consent"`
}

func (pt *part) result() partResult {
	return partResult{Created: pt.created, Updated: pt.updated, Unchanged: pt.phones - pt.created - pt.updated,
		Duplicates: pt.dups, FirstDups: pt.firstDups, Consent: pt.consent}
}

// prepareSQL readies a part's transaction.
const prepareSQL = `
	-- Every join of an import pairs one chunk with the whole contacts table, by an
	-- indexed key: index lookups. Statistics lag behind a growing table inside one
	-- transaction, and the planner then scans all contacts once per chunk.
	SET LOCAL enable_hashjoin = off;
	SET LOCAL enable_mergejoin = off;
	SET LOCAL jit = off; -- compiling each chunk's statements costs more than it saves
	CREATE TEMP TABLE import_before (
		phone text PRIMARY KEY, updated_at timestamptz, digest text, by_repeat boolean
	) ON COMMIT DROP;
	-- A phone seen is keyed by its number: the digits after the "+" as an integer, one
	-- for one with E.164 numbers (at most 15 digits, the first not 0). An integer key
	-- compares in a few instructions, where text goes through the collation's strcoll:
	-- about 3 µs a row less for its insert and its probe (docs/BENCHMARKS.md).
	CREATE TEMP TABLE import_seen (
		number bigint PRIMARY KEY, phone text NOT NULL, line bigint NOT NULL, repeat boolean NOT NULL
	) ON COMMIT DROP;
	CREATE TEMP TABLE import_dups (line bigint NOT NULL, number bigint NOT NULL) ON COMMIT DROP`

// openParts returns the import's parts: part 0 on the import's transaction, and the
// others each on a transaction of its own. A part that an earlier run committed is nil
// (its result is in done). Without a part committed before, the import takes as many
// connections as opts.Merges asks, as long as the pool has them to spare at once: an
// import never waits for a connection that another import holds.
func (p *pipeline) openParts(ctx context.Context) (parts []*part, done []partResult, err error) {
	rows, err := p.tx.Query(ctx, `SELECT part, parts, result FROM contact_import_parts WHERE import_id = $1`, p.res.ImportID)
	if err != nil {
		return nil, nil, fmt.Errorf("contacts: import: parts: %w", err)
	}
	committed := map[int]partResult{}
	n := 0
	for rows.Next() {
		var i int
		var r partResult
		if err := rows.Scan(&i, &n, &r); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("contacts: import: parts: %w", err)
		}
		committed[i] = r
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("contacts: import: parts: %w", err)
	}
	want, wait := n, true // an earlier run's parts: the same parts again, whatever it takes
	if n == 0 {
		want, wait = cmp.Or(p.opts.Merges, p.svc.merges), false
		if want <= 0 {
			want = min(runtime.GOMAXPROCS(0), maxMerges)
		}
		// Leave the pool two connections: the stored file's reads and the progress.
		want = max(1, min(want, int(p.svc.pool.Config().MaxConns)-2))
	}
	parts = []*part{{index: 0, tx: p.tx}}
	defer func() {
		if err != nil {
			rollbackParts(ctx, parts)
		}
	}()
	for i := 1; i < want; i++ {
		if r, ok := committed[i]; ok {
			parts, done = append(parts, nil), append(done, r)
			continue
		}
		bctx, cancel := ctx, context.CancelFunc(func() {})
		if !wait {
			if st := p.svc.pool.Stat(); st.AcquiredConns()+2 > st.MaxConns() {
				break // the pool has no connection to spare now: fewer parts
			}
			// Time to connect, not to wait for a connection that someone else holds.
			bctx, cancel = context.WithTimeout(ctx, partAcquireWait)
		}
		tx, err := p.svc.pool.Begin(bctx)
		cancel()
		if err != nil && !wait && ctx.Err() == nil {
			break // no connection to spare after all: fewer parts
		}
		if err != nil {
			return nil, nil, fmt.Errorf("contacts: import: part %d: %w", i, err)
		}
		parts = append(parts, &part{index: i, tx: tx})
	}
	for _, pt := range parts {
		if pt == nil {
			continue
		}
		if _, err := pt.tx.Exec(ctx, prepareSQL); err != nil {
			return nil, nil, fmt.Errorf("contacts: import: staging: %w", err)
		}
	}
	return parts, done, nil
}

// rollbackParts rolls back the parts' own transactions (not the import's).
func rollbackParts(ctx context.Context, parts []*part) {
	for _, pt := range parts[1:] {
		if pt != nil {
			_ = pt.tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
		}
	}
}

func (p *pipeline) run(ctx context.Context, in *recordReader) error {
	parts, done, err := p.openParts(ctx)
	if err != nil {
		return err
	}
	defer rollbackParts(ctx, parts)

	g, gctx := errgroup.WithContext(ctx)
	raw := make(chan rawBatch, 4)
	valid := make(chan validated, 8)

	g.Go(func() error {
		defer close(raw)
		batch := rawBatch{recs: make([]rawRecord, 0, batchSize)}
		send := func() error {
			select {
			case raw <- batch:
			case <-gctx.Done():
				return gctx.Err()
			}
			batch = rawBatch{seq: batch.seq + 1, recs: make([]rawRecord, 0, batchSize)}
			return nil
		}
		for {
			rec, err := in.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			p.res.Rows++
			batch.recs = append(batch.recs, rec)
			if len(batch.recs) == batchSize {
				if err := send(); err != nil {
					return err
				}
			}
			if p.opts.Progress != nil && p.res.Rows%p.opts.ProgressEvery == 0 {
				p.opts.Progress(p.res.Rows)
			}
		}
		if len(batch.recs) > 0 {
			return send()
		}
		return nil
	})

	validators, vctx := errgroup.WithContext(gctx)
	for range max(1, runtime.GOMAXPROCS(0)-1) { // see pipeline
		validators.Go(func() error {
			for batch := range raw {
				out := validated{seq: batch.seq, records: int64(len(batch.recs)), rows: make([]importRow, 0, len(batch.recs))}
				for _, rec := range batch.recs {
					row, rej := validateRecord(rec, p.cols, p.opts)
					if rej != nil {
						out.rejected = append(out.rejected, *rej)
						continue
					}
					// Here, in parallel, not in the merge.
					ph := derivePhone(row.phone, row.region, p.svc.hasher)
					row.hash, row.zone = ph.Hash, ph.Zone
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

	// One chunk per part waits while the part merges the previous one; a part committed
	// by an earlier run gets no channel, and its rows are dropped.
	outs := make([]chan *chunk, len(parts))
	sends := make([]chan<- *chunk, len(parts))
	for i, pt := range parts {
		if pt != nil {
			outs[i] = make(chan *chunk, 1)
			sends[i] = outs[i]
		}
	}
	ch := newChunker(p.opts.ChunkRows, sends)
	g.Go(func() error {
		defer func() {
			for _, o := range outs {
				if o != nil {
					close(o)
				}
			}
		}()
		return ch.run(gctx, valid)
	})
	for i, pt := range parts {
		if pt == nil {
			continue
		}
		g.Go(func() error { return p.mergePart(gctx, pt, outs[i]) })
	}
	if err := g.Wait(); err != nil {
		return err
	}

	// Every part has merged: the others commit, then the import's transaction does.
	for _, pt := range parts[1:] {
		if pt == nil {
			continue
		}
		if _, err := pt.tx.Exec(ctx, `INSERT INTO contact_import_parts (import_id, part, parts, result) VALUES ($1, $2, $3, $4)`,
			p.res.ImportID, pt.index, len(parts), pt.result()); err != nil {
			return fmt.Errorf("contacts: import: part %d: %w", pt.index, err)
		}
		if err := pt.tx.Commit(ctx); err != nil {
			return fmt.Errorf("contacts: import: part %d: commit: %w", pt.index, interpretError(err, 0))
		}
		if p.svc.partHook != nil {
			if err := p.svc.partHook(pt.index); err != nil {
				return err
			}
		}
	}
	if len(parts) > 1 {
		if _, err := p.tx.Exec(ctx, `DELETE FROM contact_import_parts WHERE import_id = $1`, p.res.ImportID); err != nil {
			return fmt.Errorf("contacts: import: parts: %w", err)
		}
	}
	for _, pt := range parts {
		if pt != nil {
			done = append(done, pt.result())
		}
	}
	p.sum(done)
	return nil
}

// sum adds the parts' results up into the import's.
func (p *pipeline) sum(parts []partResult) {
	for _, r := range parts {
		p.res.Created += r.Created
		p.res.Updated += r.Updated
		p.res.Unchanged += r.Unchanged
		p.res.DuplicateCount += r.Duplicates
		p.res.Duplicates = append(p.res.Duplicates, r.FirstDups...)
		for k, v := range r.Consent {
			if p.res.Consent == nil {
				p.res.Consent = map[string]int64{}
			}
			p.res.Consent[k] += v
		}
	}
	slices.SortFunc(p.res.Duplicates, func(a, b DuplicateLine) int { return cmp.Compare(a.Line, b.Line) })
	if len(p.res.Duplicates) > ImportListed {
		p.res.Duplicates = p.res.Duplicates[:ImportListed]
	}
}

// mergePart merges a part's chunks as they come, then settles its repeated phones.
// Part 0 also stores the rejected lines.
func (p *pipeline) mergePart(ctx context.Context, pt *part, chunks <-chan *chunk) error {
	for c := range chunks {
		if err := p.storeRejects(ctx, pt, c.rejected); err != nil {
			return err
		}
		if len(c.rows) > 0 || len(c.replaced) > 0 {
			if err := p.mergeChunk(ctx, pt, c); err != nil {
				return err
			}
		}
		if err := p.recordChunkConsent(ctx, pt, c); err != nil {
			return err
		}
		if err := p.merged(ctx, c.records); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err // the chunker stopped early
	}
	if err := p.settleRepeats(ctx, pt); err != nil {
		return err
	}
	return p.listDuplicates(ctx, pt)
}

// merged counts a chunk's records as merged and tells after.
func (p *pipeline) merged(ctx context.Context, records int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records += records
	if p.after == nil {
		return nil
	}
	// A copy: part 0 goes on counting rejected lines.
	return p.after(ctx, p.records, &ImportResult{ImportID: p.res.ImportID, RejectedCount: p.res.RejectedCount})
}

func (p *pipeline) recordChunkConsent(ctx context.Context, pt *part, c *chunk) error {
	if !p.recordConsent {
		return nil
	}
	var lines []ImportConsentLine
	for _, r := range c.rows {
		if r.consent != "" {
			lines = append(lines, ImportConsentLine{Line: r.line, Phone: r.phone, Hash: r.hash, Status: r.consent,
				Created: c.created[phoneKey(r.phone)]})
		}
	}
	if len(lines) == 0 {
		return nil
	}
	counts, err := p.svc.consent.RecordImportConsent(ctx, pt.tx, p.res.ImportID, p.opts.ConsentSource, p.opts.Actor, lines)
	if err != nil {
		return fmt.Errorf("contacts: import: consent: %w", err)
	}
	if pt.consent == nil {
		pt.consent = map[string]int64{}
	}
	for k, v := range counts {
		pt.consent[k] += v
	}
	return nil
}

// storeRejects writes a chunk's rejected lines as one block of CSV (line,field,error),
// counts them by reason, and keeps the first ImportListed for the summary. Only part 0's
// chunks carry rejected lines, and they come in file order, so the blocks do too.
func (p *pipeline) storeRejects(ctx context.Context, pt *part, rejected []RejectedLine) error {
	if len(rejected) == 0 {
		return nil
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, rj := range rejected {
		_ = w.Write([]string{strconv.FormatInt(rj.Line, 10), rj.Field, rj.Error}) // into a bytes.Buffer
	}
	w.Flush()
	if _, err := pt.tx.Exec(ctx, `
		INSERT INTO contact_import_rejects (import_id, seq, lines, data) VALUES ($1, $2, $3, $4)`,
		p.res.ImportID, p.rejectBlocks, len(rejected), buf.Bytes()); err != nil {
		return fmt.Errorf("contacts: import: rejects: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rj := range rejected {
		p.res.RejectedByReason[rj.Reason]++
		if len(p.res.Rejected) < ImportListed {
			p.res.Rejected = append(p.res.Rejected, rj)
		}
	}
	p.rejectBlocks++
	p.res.RejectedCount += int64(len(rejected))
	return nil
}

// mergeSQL merges a chunk into contacts in one statement. The chunk comes as one array
// per column (no staging table to write, read and empty), and the statement is not an
// INSERT … ON CONFLICT, whose speculative insertion cost a third more on a million new
// rows, and which cannot hand back a changed row's previous state:
//
//   - probe unpacks the chunk and looks each phone up once in contacts and, by its
//     number, in the phones of earlier chunks (import_seen): a row found there repeats a
//     phone and replaces that phone's line;
//   - seen and seen_again record each phone's latest line; replaced records the lines replaced, with
//     those the chunker replaced within the chunk ($12, $13), for the duplicates;
//   - created inserts the phones not found, and hands back their ids when the import
//     records consent ($15); a contact created by someone else since the probe makes the
//     statement fail on the unique index, and mergeChunk runs the chunk again;
//   - changed updates the contacts found whose values change (empty cells keep a value,
//     tags are added, attributes are merged key by key); o, a second reference to
//     contacts, still shows each row as it was, and stashed keeps that state the first
//     time the import changes the contact. The change test costs no function call: the
//     union of tags differs from c.tags exactly when c.tags does not contain the row's
//     tags, and likewise for attributes, since imported values are never arrays or
//     objects (which containment would look into).
//
// Rows that repeat a phone of an earlier chunk are applied but not counted here:
// settleRepeats counts those phones at the end.
var mergeSQL = `
	WITH probe AS MATERIALIZED (
		SELECT r.line, r.phone, r.phone_region, r.name, r.email, r.locale, r.timezone, r.country,
		       CASE WHEN r.tags = '' THEN '{}'::text[] ELSE string_to_array(r.tags, ';') END AS tags,
		       nullif(r.attributes, '')::jsonb AS attributes,
		       r.phone_hash, r.phone_zone, substr(r.phone, 2)::bigint AS number,
		       c.id AS contact_id, s.line AS seen_line, s.line IS NOT NULL AS repeat
		-- $14 is empty when no row of the chunk sets attributes: unnest pads it with NULLs.
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		            $8::text[], $9::text[], $10::bytea[], $11::text[], $14::text[])
		     AS r(line, phone, phone_region, name, email, locale, timezone, country, tags, phone_hash, phone_zone,
		          attributes)
		LEFT JOIN contacts c ON c.phone = r.phone
		LEFT JOIN import_seen s ON s.number = substr(r.phone, 2)::bigint
	), seen AS (
		INSERT INTO import_seen (number, phone, line, repeat)
		SELECT number, phone, line, false FROM probe WHERE NOT repeat
	), seen_again AS (
		UPDATE import_seen s SET line = r.line, repeat = true
		FROM probe r WHERE r.repeat AND s.number = r.number
	), replaced AS (
		INSERT INTO import_dups (line, number)
		SELECT seen_line, number FROM probe WHERE repeat
		UNION ALL
		SELECT line, substr(phone, 2)::bigint FROM unnest($12::bigint[], $13::text[]) AS d(line, phone)
		RETURNING 1
	), created AS (
		INSERT INTO contacts (phone, phone_region, name, email, locale, timezone, country, tags, attributes,
		                      phone_hash, phone_zone)
		SELECT phone, phone_region, name, email, locale, timezone, country, tags, coalesce(attributes, '{}'),
		       phone_hash, phone_zone
		FROM probe WHERE contact_id IS NULL
		RETURNING id, phone
	), changed AS (
		UPDATE contacts c SET
			name       = CASE WHEN r.name = '' THEN c.name ELSE r.name END,
			email      = CASE WHEN r.email = '' THEN c.email ELSE r.email END,
			locale     = CASE WHEN r.locale = '' THEN c.locale ELSE r.locale END,
			timezone   = CASE WHEN r.timezone = '' THEN c.timezone ELSE r.timezone END,
			country    = CASE WHEN r.country = '' THEN c.country ELSE r.country END,
			tags       = contact_tags_union(c.tags, r.tags),
			attributes = CASE WHEN r.attributes IS NULL THEN c.attributes ELSE c.attributes || r.attributes END,
			updated_at = now()
		FROM probe r, contacts o
		WHERE c.id = r.contact_id AND o.id = c.id
		  AND ((r.name <> '' AND r.name <> c.name) OR (r.email <> '' AND r.email <> c.email)
		    OR (r.locale <> '' AND r.locale <> c.locale) OR (r.timezone <> '' AND r.timezone <> c.timezone)
		    OR (r.country <> '' AND r.country <> c.country) OR NOT c.tags @> r.tags
		    OR (r.attributes IS NOT NULL AND NOT c.attributes @> r.attributes))
		RETURNING c.phone, o.updated_at, ` + fmt.Sprintf(contactDigest, "o") + ` AS digest, r.repeat
	), stashed AS (
		INSERT INTO import_before SELECT phone, updated_at, digest, repeat FROM changed
		ON CONFLICT (phone) DO NOTHING
	)
	SELECT n.created, (SELECT count(*) FROM changed WHERE NOT repeat),
	       (SELECT count(*) FROM probe WHERE repeat), (SELECT count(*) FROM replaced), n.phones, n.ids
	-- The created contacts' phones and ids, aligned, when $15 asks for them.
	FROM (SELECT count(*) AS created, array_agg(phone) FILTER (WHERE $15) AS phones,
	             array_agg(id) FILTER (WHERE $15) AS ids
	      FROM created) n`

// contactDigest summarises the fields an import can change, to tell whether a contact
// ended where it started.
const contactDigest = `md5(row(%[1]s.name, %[1]s.email, %[1]s.locale, %[1]s.timezone, %[1]s.country, %[1]s.tags,
	%[1]s.attributes)::text)`

// mergeStatement is mergeSQL's name as a prepared statement on a part's connection.
const mergeStatement = "crier_import_merge"

// mergeParams are the types of mergeSQL's parameters as chunk.encode and mergeChunk write
// them; mergeChunk checks them against the statement's.
var mergeParams = []uint32{pgtype.Int8ArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.ByteaArrayOID, pgtype.TextArrayOID, pgtype.Int8ArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.BoolOID}

// mergeChunk merges a chunk into its part, in a savepoint so that it can run again.
// When the import records consent, it notes the contacts the chunk created, which
// recordChunkConsent hands on. The chunk's arrays come written already (chunk.encode).
func (p *pipeline) mergeChunk(ctx context.Context, pt *part, c *chunk) error {
	sd, err := pt.tx.Conn().Prepare(ctx, mergeStatement, mergeSQL)
	if err != nil {
		return fmt.Errorf("contacts: import: merge: %w", err)
	}
	if !slices.Equal(sd.ParamOIDs, mergeParams) {
		return fmt.Errorf("contacts: import: merge: the statement takes parameters of types %v, the chunk is written as %v",
			sd.ParamOIDs, mergeParams)
	}
	withIDs := []byte{0} // $15: a boolean's binary form
	if p.recordConsent {
		withIDs[0] = 1
	}
	params := append(slices.Clip(c.params), withIDs)
	for attempt := 1; ; attempt++ {
		var created, updated, repeats, replaced int64
		var phones []string
		var ids []int64
		err := pgx.BeginFunc(ctx, pt.tx, func(tx pgx.Tx) error {
			return pgbinary.QueryRow(ctx, tx.Conn(), sd, params, &created, &updated, &repeats, &replaced, &phones, &ids)
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "contacts_phone_key" && attempt < 5 {
			continue // someone created one of these contacts meanwhile: it is an update now
		}
		if err != nil {
			return fmt.Errorf("contacts: import: merge: %w", interpretError(err, 0))
		}
		if len(phones) != len(ids) {
			return fmt.Errorf("contacts: import: merge: %d created phones for %d ids", len(phones), len(ids))
		}
		if len(ids) > 0 {
			c.created = make(map[uint64]int64, len(ids))
			for i, ph := range phones {
				c.created[phoneKey(ph)] = ids[i]
			}
		}
		pt.created += created
		pt.updated += updated
		pt.dups += replaced
		pt.repeats += repeats
		pt.phones += int64(len(c.rows)) - repeats
		return nil
	}
}

// settleRepeats counts a part's contacts whose phone appeared in more than one chunk, by
// comparing where each ended with the state stashed before the import changed it. A
// contact back where it started was not changed by the import: its updated_at is
// restored. Contacts the import created, or never changed, were counted by their first
// line.
func (p *pipeline) settleRepeats(ctx context.Context, pt *part) error {
	if pt.repeats == 0 {
		return nil
	}
	var undone, later int64
	if err := pt.tx.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE b.digest = `+fmt.Sprintf(contactDigest, "c")+` AND NOT b.by_repeat),
		       count(*) FILTER (WHERE b.digest <> `+fmt.Sprintf(contactDigest, "c")+` AND b.by_repeat)
		FROM import_seen s
		JOIN import_before b ON b.phone = s.phone
		JOIN contacts c ON c.phone = s.phone
		WHERE s.repeat AND c.created_at <> transaction_timestamp()`).Scan(&undone, &later); err != nil {
		return fmt.Errorf("contacts: import: settle: %w", err)
	}
	// undone: its first line was counted as an update that a later line undid; later:
	// only a later line changed it.
	pt.updated += later - undone
	if _, err := pt.tx.Exec(ctx, `
		UPDATE contacts c SET updated_at = b.updated_at
		FROM import_seen s JOIN import_before b ON b.phone = s.phone
		WHERE s.repeat AND c.phone = s.phone AND c.created_at <> transaction_timestamp()
		  AND b.digest = `+fmt.Sprintf(contactDigest, "c")); err != nil {
		return fmt.Errorf("contacts: import: settle: %w", err)
	}
	return nil
}

// listDuplicates lists a part's first duplicate lines, each with the line of its phone
// that won: the last one, known only now.
func (p *pipeline) listDuplicates(ctx context.Context, pt *part) error {
	if pt.dups == 0 {
		return nil
	}
	rows, err := pt.tx.Query(ctx, `
		SELECT d.line, s.line FROM import_dups d JOIN import_seen s ON s.number = d.number
		ORDER BY d.line LIMIT $1`, ImportListed)
	if err != nil {
		return fmt.Errorf("contacts: import: duplicates: %w", err)
	}
	pt.firstDups, err = pgx.CollectRows(rows, pgx.RowToStructByPos[DuplicateLine])
	if err != nil {
		return fmt.Errorf("contacts: import: duplicates: %w", err)
	}
	return nil
}

// rawBatch is a batch of records as read, numbered in file order.
type rawBatch struct {
	seq  int64
	recs []rawRecord
}

// validated is a batch after validation.
type validated struct {
	seq      int64
	records  int64
	rows     []importRow
	rejected []RejectedLine
}

// importRow is a valid line on its way to contacts.
type importRow struct {
	line                                                  int64
	phone, region, name, email, locale, timezone, country string
	tags                                                  []string
	attributes                                            []byte // a JSON object; nil: none
	consent                                               ConsentStatus
	hash                                                  []byte
	zone                                                  string // PhoneZone(phone)
}

// phoneKey packs an E.164 number's digits (at most 15) into an integer, a cheap map key.
func phoneKey(e164 string) uint64 {
	var k uint64
	for i := 1; i < len(e164); i++ {
		k = k*10 + uint64(e164[i]-'0')
	}
	return k
}

// chunk is a set of rows to merge at once, in which no phone appears twice, with the
// rejected lines and the lines replaced within it of the records it accounts for.
type chunk struct {
	rows     []importRow
	rejected []RejectedLine
	replaced []importRow      // only line and phone are set
	records  int64            // records of the file this chunk accounts for
	created  map[uint64]int64 // phoneKey → id of the contacts its merge created, when recording consent
	params   [][]byte         // mergeSQL's $1 to $14, as encode writes them
}

// encode writes the chunk as the arrays mergeSQL unpacks ($1 to $14), in their binary
// form (pgbinary), into c.params. Tags travel joined by ";", which no tag contains;
// attributes as JSON text, "" for none, and as an empty array when no row has any. The
// chunker calls it before handing the chunk on, so that the part's connection does not
// wait for it.
func (c *chunk) encode() error {
	n := len(c.rows)
	lines, hashes := pgbinary.NewInt8Array(n), pgbinary.NewByteaArray(n, 32)
	phones, regions, names, emails := pgbinary.NewTextArray(n, 12), pgbinary.NewTextArray(n, 2), pgbinary.NewTextArray(n, 16), pgbinary.NewTextArray(n, 16)
	locales, zones, countries, tags := pgbinary.NewTextArray(n, 2), pgbinary.NewTextArray(n, 8), pgbinary.NewTextArray(n, 2), pgbinary.NewTextArray(n, 8)
	phoneZones := pgbinary.NewTextArray(n, 8)
	withAttributes := slices.ContainsFunc(c.rows, func(r importRow) bool { return r.attributes != nil })
	attributes := pgbinary.NewTextArray(0, 0)
	if withAttributes {
		attributes = pgbinary.NewTextArray(n, 32)
	}
	for _, r := range c.rows {
		lines.Append(r.line)
		phones.Append(r.phone)
		regions.Append(r.region)
		names.Append(r.name)
		emails.Append(r.email)
		locales.Append(r.locale)
		zones.Append(r.timezone)
		countries.Append(r.country)
		tags.Append(strings.Join(r.tags, ";"))
		hashes.Append(r.hash)
		phoneZones.Append(r.zone)
		if withAttributes {
			attributes.Append(string(r.attributes))
		}
	}
	replacedLines, replacedPhones := pgbinary.NewInt8Array(len(c.replaced)), pgbinary.NewTextArray(len(c.replaced), 12)
	for _, r := range c.replaced {
		replacedLines.Append(r.line)
		replacedPhones.Append(r.phone)
	}
	c.params = make([][]byte, 0, len(mergeParams))
	for _, a := range []interface{ Bytes() ([]byte, error) }{lines, phones, regions, names, emails, locales, zones,
		countries, tags, hashes, phoneZones, replacedLines, replacedPhones, attributes} {
		b, err := a.Bytes()
		if err != nil {
			return fmt.Errorf("contacts: import: merge: %w", err)
		}
		c.params = append(c.params, b)
	}
	return nil
}

// chunker puts validated batches back in file order (validators may finish them in any
// order), deals each row out to its part by phone, and gathers each part's rows into
// chunks. Within a chunk a later line of a phone replaces the earlier one before anything
// is written; across chunks, mergeSQL settles it. Rejected lines go with part 0's
// chunks. A chunk ends at limit rows, or limit rejected or replaced lines, so that a file
// of bad lines is stored a bounded piece at a time too. A part whose channel is nil was
// committed by an earlier run: its rows are dropped, and counted with part 0's records.
type chunker struct {
	limit int
	out   []chan<- *chunk // one per part
}

func newChunker(limit int, out []chan<- *chunk) *chunker { return &chunker{limit: limit, out: out} }

func (c *chunker) run(ctx context.Context, in <-chan validated) error {
	n := uint64(len(c.out))
	cur := make([]*chunk, n)
	slots := make([]map[uint64]int, n) // phone → its row in cur
	for i := range cur {
		cur[i], slots[i] = &chunk{rows: make([]importRow, 0, c.limit)}, map[uint64]int{}
	}
	send := func(i int) error {
		if c.out[i] != nil {
			if err := cur[i].encode(); err != nil {
				return err
			}
			select {
			case c.out[i] <- cur[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cur[i] = &chunk{rows: make([]importRow, 0, c.limit)}
		clear(slots[i])
		return nil
	}
	pending := map[int64]validated{} // batches that came before their turn
	var next int64
	for b := range in {
		pending[b.seq] = b
		for {
			b, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			cur[0].records += int64(len(b.rejected))
			cur[0].rejected = append(cur[0].rejected, b.rejected...)
			for _, row := range b.rows {
				key := phoneKey(row.phone)
				i := int(key % n)
				if c.out[i] == nil {
					cur[0].records++ // merged already: counted, for the progress
					continue
				}
				ck, slot := cur[i], slots[i]
				ck.records++
				if j, inChunk := slot[key]; inChunk {
					ck.replaced = append(ck.replaced, importRow{line: ck.rows[j].line, phone: row.phone})
					ck.rows[j] = row
				} else {
					slot[key] = len(ck.rows)
					ck.rows = append(ck.rows, row)
				}
				if len(ck.rows) == c.limit || len(ck.replaced) >= c.limit {
					if err := send(i); err != nil {
						return err
					}
				}
			}
			if len(cur[0].rejected) >= c.limit {
				if err := send(0); err != nil {
					return err
				}
			}
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("contacts: import: batch %d never came", next)
	}
	for i, ck := range cur {
		if len(ck.rows) > 0 || len(ck.rejected) > 0 || len(ck.replaced) > 0 || ck.records > 0 {
			if err := send(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// columns says where each column of a file is.
type columns struct {
	known map[string]int // a column of ImportColumns → its index in the file's records
	attrs []attrColumn   // the attribute columns, in file order
	width int            // fields per record
}

// attrColumn is an attribute column: its key and where it is.
type attrColumn struct {
	key   string
	json  []byte // the key as a JSON string, and a colon
	index int
}

func (c columns) has(name string) bool { _, ok := c.known[name]; return ok }

// cell returns the trimmed value of a column, or "" when the file has no such column.
func (c columns) cell(rec []string, name string) string {
	i, ok := c.known[name]
	if !ok {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// attributeKeys returns the keys of the attribute columns, sorted.
func (c columns) attributeKeys() []string {
	if len(c.attrs) == 0 {
		return nil
	}
	keys := make([]string, len(c.attrs))
	for i, a := range c.attrs {
		keys[i] = a.key
	}
	slices.Sort(keys)
	return keys
}

type rawRecord struct {
	line   int64
	fields []string
	err    string // a CSV syntax error on this line
}

// validateRecord turns one CSV record into a staging row, or says why it is rejected.
func validateRecord(rec rawRecord, cols columns, opts ImportOptions) (importRow, *RejectedLine) {
	if rec.err != "" {
		return importRow{}, &RejectedLine{Line: rec.line, Reason: RejectCSV, Error: rec.err}
	}
	if len(rec.fields) != cols.width {
		return importRow{}, &RejectedLine{Line: rec.line, Reason: RejectColumns,
			Error: fmt.Sprintf("has %d fields; the header has %d", len(rec.fields), cols.width)}
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
	var attrs []byte
	if len(cols.attrs) > 0 {
		attrs = encodeAttributes(rec.fields, cols.attrs, fail)
	}
	if len(bad) > 0 {
		msgs := make([]string, len(bad))
		for i, b := range bad {
			msgs[i] = b.Field + " " + b.Message
		}
		return importRow{}, &RejectedLine{Line: rec.line, Field: bad[0].Field, Reason: bad[0].Field, Error: strings.Join(msgs, "; ")}
	}
	return importRow{line: rec.line, phone: phone, region: phoneRegion, name: name, email: email, locale: locale,
		timezone: tz, country: country, tags: tags, attributes: attrs, consent: consent}, nil
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
		return columns{}, apperr.Field("body", "the file is empty: it needs a header line (%s)", strings.Join(ImportColumns, ","))
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return columns{}, apperr.Field("header", "line 1 is not valid CSV: %v", pe.Err)
	}
	if err != nil {
		return columns{}, readError(err)
	}
	cols := columns{known: make(map[string]int, len(rec)), width: len(rec)}
	seen := make(map[string]string, len(rec)) // lower-cased name → the name as written
	for i, raw := range rec {
		name := strings.TrimSpace(raw)
		lower := strings.ToLower(name)
		if first, dup := seen[lower]; dup {
			if first == name || slices.Contains(ImportColumns, lower) {
				return columns{}, apperr.Field("header", "column %q appears twice", truncate(lower, 40))
			}
			// Attribute keys are case-sensitive, but two that differ only in case are a slip.
			return columns{}, apperr.Field("header", "columns %q and %q differ only in case", truncate(first, 40), truncate(name, 40))
		}
		seen[lower] = name
		if slices.Contains(ImportColumns, lower) {
			cols.known[lower] = i
			continue
		}
		if err := checkAttributeKey(name); err != nil {
			return columns{}, apperr.Field("header", "column %d (%q) %v", i+1, truncate(name, 40), err)
		}
		cols.attrs = append(cols.attrs, attrColumn{key: name, json: append(appendJSONString(nil, name), ':'), index: i})
	}
	if !cols.has("phone") {
		return columns{}, apperr.Field("header", "there is no phone column: the columns are %s", strings.Join(ImportColumns, ","))
	}
	if len(cols.attrs) > maxAttributeColumns {
		return columns{}, apperr.Field("header", "the file has %d attribute columns (columns other than %s); the limit is %d",
			len(cols.attrs), strings.Join(ImportColumns, ","), maxAttributeColumns)
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

// Attribute columns. The column's name, trimmed, is the attribute key, with its case: the
// API takes keys as they are. Each non-empty cell, trimmed, is typed by attributeJSON.
const (
	// maxAttributeColumns caps a file's attribute columns: a wider file is more likely a
	// whole spreadsheet than a list of contacts.
	maxAttributeColumns = 50
	// maxAttributeValueLen is the longest attribute value of a cell, in characters.
	maxAttributeValueLen = 1000
	// maxNumberDigits is the most digits a cell may have to become a JSON number: up to
	// 15 significant digits survive a float64 (a JavaScript client) exactly, so neither a
	// long id nor an integer beyond 2^53 is rounded.
	maxNumberDigits = 15
)

// checkAttributeKey says why an attribute column's name (trimmed) cannot be a key: the
// API's rule, 1 to maxAttributeKey characters, and text that PostgreSQL can store.
func checkAttributeKey(k string) error {
	switch {
	case k == "":
		return errors.New("has no name: name it, or remove it")
	case !utf8.ValidString(k):
		return errors.New("is not valid UTF-8")
	case strings.ContainsFunc(k, unicode.IsControl):
		return errors.New("contains a control character")
	case utf8.RuneCountInString(k) > maxAttributeKey:
		return fmt.Errorf("is longer than %d characters, the limit of an attribute key", maxAttributeKey)
	}
	return nil
}

// encodeAttributes returns the JSON object of a record's attribute cells, or nil when
// they are all empty; fail hears of the cells that cannot be values.
func encodeAttributes(fields []string, attrs []attrColumn, fail func(string, error)) []byte {
	var b []byte
	for _, a := range attrs {
		v := strings.TrimSpace(fields[a.index])
		if v == "" {
			continue
		}
		if err := checkAttributeValue(v); err != nil {
			fail("attributes."+a.key, err)
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, 128), '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, a.json...)
		b = attributeJSON(b, v)
	}
	if b == nil {
		return nil
	}
	b = append(b, '}')
	if len(b) > maxAttributesLen {
		fail("attributes", fmt.Errorf("are %d bytes as JSON; the limit is %d", len(b), maxAttributesLen))
	}
	return b
}

func checkAttributeValue(v string) error {
	switch {
	case !utf8.ValidString(v):
		return errors.New("is not valid UTF-8")
	case strings.ContainsRune(v, 0):
		return errors.New("contains a NUL character")
	}
	if n := utf8.RuneCountInString(v); n > maxAttributeValueLen {
		return fmt.Errorf("is %d characters long; the limit is %d", n, maxAttributeValueLen)
	}
	return nil
}

// attributeJSON appends a non-empty, trimmed cell to b as a JSON value: true or false
// (in any case) is a boolean; a plain decimal number is a number; anything else is a
// string. A plain decimal number is an optional minus, an integer part without leading
// zeros, and an optional fraction, with at most maxNumberDigits digits in all
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?): so 42, -7 and 0.5 are numbers, while 007, +6591234567,
// 1e6, 1,000, .5 and 2026-01-31 stay strings, as do numbers too long to survive a float64.
func attributeJSON(b []byte, v string) []byte {
	switch {
	case strings.EqualFold(v, "true"):
		return append(b, "true"...)
	case strings.EqualFold(v, "false"):
		return append(b, "false"...)
	case isPlainNumber(v):
		return append(b, v...)
	}
	return appendJSONString(b, v)
}

func isPlainNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	switch {
	case whole == "" || !allDigits(whole) || (len(whole) > 1 && whole[0] == '0'):
		return false
	case hasFrac && (frac == "" || !allDigits(frac)):
		return false
	}
	return len(whole)+len(frac) <= maxNumberDigits
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// appendJSONString appends s, valid UTF-8, to b as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
