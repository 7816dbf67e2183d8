package templates

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVariables(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"name", "first_name", "email", "locale", "country", "timezone", "tags", "attributes.<key>", "campaign.name"}, Variables())
}

func TestScanExpression(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		loop    bool
		paths   [][]string
		filters []string
	}{
		{"name", false, [][]string{{"name"}}, nil},
		{"campaign.name | upcase", false, [][]string{{"campaign", "name"}}, []string{"upcase"}},
		{`attributes["plan name"] | default: fallback, "x"`, false, [][]string{{"attributes", "plan name"}, {"fallback"}}, []string{"default"}},
		{"tags[0].size", false, [][]string{{"tags"}}, nil},
		{"a == 'b' and c contains \"d\" or true", false, [][]string{{"a"}, {"c"}}, nil},
		{"x-1 > -1.5", false, [][]string{{"x-1"}}, nil},
		{"(1..n)", false, [][]string{{"n"}}, nil},
		{"tags reversed limit: n", true, [][]string{{"tags"}, {"n"}}, nil},
		{"'{{ not_a_var }}' | append: s", false, [][]string{{"s"}}, []string{"append"}},
		{"a.b.c", false, [][]string{{"a", "b", "c"}}, nil},
	}
	for _, tt := range tests {
		paths, filters := scanExpression(tt.src, tt.loop)
		require.Equal(t, tt.paths, paths, tt.src)
		require.Equal(t, tt.filters, filters, tt.src)
	}
}

func TestAnalyse(t *testing.T) {
	t.Parallel()
	s := newTestSandbox(Limits{})
	tests := []struct {
		src        string
		variables  []string
		attributes []string
		problems   []string
	}{
		{"{{ first_name }} {{ campaign.name | upcase }} {{ tags.size }}", []string{"campaign.name", "first_name", "tags"}, nil, nil},
		{"{{ attributes.plan }} {{ attributes['due date'] | date: '%b' }}", []string{"attributes.due date", "attributes.plan"}, []string{"due date", "plan"}, nil},
		{"{% for t in tags %}{{ t }}{{ forloop.index }}{% endfor %}{{ t }}", []string{"tags"}, nil, []string{`line 1: unknown variable "t"`}},
		{"{% for t in tags %}{% for u in tags %}{{ t }}{{ u }}{% endfor %}{% endfor %}", []string{"tags"}, nil, nil},
		{"{{ x }}\n{% assign x = name | default: email %}", []string{"email", "name"}, nil, nil},
		{"{% if nmae %}\n{{ name | shout }}{% endif %}", []string{"name"}, nil, []string{`line 1: unknown variable "nmae" (did you mean "name"?)`, `line 2: unknown filter "shout"`}},
		{"{% case country %}{% when 'MX', region %}x{% endcase %}", []string{"country"}, nil, []string{`unknown variable "region"`}},
		{"{% raw %}{{ nope }}{% endraw %}", nil, nil, nil},
	}
	for _, tt := range tests {
		tpl, err := s.compile(tt.src)
		require.NoError(t, err, tt.src)
		u := analyse(tpl.GetRoot(), s.filters)
		require.Equal(t, tt.variables, u.variables, tt.src)
		require.Equal(t, tt.attributes, u.attributes, tt.src)
		require.Len(t, u.problems, len(tt.problems), tt.src)
		for i, want := range tt.problems {
			require.Contains(t, u.problems[i].Error(), want, tt.src)
		}
	}
}
