package contacts

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxTagLen         = 64
	maxTagsPerContact = 100
)

// NormalizeTag trims and lower-cases a tag and checks that it is a single token of
// letters, digits and - _ . : so that it reads the same in a URL, a CSV cell and a
// segment rule.
func NormalizeTag(raw string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(raw))
	if t == "" {
		return "", fmt.Errorf("a tag cannot be empty")
	}
	if !utf8.ValidString(t) {
		return "", fmt.Errorf("tag is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(t); n > maxTagLen {
		return "", fmt.Errorf("tag %q is %d characters long; the limit is %d", truncate(t, 20), n, maxTagLen)
	}
	for _, r := range t {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("-_.:", r) {
			return "", fmt.Errorf("tag %q has %q: tags may contain letters, digits and - _ . : only", t, r)
		}
	}
	return t, nil
}

// NormalizeTags normalises each tag and returns them sorted and without duplicates (the
// order the database keeps them in).
func NormalizeTags(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		t, err := NormalizeTag(r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxTagsPerContact {
		return nil, fmt.Errorf("%d tags; a contact can have at most %d", len(out), maxTagsPerContact)
	}
	return out, nil
}

// mergeTags returns the sorted union of two normalised tag lists.
func mergeTags(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
