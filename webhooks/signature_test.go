package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/webhooks"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_de_1","type":"message.sent","occurred_at":"2026-01-02T03:04:05Z","data":{}}`)
	at := time.Unix(1_800_000_000, 0)
	const cur, prev = "whsec_current", "whsec_previous"
	rotating := webhooks.Sign(body, at, cur, prev)
	require.Equal(t, 2, strings.Count(rotating, "v1="), "a rotation signs with both secrets")
	require.True(t, strings.HasPrefix(rotating, "t=1800000000,v1="))

	for _, tc := range []struct {
		name    string
		header  string
		body    []byte
		secrets []string
		now     time.Time
		want    error
	}{
		{"right secret", webhooks.Sign(body, at, cur), body, []string{cur}, at, nil},
		{"receiver knows both", webhooks.Sign(body, at, cur), body, []string{prev, cur}, at.Add(time.Minute), nil},
		{"wrong secret", webhooks.Sign(body, at, cur), body, []string{"whsec_other"}, at, webhooks.ErrMismatch},
		{"altered body", webhooks.Sign(body, at, cur), append([]byte(" "), body...), []string{cur}, at, webhooks.ErrMismatch},
		{"old timestamp", webhooks.Sign(body, at, cur), body, []string{cur}, at.Add(5*time.Minute + time.Second), webhooks.ErrTimestamp},
		{"future timestamp", webhooks.Sign(body, at, cur), body, []string{cur}, at.Add(-6 * time.Minute), webhooks.ErrTimestamp},
		{"rotation: new secret", rotating, body, []string{cur}, at, nil},
		{"rotation: old secret", rotating, body, []string{prev}, at, nil},
		{"after the rotation the old one is refused", webhooks.Sign(body, at, cur), body, []string{prev}, at, webhooks.ErrMismatch},
		{"empty", "", body, []string{cur}, at, webhooks.ErrMalformed},
		{"no v1", "t=1800000000", body, []string{cur}, at, webhooks.ErrMalformed},
		{"short v1", "t=1800000000,v1=abcd", body, []string{cur}, at, webhooks.ErrMalformed},
		{"two timestamps", strings.Replace(webhooks.Sign(body, at, cur), "t=1800000000", "t=1800000000,t=1800000001", 1), body, []string{cur}, at, webhooks.ErrMalformed},
		{"signed timestamp", strings.Replace(webhooks.Sign(body, at, cur), "t=", "t=+", 1), body, []string{cur}, at, webhooks.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhooks.Verify(tc.header, tc.body, tc.secrets, 0, tc.now)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.True(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
		})
	}
}

// FuzzVerify: a receiver runs Verify on whatever arrives. It must never panic, and must
// accept only what the secret signed.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"evt_cl_7"}`)
	f.Add(webhooks.Sign(body, time.Unix(1_800_000_000, 0), "whsec_k"), body)
	f.Add("t=1800000000,v1=00,v2=zz", body)
	f.Add("t=,v1=", []byte{})
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		now := time.Unix(1_800_000_000, 0)
		err := webhooks.Verify(header, b, []string{"whsec_k"}, time.Hour, now)
		if err == nil {
			// Accepted: it must carry the real signature of this body at its timestamp.
			m := hmac.New(sha256.New, []byte("whsec_k"))
			m.Write([]byte(tOf(header) + "."))
			m.Write(b)
			require.Contains(t, header, "v1="+hex.EncodeToString(m.Sum(nil)))
		}
	})
}

func tOf(header string) string {
	for _, p := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "t="); ok {
			return v
		}
	}
	return ""
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i, w := range want {
		require.Equal(t, w, webhooks.Backoff(i+1), "after attempt %d", i+1)
	}
	require.Equal(t, time.Hour, webhooks.Backoff(1000))
}
