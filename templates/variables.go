package templates

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/osteele/liquid/render"
)

// Which variables a template uses is read from the parsed Liquid tree: osteele/liquid checks the
// syntax and finds every {{ … }} and {% … %}; the expressions inside, which it compiles to
// closures, are re-read here by a scanner that follows the library's own lexer
// (expressions/scanner.rl) just far enough to find variable paths (name, campaign.name,
// attributes.plan, attributes["plan"]) and filter names. Names defined by the template itself
// (assign, the for loop variable, forloop) are allowed wherever they are defined.

// accessors are the properties Liquid gives every string and list.
var accessors = []string{"size", "first", "last"}

// reserved are the lexer's keywords and literals, which are not variables.
var reserved = []string{"true", "false", "nil", "and", "or", "contains", "in"}

var (
	loopArgs   = regexp.MustCompile(`(?s)^\s*([A-Za-z_][\w-]*\??)\s+in\b(.*)$`)
	assignArgs = regexp.MustCompile(`(?s)^\s*([A-Za-z_][\w-]*\??)\s*=(.*)$`)
)

// usage is what the Liquid of one variant uses.
type usage struct {
	variables  []string // data variables, sorted: "attributes.plan", "campaign.name", "first_name"
	attributes []string // attribute keys named in the source, sorted
	problems   []*SyntaxError
}

// analyse reads the variables and filters used below root, reporting unknown ones and Liquid
// markup that Liquid left as text.
func analyse(root render.Node, knownFilters map[string]bool) usage {
	a := analysis{filters: knownFilters, locals: map[string]bool{}, used: map[string]bool{}, attributes: map[string]bool{}}
	walk(root, func(n render.Node) { // assign defines a variable for the rest of the template
		if t, ok := n.(*render.TagNode); ok && t.Name == "assign" {
			if m := assignArgs.FindStringSubmatch(t.Args); m != nil {
				a.locals[m[1]] = true
			}
		}
	})
	a.node(root, nil)
	u := usage{problems: a.problems}
	for v := range a.used {
		u.variables = append(u.variables, v)
	}
	for k := range a.attributes {
		u.attributes = append(u.attributes, k)
	}
	slices.Sort(u.variables)
	slices.Sort(u.attributes)
	return u
}

type analysis struct {
	filters    map[string]bool
	locals     map[string]bool // assigned anywhere
	used       map[string]bool
	attributes map[string]bool
	problems   []*SyntaxError
}

// node analyses n; scope holds the loop variables of the enclosing loops.
func (a *analysis) node(n render.Node, scope []string) {
	switch n := n.(type) {
	case *render.SeqNode:
		for _, c := range n.Children {
			a.node(c, scope)
		}
	case *render.ObjectNode:
		a.expression(n.Args, n.SourceLoc.LineNo, scope, false)
	case *render.TextNode:
		if i := strings.Index(n.Source, "{{"); i >= 0 || strings.Contains(n.Source, "{%") {
			if i < 0 {
				i = strings.Index(n.Source, "{%")
			}
			a.problem(n.SourceLoc.LineNo+strings.Count(n.Source[:i], "\n"),
				"Liquid could not read the markup starting %q: keep each {{ … }} on one line and close every {{ and {%%", snippet(n.Source[i:]))
		}
	case *render.TagNode:
		switch n.Name {
		case "assign":
			if m := assignArgs.FindStringSubmatch(n.Args); m != nil {
				a.expression(m[2], n.SourceLoc.LineNo, scope, false)
			}
		case "cycle", "break", "continue": // cycle takes string literals only
		default:
			a.expression(n.Args, n.SourceLoc.LineNo, scope, false)
		}
	case *render.BlockNode:
		inner := scope
		switch n.Name {
		case "for", "tablerow":
			if m := loopArgs.FindStringSubmatch(n.Args); m != nil {
				a.expression(m[2], n.SourceLoc.LineNo, scope, true)
				inner = append(slices.Clip(scope), m[1], "forloop")
			}
		case "else":
		default: // if, unless, elsif, case, when
			a.expression(n.Args, n.SourceLoc.LineNo, scope, false)
		}
		for _, c := range n.Body {
			a.node(c, inner)
		}
		for _, c := range n.Clauses {
			a.node(c, scope)
		}
	}
}

// expression checks the variables and filters of one Liquid expression.
func (a *analysis) expression(src string, line int, scope []string, loop bool) {
	paths, filterNames := scanExpression(src, loop)
	for _, f := range filterNames {
		if !a.filters[f] {
			a.problem(line, "unknown filter %q", f)
		}
	}
	for _, p := range paths {
		if a.locals[p[0]] || slices.Contains(scope, p[0]) {
			continue
		}
		name, ok := dataVariable(p)
		if !ok {
			a.problem(line, "unknown variable %q%s; the variables are %s", strings.Join(p, "."), suggestion(p[0]), strings.Join(Variables(), ", "))
			continue
		}
		a.used[name] = true
		if p[0] == "attributes" && len(p) > 1 {
			a.attributes[p[1]] = true
		}
	}
}

// dataVariable checks a path against Data and returns the variable it names: attributes.<key>
// for any key, campaign.<field>, or a contact field, each optionally followed by accessors.
func dataVariable(path []string) (string, bool) {
	root, rest := path[0], path[1:]
	switch {
	case root == "attributes":
		if len(rest) == 0 {
			return root, true
		}
		return root + "." + rest[0], true
	case root == "campaign":
		if len(rest) == 0 {
			return root, true
		}
		if !slices.Contains(campaignVariables, rest[0]) {
			return "", false
		}
		root, rest = root+"."+rest[0], rest[1:]
	case !slices.Contains(contactVariables, root):
		return "", false
	}
	for _, r := range rest {
		if !slices.Contains(accessors, r) {
			return "", false
		}
	}
	return root, true
}

func (a *analysis) problem(line int, format string, args ...any) {
	a.problems = append(a.problems, &SyntaxError{Line: line, Message: fmt.Sprintf(format, args...)})
}

// suggestion proposes the known variable closest to a misspelt name, if one is close and the
// name is not itself known (name.middle is wrong after the name).
func suggestion(name string) string {
	roots := append(slices.Clone(contactVariables), "campaign")
	if slices.Contains(roots, name) {
		return ""
	}
	best, bestDistance := "", 3 // suggest only within two edits
	for _, v := range roots {
		if d := editDistance(name, v); d < bestDistance {
			best, bestDistance = v, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes (names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func snippet(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > 20 {
		s = string(r[:20]) + "…"
	}
	return s
}

type tokenKind int

const (
	tokIdent    tokenKind = iota // name
	tokProperty                  // .name
	tokKeyword                   // name: (a filter with arguments, or a loop modifier)
	tokString
	tokNumber
	tokPunct // anything else, one byte (or "..")
)

type token struct {
	kind tokenKind
	text string
}

// scanExpression returns the variable paths and filter names in a Liquid expression. In a loop
// header (loop), "reversed" is a modifier rather than a variable.
func scanExpression(src string, loop bool) (paths [][]string, filterNames []string) {
	toks := lexExpression(src)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		afterBar := i > 0 && toks[i-1].kind == tokPunct && toks[i-1].text == "|"
		switch {
		case (t.kind == tokIdent || t.kind == tokKeyword) && afterBar:
			filterNames = append(filterNames, t.text)
		case t.kind != tokIdent, slices.Contains(reserved, t.text), loop && t.text == "reversed":
		default:
			path := []string{t.text}
			for i+1 < len(toks) {
				next := toks[i+1]
				if next.kind == tokProperty {
					path = append(path, next.text)
					i++
					continue
				}
				if next.kind == tokPunct && next.text == "[" && i+3 < len(toks) &&
					toks[i+2].kind == tokString && toks[i+3].kind == tokPunct && toks[i+3].text == "]" {
					path = append(path, toks[i+2].text)
					i += 3
					continue
				}
				break
			}
			paths = append(paths, path)
		}
	}
	return paths, filterNames
}

// lexExpression splits an expression into tokens as osteele/liquid's lexer does.
func lexExpression(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '"' || c == '\'':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				end = len(s) - i - 1
			}
			toks = append(toks, token{tokString, s[i+1 : i+1+end]})
			i += end + 2
		case isDigit(c) || (c == '-' && i+1 < len(s) && isDigit(s[i+1])):
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
				for j++; j < len(s) && isDigit(s[j]); j++ {
				}
			}
			toks = append(toks, token{tokNumber, s[i:j]})
			i = j
		case c == '.' && i+1 < len(s) && s[i+1] == '.':
			toks = append(toks, token{tokPunct, ".."})
			i += 2
		case c == '.' && i+1 < len(s) && isIdentStart(s[i+1]):
			j := identEnd(s, i+1)
			toks = append(toks, token{tokProperty, s[i+1 : j]})
			i = j
		case isIdentStart(c):
			j := identEnd(s, i)
			if j < len(s) && s[j] == ':' {
				toks = append(toks, token{tokKeyword, s[i:j]})
				j++
			} else {
				toks = append(toks, token{tokIdent, s[i:j]})
			}
			i = j
		default:
			toks = append(toks, token{tokPunct, s[i : i+1]})
			i++
		}
	}
	return toks
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// identEnd returns the end of the identifier starting at i: letters, digits, '_' and '-',
// optionally ending in '?'.
func identEnd(s string, i int) int {
	j := i + 1
	for j < len(s) && (isIdentStart(s[j]) || isDigit(s[j]) || s[j] == '-') {
		j++
	}
	if j < len(s) && s[j] == '?' {
		j++
	}
	return j
}
