package templates

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/stretchr/testify/require"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; go test runs them as ordinary tests.
// Explore further with, for example:
//
//	go test ./templates/ -run '^$' -fuzz FuzzRender -fuzztime 60s

// fuzzEngine has limits that stop on steps long before time, so that results do not depend on
// how busy the machine is.
func fuzzEngine(t testing.TB) *Engine {
	e, err := New(Options{Limits: Limits{MaxSteps: 2000, Timeout: 5 * time.Second}})
	require.NoError(t, err)
	return e
}

func FuzzParseSpin(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string, seed uint64) {
		s, err := ParseSpin(body)
		if err != nil {
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			require.GreaterOrEqual(t, se.Line, 1)
			require.GreaterOrEqual(t, se.Column, 1)
			return
		}
		text := s.Resolve(seed)
		require.Equal(t, text, s.Resolve(seed), "deterministic")
		require.GreaterOrEqual(t, s.Count(), uint64(1))
		require.LessOrEqual(t, utf8.RuneCountInString(text), utf8.RuneCountInString(s.Longest()), "Longest is the longest")
		if s.Count() <= 64 {
			require.Contains(t, s.All(64), text, "every spin is enumerated")
		}
		require.Equal(t, strings.Count(body, "\n"), strings.Count(s.flatten(), "\n"), "flatten keeps the lines")
	})
}

func FuzzNormalize(f *testing.F) {
	e := fuzzEngine(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name, category, locale, body, footer string, weight int) {
		in := Template{Name: name, Category: Category(category), Locales: []Locale{
			{Locale: locale, Variants: []Variant{{Body: body, Weight: weight}}, Footer: footer},
		}}
		out, err := e.Normalize(ctx, in)
		if err != nil {
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
			fields := apperr.FieldsOf(err)
			require.NotEmpty(t, fields)
			for _, fe := range fields {
				require.NotEmpty(t, fe.Message)
				require.True(t, fe.Field == "name" || fe.Field == "category" || fe.Field == "locales" ||
					strings.HasPrefix(fe.Field, "locales[0]."), "field %q", fe.Field)
			}
			return
		}
		again, err := e.Normalize(ctx, out)
		require.NoError(t, err, "a normalised template stays valid")
		require.Equal(t, out, again, "normalising is idempotent")
		if out.Category == Marketing {
			require.True(t, e.footers.hasKeyword(out.Locales[0].Footer), "a saved marketing template has an opt-out footer")
		}
		text, err := e.Render(ctx, out, out.Choose(locale, 1, -1), sampleData(nil))
		if err == nil {
			require.LessOrEqual(t, Length(text), DefaultMaxLength)
		}
	})
}

func FuzzRender(f *testing.F) {
	e := fuzzEngine(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body, name, attribute string, seed uint64) {
		tpl := oneVariant(Marketing, "en", body, "")
		data := Data{Name: name, Tags: []string{name, attribute}, Attributes: map[string]any{"x": attribute}}
		choice := Choice{Locale: "en", Seed: seed}
		text, err := e.Render(ctx, tpl, choice, data)
		if err != nil {
			require.True(t, errors.Is(err, ErrRender) || errors.Is(err, ErrLimit) || errors.Is(err, ErrEmpty) || errors.Is(err, ErrTooLong), "%v", err)
			require.NotContains(t, err.Error(), "goroutine ", "no stack traces")
			return
		}
		require.LessOrEqual(t, Length(text), DefaultMaxLength)
		require.True(t, strings.HasSuffix(text, "\n\nReply STOP to unsubscribe."), "marketing ends with the opt-out line")
		again, err := e.Render(ctx, tpl, choice, data)
		require.NoError(t, err)
		require.Equal(t, text, again, "the same delivery renders the same text")

		// The raw Liquid output, before trimming and the length check, is bounded too.
		spin, err := ParseSpin(body)
		require.NoError(t, err)
		out, err := e.sandbox.execute(ctx, spin.Resolve(seed), data.vars())
		require.NoError(t, err)
		require.LessOrEqual(t, len(out), e.sandbox.limits.MaxOutputBytes)
	})
}
