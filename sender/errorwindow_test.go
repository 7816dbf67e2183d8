package sender_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender"
)

// TestErrorWindowPausesOnAHighFailureRate: each id (an account, a campaign) is judged on its
// own last sends.
func TestErrorWindowPausesOnAHighFailureRate(t *testing.T) {
	t.Parallel()
	w := sender.NewErrorWindow(10, 0.5)
	for range 4 {
		require.Empty(t, w.Record(1, true), "too few sends to judge")
	}
	require.NotEmpty(t, w.Record(1, true), "5 of 5 failed")
	for i := range 20 {
		require.Empty(t, w.Record(1, i%3 == 0), "a third failing is under the threshold")
	}
	var reason string
	for range 10 {
		if r := w.Record(2, true); r != "" {
			reason = r
			break
		}
	}
	require.Contains(t, reason, "5 of its last 5 sends failed (threshold 50%)")
	require.Empty(t, w.Record(1, false), "accounts are judged apart")
	w.Forget(2)
	require.Empty(t, w.Record(2, true))
}
