package templates

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// chiSquare returns Pearson's statistic of counts against the shares expected by weights.
func chiSquare(counts []int, weights []float64) float64 {
	var n, total float64
	for i := range counts {
		n += float64(counts[i])
		total += weights[i]
	}
	var chi2 float64
	for i, c := range counts {
		want := n * weights[i] / total
		chi2 += (float64(c) - want) * (float64(c) - want) / want
	}
	return chi2
}

func TestPickMatchesWeights(t *testing.T) {
	t.Parallel()
	// Critical values of chi-square at p = 0.001; the seeds are fixed, so the test is not flaky,
	// yet it fails for a pick whose distribution is off by more than chance.
	tests := []struct {
		weights  []int
		critical float64
	}{
		{[]int{1, 2, 3, 4}, 16.27},
		{[]int{1, 1}, 10.83},
		{[]int{1, 99}, 10.83},
		{[]int{5, 0, 5}, 10.83}, // the zero weight is never picked; 1 degree of freedom left
		{[]int{7, 13, 1, 1, 30}, 18.47},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.weights), func(t *testing.T) {
			t.Parallel()
			counts := make([]int, len(tt.weights))
			for seed := range uint64(100_000) {
				counts[Pick(seed, tt.weights)]++
			}
			var observed []int
			var expected []float64
			for i, w := range tt.weights {
				if w == 0 {
					require.Zero(t, counts[i], "a zero weight is never picked")
					continue
				}
				observed = append(observed, counts[i])
				expected = append(expected, float64(w))
			}
			require.Less(t, chiSquare(observed, expected), tt.critical, "counts %v", counts)
		})
	}
}

func TestPickIsStable(t *testing.T) {
	t.Parallel()
	// A retried delivery must pick the same variant after an upgrade.
	weights := []int{1, 2, 3}
	got := []int{Pick(0, weights), Pick(1, weights), Pick(2, weights), Pick(3, weights), Pick(12345, weights)}
	require.Equal(t, []int{2, 0, 2, 2, 1}, got)
	for seed := range uint64(100) {
		require.Equal(t, Pick(seed, weights), Pick(seed, weights))
	}
}

func TestPickEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
		allowed []int
	}{
		{"no variants", nil, []int{-1}},
		{"one variant", []int{3}, []int{0}},
		{"all zero: any", []int{0, 0, 0}, []int{0, 1, 2}},
		{"negative is never picked", []int{-5, 1}, []int{1}},
		{"huge weights do not overflow", []int{math.MaxInt, math.MaxInt}, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(200) {
				require.Contains(t, tt.allowed, Pick(seed, tt.weights))
				require.Contains(t, tt.allowed, Rotate(seed, tt.weights, 0))
			}
		})
	}
}

// rotate simulates one account sending n messages in a row.
func rotate(t *testing.T, weights []int, n int) []int {
	t.Helper()
	counts := make([]int, len(weights))
	prev := -1
	for seed := range uint64(n) {
		v := Rotate(seed, weights, prev)
		if v == prev {
			t.Fatalf("seed %d repeated variant %d", seed, v)
		}
		counts[v]++
		prev = v
	}
	return counts
}

func TestRotateNeverRepeatsAndKeepsWeights(t *testing.T) {
	t.Parallel()
	tests := [][]int{
		{1, 2, 3, 4},
		{1, 1, 1},
		{2, 3, 4, 5, 6},
		{45, 45, 10},
		{5, 5}, // exactly half each: strict alternation
	}
	for _, weights := range tests {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			t.Parallel()
			const n = 100_000
			counts := rotate(t, weights, n)
			total := 0
			for _, w := range weights {
				total += w
			}
			for i, w := range weights {
				// Naively re-drawing among the others would give {1,2,3,4} shares of about
				// .13/.23/.30/.34; the chain must stay within a point of the weights.
				require.InDelta(t, float64(w)/float64(total), float64(counts[i])/n, 0.01, "variant %d of %v: counts %v", i, weights, counts)
			}
		})
	}
}

func TestRotateWithADominantVariant(t *testing.T) {
	t.Parallel()
	// No rotation without repeats can send a variant more than every other time: a variant
	// weighing more than half gets exactly half, and the others share the rest by weight.
	const n = 100_000
	counts := rotate(t, []int{6, 3, 1}, n)
	require.InDelta(t, 0.5, float64(counts[0])/n, 0.001)
	require.InDelta(t, 0.375, float64(counts[1])/n, 0.01)
	require.InDelta(t, 0.125, float64(counts[2])/n, 0.01)

	counts = rotate(t, []int{9, 1}, n)
	require.Equal(t, []int{n / 2, n / 2}, counts)
}

func TestRotateWithoutAlternative(t *testing.T) {
	t.Parallel()
	for seed := range uint64(50) {
		require.Equal(t, 0, Rotate(seed, []int{4}, 0), "a single variant repeats")
		require.Equal(t, 1, Rotate(seed, []int{0, 4}, 1), "the only weighted variant repeats")
		require.Equal(t, Pick(seed, []int{1, 2}), Rotate(seed, []int{1, 2}, -1), "no previous variant: Pick")
		require.Equal(t, Pick(seed, []int{1, 2}), Rotate(seed, []int{1, 2}, 7), "unknown previous variant: Pick")
	}
}

func TestChoose(t *testing.T) {
	t.Parallel()
	tpl := Template{Locales: []Locale{
		{Locale: "en", Variants: []Variant{{Body: "a", Weight: 1}, {Body: "b", Weight: 1}}},
		{Locale: "PT-br", Variants: []Variant{{Body: "c", Weight: 1}}},
	}}
	c := tpl.Choose("pt-BR", 42, -1)
	require.Equal(t, Choice{Locale: "pt-BR", Variant: 0, Seed: 42}, c)

	for seed := range uint64(20) {
		c = tpl.Choose("de", seed, 0)
		require.Equal(t, Choice{Locale: "en", Variant: 1, Seed: seed}, c, "falls back to the default locale and rotates")
	}
	require.Equal(t, -1, Template{}.Choose("en", 1, -1).Variant)
}
