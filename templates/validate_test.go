package templates

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/stretchr/testify/require"
)

// valid returns a valid marketing template with two locales.
func valid() Template {
	return Template{
		Name:     "Summer sale",
		Category: Marketing,
		Locales: []Locale{
			{Locale: "en", Variants: []Variant{
				{Body: "{Hi|Hello} {{ first_name | default: 'there' }}, the {{ campaign.name }} is on!", Weight: 3},
				{Body: "Hey {{ first_name }}! {% if attributes.plan == 'gold' %}Gold members get 20% off.{% endif %}", Weight: 1},
			}},
			{Locale: "es", Variants: []Variant{{Body: "¡Hola {{ first_name }}!", Weight: 1}}},
		},
	}
}

func TestNormalizeAcceptsAndNormalizes(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	in := valid()
	in.Name = "  Summer sale  "
	in.Locales[0].Locale = "EN-us"
	in.Locales[1].Locale = "zh_hant_tw"
	in.Locales[1].Footer = "  回覆 STOP 取消。 "
	in.Locales = append(in.Locales, Locale{Locale: "pt-br", Variants: []Variant{{Body: "Olá!", Weight: 1}}})

	out, err := e.Normalize(context.Background(), in)
	require.NoError(t, err)
	require.Equal(t, "Summer sale", out.Name)
	require.Equal(t, "en-US", out.Locales[0].Locale)
	require.Equal(t, "zh-Hant-TW", out.Locales[1].Locale)
	require.Equal(t, "Reply STOP to unsubscribe.", out.Locales[0].Footer, "default footer filled in")
	require.Equal(t, "回覆 STOP 取消。", out.Locales[1].Footer, "own footer kept, trimmed")
	require.Equal(t, "Responda STOP para cancelar a inscrição.", out.Locales[2].Footer, "pt-BR gets the pt default")
	require.Equal(t, in.Locales[0].Variants, out.Locales[0].Variants, "bodies are stored as written")
	require.Equal(t, "EN-us", in.Locales[0].Locale, "the input is not modified")

	again, err := e.Normalize(context.Background(), out)
	require.NoError(t, err)
	require.Equal(t, out, again, "normalising is idempotent")

	utility := valid()
	utility.Category = Utility
	out, err = e.Normalize(context.Background(), utility)
	require.NoError(t, err)
	require.Empty(t, out.Locales[0].Footer, "utility templates need no footer")
}

func TestNormalizeAcceptsLiquid(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	for _, body := range []string{
		"{{ attributes.anything_at_all }} {{ attributes['with space'] }} {{ attributes.plan.size }}",
		"{% assign n = tags.size %}{{ n }} {% for t in tags reversed limit: 2 %}{{ forloop.index }}{{ t | upcase }}{% endfor %}",
		"{% for i in (1..3) %}{{ i }}{% endfor %}",
		"{% case country %}{% when 'MX', 'ES' %}¡Hola!{% else %}Hi{% endcase %}",
		"{{ name.size }} {{ tags.first }} {{ tags.last | downcase }} {{ campaign.name.size }}",
		"{% unless email == blank_email %}x{% endunless %}{% assign blank_email = '' %}",
		"{{ timezone }} {{ locale }} {{ country }} {{ email }}",
		"{% raw %}{{ not_a_variable }}{% endraw %} {% comment %}{{ nor_this }}{% endcomment %}",
		"{{ 'now' | date: '%Y' }} {{ 3.5 | round }} {{ name | truncate: 10 }}",
		`Price: \{10\} {a\|b|c}`,
		"{Hi {{ first_name }}|Hello}, {% if tags contains 'vip' %}{our VIP|a special} {% endif %}offer",
	} {
		tpl := oneVariant(Marketing, "en", body, "")
		_, err := e.Normalize(context.Background(), tpl)
		require.NoError(t, err, body)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	t.Parallel()
	longBody := strings.Repeat("x", 4000)
	tests := []struct {
		name       string
		edit       func(*Template)
		field      string
		wantSubstr string
	}{
		{"name missing", func(t *Template) { t.Name = "" }, "name", "is required"},
		{"name blank", func(t *Template) { t.Name = " \t " }, "name", "is required"},
		{"name too long", func(t *Template) { t.Name = strings.Repeat("n", 201) }, "name", "at most 200"},
		{"name not UTF-8", func(t *Template) { t.Name = "a\xffb" }, "name", "UTF-8"},
		{"category missing", func(t *Template) { t.Category = "" }, "category", `"marketing" or "utility"`},
		{"category unknown", func(t *Template) { t.Category = "promo" }, "category", `"marketing" or "utility"`},
		{"no locales", func(t *Template) { t.Locales = nil }, "locales", "at least one locale"},
		{"locale not a tag", func(t *Template) { t.Locales[1].Locale = "spanish" }, "locales[1].locale", "not a BCP 47 language tag"},
		{"locale empty", func(t *Template) { t.Locales[1].Locale = "" }, "locales[1].locale", "not a BCP 47"},
		{"locale undetermined", func(t *Template) { t.Locales[1].Locale = "und" }, "locales[1].locale", "not a BCP 47"},
		{"duplicate locale", func(t *Template) { t.Locales[1].Locale = "EN" }, "locales[1].locale", "en is already locales[0]"},
		{"no variants", func(t *Template) { t.Locales[1].Variants = nil }, "locales[1].variants", "at least one variant"},
		{"empty body", func(t *Template) { t.Locales[0].Variants[1].Body = "" }, "locales[0].variants[1].body", "must not be empty"},
		{"blank body", func(t *Template) { t.Locales[0].Variants[1].Body = " \n\t" }, "locales[0].variants[1].body", "must not be empty"},
		{"body not UTF-8", func(t *Template) { t.Locales[0].Variants[1].Body = "Hi \xff" }, "locales[0].variants[1].body", "UTF-8"},
		{"body too big", func(t *Template) { t.Locales[0].Variants[1].Body = strings.Repeat("{a|b}", MaxBodyBytes/5+1) }, "locales[0].variants[1].body", "at most 32768 bytes"},
		{"weight zero", func(t *Template) { t.Locales[0].Variants[1].Weight = 0 }, "locales[0].variants[1].weight", "greater than 0"},
		{"weight negative", func(t *Template) { t.Locales[0].Variants[1].Weight = -3 }, "locales[0].variants[1].weight", "greater than 0"},
		{"weight too big", func(t *Template) { t.Locales[0].Variants[1].Weight = MaxWeight + 1 }, "locales[0].variants[1].weight", "at most 1000000"},
		{"unclosed spintax", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola\n{amigo|amiga" }, "locales[1].variants[0].body", "spintax error on line 2, column 1: spintax group { is not closed"},
		{"stray brace", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola}" }, "locales[1].variants[0].body", "line 1, column 5: } has no matching {"},
		{"tag inside spintax", func(t *Template) { t.Locales[1].Variants[0].Body = "{a|{% if x %}b{% endif %}}" }, "locales[1].variants[0].body", "cannot be inside a spintax group"},
		{"liquid syntax error", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola\n{{ name | }}" }, "locales[1].variants[0].body", `Liquid error on line 2: syntax error in "name |"`},
		{"unclosed block", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola\n\n{% if name %}x" }, "locales[1].variants[0].body", `line 3: unterminated "if" block`},
		{"unknown tag", func(t *Template) { t.Locales[1].Variants[0].Body = "{% render 'x' %}" }, "locales[1].variants[0].body", `undefined tag "render"`},
		{"include", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola\n{% include 'footer' %}" }, "locales[1].variants[0].body", "line 2: the include tag is not allowed"},
		{"capture", func(t *Template) { t.Locales[1].Variants[0].Body = "{% capture x %}y{% endcapture %}" }, "locales[1].variants[0].body", "capture tag is not allowed"},
		{"unknown variable", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola {{ nmae }}" }, "locales[1].variants[0].body", `line 1: unknown variable "nmae" (did you mean "name"?); the variables are name, first_name`},
		{"unknown variable in a condition", func(t *Template) { t.Locales[1].Variants[0].Body = "{% if vip %}x{% endif %}" }, "locales[1].variants[0].body", `unknown variable "vip"`},
		{"unknown variable in a filter argument", func(t *Template) { t.Locales[1].Variants[0].Body = "{{ name | default: nickname }}" }, "locales[1].variants[0].body", `unknown variable "nickname"`},
		{"unknown variable in a spin", func(t *Template) { t.Locales[1].Variants[0].Body = "{Hola|Hi {{ frist_name }}}" }, "locales[1].variants[0].body", `unknown variable "frist_name" (did you mean "first_name"?)`},
		{"loop variable outside its loop", func(t *Template) { t.Locales[1].Variants[0].Body = "{% for t in tags %}{% endfor %}{{ t }}" }, "locales[1].variants[0].body", `unknown variable "t"`},
		{"unknown campaign field", func(t *Template) { t.Locales[1].Variants[0].Body = "{{ campaign.title }}" }, "locales[1].variants[0].body", `unknown variable "campaign.title"; the variables are`},
		{"unknown property", func(t *Template) { t.Locales[1].Variants[0].Body = "{{ name.middle }}" }, "locales[1].variants[0].body", `unknown variable "name.middle"; the variables are`},
		{"phone is not a variable", func(t *Template) { t.Locales[1].Variants[0].Body = "{{ phone }}" }, "locales[1].variants[0].body", `unknown variable "phone"`},
		{"unknown filter", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola\n\n{{ name | shout }}" }, "locales[1].variants[0].body", `line 3: unknown filter "shout"`},
		{"markup Liquid leaves as text", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola\n{{ name\n | upcase }}" }, "locales[1].variants[0].body", "line 2: Liquid could not read the markup"},
		{"number out of range", func(t *Template) { t.Locales[1].Variants[0].Body = "{{ 99999999999999999999 }}" }, "locales[1].variants[0].body", "Liquid error: Liquid could not read this template: the number 99999999999999999999 is out of range"},
		{"empty output markup", func(t *Template) { t.Locales[1].Variants[0].Body = "Hola {{}}" }, "locales[1].variants[0].body", "could not read the markup"},
		{"runaway loop", func(t *Template) { t.Locales[1].Variants[0].Body = "{% for i in (1..1000000000) %}{% endfor %}Hola" }, "locales[1].variants[0].body", "cannot be rendered within the limits"},
		{"too long", func(t *Template) { t.Locales[1].Variants[0].Body = longBody + "{a|" + strings.Repeat("b", 100) + "}" }, "locales[1].variants[0].body", "the longest version is 4142 characters with sample data, footer included; the limit is 4096"},
		{"too long with sample values", func(t *Template) {
			t.Locales[1].Variants[0].Body = longBody[:3900] + "{{ name }}{{ email }}{{ campaign.name }}"
		}, "locales[1].variants[0].body", "with sample data"},
		{"too long, many spins", func(t *Template) {
			t.Locales[1].Variants[0].Body = longBody[:3800] + strings.Repeat("{a|bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}", 10)
		}, "locales[1].variants[0].body", "the longest version is 4142 characters"},
		{"marketing footer without keyword", func(t *Template) { t.Locales[1].Footer = "Gracias" }, "locales[1].footer", "must tell the customer how to opt out"},
		{"marketing locale without default footer", func(t *Template) { t.Locales[1].Locale = "sr" }, "locales[1].footer", `no default opt-out footer for "sr"`},
		{"footer too long", func(t *Template) { t.Locales[1].Footer = "STOP " + strings.Repeat("x", 300) }, "locales[1].footer", "at most 300 characters"},
	}
	e := newEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := valid()
			tt.edit(&tpl)
			out, err := e.Normalize(context.Background(), tpl)
			require.Error(t, err)
			require.Equal(t, Template{}, out)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			fields := apperr.FieldsOf(err)
			require.Len(t, fields, 1, "%v", fields)
			require.Equal(t, tt.field, fields[0].Field)
			require.Contains(t, fields[0].Message, tt.wantSubstr)
		})
	}
}

func TestNormalizeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tpl := Template{Category: "x", Locales: []Locale{
		{Locale: "en", Variants: []Variant{{Body: "{{ a }}{{ b | nope }}", Weight: 0}}},
		{Locale: "bogus!", Variants: []Variant{{Body: "", Weight: 1}}},
	}}
	_, err := e.Normalize(context.Background(), tpl)
	var got []string
	for _, f := range apperr.FieldsOf(err) {
		got = append(got, f.Field)
	}
	require.Equal(t, []string{
		"name",
		"category",
		"locales[0].variants[0].weight",
		"locales[0].variants[0].body", // unknown variable a
		"locales[0].variants[0].body", // unknown filter nope
		"locales[0].variants[0].body", // unknown variable b
		"locales[1].locale",
		"locales[1].variants[0].body",
	}, got)
}

func TestNormalizeContext(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Normalize(ctx, valid())
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, apperr.FieldsOf(err), "the caller's cancellation is not a field error")
}

func TestNormalizeWithOptions(t *testing.T) {
	t.Parallel()
	e, err := New(Options{Footers: map[string]string{"sr": "Odgovorite STOP za odjavu."}, MaxLength: 60, Limits: Limits{Timeout: 30 * time.Second}})
	require.NoError(t, err)
	tpl := oneVariant(Marketing, "sr-Latn", "Zdravo {{ first_name }}!", "")
	out, err := e.Normalize(context.Background(), tpl)
	require.NoError(t, err)
	require.Equal(t, "Odgovorite STOP za odjavu.", out.Locales[0].Footer)

	tpl = oneVariant(Marketing, "sr", "Zdravo {{ name }}!", "")
	_, err = e.Normalize(context.Background(), tpl)
	require.ErrorContains(t, err, "the limit is 60", "the configured MaxLength applies")
}
