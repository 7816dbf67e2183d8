package templates

import (
	"errors"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

// The zero Script and Region are what Tag.Raw returns for a subtag the tag does not have.
var (
	noScript language.Script
	noRegion language.Region
)

// canonicalLocale parses a BCP 47 tag into its canonical form: case normalised ("EN-us" →
// "en-US", "zh-hant-tw" → "zh-Hant-TW"), "_" read as "-", deprecated codes replaced ("iw" →
// "he"). Unknown or undetermined languages are refused.
func canonicalLocale(s string) (language.Tag, error) {
	tag, err := language.Parse(strings.TrimSpace(s))
	if err != nil {
		return language.Und, err
	}
	if base, _, _ := tag.Raw(); base.String() == "und" {
		return language.Und, errors.New("the language is undetermined")
	}
	return tag, nil
}

// CanonicalLocale returns a language tag in the canonical form Normalize stores it in:
// "EN-us" → "en-US", and Meta's "pt_BR" → "pt-BR". Unknown or undetermined languages are an
// error.
func CanonicalLocale(s string) (string, error) {
	tag, err := canonicalLocale(s)
	if err != nil {
		return "", err
	}
	return tag.String(), nil
}

// fallbacks returns the canonical tags to look for, most specific first: the tag itself, the
// tag without variants and extensions, the language with its script (written or, when it is not
// the language's usual one, implied by the region: zh-TW → zh-Hant), and the bare language.
// zh-Hant-TW gives zh-Hant-TW, zh-Hant, zh.
func fallbacks(tag language.Tag) []string {
	var chain []string
	add := func(parts ...any) {
		t, err := language.Compose(parts...)
		if err != nil {
			return
		}
		if s := t.String(); !slices.Contains(chain, s) {
			chain = append(chain, s)
		}
	}
	add(tag)
	base, script, region := tag.Raw()
	parts := []any{base}
	if script != noScript {
		parts = append(parts, script)
	}
	if region != noRegion {
		parts = append(parts, region)
	}
	add(parts...)
	if script != noScript {
		add(base, script)
	} else if implied, conf := tag.Script(); conf != language.No {
		usualTag, _ := language.Compose(base)
		if usual, _ := usualTag.Script(); implied != usual {
			add(base, implied)
		}
	}
	add(base)
	return chain
}

// LocaleFor returns the index of the template locale for a contact's locale: the first match
// of the contact's fallback chain (zh-Hant-TW → zh-Hant → zh), else the first template locale of
// the same language (en-GB gets en-US), else 0, the template's default locale. Tags are compared
// in canonical form, so case does not matter. It returns -1 only when t has no locales.
func (t Template) LocaleFor(contactLocale string) int {
	if len(t.Locales) == 0 {
		return -1
	}
	tag, err := canonicalLocale(contactLocale)
	if err != nil {
		return 0
	}
	have := make([]string, len(t.Locales)) // canonical; "" for an invalid tag, which matches nothing
	bases := make([]string, len(t.Locales))
	for i, l := range t.Locales {
		if h, err := canonicalLocale(l.Locale); err == nil {
			b, _, _ := h.Raw()
			have[i], bases[i] = h.String(), b.String()
		}
	}
	for _, want := range fallbacks(tag) {
		if i := slices.Index(have, want); i >= 0 {
			return i
		}
	}
	base, _, _ := tag.Raw()
	if i := slices.Index(bases, base.String()); i >= 0 {
		return i
	}
	return 0
}

// localeIndex returns the index of the template locale whose tag is locale, compared in
// canonical form, or -1.
func (t Template) localeIndex(locale string) int {
	for i, l := range t.Locales { // a choice names the locale as the template spells it
		if l.Locale == locale {
			return i
		}
	}
	want, err := canonicalLocale(locale)
	if err != nil {
		return -1
	}
	for i, l := range t.Locales {
		if have, err := canonicalLocale(l.Locale); err == nil && have.String() == want.String() {
			return i
		}
	}
	return -1
}
