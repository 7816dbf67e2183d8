package contacts

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaskText(t *testing.T) {
	for in, want := range map[string]string{
		"Hi Ada, your code was sent to ada.tan@example.com.": "Hi Ada, your code was sent to a•••@example.com.",
		"Call +65 9123 4567 or 9123 4568 today":              "Call +65••••••67 or +91••••68 today",
		"20% off, order #1234, 2026-12-04":                   "20% off, order #1234, 2026-12-04",
		"":                                                   "",
		"two: bo@x.io and +14155552671":                      "two: b•••@x.io and +14•••••••71",
	} {
		require.Equal(t, want, MaskText(in), in)
	}
}

func TestMaskValue(t *testing.T) {
	in := map[string]any{"ip": "203.0.113.7", "ip6": "2001:db8::1", "email": "ada@example.com", "inbound_message_id": float64(9),
		"consent": true, "text_shown": "Yes, send offers to +6591234567", "nested": []any{"bo@x.io", 3.5}}
	require.Equal(t, map[string]any{"ip": "203.0.113.•", "ip6": "2001:db8:•", "email": "a•••@example.com", "inbound_message_id": float64(9),
		"consent": true, "text_shown": "Yes, send offers to +65••••••67", "nested": []any{"b•••@x.io", 3.5}}, MaskValue(in))
}
