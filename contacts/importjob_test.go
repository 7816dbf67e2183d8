package contacts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// queued is an ImportQueue that only remembers what it was given: no worker runs it.
type queued struct{ ids []int64 }

func (q *queued) EnqueueImport(_ context.Context, id int64) error {
	q.ids = append(q.ids, id)
	return nil
}

func submit(t *testing.T, svc *contacts.Service, file string, opts contacts.ImportOptions) int64 {
	t.Helper()
	id, err := svc.ImportSubmit(context.Background(), strings.NewReader(file), opts, nil)
	require.NoError(t, err)
	return id
}

// TestImportRunCrashChangesNothing: a run that dies after merging rows (a crash, a lost
// connection) leaves no contact, no rejected line and the stored file; the next run
// imports it all, once.
func TestImportRunCrashChangesNothing(t *testing.T) {
	q := &queued{}
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: q})
	file := "phone,name\n+6591000001,A\nnope,B\n+6591000002,C\n"
	id := submit(t, svc, file, contacts.ImportOptions{Actor: "test"})
	require.Equal(t, []int64{id}, q.ids, "queued, with its id only")
	job, err := svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportQueued, job.Status)
	require.EqualValues(t, len(file), job.Bytes)
	require.EqualValues(t, 1, count(t, pool, `SELECT count(*) FROM contact_import_chunks WHERE import_id = $1`, id))

	crash := errors.New("the worker died")
	contacts.SetChunkHook(svc, func(int64) error { return crash })
	require.ErrorIs(t, svc.ImportRun(ctx, id), crash)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_import_rejects`))
	job, err = svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportRunning, job.Status, "its task runs it again")

	contacts.SetChunkHook(svc, nil)
	require.NoError(t, svc.ImportRun(ctx, id))
	job, err = svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportDone, job.Status)
	require.EqualValues(t, 3, job.Result.Rows)
	require.EqualValues(t, 2, job.Result.Created)
	require.EqualValues(t, 1, job.Result.RejectedCount)
	require.Equal(t, []contacts.RejectedLine{{Line: 3, Field: "phone", Reason: "phone", Error: "phone is not a phone number"}}, job.Result.Rejected)
	require.EqualValues(t, 2, count(t, pool, `SELECT count(*) FROM contacts`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_import_chunks`), "the file is deleted with the import's commit")

	require.NoError(t, svc.ImportRun(ctx, id), "a task that runs again finds the import done")
	require.EqualValues(t, 2, count(t, pool, `SELECT count(*) FROM contacts`))
}

// TestImportRunFailsABadFileForGood: a file the import refuses fails the import (running
// it again cannot help) and its file is deleted.
func TestImportRunFailsABadFileForGood(t *testing.T) {
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}})
	id := submit(t, svc, "phone,name\n+6591234567,ok\n+6591234568,\""+strings.Repeat("x", 2<<20)+"\n", contacts.ImportOptions{})
	require.EqualValues(t, 3, count(t, pool, `SELECT count(*) FROM contact_import_chunks WHERE import_id = $1`, id), "stored in pieces of 1 MiB")
	require.NoError(t, svc.ImportRun(ctx, id))
	job, err := svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportFailed, job.Status)
	require.Equal(t, "body", job.ErrorField)
	require.Contains(t, job.Error, "is a quote left open?")
	require.Equal(t, apperr.Invalid, apperr.CodeOf(job.Err()))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_import_chunks`))
}

// TestImportSubmitRefusesBadInputAtOnce: options and the header are checked before the
// import is queued.
func TestImportSubmitRefusesBadInputAtOnce(t *testing.T) {
	q := &queued{}
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: q})
	_, err := svc.ImportSubmit(ctx, strings.NewReader("phone\n"), contacts.ImportOptions{DefaultCountry: "ZZZ"}, nil)
	require.Equal(t, "default_country", apperr.FieldsOf(err)[0].Field)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_imports`), "refused before it is admitted")

	id, err := svc.ImportSubmit(ctx, strings.NewReader("phone,consent\n+6591234567,yes\n"), contacts.ImportOptions{}, nil)
	require.Equal(t, "consent_source", apperr.FieldsOf(err)[0].Field)
	job, gerr := svc.ImportGet(ctx, id)
	require.NoError(t, gerr)
	require.Equal(t, contacts.ImportFailed, job.Status)
	require.Equal(t, "consent_source", job.ErrorField)
	require.Empty(t, q.ids)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_import_chunks`))

	id, err = svc.ImportSubmit(ctx, strings.NewReader("phone,tier,Tier\n+6591234567,a,b\n"), contacts.ImportOptions{}, nil)
	require.Equal(t, "header", apperr.FieldsOf(err)[0].Field, "a bad attribute column is refused before the file is stored")
	job, gerr = svc.ImportGet(ctx, id)
	require.NoError(t, gerr)
	require.Equal(t, contacts.ImportFailed, job.Status)
	require.Contains(t, job.Error, "differ only in case")
	require.Empty(t, q.ids)
}

// TestImportRunMergesAttributeColumns: a background import merges attribute columns as
// Import does.
func TestImportRunMergesAttributeColumns(t *testing.T) {
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}})
	_, _, err := svc.Upsert(ctx, "+6591000001", "", contacts.Fields{Attributes: map[string]any{"tier": "silver", "keep": 1}})
	require.NoError(t, err)
	id := submit(t, svc, "phone,tier,score\n+6591000001,gold,\n+6591000002,,2.5\n", contacts.ImportOptions{})
	require.NoError(t, svc.ImportRun(ctx, id))
	job, err := svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportDone, job.Status)
	require.EqualValues(t, 1, job.Result.Created)
	require.EqualValues(t, 1, job.Result.Updated)
	require.EqualValues(t, 1, count(t, pool, `SELECT count(*) FROM contacts WHERE attributes = '{"tier": "gold", "keep": 1}'`))
	require.EqualValues(t, 1, count(t, pool, `SELECT count(*) FROM contacts WHERE attributes = '{"score": 2.5}'`))
	require.Equal(t, []string{"score", "tier"}, job.Result.AttributeKeys)
	require.Equal(t, []string{"score"}, job.Result.NewAttributeKeys)
}

// TestImportsInProgressAreCappedAcrossProcesses: the cap counts the imports of every
// process, through the database.
func TestImportsInProgressAreCappedAcrossProcesses(t *testing.T) {
	limits := contacts.ImportLimits{Concurrent: 2}
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}, ImportLimits: limits})
	other := contacts.New(pool, testHasher(t), contacts.Options{ImportQueue: &queued{}, ImportLimits: limits}) // another API process
	first := submit(t, svc, "phone\n+6591234567\n", contacts.ImportOptions{})
	submit(t, other, "phone\n+6591234568\n", contacts.ImportOptions{})
	_, err := svc.ImportSubmit(ctx, strings.NewReader("phone\n+6591234569\n"), contacts.ImportOptions{}, nil)
	require.ErrorIs(t, err, contacts.ErrImportsBusy)
	require.NoError(t, svc.ImportRun(ctx, first))
	submit(t, svc, "phone\n+6591234569\n", contacts.ImportOptions{})
}

// TestImportRunOnceAtATime: a second run of an import that another run holds (its task
// was queued again meanwhile) says so and changes nothing.
func TestImportRunOnceAtATime(t *testing.T) {
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}})
	id := submit(t, svc, "phone\n+6591234567\n", contacts.ImportOptions{})
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	// What a run holds:
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2::int)`, int32(0x696d7072), id)
	require.NoError(t, err)
	contacts.SetImportLockWait(svc, 100*time.Millisecond)
	err = svc.ImportRun(ctx, id)
	require.True(t, contacts.ErrImportLocked(err), "%v", err)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts`))
}

// TestImportRunWaitsForTheRowsItWrites: the run's short wait is for the import's own lock
// only; a contact that another transaction holds for longer is waited for, as before.
func TestImportRunWaitsForTheRowsItWrites(t *testing.T) {
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}, ImportMerges: 1})
	contacts.SetImportLockWait(svc, 50*time.Millisecond)
	require.NoError(t, svc.ImportRun(ctx, submit(t, svc, "phone,name\n+6591234567,Ada\n", contacts.ImportOptions{})))
	id := submit(t, svc, "phone,name\n+6591234567,Grace\n", contacts.ImportOptions{})

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `SELECT 1 FROM contacts WHERE phone = '+6591234567' FOR UPDATE`)
	require.NoError(t, err)
	released := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // ten times the run's wait for its lock
		released <- tx.Rollback(ctx)
	}()
	require.NoError(t, svc.ImportRun(ctx, id))
	require.NoError(t, <-released)
	job, err := svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportDone, job.Status)
	require.EqualValues(t, 1, job.Result.Updated)
	require.EqualValues(t, 1, count(t, pool, `SELECT count(*) FROM contacts WHERE name = 'Grace'`))
}

// TestImportStoresRejectsAsFound: a file of nothing but bad lines is stored a block at a
// time; the summary lists the first ones only, and ImportRejects hands every one back.
func TestImportStoresRejectsAsFound(t *testing.T) {
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}})
	var b strings.Builder
	b.WriteString("phone,email\n")
	for i := range 25_000 {
		fmt.Fprintf(&b, "+6591%06d,not-an-email-%d\n", i, i)
	}
	id := submit(t, svc, b.String(), contacts.ImportOptions{})
	require.NoError(t, svc.ImportRun(ctx, id))
	job, err := svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 25_000, job.Result.RejectedCount)
	require.Len(t, job.Result.Rejected, contacts.ImportListed)
	require.Equal(t, map[string]int64{"email": 25_000}, job.Result.RejectedByReason)
	require.EqualValues(t, 3, count(t, pool, `SELECT count(*) FROM contact_import_rejects WHERE import_id = $1`, id),
		"blocks of up to 10 000 lines")

	var all bytes.Buffer
	require.NoError(t, svc.ImportRejects(ctx, id, func(block []byte) error {
		_, err := all.Write(block)
		return err
	}))
	lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	require.Len(t, lines, 25_000)
	require.Equal(t, "2,email,email is not an email address", lines[0])
	require.Equal(t, "25001,email,email is not an email address", lines[24_999])

	// Past the retention period, the lines go; the counts and the first ones stay.
	n, err := svc.ImportRejectsPurger().Purge(ctx, job.FinishedAt.Add(time.Second))
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	job, err = svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 25_000, job.Result.RejectedCount)
	require.Len(t, job.Result.Rejected, contacts.ImportListed)
}

// TestImportUploadLimits: the upload's errors say what went wrong, and the reader's own
// errors (a size limit) stay visible under ErrUploadInterrupted.
func TestImportUploadLimits(t *testing.T) {
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}})
	tooBig := errors.New("body too large")
	id, err := svc.ImportSubmit(ctx, io.MultiReader(strings.NewReader("phone\n"), errReader{tooBig}), contacts.ImportOptions{}, nil)
	require.ErrorIs(t, err, contacts.ErrUploadInterrupted)
	require.ErrorIs(t, err, tooBig)
	job, gerr := svc.ImportGet(ctx, id)
	require.NoError(t, gerr)
	require.Equal(t, contacts.ImportFailed, job.Status)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_imports WHERE status = 'receiving'`))
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestLargeImportsRefreshThePlannersStatistics: an import that creates or changes at least
// the threshold of contacts analyses contacts, consent and suppressions once it commits,
// through either way in (Import, ImportRun), so that a launch or preview planned next
// reads the tables as they are; a smaller import leaves the statistics alone.
func TestLargeImportsRefreshThePlannersStatistics(t *testing.T) {
	svc, pool, ctx := setupImportWith(t, contacts.Options{ImportQueue: &queued{}})
	contacts.SetAnalyzeAfter(svc, 3)
	reltuples := func(table string) float64 {
		t.Helper()
		var n float64
		require.NoError(t, pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, table).Scan(&n))
		return n
	}
	never := map[string]float64{}
	for _, table := range []string{"contacts", "consent_state", "suppressions"} {
		never[table] = reltuples(table)
	}

	// Two contacts: under the threshold, nothing is analysed.
	_, err := svc.Import(ctx, strings.NewReader("phone,name\n+6591234567,Ada\n+6591234568,Bob\n"), contacts.ImportOptions{})
	require.NoError(t, err)
	require.NotEqual(t, float64(2), reltuples("contacts"), "analysed after two contacts")
	for table, n := range never {
		require.Equal(t, n, reltuples(table), table)
	}

	// Three more, as a job: the planner now counts all five.
	require.NoError(t, svc.ImportRun(ctx, submit(t, svc,
		"phone,name\n+6591234569,Cy\n+6591234570,Di\n+6591234571,Ed\n", contacts.ImportOptions{})))
	require.Equal(t, float64(5), reltuples("contacts"))
	require.Zero(t, reltuples("consent_state"), "analysed, and empty")
	require.Zero(t, reltuples("suppressions"), "analysed, and empty")

	// Two changed and one created through Import: at the threshold again.
	_, err = svc.Import(ctx, strings.NewReader("phone,name\n+6591234567,Ada B\n+6591234568,Bob B\n+6591234572,Fay\n"),
		contacts.ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, float64(6), reltuples("contacts"))
}
