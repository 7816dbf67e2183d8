package templates

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A locale of a template can be bound to a message template that Meta approved for the
// WhatsApp Cloud API (CloudTemplate). Outside the 24-hour customer service window the Cloud
// API sends marketing only as such a template, so the binding, not the variants, decides
// what the customer reads: Meta's body with its placeholders ({{1}} or {{name}}) filled
// from the contact by the binding's Params, which are Liquid. The locale's variants are
// derived from the binding (exactly one, which shows Meta's text with each parameter's
// Liquid in place of its placeholder) so that preview, the text stored with each delivery
// and a sandbox send all read what Meta shows.

// CloudHeader is the format of a Cloud API template's header, as Meta names it.
type CloudHeader string

// The header formats Crier sends. Meta has LOCATION too, which the template sync skips.
const (
	CloudHeaderNone     CloudHeader = ""
	CloudHeaderText     CloudHeader = "TEXT"
	CloudHeaderImage    CloudHeader = "IMAGE"
	CloudHeaderVideo    CloudHeader = "VIDEO"
	CloudHeaderDocument CloudHeader = "DOCUMENT"
)

// Media reports whether the header shows a file, which the message must link to.
func (h CloudHeader) Media() bool {
	return h == CloudHeaderImage || h == CloudHeaderVideo || h == CloudHeaderDocument
}

func (h CloudHeader) valid() bool { return h == CloudHeaderNone || h == CloudHeaderText || h.Media() }

// CloudTemplate binds a template locale to a message template of the WhatsApp Cloud API. The
// template sync (sender/whatsappcloud) fills in what Meta approved; the marketer sets Params
// and HeaderLink.
type CloudTemplate struct {
	Name     string `json:"name"`     // the template's name at Meta
	Language string `json:"language"` // Meta's code: en_US, pt_BR, de
	// Body is Meta's approved BODY text with {{1}}… or {{named}} placeholders (from the sync).
	Body string `json:"body"`
	// Footer is Meta's FOOTER text (from the sync).
	Footer string `json:"footer"`
	// OptOutButton is the text of a QUICK_REPLY button that opts out, e.g. "Stop
	// promotions" (from the sync).
	OptOutButton string      `json:"opt_out_button"`
	HeaderFormat CloudHeader `json:"header_format"` // "", TEXT, IMAGE, VIDEO, DOCUMENT (from the sync)
	// HeaderText is a TEXT header's text, without parameters (from the sync). It is not
	// sent, since Meta has it; it is shown at the top of the derived text.
	HeaderText string `json:"header_text,omitempty"`
	// HeaderLink is the https link of a media header's file (set by the marketer).
	HeaderLink string `json:"header_link"`
	// Params are the Liquid for each placeholder of Body, in order: {{1}}, {{2}}… or the
	// named ones in order of first appearance (set by the marketer; the sync pre-fills named
	// ones). An empty one is not mapped yet: the template can be saved, not scheduled.
	Params []string `json:"params"`
}

// CloudMessage is a message as the Cloud API template of its locale, rendered for one
// recipient.
type CloudMessage struct {
	Name     string
	Language string
	// Params are the rendered parameters, in the order of CloudTemplate.Params.
	Params []string
	// ParamNames are the placeholders' names for a template with named placeholders, which
	// Meta wants with each parameter; nil for positional ({{1}}…) ones.
	ParamNames []string
	HeaderKind string // "image", "video" or "document" for a media header; "" otherwise
	HeaderLink string
}

// ErrParam means a Cloud API template parameter has no value for the recipient: it is not
// mapped, or it rendered empty (Meta refuses an empty parameter). Permanent for the delivery.
var ErrParam = errors.New("a template parameter has no value")

// Limits on a binding, as Meta has them or above.
const (
	maxCloudNameLength  = 512  // Meta's limit on a template name
	maxCloudParamBytes  = 1024 // the Liquid of one parameter
	maxCloudHeaderBytes = 1024
)

var (
	// cloudPlaceholder is a placeholder of Meta's template text: {{1}} or {{first_name}}.
	cloudPlaceholder = regexp.MustCompile(`\{\{\s*([a-z0-9_]+)\s*\}\}`)
	// cloudName is Meta's rule for template names.
	cloudName = regexp.MustCompile(`^[a-z0-9_]+$`)
	// cloudLanguage is the shape of Meta's language codes: de, en_US, zh_Hant_TW, fil.
	cloudLanguage = regexp.MustCompile(`^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8}){0,2}$`)
)

// CloudPlaceholders returns the placeholders of a Meta template text, each once: positional
// ones as "1", "2", … in number order, named ones in order of first appearance. Meta
// allows one kind per template, and positional ones numbered from 1 without gaps; other
// text is an error that says so.
func CloudPlaceholders(text string) ([]string, error) {
	var names []string
	var numbers []int
	for _, m := range cloudPlaceholder.FindAllStringSubmatch(text, -1) {
		name := m[1]
		if n, err := strconv.Atoi(name); err == nil {
			if !slices.Contains(numbers, n) {
				numbers = append(numbers, n)
			}
			continue
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	switch {
	case len(numbers) > 0 && len(names) > 0:
		return nil, errors.New("mixes numbered ({{1}}) and named ({{name}}) placeholders, which Meta does not allow")
	case len(names) > 0:
		return names, nil
	}
	slices.Sort(numbers)
	out := make([]string, len(numbers))
	for i, n := range numbers {
		if n != i+1 {
			return nil, fmt.Errorf("numbers its placeholders %s: Meta wants {{1}} to {{%d}} without gaps", placeholderList(numbers), len(numbers))
		}
		out[i] = strconv.Itoa(n)
	}
	return out, nil
}

func placeholderList(numbers []int) string {
	parts := make([]string, len(numbers))
	for i, n := range numbers {
		parts[i] = fmt.Sprintf("{{%d}}", n)
	}
	return strings.Join(parts, ", ")
}

// placeholderName is how a placeholder is written for people: {{1}}, {{first_name}}.
func placeholderName(name string) string { return "{{" + name + "}}" }

// Unfilled returns what the marketer has yet to set before the binding can be sent: each
// parameter that is not mapped, and a media header's missing link. Normalize has passed, so
// Params are as many as the placeholders.
func (c *CloudTemplate) Unfilled() []string {
	var out []string
	names, _ := CloudPlaceholders(c.Body)
	for i, name := range names {
		if i >= len(c.Params) || strings.TrimSpace(c.Params[i]) == "" {
			out = append(out, fmt.Sprintf("parameter %s is not mapped to a value", placeholderName(name)))
		}
	}
	if c.HeaderFormat.Media() && c.HeaderLink == "" {
		out = append(out, fmt.Sprintf("the %s header has no link", c.HeaderFormat))
	}
	return out
}

// normalizeCloud checks the Cloud API binding of locale l (at is its field path) and returns
// the locale with the binding cleaned up (Params padded to the placeholders) and its
// variants and footer derived from it. Problems go to add; the error is the context's.
func (e *Engine) normalizeCloud(ctx context.Context, category Category, at string, l Locale, add func(field, format string, args ...any)) (Locale, error) {
	at += ".cloud"
	c := *l.Cloud
	c.Name, c.Language = strings.TrimSpace(c.Name), strings.TrimSpace(c.Language)
	c.Footer, c.OptOutButton = strings.TrimSpace(c.Footer), strings.TrimSpace(c.OptOutButton)
	c.HeaderText, c.HeaderLink = strings.TrimSpace(c.HeaderText), strings.TrimSpace(c.HeaderLink)
	c.Params = slices.Clone(c.Params)
	l.Cloud = &c
	l.Footer = c.Footer
	l.Variants = nil

	switch {
	case c.Name == "":
		add(at+".name", "is required: the template's name at Meta")
	case len(c.Name) > maxCloudNameLength || !cloudName.MatchString(c.Name):
		add(at+".name", "must be a name as Meta writes it: lowercase letters, digits and underscores")
	}
	if c.Language == "" {
		add(at+".language", "is required: Meta's language code, such as en_US or de")
	} else if !cloudLanguage.MatchString(c.Language) {
		add(at+".language", "%q is not a language code as Meta writes it, such as en_US, pt_BR or de", c.Language)
	} else if want, err := canonicalLocale(c.Language); err != nil {
		add(at+".language", "%q is not a language Crier knows", c.Language)
	} else if have, err := canonicalLocale(l.Locale); err == nil {
		wb, _, _ := want.Raw()
		if hb, _, _ := have.Raw(); wb != hb {
			add(at+".language", "%s is not the language of locale %s", c.Language, have)
		}
	}

	bodyOK := true
	names, err := CloudPlaceholders(c.Body)
	switch {
	case strings.TrimSpace(c.Body) == "":
		add(at+".body", "is required: Meta's body text (the template sync fills it in)")
		bodyOK = false
	case !utf8.ValidString(c.Body):
		add(at+".body", "must be valid UTF-8 text")
		bodyOK = false
	case len(c.Body) > MaxBodyBytes:
		add(at+".body", "must be at most %d bytes", MaxBodyBytes)
		bodyOK = false
	case err != nil:
		add(at+".body", "%s", err.Error())
		bodyOK = false
	}

	if !c.HeaderFormat.valid() {
		add(at+".header_format", "must be TEXT, IMAGE, VIDEO or DOCUMENT, or empty for none")
	}
	switch {
	case c.HeaderText != "" && c.HeaderFormat != CloudHeaderText:
		add(at+".header_text", "is only for a TEXT header")
	case !utf8.ValidString(c.HeaderText) || len(c.HeaderText) > maxCloudHeaderBytes:
		add(at+".header_text", "must be valid UTF-8 text of at most %d bytes", maxCloudHeaderBytes)
	case cloudPlaceholder.MatchString(c.HeaderText):
		add(at+".header_text", "has a parameter, which Crier does not send yet")
	}
	if c.HeaderLink != "" {
		if !c.HeaderFormat.Media() {
			add(at+".header_link", "is only for an IMAGE, VIDEO or DOCUMENT header")
		} else if u, err := url.Parse(c.HeaderLink); err != nil || u.Scheme != "https" || u.Host == "" || len(c.HeaderLink) > 2048 {
			add(at+".header_link", "must be an https URL that Meta can fetch the %s from", strings.ToLower(string(c.HeaderFormat)))
		}
	}

	for _, f := range []struct{ name, text string }{{"footer", c.Footer}, {"opt_out_button", c.OptOutButton}} {
		if !utf8.ValidString(f.text) || Length(f.text) > maxFooterLength {
			add(at+"."+f.name, "must be valid UTF-8 text of at most %d characters", maxFooterLength)
		}
	}
	if category == Marketing && !e.cloudOptOut(&c) {
		add(at, "a marketing template must tell the customer how to opt out: its footer must name an opt-out keyword (%s) or it must have a quick-reply button such as \"Stop promotions\"; add one at Meta and run the template sync", e.footers.display)
	}

	paramsOK := true
	if bodyOK && len(c.Params) > len(names) {
		add(at+".params", "has %d parameters but the body has %d placeholders", len(c.Params), len(names))
		paramsOK = false
	}
	for j, p := range c.Params {
		for _, msg := range e.checkParam(p) {
			add(fmt.Sprintf("%s.params[%d]", at, j), "%s", msg)
			paramsOK = false
		}
	}
	if !bodyOK || !paramsOK {
		return l, nil
	}
	for len(c.Params) < len(names) {
		c.Params = append(c.Params, "")
	}
	if c.Params == nil {
		c.Params = []string{}
	}
	body := c.derivedBody(names)
	msgs, err := e.checkBody(ctx, body, e.cloudFooter(&c))
	if err != nil {
		return l, err
	}
	for _, msg := range msgs {
		add(at+".body", "with its parameters: %s", msg)
	}
	l.Variants = []Variant{{Body: body, Weight: 1}}
	return l, nil
}

// checkParam returns what is wrong with the Liquid of one parameter; an empty one is fine
// (not mapped yet).
func (e *Engine) checkParam(src string) []string {
	switch {
	case strings.TrimSpace(src) == "":
		return nil
	case !utf8.ValidString(src):
		return []string{"must be valid UTF-8 text"}
	case len(src) > maxCloudParamBytes:
		return []string{fmt.Sprintf("must be at most %d bytes", maxCloudParamBytes)}
	case strings.HasSuffix(src, `\`):
		// In the derived body the next placeholder's {{ would read as an escaped brace.
		return []string{"must not end with a backslash"}
	}
	spin, err := ParseSpin(src)
	if err != nil {
		return []string{describe("spintax", err)}
	}
	if spin.groups > 0 {
		return []string{"cannot use spintax: Meta's template is fixed, and one value goes in each parameter"}
	}
	tpl, err := e.sandbox.compile(spin.flatten())
	if err != nil {
		return []string{describe("Liquid", err)}
	}
	use := analyse(tpl.GetRoot(), e.sandbox.filters)
	msgs := make([]string, len(use.problems))
	for i, p := range use.problems {
		msgs[i] = describe("Liquid", p)
	}
	return msgs
}

// derivedBody is the variant body a bound locale shows: the header text, then Meta's body
// with each placeholder replaced by its parameter's Liquid, and a placeholder that is not
// mapped left visible. Meta's own text is escaped so that neither spintax nor Liquid reads
// it. names are the body's placeholders (CloudPlaceholders) and Params as many.
func (c *CloudTemplate) derivedBody(names []string) string {
	var b strings.Builder
	if c.HeaderText != "" {
		b.WriteString(spinLiteral(c.HeaderText))
		b.WriteString("\n\n")
	}
	last := 0
	for _, m := range cloudPlaceholder.FindAllStringSubmatchIndex(c.Body, -1) {
		b.WriteString(spinLiteral(c.Body[last:m[0]]))
		last = m[1]
		name := c.Body[m[2]:m[3]]
		if n, err := strconv.Atoi(name); err == nil {
			name = strconv.Itoa(n)
		}
		i := slices.Index(names, name)
		if i < 0 || strings.TrimSpace(c.Params[i]) == "" {
			b.WriteString("{% raw %}" + c.Body[m[0]:m[1]] + "{% endraw %}")
			continue
		}
		b.WriteString(c.Params[i])
	}
	b.WriteString(spinLiteral(c.Body[last:]))
	return b.String()
}

// spinLiteral escapes text for a variant body: braces and bars are written \{ \} \|, and a
// backslash at the end, which would escape what follows, goes inside a raw block.
func spinLiteral(s string) string {
	var b strings.Builder
	trailing := strings.HasSuffix(s, `\`)
	if trailing {
		s = s[:len(s)-1]
	}
	for _, r := range s {
		if r == '{' || r == '}' || r == '|' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	if trailing {
		b.WriteString(`{% raw %}\{% endraw %}`)
	}
	return b.String()
}

// cloudOptOut reports whether a bound template lets the customer opt out: its footer names
// an opt-out keyword, or it has an opt-out quick-reply button ("Stop promotions" names STOP).
func (e *Engine) cloudOptOut(c *CloudTemplate) bool {
	return e.footers.hasKeyword(c.Footer) || e.footers.hasKeyword(c.OptOutButton)
}

// cloudFooter is what a bound template shows below its body: Meta's footer, then the
// opt-out button as [Stop promotions], so that the text stored with a delivery records how
// the customer could opt out.
func (e *Engine) cloudFooter(c *CloudTemplate) string {
	var parts []string
	if c.Footer != "" {
		parts = append(parts, c.Footer)
	}
	if c.OptOutButton != "" {
		parts = append(parts, "["+c.OptOutButton+"]")
	}
	return strings.Join(parts, "\n")
}

// OptOutButton returns the first of a template's quick-reply button texts that opts out (it
// names an opt-out keyword, as "Stop promotions" does), or "".
func (e *Engine) OptOutButton(buttons []string) string {
	for _, b := range buttons {
		if e.footers.hasKeyword(b) {
			return strings.TrimSpace(b)
		}
	}
	return ""
}

// RenderCloud returns the Cloud API template message of the chosen locale, rendered with d:
// each parameter's Liquid rendered (white space collapsed, as Meta refuses new lines, tabs
// and long runs of spaces in a parameter) and the header's media. It reports false, and
// nothing else, when the locale has no binding. Errors are permanent for the delivery, like
// Render's: ErrChoice, ErrFooter (a marketing binding without an opt-out), ErrParam (a
// parameter not mapped or empty for this recipient), ErrRender and ErrLimit; they name the
// parameter but never a contact's value.
func (e *Engine) RenderCloud(ctx context.Context, t Template, c Choice, d Data) (CloudMessage, bool, error) {
	i := t.localeIndex(c.Locale)
	if i < 0 {
		return CloudMessage{}, false, fmt.Errorf("templates: render %q: %w", c.Locale, ErrChoice)
	}
	cl := t.Locales[i].Cloud
	if cl == nil {
		return CloudMessage{}, false, nil
	}
	if t.Category == Marketing && !e.cloudOptOut(cl) {
		return CloudMessage{}, true, fmt.Errorf("%w: Meta's template %q (%s) has neither an opt-out footer nor an opt-out button", ErrFooter, cl.Name, cl.Language)
	}
	names, err := CloudPlaceholders(cl.Body)
	if err != nil {
		return CloudMessage{}, true, fmt.Errorf("%w: the body of %q %s", ErrRender, cl.Name, err)
	}
	m := CloudMessage{Name: cl.Name, Language: cl.Language, Params: make([]string, len(names))}
	if len(names) > 0 {
		if _, err := strconv.Atoi(names[0]); err != nil {
			m.ParamNames = slices.Clone(names)
		}
	}
	vars := d.vars()
	for j, name := range names {
		src := ""
		if j < len(cl.Params) {
			src = cl.Params[j]
		}
		if strings.TrimSpace(src) == "" {
			return CloudMessage{}, true, fmt.Errorf("%w: parameter %s of %q is not mapped to a value", ErrParam, placeholderName(name), cl.Name)
		}
		spin, err := ParseSpin(src)
		if err != nil {
			return CloudMessage{}, true, fmt.Errorf("%w: parameter %s: spintax: %w", ErrRender, placeholderName(name), err)
		}
		out, err := e.sandbox.execute(ctx, spin.Resolve(c.Seed), vars)
		if err != nil {
			return CloudMessage{}, true, fmt.Errorf("parameter %s: %w", placeholderName(name), err)
		}
		out = strings.Join(strings.Fields(out), " ")
		if out == "" {
			return CloudMessage{}, true, fmt.Errorf("%w: parameter %s of %q (%s) is empty for this contact", ErrParam, placeholderName(name), cl.Name, src)
		}
		if n := Length(out); n > e.maxLength {
			return CloudMessage{}, true, fmt.Errorf("%w: parameter %s is %d characters, over the limit of %d", ErrTooLong, placeholderName(name), n, e.maxLength)
		}
		m.Params[j] = out
	}
	if cl.HeaderFormat.Media() {
		if cl.HeaderLink == "" {
			return CloudMessage{}, true, fmt.Errorf("%w: the %s header of %q has no link", ErrParam, cl.HeaderFormat, cl.Name)
		}
		m.HeaderKind, m.HeaderLink = strings.ToLower(string(cl.HeaderFormat)), cl.HeaderLink
	}
	return m, true, nil
}
