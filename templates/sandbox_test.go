package templates

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osteele/liquid"
	"github.com/stretchr/testify/require"
)

func newTestSandbox(limits Limits) *sandbox {
	return newSandbox(limits.withDefaults())
}

func TestSandboxStopsRunaways(t *testing.T) {
	t.Parallel()
	// The step limit, not the clock, must stop these, even on a slow machine under -race.
	noClock := Limits{Timeout: time.Hour}
	doubling := `{% assign s = "ab" %}` + strings.Repeat(`{% assign s = s | append: s %}`, 40) + `{{ s | size }}`
	tests := []struct {
		name   string
		src    string
		limits Limits
		want   string
	}{
		{"huge empty loop", "{% for i in (1..1000000000) %}{% endfor %}", noClock, "more than 20000 steps"},
		{"nested loops over a big range", "{% for i in (1..100000) %}{% for j in (1..100000) %}{% endfor %}{% endfor %}", noClock, "more than 20000 steps"},
		{"loop that writes", "{% for i in (1..1000000000) %}{{ i }}{% endfor %}", noClock, "output is longer than 16384 bytes"},
		{"loop over the data, nested", strings.Repeat("{% for t in tags %}", 12) + "x" + strings.Repeat("{% endfor %}", 12), Limits{MaxOutputBytes: 1 << 30, Timeout: time.Hour}, "steps"},
		{"loop inside if", "{% if true %}{% unless false %}{% for i in (1..1000000000) %}{% endfor %}{% endunless %}{% endif %}", noClock, "steps"},
		{"loop inside case", "{% case 1 %}{% when 1 %}{% for i in (1..1000000000) %}{% endfor %}{% endcase %}", noClock, "steps"},
		{"loop inside a loop's else", "{% for i in (1..0) %}{% else %}{% for i in (1..1000000000) %}{% endfor %}{% endfor %}", noClock, "steps"},
		{"loop with break never reached", "{% for i in (1..1000000000) %}{% if i == 0 %}{% break %}{% endif %}{% endfor %}", noClock, "steps"},
		{"slow loop hits the timeout", "{% for i in (1..1000000000) %}{% endfor %}", Limits{MaxSteps: 1 << 40, Timeout: 20 * time.Millisecond}, "took longer than 20ms"},
		{"output cap", strings.Repeat("0123456789", 11), Limits{MaxOutputBytes: 100}, "output is longer than 100 bytes"},
		{"string doubling", doubling, Limits{}, "value is longer than 16384 bytes"},
		{"replace blow-up is refused before it is built", `{% assign s = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" | append: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" %}{% assign s = s | replace: "a", s %}{% assign s = s | replace: "a", s %}`, Limits{}, "replace would make a value longer"},
		{"join blow-up", `{% assign sep = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" %}{{ (1..900) | join: sep }}`, Limits{}, "join would make a value longer"},
		{"a range is not turned into a huge list", "{{ (1..1000000000) | join }}", Limits{}, "more than 1000 items"},
		{"split into too many items", `{% assign s = "` + strings.Repeat("a,", 1001) + `" | split: "," %}`, Limits{}, "more than 1000 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSandbox(tt.limits)
			start := time.Now()
			_, err := s.execute(context.Background(), tt.src, Data{Tags: []string{"a", "b", "c", "d", "e", "f"}}.vars())
			require.ErrorIs(t, err, ErrLimit)
			require.ErrorContains(t, err, tt.want)
			require.Less(t, time.Since(start), 10*time.Second, "stopped in bounded time")
		})
	}
}

func TestSandboxCallerCancellation(t *testing.T) {
	t.Parallel()
	s := newTestSandbox(Limits{MaxSteps: 1 << 40, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.execute(ctx, "{% for i in (1..1000000000) %}{% endfor %}", nil)
	require.ErrorIs(t, err, context.Canceled, "the caller's cancellation is not a template error")
	require.NotErrorIs(t, err, ErrLimit)

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = s.execute(ctx, "{% for i in (1..1000000000) %}{% endfor %}", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestSandboxHasNoFileAccess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.liquid")
	require.NoError(t, os.WriteFile(secret, []byte("TOP-SECRET"), 0o600))

	// The library itself would read the file (relative to the working directory, here): the
	// sandbox must not.
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, secret)
	require.NoError(t, err)
	plain, serr := liquid.NewEngine().ParseAndRenderString(`{% include "`+rel+`" %}`, nil)
	require.Nil(t, serr)
	require.Equal(t, "TOP-SECRET", plain, "osteele/liquid's include reads files")

	s := newTestSandbox(Limits{})
	for _, src := range []string{
		`{% include "` + rel + `" %}`,
		`{% include "` + secret + `" %}`,
		`{%- include "` + secret + `" -%}`,
		`{% if true %}{% include "` + secret + `" %}{% endif %}`,
		`{% assign p = "` + rel + `" %}{% include p %}`,
	} {
		out, err := s.execute(context.Background(), src, nil)
		require.ErrorContains(t, err, "include tag is not allowed", src)
		require.NotContains(t, out, "TOP-SECRET")
	}
	// There is no render tag to read files either.
	_, err = s.execute(context.Background(), `{% render "`+rel+`" %}`, nil)
	require.ErrorContains(t, err, `undefined tag "render"`)

	// Even a tree that skipped the check cannot read: the include tag itself is replaced.
	tpl, serr := s.engine.ParseString(`{% include "` + rel + `" %}`)
	require.Nil(t, serr)
	out, rerr := tpl.Render(nil)
	require.Error(t, rerr)
	require.NotContains(t, string(out), "TOP-SECRET")
}

func TestSandboxRecoversLibraryPanics(t *testing.T) {
	t.Parallel()
	s := newTestSandbox(Limits{})
	for _, src := range []string{
		"{{ 99999999999999999999 }}",               // panics while parsing
		"{{ 'abc' | truncate: 100000 }}",           // panics compiling a regexp
		"{{ (5..1) | join }}",                      // panics making a slice
		"{{ tags | uniq }}{{ nil | sort | uniq }}", // nil items
	} {
		require.NotPanics(t, func() {
			_, err := s.execute(context.Background(), src, map[string]any{"tags": []any{nil, nil}})
			if err != nil {
				require.ErrorIs(t, err, ErrRender, src)
				require.NotContains(t, err.Error(), "goroutine", "no stack traces in messages")
			}
		}, src)
	}
}

func TestSandboxRefusesCapture(t *testing.T) {
	t.Parallel()
	s := newTestSandbox(Limits{})
	_, err := s.execute(context.Background(), "{% capture x %}{{ name }}{% endcapture %}{{ x }}", nil)
	require.ErrorContains(t, err, "capture tag is not allowed")
}

// The guards must not change what a template renders.
func TestSandboxKeepsLiquidSemantics(t *testing.T) {
	t.Parallel()
	s := newTestSandbox(Limits{})
	plain := liquid.NewEngine()
	vars := map[string]any{"tags": []string{"a", "b", "c"}, "name": "  Ana  "}
	for _, src := range []string{
		"{%- for t in tags -%}  [{{ t }}]  {%- endfor -%}  !",
		"{% for t in tags %}{% if t == 'b' %}{% continue %}{% endif %}{{ t }}{% endfor %}",
		"{% for t in tags %}{% if t == 'b' %}{% break %}{% endif %}{{ t }}{% endfor %}",
		"{% for t in tags reversed limit: 2 %}{{ forloop.index }}{{ t }}{% endfor %}",
		"{% for t in empty %}x{% else %}none{% endfor %}",
		"{% for t in tags %}{% cycle 'x', 'y' %}{% endfor %}",
		"{% case name %}{% when 'x' %}x{% else %}other{% endcase %}",
		"a {{- name -}} b",
		"{% tablerow t in tags cols: 2 %}{{ t }}{% endtablerow %}",
		"{% raw %}{{ name }}{% endraw %}",
		"{% comment %}{{ name }}{% endcomment %}ok",
	} {
		want, serr := plain.ParseAndRenderString(src, vars)
		require.Nil(t, serr, src)
		got, err := s.execute(context.Background(), src, vars)
		require.NoError(t, err, src)
		require.Equal(t, want, got, src)
	}
}

func TestSandboxLimitsDefaults(t *testing.T) {
	t.Parallel()
	l := Limits{}.withDefaults()
	require.Equal(t, Limits{MaxOutputBytes: 16384, MaxSteps: 20000, MaxItems: 1000, Timeout: 250 * time.Millisecond}, l)
	require.Equal(t, 5, Limits{MaxSteps: 5}.withDefaults().MaxSteps)
	_, err := New(Options{Limits: Limits{Timeout: -1}})
	require.Error(t, err)
	_, err = New(Options{MaxLength: -1})
	require.Error(t, err)
}
