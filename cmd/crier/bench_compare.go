package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A saved run is what `crier bench` printed: its Markdown table of metric | value | notes
// (`crier bench > before.md`). `--compare before.md` prints each figure of the new run
// beside the saved one, with the change, so that a change's effect is one command.

// savedBench is a saved run's figures, in its order.
type savedBench struct {
	order []string
	rows  map[string][2]string // metric → value, notes
}

// maxSavedBench bounds what --compare reads: a run's table is a few kilobytes.
const maxSavedBench = 1 << 20

func readSavedBench(path string) (savedBench, error) {
	f, err := os.Open(path)
	if err != nil {
		return savedBench{}, fmt.Errorf("--compare: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSavedBench+1))
	if err != nil {
		return savedBench{}, fmt.Errorf("--compare: %w", err)
	}
	if len(b) > maxSavedBench {
		return savedBench{}, fmt.Errorf("--compare: %s is over 1 MiB: give the output of one crier bench run", path)
	}
	s := parseSavedBench(string(b))
	if len(s.order) == 0 {
		return savedBench{}, fmt.Errorf("--compare: %s holds no table of a crier bench run (| metric | value | notes |)", path)
	}
	return s, nil
}

// parseSavedBench reads the rows of a bench table: lines "| metric | value | notes |",
// past the header and its separator. Anything else in the file is ignored; a metric seen
// twice keeps its first value.
func parseSavedBench(text string) savedBench {
	s := savedBench{rows: map[string][2]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), maxSavedBench)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
			continue
		}
		cells := strings.Split(line[1:len(line)-1], "|")
		if len(cells) != 3 {
			continue
		}
		metric, value, notes := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		if metric == "" || metric == "metric" || strings.Trim(metric, "-: ") == "" {
			continue
		}
		if _, seen := s.rows[metric]; !seen {
			s.order = append(s.order, metric)
			s.rows[metric] = [2]string{value, notes}
		}
	}
	return s
}

var (
	benchNumber = regexp.MustCompile(`[0-9]+(?:\.[0-9]+)?`)
	benchCPU    = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?) µs of CPU each`)
)

// benchChange says how a value moved from then to now: each number's change in per cent
// when both values have the same shape ("47013/s rows", "12 ms / 560 ms"), the change of
// a duration ("1.2s" → "950ms"), else "—".
func benchChange(then, now string) string {
	if a, err := time.ParseDuration(then); err == nil {
		if b, err := time.ParseDuration(now); err == nil {
			return percent(a.Seconds(), b.Seconds())
		}
	}
	if benchNumber.ReplaceAllString(then, "#") != benchNumber.ReplaceAllString(now, "#") {
		return "—"
	}
	as, bs := benchNumber.FindAllString(then, -1), benchNumber.FindAllString(now, -1)
	if len(as) == 0 || len(as) != len(bs) {
		return "—"
	}
	out := make([]string, len(as))
	for i := range as {
		a, _ := strconv.ParseFloat(as[i], 64)
		b, _ := strconv.ParseFloat(bs[i], 64)
		out[i] = percent(a, b)
	}
	return strings.Join(out, " / ")
}

func percent(then, now float64) string {
	if then == 0 {
		if now == 0 {
			return "±0 %"
		}
		return "—"
	}
	return fmt.Sprintf("%+.1f %%", 100*(now-then)/then)
}

// writeCompare prints this run beside a saved one: every metric of this run with the saved
// value and the change, the CPU per unit of work where both runs measured it, then the
// metrics only the saved run has.
func (r *benchResult) writeCompare(w io.Writer, saved savedBench, savedName string) {
	fmt.Fprintf(w, "| metric | this run | %s | change |\n|---|---|---|---|\n", strings.ReplaceAll(savedName, "|", "/"))
	seen := map[string]bool{}
	for _, row := range r.rows {
		metric, value := row[0], row[1]
		seen[metric] = true
		old, ok := saved.rows[metric]
		if !ok {
			fmt.Fprintf(w, "| %s | %s | — | new |\n", metric, value)
			continue
		}
		change := benchChange(old[0], value)
		if metric == "Machine" { // a name, not a figure
			switch {
			case old[0] != value:
				change = "**another machine**: compare the pace"
			case old[1] != row[2]:
				change = "the same processor; **the servers or their settings differ**"
			default:
				change = "the same"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", metric, value, old[0], change)
		a, b := benchCPU.FindStringSubmatch(old[1]), benchCPU.FindStringSubmatch(row[2])
		if a != nil && b != nil {
			fmt.Fprintf(w, "| %s: CPU each | %s µs | %s µs | %s |\n", metric, b[1], a[1], benchChange(a[1], b[1]))
		}
	}
	for _, metric := range saved.order {
		if !seen[metric] {
			fmt.Fprintf(w, "| %s | — | %s | not measured in this run |\n", metric, saved.rows[metric][0])
		}
	}
}
