package contacts_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/testdb"
)

// partsFile is a file whose 40 phones come back on many lines, spread over chunks of 7
// rows and over the parts, with rejected lines among them and every kind of consent cell.
func partsFile() string {
	var b strings.Builder
	b.WriteString("phone,name,tags,consent\n")
	consents := []string{"granted", "", "withdrawn", "yes", ""}
	for i := range 300 {
		if i%13 == 5 {
			fmt.Fprintf(&b, "not-a-phone-%d,Bad,,\n", i)
			continue
		}
		fmt.Fprintf(&b, "+65910000%02d,Name %d,t%d,%s\n", i*7%40, i%11, i%3, consents[i%len(consents)])
	}
	return b.String()
}

// partsSetup is a database of its own (the caller calls t.Parallel) with a contacts
// service that records consent in the real ledger and merges on merges connections.
func partsSetup(t *testing.T, merges int, opts contacts.Options) (*contacts.Service, *pgxpool.Pool) {
	t.Helper()
	pool := testdb.New(t)
	c, err := consent.New(pool, testHasher(t), consent.Options{})
	require.NoError(t, err)
	opts.ImportConsent, opts.ImportMerges = c, merges
	return contacts.New(pool, testHasher(t), opts), pool
}

// importedState is everything an import leaves, import ids and times aside, as text.
func importedState(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'contact ' || c.phone || ' ' || c.name || ' ' || array_to_string(c.tags, ';') || ' ' ||
		       coalesce(cs.status, '-') || ' ' || (s.phone_hash IS NOT NULL)::text
		FROM contacts c
		LEFT JOIN consent_state cs ON cs.contact_id = c.id
		LEFT JOIN suppressions s ON s.phone_hash = c.phone_hash
		UNION ALL
		SELECT 'ledger ' || c.phone || ' ' || l.status || ' line ' || (l.evidence->>'line') || ' ' || (l.evidence->>'consent_source')
		FROM consent_ledger l JOIN contacts c ON c.id = l.contact_id
		UNION ALL
		SELECT 'rejects ' || convert_from(data, 'UTF8') FROM contact_import_rejects
		ORDER BY 1`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// TestImportPartsAgreeWithOneMerge imports the same file on one connection and on two:
// the result (counts, the first rejected and duplicate lines, in line order, the consent
// counts) and everything stored (contacts, the last line of each phone winning, their
// consent state and ledger entries with each line as evidence, suppressions, the
// rejected lines in line order) are the same.
func TestImportPartsAgreeWithOneMerge(t *testing.T) {
	t.Parallel()
	file := partsFile()
	run := func(merges int) (contacts.ImportResult, []string, int32) {
		svc, pool := partsSetup(t, merges, contacts.Options{})
		var commits atomic.Int32
		contacts.SetPartHook(svc, func(int) error { commits.Add(1); return nil })
		res, err := svc.Import(context.Background(), strings.NewReader(file),
			contacts.ImportOptions{ChunkRows: 7, ConsentSource: "form", Actor: "test"})
		require.NoError(t, err)
		require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_import_parts`), "the parts' rows go with the import's commit")
		res.ImportID = 0
		return res, importedState(t, pool), commits.Load()
	}
	one, oneState, oneCommits := run(1)
	two, twoState, twoCommits := run(2)
	require.Zero(t, oneCommits)
	require.EqualValues(t, 1, twoCommits, "part 1 committed on its own")
	require.Equal(t, one, two)
	require.Equal(t, oneState, twoState)

	require.EqualValues(t, 40, one.Created)
	require.EqualValues(t, 300-23, one.Rows-one.RejectedCount)
	require.EqualValues(t, 300-23-40, one.DuplicateCount)
	require.Len(t, one.Rejected, 23)
	for i := 1; i < len(one.Rejected); i++ {
		require.Less(t, one.Rejected[i-1].Line, one.Rejected[i].Line)
	}
	require.Len(t, one.Duplicates, contacts.ImportListed)
	for i, d := range one.Duplicates {
		require.Less(t, d.Line, d.ReplacedBy)
		if i > 0 {
			require.Less(t, one.Duplicates[i-1].Line, d.Line)
		}
	}
	// +6591000000 is on the lines of i = 40k, the last one i = 280 (Name 5, granted).
	require.Contains(t, oneState, "contact +6591000000 Name 5 t0;t1;t2 granted false")
	require.Contains(t, oneState, "ledger +6591000000 granted line 2 form", "granted once: the later grants change nothing")
}

// TestImportConsentGoesToEachLinesContact imports new numbers, then a file of old and new
// ones, in chunks of 7 on two parts: every ledger entry belongs to the contact of the
// phone on its line, under that contact's number, and every contact's state is its own
// latest entry. Consent for a contact the chunk created goes by the id the merge handed
// back, for the others by phone; a mix-up of either would put a line's consent on
// another person.
func TestImportConsentGoesToEachLinesContact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, pool := partsSetup(t, 2, contacts.Options{})
	phone := func(i int) string { return fmt.Sprintf("+659200%04d", i) }
	lineOf := map[[2]int64]string{} // (import, line) → phone
	want := map[string]string{}     // phone → consent state
	run := func(from, to int, consentOf func(i int) string) contacts.ImportResult {
		var b strings.Builder
		b.WriteString("phone,consent\n")
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "%s,%s\n", phone(i), consentOf(i))
		}
		res, err := svc.Import(ctx, strings.NewReader(b.String()), contacts.ImportOptions{ChunkRows: 7, ConsentSource: "form", Actor: "test"})
		require.NoError(t, err)
		for i := from; i < to; i++ {
			lineOf[[2]int64{res.ImportID, int64(i - from + 2)}] = phone(i)
			switch c := consentOf(i); {
			case c == "withdrawn", c == "granted" && want[phone(i)] != "withdrawn":
				want[phone(i)] = c
			}
		}
		return res
	}
	first := run(0, 40, func(i int) string { return []string{"granted", "withdrawn", "granted", ""}[i%4] })
	require.EqualValues(t, 40, first.Created)
	second := run(20, 60, func(i int) string { return []string{"withdrawn", "granted"}[i%2] })
	require.EqualValues(t, 20, second.Created)
	require.Equal(t, map[string]int64{"granted": 15, "withdrawn": 20, "unchanged": 0, "kept_withdrawn": 5, "suppressed": 0}, second.Consent)

	rows, err := pool.Query(ctx, `
		SELECT (l.evidence->>'import_id')::bigint, (l.evidence->>'line')::bigint, c.phone, l.phone_hash = c.phone_hash,
		       l.evidence - 'import_id' - 'line', row(l.channel, l.purpose, l.source, l.actor)::text,
		       l.occurred_at = l.recorded_at
		FROM consent_ledger l JOIN contacts c ON c.id = l.contact_id`)
	require.NoError(t, err)
	defer rows.Close() // a failed check leaves the loop early
	entries := 0
	for rows.Next() {
		var importID, line int64
		var got, fields string
		var sameHash, sameTime bool
		var evidence map[string]any
		require.NoError(t, rows.Scan(&importID, &line, &got, &sameHash, &evidence, &fields, &sameTime))
		require.Equal(t, lineOf[[2]int64{importID, line}], got, "the entry of import %d line %d", importID, line)
		require.True(t, sameHash, "the entry of import %d line %d is under its contact's number", importID, line)
		require.Equal(t, map[string]any{"consent_source": "form"}, evidence, "the entry of import %d line %d", importID, line)
		require.Equal(t, "(whatsapp,marketing,import,test)", fields, "the entry of import %d line %d", importID, line)
		require.True(t, sameTime, "the entry of import %d line %d occurred and was recorded when its import ran", importID, line)
		entries++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 30+35, entries, "first: 20 grants and 10 withdrawals; second: 15 and 20")

	rows, err = pool.Query(ctx, `
		SELECT c.phone, cs.status,
		       l.contact_id = c.id AND l.status = cs.status AND l.recorded_at = cs.updated_at
		       AND (cs.channel, cs.purpose) = ('whatsapp', 'marketing')
		FROM consent_state cs JOIN contacts c ON c.id = cs.contact_id JOIN consent_ledger l ON l.id = cs.ledger_id`)
	require.NoError(t, err)
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var ph, status string
		var own bool
		require.NoError(t, rows.Scan(&ph, &status, &own))
		require.True(t, own, "the state of %s is its own entry", ph)
		got[ph] = status
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, got)
}

// TestImportRunFinishesAfterACrashBetweenCommits: a run that dies after part 1 committed
// and before the import's transaction did leaves part 1's contacts, each with its
// consent, and the import running; the next run merges only the rest, and the import
// ends exactly as one clean run: the same counts, and one ledger entry per phone.
func TestImportRunFinishesAfterACrashBetweenCommits(t *testing.T) {
	t.Parallel()
	file := partsFile()
	ctx := context.Background()
	clean, cleanPool := partsSetup(t, 2, contacts.Options{ImportQueue: &queued{}})
	cleanID := submit(t, clean, file, contacts.ImportOptions{ConsentSource: "form", Actor: "test"})
	require.NoError(t, clean.ImportRun(ctx, cleanID))
	want, err := clean.ImportGet(ctx, cleanID)
	require.NoError(t, err)
	wantState := importedState(t, cleanPool)

	svc, pool := partsSetup(t, 2, contacts.Options{ImportQueue: &queued{}})
	id := submit(t, svc, file, contacts.ImportOptions{ConsentSource: "form", Actor: "test"})
	crash := errors.New("the worker died")
	contacts.SetPartHook(svc, func(int) error { return crash })
	require.ErrorIs(t, svc.ImportRun(ctx, id), crash)
	committed := count(t, pool, `SELECT count(*) FROM contacts`)
	require.Positive(t, committed)
	require.Less(t, committed, int64(40), "part 0 rolled back")
	require.EqualValues(t, 1, count(t, pool, `SELECT count(*) FROM contact_import_parts WHERE import_id = $1`, id))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_import_rejects`), "rejected lines go with part 0")
	for _, s := range importedState(t, pool) {
		require.Contains(t, wantState, s, "each committed contact as it ends, with its consent entries")
	}
	job, err := svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportRunning, job.Status)

	contacts.SetPartHook(svc, nil)
	require.NoError(t, svc.ImportRun(ctx, id))
	job, err = svc.ImportGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, contacts.ImportDone, job.Status)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_import_parts`))
	want.Result.ImportID = id
	require.Equal(t, want.Result, job.Result)
	require.Equal(t, wantState, importedState(t, pool))
	require.Equal(t, count(t, cleanPool, `SELECT count(*) FROM consent_ledger`), count(t, pool, `SELECT count(*) FROM consent_ledger`),
		"no entry twice")
}

// TestImportRunCrashWithConsentChangesNothing: a run that dies before the parts commit
// leaves no contact, consent entry, state, suppression or part behind.
func TestImportRunCrashWithConsentChangesNothing(t *testing.T) {
	t.Parallel()
	svc, pool := partsSetup(t, 2, contacts.Options{ImportQueue: &queued{}})
	ctx := context.Background()
	id := submit(t, svc, partsFile(), contacts.ImportOptions{ConsentSource: "form", Actor: "test"})
	var chunks atomic.Int32
	crash := errors.New("the worker died")
	contacts.SetChunkHook(svc, func(int64) error {
		if chunks.Add(1) == 2 { // a chunk each (300 rows): both parts have merged and recorded consent
			return crash
		}
		return nil
	})
	contacts.SetPartHook(svc, func(int) error { t.Error("a part committed"); return nil })
	require.ErrorIs(t, svc.ImportRun(ctx, id), crash)
	for _, table := range []string{"contacts", "consent_ledger", "consent_state", "suppressions", "contact_import_rejects", "contact_import_parts"} {
		require.Zero(t, count(t, pool, `SELECT count(*) FROM `+table), table)
	}
}
