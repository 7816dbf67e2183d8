package templates

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
		// cycle is the sandbox's own (see cycleTag)
		"{% for t in tags %}{% if true %}{% cycle 'x', 'y' %}{% endif %}{% cycle 'g': 'p', 'q' %}{% cycle 'g': 'p', 'q' %}{% endfor %}",
		"{% for t in tags %}{% for u in tags %}{% cycle 'x', 'y', 'z' %}{% endfor %}|{%- cycle 'a', 'b' -%} {% endfor %}",
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
	_, err := s.execute(context.Background(), "{% cycle 'x', 'y' %}", nil)
	require.ErrorIs(t, err, ErrRender)
	require.ErrorContains(t, err, "cycle must be within a forloop")
	_, err = s.execute(context.Background(), "{% assign forloop = 1 %}{% cycle 'x', 'y' %}", nil)
	require.ErrorContains(t, err, "cycle must be within a forloop")
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

func TestSandboxCompilesASourceOnce(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tpl := oneVariant(Utility, "en", "Hi {{ first_name }}{% for t in tags %} #{{ t }}{% endfor %}", "")
	for range 100 {
		text, err := e.Render(context.Background(), tpl, Choice{Locale: "en"}, ana)
		require.NoError(t, err)
		require.Equal(t, "Hi Ana #vip #newsletter", text)
	}
	require.EqualValues(t, 1, e.sandbox.compiles.Load(), "one parse for 100 renders of one source")

	// A source that does not compile is not parsed again either, and fails the same way.
	for range 100 {
		_, err := e.sandbox.execute(context.Background(), "Hi {{ name | }}", nil)
		require.ErrorIs(t, err, ErrRender)
		require.ErrorContains(t, err, `syntax error in "name |"`)
		var se *SyntaxError
		require.ErrorAs(t, err, &se)
	}
	require.EqualValues(t, 2, e.sandbox.compiles.Load())
}

// Limits are per render: renders of one cached template do not share a budget, and a render
// stopped by a limit, a panic or the caller leaves the template as it was.
func TestSandboxLimitsApplyToEachRenderOfACachedTemplate(t *testing.T) {
	t.Parallel()
	s := newTestSandbox(Limits{MaxSteps: 50, MaxOutputBytes: 30, Timeout: time.Hour})
	// Two guards an iteration (before and after the output) and two around the loop.
	const src = "{% for i in (1..n) %}{{ w }}{% endfor %}"
	render := func(ctx context.Context, n int, w string) (string, error) {
		return s.execute(ctx, src, map[string]any{"n": n, "w": w})
	}
	for range 20 { // 42 steps each, 840 in all
		out, err := render(context.Background(), 20, "")
		require.NoError(t, err, "the step budget does not carry over from earlier renders")
		require.Empty(t, out)
	}
	_, err := render(context.Background(), 30, "") // 62 steps
	require.ErrorIs(t, err, ErrLimit)
	require.ErrorContains(t, err, "more than 50 steps")
	_, err = render(context.Background(), 20, "xx") // 40 bytes
	require.ErrorIs(t, err, ErrLimit)
	require.ErrorContains(t, err, "output is longer than 30 bytes")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = render(ctx, 20, "")
	require.ErrorIs(t, err, context.Canceled)
	out, err := render(context.Background(), 10, "x")
	require.NoError(t, err, "a stopped render leaves nothing behind")
	require.Equal(t, "xxxxxxxxxx", out)

	// A library panic while rendering, recovered, does not break the cached template.
	const truncate = "{{ 'abcdefgh' | truncate: n }}"
	_, err = s.execute(context.Background(), truncate, map[string]any{"n": 100000})
	require.ErrorIs(t, err, ErrRender)
	out, err = s.execute(context.Background(), truncate, map[string]any{"n": 6})
	require.NoError(t, err)
	require.Equal(t, "abc...", out)

	require.EqualValues(t, 2, s.compiles.Load(), "every render above used the cached template")
}

func TestSandboxRendersACachedTemplateConcurrently(t *testing.T) {
	t.Parallel()
	// Each render needs more than half of the 1000 steps (the empty loop alone takes 600),
	// so renders that shared a budget would fail; renders that shared bindings or loop state
	// would mix their output. The tags cover the standard ones a sandbox allows; cycle also
	// directly in an if's first branch, which the library renders from a copy of its node.
	s := newTestSandbox(Limits{MaxSteps: 1000, Timeout: time.Hour})
	const src = `{% assign greeting = "Hi " | append: name %}{{ greeting }}:` +
		`{% for t in tags %} {{ forloop.index }}.{{ t | upcase }}` +
		`{% if forloop.first %}{% cycle "a", "b" %}{% else %}{% cycle "a", "b" %}{% endif %}` +
		`{% cycle "g": "x", "y", "z" %}{% endfor %}` +
		`{% for i in (1..spin) %}{% endfor %}` +
		`{%- case tags.size -%}{%- when 1 -%} one{%- when 2, 3 -%} few{%- else -%} many{%- endcase -%}` +
		`{% unless vip %} regular{% endunless %}{% if vip %} VIP{% elsif name contains "1" %} ONE{% endif %}` +
		` {% tablerow t in tags cols: 2 %}{{ t }}{% endtablerow %}` +
		` {% for t in tags reversed limit: 3 %}{% if forloop.index == 2 %}{% continue %}{% endif %}` +
		`{% if forloop.last %}{% break %}{% endif %}{{ t | replace: "t", "T" }}{% endfor %}` +
		`{% raw %} {{ raw }}{% endraw %}{% comment %}x{% endcomment %} {{ tags | join: "," | default: "none" }}`
	vars := func(g int) map[string]any {
		tags := make([]string, 1+g%4)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%d-%d", g, i)
		}
		return map[string]any{"name": fmt.Sprintf("contact %d", g), "tags": tags, "spin": 600, "vip": g%2 == 0}
	}
	const goroutines = 16
	plain := liquid.NewEngine()
	want := make([]string, goroutines)
	for g := range want {
		var serr liquid.SourceError
		want[g], serr = plain.ParseAndRenderString(src, vars(g))
		require.Nil(t, serr)
	}
	require.Equal(t, `Hi contact 1: 1.T1-0ax 2.T1-1byfewregular ONE <tr class="row1"><td class="col1">t1-0</td>`+
		`<td class="col2">t1-1</td></tr> T1-1 {{ raw }} t1-0,t1-1`, want[1])
	_, err := s.execute(context.Background(), src, vars(0)) // compile and cache
	require.NoError(t, err)

	var wg sync.WaitGroup
	got := make([][]string, goroutines)
	errs := make([][]error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for range 50 {
				out, err := s.execute(context.Background(), src, vars(g))
				got[g], errs[g] = append(got[g], out), append(errs[g], err)
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		for i := range got[g] {
			require.NoError(t, errs[g][i], "goroutine %d, render %d", g, i)
			require.Equal(t, want[g], got[g][i], "goroutine %d, render %d", g, i)
		}
	}
	require.EqualValues(t, 1, s.compiles.Load(), "all renders shared one template")
}
