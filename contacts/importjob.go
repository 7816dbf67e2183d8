package contacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/privacy"
)

// An import as a resource: the API receives the file (ImportSubmit), a worker imports it
// (ImportRun), and anyone may follow it (ImportGet, ImportRejects). Its life:
//
//	receiving → queued → running → done
//	         ↘        ↘         ↘ failed
//
// receiving: the file is arriving, into a temporary file of the API process, which holds
// no database connection meanwhile (a slow client holds nothing). queued: the whole file
// is in contact_import_chunks, stored in one short transaction, and import:run is queued.
// running: a worker merges it as Import does, on several connections whose transactions
// commit together at the end; a crash rolls them back and the task runs again from the
// start, or, in the moment between those commits, the next run merges only the shares
// not committed (contact_import_parts). done or failed: the chunks are deleted.

// ImportStatus is where an import is in its life.
type ImportStatus string

// The statuses of an import.
const (
	ImportReceiving ImportStatus = "receiving"
	ImportQueued    ImportStatus = "queued"
	ImportRunning   ImportStatus = "running"
	ImportDone      ImportStatus = "done"
	ImportFailed    ImportStatus = "failed"
)

// Final reports whether the import has ended.
func (s ImportStatus) Final() bool { return s == ImportDone || s == ImportFailed }

// ImportQueue has submitted imports run in the background (the workers' import:run
// task, which calls ImportRun).
type ImportQueue interface {
	EnqueueImport(ctx context.Context, importID int64) error
}

// ImportLimits bound the imports of every process that shares the database. Zero values
// get defaults.
type ImportLimits struct {
	// Concurrent caps the imports in progress (receiving, queued or running) across all
	// processes; one more is refused with ErrImportsBusy. Default 4.
	Concurrent int
	// MinRate: once Grace has passed, an upload must have averaged at least MinRate bytes
	// a second (ErrUploadTooSlow). Defaults 16 KiB/s and 30 s.
	MinRate int64
	Grace   time.Duration
	// UploadTimeout caps how long an upload may take (ErrUploadTimeout). Default 1 h.
	UploadTimeout time.Duration
	// SpoolDir is where uploads are kept until they are stored; default os.TempDir().
	SpoolDir string
}

// WithDefaults returns the limits with defaults in place of zero values.
func (l ImportLimits) WithDefaults() ImportLimits {
	if l.Concurrent <= 0 {
		l.Concurrent = 4
	}
	if l.MinRate <= 0 {
		l.MinRate = 16 << 10
	}
	if l.Grace <= 0 {
		l.Grace = 30 * time.Second
	}
	if l.UploadTimeout <= 0 {
		l.UploadTimeout = time.Hour
	}
	return l
}

// ErrImportsBusy refuses an import while ImportLimits.Concurrent others are in progress.
var ErrImportsBusy = errors.New("contacts: too many imports in progress")

// errImportLocked: another run holds the import.
var errImportLocked = errors.New("contacts: the import is running elsewhere")

// ErrImportLocked reports whether ImportRun found the import running elsewhere: try
// again later.
func ErrImportLocked(err error) bool { return errors.Is(err, errImportLocked) }

// ImportJob is an import as it stands. While it runs, Result holds the rows read and the
// lines rejected so far; its lists and the other counts come when it is done.
type ImportJob struct {
	ID         int64
	Status     ImportStatus
	Actor      string
	Bytes      int64 // size of the file
	Result     ImportResult
	Error      string // why it failed
	ErrorField string // the field at fault when the file was refused, e.g. "body"
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Err is the failure of a failed import: invalid input (with its field) when the file was
// refused, otherwise an error whose message is Error.
func (j ImportJob) Err() error {
	switch {
	case j.Status != ImportFailed:
		return nil
	case j.ErrorField != "":
		return apperr.Field(j.ErrorField, "%s", j.Error)
	}
	return fmt.Errorf("contacts: import %d failed: %s", j.ID, j.Error)
}

const (
	// chunkBytes is the size of the pieces a file is stored in.
	chunkBytes = 1 << 20
	// maxImportAttempts: an import whose run failed this often is given up (failed).
	maxImportAttempts = 5
	// The advisory lock classes of imports (the two-key form; see campaigns'
	// frequencyCapLockClass): admission takes (importAdmitLockClass, 0), a run
	// (importRunLockClass, id).
	importAdmitLockClass int32 = 0x696d7061 // "impa"
	importRunLockClass   int32 = 0x696d7072 // "impr"
)

// ImportSubmit receives an import's file from body and has it imported in the background,
// and returns its id. It validates the options, admits the import (ErrImportsBusy when
// too many are in progress), spools body to a temporary file under the limits
// (ErrUploadTooSlow, ErrUploadTimeout, ErrUploadInterrupted) without holding a database
// connection, checks the header (invalid input), stores the file in the database in one
// short transaction and queues it (Options.ImportQueue; without one, a goroutine of this
// process runs it). An import that does not get this far is marked failed; its id is
// returned with the error once it has one. setReadDeadline is the connection's, or nil.
func (s *Service) ImportSubmit(ctx context.Context, body io.Reader, opts ImportOptions, setReadDeadline func(time.Time) error) (int64, error) {
	if err := opts.normalize(); err != nil {
		return 0, err
	}
	lim := s.limits
	id, err := s.importAdmit(ctx, opts, lim)
	if err != nil {
		return 0, err
	}
	if err := s.importReceive(ctx, id, body, opts, lim, setReadDeadline); err != nil {
		if ferr := s.ImportFail(context.WithoutCancel(ctx), id, err); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return id, err
	}
	if s.queue == nil {
		go s.runDetached(id)
		return id, nil
	}
	// A failed enqueue leaves the import queued: the reconciler queues it again
	// (ImportsPending), and the queue reports its own failures.
	_ = s.queue.EnqueueImport(ctx, id)
	return id, nil
}

// runDetached runs an import in this process, for a Service without an ImportQueue
// (tests, tools): no retry, so any failure is final.
func (s *Service) runDetached(id int64) {
	ctx := context.Background()
	if err := s.ImportRun(ctx, id); err != nil {
		_ = s.ImportFail(ctx, id, err) // nothing to tell it to but the import's row
	}
}

// importAdmit records a new import, receiving, unless Concurrent imports are in progress.
// An upload whose process died is given up once it is older than the upload timeout, so
// that it stops counting.
func (s *Service) importAdmit(ctx context.Context, opts ImportOptions, lim ImportLimits) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Admissions queue up here, one statement each, so that the count is exact.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, importAdmitLockClass); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE contact_imports SET status = 'failed', error = 'the upload did not finish',
				finished_at = now(), updated_at = now()
			WHERE status = 'receiving' AND updated_at < now() - $1::interval`, lim.UploadTimeout+time.Minute); err != nil {
			return err
		}
		var active int
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FROM contact_imports WHERE status IN ('receiving', 'queued', 'running')`).Scan(&active); err != nil {
			return err
		}
		if active >= lim.Concurrent {
			return ErrImportsBusy
		}
		return tx.QueryRow(ctx, `
			INSERT INTO contact_imports (actor, default_country, consent_source, tags, status)
			VALUES ($1, $2, $3, $4, 'receiving') RETURNING id`,
			opts.Actor, opts.DefaultCountry, opts.ConsentSource, opts.Tags).Scan(&id)
	})
	if errors.Is(err, ErrImportsBusy) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("contacts: import: admit: %w", err)
	}
	return id, nil
}

// importReceive spools the upload, checks its header and stores it, queued.
func (s *Service) importReceive(ctx context.Context, id int64, body io.Reader, opts ImportOptions, lim ImportLimits, setReadDeadline func(time.Time) error) error {
	f, size, err := spool(body, lim, setReadDeadline)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cols, err := newRecordReader(f).header()
	if err != nil {
		return err
	}
	if err := opts.check(cols); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("contacts: import %d: %w", id, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contact_import_chunks"}, []string{"import_id", "seq", "data"},
			&fileChunks{id: id, r: f, buf: make([]byte, chunkBytes)}); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			UPDATE contact_imports SET status = 'queued', bytes = $2, updated_at = now()
			WHERE id = $1 AND status = 'receiving'`, id, size)
		if err == nil && tag.RowsAffected() == 0 {
			err = errors.New("the import was given up while it was being received")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("contacts: import %d: store: %w", id, err)
	}
	return nil
}

// fileChunks feeds a file to COPY, a chunkBytes piece a row. COPY encodes each row before
// it asks for the next, so one buffer serves them all.
type fileChunks struct {
	id  int64
	r   io.Reader
	buf []byte
	n   int
	seq int32
	err error
}

func (c *fileChunks) Next() bool {
	c.n, c.err = io.ReadFull(c.r, c.buf)
	if c.err == io.EOF || c.err == io.ErrUnexpectedEOF {
		c.err = nil
		if c.n == 0 {
			return false
		}
	}
	if c.err != nil {
		return false
	}
	c.seq++
	return true
}

func (c *fileChunks) Values() ([]any, error) { return []any{c.id, c.seq, c.buf[:c.n]}, nil }
func (c *fileChunks) Err() error             { return c.err }

// ImportRun imports a queued import's file, as Import does: a run that fails or crashes
// changes nothing, and the next run starts over, except one that dies between the
// commits of the import's shares, whose next run finishes the shares not committed. It
// returns nil once the import has ended, done or failed (a file the import refuses, e.g.
// an unclosed quote, fails it: running it again cannot help); an error means try again
// (ErrImportLocked: another run has held it for 5 seconds). Progress (rows read, lines
// rejected) is written to the import's row as it goes, outside the transaction.
func (s *Service) ImportRun(ctx context.Context, id int64) error {
	var opts ImportOptions
	var status ImportStatus
	var attempts int
	err := s.pool.QueryRow(ctx, `
		UPDATE contact_imports SET status = 'running', attempts = attempts + 1,
			started_at = coalesce(started_at, now()), updated_at = now()
		WHERE id = $1 AND status IN ('queued', 'running')
		RETURNING status, attempts, actor, default_country, consent_source, tags`, id).
		Scan(&status, &attempts, &opts.Actor, &opts.DefaultCountry, &opts.ConsentSource, &opts.Tags)
	if errors.Is(err, pgx.ErrNoRows) {
		job, gerr := s.ImportGet(ctx, id)
		switch {
		case gerr != nil:
			return gerr
		case job.Status == ImportReceiving:
			return apperr.Conflictf("import %d is still being received", id)
		}
		return nil // ended already
	}
	if err != nil {
		return fmt.Errorf("contacts: import %d: claim: %w", id, err)
	}
	if attempts > maxImportAttempts {
		return s.ImportFail(ctx, id, fmt.Errorf("gave up after %d attempts", maxImportAttempts))
	}
	if err := opts.normalize(); err != nil {
		return s.ImportFail(ctx, id, err) // checked when it was submitted: cannot happen
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("contacts: import %d: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// A run that just failed may hold the lock for a moment more: a query cancelled with
	// its context closes its connection, and PostgreSQL ends that session (and releases
	// its locks) only when it notices. So the lock is waited for, briefly.
	wait := max(s.importLockWait.Milliseconds(), 1) // 0 would wait for ever
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, wait)); err != nil {
		return fmt.Errorf("contacts: import %d: lock: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, ($2 % 2147483648)::int)`, importRunLockClass, id); err != nil {
		if err := interpretError(err, 0); ErrImportLocked(err) {
			return fmt.Errorf("import %d: %w", id, err)
		}
		return fmt.Errorf("contacts: import %d: lock: %w", id, err)
	}
	// Only this wait: the merge waits for the rows it writes as long as it takes.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = DEFAULT`); err != nil {
		return fmt.Errorf("contacts: import %d: lock: %w", id, err)
	}
	if err := tx.QueryRow(ctx, `SELECT status FROM contact_imports WHERE id = $1`, id).Scan(&status); err != nil {
		return fmt.Errorf("contacts: import %d: %w", id, err)
	}
	if status != ImportRunning {
		return nil // another run finished it meanwhile
	}

	in := newRecordReader(&storedFile{svc: s, ctx: ctx, id: id})
	cols, err := in.header()
	if err == nil {
		err = opts.check(cols)
	}
	var res ImportResult
	if err == nil {
		res, err = s.importIn(ctx, tx, id, in, cols, opts, s.importProgress(id))
	}
	if err == nil {
		_, err = tx.Exec(ctx, `DELETE FROM contact_import_chunks WHERE import_id = $1`, id)
		if err == nil {
			err = tx.Commit(ctx)
		}
	}
	switch {
	case err == nil:
		s.analyze(ctx, res)
		return nil
	case apperr.CodeOf(err) == apperr.Invalid:
		_ = tx.Rollback(ctx)
		return s.ImportFail(ctx, id, err)
	}
	return fmt.Errorf("contacts: import %d: %w", id, err)
}

// importProgress writes an import's progress to its row after each chunk, outside the
// import's transaction, so that it shows while the import runs. Progress is best effort.
func (s *Service) importProgress(id int64) afterChunkFunc {
	return func(ctx context.Context, records int64, res *ImportResult) error {
		_, _ = s.pool.Exec(ctx, `
			UPDATE contact_imports SET rows = $2, rejected = $3, updated_at = now()
			WHERE id = $1 AND status = 'running'`, id, records, res.RejectedCount)
		if s.chunkHook != nil {
			return s.chunkHook(records)
		}
		return nil
	}
}

// storedFile reads an import's file back from contact_import_chunks, a chunk per query,
// each on a connection of its own for that query only.
type storedFile struct {
	svc  *Service
	ctx  context.Context
	id   int64
	seq  int32
	data []byte
	eof  bool
}

func (f *storedFile) Read(p []byte) (int, error) {
	for len(f.data) == 0 {
		if f.eof {
			return 0, io.EOF
		}
		f.seq++
		err := f.svc.pool.QueryRow(f.ctx, `SELECT data FROM contact_import_chunks WHERE import_id = $1 AND seq = $2`,
			f.id, f.seq).Scan(&f.data)
		if errors.Is(err, pgx.ErrNoRows) {
			f.eof = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("contacts: import %d: chunk %d: %w", f.id, f.seq, err)
		}
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// ImportFail ends an import as failed because of cause, unless it has ended already, and
// deletes its file. Invalid input is recorded with its field and message; the message of
// any other cause is not shown (it may hold internals): the import says it could not be
// completed.
func (s *Service) ImportFail(ctx context.Context, id int64, cause error) error {
	msg, field := "the import could not be completed; nothing was imported", ""
	switch fields := apperr.FieldsOf(cause); {
	case len(fields) > 0:
		msg, field = fields[0].Message, fields[0].Field
	case errors.Is(cause, ErrUploadTooSlow):
		msg = "the upload did not finish: it was too slow"
	case errors.Is(cause, ErrUploadTimeout):
		msg = "the upload did not finish: it took too long"
	case errors.Is(cause, ErrUploadInterrupted):
		msg = "the upload did not finish: it was interrupted, or larger than allowed"
	default:
		if ae := (*apperr.Error)(nil); errors.As(cause, &ae) && ae.Code != "" {
			msg = ae.Message
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE contact_imports SET status = 'failed', error = $2, error_field = $3, finished_at = now(), updated_at = now()
			WHERE id = $1 AND status NOT IN ('done', 'failed')`, id, msg, field); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM contact_import_chunks WHERE import_id = $1`, id); err != nil {
			return err
		}
		// A part committed by a run that died stays merged (see pipeline); its row goes.
		_, err := tx.Exec(ctx, `DELETE FROM contact_import_parts WHERE import_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("contacts: import %d: fail: %w", id, err)
	}
	return nil
}

// ImportGet returns an import as it stands.
func (s *Service) ImportGet(ctx context.Context, id int64) (ImportJob, error) {
	j := ImportJob{ID: id, Result: ImportResult{ImportID: id}}
	r := &j.Result
	err := s.pool.QueryRow(ctx, `
		SELECT status, actor, bytes, rows, created, updated, unchanged, rejected, duplicates, rejected_by_reason,
		       first_rejects, first_duplicates, consent, attribute_keys, new_attribute_keys, error, error_field,
		       created_at, started_at, finished_at
		FROM contact_imports WHERE id = $1`, id).Scan(&j.Status, &j.Actor, &j.Bytes, &r.Rows, &r.Created, &r.Updated,
		&r.Unchanged, &r.RejectedCount, &r.DuplicateCount, &r.RejectedByReason, &r.Rejected, &r.Duplicates, &r.Consent,
		&r.AttributeKeys, &r.NewAttributeKeys, &j.Error, &j.ErrorField, &j.CreatedAt, &j.StartedAt, &j.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ImportJob{}, apperr.NotFoundf("import %d not found", id)
	}
	if err != nil {
		return ImportJob{}, fmt.Errorf("contacts: import %d: %w", id, err)
	}
	return j, nil
}

// ImportWait returns the import once it has ended, or as it stands after wait (or when ctx
// ends, with ctx's error). It asks the database a few times a second, each time on a
// connection taken for that query only.
func (s *Service) ImportWait(ctx context.Context, id int64, wait time.Duration) (ImportJob, error) {
	deadline := time.Now().Add(wait)
	poll := 20 * time.Millisecond
	for {
		j, err := s.ImportGet(ctx, id)
		if err != nil || j.Status.Final() || !time.Now().Before(deadline) {
			return j, err
		}
		t := time.NewTimer(min(poll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return j, ctx.Err()
		case <-t.C:
		}
		poll = min(2*poll, 500*time.Millisecond)
	}
}

// ImportRejects hands every rejected line of a finished import to fn, in line order, as
// CSV (line,field,error, no header) a block at a time. Each block is read with a query of
// its own, so a slow fn holds no database connection. An import not done yet is a
// Conflict: its rejected lines are stored with its transaction.
func (s *Service) ImportRejects(ctx context.Context, id int64, fn func(csv []byte) error) error {
	job, err := s.ImportGet(ctx, id)
	if err != nil {
		return err
	}
	if job.Status != ImportDone {
		return apperr.Conflictf("import %d is %s: its rejected lines are there once it is done", id, job.Status)
	}
	for seq := int32(0); ; seq++ {
		var data []byte
		err := s.pool.QueryRow(ctx, `SELECT data FROM contact_import_rejects WHERE import_id = $1 AND seq = $2`, id, seq).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("contacts: import %d: rejects: %w", id, err)
		}
		if err := fn(data); err != nil {
			return err
		}
	}
}

// ImportsPending lists imports queued or running whose row has not moved for idle: their
// task may be lost (a Redis flush, an API that died between storing a file and queuing
// it), so the reconciler queues them again; the queue dedupes a task that still exists.
func (s *Service) ImportsPending(ctx context.Context, idle time.Duration, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id FROM contact_imports
		WHERE status IN ('queued', 'running') AND updated_at < now() - $1::interval
		ORDER BY id LIMIT $2`, idle, limit)
	if err != nil {
		return nil, fmt.Errorf("contacts: imports pending: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("contacts: imports pending: %w", err)
	}
	return ids, nil
}

// ImportRejectsPurger removes the rejected lines of imports that ended before a cutoff
// (the retention period): each import keeps its counts and first lines.
func (s *Service) ImportRejectsPurger() privacy.Purger { return importRejectsPurger{s} }

type importRejectsPurger struct{ s *Service }

func (p importRejectsPurger) Purge(ctx context.Context, before time.Time) (int64, error) {
	tag, err := p.s.pool.Exec(ctx, `
		DELETE FROM contact_import_rejects
		WHERE import_id IN (SELECT id FROM contact_imports WHERE finished_at < $1)`, before)
	if err != nil {
		return 0, fmt.Errorf("contacts: purge import rejects: %w", err)
	}
	return tag.RowsAffected(), nil
}
