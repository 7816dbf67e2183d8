package campaigns

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
)

// statements are the package's named statements with how many parameters each takes.
var statements = []struct {
	name, sql string
	params    int
}{
	{"launchDeliveries", launchDeliveries, 17},
	{"previewCounts", previewCounts, 14},
	{"previewSamples", previewSamples, 15},
}

// audienceOf returns the audience subquery of an audience statement (launchDeliveries,
// previewCounts, previewSamples): the text between "FROM (" and ") m".
func audienceOf(t testing.TB, stmt string) string {
	t.Helper()
	start, end := strings.Index(stmt, "FROM (\n"), strings.LastIndex(stmt, ") m\n")
	require.True(t, start >= 0 && end > start, "no audience in %s", stmt)
	return strings.TrimRight(stmt[start+len("FROM (\n"):end], " \t\n")
}

var paramRE = regexp.MustCompile(`\$([0-9]+)`)

// TestStatementParameters checks that each statement numbers its parameters $1 to $n,
// none left out, as its comment lists them.
func TestStatementParameters(t *testing.T) {
	t.Parallel()
	for _, s := range statements {
		seen := map[int]bool{}
		for _, m := range paramRE.FindAllStringSubmatch(s.sql, -1) {
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			seen[n] = true
		}
		var got []int
		for n := range seen {
			got = append(got, n)
		}
		sort.Ints(got)
		want := make([]int, s.params)
		for i := range want {
			want[i] = i + 1
		}
		require.Equal(t, want, got, s.name)
	}
}

// TestAudienceIsOneText checks that the launch and the preview read the same audience, so
// that a preview counts exactly what a launch would materialise, and that audienceArgs
// gives its parameters.
func TestAudienceIsOneText(t *testing.T) {
	t.Parallel()
	audience := audienceOf(t, launchDeliveries)
	require.Equal(t, audience, audienceOf(t, previewCounts))
	require.Equal(t, audience, audienceOf(t, previewSamples))

	s := New(nil, Options{})
	args, err := s.audienceArgs(context.Background(), Campaign{}, consent.Marketing, time.Now(), false)
	require.NoError(t, err)
	require.Len(t, args, 14)
	for i, a := range args[:3] {
		require.NotNil(t, a.([]string), "tags parameter $%d is '{}', never NULL", i+1)
	}
}

// TestStatementsSpellTheConstants checks that the skip reasons the launch writes in SQL
// are delivery's constants.
func TestStatementsSpellTheConstants(t *testing.T) {
	t.Parallel()
	for _, reason := range []delivery.SkipReason{delivery.SkipExcludedTag, delivery.SkipFrequencyCapped, delivery.SkipLocalTimePassed} {
		require.Contains(t, launchDeliveries, "'"+string(reason)+"'")
	}
}
