package templates

import (
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Spintax: {Hi|Hello|Hey} picks one option; groups nest ({Hi {there|friend}|Hello}).
//
// Spintax is resolved first, and the result is then rendered as Liquid. The spintax scanner
// therefore knows Liquid's delimiters and never looks inside them:
//
//   - {{ … }} is Liquid output, copied as is, and may appear inside a group
//     ({Hi {{ first_name }}|Hello}); "{{" always opens Liquid output, so a group whose first
//     option starts with another group needs a space: { {Hi|Hey} there|Hello};
//   - {% … %} is a Liquid tag, copied as is, and may not appear inside a group (an option
//     holding half of an {% if %} would make some spins invalid Liquid); put the group inside
//     the tag's block instead: {% if vip %}{Dear|Hi} VIP{% endif %};
//   - {% raw %}…{% endraw %} and {% comment %}…{% endcomment %} are copied whole;
//   - \{, \} and \| are a literal brace or bar. A literal brace reaches Liquid as {{ "{" }}, so
//     that it can never join a neighbouring brace into a Liquid delimiter.
//
// Because groups hold no tags, every spin has the same Liquid structure, and the text made by
// concatenating every option of every group (flatten) contains every piece of Liquid exactly
// once, at its original line: that is the text validation parses.

// maxSpinDepth bounds group nesting; deeper nesting is refused, not recursed into.
const maxSpinDepth = 16

// SyntaxError is a mistake in a variant body, at a 1-based line and, where it is known, a
// 1-based column in characters (0 when unknown).
type SyntaxError struct {
	Line    int
	Column  int
	Message string
}

// Error returns the message with its position.
func (e *SyntaxError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return e.Message
}

// Spin is a parsed variant body: Liquid source with spintax groups still to choose.
type Spin struct {
	root   sequence
	groups int
}

type sequence []piece

// piece is either source copied as is (text) or a group with its options.
type piece struct {
	text    string
	options []sequence // non-nil for a group
	group   int        // the group's number in document order; salts its seed
}

// ParseSpin parses the spintax of a variant body. Errors are *SyntaxError.
func ParseSpin(body string) (*Spin, error) {
	p := spinParser{src: body}
	root, err := p.sequence(0)
	if err != nil {
		return nil, err
	}
	return &Spin{root: root, groups: p.groups}, nil
}

// Resolve returns the Liquid source of the spin chosen by seed: the same seed always gives the
// same text. Each group's choice depends only on the seed and the group's position in the body.
func (s *Spin) Resolve(seed uint64) string {
	var b strings.Builder
	s.root.resolve(&b, seed)
	return b.String()
}

// Count returns how many spins the body has (counted by choices, so two choices that give the
// same text count twice), saturating at math.MaxUint64.
func (s *Spin) Count() uint64 { return s.root.count() }

// Longest returns the spin whose Liquid source has the most characters: in every group the
// option that is longest once its own groups are chosen the same way. Liquid output counts as
// its source ({{ name }} is 10 characters), so it bounds the rendered length only roughly;
// validation renders every spin when there are few, and this one otherwise.
func (s *Spin) Longest() string {
	text, _ := s.root.longest()
	return text
}

// All returns every spin in order, or the first limit of them when there are more.
func (s *Spin) All(limit int) []string {
	if limit <= 0 {
		return nil
	}
	return s.root.expand(limit)
}

// flatten returns every option of every group concatenated: all the Liquid of every spin, at
// the lines where the author wrote it. It is what validation parses, never what is sent.
func (s *Spin) flatten() string {
	var b strings.Builder
	s.root.flatten(&b)
	return b.String()
}

func (q sequence) resolve(b *strings.Builder, seed uint64) {
	for _, p := range q {
		if p.options == nil {
			b.WriteString(p.text)
			continue
		}
		i := below(mix(seed, streamSpin+uint64(p.group)), uint64(len(p.options)))
		p.options[i].resolve(b, seed)
	}
}

func (q sequence) flatten(b *strings.Builder) {
	for _, p := range q {
		b.WriteString(p.text)
		for _, o := range p.options {
			o.flatten(b)
		}
	}
}

func (q sequence) count() uint64 {
	n := uint64(1)
	for _, p := range q {
		if p.options == nil {
			continue
		}
		var sum uint64
		for _, o := range p.options {
			var carry uint64
			sum, carry = bits.Add64(sum, o.count(), 0)
			if carry != 0 {
				return math.MaxUint64
			}
		}
		hi, lo := bits.Mul64(n, sum)
		if hi != 0 {
			return math.MaxUint64
		}
		n = lo
	}
	return n
}

func (q sequence) longest() (string, int) {
	var b strings.Builder
	n := 0
	for _, p := range q {
		if p.options == nil {
			b.WriteString(p.text)
			n += utf8.RuneCountInString(p.text)
			continue
		}
		best, bestN := "", -1
		for _, o := range p.options {
			if text, on := o.longest(); on > bestN {
				best, bestN = text, on
			}
		}
		b.WriteString(best)
		n += bestN
	}
	return b.String(), n
}

// expand returns up to limit spins of q, in order.
func (q sequence) expand(limit int) []string {
	out := []string{""}
	for _, p := range q {
		var tails []string
		if p.options == nil {
			tails = []string{p.text}
		} else {
			for _, o := range p.options {
				tails = append(tails, o.expand(limit-len(tails))...)
				if len(tails) >= limit {
					break
				}
			}
		}
		next := make([]string, 0, min(limit, len(out)*len(tails)))
	product:
		for _, head := range out {
			for _, tail := range tails {
				if len(next) == limit {
					break product
				}
				next = append(next, head+tail)
			}
		}
		out = next
	}
	return out
}

type spinParser struct {
	src    string
	pos    int
	groups int
}

var (
	// tagStart matches the start of a Liquid tag as osteele/liquid's scanner reads it.
	tagStart = regexp.MustCompile(`^\{%-?\s*(\w+)`)
	// blockEnd finds the end tags of the blocks whose content is copied whole.
	blockEnd = map[string]*regexp.Regexp{
		"raw":     regexp.MustCompile(`\{%-?\s*endraw\s*-?%\}`),
		"comment": regexp.MustCompile(`\{%-?\s*endcomment\s*-?%\}`),
	}
)

// sequence reads pieces until the end of the source or, inside a group (depth > 0), until the
// '|' or '}' that ends the option, which it leaves for group to read.
func (p *spinParser) sequence(depth int) (sequence, error) {
	var (
		seq  sequence
		text strings.Builder
	)
	flush := func() {
		if text.Len() > 0 {
			seq = append(seq, piece{text: text.String()})
			text.Reset()
		}
	}
	for p.pos < len(p.src) {
		rest := p.src[p.pos:]
		switch {
		case rest[0] == '\\' && len(rest) > 1 && strings.IndexByte("{}|", rest[1]) >= 0:
			switch rest[1] {
			case '{':
				text.WriteString(`{{ "{" }}`)
			case '}':
				text.WriteString(`{{ "}" }}`)
			default:
				text.WriteByte('|')
			}
			p.pos += 2
		case strings.HasPrefix(rest, "{{"):
			end := strings.Index(rest[2:], "}}")
			if end < 0 {
				return nil, p.errorf(p.pos, "{{ is not closed: add }} (a spintax group cannot start with another group; write { {a|b} c|d})")
			}
			text.WriteString(rest[:end+4])
			p.pos += end + 4
		case strings.HasPrefix(rest, "{%"):
			if depth > 0 {
				return nil, p.errorf(p.pos, "a Liquid tag {%% … %%} cannot be inside a spintax group; put the group inside the tag's block instead")
			}
			n, err := p.tag(rest)
			if err != nil {
				return nil, err
			}
			text.WriteString(rest[:n])
			p.pos += n
		case rest[0] == '{':
			if depth >= maxSpinDepth {
				return nil, p.errorf(p.pos, "spintax groups are nested more than %d deep", maxSpinDepth)
			}
			flush()
			g, err := p.group(depth + 1)
			if err != nil {
				return nil, err
			}
			seq = append(seq, g)
		case rest[0] == '}' && depth == 0:
			return nil, p.errorf(p.pos, "} has no matching {: remove it or write \\} for a literal brace")
		case (rest[0] == '}' || rest[0] == '|') && depth > 0:
			flush()
			return seq, nil
		default:
			n := strings.IndexAny(rest[1:], `\{}|`) + 1
			if n == 0 {
				n = len(rest)
			}
			text.WriteString(rest[:n])
			p.pos += n
		}
	}
	flush()
	return seq, nil
}

// group reads {option|option|…} starting at the '{'.
func (p *spinParser) group(depth int) (piece, error) {
	start := p.pos
	p.pos++
	g := piece{group: p.groups, options: []sequence{}}
	p.groups++
	for {
		option, err := p.sequence(depth)
		if err != nil {
			return piece{}, err
		}
		g.options = append(g.options, option)
		if p.pos >= len(p.src) {
			return piece{}, p.errorf(start, "spintax group { is not closed: add } or write \\{ for a literal brace")
		}
		c := p.src[p.pos]
		p.pos++
		if c == '}' {
			return g, nil
		}
	}
}

// tag returns the length of the Liquid tag at the start of rest, including the whole block
// for raw and comment, whose content is not spintax.
func (p *spinParser) tag(rest string) (int, error) {
	end := strings.Index(rest, "%}")
	if end < 0 {
		return 0, p.errorf(p.pos, "{%% is not closed: add %%}")
	}
	n := end + 2
	m := tagStart.FindStringSubmatch(rest)
	if m == nil {
		return n, nil
	}
	if re, ok := blockEnd[m[1]]; ok {
		if loc := re.FindStringIndex(rest[n:]); loc != nil {
			n += loc[1]
		}
	}
	return n, nil
}

func (p *spinParser) errorf(offset int, format string, args ...any) error {
	line, col := position(p.src, offset)
	return &SyntaxError{Line: line, Column: col, Message: fmt.Sprintf(format, args...)}
}

// position returns the 1-based line and character column of a byte offset in src.
func position(src string, offset int) (line, col int) {
	before := src[:offset]
	line = 1 + strings.Count(before, "\n")
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCountInString(before[lineStart:])
}
