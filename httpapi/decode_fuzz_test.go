package httpapi

import (
	"bytes"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeJSON feeds request bodies to decodeJSON, into the request types with the most
// shapes (nested objects, arrays, free-form maps): it never panics, and whatever it accepts
// holds no NUL character and no invalid UTF-8 in any string or key, which PostgreSQL would
// refuse or the decoder would silently change.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"phone": "+6591234567", "name": "Ada", "attributes": {"tier": "gold", "n": [1, {"x": null}]}, "tags": ["vip"]}`,
		`{"name": "t", "category": "marketing", "locales": [{"locale": "en", "variants": [{"body": "Hi", "weight": 2}], "footer": "Reply STOP"}]}`,
		`{"status": "granted", "source": "compliance", "evidence": {"kind": "signed_form", "reference": "D-1", "obtained_at": "2026-11-30T10:00:00Z"}}`,
		`{"name": "A\u0000"}`, "{\"name\": \"\xff\"}", `{"attributes": {"\u0000": 1}}`, `{"phone": "+1"} {}`, `[1, 2]`, `{"a": "\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	s := New(Deps{}, Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dst := range []any{&contactCreateRequest{}, &templateRequest{}, &consentRequest{}, &campaignRequest{}} {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			if err := s.decodeJSON(httptest.NewRecorder(), r, dst); err != nil {
				continue
			}
			walkStrings(reflect.ValueOf(dst), func(s string) {
				if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
					t.Fatalf("accepted %q into %T", s, dst)
				}
			})
		}
	})
}

// walkStrings calls fn with every string (and map key) reachable from v.
func walkStrings(v reflect.Value, fn func(string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), fn)
		}
	case reflect.String:
		fn(v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				walkStrings(v.Field(i), fn)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), fn)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walkStrings(k, fn)
			walkStrings(v.MapIndex(k), fn)
		}
	}
}
