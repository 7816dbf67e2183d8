package contacts_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/testdb"
)

func setupImport(t *testing.T) (*contacts.Service, *pgxpool.Pool, context.Context) {
	t.Helper()
	return setupImportWith(t, contacts.Options{})
}

// setupImportWith is setupImport with the service's options.
func setupImportWith(t *testing.T, opts contacts.Options) (*contacts.Service, *pgxpool.Pool, context.Context) {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	return contacts.New(pool, testHasher(t), opts), pool, context.Background()
}

func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func TestImportHandlesBOMCRLFQuotesAndConsent(t *testing.T) {
	rec := &consentRecorder{}
	svc, _, ctx := setupImportWith(t, contacts.Options{ImportConsent: rec})
	file := "\xef\xbb\xbfPhone,Name,Email,Locale,Timezone,Country,Tags,Consent\r\n" +
		"+6591234567,\"Tan, Ada\",ada@example.com,en-SG,Asia/Singapore,,vip;Sale,granted\r\n" +
		"91234568,\"Bo \"\"the\"\"\nSecond\",,ms,,SG,,no\r\n" + // a quoted newline: this record spans lines 3-4
		"+14155552671,Cy,,,America/New_York,,,\r\n"
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{
		DefaultCountry: "sg", Tags: []string{"Imported"}, ConsentSource: "signup form", Actor: "test",
	})
	require.NoError(t, err)
	require.Empty(t, res.Rejected)
	require.EqualValues(t, 3, res.Rows)
	require.EqualValues(t, 3, res.Created)
	require.NotZero(t, res.ImportID)

	list, _, err := svc.List(ctx, contacts.ListParams{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 3)
	byPhone := map[string]contacts.Contact{}
	for _, c := range list {
		byPhone[c.Phone] = c
	}
	ada := byPhone["+6591234567"]
	require.Equal(t, "Tan, Ada", ada.Name)
	require.Equal(t, "Asia/Singapore", ada.Timezone)
	require.Equal(t, []string{"imported", "sale", "vip"}, ada.Tags)
	require.Equal(t, "Bo \"the\"\nSecond", byPhone["+6591234568"].Name)
	require.Equal(t, "US", byPhone["+14155552671"].Country)

	// The consent column reaches the recorder, inside the import's transaction.
	require.Equal(t, res.ImportID, rec.importID)
	require.Equal(t, "signup form", rec.source)
	require.Equal(t, map[string]string{"+6591234567:2": "granted", "+6591234568:3": "withdrawn"}, rec.lines)
	require.Equal(t, map[string]int64{"lines": 2}, res.Consent)
}

// consentRecorder stands in for the consent package: it reads what the import hands it.
type consentRecorder struct {
	mu       sync.Mutex
	importID int64
	source   string
	lines    map[string]string
}

func (r *consentRecorder) RecordImportConsent(ctx context.Context, tx pgx.Tx, importID int64, source, actor string, lines []contacts.ImportConsentLine) (map[string]int64, error) {
	r.mu.Lock() // the import's parts call it at the same time
	defer r.mu.Unlock()
	r.importID, r.source = importID, source
	if r.lines == nil {
		r.lines = map[string]string{}
	}
	// It runs inside the import's transaction: the contacts of the chunk are visible.
	var known int64
	phones := make([]string, len(lines))
	for i, l := range lines {
		r.lines[fmt.Sprintf("%s:%d", l.Phone, l.Line)] = string(l.Status)
		phones[i] = l.Phone
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE phone = ANY($1)`, phones).Scan(&known); err != nil {
		return nil, err
	}
	if known != int64(len(lines)) {
		return nil, fmt.Errorf("%d of %d contacts visible", known, len(lines))
	}
	return map[string]int64{"lines": int64(len(lines))}, nil
}

func TestImportTwiceIsIdempotent(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	var b strings.Builder
	b.WriteString("phone,name,tags\n")
	for i := range 500 {
		fmt.Fprintf(&b, "+6591%06d,Person %d,t%d;all\n", i, i, i%7)
	}
	first, err := svc.Import(ctx, strings.NewReader(b.String()), contacts.ImportOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 500, first.Created)
	var before string
	require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(id || phone || name || tags::text || updated_at::text, ',' ORDER BY id) FROM contacts`).Scan(&before))

	second, err := svc.Import(ctx, strings.NewReader(b.String()), contacts.ImportOptions{})
	require.NoError(t, err)
	require.Zero(t, second.Created)
	require.Zero(t, second.Updated)
	require.EqualValues(t, 500, second.Unchanged)
	var after string
	require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(id || phone || name || tags::text || updated_at::text, ',' ORDER BY id) FROM contacts`).Scan(&after))
	require.Equal(t, before, after, "a second import of the same file must not touch a row")
}

func TestImportLastDuplicateWinsAndIsReported(t *testing.T) {
	svc, _, ctx := setupImport(t)
	file := "phone,name,consent\n" +
		"+6591234567,First,granted\n" +
		"+6598765432,Other,\n" +
		"9123 4567,Second,withdrawn\n" + // same number, national format
		"+65 9123 4567,Third,\n"
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{DefaultCountry: "SG", ConsentSource: "x"})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Created)
	require.Equal(t, []contacts.DuplicateLine{{Line: 2, ReplacedBy: 5}, {Line: 4, ReplacedBy: 5}}, res.Duplicates)
	list, _, err := svc.List(ctx, contacts.ListParams{Phone: "+6591234567", Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "Third", list[0].Name)
}

func TestImportReportsEveryRejectedLineAndKeepsTheGoodOnes(t *testing.T) {
	svc, _, ctx := setupImport(t)
	file := "phone,email,timezone,locale,tags,consent\n" +
		"+6591234567,,,,,\n" + // 2 good
		"+65 12,,,,,\n" + // 3 bad phone
		"+6591234568,nope,,,,\n" + // 4 bad email
		"+6591234569,,Mars/Base,,,\n" + // 5 bad zone
		"+6591234570,,,,,maybe\n" + // 6 bad consent
		"+6591234571,,,\n" + // 7 too few fields
		"+6591234572,a\"b,,,,\n" + // 8 bare quote
		"+6591234573,,,,two words,\n" + // 9 bad tag
		"+65912345,bad,Nowhere,,,\n" + // 10 several problems at once
		"+6591234574,,UTC,en,x;y,yes\n" // 11 good
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{ConsentSource: "form"})
	require.NoError(t, err)
	require.EqualValues(t, 10, res.Rows)
	require.EqualValues(t, 2, res.Created)
	lines := map[int64]contacts.RejectedLine{}
	for _, r := range res.Rejected {
		lines[r.Line] = r
	}
	require.Len(t, lines, 8)
	require.Equal(t, "phone", lines[3].Field)
	require.Contains(t, lines[3].Error, "phone is too short")
	require.Equal(t, "email", lines[4].Field)
	require.Equal(t, "timezone", lines[5].Field)
	require.Equal(t, "consent", lines[6].Field)
	require.Contains(t, lines[7].Error, "has 4 fields; the header has 6")
	require.Contains(t, lines[8].Error, "not valid CSV")
	require.Equal(t, "tags", lines[9].Field)
	require.Equal(t, "phone", lines[10].Field)
	require.Contains(t, lines[10].Error, "email is not an email address")
	require.Contains(t, lines[10].Error, "timezone")
	for i := 1; i < len(res.Rejected); i++ {
		require.Less(t, res.Rejected[i-1].Line, res.Rejected[i].Line, "rejected lines are sorted")
	}
}

func TestImportEmptyCellsKeepValues(t *testing.T) {
	svc, _, ctx := setupImport(t)
	c, _, err := svc.Upsert(ctx, "+6591234567", "", contacts.Fields{Name: ptr("Ada"), Country: ptr("MY"), Tags: []string{"old"}})
	require.NoError(t, err)
	res, err := svc.Import(ctx, strings.NewReader("phone,name,country,tags\n+6591234567,,,new\n"), contacts.ImportOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Updated)
	got, err := svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "Ada", got.Name)
	require.Equal(t, "MY", got.Country, "an empty country cell keeps the one set by hand")
	require.Equal(t, []string{"new", "old"}, got.Tags)
}

func TestImportRefusesBadFilesAndChangesNothing(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	tests := []struct {
		name, file, field string
		opts              contacts.ImportOptions
	}{
		{name: "empty", file: "", field: "body"},
		{name: "attribute column without a name", file: "phone,tier, \n+6591234567,x,y\n", field: "header"},
		{name: "attribute key too long", file: "phone," + strings.Repeat("k", 65) + "\n", field: "header"},
		{name: "attribute column twice", file: "phone,tier, tier \n", field: "header"},
		{name: "attribute keys differing in case", file: "phone,Tier,tier\n", field: "header"},
		{name: "control character in a key", file: "phone,\"ti\ter\"\n", field: "header"},
		{name: "too many attribute columns", file: "phone" + manyColumns(51) + "\n", field: "header"},
		{name: "no phone column", file: "name\nx\n", field: "header"},
		{name: "column twice", file: "phone,name,Name\n", field: "header"},
		{name: "consent without source", file: "phone,consent\n+6591234567,yes\n", field: "consent_source"},
		{name: "NUL in the consent source", file: "phone,consent\n+6591234567,yes\n", field: "consent_source",
			opts: contacts.ImportOptions{ConsentSource: "spring\x00form"}},
		{name: "bad default country", file: "phone\n", field: "default_country", opts: contacts.ImportOptions{DefaultCountry: "ZZZ"}},
		{name: "bad tags", file: "phone\n", field: "tags", opts: contacts.ImportOptions{Tags: []string{"a b"}}},
		{name: "unterminated quote", file: "phone,name\n+6591234567,ok\n+6591234568,\"" + strings.Repeat("x", 2<<20) + "\n", field: "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Import(ctx, strings.NewReader(tt.file), tt.opts)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
			require.Equal(t, tt.field, apperr.FieldsOf(err)[0].Field)
		})
	}
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_imports`))
}

// manyColumns returns n attribute column names, each after a comma.
func manyColumns(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ",c%d", i)
	}
	return b.String()
}

// failingReader returns good rows, then fails as a dropped connection would.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func TestImportFailingReaderRollsBack(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	var b strings.Builder
	b.WriteString("phone\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "+6591%06d\n", i)
	}
	_, err := svc.Import(ctx, failingReader{strings.NewReader(b.String())}, contacts.ImportOptions{})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contact_imports`))
}

func TestImportReportsProgressAndHonoursCancel(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		fmt.Fprintln(pw, "phone")
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(pw, "+6591%06d\n", i%1_000_000); err != nil {
				return
			}
		}
	}()
	var calls []int64
	_, err := svc.Import(ctx, pr, contacts.ImportOptions{ProgressEvery: 1000, Progress: func(rows int64) {
		calls = append(calls, rows)
		if rows == 2000 {
			cancel()
		}
	}})
	pr.CloseWithError(errors.New("done"))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []int64{1000, 2000}, calls[:2])
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts`))
}

// TestImportAcrossChunks imports with tiny chunks, so that duplicates span chunks: the last
// line still wins, each contact is counted once, and consent is handed over chunk by chunk.
func TestImportAcrossChunks(t *testing.T) {
	rec := &consentRecorder{}
	svc, _, ctx := setupImportWith(t, contacts.Options{ImportConsent: rec})
	file := "phone,name,consent\n" +
		"+6591000001,A1,granted\n" + // 2
		"+6591000002,B1,\n" + // 3
		"+6591000003,C1,\n" + // 4
		"+6591000001,A2,withdrawn\n" + // 5
		"+6591000004,D1,\n" + // 6
		"+6591000001,A3,granted\n" + // 7
		"+6591000002,B2,\n" // 8
	// One part: the chunks below are the file's (with several parts, each has its own).
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{ChunkRows: 2, ConsentSource: "form", Merges: 1})
	require.NoError(t, err)
	require.EqualValues(t, 4, res.Created)
	require.Zero(t, res.Updated)
	require.Zero(t, res.Unchanged)
	require.Equal(t, []contacts.DuplicateLine{{Line: 2, ReplacedBy: 7}, {Line: 3, ReplacedBy: 8}, {Line: 5, ReplacedBy: 7}}, res.Duplicates)
	for phone, name := range map[string]string{"+6591000001": "A3", "+6591000002": "B2", "+6591000003": "C1", "+6591000004": "D1"} {
		list, _, err := svc.List(ctx, contacts.ListParams{Phone: phone, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, name, list[0].Name)
	}
	require.EqualValues(t, 3, res.Consent["lines"], "every staged line with consent reaches the recorder once")
	require.Equal(t, "granted", rec.lines["+6591000001:7"])

	// Again: nothing changes.
	res, err = svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{ChunkRows: 2, ConsentSource: "form", Merges: 1})
	require.NoError(t, err)
	require.Zero(t, res.Created+res.Updated)
	require.EqualValues(t, 4, res.Unchanged)
}

// TestImportSettlesRepeatsAgainstThePreviousState covers the two ways a phone spread over
// chunks can mislead the counts: its first line changes the contact and a later line puts
// it back (unchanged, and updated_at keeps its old value), or its first line changes
// nothing and a later one does (updated).
func TestImportSettlesRepeatsAgainstThePreviousState(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	back, _, err := svc.Upsert(ctx, "+6591000001", "", contacts.Fields{Name: ptr("Final")})
	require.NoError(t, err)
	later, _, err := svc.Upsert(ctx, "+6591000002", "", contacts.Fields{Name: ptr("Same")})
	require.NoError(t, err)
	file := "phone,name\n" +
		"+6591000001,Temporary\n" + // 2: changes back…
		"+6591000002,Same\n" + // 3: changes nothing…
		"+6591000003,New\n" + // 4
		"+6591000004,New\n" + // 5
		"+6591000001,Final\n" + // 6: …and puts it back
		"+6591000002,Changed\n" // 7: …and this changes later
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{ChunkRows: 2})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Created)
	require.EqualValues(t, 1, res.Updated, "only +6591000002 ended changed")
	require.EqualValues(t, 1, res.Unchanged, "+6591000001 ended where it started")

	got, err := svc.Get(ctx, back.ID)
	require.NoError(t, err)
	require.Equal(t, "Final", got.Name)
	require.True(t, got.UpdatedAt.Equal(back.UpdatedAt), "updated_at is restored: %v, was %v", got.UpdatedAt, back.UpdatedAt)
	got, err = svc.Get(ctx, later.ID)
	require.NoError(t, err)
	require.Equal(t, "Changed", got.Name)
	require.True(t, got.UpdatedAt.After(later.UpdatedAt))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts WHERE name = 'Temporary'`))
}

// TestImportTypesAttributeCells covers the typing rule of attribute cells, end to end:
// what PostgreSQL stores for each cell.
func TestImportTypesAttributeCells(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	tests := []struct {
		cell, typ, json string // json: the stored value as jsonb text; typ "": no key at all
	}{
		{cell: "42", typ: "number", json: "42"},
		{cell: "-7", typ: "number", json: "-7"},
		{cell: "0", typ: "number", json: "0"},
		{cell: "0.5", typ: "number", json: "0.5"},
		{cell: "1.50", typ: "number", json: "1.50"},
		{cell: " 12 ", typ: "number", json: "12"},
		{cell: "123456789012345", typ: "number", json: "123456789012345"},     // 15 digits
		{cell: "6591234567", typ: "number", json: "6591234567"},               // a phone without + is a number
		{cell: "1234567890123456", typ: "string", json: `"1234567890123456"`}, // 16 digits
		{cell: "9007199254740993", typ: "string", json: `"9007199254740993"`}, // beyond 2^53
		{cell: "1.23456789012345", typ: "number", json: "1.23456789012345"},
		{cell: "1.234567890123456", typ: "string", json: `"1.234567890123456"`},
		{cell: "true", typ: "boolean", json: "true"},
		{cell: "FALSE", typ: "boolean", json: "false"},
		{cell: "True", typ: "boolean", json: "true"},
		{cell: "007", typ: "string", json: `"007"`},
		{cell: "+6591234567", typ: "string", json: `"+6591234567"`},
		{cell: "-", typ: "string", json: `"-"`},
		{cell: "--1", typ: "string", json: `"--1"`},
		{cell: ".5", typ: "string", json: `".5"`},
		{cell: "5.", typ: "string", json: `"5."`},
		{cell: "1e6", typ: "string", json: `"1e6"`},
		{cell: `"1,000"`, typ: "string", json: `"1,000"`},
		{cell: "0x10", typ: "string", json: `"0x10"`},
		{cell: "NaN", typ: "string", json: `"NaN"`},
		{cell: "2026-01-31", typ: "string", json: `"2026-01-31"`},
		{cell: "yes", typ: "string", json: `"yes"`},
		{cell: "  gold  ", typ: "string", json: `"gold"`},
		{cell: `"say ""hi"", \o/"`, typ: "string", json: `"say \"hi\", \\o/"`},
		{cell: "\"two\nlines\"", typ: "string", json: `"two\nlines"`},
		{cell: "café ☕", typ: "string", json: `"café ☕"`},
		{cell: "", typ: ""},
		{cell: "   ", typ: ""},
	}
	var b strings.Builder
	b.WriteString("phone,v\n")
	for i, tt := range tests {
		fmt.Fprintf(&b, "+6591%06d,%s\n", i, tt.cell)
	}
	res, err := svc.Import(ctx, strings.NewReader(b.String()), contacts.ImportOptions{})
	require.NoError(t, err)
	require.Empty(t, res.Rejected)
	require.EqualValues(t, len(tests), res.Created)
	for i, tt := range tests {
		var typ, js *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT jsonb_typeof(attributes->'v'), (attributes->'v')::text FROM contacts WHERE phone = $1`,
			fmt.Sprintf("+6591%06d", i)).Scan(&typ, &js))
		if tt.typ == "" {
			require.Nil(t, typ, "cell %q sets nothing", tt.cell)
			continue
		}
		require.NotNil(t, typ, "cell %q", tt.cell)
		require.Equal(t, tt.typ, *typ, "cell %q", tt.cell)
		require.Equal(t, tt.json, *js, "cell %q", tt.cell)
	}
	require.Zero(t, count(t, pool, `SELECT count(*) FROM contacts WHERE attributes = '{}' AND phone <= '+6591000030'`),
		"every contact with a value has its attribute")
}

// TestImportMergesAttributes: attribute columns are merged key by key into what a contact
// has; an empty cell keeps the value; the keys are reported, the new ones apart; a second
// import of the file changes nothing.
func TestImportMergesAttributes(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	ada, _, err := svc.Upsert(ctx, "+6591234567", "", contacts.Fields{Attributes: map[string]any{"tier": "silver", "points": 3, "keep": "x"}})
	require.NoError(t, err)
	file := "Phone, tier ,points,Signup Date,vip\n" +
		"+6591234567,gold,,2026-01-31,\n" + // points and vip empty: kept, not set
		"+6591234568,,10,,true\n"
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{})
	require.NoError(t, err)
	require.Empty(t, res.Rejected)
	require.EqualValues(t, 1, res.Created)
	require.EqualValues(t, 1, res.Updated)
	require.Equal(t, []string{"Signup Date", "points", "tier", "vip"}, res.AttributeKeys, "sorted, case kept")
	require.Equal(t, []string{"Signup Date", "vip"}, res.NewAttributeKeys, "tier and points were known")

	got, err := svc.Get(ctx, ada.ID)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"tier": "gold", "points": float64(3), "keep": "x", "Signup Date": "2026-01-31"}, got.Attributes)
	list, _, err := svc.List(ctx, contacts.ListParams{Phone: "+6591234568", Limit: 1})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"points": float64(10), "vip": true}, list[0].Attributes)

	again, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{})
	require.NoError(t, err)
	require.Zero(t, again.Created+again.Updated)
	require.EqualValues(t, 2, again.Unchanged)
	require.Empty(t, again.NewAttributeKeys)
	same, err := svc.Get(ctx, ada.ID)
	require.NoError(t, err)
	require.True(t, same.UpdatedAt.Equal(got.UpdatedAt), "an unchanged contact is not written")

	// A file without attribute columns reports none.
	res, err = svc.Import(ctx, strings.NewReader("phone,name\n+6591234567,Ada\n"), contacts.ImportOptions{})
	require.NoError(t, err)
	require.Nil(t, res.AttributeKeys)
	require.Nil(t, res.NewAttributeKeys)
	require.EqualValues(t, 4, count(t, pool, `SELECT count(*) FROM jsonb_object_keys((SELECT attributes FROM contacts WHERE id = $1))`, ada.ID))
}

// TestImportSettlesAttributeRepeats: a contact whose attribute a line changes and a later
// line, in another chunk, puts back ends unchanged, with its old updated_at.
func TestImportSettlesAttributeRepeats(t *testing.T) {
	svc, _, ctx := setupImport(t)
	c, _, err := svc.Upsert(ctx, "+6591000001", "", contacts.Fields{Attributes: map[string]any{"tier": "silver"}})
	require.NoError(t, err)
	file := "phone,tier\n" +
		"+6591000001,gold\n" +
		"+6591000002,\n" +
		"+6591000003,\n" +
		"+6591000001,silver\n"
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{ChunkRows: 2})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Created)
	require.Zero(t, res.Updated)
	require.EqualValues(t, 1, res.Unchanged)
	got, err := svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"tier": "silver"}, got.Attributes)
	require.True(t, got.UpdatedAt.Equal(c.UpdatedAt), "updated_at is restored")
}

// TestImportRejectsBadAttributeCells: a cell that cannot be a value rejects its line,
// naming the column; the other lines are imported.
func TestImportRejectsBadAttributeCells(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	wide := strings.Repeat("x", 1000)
	file := "phone,tier,note\n" +
		"+6591000001,gold," + wide + "\n" + // 2: at the limit
		"+6591000002,gold," + wide + "y\n" + // 3: over it
		"+6591000003,\xff,\n" + // 4: not UTF-8
		"+6591000004,a\x00b,\n" // 5: NUL
	res, err := svc.Import(ctx, strings.NewReader(file), contacts.ImportOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Created)
	require.Len(t, res.Rejected, 3)
	require.Equal(t, contacts.RejectedLine{Line: 3, Field: "attributes.note", Reason: "attributes.note",
		Error: "attributes.note is 1001 characters long; the limit is 1000"}, res.Rejected[0])
	require.Equal(t, "attributes.tier", res.Rejected[1].Field)
	require.Contains(t, res.Rejected[1].Error, "UTF-8")
	require.Equal(t, "attributes.tier", res.Rejected[2].Field)
	require.Contains(t, res.Rejected[2].Error, "NUL")
	require.EqualValues(t, 1, count(t, pool, `SELECT count(*) FROM contacts WHERE length(attributes->>'note') = 1000`))
}

// TestImportHeaderErrorsNameTheColumn: a bad attribute column is named, and a file at the
// cap of attribute columns is accepted.
func TestImportHeaderErrorsNameTheColumn(t *testing.T) {
	svc, _, ctx := setupImport(t)
	_, err := svc.Import(ctx, strings.NewReader("phone,tier,,x\n"), contacts.ImportOptions{})
	require.Equal(t, []apperr.FieldError{{Field: "header", Message: `column 3 ("") has no name: name it, or remove it`}}, apperr.FieldsOf(err))
	_, err = svc.Import(ctx, strings.NewReader("phone,Tier,TIER\n"), contacts.ImportOptions{})
	require.Equal(t, `columns "Tier" and "TIER" differ only in case`, apperr.FieldsOf(err)[0].Message)
	_, err = svc.Import(ctx, strings.NewReader("phone"+manyColumns(51)+"\n"), contacts.ImportOptions{})
	require.Contains(t, apperr.FieldsOf(err)[0].Message, "the file has 51 attribute columns")

	res, err := svc.Import(ctx, strings.NewReader("phone"+manyColumns(50)+"\n+6591000001"+strings.Repeat(",1", 50)+"\n"), contacts.ImportOptions{})
	require.NoError(t, err)
	require.Len(t, res.AttributeKeys, 50)
	require.Len(t, res.NewAttributeKeys, 50)
}

// TestImportFindsRareAttributeKeys: a key that only a contact far down the table has is
// not new.
func TestImportFindsRareAttributeKeys(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO contacts (phone, attributes)
		SELECT '+6590' || lpad(i::text, 6, '0'), CASE WHEN i = 1500 THEN '{"rare": 1}'::jsonb ELSE '{}' END
		FROM generate_series(1, 1500) AS i`)
	require.NoError(t, err)
	res, err := svc.Import(ctx, strings.NewReader("phone,rare,fresh\n+6591000001,2,x\n"), contacts.ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"fresh", "rare"}, res.AttributeKeys)
	require.Equal(t, []string{"fresh"}, res.NewAttributeKeys)
}
