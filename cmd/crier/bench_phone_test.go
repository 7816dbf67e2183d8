package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
)

// TestBenchPhonesAreValid: every contact crier bench can generate (--contacts up to ten
// million) has a valid number of its own, so that a run imports every one. A run of ten
// million once stopped after its import on 100 000 numbers the phone library refuses.
func TestBenchPhonesAreValid(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	check := func(i int) {
		p := benchPhone(i)
		e164, region, err := contacts.NormalizePhone(p, "")
		require.NoError(t, err, "contact %d: %s", i, p)
		require.Equal(t, p, e164)
		require.Equal(t, "SG", region)
		require.False(t, seen[p], "contact %d: %s again", i, p)
		seen[p] = true
	}
	for i := 0; i < 10_000_000; i += 997 {
		check(i)
	}
	for _, i := range []int{8_999_999, 9_000_000, 9_999_999, 17_709_999} {
		check(i)
	}
}
