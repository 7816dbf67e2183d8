package templates

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSpinAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"no spintax", "Hello there", []string{"Hello there"}},
		{"one group", "{Hi|Hello|Hey} Ana", []string{"Hi Ana", "Hello Ana", "Hey Ana"}},
		{"nested", "{Hi {there|friend}|Hello}", []string{"Hi there", "Hi friend", "Hello"}},
		{"two groups", "{a|b}{c|d}", []string{"ac", "ad", "bc", "bd"}},
		{"empty option", "{a|}!", []string{"a!", "!"}},
		{"empty group", "x{}y", []string{"xy"}},
		{"bar outside a group is text", "a|b", []string{"a|b"}},
		{"escapes", `\{a\|b\}`, []string{`{{ "{" }}a|b{{ "}" }}`}},
		{"backslash before other characters is text", `C:\path \n`, []string{`C:\path \n`}},
		{"liquid output inside a group", "{Hi {{ first_name }}|Hello}!", []string{"Hi {{ first_name }}!", "Hello!"}},
		{"liquid filters are not options", "{{ name | upcase }} {a|b}", []string{"{{ name | upcase }} a", "{{ name | upcase }} b"}},
		{"liquid output with braces in a string", `{{ "}" | append: "{" }}`, []string{`{{ "}" | append: "{" }}`}},
		{"group inside a tag's block", "{% if vip %}{Dear|Hi} VIP{% endif %}", []string{"{% if vip %}Dear VIP{% endif %}", "{% if vip %}Hi VIP{% endif %}"}},
		{"raw is copied whole", "{% raw %}{a|b} }{% endraw %}{c|d}", []string{"{% raw %}{a|b} }{% endraw %}c", "{% raw %}{a|b} }{% endraw %}d"}},
		{"comment is copied whole", "{%- comment -%} {oops {%- endcomment -%}ok", []string{"{%- comment -%} {oops {%- endcomment -%}ok"}},
		{"group starting with a group needs a space", "{ {Hi|Hey} there|Hello}", []string{" Hi there", " Hey there", "Hello"}},
		{"multi-line", "{Hi|Hello}\n{a|b}", []string{"Hi\na", "Hi\nb", "Hello\na", "Hello\nb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSpin(tt.body)
			require.NoError(t, err)
			require.Equal(t, tt.want, s.All(100))
			require.Equal(t, uint64(len(tt.want)), s.Count())
		})
	}
}

func TestParseSpinErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		line, col  int
		wantSubstr string
	}{
		{"unclosed group", "{Hi|Hello", 1, 1, "group { is not closed"},
		{"unclosed nested group", "Hi\n{a|{b|c}", 2, 1, "group { is not closed"},
		{"stray close", "Hi}", 1, 3, "} has no matching {"},
		{"column counts characters", "héllo }", 1, 7, "} has no matching {"},
		{"tag inside a group", "Hi\n  {a|{% if x %}b{% endif %}}", 2, 6, "Liquid tag"},
		{"unclosed liquid output", "Hi {{ name", 1, 4, "{{ is not closed"},
		{"group starting with a group", "{{Hi|Hey} there|Hello}", 1, 1, "{{ is not closed"},
		{"unclosed liquid tag", "Hi {% if x", 1, 4, "{% is not closed"},
		{"too deep", strings.Repeat("{ ", maxSpinDepth+1) + strings.Repeat("}", maxSpinDepth+1), 1, 2*maxSpinDepth + 1, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSpin(tt.body)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.line, se.Line)
			require.Equal(t, tt.col, se.Column)
			require.Contains(t, se.Message, tt.wantSubstr)
		})
	}
}

func TestSpinResolveIsDeterministic(t *testing.T) {
	t.Parallel()
	s, err := ParseSpin("{Hi|Hello|Hey} {there|friend}, {our {big|huge} sale|the sale} starts {today|now}!")
	require.NoError(t, err)
	all := map[string]bool{}
	for _, text := range s.All(1000) {
		all[text] = true
	}
	seen := map[string]bool{}
	for seed := range uint64(2000) {
		text := s.Resolve(seed)
		require.Equal(t, text, s.Resolve(seed), "seed %d", seed)
		require.True(t, all[text], "seed %d gave %q, which is not a spin", seed, text)
		seen[text] = true
	}
	require.Len(t, seen, len(all), "2000 seeds reach every spin")
}

// The spins of a seed must not change between versions of Crier: a delivery retried after an
// upgrade must still be the same message. Changing these values needs a very good reason.
func TestSpinResolveIsStable(t *testing.T) {
	t.Parallel()
	s, err := ParseSpin("{Hi|Hello|Hey} {there|friend}, {our {big|huge} sale|the sale} starts {today|now}!")
	require.NoError(t, err)
	want := []string{
		"Hello there, the sale starts now!",
		"Hey friend, the sale starts now!",
		"Hey friend, our big sale starts today!",
		"Hello friend, the sale starts today!",
	}
	for seed, text := range want {
		require.Equal(t, text, s.Resolve(uint64(seed)))
	}
}

func TestSpinOptionsAreEquallyLikely(t *testing.T) {
	t.Parallel()
	s, err := ParseSpin("{a|b|c|d}")
	require.NoError(t, err)
	counts := map[string]float64{}
	const n = 40000
	for seed := range uint64(n) {
		counts[s.Resolve(seed)]++
	}
	var chi2 float64
	for _, c := range counts {
		chi2 += (c - n/4) * (c - n/4) / (n / 4)
	}
	require.Len(t, counts, 4)
	require.Less(t, chi2, 16.27, "chi-square, 3 degrees of freedom, p = 0.001")
}

func TestSpinCountSaturates(t *testing.T) {
	t.Parallel()
	s, err := ParseSpin(strings.Repeat("{a|b}", 70))
	require.NoError(t, err)
	require.Equal(t, uint64(math.MaxUint64), s.Count())
	require.Len(t, s.All(10), 10)
	require.Empty(t, s.All(0))
}

func TestSpinLongest(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{"{a|bbb|cc} {x|{yy|zzzz}}", "bbb zzzz"},
		{"{Hi {there|my dear friend}|Hello everyone}", "Hi my dear friend"},
		{"plain", "plain"},
		{"{é|ab}", "ab"}, // characters, not bytes
	}
	for _, tt := range tests {
		s, err := ParseSpin(tt.body)
		require.NoError(t, err)
		require.Equal(t, tt.want, s.Longest(), tt.body)
	}
}

func TestSpinFlattenKeepsLines(t *testing.T) {
	t.Parallel()
	s, err := ParseSpin("{a|b\n{c|d}}e\n{{ x }}")
	require.NoError(t, err)
	require.Equal(t, "ab\ncde\n{{ x }}", s.flatten())
}
