package templates

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFallbacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		locale string
		want   []string
	}{
		{"zh-Hant-TW", []string{"zh-Hant-TW", "zh-Hant", "zh"}},
		{"ZH-hant-tw", []string{"zh-Hant-TW", "zh-Hant", "zh"}},
		{"zh-TW", []string{"zh-TW", "zh-Hant", "zh"}}, // the region implies the script
		{"zh-CN", []string{"zh-CN", "zh"}},            // the usual script adds nothing
		{"pt_BR", []string{"pt-BR", "pt"}},
		{"en", []string{"en"}},
		{"sr-Latn-RS", []string{"sr-Latn-RS", "sr-Latn", "sr"}},
		{"de-CH-1996", []string{"de-CH-1996", "de-CH", "de"}},
		{"en-US-u-ca-buddhist", []string{"en-US-u-ca-buddhist", "en-US", "en"}},
		{"iw-IL", []string{"he-IL", "he"}}, // deprecated codes are canonicalised
	}
	for _, tt := range tests {
		tag, err := canonicalLocale(tt.locale)
		require.NoError(t, err, tt.locale)
		require.Equal(t, tt.want, fallbacks(tag), tt.locale)
	}
}

func TestCanonicalLocaleRefuses(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "und", "xx", "123", "en-", "english"} {
		_, err := canonicalLocale(s)
		require.Error(t, err, "%q", s)
	}
}

func TestLocaleFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		locales []string
		contact string
		want    int
	}{
		{"exact", []string{"en", "zh-Hant-TW"}, "zh-Hant-TW", 1},
		{"case-insensitive", []string{"en", "zh-Hant-TW"}, "ZH-HANT-tw", 1},
		{"template tags are canonicalised too", []string{"en", "ZH-hant"}, "zh-Hant-TW", 1},
		{"script", []string{"en", "zh", "zh-Hant"}, "zh-Hant-TW", 2},
		{"language", []string{"en", "zh"}, "zh-Hant-TW", 1},
		{"more specific wins", []string{"zh", "zh-Hant", "zh-Hant-TW"}, "zh-Hant-TW", 2},
		{"region implies script", []string{"en", "zh", "zh-Hant"}, "zh-HK", 2},
		{"region", []string{"en", "pt"}, "pt-BR", 1},
		{"same language, other region", []string{"es", "en-US"}, "en-GB", 1},
		{"same language, first match", []string{"es", "en-US", "en-AU"}, "en-GB", 1},
		{"no match: the default", []string{"es", "en"}, "fr", 0},
		{"invalid contact locale: the default", []string{"es", "en"}, "not a tag", 0},
		{"empty contact locale: the default", []string{"es", "en"}, "", 0},
		{"invalid template locale never matches", []string{"es", "bogus!"}, "bogus!", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := Template{}
			for _, l := range tt.locales {
				tpl.Locales = append(tpl.Locales, Locale{Locale: l})
			}
			require.Equal(t, tt.want, tpl.LocaleFor(tt.contact))
		})
	}
	require.Equal(t, -1, Template{}.LocaleFor("en"))
}
