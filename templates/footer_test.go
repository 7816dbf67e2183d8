package templates

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHasKeyword(t *testing.T) {
	t.Parallel()
	f, err := newFooters(nil, nil)
	require.NoError(t, err)
	tests := []struct {
		text string
		want bool
	}{
		{"Reply STOP to unsubscribe.", true},
		{"reply stop to unsubscribe", true},
		{"STOP!", true},
		{"(STOP)", true},
		{"ＳＴＯＰ to leave", true}, // full-width letters, folded by NFKC
		{"Stopwatch sale", false},
		{"Nonstop deals", false},
		{"STOPS", false},
		{"回复退订", true},            // no spaces between words in Chinese
		{"ตอบยกเลิกได้เลย", true}, // nor in Thai
		{"Trả lời HỦY để hủy", true},
		{"Balas BERHENTI", true},
		{"Unsubscribe on our website", false},
		{"", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, f.hasKeyword(tt.text), "%q", tt.text)
	}
}

func TestDefaultFooters(t *testing.T) {
	t.Parallel()
	f, err := newFooters(nil, nil)
	require.NoError(t, err)
	for tag, footer := range DefaultFooters() {
		require.True(t, f.hasKeyword(footer), "the %s footer names a keyword", tag)
		require.Contains(t, footer, "STOP", "every footer offers STOP, which the classifier knows everywhere")
	}
	tests := map[string]string{
		"en":         "Reply STOP to unsubscribe.",
		"en-IN":      "Reply STOP to unsubscribe.",
		"es-MX":      "Responde STOP o BAJA para darte de baja.",
		"pt-BR":      "Responda STOP para cancelar a inscrição.",
		"fr":         "Répondez STOP ou ARRET pour vous désabonner.",
		"de":         "Antworten Sie STOP, um sich abzumelden.",
		"it":         "Rispondi STOP per annullare l'iscrizione.",
		"id":         "Balas STOP atau BERHENTI untuk berhenti berlangganan.",
		"ms":         "Balas STOP atau BERHENTI untuk berhenti melanggan.",
		"th":         "ตอบ STOP หรือ ยกเลิก เพื่อเลิกรับข้อความ",
		"vi":         "Trả lời STOP hoặc HỦY để hủy đăng ký.",
		"zh":         "回复 STOP 或 退订 取消订阅。",
		"zh-Hans":    "回复 STOP 或 退订 取消订阅。",
		"zh-CN":      "回复 STOP 或 退订 取消订阅。",
		"zh-Hant":    "回覆 STOP 即可取消訂閱。",
		"zh-Hant-TW": "回覆 STOP 即可取消訂閱。",
		"zh-TW":      "回覆 STOP 即可取消訂閱。",
		"zh-HK":      "回覆 STOP 即可取消訂閱。",
		"ar":         "أرسل STOP لإلغاء الاشتراك.",
		"hi":         "सदस्यता समाप्त करने के लिए STOP लिखकर भेजें।",
		"tr":         "Abonelikten çıkmak için STOP yazıp gönderin.",
		"ru":         "Ответьте STOP, чтобы отписаться.",
	}
	for locale, want := range tests {
		got, ok := f.defaultFor(locale)
		require.True(t, ok, locale)
		require.Equal(t, want, got, locale)
	}
	for _, locale := range []string{"sr", "ja", "nl", "not a tag"} {
		_, ok := f.defaultFor(locale)
		require.False(t, ok, locale)
	}
}

// TestDefaultFooterWords checks the record of the words each built-in footer asks customers to
// send: it is literally what the footer says, and its keywords are the default opt-out keywords.
// (consent/words_test.go checks that the classifier knows each word.)
func TestDefaultFooterWords(t *testing.T) {
	t.Parallel()
	words := DefaultFooterWords()
	require.Equal(t, slices.Sorted(maps.Keys(DefaultFooters())), slices.Sorted(maps.Keys(words)), "every footer has its words")
	named := map[string]bool{}
	for tag, footer := range DefaultFooters() {
		w := words[tag]
		require.NotEmpty(t, w.Keywords, tag)
		require.Equal(t, "STOP", w.Keywords[0], "%s: every footer offers STOP first", tag)
		for _, k := range w.Keywords {
			f := &footers{keywords: []string{foldKeyword(k)}}
			require.True(t, f.hasKeyword(footer), "%s: %q names %q", tag, footer, k)
			named[k] = true
		}
		require.NotEmpty(t, w.Action, tag)
		require.Contains(t, footer, w.Action, "%s: the action is as written in the footer", tag)
	}
	require.ElementsMatch(t, DefaultOptOutKeywords(), slices.Collect(maps.Keys(named)),
		"the default opt-out keywords are the words the footers name")

	words["en"].Keywords[0] = "changed"
	require.Equal(t, "STOP", DefaultFooterWords()["en"].Keywords[0], "a copy")
}

func TestNewFooterOptions(t *testing.T) {
	t.Parallel()
	f, err := newFooters(map[string]string{"EN": "  Text STOP to opt out.  ", "nl": "Antwoord STOP om af te melden."}, nil)
	require.NoError(t, err)
	got, _ := f.defaultFor("en-GB")
	require.Equal(t, "Text STOP to opt out.", got, "an override replaces the default, trimmed")
	got, _ = f.defaultFor("nl-BE")
	require.Equal(t, "Antwoord STOP om af te melden.", got, "an override adds a language")

	_, err = newFooters(map[string]string{"en": "Thanks for reading"}, nil)
	require.ErrorContains(t, err, "opt-out keywords")
	_, err = newFooters(map[string]string{"not a tag": "STOP"}, nil)
	require.ErrorContains(t, err, "not a tag")
	_, err = newFooters(nil, []string{" "})
	require.Error(t, err)
	_, err = newFooters(nil, []string{})
	require.Error(t, err)

	f, err = newFooters(map[string]string{"en": "Reply UNSUB to leave."}, []string{"UNSUB"})
	require.NoError(t, err)
	_, ok := f.defaultFor("fr")
	require.False(t, ok, "built-in footers that name none of the configured keywords are dropped")
	got, _ = f.defaultFor("en")
	require.Equal(t, "Reply UNSUB to leave.", got)
	require.True(t, f.hasKeyword("reply unsub"))
	require.False(t, f.hasKeyword("Reply STOP"))
}

func TestResolveFooter(t *testing.T) {
	t.Parallel()
	f, err := newFooters(nil, nil)
	require.NoError(t, err)
	tests := []struct {
		name        string
		category    Category
		locale      string
		footer      string
		want        string
		wantProblem string
	}{
		{"marketing default", Marketing, "es", "", "Responde STOP o BAJA para darte de baja.", ""},
		{"marketing own footer, trimmed", Marketing, "en", "  Reply STOP to leave. ", "Reply STOP to leave.", ""},
		{"marketing footer without keyword", Marketing, "en", "Have a nice day", "", "must tell the customer how to opt out"},
		{"marketing without default", Marketing, "sr", "", "", "no default opt-out footer"},
		{"marketing without default, own footer", Marketing, "sr", "Odgovorite STOP.", "Odgovorite STOP.", ""},
		{"utility without footer", Utility, "en", "", "", ""},
		{"utility footer needs no keyword", Utility, "en", "Thanks!", "Thanks!", ""},
		{"too long", Utility, "en", string(make([]byte, maxFooterLength+1)), "", "at most"},
	}
	for _, tt := range tests {
		got, problem := f.resolve(tt.category, tt.locale, tt.footer)
		require.Equal(t, tt.want, got, tt.name)
		if tt.wantProblem == "" {
			require.Empty(t, problem, tt.name)
		} else {
			require.Contains(t, problem, tt.wantProblem, tt.name)
		}
	}
}
