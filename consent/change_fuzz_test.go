package consent

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// FuzzChangeValidate feeds a consent decision as the API receives it (status, source,
// purpose, evidence JSON) through Change.validate: it never panics, and a change it accepts
// keeps the ledger's rules — a grant has evidence, and a compliance record has typed
// evidence of the customer's request from the past.
func FuzzChangeValidate(f *testing.F) {
	for _, seed := range []struct{ status, source, purpose, evidence string }{
		{"granted", "form", "marketing", `{"url": "https://shop.example/signup", "ip": "203.0.113.7"}`},
		{"withdrawn", "agent", "", `{}`},
		{"granted", "compliance", "marketing", `{"kind": "signed_form", "reference": "DOC-1", "obtained_at": "2026-11-30T10:00:00Z"}`},
		{"granted", "compliance", "utility", `{"kind": "recorded_call", "reference": "", "obtained_at": "2026-11-30T10:00:00Z"}`},
		{"granted", "compliance", "marketing", `{"kind": 7, "reference": ["x"], "obtained_at": "yesterday"}`},
		{"withdrawn", "compliance", "marketing", `null`},
		{"granted", "keyword", "gossip", `[1, 2]`},
	} {
		f.Add(seed.status, seed.source, seed.purpose, seed.evidence)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status, source, purpose, evidence string) {
		var ev map[string]any
		if json.Unmarshal([]byte(evidence), &ev) != nil {
			ev = nil
		}
		c := Change{ContactID: 1, Status: Status(status), Source: Source(source), Purpose: Purpose(purpose), Evidence: ev}
		if err := c.validate(now); err != nil {
			return
		}
		if c.Status == Granted && len(c.Evidence) == 0 {
			t.Fatalf("a grant without evidence was accepted: %+v", c)
		}
		if c.Source == SourceCompliance {
			kind, _ := c.Evidence["kind"].(string)
			ref, _ := c.Evidence["reference"].(string)
			at, err := time.Parse(time.RFC3339, stringOf(c.Evidence["obtained_at"]))
			if !slices.Contains(ComplianceKinds, kind) || ref == "" || err != nil || at.After(now.Add(5*time.Minute)) {
				t.Fatalf("a compliance record without typed evidence was accepted: %v", c.Evidence)
			}
		}
		if c.Channel != WhatsApp || (c.Purpose != Marketing && c.Purpose != Utility) || c.OccurredAt.IsZero() {
			t.Fatalf("defaults not applied or bad values accepted: %+v", c)
		}
	})
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
