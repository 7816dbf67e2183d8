package templates

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/crierhq/crier/internal/apperr"
)

const (
	// MaxBodyBytes bounds the source of one variant body.
	MaxBodyBytes = 32 << 10
	// maxNameLength bounds a template's name, in characters.
	maxNameLength = 200
	// maxCheckedSpins is how many spins of a variant validation renders one by one; a variant
	// with more is measured by its Longest spin.
	maxCheckedSpins = 64
)

// Normalize validates a template as it is saved and returns it in the form to store: the name
// trimmed, locale tags canonical ("EN-us" → "en-US"), footers trimmed and, for marketing
// locales without one, the default opt-out footer for the language filled in. A locale bound
// to a Cloud API template (Locale.Cloud) has its binding checked instead, its Params padded to
// the body's placeholders, and its variants and footer replaced by the ones derived from
// Meta's text (see cloud.go): whatever variants it was given are ignored. It is the one
// check to run before saving; rendering assumes it has passed. The only other error is the
// context's, when ctx ends first.
//
// Invalid input gives an apperr Invalid error whose fields point into the template as the user
// wrote it ("locales[1].variants[0].body"), with the line (and, for spintax, the column) in the
// body where there is one. Bodies are checked for spintax, Liquid syntax, forbidden tags,
// unknown variables and filters, and length: every spin (or, past 64 spins, Spin.Longest) is
// rendered with sample values as long as real ones plausibly get (a 51-character name, a
// 52-character email, 40-character attributes, a 60-character campaign name, four tags), and
// the longest result, footer included, must fit MaxLength. A Liquid error at run time with
// sample values is not reported, since they cannot match the type of every attribute;
// Preview and sending report those.
func (e *Engine) Normalize(ctx context.Context, t Template) (Template, error) {
	var problems []apperr.FieldError
	add := func(field, format string, args ...any) {
		problems = append(problems, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	out := t
	out.Name = strings.TrimSpace(t.Name)
	switch {
	case out.Name == "":
		add("name", "is required")
	case !utf8.ValidString(out.Name):
		add("name", "must be valid UTF-8 text")
	case utf8.RuneCountInString(out.Name) > maxNameLength:
		add("name", "must be at most %d characters", maxNameLength)
	}
	if !t.Category.Valid() {
		add("category", "must be %q or %q", Marketing, Utility)
	}
	if len(t.Locales) == 0 {
		add("locales", "must have at least one locale")
	}

	out.Locales = make([]Locale, len(t.Locales))
	seen := map[string]int{}
	for i, l := range t.Locales {
		at := fmt.Sprintf("locales[%d]", i)
		tag, err := canonicalLocale(l.Locale)
		localeOK := err == nil
		if !localeOK {
			add(at+".locale", "%q is not a BCP 47 language tag such as en, pt-BR or zh-Hant", l.Locale)
		} else if j, dup := seen[tag.String()]; dup {
			add(at+".locale", "%s is already locales[%d]", tag, j)
		} else {
			l.Locale = tag.String()
			seen[l.Locale] = i
		}
		if l.Cloud != nil {
			// A bound locale's variants and footer are Meta's template, derived here.
			l, err = e.normalizeCloud(ctx, t.Category, at, l, add)
			if err != nil {
				return Template{}, fmt.Errorf("templates: normalize: %w", err)
			}
			out.Locales[i] = l
			continue
		}
		footer, problem := e.footers.resolve(t.Category, l.Locale, l.Footer)
		if problem != "" && (localeOK || strings.TrimSpace(l.Footer) != "") {
			add(at+".footer", "%s", problem)
		}
		l.Footer = footer
		if len(l.Variants) == 0 {
			add(at+".variants", "must have at least one variant")
		}
		for j, v := range l.Variants {
			vat := fmt.Sprintf("%s.variants[%d]", at, j)
			switch {
			case v.Weight <= 0:
				add(vat+".weight", "must be greater than 0")
			case v.Weight > MaxWeight:
				add(vat+".weight", "must be at most %d", MaxWeight)
			}
			msgs, err := e.checkBody(ctx, v.Body, footer)
			if err != nil {
				return Template{}, fmt.Errorf("templates: normalize: %w", err)
			}
			for _, msg := range msgs {
				add(vat+".body", "%s", msg)
			}
		}
		l.Variants = append([]Variant(nil), l.Variants...)
		out.Locales[i] = l
	}
	if err := apperr.Fields(problems...); err != nil {
		return Template{}, err
	}
	return out, nil
}

// checkBody returns what is wrong with one variant body, as messages for its field. The error
// is the context's.
func (e *Engine) checkBody(ctx context.Context, body, footer string) ([]string, error) {
	switch {
	case strings.TrimSpace(body) == "":
		return []string{"must not be empty"}, nil
	case !utf8.ValidString(body):
		return []string{"must be valid UTF-8 text"}, nil
	case len(body) > MaxBodyBytes:
		return []string{fmt.Sprintf("must be at most %d bytes", MaxBodyBytes)}, nil
	}
	spin, err := ParseSpin(body)
	if err != nil {
		return []string{describe("spintax", err)}, nil
	}
	tpl, err := e.sandbox.compile(spin.flatten())
	if err != nil {
		return []string{describe("Liquid", err)}, nil
	}
	use := analyse(tpl.GetRoot(), e.sandbox.filters)
	if len(use.problems) > 0 {
		msgs := make([]string, len(use.problems))
		for i, p := range use.problems {
			msgs[i] = describe("Liquid", p)
		}
		return msgs, nil
	}
	longest, err := e.longestRender(ctx, spin, footer, sampleData(use.attributes).vars())
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return []string{"cannot be rendered within the limits with sample data: " + err.Error()}, nil
	case longest > e.maxLength:
		return []string{fmt.Sprintf("the longest version is %d characters with sample data, footer included; the limit is %d", longest, e.maxLength)}, nil
	}
	return nil, nil
}

// describe says what kind of error err is and, when it is known, on which line.
func describe(kind string, err error) string {
	var se *SyntaxError
	if errors.As(err, &se) && se.Line > 0 {
		return kind + " error on " + err.Error()
	}
	return kind + " error: " + err.Error()
}

// longestRender renders the spins of a body with vars and returns the greatest Length, footer
// included. Only limit errors are reported (see Normalize). All the renders of one body share
// four times Limits.Timeout (1s by default), so that a slow template cannot hold validation
// for long; a normal body renders its 64 spins in a few tens of milliseconds.
func (e *Engine) longestRender(ctx context.Context, spin *Spin, footer string, vars map[string]any) (int, error) {
	sources := []string{spin.Longest()}
	if spin.Count() <= maxCheckedSpins {
		sources = spin.All(maxCheckedSpins)
	}
	timeout := 4 * e.sandbox.limits.Timeout
	run, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	longest := 0
	for _, src := range sources {
		text, err := e.compose(run, src, footer, vars)
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case run.Err() != nil:
			return 0, fmt.Errorf("%w: rendering the %d spins takes longer than %s", ErrLimit, len(sources), timeout)
		case errors.Is(err, ErrLimit):
			return 0, err
		case err == nil:
			longest = max(longest, Length(text))
		}
	}
	return longest, nil
}
