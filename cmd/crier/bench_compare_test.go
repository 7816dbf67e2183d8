package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A saved run as crier bench prints it (with a title and a stray line around it).
const savedRun = `# before the change

| metric | value | notes |
|---|---|---|
| CSV import | 40000/s rows | 50000 rows streamed |
| Audience expansion | 1.5s | |
| End-to-end send | 2000/s messages | 50000 messages in 25s; 600 µs of CPU each, all processes |
| Send latency p50 / p99 | 20 ms / 800 ms | enqueued → sent recorded |
| Peak Redis used_memory | 0 MiB | sampled |
| Dropped metric | 7 things | only then |
| CSV import | 1/s rows | a duplicate row keeps the first |

50000 contacts, 4 sandbox accounts, concurrency 1000, GOMAXPROCS 2, 2026-12-05
`

func TestBenchCompare(t *testing.T) {
	saved := parseSavedBench(savedRun)
	require.Equal(t, []string{"CSV import", "Audience expansion", "End-to-end send", "Send latency p50 / p99",
		"Peak Redis used_memory", "Dropped metric"}, saved.order, "rows of the table only, the first of a duplicate")
	require.Equal(t, "40000/s rows", saved.rows["CSV import"][0])

	res := &benchResult{}
	res.add("CSV import", "50000/s rows", "50000 rows streamed")
	res.add("Audience expansion", "750ms", "")
	res.add("End-to-end send", "3000/s messages", "50000 messages in 16s; 450 µs of CPU each, all processes")
	res.add("Send latency p50 / p99", "10 ms / 1000 ms", "")
	res.add("Peak Redis used_memory", "0 MiB", "")
	res.add("Send ÷ raw Asynq", "65 %", "goal")
	var out strings.Builder
	res.writeCompare(&out, saved, "before.md")
	require.Equal(t, `| metric | this run | before.md | change |
|---|---|---|---|
| CSV import | 50000/s rows | 40000/s rows | +25.0 % |
| Audience expansion | 750ms | 1.5s | -50.0 % |
| End-to-end send | 3000/s messages | 2000/s messages | +50.0 % |
| End-to-end send: CPU each | 450 µs | 600 µs | -25.0 % |
| Send latency p50 / p99 | 10 ms / 1000 ms | 20 ms / 800 ms | -50.0 % / +25.0 % |
| Peak Redis used_memory | 0 MiB | 0 MiB | ±0 % |
| Send ÷ raw Asynq | 65 % | — | new |
| Dropped metric | — | 7 things | not measured in this run |
`, out.String())

	// The machine is a name: the same, another, or the same with other servers or
	// settings, never a percentage.
	const thenServers = "PostgreSQL 15.20 (shared_buffers 128MB, wal_buffers 4MB), Redis 7.0.15, GOMAXPROCS 2"
	for _, tc := range []struct{ cpu, servers, want string }{
		{"AMD EPYC (family 26, model 2), 2 CPUs", thenServers, "the same"},
		{"AMD EPYC (family 25, model 1), 2 CPUs", thenServers, "**another machine**: compare the pace"},
		{"AMD EPYC (family 26, model 2), 2 CPUs", strings.Replace(thenServers, "4MB", "32MB", 1),
			"the same processor; **the servers or their settings differ**"},
	} {
		res := &benchResult{}
		res.add("Machine", tc.cpu, tc.servers)
		var out strings.Builder
		res.writeCompare(&out, parseSavedBench("| Machine | AMD EPYC (family 26, model 2), 2 CPUs | "+thenServers+" |"), "before.md")
		require.Contains(t, out.String(), "| Machine | "+tc.cpu+" | AMD EPYC (family 26, model 2), 2 CPUs | "+tc.want+" |\n")
	}

	for then, now := range map[string]string{"12 ms": "12 s", "1 / 2": "3", "n/a": "n/a", "0 rows": "5 rows"} {
		require.Equal(t, "—", benchChange(then, now), "%q → %q cannot be compared", then, now)
	}
}

func TestBenchCompareFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "before.md")
	require.NoError(t, os.WriteFile(good, []byte(savedRun), 0o600))
	s, err := readSavedBench(good)
	require.NoError(t, err)
	require.Len(t, s.order, 6)

	_, err = readSavedBench(filepath.Join(dir, "missing.md"))
	require.ErrorContains(t, err, "--compare")
	empty := filepath.Join(dir, "empty.md")
	require.NoError(t, os.WriteFile(empty, []byte("no table here\n"), 0o600))
	_, err = readSavedBench(empty)
	require.ErrorContains(t, err, "no table")
	big := filepath.Join(dir, "big.md")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("x", maxSavedBench+1)), 0o600))
	_, err = readSavedBench(big)
	require.ErrorContains(t, err, "over 1 MiB")

	o, err := parseBenchFlags([]string{"--quick", "--compare", good})
	require.NoError(t, err)
	require.Equal(t, good, o.Compare)
}

// FuzzSavedBench: any file given to --compare is read without a panic, and every row it
// yields compares with itself as "no change".
func FuzzSavedBench(f *testing.F) {
	f.Add(savedRun)
	f.Add("| a | b | c |\n|---|---|---|\n| x | 1.5s | |\n")
	f.Add("|||\n| | | |\n|x|1e5|y|")
	f.Fuzz(func(t *testing.T, text string) {
		s := parseSavedBench(text)
		require.Len(t, s.rows, len(s.order))
		for _, m := range s.order {
			v := s.rows[m][0]
			got := benchChange(v, v)
			require.True(t, got == "—" || !strings.ContainsAny(strings.ReplaceAll(got, "±0 %", ""), "123456789"),
				"%q against itself: %q", v, got)
		}
	})
}
