package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/migrations"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
	"github.com/crierhq/crier/workers"
)

// settledCounter returns a function that reads, from the worker's counters, how many of
// the campaign's deliveries this process has settled: sent, skipped, failed or expired. A
// failed receipt counts a sent message twice, so the figure only says when to look.
func settledCounter(m *workers.Metrics, campaignID int64) (func() int64, error) {
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		return nil, err
	}
	id := strconv.FormatInt(campaignID, 10)
	counted := map[string]bool{"crier_messages_sent_total": true, "crier_deliveries_skipped_at_send_total": true,
		"crier_messages_failed_total": true, "crier_deliveries_expired_total": true}
	return func() int64 {
		families, err := reg.Gather()
		if err != nil {
			return 0
		}
		var n float64
		for _, f := range families {
			if !counted[f.GetName()] {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "campaign_id" && l.GetValue() == id {
						n += m.GetCounter().GetValue()
					}
				}
			}
		}
		return int64(n)
	}, nil
}

// benchOptions are crier bench's flags.
type benchOptions struct {
	Contacts    int
	Stops       int
	Accounts    int
	Concurrency int
	RedisDB     int
	Keep        bool
	NoSend      bool // stop after the launch: the import and the launch alone
	CPUProfile  string
	PprofAddr   string
	Compare     string // a saved run's output, printed beside this run's figures
	Progress    io.Writer
}

func parseBenchFlags(args []string) (benchOptions, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := benchOptions{}
	fs.IntVar(&o.Contacts, "contacts", 1_000_000, "contacts to generate, import and message")
	quick := fs.Bool("quick", false, "50 000 contacts: a run of a minute or two")
	fs.IntVar(&o.Accounts, "accounts", 4, "sandbox accounts the campaign sends through (no rate limit)")
	fs.IntVar(&o.Stops, "stops", 1000, "customers of the campaign who reply STOP while it sends (0: none; at most a tenth of --contacts)")
	fs.IntVar(&o.Concurrency, "concurrency", 1000, "worker concurrency (Asynq), for Crier and for the raw Asynq baseline")
	fs.IntVar(&o.RedisDB, "redis-db", 15, "Redis logical database to use (and flush) for the run")
	fs.BoolVar(&o.Keep, "keep", false, "keep the bench database afterwards")
	fs.BoolVar(&o.NoSend, "no-send", false, "stop after the launch: measure the import and the launch alone (minutes, not an hour, at 10 M)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the send phase to this file")
	fs.StringVar(&o.PprofAddr, "pprof", "", "serve net/http/pprof on this address during the run (e.g. 127.0.0.1:6060)")
	fs.StringVar(&o.Compare, "compare", "", "a saved earlier run's output (crier bench > before.md): print each figure beside it")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: bench takes flags only", errUsage)
	}
	if *quick {
		o.Contacts = 50_000
	}
	switch {
	case o.Contacts < 1 || o.Contacts > 10_000_000:
		return o, fmt.Errorf("%w: --contacts must be from 1 to 10000000", errUsage)
	case o.Accounts < 1 || o.Accounts > 100:
		return o, fmt.Errorf("%w: --accounts must be from 1 to 100", errUsage)
	case o.Concurrency < 1 || o.Concurrency > 10_000:
		return o, fmt.Errorf("%w: --concurrency must be from 1 to 10000 (as CRIER_WORKER_CONCURRENCY)", errUsage)
	case o.RedisDB < 0 || o.RedisDB > 15:
		return o, fmt.Errorf("%w: --redis-db must be from 0 to 15", errUsage)
	case o.Stops < 0 || o.Stops > o.Contacts/10:
		return o, fmt.Errorf("%w: --stops must be from 0 to a tenth of --contacts (%d)", errUsage, o.Contacts/10)
	}
	return o, nil
}

// cmdBench measures Crier end to end on a throwaway database and Redis database: CSV
// import, audience expansion, dispatch and send throughput through sandbox accounts,
// latency, peak memory, and raw Asynq on the same Redis for comparison. Progress goes to
// stderr, the results as a Markdown table to stdout.
func cmdBench(ctx context.Context, a *app, args []string, out io.Writer) error {
	o, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	// The saved run is read first: a wrong path fails now, not after the run.
	var saved savedBench
	if o.Compare != "" {
		if saved, err = readSavedBench(o.Compare); err != nil {
			return err
		}
	}
	if o.PprofAddr != "" {
		ln, err := net.Listen("tcp", o.PprofAddr)
		if err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
		defer ln.Close()
		go http.Serve(ln, http.DefaultServeMux) //nolint:errcheck // ends when ln closes
	}
	env, err := newBenchEnv(ctx, a, o)
	if err != nil {
		return err
	}
	defer env.Close(o.Keep)
	res, err := runBench(ctx, env, o)
	if err != nil {
		return err
	}
	res.write(out, o)
	if o.Compare != "" {
		fmt.Fprintln(out)
		res.writeCompare(out, saved, o.Compare)
	}
	return nil
}

// benchEnv is one bench run's own database and Redis database, and an app over them.
type benchEnv struct {
	admin  *app // the caller's connections: creates and drops the database
	app    *app
	dbName string
	logger func(format string, args ...any)
}

func newBenchEnv(ctx context.Context, a *app, o benchOptions) (*benchEnv, error) {
	ropts, err := redis.ParseURL(a.cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("CRIER_REDIS_URL: %w", err)
	}
	if ropts.DB == o.RedisDB {
		return nil, fmt.Errorf("--redis-db %d is CRIER_REDIS_URL's database: the bench flushes it, so pick another", o.RedisDB)
	}
	name := fmt.Sprintf("crier_bench_%d_%d", time.Now().Unix(), os.Getpid())
	if _, err := a.pool.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create the bench database (the role needs CREATEDB): %w", err)
	}
	env := &benchEnv{admin: a, dbName: name, logger: func(f string, args ...any) { fmt.Fprintf(o.Progress, f+"\n", args...) }}
	u, err := url.Parse(a.cfg.DatabaseURL)
	if err != nil {
		env.Close(false)
		return nil, err
	}
	u.Path = "/" + name
	ru, _ := url.Parse(a.cfg.RedisURL)
	ru.Path = "/" + strconv.Itoa(o.RedisDB)
	cfg := a.cfg
	cfg.DatabaseURL, cfg.RedisURL = u.String(), ru.String()
	cfg.Concurrency = o.Concurrency
	if len(cfg.HashKey) == 0 {
		// The database is thrown away, and the key with it.
		cfg.HashKey = make([]byte, minHashKeyBytes)
		if _, err := rand.Read(cfg.HashKey); err != nil {
			env.Close(false)
			return nil, err
		}
		note := ""
		if o.Keep {
			note = " (--keep: no key you have matches the kept database's suppression hashes)"
		}
		env.logger("bench: no CRIER_HASH_KEY: phone hashes use a throwaway key%s", note)
	}
	if cfg.LogLevel < slog.LevelWarn {
		cfg.LogLevel = slog.LevelWarn // the progress bars are the output
	}
	if env.app, err = openApp(ctx, cfg, newLogger(cfg, o.Progress)); err != nil {
		env.Close(false)
		return nil, err
	}
	db := stdlib.OpenDBFromPool(env.app.pool)
	_, err = migrations.Up(ctx, db, nil)
	db.Close()
	if err != nil {
		env.Close(false)
		return nil, err
	}
	if err := env.app.redis.FlushDB(ctx).Err(); err != nil {
		env.Close(false)
		return nil, fmt.Errorf("flush Redis database %d: %w", o.RedisDB, err)
	}
	env.logger("bench: database %s, Redis database %d", name, o.RedisDB)
	return env, nil
}

func (e *benchEnv) Close(keep bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e.app != nil {
		e.app.redis.FlushDB(ctx)
		e.app.Close()
	}
	if keep {
		e.logger("bench: kept database %s", e.dbName)
		return
	}
	if _, err := e.admin.pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{e.dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
		e.logger("bench: could not drop database %s: %v", e.dbName, err)
	}
}

// benchResult is one row per figure, in the order measured.
type benchResult struct {
	rows [][3]string // metric, value, how it was measured
}

func (r *benchResult) add(metric, value, note string) {
	r.rows = append(r.rows, [3]string{metric, value, note})
}

func (r *benchResult) write(w io.Writer, o benchOptions) {
	fmt.Fprintf(w, "| metric | value | notes |\n|---|---|---|\n")
	for _, row := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", row[0], row[1], row[2])
	}
	fmt.Fprintf(w, "\n%d contacts, %d sandbox accounts, concurrency %d, GOMAXPROCS %d, %s\n",
		o.Contacts, o.Accounts, o.Concurrency, runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.DateOnly))
}

// newBar is a progress bar on the progress writer.
func newBar(o benchOptions, max int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(o.Progress),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Progress) }),
		progressbar.OptionSetWidth(30),
	)
}

// benchPhone is the phone of the bench's contact i (0 ≤ i < 18 000 000): a Singapore
// mobile number, valid by the phone library's metadata, +6590000000 to +6598999999 and
// then +6580100000 onwards (+6599…, +6580000000 to +6580099999 and a few other blocks are
// not valid numbers).
func benchPhone(i int) string {
	n := 90000000 + i
	if i >= 9_000_000 {
		n = 80100000 + i - 9_000_000
	}
	return "+65" + strconv.Itoa(n)
}

// benchCSV writes n contacts with marketing consent, tagged "bench": benchPhone's
// numbers, so that every one is valid.
func benchCSV(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString("phone,name,tags,consent\n")
	for i := range n {
		bw.WriteString(benchPhone(i))
		bw.WriteString(",Bench Contact ")
		bw.WriteString(strconv.Itoa(i))
		bw.WriteString(",bench,yes\n")
	}
	return bw.Flush()
}

// benchImport streams the generated CSV through the real import and returns rows/s.
func benchImport(ctx context.Context, svc *services, o benchOptions) (float64, error) {
	bar := newBar(o, int64(o.Contacts), "import  ")
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(benchCSV(pw, o.Contacts)) }()
	start := time.Now()
	res, err := svc.contacts.Import(ctx, pr, contacts.ImportOptions{
		ConsentSource: "crier bench", Actor: "cli:bench",
		Progress: func(rows int64) { bar.Set64(rows) }, ProgressEvery: 10_000,
	})
	pr.Close()
	if err != nil {
		return 0, fmt.Errorf("import: %w", err)
	}
	bar.Finish()
	if res.Created != int64(o.Contacts) {
		return 0, fmt.Errorf("import: created %d contacts of %d (%d rejected)", res.Created, o.Contacts, res.RejectedCount)
	}
	return float64(o.Contacts) / time.Since(start).Seconds(), nil
}

// peakSampler samples a value every interval and keeps the largest.
type peakSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func samplePeak(interval time.Duration, sample func() (int64, error)) *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	take := func() {
		if v, err := sample(); err == nil {
			p.mu.Lock()
			p.peak = max(p.peak, v)
			p.mu.Unlock()
		}
	}
	take()
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				take()
				return
			case <-t.C:
				take()
			}
		}
	}()
	return p
}

// Stop ends sampling and returns the peak.
func (p *peakSampler) Stop() int64 {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// redisUsedMemory is Redis's used_memory, in bytes.
func redisUsedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO memory")
}

// processRSS is this process's resident set size, in bytes (Linux).
func processRSS() (int64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0, errors.New("unexpected /proc/self/statm")
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize()), err
}

// machineCPU returns the CPU time every process on the machine has used since boot (user,
// nice, system, interrupts: /proc/stat without idle, iowait and steal), or 0 where there is
// no /proc/stat. The worker, PostgreSQL and Redis share the machine, so the difference
// over a phase divided by the work done is what the work costs, whatever else waited.
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ is 100 on Linux
}

// cpuSplit is the CPU time used since boot by this process, by PostgreSQL's processes and
// by Redis's, from /proc (zero where there is none). A backend that exits within a phase
// takes its time with it, so over a phase the parts may add up to a little less than
// machineCPU's difference; the pools keep their connections, so little is lost.
type cpuSplit struct{ self, postgres, redis time.Duration }

func processCPU() cpuSplit {
	var s cpuSplit
	s.self = procCPU("/proc/self/stat")
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		path := "/proc/" + d.Name() + "/stat"
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		comm := string(data[bytes.IndexByte(data, '(')+1 : max(bytes.LastIndexByte(data, ')'), 0)])
		switch {
		case strings.HasPrefix(comm, "postgres"):
			s.postgres += statCPU(data)
		case strings.HasPrefix(comm, "redis-server"):
			s.redis += statCPU(data)
		}
	}
	return s
}

func (a cpuSplit) sub(b cpuSplit) cpuSplit {
	return cpuSplit{a.self - b.self, a.postgres - b.postgres, a.redis - b.redis}
}

func procCPU(path string) time.Duration {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return statCPU(data)
}

// statCPU reads utime + stime from a /proc/PID/stat line.
func statCPU(data []byte) time.Duration {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:])) // state ppid … utime (12th) stime (13th)
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+st) * (time.Second / 100)
}

// splitUnit formats a per-process split of the CPU time spent on n units of work, in µs
// each, or "" where /proc told nothing.
func splitUnit(s cpuSplit, n int64) string {
	if n <= 0 || s.self+s.postgres+s.redis <= 0 {
		return ""
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return fmt.Sprintf(" (crier %.0f, PostgreSQL %.0f, Redis %.0f)", us(s.self), us(s.postgres), us(s.redis))
}

// perUnit formats the CPU time d spent on n units of work, in µs each.
func perUnit(d time.Duration, n int64) string {
	if d <= 0 || n <= 0 {
		return ""
	}
	return fmt.Sprintf("; %.0f µs of CPU each, all processes", float64(d.Microseconds())/float64(n))
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func perSecond(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f/s", v)
	default:
		return fmt.Sprintf("%.1f/s", v)
	}
}

// runBench runs the phases in order on env, between two readings of the machine's pace,
// and names the machine in its first row.
func runBench(ctx context.Context, env *benchEnv, o benchOptions) (*benchResult, error) {
	cpu, servers := benchMachine(ctx, env.app.pool, env.app.redis)
	before, rtBefore, err := benchPaces(ctx, env)
	if err != nil {
		return nil, err
	}
	res, err := runPhases(ctx, env, o)
	if err != nil {
		return nil, err
	}
	after, rtAfter, err := benchPaces(ctx, env)
	if err != nil {
		return nil, err
	}
	res.rows = slices.Insert(res.rows, 0, [3]string{"Machine", cpu, servers})
	res.add("Machine pace", fmt.Sprintf("%d ms / %d ms", before.Milliseconds(), after.Milliseconds()),
		"PostgreSQL summing 5 M integers on one core, median of 3, before / after the run: a reference for reading runs side by side, not a correction")
	res.add("Round-trip pace", fmt.Sprintf("%.1f µs / %.1f µs", float64(rtBefore.Nanoseconds())/1e3, float64(rtAfter.Nanoseconds())/1e3),
		fmt.Sprintf("a Redis PING answered, %d in a row, median of 3, before / after the run: the price of the round trips a message makes", roundTrips))
	return res, nil
}

// benchPaces reads the machine's pace (benchPace) and the price of a round trip
// (benchRoundTrip).
func benchPaces(ctx context.Context, env *benchEnv) (pace, roundTrip time.Duration, err error) {
	if pace, err = benchPace(ctx, env.app.pool); err != nil {
		return 0, 0, err
	}
	roundTrip, err = benchRoundTrip(ctx, env.app.redis)
	return pace, roundTrip, err
}

// runPhases runs the bench's phases in turn, each adding its figures.
func runPhases(ctx context.Context, env *benchEnv, o benchOptions) (*benchResult, error) {
	a := env.app
	res := &benchResult{}
	svc, err := newServices(ctx, a)
	if err != nil {
		return nil, err
	}
	defer svc.Close()

	importCPU, importSplit := machineCPU(), processCPU()
	rate, err := benchImport(ctx, svc, o)
	if err != nil {
		return nil, err
	}
	// The CPU a row costs is steadier than the rate on a shared machine: crier's share
	// includes writing the CSV that it imports.
	importCPU, importSplit = machineCPU()-importCPU, processCPU().sub(importSplit)
	res.add("CSV import", perSecond(rate)+" rows", fmt.Sprintf("%d rows streamed through the import, consent recorded in the ledger%s%s",
		o.Contacts, perUnit(importCPU, int64(o.Contacts)), splitUnit(importSplit, int64(o.Contacts))))

	// The pipeline of `crier worker`, in this process, on sandbox accounts with no rate limit.
	pipe, err := newPipeline(a, svc, true)
	if err != nil {
		return nil, err
	}
	defer pipe.Close()
	accountIDs := make([]int64, o.Accounts)
	unlimited, noCap, off := 10_000_000, 0, false
	for i := range accountIDs {
		acct, err := svc.accounts.Create(ctx, sender.AccountInput{Name: fmt.Sprintf("bench %d", i+1), Channel: sender.Sandbox,
			RatePerMinute: &unlimited, DailyCap: &noCap, Warmup: &off, Pacing: &off,
			Sandbox: &sender.SandboxConfig{ReadAfterMS: -1}})
		if err != nil {
			return nil, err
		}
		accountIDs[i] = acct.ID
	}
	tpl, err := svc.templates.Create(ctx, templates.Template{Name: "bench", Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{
			{Body: "{Hi|Hello} {{ first_name }}, the bench sale is on!", Weight: 1},
			{Body: "Hey {{ first_name }}: 20% off today.", Weight: 1}}}}})
	if err != nil {
		return nil, err
	}
	name, tplID := "bench", tpl.ID
	always := schedule.QuietHours{Start: "00:00", End: "00:00"} // no quiet hours: measure the pipeline
	c, err := pipe.campaigns.Create(ctx, campaigns.Input{Name: &name, TemplateID: &tplID, AccountIDs: accountIDs,
		Audience: &campaigns.Audience{TagsAny: []string{"bench"}}, QuietHours: &always}, "cli:bench")
	if err != nil {
		return nil, err
	}
	if err := pipe.campaigns.Schedule(ctx, c.ID); err != nil {
		return nil, err
	}
	due, err := pipe.campaigns.DueRuns(ctx, time.Now().Add(time.Second))
	if err != nil || len(due) != 1 {
		return nil, fmt.Errorf("bench campaign is not due (%d runs): %v", len(due), err)
	}
	env.logger("bench: expanding the audience into deliveries…")
	start := time.Now()
	run, err := pipe.campaigns.Launch(ctx, c.ID, due[0].RunAt)
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	var parts int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM campaign_run_parts WHERE run_id = $1`, run.ID).Scan(&parts); err != nil {
		return nil, err
	}
	res.add("Audience expansion", took.Round(time.Millisecond).String(),
		fmt.Sprintf("%d deliveries in %d parts side by side, one INSERT … SELECT each (consent, suppression, frequency cap, due times)",
			run.Eligible, parts))
	if o.NoSend {
		return res, nil
	}

	deadBefore, err := readTableHealth(ctx, a.pool, "deliveries")
	if err != nil {
		return nil, err
	}

	// Send: the worker dispatches and sends until every delivery is final.
	rssBefore, _ := processRSS()
	redisPeak := samplePeak(100*time.Millisecond, func() (int64, error) { return redisUsedMemory(ctx, a.redis) })
	rssPeak := samplePeak(100*time.Millisecond, processRSS)
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	var walBefore string
	if err := a.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&walBefore); err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	var workerErr error
	start, cpuBefore, splitBefore := time.Now(), machineCPU(), processCPU()
	go func() {
		defer close(workerDone)
		workerErr = pipe.handlers.RunWorker(wctx, 10*time.Second)
	}()
	defer func() { stop(); <-workerDone }() // every return waits for the worker to stop
	bar := newBar(o, run.Eligible, "send    ")
	// Progress comes from the worker's own counters, which cost nothing to read; the
	// database, where a count scans every delivery of the run, is asked only to confirm
	// the end, or when the counters stand still.
	settled, err := settledCounter(pipe.metrics, c.ID)
	if err != nil {
		return nil, err
	}
	var sent, pending int64
	var lastCheck time.Time
	lastMove, last := time.Now(), int64(-1)
	stops := benchStops{n: o.Stops}
	for {
		n := settled()
		bar.Set64(min(n, run.Eligible))
		if n != last {
			last, lastMove = n, time.Now()
		}
		if n >= run.Eligible/20 {
			stops.start(ctx, pipe.handlers, accountIDs, o.Contacts)
		}
		looked := time.Since(lastCheck)
		// A customer who replied STOP before their message was sent gets none: up to
		// stops.n deliveries are cancelled, which the worker's counters do not see.
		if (n >= run.Eligible-int64(stops.n) && looked > 250*time.Millisecond) || (time.Since(lastMove) > 2*time.Second && looked > 2*time.Second) {
			lastCheck = time.Now()
			err := a.pool.QueryRow(ctx, `
				SELECT count(*) FILTER (WHERE status IN ('sent', 'delivered', 'read')),
				       count(*) FILTER (WHERE status IN ('queued', 'sending'))
				FROM deliveries WHERE run_id = $1`, run.ID).Scan(&sent, &pending)
			if err != nil {
				return nil, err
			}
			if pending == 0 {
				break
			}
		}
		select {
		case <-workerDone:
			return nil, fmt.Errorf("worker stopped: %w", workerErr)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	elapsed, cpu, split := time.Since(start), machineCPU()-cpuBefore, processCPU().sub(splitBefore)
	if o.CPUProfile != "" {
		pprof.StopCPUProfile() // the send phase only (the deferred call is then a no-op)
	}
	bar.Finish()
	redisMax, rssMax := redisPeak.Stop(), rssPeak.Stop()
	if err := stops.wait(ctx, a); err != nil {
		return nil, err
	}
	stop()
	<-workerDone
	if workerErr != nil {
		return nil, workerErr
	}
	var optedOut, replies int64
	err = a.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM deliveries WHERE run_id = $1 AND status IN ('cancelled', 'skipped')),
		       (SELECT count(*) FROM inbound_messages WHERE reply_status = 'sent')`, run.ID).Scan(&optedOut, &replies)
	if err != nil {
		return nil, err
	}
	if sent+optedOut != run.Eligible {
		return nil, fmt.Errorf("sent %d of %d eligible deliveries (%d cancelled or skipped after a STOP)", sent, run.Eligible, optedOut)
	}
	var dispatchRate, p50, p99 float64
	err = a.pool.QueryRow(ctx, `
		SELECT count(*) / greatest(extract(epoch FROM max(enqueued_at) - min(enqueued_at)), 0.001),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - enqueued_at)),
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - enqueued_at))
		FROM deliveries WHERE run_id = $1 AND sent_at IS NOT NULL`, run.ID).Scan(&dispatchRate, &p50, &p99)
	if err != nil {
		return nil, err
	}
	var messages int64
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM sandbox_messages`).Scan(&messages); err != nil {
		return nil, err
	}
	if messages != sent+replies {
		return nil, fmt.Errorf("the sandbox holds %d messages for %d sent deliveries and %d confirmations", messages, sent, replies)
	}
	sendRate := float64(sent) / elapsed.Seconds()
	res.add("Dispatch", perSecond(dispatchRate)+" deliveries", "handed to Asynq, first to last enqueue")
	res.add("End-to-end send", perSecond(sendRate)+" messages", fmt.Sprintf("%d messages in %s: dispatch, consent re-check, account, render, sandbox send, record%s%s", sent, elapsed.Round(time.Millisecond), perUnit(cpu, sent), splitUnit(split, sent)))
	var wal int64
	if err := a.pool.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint`, walBefore).Scan(&wal); err != nil {
		return nil, err
	}
	res.add("WAL per message", fmt.Sprintf("%d B", wal/max(sent, 1)), "PostgreSQL's write-ahead log written while sending (every process), over the messages sent")
	res.add("Send latency p50 / p99", fmt.Sprintf("%.0f ms / %.0f ms", p50*1000, p99*1000), "enqueued → sent recorded")
	if stops.n > 0 {
		p50, p99, worst, err := stops.latency(ctx, a)
		if err != nil {
			return nil, err
		}
		res.add("Opt-out latency p50 / p99 (max)", fmt.Sprintf("%.0f ms / %.0f ms (%.0f ms)", p50*1000, p99*1000, worst*1000),
			fmt.Sprintf("%d STOPs at %d/s while sending: inbound stored → consent withdrawn and number suppressed; goal p99 ≤ 1 s; %d messages not sent after a STOP, %d confirmations sent",
				stops.n, benchStopsPerSecond, optedOut, replies))
	}
	time.Sleep(time.Second) // each backend reports its table counts at most once a second
	deadAfter, err := readTableHealth(ctx, a.pool, "deliveries")
	if err != nil {
		return nil, err
	}
	var autovacuum string
	if err := a.pool.QueryRow(ctx, `SHOW autovacuum`).Scan(&autovacuum); err != nil {
		return nil, err
	}
	vacuumNote := ""
	if autovacuum != "on" {
		vacuumNote = "; AUTOVACUUM IS OFF on this server: nothing reclaims them"
	}
	res.add("deliveries dead tuples before / after", fmt.Sprintf("%d / %d", deadBefore.dead, deadAfter.dead),
		fmt.Sprintf("pg_stat_user_tables, after the launch and after the last send; %d autovacuums of deliveries while sending (tuned by migration 00020)%s",
			deadAfter.vacuums-deadBefore.vacuums, vacuumNote))
	perContact, perDelivery, err := diskPerRow(ctx, a.pool, int64(o.Contacts), int64(run.Eligible))
	if err != nil {
		return nil, err
	}
	res.add("Disk per contact / per delivery", fmt.Sprintf("%d B / %d B", perContact, perDelivery),
		"pg_total_relation_size (heap, indexes, TOAST) of contacts and deliveries, over their rows")
	if err := benchReads(ctx, a, pipe, res, c); err != nil {
		return nil, err
	}
	res.add("Peak process RSS", mib(max(rssMax, rssBefore)), "this process runs the worker (and the import before it)")
	res.add("Peak Redis used_memory", mib(redisMax), "sampled every 100 ms while sending")

	rawN := min(int(sent), 200_000)
	raw, rawCPU, err := benchRawAsynq(ctx, a.redis, rawN, o.Concurrency, o)
	if err != nil {
		return nil, err
	}
	res.add("Raw Asynq no-op", perSecond(raw)+" tasks", fmt.Sprintf("%d no-op tasks, same Redis, concurrency %d, enqueued while processed%s", rawN, o.Concurrency, perUnit(rawCPU, int64(rawN))))
	res.add("Send ÷ raw Asynq", fmt.Sprintf("%.0f %%", 100*sendRate/raw), "goal ≥ 65 %")
	return res, nil
}

// tableHealth is what PostgreSQL's statistics say of a table's upkeep.
type tableHealth struct {
	dead, vacuums int64 // dead tuples now; autovacuums so far
}

func readTableHealth(ctx context.Context, pool *pgxpool.Pool, table string) (tableHealth, error) {
	var h tableHealth
	err := pool.QueryRow(ctx, `SELECT n_dead_tup, autovacuum_count FROM pg_stat_user_tables WHERE relname = $1`, table).
		Scan(&h.dead, &h.vacuums)
	if err != nil {
		return h, fmt.Errorf("bench: %s statistics: %w", table, err)
	}
	return h, nil
}

// benchReads times, right after the campaign, the reads a marketer makes next: the
// campaign's stats (as the console's live page polls them), before and after the
// reconciler folds the counters, and the preview of a new campaign to the same audience,
// every one of whom was just sent a message (the frequency cap's count included).
func benchReads(ctx context.Context, a *app, pipe *pipeline, res *benchResult, c campaigns.Campaign) error {
	median := func(n int, f func() error) (time.Duration, error) {
		times := make([]time.Duration, n)
		for i := range times {
			start := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			times[i] = time.Since(start)
		}
		slices.Sort(times)
		return times[n/2], nil
	}
	stats := func() error { _, err := pipe.campaigns.Stats(ctx, c.ID); return err }
	var unfolded int64
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM delivery_counts WHERE campaign_id = $1`, c.ID).Scan(&unfolded); err != nil {
		return err
	}
	before, err := median(5, stats)
	if err != nil {
		return err
	}
	if _, err := delivery.New(a.pool, delivery.Options{}).FoldCounts(ctx); err != nil {
		return err
	}
	after, err := median(5, stats)
	if err != nil {
		return err
	}
	res.add("Campaign stats", fmt.Sprintf("%s / %s", ms(before), ms(after)),
		fmt.Sprintf("GET …/stats' read, median of 5: right after the send (%d counter rows), and once folded as the reconciler does; goal ≤ 50 ms", unfolded))
	name := "bench again"
	next, err := pipe.campaigns.Create(ctx, campaigns.Input{Name: &name, TemplateID: &c.TemplateID, AccountIDs: c.AccountIDs,
		Audience: &c.Audience}, "cli:bench")
	if err != nil {
		return err
	}
	var p campaigns.Preview
	took, err := median(3, func() (err error) { p, err = pipe.campaigns.Preview(ctx, next.ID, false); return err })
	if err != nil {
		return err
	}
	res.add("Preview after the campaign", ms(took), fmt.Sprintf("median of 3: a new campaign to the same %d contacts, right after the send (%d eligible); goal ≤ 2 s at 1 M", p.Matched, p.Eligible))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// diskPerRow is the disk the contacts and the deliveries take, per row.
func diskPerRow(ctx context.Context, pool *pgxpool.Pool, contacts, deliveries int64) (perContact, perDelivery int64, err error) {
	err = pool.QueryRow(ctx, `SELECT pg_total_relation_size('contacts'), pg_total_relation_size('deliveries')`).
		Scan(&perContact, &perDelivery)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: table sizes: %w", err)
	}
	return perContact / max(contacts, 1), perDelivery / max(deliveries, 1), nil
}

// benchStopsPerSecond is the pace at which the bench's customers reply STOP.
const benchStopsPerSecond = 500

// benchStops are the bench's customers who reply STOP while the campaign sends: every
// (contacts/n)th contact, through the accounts in turn, as a transport's inbound event.
type benchStops struct {
	n       int
	started bool
	done    chan error
}

// start sends the STOPs from a goroutine, once.
func (b *benchStops) start(ctx context.Context, h *workers.Handlers, accounts []int64, contacts int) {
	if b.n == 0 || b.started {
		return
	}
	b.started, b.done = true, make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Second / benchStopsPerSecond)
		defer tick.Stop()
		step := contacts / b.n
		for i := range b.n {
			phone := benchPhone(i*step + step/2)
			_, err := h.Events().Inbound(ctx, consent.Inbound{AccountID: accounts[i%len(accounts)], From: phone, Text: "STOP",
				ProviderID: "bench-stop-" + strconv.Itoa(i), ReceivedAt: time.Now()})
			if err != nil {
				b.done <- fmt.Errorf("bench STOP %d: %w", i, err)
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				b.done <- ctx.Err()
				return
			}
		}
		b.done <- nil
	}()
}

// wait waits for every STOP to be sent and processed.
func (b *benchStops) wait(ctx context.Context, a *app) error {
	if b.n == 0 {
		return nil
	}
	if !b.started {
		return errors.New("bench: the campaign finished before the STOPs began")
	}
	if err := <-b.done; err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var processed int
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM inbound_messages WHERE processed_at IS NOT NULL`).Scan(&processed); err != nil {
			return err
		}
		if processed == b.n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d of %d STOPs processed after a minute", processed, b.n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// latency is how long the STOPs took from being stored (accepted from the network) to the
// commit of their withdrawal and suppression (processed_at is the clock's time at the end
// of that transaction), in seconds.
func (b *benchStops) latency(ctx context.Context, a *app) (p50, p99, worst float64, err error) {
	err = a.pool.QueryRow(ctx, `
		SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - recorded_at)),
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - recorded_at)),
		       max(extract(epoch FROM processed_at - recorded_at))
		FROM inbound_messages WHERE class = 'opt_out'`).Scan(&p50, &p99, &worst)
	if err == nil {
		var withdrawn int
		err = a.pool.QueryRow(ctx, `SELECT count(*) FROM inbound_messages WHERE class = 'opt_out'`).Scan(&withdrawn)
		if err == nil && withdrawn != b.n {
			err = fmt.Errorf("bench: %d of %d STOPs were taken as opt-outs", withdrawn, b.n)
		}
	}
	return p50, p99, worst, err
}
