package sqltest

import (
	"regexp"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Statement is a named SQL statement with how many parameters it takes.
type Statement struct {
	Name, SQL string
	Params    int
}

var paramRE = regexp.MustCompile(`\$([0-9]+)`)

// CheckParams checks that each statement numbers its parameters $1 to $Params, none left
// out and none beyond, as its comment lists them.
func CheckParams(t testing.TB, stmts ...Statement) {
	t.Helper()
	for _, s := range stmts {
		seen := map[int]bool{}
		for _, m := range paramRE.FindAllStringSubmatch(s.SQL, -1) {
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			seen[n] = true
		}
		var got []int
		for n := range seen {
			got = append(got, n)
		}
		sort.Ints(got)
		want := make([]int, s.Params)
		for i := range want {
			want[i] = i + 1
		}
		require.Equal(t, want, got, s.Name)
	}
}
