package httpapi

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever a sign-in form's next field holds, the redirect after sign-in
// stays on this site: a path that a browser cannot read as another host.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/campaigns/3?x=1", "//evil.example", "/\\evil.example", "https://evil.example/",
		"javascript:alert(1)", "/a\r\nSet-Cookie: x=1", "", "campaigns", "/%2F%2Fevil.example", "\t//evil.example", "/\t/evil.example", "/\n/evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("%q → %q: rewritten instead of kept or refused", next, got)
		}
		// What a browser reads: tabs and newlines dropped (WHATWG URL), backslashes as slashes.
		read := strings.ReplaceAll(strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, got), "\\", "/")
		if !strings.HasPrefix(read, "/") || strings.HasPrefix(read, "//") || strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 }) {
			t.Fatalf("%q → %q: not a path on this site", next, got)
		}
		u, err := url.Parse(got)
		if err == nil && (u.Host != "" || u.Scheme != "") {
			t.Fatalf("%q → %q: names a host", next, got)
		}
	})
}
