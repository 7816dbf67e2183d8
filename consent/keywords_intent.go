package consent

import (
	"bytes"
	"strings"
)

// Natural-language opt-out (DESIGN §4: "a short message whose clear intent
// is to stop"). US law counts any reasonable wording as a revocation, so a
// short request to stop must work even when it is not a keyword; a keyword
// inside an unrelated sentence or a question must not.
//
// A message is an opt-out when one of its sentences (split after . ! ? ;
// 。 । and newlines) is one on its own. A sentence is one when it is an
// opt-out keyword, or when all its words fit this small grammar, rather than
// when a keyword merely occurs in it:
//
//	sentence := lead* core
//	lead     := please | hi | ok | i want to | can you | por favor | tolong | 请 | …
//	          | no | não | tidak | …, only when punctuation follows ("No, stop")
//	          | hi | dear | hola | … then one or two words and punctuation ("Hi Acme, stop")
//	          | bana | mesaj | मुझे | मैसेज | …, the object where the verb comes last ("mesaj göndermeyin")
//	core     := verb tail*                    stop, unsubscribe, take me off, baja, any opt-out keyword
//	          | negation filler* send tail*   don't message me, no me envíen más, jangan kirim lagi
//	          | negation want tail*           I don't want these messages (needs a message noun)
//	          | no more tail*                 no more, no more texts please, no más
//	          | no noun tail*                 no spam please, keine Werbung mehr (needs a message noun)
//	tail     := me | my | this | from | your | list | messages | please | thanks | now | again | …
//	          | verb (after a verb only: "stop stop stop", "stop, unsubscribe")
//
// In Chinese and Thai, written without spaces, a word is also a verb when it
// is one once politeness prefixes and suffixes are removed: 请退订,
// 我要退订谢谢, ขอยกเลิกค่ะ.
//
// What this buys:
//   - Questions are not opt-outs. A sentence ending in a question mark counts
//     only as a polite request, opening with "can you", "please" and the like
//     ("can you stop texting me?"); question words (when, does, how, why) are
//     no leads, so "when does the sale stop" and "how do I cancel my order"
//     never parse. A message that is a keyword is still one with a question
//     mark: "STOP?" is an opt-out.
//   - Unrelated sentences are not opt-outs: "cancel my order #1234", "stop by
//     our store" and "the end of the month" hold words no rule accepts.
//   - Negations are not opt-outs: a negation is accepted only before a verb of
//     sending or wanting, so "don't stop sending me deals" and "I can't stop
//     buying your stuff" do not parse, while "don't message me again" does.
//   - Sentences have at most maxIntentWords words and messages at most
//     maxIntentMessageWords.
//
// Known limits, accepted because a wrong opt-out costs a confirmation and a
// START while a missed one costs a complaint:
//   - words outside the vocabulary defeat the grammar: "stop texting me
//     Acme", "why won't you stop texting me?", long complaints without
//     sentence punctuation; they need a human (the inbound text is kept);
//   - a keyword standing as its own sentence counts even next to unrelated
//     text: "Stop! This deal is too good" is an opt-out;
//   - the vocabulary covers English well and the other languages of the
//     default footers in their common shapes only; the other languages of
//     the default keywords get their keywords and little more.

const (
	// maxIntentWords bounds a sentence the grammar reads: a request to
	// stop is short ("8 to 10 words" in English, more syllables in
	// Vietnamese).
	maxIntentWords = 12
	// maxIntentMessageWords bounds the messages in which a sentence can be
	// an opt-out: past that, it is a letter that needs a human.
	maxIntentMessageWords = 24
)

// optOutIntent reports whether the normalised message b, with its words,
// asks to stop in natural language.
func (c *Classifier) optOutIntent(b []byte, words []textWord) bool {
	if len(words) > maxIntentMessageWords {
		return false
	}
	start := 0
	for i := range words {
		if words[i].after&sepSentence == 0 && i < len(words)-1 {
			continue
		}
		if c.sentenceOptOut(b, words[start:i+1], words[i].after&sepQuestion != 0) {
			return true
		}
		start = i + 1
	}
	return false
}

// sentenceOptOut reports whether words, one sentence, is an opt-out on its
// own.
func (c *Classifier) sentenceOptOut(b []byte, words []textWord, question bool) bool {
	if len(words) > maxIntentWords {
		return false
	}
	if !question && c.exact[string(b[words[0].start:words[len(words)-1].end])] == ClassOptOut {
		return true
	}
	p := intentParser{c: c, b: b, words: words, maxPhrase: max(intentVocab.maxWords, c.optOutMaxWords)}
	return p.lead(0, question)
}

// affixOptOut reports whether w, one word of a script written without
// spaces, is an opt-out once politeness prefixes and suffixes are removed.
// It checks after every removal, so a keyword that happens to end like a
// suffix still matches.
func (c *Classifier) affixOptOut(w []byte) bool {
	for _, suffix := range [...]bool{false, true} {
		for {
			n := affixLen(w, suffix)
			if n == 0 {
				break
			}
			if suffix {
				w = w[:len(w)-n]
			} else {
				w = w[n:]
			}
			if c.exact[string(w)] == ClassOptOut || intentVocab.roles[string(w)]&roleVerb != 0 {
				return true
			}
		}
	}
	return false
}

// affixLen returns the length of a politeness prefix (or suffix) of w that
// leaves something behind, or 0.
func affixLen(w []byte, suffix bool) int {
	if suffix {
		for _, a := range intentVocab.suffixes {
			if len(w) > len(a) && bytes.HasSuffix(w, a) {
				return len(a)
			}
		}
		return 0
	}
	for _, a := range intentVocab.prefixes {
		if len(w) > len(a) && bytes.HasPrefix(w, a) {
			return len(a)
		}
	}
	return 0
}

// intentParser parses the words of one message or sentence with the grammar
// above. Each method reports whether the words from its position to the end
// complete an opt-out.
type intentParser struct {
	c         *Classifier
	b         []byte
	words     []textWord
	maxPhrase int // the most words a vocabulary phrase or keyword has
	// Positions already known to fail, by method and flags, so that
	// backtracking stays polynomial whatever the keywords.
	leadFailed [2]uint32
	tailFailed [4]uint32
}

// roles returns the roles of the phrase words[i:j], and whether it is an
// opt-out keyword or, for one word, an opt-out once affixes are removed.
func (p *intentParser) roles(i, j int) (intentRole, bool) {
	phrase := p.b[p.words[i].start:p.words[j-1].end]
	r := intentVocab.roles[string(phrase)]
	if p.c.exact[string(phrase)] == ClassOptOut {
		return r, true
	}
	return r, j == i+1 && phrase[0] >= 0x80 && p.c.affixOptOut(phrase)
}

// end returns the last position a phrase starting at i can end at.
func (p *intentParser) end(i int) int { return min(len(p.words), i+p.maxPhrase) }

// lead parses the leads from position i, then the core. In a question, one
// of the leads must make it a request.
func (p *intentParser) lead(i int, question bool) bool {
	failed := &p.leadFailed[boolIndex(question)]
	if *failed&(1<<i) != 0 {
		return false
	}
	if !question && p.core(i) {
		return true
	}
	for j := i + 1; j <= p.end(i) && j < len(p.words); j++ {
		r, _ := p.roles(i, j)
		if r&roleLead != 0 || r&roleInterjection != 0 && p.words[j-1].after&sepPunct != 0 {
			if p.lead(j, question && r&roleRequest == 0) {
				return true
			}
		}
		if r&roleGreeting != 0 {
			// "Hi Acme, stop": a greeting may address the brand or an
			// agent by one or two words of any kind, then punctuation.
			for k := j + 1; k <= j+2 && k < len(p.words); k++ {
				if p.words[k-1].after&sepPunct != 0 && p.lead(k, question) {
					return true
				}
			}
		}
	}
	*failed |= 1 << i
	return false
}

func (p *intentParser) core(i int) bool {
	for j := i + 1; j <= p.end(i); j++ {
		r, keyword := p.roles(i, j)
		switch {
		case (keyword || r&roleVerb != 0) && p.tail(j, true, false),
			r&roleNoMore != 0 && p.tail(j, false, false),
			r&roleNegNoun != 0 && p.tail(j, false, true),
			r&roleNeg != 0 && p.negated(j, 0):
			return true
		}
	}
	return false
}

// negated parses what follows a negation: fillers, then a verb of sending or
// of wanting.
func (p *intentParser) negated(i, fillers int) bool {
	for j := i + 1; j <= p.end(i); j++ {
		r, _ := p.roles(i, j)
		switch {
		case r&roleSend != 0 && p.tail(j, false, false),
			r&roleWant != 0 && p.tail(j, false, true),
			r&roleNegFiller != 0 && fillers < 3 && p.negated(j, fillers+1):
			return true
		}
	}
	return false
}

// tail parses the rest of the message after the core: objects, politeness,
// and, if verbs is set, more opt-out verbs. If noun is set, a message noun
// must still come.
func (p *intentParser) tail(i int, verbs, noun bool) bool {
	if i == len(p.words) {
		return !noun
	}
	failed := &p.tailFailed[boolIndex(verbs)<<1|boolIndex(noun)]
	if *failed&(1<<i) != 0 {
		return false
	}
	for j := i + 1; j <= p.end(i); j++ {
		r, keyword := p.roles(i, j)
		if r&(roleTail|roleNoun) != 0 || verbs && (keyword || r&roleVerb != 0) {
			if p.tail(j, verbs, noun && r&roleNoun == 0) {
				return true
			}
		}
	}
	*failed |= 1 << i
	return false
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// intentRole is a set of the parts a phrase can play in the grammar.
type intentRole uint16

const (
	roleLead         intentRole = 1 << iota // before the core: please, hi, i want to
	roleRequest                             // a lead that makes a question a request: can you, please
	roleInterjection                        // a lead only when punctuation follows: "No, stop"
	roleGreeting                            // may be followed by a name and punctuation: "Hi Acme, stop"
	roleVerb                                // an opt-out verb beyond the keywords: unsubscribe me, take me off
	roleNeg                                 // a negation: don't, never, no, jangan, đừng
	roleNegFiller                           // between a negation and its verb: me, ever
	roleSend                                // a verb of sending, after a negation: message, text, send
	roleWant                                // a verb of wanting, after a negation: want, quiero, mau
	roleNoMore                              // "no more": an opt-out with or without a noun
	roleNegNoun                             // "no", "keine": an opt-out before a message noun
	roleNoun                                // a message noun: messages, texts, spam, promos
	roleTail                                // after the core: me, from, your, list, please, thanks
)

// intentVocab is the vocabulary of the grammar, normalised.
var intentVocab = buildIntentVocab()

type intentVocabulary struct {
	roles              map[string]intentRole
	maxWords           int
	prefixes, suffixes [][]byte // politeness affixes of scripts without spaces
}

func buildIntentVocab() intentVocabulary {
	v := intentVocabulary{roles: make(map[string]intentRole)}
	for _, e := range intentWords {
		for _, w := range e.words {
			n := Normalize(w)
			v.roles[n] |= e.role
			v.maxWords = max(v.maxWords, strings.Count(n, " ")+1)
		}
	}
	for _, a := range affixPrefixes {
		v.prefixes = append(v.prefixes, []byte(Normalize(a)))
	}
	for _, a := range affixSuffixes {
		v.suffixes = append(v.suffixes, []byte(Normalize(a)))
	}
	return v
}
