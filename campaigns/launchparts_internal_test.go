package campaigns

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIDRanges checks that the ranges of a launch's parts take every id exactly once, in
// as many ranges as asked (fewer only when there are fewer ids), of widths that differ by
// one at most, with the first and the last open.
func TestIDRanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lo, hi  int64
		n, want int
	}{
		{1, 10, 3, 3}, {1, 10, 1, 1}, {5, 5, 4, 1}, {1, 2, 4, 2}, {7, 1006, 4, 4}, {-3, 3, 2, 2}, {1, 10_000_000, 16, 16},
	} {
		r := idRanges(tc.lo, tc.hi, tc.n)
		require.Len(t, r, tc.want, "%+v", tc)
		require.Nil(t, r[0].From, "%+v: the first range is open below", tc)
		require.Nil(t, r[len(r)-1].To, "%+v: the last range is open above", tc)
		in := func(id int64, x idRange) bool { return (x.From == nil || id >= *x.From) && (x.To == nil || id < *x.To) }
		sizes := make([]int64, len(r))
		for _, id := range []int64{tc.lo - 5, tc.lo, tc.hi, tc.hi + 5, (tc.lo + tc.hi) / 2} {
			n := 0
			for _, x := range r {
				if in(id, x) {
					n++
				}
			}
			require.Equal(t, 1, n, "%+v: id %d is in one range", tc, id)
		}
		if tc.hi-tc.lo > 100_000 {
			continue
		}
		for id := tc.lo; id <= tc.hi; id++ {
			for i, x := range r {
				if in(id, x) {
					sizes[i]++
				}
			}
		}
		require.LessOrEqual(t, slices.Max(sizes)-slices.Min(sizes), int64(1), "%+v: %v", tc, sizes)
		for i := 1; i < len(r); i++ {
			require.Equal(t, *r[i-1].To, *r[i].From, "%+v: the ranges meet", tc)
		}
	}
}
