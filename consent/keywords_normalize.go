package consent

import (
	"bytes"
	"errors"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/rangetable"
)

// Normalize returns text in the form that keyword matching compares
// (DESIGN §4). It is idempotent: Normalize(Normalize(s)) == Normalize(s).
//
//   - Invisible characters are dropped: zero-width space, (non-)joiner, word
//     joiner, BOM, soft hyphen, bidi marks, variation selectors, Hangul
//     fillers (every default-ignorable code point), and the Arabic tatweel
//     and short-vowel marks, which are optional in Arabic writing.
//   - Unicode NFKC, so full-width ＳＴＯＰ, 𝐒𝐓𝐎𝐏 and Ⓢⓣⓞⓟ read "stop" and a
//     decomposed "ARRE\u0302T" equals "ARRÊT".
//   - Unicode full case folding (golang.org/x/text/cases), then Turkish
//     dotted İ and dotless ı both become plain i, so the result does not
//     depend on the sender's keyboard.
//   - Letters, marks and digits of every script are kept as they are:
//     diacritics are significant (Vietnamese "dừng" is stop, "dùng" is use), so
//     unaccented spellings worth matching are listed as keywords of their own.
//   - An apostrophe between letters is dropped ("don't" = "dont", "m'envoyez" =
//     "menvoyez"), because people type both.
//   - Every other run of characters — spaces, punctuation, emoji and other
//     symbols, controls — separates words: it is dropped at both ends and
//     becomes one space inside, so "opt-out", "opt_out" and "OPT  OUT" all
//     read "opt out", and "🛑 STOP!!! 🛑" reads "stop". Chinese and Thai,
//     written without spaces, stay one word.
func Normalize(text string) string {
	sc := getClassifyScratch()
	defer putClassifyScratch(sc)
	b := sc.normalize(text)
	if string(b) == text {
		return text
	}
	return string(b)
}

// textWord is one word of the normalised text: b[start:end], and what separated
// it from the next word.
type textWord struct {
	start, end int
	after      sepFlags
}

// sepFlags describe the characters between two words. Single spaces carry
// none. The intent rules use them to find sentences and interjections.
type sepFlags uint8

const (
	sepPunct    sepFlags = 1 << iota // any punctuation, symbol or emoji
	sepSentence                      // end of a sentence: . ! ? ; 。 । newline
	sepQuestion                      // a question mark
)

// classifyScratch holds the buffers of one classification. Pooled, so that
// classifying does not allocate.
type classifyScratch struct {
	fold   cases.Caser // not safe for concurrent use, hence one per scratch
	nfkc   norm.Iter   // holds its buffers, unlike norm.Form.Append
	a, b   []byte
	out    []byte
	words  []textWord
	joined []byte // the letters of a spelled-out keyword (Classifier.spelledOptOut)
}

var classifyScratchPool = sync.Pool{New: func() any { return &classifyScratch{fold: cases.Fold()} }}

// maxPooledClassifyBytes keeps the pool from holding on to the buffers of a huge
// message.
const maxPooledClassifyBytes = 16 << 10

func getClassifyScratch() *classifyScratch { return classifyScratchPool.Get().(*classifyScratch) }

func putClassifyScratch(sc *classifyScratch) {
	if cap(sc.a) > maxPooledClassifyBytes || cap(sc.b) > maxPooledClassifyBytes || cap(sc.out) > maxPooledClassifyBytes || cap(sc.joined) > maxPooledClassifyBytes || cap(sc.words) > 1024 {
		return
	}
	classifyScratchPool.Put(sc)
}

// normalize writes Normalize(text) into sc.out, its words into sc.words, and
// returns sc.out.
func (sc *classifyScratch) normalize(text string) []byte {
	if isASCIIText(text) {
		// ASCII is NFKC already, has no default-ignorable characters and
		// folds to lower case: skip straight to the word pass.
		sc.a = append(sc.a[:0], text...)
		sc.out, sc.words, _ = appendWords(sc.out[:0], sc.words[:0], sc.a, true)
		return sc.out
	}
	// Changing the letters of a word can leave a string that is not NFKC
	// (dropping the dot of "i̇́" leaves a decomposed "í"), so repeat until
	// the result is stable, which Normalize promises. A second round is
	// rare and a third has not been seen.
	for range 4 {
		sc.a = appendVisible(sc.a[:0], text)
		sc.b = sc.appendNFKC(sc.b[:0], sc.a)
		sc.a = sc.appendFold(sc.a[:0], sc.b)
		if !bytes.Equal(sc.a, sc.b) {
			// NFKC is not closed under case folding (which is why
			// Unicode defines NFKC_Casefold): normalise again.
			sc.b = sc.appendNFKC(sc.b[:0], sc.a)
		}
		var changed bool
		sc.out, sc.words, changed = appendWords(sc.out[:0], sc.words[:0], sc.b, false)
		if !changed || norm.NFKC.QuickSpan(sc.out) == len(sc.out) {
			break
		}
		if sc.a = sc.appendNFKC(sc.a[:0], sc.out); bytes.Equal(sc.a, sc.out) {
			break
		}
		text = string(sc.out)
	}
	return sc.out
}

// appendNFKC appends the NFKC form of src to dst.
func (sc *classifyScratch) appendNFKC(dst, src []byte) []byte {
	if norm.NFKC.QuickSpan(src) == len(src) {
		return append(dst, src...)
	}
	sc.nfkc.Init(norm.NFKC, src)
	for !sc.nfkc.Done() {
		dst = append(dst, sc.nfkc.Next()...)
	}
	return dst
}

// appendFold appends the case folding of src to dst.
func (sc *classifyScratch) appendFold(dst, src []byte) []byte {
	// Folding can lengthen text (ß → ss, ΐ → three runes), so make room
	// and grow on ErrShortDst.
	for size := 2*len(src) + 16; ; size *= 2 {
		if cap(dst) < size {
			dst = make([]byte, 0, size)
		}
		sc.fold.Reset()
		n, _, err := sc.fold.Transform(dst[:size], src, true)
		if err == nil {
			return dst[:n]
		}
		if !errors.Is(err, transform.ErrShortDst) {
			// Cannot happen for a whole input; keep the text unfolded
			// rather than lose it.
			return append(dst[:0], src...)
		}
	}
}

// appendVisible appends s to dst without its default-ignorable characters.
func appendVisible(dst []byte, s string) []byte {
	for _, r := range s {
		if !isIgnorable(r) {
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// appendWords appends the words of src to dst, separated by single spaces,
// and their positions to words. src is NFKC and case-folded (or ASCII, to be
// lowered on the way when lower is set). changed reports whether a rune
// inside a word was dropped or replaced, which can undo NFKC.
func appendWords(dst []byte, words []textWord, src []byte, lower bool) (_ []byte, _ []textWord, changed bool) {
	var (
		inWord bool     // the last rune kept belongs to a word still open
		last   rune     // the last rune kept
		sep    sepFlags // what the separator run since the last word holds
	)
	for i := 0; i < len(src); {
		r, size := rune(src[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(src[i:])
		}
		i += size
		switch {
		case lower && 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case r < utf8.RuneSelf:
		case isIgnorable(r):
			changed = true
			continue
		case r == '\u0307' && inWord && last == 'i':
			changed = true
			continue // the dot of a folded Turkish İ
		case r == 'ı':
			changed = true
			r = 'i'
		case 0xAB70 <= r && r <= 0xABBF, 0x13F8 <= r && r <= 0x13FD:
			// x/text folds Cherokee capitals to small letters and small
			// letters to capitals, so folding is not idempotent there;
			// settle on the capitals, as Unicode's CaseFolding.txt does.
			changed = true
			r = cherokeeCapital(r)
		}

		if isApostrophe(r) {
			if inWord && nextIsLetter(src[i:]) {
				changed = true
				continue
			}
		} else if isWordRune(r) {
			if !inWord {
				if unicode.IsMark(r) {
					continue // a mark left without its letter, e.g. a keycap
				}
				if len(words) > 0 {
					words[len(words)-1].after = sep
					dst = append(dst, ' ')
				}
				words = append(words, textWord{start: len(dst)})
				sep = 0
			}
			dst = utf8.AppendRune(dst, r)
			words[len(words)-1].end = len(dst)
			inWord, last = true, r
			continue
		}
		inWord = false
		sep |= separatorFlags(r)
	}
	if len(words) > 0 {
		words[len(words)-1].after = sep
	}
	return dst, words, changed
}

func isASCIIText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isIgnorable reports characters that are invisible or optional and so must
// not change the meaning of a message: the default-ignorable code points
// (Cf, variation selectors and the rest) and the Arabic tatweel and harakat.
func isIgnorable(r rune) bool {
	return r >= 0xAD && unicode.Is(ignorableTable, r)
}

var ignorableTable = rangetable.Merge(
	unicode.Cf,
	unicode.Variation_Selector,
	unicode.Other_Default_Ignorable_Code_Point,
	&unicode.RangeTable{R16: []unicode.Range16{
		{Lo: 0x0640, Hi: 0x0640, Stride: 1}, // tatweel
		{Lo: 0x064B, Hi: 0x0652, Stride: 1}, // fathatan … sukun
	}},
)

func cherokeeCapital(r rune) rune {
	if r >= 0xAB70 {
		return r - 0xAB70 + 0x13A0
	}
	return r - 8 // U+13F8… → U+13F0…
}

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '`', '\u2018', '\u2019', '\u02BC':
		return true
	}
	return false
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r)
}

func nextIsLetter(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	r, _ := utf8.DecodeRune(b)
	return r != '\u02BC' && (unicode.IsLetter(r) || unicode.IsNumber(r))
}

func separatorFlags(r rune) sepFlags {
	switch r {
	case ' ', '\t', '\u00A0', '\u3000':
		return 0
	case '\n', '\r', '\v', '\f', '\u0085', '\u2028', '\u2029', '.', '!', ';', '\u3002', '\u0964', '\u0965', '\u06D4':
		return sepPunct | sepSentence
	case '?', '\u061F', '\u2E2E':
		return sepPunct | sepSentence | sepQuestion
	}
	if unicode.IsSpace(r) || isApostrophe(r) {
		return 0
	}
	return sepPunct
}
