package templates

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxFooterLength bounds a footer, in the units of Length.
const maxFooterLength = 300

// FooterWords are the words a built-in footer asks a customer to send. They are kept next to
// the footer so that tests can check that each is in its text and that the consent classifier
// knows it: a footer cannot ship that asks for a word Crier would ignore.
type FooterWords struct {
	// Keywords are the opt-out keywords the footer names, as written in it: STOP, BAJA.
	Keywords []string
	// Action is the footer's call to action in its language, as written in it: "unsubscribe",
	// "darte de baja", "отписаться". People reply with it as well as with the keywords.
	Action string
}

// defaultFooter is a built-in opt-out line and the words it asks for.
type defaultFooter struct {
	text  string
	words FooterWords
}

// defaultFooters are the opt-out lines filled in for marketing locales that give none, keyed by
// canonical BCP 47 tag and found through the locale fallback chain (pt-BR → pt, zh-TW → zh-Hant).
// Every one names STOP, which the consent classifier recognises in every market; where the
// market has a common local opt-out word (DESIGN.md §4), it is offered too.
var defaultFooters = map[string]defaultFooter{
	"en":      {"Reply STOP to unsubscribe.", FooterWords{[]string{"STOP"}, "unsubscribe"}},
	"es":      {"Responde STOP o BAJA para darte de baja.", FooterWords{[]string{"STOP", "BAJA"}, "darte de baja"}},
	"pt":      {"Responda STOP para cancelar a inscrição.", FooterWords{[]string{"STOP"}, "cancelar a inscrição"}},
	"fr":      {"Répondez STOP ou ARRET pour vous désabonner.", FooterWords{[]string{"STOP", "ARRET"}, "vous désabonner"}},
	"de":      {"Antworten Sie STOP, um sich abzumelden.", FooterWords{[]string{"STOP"}, "sich abzumelden"}},
	"it":      {"Rispondi STOP per annullare l'iscrizione.", FooterWords{[]string{"STOP"}, "annullare l'iscrizione"}},
	"id":      {"Balas STOP atau BERHENTI untuk berhenti berlangganan.", FooterWords{[]string{"STOP", "BERHENTI"}, "berhenti berlangganan"}},
	"ms":      {"Balas STOP atau BERHENTI untuk berhenti melanggan.", FooterWords{[]string{"STOP", "BERHENTI"}, "berhenti melanggan"}},
	"th":      {"ตอบ STOP หรือ ยกเลิก เพื่อเลิกรับข้อความ", FooterWords{[]string{"STOP", "ยกเลิก"}, "เลิกรับข้อความ"}},
	"vi":      {"Trả lời STOP hoặc HỦY để hủy đăng ký.", FooterWords{[]string{"STOP", "HỦY"}, "hủy đăng ký"}},
	"zh":      {"回复 STOP 或 退订 取消订阅。", FooterWords{[]string{"STOP", "退订"}, "取消订阅"}},
	"zh-Hant": {"回覆 STOP 即可取消訂閱。", FooterWords{[]string{"STOP"}, "取消訂閱"}},
	"ar":      {"أرسل STOP لإلغاء الاشتراك.", FooterWords{[]string{"STOP"}, "إلغاء الاشتراك"}},
	"hi":      {"सदस्यता समाप्त करने के लिए STOP लिखकर भेजें।", FooterWords{[]string{"STOP"}, "सदस्यता समाप्त"}},
	"tr":      {"Abonelikten çıkmak için STOP yazıp gönderin.", FooterWords{[]string{"STOP"}, "Abonelikten çıkmak"}},
	"ru":      {"Ответьте STOP, чтобы отписаться.", FooterWords{[]string{"STOP"}, "отписаться"}},
}

// defaultOptOutKeywords are the words a marketing footer must contain one of: STOP and the
// local words used in defaultFooters (their FooterWords.Keywords, which a test keeps in step).
var defaultOptOutKeywords = []string{"STOP", "BAJA", "ARRET", "BERHENTI", "ยกเลิก", "HỦY", "退订"}

// DefaultFooters returns a copy of the built-in opt-out footers, keyed by canonical BCP 47 tag.
func DefaultFooters() map[string]string {
	m := make(map[string]string, len(defaultFooters))
	for tag, f := range defaultFooters {
		m[tag] = f.text
	}
	return m
}

// DefaultFooterWords returns, keyed like DefaultFooters, the words each built-in footer asks
// customers to send. The consent classifier must recognise every one of them as an opt-out.
func DefaultFooterWords() map[string]FooterWords {
	m := make(map[string]FooterWords, len(defaultFooters))
	for tag, f := range defaultFooters {
		m[tag] = FooterWords{Keywords: slices.Clone(f.words.Keywords), Action: f.words.Action}
	}
	return m
}

// DefaultOptOutKeywords returns the built-in opt-out keywords. The consent classifier must
// recognise every keyword a footer tells customers to send.
func DefaultOptOutKeywords() []string {
	return append([]string(nil), defaultOptOutKeywords...)
}

// footers holds the configured opt-out lines and keywords.
type footers struct {
	byLocale map[string]string // canonical tag → footer
	keywords []string          // folded as by foldKeyword
	display  string            // the keywords as configured, for messages
}

func newFooters(overrides map[string]string, keywords []string) (*footers, error) {
	if keywords == nil {
		keywords = defaultOptOutKeywords
	}
	f := &footers{byLocale: DefaultFooters()}
	for _, k := range keywords {
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("templates: empty opt-out keyword")
		}
		f.keywords = append(f.keywords, foldKeyword(k))
	}
	if len(f.keywords) == 0 {
		return nil, fmt.Errorf("templates: no opt-out keywords")
	}
	f.display = strings.Join(keywords, ", ")
	for tag, footer := range overrides {
		canon, err := canonicalLocale(tag)
		if err != nil {
			return nil, fmt.Errorf("templates: footer for %q: %w", tag, err)
		}
		footer = strings.TrimSpace(footer)
		if !f.hasKeyword(footer) {
			return nil, fmt.Errorf("templates: footer for %q names none of the opt-out keywords %s", tag, f.display)
		}
		f.byLocale[canon.String()] = footer
	}
	// A default that no longer names a configured keyword must not be filled in silently.
	for tag, footer := range f.byLocale {
		if !f.hasKeyword(footer) {
			delete(f.byLocale, tag)
		}
	}
	return f, nil
}

// defaultFor returns the default footer for a canonical locale tag, through the fallback chain.
func (f *footers) defaultFor(locale string) (string, bool) {
	tag, err := canonicalLocale(locale)
	if err != nil {
		return "", false
	}
	for _, candidate := range fallbacks(tag) {
		if footer, ok := f.byLocale[candidate]; ok {
			return footer, true
		}
	}
	return "", false
}

// resolve returns the footer a locale's messages end with: the locale's own (trimmed) or, for
// marketing, the default for its language. It returns a message for the user when a marketing
// locale has no usable footer.
func (f *footers) resolve(category Category, locale, footer string) (string, string) {
	footer = strings.TrimSpace(footer)
	if footer != "" && Length(footer) > maxFooterLength {
		return "", fmt.Sprintf("must be at most %d characters", maxFooterLength)
	}
	if category != Marketing {
		return footer, ""
	}
	if footer == "" {
		if def, ok := f.defaultFor(locale); ok {
			return def, ""
		}
		return "", fmt.Sprintf("is required for marketing templates and there is no default opt-out footer for %q: write one that names an opt-out keyword (%s), e.g. \"Reply STOP to unsubscribe.\"", locale, f.display)
	}
	if !f.hasKeyword(footer) {
		return "", fmt.Sprintf("must tell the customer how to opt out: name one of the opt-out keywords %s", f.display)
	}
	return footer, ""
}

// hasKeyword reports whether text contains an opt-out keyword as a word of its own, ignoring
// case and Unicode compatibility forms. "STOP" counts in "Reply STOP." but not in "stopwatch";
// keywords in scripts written without spaces (退订, ยกเลิก) count anywhere.
func (f *footers) hasKeyword(text string) bool {
	text = foldKeyword(text)
	for _, k := range f.keywords {
		for from := 0; ; {
			i := strings.Index(text[from:], k)
			if i < 0 {
				break
			}
			start, end := from+i, from+i+len(k)
			if wordEdge(text[:start], k, true) && wordEdge(text[end:], k, false) {
				return true
			}
			_, size := utf8.DecodeRuneInString(text[start:])
			from = start + size
		}
	}
	return false
}

func foldKeyword(s string) string {
	return strings.ToLower(norm.NFKC.String(s))
}

// wordEdge reports whether keyword k may start (before) or end at the boundary with the
// neighbouring text: the neighbour is absent or not part of a word, or the keyword's edge is in
// a script that does not separate words with spaces.
func wordEdge(neighbour, k string, before bool) bool {
	var n, edge rune
	if before {
		n, _ = utf8.DecodeLastRuneInString(neighbour)
		edge, _ = utf8.DecodeRuneInString(k)
	} else {
		n, _ = utf8.DecodeRuneInString(neighbour)
		edge, _ = utf8.DecodeLastRuneInString(k)
	}
	if neighbour == "" || !isWordRune(n) {
		return true
	}
	return unicode.In(edge, unicode.Han, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar, unicode.Hiragana, unicode.Katakana)
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// footerFor returns the footer messages of locale l end with; see footers.resolve. A marketing
// locale without one is an error: no marketing message goes out without an opt-out line. A
// locale bound to a Cloud API template ends with Meta's footer and opt-out button
// (cloudFooter), one of which must opt out.
func (e *Engine) footerFor(category Category, l Locale) (string, error) {
	if l.Cloud != nil {
		if category == Marketing && !e.cloudOptOut(l.Cloud) {
			return "", fmt.Errorf("%w: Meta's template %q of %q has neither an opt-out footer nor an opt-out button", ErrFooter, l.Cloud.Name, l.Locale)
		}
		return e.cloudFooter(l.Cloud), nil
	}
	footer, problem := e.footers.resolve(category, l.Locale, l.Footer)
	if problem != "" {
		return "", fmt.Errorf("%w: the footer of %q %s", ErrFooter, l.Locale, problem)
	}
	return footer, nil
}
