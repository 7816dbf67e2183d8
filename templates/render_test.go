package templates

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newEngine returns an Engine with the default options but a timeout long enough that no
// test depends on the speed of the machine (the timeout has tests of its own).
func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(Options{Limits: Limits{Timeout: 30 * time.Second}})
	require.NoError(t, err)
	return e
}

// oneVariant returns a template with a single locale and variant.
func oneVariant(category Category, locale, body, footer string) Template {
	return Template{Name: "t", Category: category, Locales: []Locale{
		{Locale: locale, Variants: []Variant{{Body: body, Weight: 1}}, Footer: footer},
	}}
}

var ana = Data{
	Name:       "Ana María López",
	Email:      "ana@example.com",
	Locale:     "es-MX",
	Country:    "MX",
	Timezone:   "America/Mexico_City",
	Tags:       []string{"vip", "newsletter"},
	Attributes: map[string]any{"plan": "gold", "points": 120.0},
	Campaign:   Campaign{Name: "Summer sale"},
}

func TestRenderVariables(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tests := []struct {
		name string
		body string
		data Data
		want string
	}{
		{"name", "Hi {{ name }}", ana, "Hi Ana María López"},
		{"derived first name", "Hi {{ first_name }}", ana, "Hi Ana"},
		{"given first name", "Hi {{ first_name }}", Data{Name: "Ana López", FirstName: "Anita"}, "Hi Anita"},
		{"name without spaces", "Hi {{ first_name }}", Data{Name: "王小明"}, "Hi 王小明"},
		{"contact fields", "{{ email }} {{ locale }} {{ country }} {{ timezone }}", ana, "ana@example.com es-MX MX America/Mexico_City"},
		{"tags", "{{ tags | join: ', ' }} ({{ tags.size }})", ana, "vip, newsletter (2)"},
		{"tag loop", "{% for t in tags %}[{{ t }}]{% endfor %}", ana, "[vip][newsletter]"},
		{"attributes", "{{ attributes.plan | upcase }} {{ attributes['plan'] }} {{ attributes.points | plus: 5 }}", ana, "GOLD gold 125"},
		{"missing attribute is empty", "Plan: {{ attributes.nothing }}.", ana, "Plan: ."},
		{"campaign", "{{ campaign.name }}", ana, "Summer sale"},
		{"default filter", "Hi {{ first_name | default: 'there' }}", Data{}, "Hi there"},
		{"conditions", "{% if tags contains 'vip' %}VIP {% endif %}{% unless attributes.plan == 'gold' %}no{% endunless %}ok", ana, "VIP ok"},
		{"assign", "{% assign greeting = 'Hola' %}{{ greeting }} {{ first_name }}", ana, "Hola Ana"},
		{"surrounding white space is trimmed", "\n  Hi {{ first_name }}  \n", ana, "Hi Ana"},
		{"escaped braces", `\{{{ first_name }}\}`, ana, "{Ana}"},
		{"phone is not a variable", "[{{ phone }}]", Data{Name: "x"}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := oneVariant(Utility, "en", tt.body, "")
			got, err := e.Render(context.Background(), tpl, Choice{Locale: "en"}, tt.data)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRenderFooter(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()

	got, err := e.Render(ctx, oneVariant(Marketing, "en", "Sale!", "Text STOP to leave."), Choice{Locale: "en"}, ana)
	require.NoError(t, err)
	require.Equal(t, "Sale!\n\nText STOP to leave.", got)

	got, err = e.Render(ctx, oneVariant(Marketing, "es", "¡Oferta!", ""), Choice{Locale: "es"}, ana)
	require.NoError(t, err)
	require.Equal(t, "¡Oferta!\n\nResponde STOP o BAJA para darte de baja.", got, "an unsaved marketing template still gets the default")

	got, err = e.Render(ctx, oneVariant(Utility, "en", "Your order shipped.", ""), Choice{Locale: "en"}, ana)
	require.NoError(t, err)
	require.Equal(t, "Your order shipped.", got, "utility templates may have no footer")

	_, err = e.Render(ctx, oneVariant(Marketing, "sr", "Sale!", ""), Choice{Locale: "sr"}, ana)
	require.ErrorIs(t, err, ErrFooter, "no marketing message without an opt-out line")

	_, err = e.Render(ctx, oneVariant(Marketing, "en", "Sale!", "Bye"), Choice{Locale: "en"}, ana)
	require.ErrorIs(t, err, ErrFooter)
}

func TestRenderSpinsAreDeterministic(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tpl := oneVariant(Utility, "en", "{Hi {{ first_name }}|Hello {{ first_name }}|Hey}, {your order|the parcel} {is on its way|has shipped}.", "")
	texts := map[string]bool{}
	for seed := range uint64(200) {
		c := Choice{Locale: "en", Seed: seed}
		first, err := e.Render(context.Background(), tpl, c, ana)
		require.NoError(t, err)
		again, err := e.Render(context.Background(), tpl, c, ana)
		require.NoError(t, err)
		require.Equal(t, first, again, "a retried send renders the same text")
		texts[first] = true
	}
	require.Len(t, texts, 12, "200 seeds reach all 12 spins")
	require.True(t, texts["Hi Ana, your order is on its way."])
	require.True(t, texts["Hey, the parcel has shipped."])
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	e, err := New(Options{MaxLength: 20, Limits: Limits{Timeout: 30 * time.Second}})
	require.NoError(t, err)
	ctx := context.Background()
	tpl := Template{Category: Utility, Locales: []Locale{
		{Locale: "en", Variants: []Variant{{Body: "Hi {{ name }}", Weight: 1}, {Body: "{% if false %}x{% endif %}  ", Weight: 1}}},
		{Locale: "fr", Variants: []Variant{{Body: "{{ 'abc' | plus: 1 }}", Weight: 1}, {Body: "{a|b", Weight: 1}}},
	}}
	tests := []struct {
		name   string
		choice Choice
		data   Data
		want   error
	}{
		{"unknown locale", Choice{Locale: "de"}, ana, ErrChoice},
		{"variant out of range", Choice{Locale: "en", Variant: 2}, ana, ErrChoice},
		{"negative variant", Choice{Locale: "en", Variant: -1}, ana, ErrChoice},
		{"too long", Choice{Locale: "en"}, Data{Name: strings.Repeat("x", 30)}, ErrTooLong},
		{"empty", Choice{Locale: "en", Variant: 1}, ana, ErrEmpty},
		{"liquid error at run time", Choice{Locale: "fr"}, ana, ErrRender},
		{"spintax error in an unsaved template", Choice{Locale: "fr", Variant: 1}, ana, ErrRender},
	}
	for _, tt := range tests {
		_, err := e.Render(ctx, tpl, tt.choice, tt.data)
		require.ErrorIs(t, err, tt.want, tt.name)
	}
	_, err = e.Render(ctx, tpl, Choice{Locale: "fr"}, ana)
	require.ErrorContains(t, err, "line 1: can't convert", "run-time errors say where")
}

func TestLength(t *testing.T) {
	t.Parallel()
	require.Equal(t, 5, Length("hello"))
	require.Equal(t, 5, Length("héllo"), "characters, not bytes")
	require.Equal(t, 2, Length("退订"))
	require.Equal(t, 2, Length("😀"), "beyond U+FFFF counts as two UTF-16 units")
	require.Equal(t, 0, Length(""))
}

func TestRenderConcurrently(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tpl := oneVariant(Marketing, "en", "{Hi|Hello} {{ first_name }}{% for t in tags %} #{{ t }}{% endfor %}", "")
	want := make([]string, 8)
	for i := range want {
		text, err := e.Render(context.Background(), tpl, Choice{Locale: "en", Seed: uint64(i)}, ana)
		require.NoError(t, err)
		want[i] = text
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for i := range want {
				text, err := e.Render(context.Background(), tpl, Choice{Locale: "en", Seed: uint64(i)}, ana)
				if err != nil || text != want[i] {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
		require.Fail(t, "a concurrent render differs")
	}
}

// BenchmarkRender renders one message the way a worker does: a variant with spintax, so that
// the Liquid source is one of a few bodies repeated across deliveries.
func BenchmarkRender(b *testing.B) {
	e, err := New(Options{})
	require.NoError(b, err)
	tpl := oneVariant(Marketing, "en", "{Hi|Hello|Hey} {{ first_name }}, {our|the} summer sale ends on Sunday."+
		"{% if attributes.plan == 'gold' %} As a gold member you have {{ attributes.points }} points to spend.{% endif %}"+
		"{% for t in tags %} #{{ t | upcase }}{% endfor %}", "")
	ctx := context.Background()
	var seed uint64
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Render(ctx, tpl, Choice{Locale: "en", Seed: seed}, ana); err != nil {
			b.Fatal(err)
		}
		seed++
	}
}
