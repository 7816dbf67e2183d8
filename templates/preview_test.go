package templates

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPreview(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tpl, err := e.Normalize(context.Background(), valid())
	require.NoError(t, err)

	p, err := e.Preview(context.Background(), tpl, Data{Name: "Ana López", Locale: "en-GB", Campaign: Campaign{Name: "summer sale"}}, 4)
	require.NoError(t, err)
	require.Equal(t, "en", p.Locale)
	require.Len(t, p.Variants, 2)

	v := p.Variants[0]
	require.Equal(t, 0, v.Variant)
	require.Equal(t, 3, v.Weight)
	require.Equal(t, uint64(2), v.Spins)
	require.Equal(t, []string{"campaign.name", "first_name"}, v.Variables)
	require.Len(t, v.Samples, 4)
	for i, s := range v.Samples {
		require.Equal(t, uint64(i), s.Seed)
		require.Empty(t, s.Error)
		require.Contains(t, []string{
			"Hi Ana, the summer sale is on!\n\nReply STOP to unsubscribe.",
			"Hello Ana, the summer sale is on!\n\nReply STOP to unsubscribe.",
		}, s.Text)
		require.Equal(t, Length(s.Text), s.Length)
		text, err := e.Render(context.Background(), tpl, Choice{Locale: "en", Variant: 0, Seed: s.Seed}, Data{Name: "Ana López", Campaign: Campaign{Name: "summer sale"}})
		require.NoError(t, err)
		require.Equal(t, text, s.Text, "the preview of a seed is what that seed sends")
	}
	require.Equal(t, []string{"attributes.plan", "first_name"}, p.Variants[1].Variables)

	p, err = e.Preview(context.Background(), tpl, Data{Name: "Ana", Locale: "es-AR"}, 0)
	require.NoError(t, err)
	require.Equal(t, "es", p.Locale, "the locale follows the data")
	require.Len(t, p.Variants[0].Samples, DefaultPreviewSpins)
	require.Equal(t, "¡Hola Ana!\n\nResponde STOP o BAJA para darte de baja.", p.Variants[0].Samples[0].Text)

	p, err = e.Preview(context.Background(), tpl, Data{}, 1000)
	require.NoError(t, err)
	require.Len(t, p.Variants[0].Samples, MaxPreviewSpins)
}

func TestPreviewReportsPerSample(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tpl := Template{Category: Marketing, Locales: []Locale{{Locale: "en", Variants: []Variant{
		{Body: "Hi {{ name }}", Weight: 1},
		{Body: "{{ attributes.day | date: '%A' }}", Weight: 1},
		{Body: "{oops", Weight: 1},
	}}}}
	p, err := e.Preview(context.Background(), tpl, Data{Name: strings.Repeat("x", 5000), Attributes: map[string]any{"day": "not a date"}}, 2)
	require.NoError(t, err)
	require.Contains(t, p.Variants[0].Samples[0].Error, "too long", "data that makes the message too long")
	require.Equal(t, Length(p.Variants[0].Samples[0].Text), p.Variants[0].Samples[0].Length)
	require.Contains(t, p.Variants[1].Samples[0].Error, "could not be rendered", "a run-time error with this data")
	require.Equal(t, []string{"attributes.day"}, p.Variants[1].Variables)
	require.Contains(t, p.Variants[2].Samples[1].Error, "spintax", "an invalid body")

	_, err = e.Preview(context.Background(), Template{}, Data{}, 1)
	require.ErrorIs(t, err, ErrChoice)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.Preview(ctx, tpl, Data{}, 1)
	require.ErrorIs(t, err, context.Canceled)
}
