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

// writeBenchCSV writes n realistic rows: distinct Singapore mobile numbers, names, emails,
// a locale and zone for most, two or three tags out of twenty, and a consent value.
func writeBenchCSV(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	fmt.Fprintln(bw, "phone,name,email,locale,timezone,country,tags,consent")
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
		fmt.Fprintf(bw, "+65%d,Customer %d,c%d@example.com,en-SG,%s,,%s,%s\n",
			90_000_000+i%9_000_000, i, i, benchZones[i%len(benchZones)], tags, consent)
	}
	return bw.Flush()
}

// BenchmarkImport1M imports a generated CSV of CRIER_BENCH_ROWS rows (default 1 000 000)
// streamed through a pipe, and reports rows/s and the process's peak RSS. Run it alone:
//
//	go test ./contacts -run '^$' -bench Import1M -benchtime 1x -v
//
// Import1M/contacts leaves the consent column unrecorded; Import1M/with-consent records it
// in the consent ledger as production does (a million ledger entries and states more).
func BenchmarkImport1M(b *testing.B) {
	b.Run("contacts", func(b *testing.B) { benchImport(b, false) })
	b.Run("with-consent", func(b *testing.B) { benchImport(b, true) })
}

func benchImport(b *testing.B, withConsent bool) {
	n := 1_000_000
	if s := os.Getenv("CRIER_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	pool := testdb.New(b)
	svc := contacts.NewService(pool, testHasher(b))
	if withConsent {
		c, err := consent.New(pool, testHasher(b), consent.Options{})
		if err != nil {
			b.Fatal(err)
		}
		svc.ImportConsent = c
	}
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
		go func() { pw.CloseWithError(writeBenchCSV(pw, n)) }()
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
		ex := consent.Exclusions("c", "'whatsapp'", "'marketing'")
		queries = []string{
			`SELECT ` + ex.Expr + ` AS excluded, count(*) FROM contacts c ` + ex.Joins + ` GROUP BY 1`,
			`SELECT ` + ex.Expr + ` AS excluded, count(*) FROM contacts c ` + ex.Joins + ` WHERE c.tags && '{vip}' GROUP BY 1`,
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
