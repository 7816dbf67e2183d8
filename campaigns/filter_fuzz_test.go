package campaigns

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzFilter decodes an audience as the API does (unknown fields refused) and validates
// it: it never panics; a valid filter always yields a jsonpath, which holds no value (the
// values are variables) and whose every key is quoted; and normalising is idempotent.
// Seeds are in testdata/fuzz/FuzzFilter.
func FuzzFilter(f *testing.F) {
	f.Add(`{"tags_any": ["vip"], "attributes": [{"key": "tier", "op": "eq", "value": "gold"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		var a Audience
		if err := dec.Decode(&a); err != nil {
			return
		}
		norm, errs := normalizeAudience(a)
		if len(errs) > 0 {
			for _, e := range errs {
				if !strings.HasPrefix(e.Field, "audience") || e.Message == "" {
					t.Fatalf("field error %+v", e)
				}
			}
			return
		}
		if norm.SegmentID != 0 {
			return
		}
		path, vars, err := attributePath(norm.Attributes)
		if err != nil {
			t.Fatalf("valid filter %s: %v", body, err)
		}
		if (path == "") != (len(norm.Attributes) == 0) {
			t.Fatalf("path %q for %d conditions", path, len(norm.Attributes))
		}
		if len(norm.Attributes) > 0 && !json.Valid(vars) {
			t.Fatalf("vars %s are not JSON", vars)
		}
		for _, c := range norm.Attributes {
			if c.Op != OpExists && len(c.Value) > 8 && bytes.Contains([]byte(path), c.Value) && !strings.Contains(c.Key, string(c.Value)) {
				t.Fatalf("value %s written into the path %q", c.Value, path)
			}
		}
		again, errs := normalizeAudience(norm)
		if len(errs) > 0 {
			t.Fatalf("normalised filter is invalid: %v", errs)
		}
		a1, _ := json.Marshal(norm)
		a2, _ := json.Marshal(again)
		if !bytes.Equal(a1, a2) {
			t.Fatalf("not idempotent: %s then %s", a1, a2)
		}
	})
}
