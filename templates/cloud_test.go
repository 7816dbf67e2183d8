package templates

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
)

// cloudSale is a marketing template bound to Meta's "spring_sale" in English, as the sync
// leaves it (the second parameter not mapped yet), with the first parameter mapped.
func cloudSale() Template {
	return Template{Name: "spring_sale", Category: Marketing, Locales: []Locale{{Locale: "en-US", Cloud: &CloudTemplate{
		Name: "spring_sale", Language: "en_US",
		Body:   "Hi {{1}}, the {spring} sale | {{2}} off! See C:\\{{1}}",
		Footer: "Reply STOP to opt out", OptOutButton: "Stop promotions",
		HeaderFormat: CloudHeaderImage,
		Params:       []string{"{{ first_name }}"},
	}}}}
}

func TestCloudPlaceholders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want []string
		err  string
	}{
		{"no placeholders", []string{}, ""},
		{"Hi {{1}}, {{2}} and {{1}} again", []string{"1", "2"}, ""},
		{"{{2}} before {{1}}", []string{"1", "2"}, ""},
		{"{{ 1 }} with spaces", []string{"1"}, ""},
		{"Hi {{first_name}}, {{order_id}} ships; bye {{first_name}}", []string{"first_name", "order_id"}, ""},
		{"{{1}} and {{3}}", nil, "without gaps"},
		{"{{1}} and {{name}}", nil, "mixes"},
		{"{{Name}} is not Meta's", []string{}, ""},
	} {
		got, err := CloudPlaceholders(tc.text)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.text)
			continue
		}
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.want, append([]string{}, got...), tc.text)
	}
}

func TestNormalizeCloudDerivesTheVariant(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	in := cloudSale()
	in.Locales[0].Variants = []Variant{{Body: "ignored: the binding decides", Weight: 5}}
	in.Locales[0].Footer = "ignored too"
	in.Locales[0].Cloud.HeaderLink = " https://cdn.example.com/spring.jpg "

	out, err := e.Normalize(ctx, in)
	require.NoError(t, err)
	l := out.Locales[0]
	require.Equal(t, []string{"{{ first_name }}", ""}, l.Cloud.Params, "padded to the placeholders")
	require.Equal(t, "https://cdn.example.com/spring.jpg", l.Cloud.HeaderLink)
	require.Equal(t, "Reply STOP to opt out", l.Footer, "the footer is Meta's")
	require.Equal(t, []Variant{{Weight: 1,
		Body: `Hi {{ first_name }}, the \{spring\} sale \| {% raw %}{{2}}{% endraw %} off! See C:{% raw %}\{% endraw %}{{ first_name }}`}},
		l.Variants, "Meta's text escaped, the mapped parameter's Liquid in place, the unmapped one visible")
	require.Equal(t, []string{"{{ first_name }}"}, in.Locales[0].Cloud.Params, "the input is not modified")

	again, err := e.Normalize(ctx, out)
	require.NoError(t, err)
	require.Equal(t, out, again, "normalising is idempotent")

	text, err := e.Render(ctx, out, out.Choose("en", 7, -1), ana)
	require.NoError(t, err)
	require.Equal(t, "Hi Ana, the {spring} sale | {{2}} off! See C:\\Ana\n\nReply STOP to opt out\n[Stop promotions]", text,
		"what Meta shows, with the opt-out button recorded")

	p, err := e.Preview(ctx, out, ana, 1)
	require.NoError(t, err)
	require.Equal(t, text, p.Variants[0].Samples[0].Text)
	require.Empty(t, p.Variants[0].Samples[0].Error)
}

func TestNormalizeCloudHeaderText(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	in := Template{Name: "order", Category: Utility, Locales: []Locale{{Locale: "de", Cloud: &CloudTemplate{
		Name: "order_ready", Language: "de", Body: "Ihre Bestellung {{1}} ist da.", HeaderFormat: CloudHeaderText,
		HeaderText: "Gute {Nachricht}", Params: []string{"{{ attributes.order }}"}}}}}
	out, err := e.Normalize(context.Background(), in)
	require.NoError(t, err, "a utility template needs no opt-out")
	text, err := e.Render(context.Background(), out, out.Choose("de", 1, -1), Data{Attributes: map[string]any{"order": "A-17"}})
	require.NoError(t, err)
	require.Equal(t, "Gute {Nachricht}\n\nIhre Bestellung A-17 ist da.", text)
}

func TestNormalizeCloudOptOut(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	for _, tc := range []struct {
		footer, button string
		ok             bool
	}{
		{"Reply STOP to opt out", "", true},
		{"", "Stop promotions", true},
		{"Antworten Sie STOP", "Mehr Angebote", true},
		{"", "", false},
		{"Not interested? Tell us.", "Learn more", false},
		{"Stopwatch deals", "", false},
	} {
		in := cloudSale()
		in.Locales[0].Cloud.Footer, in.Locales[0].Cloud.OptOutButton = tc.footer, tc.button
		_, err := e.Normalize(ctx, in)
		if tc.ok {
			require.NoError(t, err, "%+v", tc)
			continue
		}
		fields := apperr.FieldsOf(err)
		require.Len(t, fields, 1, "%+v", tc)
		require.Equal(t, "locales[0].cloud", fields[0].Field)
		require.Contains(t, fields[0].Message, "opt out")
		require.Contains(t, fields[0].Message, "Stop promotions")

		in.Category = Utility
		_, err = e.Normalize(ctx, in)
		require.NoError(t, err, "utility needs no opt-out: %+v", tc)
	}

	// A stored template whose binding lost its opt-out (edited in the database) still never
	// renders as marketing.
	in := cloudSale()
	out, err := e.Normalize(ctx, in)
	require.NoError(t, err)
	out.Locales[0].Cloud.Footer, out.Locales[0].Cloud.OptOutButton = "", ""
	_, err = e.Render(ctx, out, out.Choose("en", 1, -1), ana)
	require.ErrorIs(t, err, ErrFooter)
	_, _, err = e.RenderCloud(ctx, out, out.Choose("en", 1, -1), ana)
	require.ErrorIs(t, err, ErrFooter)
}

func TestNormalizeCloudRefuses(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	for _, tc := range []struct {
		name  string
		edit  func(l *Locale)
		field string
		msg   string
	}{
		{"no name", func(l *Locale) { l.Cloud.Name = " " }, "locales[0].cloud.name", "is required"},
		{"bad name", func(l *Locale) { l.Cloud.Name = "Spring Sale" }, "locales[0].cloud.name", "lowercase"},
		{"no language", func(l *Locale) { l.Cloud.Language = "" }, "locales[0].cloud.language", "is required"},
		{"bad language", func(l *Locale) { l.Cloud.Language = "english" }, "locales[0].cloud.language", "language code"},
		{"another language", func(l *Locale) { l.Cloud.Language = "de" }, "locales[0].cloud.language", "de is not the language of locale en-US"},
		{"no body", func(l *Locale) { l.Cloud.Body = "" }, "locales[0].cloud.body", "is required"},
		{"gaps", func(l *Locale) { l.Cloud.Body = "{{1}} {{3}}" }, "locales[0].cloud.body", "without gaps"},
		{"too many params", func(l *Locale) { l.Cloud.Params = []string{"a", "b", "c"} }, "locales[0].cloud.params", "has 3 parameters but the body has 2"},
		{"unknown variable", func(l *Locale) { l.Cloud.Params = []string{"{{ frist_name }}"} }, "locales[0].cloud.params[0]", "frist_name"},
		{"liquid syntax", func(l *Locale) { l.Cloud.Params = []string{"", "{% if %}"} }, "locales[0].cloud.params[1]", "Liquid error"},
		{"spintax", func(l *Locale) { l.Cloud.Params = []string{"{Hi|Hello}"} }, "locales[0].cloud.params[0]", "cannot use spintax"},
		{"backslash", func(l *Locale) { l.Cloud.Params = []string{`{{ name }}\`} }, "locales[0].cloud.params[0]", "backslash"},
		{"http link", func(l *Locale) { l.Cloud.HeaderLink = "http://cdn.example.com/a.jpg" }, "locales[0].cloud.header_link", "https URL"},
		{"link without media", func(l *Locale) {
			l.Cloud.HeaderFormat, l.Cloud.HeaderLink = CloudHeaderNone, "https://cdn.example.com/a.jpg"
		}, "locales[0].cloud.header_link", "only for an IMAGE"},
		{"header format", func(l *Locale) { l.Cloud.HeaderFormat = "LOCATION" }, "locales[0].cloud.header_format", "TEXT, IMAGE"},
		{"header parameter", func(l *Locale) {
			l.Cloud.HeaderFormat, l.Cloud.HeaderText = CloudHeaderText, "Hi {{1}}"
		}, "locales[0].cloud.header_text", "parameter"},
		{"too long", func(l *Locale) {
			l.Cloud.Params = []string{"{% for i in (1..400) %}{{ name }}{% endfor %}"}
		}, "locales[0].cloud.body", "with its parameters"},
	} {
		in := cloudSale()
		tc.edit(&in.Locales[0])
		_, err := e.Normalize(context.Background(), in)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), tc.name)
		fields := apperr.FieldsOf(err)
		require.NotEmpty(t, fields, tc.name)
		require.Equal(t, tc.field, fields[0].Field, "%s: %v", tc.name, fields)
		require.Contains(t, fields[0].Message, tc.msg, tc.name)
	}
}

func TestRenderCloud(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	in := cloudSale()
	in.Locales[0].Cloud.Params = []string{"{{ first_name }}", "{{ attributes.discount }}"}
	in.Locales[0].Cloud.HeaderLink = "https://cdn.example.com/spring.jpg"
	in.Locales = append(in.Locales, Locale{Locale: "es", Variants: []Variant{{Body: "Hola", Weight: 1}}})
	tpl, err := e.Normalize(ctx, in)
	require.NoError(t, err)
	choice := tpl.Choose("en-GB", 3, -1)

	d := ana
	d.Attributes = map[string]any{"discount": " 20%\n\toff  today "}
	m, ok, err := e.RenderCloud(ctx, tpl, choice, d)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, CloudMessage{Name: "spring_sale", Language: "en_US", Params: []string{"Ana", "20% off today"},
		HeaderKind: "image", HeaderLink: "https://cdn.example.com/spring.jpg"}, m,
		"white space collapsed: Meta refuses new lines and tabs in a parameter")

	_, ok, err = e.RenderCloud(ctx, tpl, tpl.Choose("es", 3, -1), d)
	require.NoError(t, err)
	require.False(t, ok, "a locale without a binding sends text")

	d.Attributes = nil
	_, ok, err = e.RenderCloud(ctx, tpl, choice, d)
	require.True(t, ok)
	require.ErrorIs(t, err, ErrParam)
	require.ErrorContains(t, err, "parameter {{2}}")
	require.ErrorContains(t, err, "attributes.discount")

	tpl.Locales[0].Cloud.Params[1] = " "
	_, _, err = e.RenderCloud(ctx, tpl, choice, d)
	require.ErrorIs(t, err, ErrParam)
	require.ErrorContains(t, err, "{{2}} of \"spring_sale\" is not mapped")

	tpl.Locales[0].Cloud.Params[1] = "{{ name | split: }}"
	_, _, err = e.RenderCloud(ctx, tpl, choice, d)
	require.ErrorIs(t, err, ErrRender)

	tpl.Locales[0].Cloud.Params[1] = "x"
	tpl.Locales[0].Cloud.HeaderLink = ""
	_, _, err = e.RenderCloud(ctx, tpl, choice, d)
	require.ErrorIs(t, err, ErrParam)
	require.ErrorContains(t, err, "IMAGE header")

	_, _, err = e.RenderCloud(ctx, tpl, Choice{Locale: "fr"}, d)
	require.ErrorIs(t, err, ErrChoice)
}

func TestRenderCloudNamed(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	tpl, err := e.Normalize(ctx, Template{Name: "n", Category: Utility, Locales: []Locale{{Locale: "pt-BR", Cloud: &CloudTemplate{
		Name: "pedido", Language: "pt_BR", Body: "Olá {{first_name}}, pedido {{order_id}}. Até logo, {{first_name}}!",
		Params: []string{"{{ first_name }}", "{{ attributes.order_id }}"}}}}})
	require.NoError(t, err)
	d := Data{Name: "João Silva", Attributes: map[string]any{"order_id": 1234}}
	m, ok, err := e.RenderCloud(ctx, tpl, tpl.Choose("pt-BR", 1, -1), d)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []string{"João", "1234"}, m.Params)
	require.Equal(t, []string{"first_name", "order_id"}, m.ParamNames, "Meta wants the names with named parameters")
	text, err := e.Render(ctx, tpl, tpl.Choose("pt-BR", 1, -1), d)
	require.NoError(t, err)
	require.Equal(t, "Olá João, pedido 1234. Até logo, João!", text)
}

func TestCloudUnfilled(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tpl, err := e.Normalize(context.Background(), cloudSale())
	require.NoError(t, err)
	require.Equal(t, []string{"parameter {{2}} is not mapped to a value", "the IMAGE header has no link"}, tpl.Locales[0].Cloud.Unfilled())
	tpl.Locales[0].Cloud.Params[1] = "{{ name }}"
	tpl.Locales[0].Cloud.HeaderLink = "https://cdn.example.com/a.jpg"
	require.Empty(t, tpl.Locales[0].Cloud.Unfilled())
}

func TestOptOutButton(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	require.Equal(t, "Stop promotions", e.OptOutButton([]string{"Shop now", " Stop promotions "}))
	require.Empty(t, e.OptOutButton([]string{"Shop now", "Stopwatch"}))
	require.True(t, strings.HasPrefix(e.cloudFooter(&CloudTemplate{OptOutButton: "Stop"}), "[Stop]"))
}

// FuzzCloudBody: whatever text Meta approved, a saved binding renders Meta's words exactly,
// with each mapped placeholder's value in place and the others left visible: no brace,
// bar, backslash or Liquid markup in Meta's text is read as spintax or Liquid.
func FuzzCloudBody(f *testing.F) {
	for _, s := range []string{"Hi {{1}}!", "{a|b} {{ 1 }} } { |", `C:\{{1}}\`, "{% raw %}{{1}}", "{{x}} and {{y}} {{x}}", "{{1}}{{2}}{{3}}"} {
		f.Add(s, "Reply STOP")
	}
	e := fuzzEngine(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body, footer string) {
		in := Template{Name: "f", Category: Utility, Locales: []Locale{{Locale: "en", Cloud: &CloudTemplate{
			Name: "f", Language: "en", Body: body, Footer: footer, Params: []string{"{{ name }}"}}}}}
		out, err := e.Normalize(ctx, in)
		if err != nil {
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
			return
		}
		names, err := CloudPlaceholders(body)
		require.NoError(t, err)
		want := body
		if len(names) > 0 {
			// The first placeholder is mapped to the name; the others stay as Meta wrote them.
			want = cloudPlaceholder.ReplaceAllStringFunc(body, func(ph string) string {
				name := cloudPlaceholder.FindStringSubmatch(ph)[1]
				if n, err := strconv.Atoi(name); err == nil {
					name = strconv.Itoa(n)
				}
				if name == names[0] {
					return "Zoë"
				}
				return ph
			})
		}
		want = strings.TrimSpace(want)
		if f := strings.TrimSpace(footer); f != "" {
			want += "\n\n" + f
		}
		text, err := e.Render(ctx, out, out.Choose("en", 1, -1), Data{Name: "Zoë"})
		if errors.Is(err, ErrEmpty) && strings.TrimSpace(strings.ReplaceAll(want, "Zoë", "")) == "" {
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, text)
	})
}
