package consent

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Class is what an inbound message asks for, as far as consent is concerned
// (DESIGN §4). Its values are stored with the inbound message and used as
// evidence in the ledger, so they never change.
type Class string

// The classes of inbound text.
const (
	// ClassOptOut withdraws marketing consent: STOP, UNSUBSCRIBE, 退订, "please stop texting me".
	ClassOptOut Class = "opt_out"
	// ClassOptIn grants marketing consent again: START, YES, UNSTOP (exact match only).
	ClassOptIn Class = "opt_in"
	// ClassHelp asks for the brand's help text: HELP, INFO (exact match only).
	ClassHelp Class = "help"
	// ClassNone is every other message; it changes nothing about consent.
	ClassNone Class = "none"
)

// MatchKind says which rule produced a Classification, so that the ledger can
// show why a message was taken as an opt-out.
type MatchKind string

// The rules a Classification can come from.
const (
	// MatchNone means no rule matched; the class is ClassNone.
	MatchNone MatchKind = "none"
	// MatchExact means the whole normalised message is a configured keyword.
	MatchExact MatchKind = "exact"
	// MatchIntent means a short opt-out request in natural language
	// ("stop texting me", "请退订", "No. Stop."); see keywords_intent.go.
	MatchIntent MatchKind = "intent"
	// MatchSpelled means the message spells an opt-out keyword one letter
	// at a time ("S T O P", "S.T.O.P", "退 订").
	MatchSpelled MatchKind = "spelled"
)

// Classification is the outcome of classifying one inbound message, with the
// detail an auditor needs to see why.
type Classification struct {
	// Class is what the message asks for.
	Class Class
	// Match is the rule that decided Class.
	Match MatchKind
	// Normalized is the message as the rules saw it (see Normalize).
	Normalized string
}

// Keywords configures a Classifier: the words that, as the whole message,
// put it in each class. Entries are normalised with Normalize when the
// Classifier is built, so "OPT-OUT", "opt out" and "Opt Out" are one entry, and
// multi-word entries are fine. To serve a new market, start from
// DefaultKeywords and append its words.
type Keywords struct {
	// OptOut words withdraw consent. They also act as the verb of the
	// natural-language opt-out rules: "<keyword> please" is an opt-out.
	OptOut []string
	// OptIn words grant consent again; exact match only.
	OptIn []string
	// Help words ask for the help text; exact match only.
	Help []string
}

// DefaultKeywords returns the built-in keyword lists: the US carrier and FCC
// words (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPT OUT),
// WhatsApp's "Stop promotions" button, the common opt-out words of the
// markets Crier serves (Chinese, Malay and Indonesian, Thai, Vietnamese,
// French, Spanish, Portuguese, German, Italian, Arabic, Hindi and eight other
// languages of India, Urdu, Turkish, Russian, Tagalog), and the local word
// for START of every language Crier replies in. The slices are fresh copies
// that the caller may change.
func DefaultKeywords() Keywords {
	return Keywords{
		OptOut: slices.Clone(defaultOptOut),
		OptIn:  slices.Clone(defaultOptIn),
		Help:   slices.Clone(defaultHelp),
	}
}

// Classifier classifies inbound messages as opt-out, opt-in, help or none
// (DESIGN §4). Build one with NewClassifier; it is immutable and safe for
// concurrent use.
type Classifier struct {
	exact map[string]Class // normalised keyword → class
	// optOutMaxWords is the number of words of the longest opt-out keyword,
	// bounding the phrase lookups of the intent rules.
	optOutMaxWords int
}

// NewClassifier builds a Classifier from kw. It fails if a keyword is empty
// once normalised (punctuation or emoji only) or if one keyword is configured
// in two classes, because either is surely a configuration mistake.
func NewClassifier(kw Keywords) (*Classifier, error) {
	c := &Classifier{exact: make(map[string]Class)}
	for _, list := range []struct {
		class Class
		words []string
	}{
		{ClassOptOut, kw.OptOut},
		{ClassOptIn, kw.OptIn},
		{ClassHelp, kw.Help},
	} {
		for _, w := range list.words {
			n := Normalize(w)
			if n == "" {
				return nil, fmt.Errorf("consent: %s keyword %q is empty once normalised", list.class, w)
			}
			if prev, ok := c.exact[n]; ok && prev != list.class {
				return nil, fmt.Errorf("consent: keyword %q is both %s and %s", w, prev, list.class)
			}
			c.exact[n] = list.class
			if list.class == ClassOptOut {
				c.optOutMaxWords = max(c.optOutMaxWords, strings.Count(n, " ")+1)
			}
		}
	}
	return c, nil
}

// Classify returns the class of an inbound message. It does not allocate for
// typical messages, so it can run on every inbound message.
//
// The rules, in order:
//  1. the whole normalised message is a keyword → that keyword's class
//     (a question mark does not matter: "STOP?" is an opt-out);
//  2. otherwise, a message that spells an opt-out keyword one letter at a
//     time, separated by spaces or punctuation ("S T O P", "s.t.o.p",
//     "退 订") → ClassOptOut; it takes three letters or more, except in
//     scripts where one character is a syllable, so that initials ("T. D.")
//     stay initials;
//  3. otherwise, a short message whose clear intent is to stop → ClassOptOut
//     (see keywords_intent.go for the rules and their limits);
//  4. otherwise → ClassNone. Opt-in and help are never inferred.
func (c *Classifier) Classify(text string) Class {
	class, _ := c.classify(text, nil)
	return class
}

// Explain classifies text like Classify and also reports the rule that
// decided and the normalised text, for the evidence stored with the ledger
// entry.
func (c *Classifier) Explain(text string) Classification {
	var normalized string
	class, match := c.classify(text, &normalized)
	return Classification{Class: class, Match: match, Normalized: normalized}
}

// classify runs the rules; if normalized is not nil it receives the
// normalised text.
func (c *Classifier) classify(text string, normalized *string) (Class, MatchKind) {
	sc := getClassifyScratch()
	defer putClassifyScratch(sc)
	return c.classifyWith(sc, text, normalized)
}

func (c *Classifier) classifyWith(sc *classifyScratch, text string, normalized *string) (Class, MatchKind) {
	b := sc.normalize(text)
	if normalized != nil {
		*normalized = string(b)
	}
	if len(b) == 0 {
		return ClassNone, MatchNone
	}
	if class, ok := c.exact[string(b)]; ok {
		return class, MatchExact
	}
	if c.spelledOptOut(sc, b) {
		return ClassOptOut, MatchSpelled
	}
	if c.optOutIntent(b, sc.words) {
		return ClassOptOut, MatchIntent
	}
	return ClassNone, MatchNone
}

// maxSpelledLetters bounds the messages read as a keyword spelled one letter
// at a time: no keyword is longer.
const maxSpelledLetters = 24

// spelledOptOut reports whether the normalised message b spells an opt-out
// keyword one letter at a time: every word is one letter (with its marks),
// and the letters joined are the keyword. Opt-in and help stay exact: "S I M"
// is more likely a SIM card than Portuguese for yes.
func (c *Classifier) spelledOptOut(sc *classifyScratch, b []byte) bool {
	if len(sc.words) < 2 || len(sc.words) > maxSpelledLetters {
		return false
	}
	syllabic := true // every letter is a syllable or a word of its own: 退 订
	sc.joined = sc.joined[:0]
	for _, w := range sc.words {
		word := b[w.start:w.end]
		r, size := utf8.DecodeRune(word)
		if !unicode.IsLetter(r) {
			return false
		}
		for rest := word[size:]; len(rest) > 0; rest = rest[size:] {
			var m rune
			m, size = utf8.DecodeRune(rest)
			if !unicode.IsMark(m) {
				return false
			}
		}
		syllabic = syllabic && unicode.In(r, unicode.Han, unicode.Hangul, unicode.Hiragana, unicode.Katakana)
		sc.joined = append(sc.joined, word...)
	}
	return (len(sc.words) >= 3 || syllabic) && c.exact[string(sc.joined)] == ClassOptOut
}
