package templates

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// The errors Render returns, to branch on with errors.Is. All but the caller's context ending
// (context.Canceled, context.DeadlineExceeded: retry later) are permanent for the delivery.
// Messages may quote template source and, for type errors, a contact's value: show them to the
// template's author, store them with the delivery, but do not log them.
var (
	// ErrChoice means the choice does not name a locale and variant of the template, which has
	// changed since the choice was made.
	ErrChoice = errors.New("the template has no such locale or variant")
	// ErrFooter means a marketing locale has no valid opt-out footer.
	ErrFooter = errors.New("no opt-out footer")
	// ErrRender means Liquid failed: a syntax error in an unvalidated template, or an error at
	// run time such as a value of the wrong type for a filter.
	ErrRender = errors.New("the template could not be rendered")
	// ErrLimit means rendering went past a Limit: too long, too many steps, too slow.
	ErrLimit = errors.New("the template exceeds a render limit")
	// ErrEmpty means the body rendered to nothing but white space.
	ErrEmpty = errors.New("the message is empty")
	// ErrTooLong means the message is longer than the engine's MaxLength.
	ErrTooLong = errors.New("the message is too long")
)

// Length is the length of a message as Crier counts it against MaxLength: in UTF-16 code
// units, the unit of the WhatsApp apps (Android, iOS and web all keep text as UTF-16). It is
// never less than the number of characters (code points); an emoji beyond U+FFFF counts 2.
func Length(text string) int {
	n := 0
	for _, r := range text {
		n += utf16.RuneLen(r)
	}
	return n
}

// Render returns the text of one message: the chosen variant's body with its spintax resolved
// from c.Seed, rendered as Liquid with d, then a blank line and the locale's footer (for
// marketing, the default footer if the locale has none). The same template, choice and data
// always give the same text.
func (e *Engine) Render(ctx context.Context, t Template, c Choice, d Data) (string, error) {
	i := t.localeIndex(c.Locale)
	if i < 0 || c.Variant < 0 || c.Variant >= len(t.Locales[i].Variants) {
		return "", fmt.Errorf("templates: render %q variant %d: %w", c.Locale, c.Variant, ErrChoice)
	}
	l := t.Locales[i]
	footer, err := e.footerFor(t.Category, l)
	if err != nil {
		return "", err
	}
	spin, err := ParseSpin(l.Variants[c.Variant].Body)
	if err != nil {
		return "", fmt.Errorf("%w: spintax: %w", ErrRender, err)
	}
	text, err := e.compose(ctx, spin.Resolve(c.Seed), footer, d.vars())
	if err != nil {
		return "", err
	}
	if n := Length(text); n > e.maxLength {
		return "", fmt.Errorf("%w: %d characters, over the limit of %d", ErrTooLong, n, e.maxLength)
	}
	return text, nil
}

// compose renders the Liquid source of one spin and appends the footer.
func (e *Engine) compose(ctx context.Context, src, footer string, vars map[string]any) (string, error) {
	body, err := e.sandbox.execute(ctx, src, vars)
	if err != nil {
		return "", err
	}
	body = strings.TrimSpace(body)
	if body == "" {
		return "", ErrEmpty
	}
	if footer == "" {
		return body, nil
	}
	return body + "\n\n" + footer, nil
}
