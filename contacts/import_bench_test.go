package contacts_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/testdb"
)

var benchTags = []string{"vip", "newsletter", "sale-2026", "churn-risk", "loyal", "app-user", "store-sg",
	"store-my", "store-id", "b2b", "students", "parents", "sports", "fashion", "tech", "beauty", "travel",
	"food", "gaming", "pets"}

var benchZones = []string{"Asia/Singapore", "Asia/Kuala_Lumpur", "Asia/Jakarta", "Asia/Bangkok", "", ""}

var benchTiers = []string{"gold", "silver", "bronze", ""}

// writeBenchCSV writes n realistic rows: distinct Singapore mobile numbers, names, emails,
// a locale and zone for most, two or three tags out of twenty, and a consent value; with
// attributes, two attribute columns too: a tier (a string, empty for a quarter) and a
// signup date.
func writeBenchCSV(w io.Writer, n int, attributes bool) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	header := "phone,name,email,locale,timezone,country,tags,consent"
	if attributes {
		header += ",tier,signup_date"
	}
	fmt.Fprintln(bw, header)
	for i := range n {
		t1, t2, t3 := benchTags[rng.IntN(20)], benchTags[rng.IntN(20)], benchTags[rng.IntN(20)]
		tags := t1 + ";" + t2
		if i%3 == 0 {
			tags += ";" + t3
		}
		consent := "granted"
		if i%10 == 0 {
			consent = "withdrawn"
		}
		// 90000000 to 98999999 are Singapore mobile numbers: 9 M distinct ones.
		fmt.Fprintf(bw, "+65%d,Customer %d,c%d@example.com,en-SG,%s,,%s,%s",
			90_000_000+i%9_000_000, i, i, benchZones[i%len(benchZones)], tags, consent)
		if attributes {
			fmt.Fprintf(bw, ",%s,2026-%02d-%02d", benchTiers[i%len(benchTiers)], 1+i%12, 1+i%28)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// BenchmarkImport1M imports a generated CSV of CRIER_BENCH_ROWS rows (default 1 000 000)
// streamed through a pipe, and reports rows/s and the process's peak RSS. Run it alone:
//
//	go test ./contacts -run '^$' -bench Import1M -benchtime 1x -v
//
// Import1M/contacts leaves the consent column unrecorded; Import1M/with-consent records it
// in the consent ledger as production does (a million ledger entries and states more);
// Import1M/attributes is Import1M/contacts with two attribute columns. Each then reports
// how long a one-line import with two new attribute columns takes on the imported million
// (new-keys-import-ms: keys that no contact has cost a scan of contacts).
func BenchmarkImport1M(b *testing.B) {
	b.Run("contacts", func(b *testing.B) { benchImport(b, false, false) })
	b.Run("with-consent", func(b *testing.B) { benchImport(b, true, false) })
	b.Run("attributes", func(b *testing.B) { benchImport(b, false, true) })
}

func benchImport(b *testing.B, withConsent, withAttributes bool) {
	n := 1_000_000
	if s := os.Getenv("CRIER_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	pool := testdb.New(b)
	var opts contacts.Options
	if withConsent {
		c, err := consent.New(pool, testHasher(b), consent.Options{})
		if err != nil {
			b.Fatal(err)
		}
		opts.ImportConsent = c
	}
	svc := contacts.New(pool, testHasher(b), opts)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 {
			b.StopTimer()
			if _, err := pool.Exec(ctx, "TRUNCATE contacts, consent_ledger, consent_state CASCADE"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeBenchCSV(pw, n, withAttributes)) }()
		start := time.Now()
		res, err := svc.Import(ctx, pr, contacts.ImportOptions{ConsentSource: "bench", Actor: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		if res.Created != int64(n) || len(res.Rejected) != 0 {
			b.Fatalf("created %d of %d, %d rejected", res.Created, n, len(res.Rejected))
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "rows/s")
	}
	b.StopTimer()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB") // Linux reports KiB
	}
	// A small import with two new attribute columns, into the million: finding that the
	// keys are new takes a scan of contacts.
	start := time.Now()
	res, err := svc.Import(ctx, strings.NewReader("phone,new_a,new_b\n+6580000001,x,1\n"), contacts.ImportOptions{Actor: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "new-keys-import-ms")
	if len(res.NewAttributeKeys) != 2 {
		b.Fatalf("new keys %v", res.NewAttributeKeys)
	}

	// The queries the campaigns will run on the imported million: tag segments, and with
	// consent recorded, the audience filtered by consent and suppression in one statement.
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE contacts, consent_state, suppressions"); err != nil {
		b.Fatal(err)
	}
	queries := []string{
		`SELECT count(*) FROM contacts WHERE tags && '{vip}'`,
		`SELECT count(*) FROM contacts WHERE tags @> '{vip,loyal}' AND NOT tags && '{b2b}'`,
	}
	if withConsent {
		queries = []string{
			`SELECT e.exclusion, count(*) FROM contact_eligibility('whatsapp', 'marketing') e GROUP BY 1`,
			`SELECT e.exclusion, count(*) FROM contact_eligibility('whatsapp', 'marketing') e WHERE (e.contact).tags && '{vip}' GROUP BY 1`,
		}
	}
	for _, q := range queries {
		rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q)
		if err != nil {
			b.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				b.Fatal(err)
			}
			plan = append(plan, line)
		}
		b.Logf("%s\n%s", q, strings.Join(plan, "\n"))
	}
}

// BenchmarkImportUpload sends CRIER_BENCH_BYTES (default 1 GiB) of generated CSV through
// the path of an API import, streamed through a pipe: ImportSubmit spools it to a
// temporary file and stores it in the database, then ImportRun imports it as a worker
// does. It reports the throughput and the process's peak RSS, which must not grow with
// the file. Run each alone, since peak RSS is the process's:
//
//	CRIER_BENCH_BYTES=1073741824 go test ./contacts -run '^$' -bench 'ImportUpload/bad-lines' -benchtime 1x -timeout 2h
//	CRIER_BENCH_BYTES=268435456 go test ./contacts -run '^$' -bench 'ImportUpload/good-lines' -benchtime 1x -timeout 2h
//
// bad-lines is a file of nothing but lines whose phone is not a number (each one is
// rejected, stored and counted); good-lines is the rows of Import1M without the consent
// column, with 17 M distinct Singapore mobile numbers.
func BenchmarkImportUpload(b *testing.B) {
	b.Run("bad-lines", func(b *testing.B) { benchUpload(b, writeBadLines) })
	b.Run("good-lines", func(b *testing.B) { benchUpload(b, writeGoodLines) })
}

func benchUpload(b *testing.B, gen func(w io.Writer, size int64) (rows int64, err error)) {
	size := int64(1 << 30)
	if s := os.Getenv("CRIER_BENCH_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	pool := testdb.New(b)
	svc := contacts.New(pool, testHasher(b), contacts.Options{ImportQueue: &queued{}})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pr, pw := io.Pipe()
		var rows int64
		go func() {
			n, err := gen(pw, size)
			rows = n
			pw.CloseWithError(err)
		}()
		start := time.Now()
		id, err := svc.ImportSubmit(ctx, pr, contacts.ImportOptions{Actor: "bench"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		stored := time.Since(start)
		if err := svc.ImportRun(ctx, id); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		job, err := svc.ImportGet(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if job.Status != contacts.ImportDone || job.Result.Rows != rows || len(job.Result.Rejected) > contacts.ImportListed {
			b.Fatalf("import %s: %d of %d rows, %d rejected listed", job.Status, job.Result.Rows, rows, len(job.Result.Rejected))
		}
		b.ReportMetric(float64(size)/(1<<20)/elapsed.Seconds(), "MB/s")
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(stored.Seconds(), "stored-s")
		b.ReportMetric(float64(job.Result.RejectedCount), "rejected")
		var rejectBytes int64
		if err := pool.QueryRow(ctx, `SELECT pg_total_relation_size('contact_import_rejects')`).Scan(&rejectBytes); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rejectBytes)/(1<<20), "rejects-MB")
	}
	b.StopTimer()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB") // Linux reports KiB
	}
}

// writeBadLines writes size bytes (or a line more) of lines that are all rejected.
func writeBadLines(w io.Writer, size int64) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	written, _ := bw.WriteString("phone,name\n")
	var rows int64
	for n := int64(written); n < size; rows++ {
		k, err := fmt.Fprintf(bw, "not-a-phone-%d,Customer %d\n", rows, rows)
		if err != nil {
			return rows, err
		}
		n += int64(k)
	}
	return rows, bw.Flush()
}

// writeGoodLines writes size bytes (or a line more) of good rows, as writeBenchCSV does,
// with 17 M distinct Singapore mobile numbers.
func writeGoodLines(w io.Writer, size int64) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	written, _ := bw.WriteString("phone,name,email,locale,timezone,country,tags\n")
	var rows int64
	for n := int64(written); n < size; rows++ {
		i := int(rows)
		phone := 90_000_000 + i%17_000_000 // 90000000 to 98999999, then 81000000 to 88999999
		if phone >= 99_000_000 {
			phone -= 18_000_000
		}
		tags := benchTags[rng.IntN(20)] + ";" + benchTags[rng.IntN(20)]
		k, err := fmt.Fprintf(bw, "+65%d,Customer %d,c%d@example.com,en-SG,%s,,%s\n",
			phone, i, i, benchZones[i%len(benchZones)], tags)
		if err != nil {
			return rows, err
		}
		n += int64(k)
	}
	return rows, bw.Flush()
}
