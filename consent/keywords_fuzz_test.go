package consent

import (
	"strings"
	"testing"
	"unicode"
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

		// Exact and spelled keywords are decided on the normalised text
		// alone: the message and its normal form match the same keyword,
		// or neither does.
		gotN := c.Explain(n)
		for _, m := range []MatchKind{MatchExact, MatchSpelled} {
			require.Equal(t, got.Match == m, gotN.Match == m, "%q vs %q", text, n)
		}
		if got.Match == MatchExact || got.Match == MatchSpelled {
			require.Equal(t, got.Class, gotN.Class)
		}

		// A spelled keyword is single letters that, joined, are an opt-out
		// keyword.
		if got.Match == MatchSpelled {
			letters := strings.Fields(n)
			require.GreaterOrEqual(t, len(letters), 2)
			for _, l := range letters {
				for i, r := range []rune(l) {
					require.True(t, i == 0 && unicode.IsLetter(r) || i > 0 && unicode.IsMark(r), "%q is no single letter", l)
				}
			}
			require.Equal(t, Classification{Class: ClassOptOut, Match: MatchExact, Normalized: strings.Join(letters, "")},
				c.Explain(strings.Join(letters, "")))
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
