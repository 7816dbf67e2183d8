package auth_test

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/crierhq/crier/auth"
)

// FuzzNormalizeEmail: the sign-in form's and the API's email parser either refuses an
// address or returns one that is lower case, trimmed, a plain address (no display name),
// and that it returns unchanged when given again.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ana@example.com", " Ana@Example.COM ", "Ana <ana@example.com>", "a@b", "@example.com",
		"a@@example.com", "\"a b\"@example.com", "ana@example.com\n", "ana@exa mple.com", "ünï@exämple.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := auth.NormalizeEmail(s)
		if err != nil {
			return
		}
		if got != strings.ToLower(got) || got != strings.TrimSpace(got) {
			t.Fatalf("%q → %q: not lower case and trimmed", s, got)
		}
		a, err := mail.ParseAddress(got)
		if err != nil || a.Address != got || a.Name != "" {
			t.Fatalf("%q → %q: not a plain address", s, got)
		}
		again, err := auth.NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("%q → %q → %q, %v: not stable", s, got, again, err)
		}
	})
}
