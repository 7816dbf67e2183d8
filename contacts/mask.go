package contacts

import (
	"net/netip"
	"regexp"
	"strings"
)

var (
	emailPattern = regexp.MustCompile(`[^\s@<>()\[\],;:"']+@[^\s@<>()\[\],;:"']+\.[^\s@<>()\[\],;:"']+`)
	// phonePattern: an international number as people write one (a +, then seven digits or
	// more, grouped by spaces, dots, dashes or brackets), or eight digits or more with
	// single spaces at most, which no date, price or order number looks like.
	phonePattern = regexp.MustCompile(`\+\d[\d .()\-]{5,}\d|\b\d(?: ?\d){7,}\b`)
)

// MaskText masks what looks like personal data in free text, for roles that may not see
// it: email addresses as MaskEmail does, and numbers of seven digits or more as MaskPhone
// does. Everything else is left as it is.
func MaskText(s string) string {
	s = emailPattern.ReplaceAllStringFunc(s, MaskEmail)
	return phonePattern.ReplaceAllStringFunc(s, func(m string) string {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, m)
		if len(digits) < 7 {
			return m
		}
		return MaskPhone("+" + digits)
	})
}

// MaskValue masks personal data in a JSON value (a consent's evidence): strings as
// MaskText does, and IP addresses down to their network (203.0.113.•). Numbers, booleans
// and the structure stay.
func MaskValue(v any) any {
	switch t := v.(type) {
	case string:
		if a, err := netip.ParseAddr(t); err == nil {
			if a.Is4() {
				return strings.Join(strings.Split(a.String(), ".")[:3], ".") + ".•"
			}
			return strings.Join(strings.SplitN(a.String(), ":", 3)[:2], ":") + ":•"
		}
		return MaskText(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = MaskValue(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = MaskValue(x)
		}
		return out
	}
	return v
}
