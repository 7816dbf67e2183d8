package consent_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/templates"
)

// The words Crier tells people to send, taken from its own footers and replies, must be
// understood when people send them back: a language cannot ship a footer or a reply that asks
// for a word the classifier ignores.

func TestFooterWordsClassify(t *testing.T) {
	t.Parallel()
	c := classifierForWords(t)

	for _, k := range templates.DefaultOptOutKeywords() {
		require.Equal(t, consent.ClassOptOut, c.Classify(k), "footer keyword %q", k)
	}
	footers := templates.DefaultFooters()
	for tag, w := range templates.DefaultFooterWords() {
		require.NotEmpty(t, w.Keywords, tag)
		for _, k := range w.Keywords {
			require.Equal(t, consent.ClassOptOut, c.Classify(k), "%s footer %q: keyword %q", tag, footers[tag], k)
		}
		require.Equal(t, consent.ClassOptOut, c.Classify(w.Action), "%s footer %q: its call to action %q", tag, footers[tag], w.Action)
	}
}

func TestReplyWordsClassify(t *testing.T) {
	t.Parallel()
	c := classifierForWords(t)

	replies := consent.DefaultReplies()
	words := consent.DefaultReplyWords()
	require.Equal(t, slices.Sorted(maps.Keys(replies)), slices.Sorted(maps.Keys(words)), "every reply language has its words")
	require.Equal(t, slices.Sorted(maps.Keys(templates.DefaultFooters())), slices.Sorted(maps.Keys(replies)),
		"Crier replies in every language it has a footer for, and no other")

	for loc, r := range replies {
		w := words[loc]
		for _, text := range []string{r.OptOut, r.OptIn, r.Help} {
			require.Contains(t, text, "{brand}", loc)
		}
		// The texts name the words: STOP in the opt-in confirmation, START in the opt-out
		// one, both in the help text.
		require.True(t, namesWord(r.OptOut, w.OptIn), "%s: %q names %q", loc, r.OptOut, w.OptIn)
		require.True(t, namesWord(r.OptIn, w.OptOut), "%s: %q names %q", loc, r.OptIn, w.OptOut)
		require.True(t, namesWord(r.Help, w.OptOut) && namesWord(r.Help, w.OptIn), "%s: %q names %q and %q", loc, r.Help, w.OptOut, w.OptIn)
		require.Contains(t, r.OptIn, w.Unsubscribe, "%s: the phrase is as written", loc)

		require.Equal(t, consent.ClassOptOut, c.Classify(w.OptOut), "%s: %q", loc, w.OptOut)
		require.Equal(t, consent.ClassOptIn, c.Classify(w.OptIn), "%s: %q", loc, w.OptIn)
		require.Equal(t, consent.ClassOptOut, c.Classify(w.Unsubscribe), "%s: %q", loc, w.Unsubscribe)
		require.NotEmpty(t, w.LocalOptIn, "%s: the local word for %s", loc, w.OptIn)
		for _, s := range w.LocalOptIn {
			require.Equal(t, consent.ClassOptIn, c.Classify(s), "%s: %q, the local %s", loc, s, w.OptIn)
		}
	}
}

func TestDefaultRepliesAreCopies(t *testing.T) {
	t.Parallel()
	consent.DefaultReplies()["en"] = consent.Replies{}
	require.NotEmpty(t, consent.DefaultReplies()["en"].OptOut)
	consent.DefaultReplyWords()["zh"].LocalOptIn[0] = "changed"
	require.Equal(t, "开始", consent.DefaultReplyWords()["zh"].LocalOptIn[0])
}

func classifierForWords(t *testing.T) *consent.Classifier {
	t.Helper()
	c, err := consent.NewClassifier(consent.DefaultKeywords())
	require.NoError(t, err)
	return c
}

// namesWord reports whether text has word as words of its own, once both are normalised.
func namesWord(text, word string) bool {
	return strings.Contains(" "+consent.Normalize(text)+" ", " "+consent.Normalize(word)+" ")
}
