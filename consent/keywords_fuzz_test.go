package consent

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzClassify checks the classifier on arbitrary inbound text; its seeds are
// in testdata/fuzz/FuzzClassify. Run it with
//
//	go test -run=NONE -fuzz=FuzzClassify -fuzztime=60s ./consent/
func FuzzClassify(f *testing.F) {
	c, err := NewClassifier(DefaultKeywords())
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, text string) {
		got := c.Explain(text)

		// Deterministic, and Classify agrees with Explain.
		require.Equal(t, got, c.Explain(text))
		require.Equal(t, got.Class, c.Classify(text))

		// Normalize is idempotent, is what the rules saw, and is tidy.
		n := Normalize(text)
		require.Equal(t, n, got.Normalized)
		require.Equal(t, n, Normalize(n), "Normalize(%q) is not idempotent", text)
		require.True(t, utf8.ValidString(n))
		require.Equal(t, strings.Join(strings.Fields(n), " "), n, "untidy spaces")
		if isASCIIText(text) {
			require.Equal(t, normalizeFullPipeline(text), n, "ASCII shortcut disagrees")
		}

		// Exact keywords are decided on the normalised text alone: the
		// message and its normal form match the same keyword, or neither
		// does.
		gotN := c.Explain(n)
		require.Equal(t, got.Match == MatchExact, gotN.Match == MatchExact, "%q vs %q", text, n)
		if got.Match == MatchExact {
			require.Equal(t, got.Class, gotN.Class)
		}

		// Opt-in and help are exact only; every class has its rule.
		switch got.Class {
		case ClassOptIn, ClassHelp:
			require.Equal(t, MatchExact, got.Match)
		case ClassOptOut:
			require.NotEqual(t, MatchNone, got.Match)
		case ClassNone:
			require.Equal(t, MatchNone, got.Match)
		default:
			t.Fatalf("unknown class %q", got.Class)
		}
	})
}
