package whatsapp

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	signallog "go.mau.fi/libsignal/logger"
)

// TestSignalLogsAreQuietAndScrubbed: libsignal's logger is this package's from the start
// (so libsignal never sets its default, unlocked, from two goroutines at once), its debug
// and info lines are dropped, and its warnings and errors reach the Connector's logger
// with every run of digits redacted. Not parallel: it swaps the package's logger.
func TestSignalLogsAreQuietAndScrubbed(t *testing.T) {
	require.IsType(t, signalLogger{}, signallog.Logger, "set at init, before any use")

	var buf bytes.Buffer
	prev := signalLog.Swap(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer signalLog.Store(prev)
	signallog.Debug("debug line for +6591234567")
	signallog.Info("info line for 6591234567@s.whatsapp.net")
	signallog.Warning("no session for 6591234567@s.whatsapp.net")
	signallog.Error("bad signature from +6591234567")
	out := buf.String()
	require.NotContains(t, out, "6591234567")
	require.NotContains(t, out, "debug line")
	require.NotContains(t, out, "info line")
	require.Contains(t, out, `level=WARN msg="no session for <redacted>@s.whatsapp.net" component=libsignal`)
	require.Contains(t, out, `level=ERROR msg="bad signature from <redacted>" component=libsignal`)

	signalLog.Store(nil) // no Connector yet: nothing is written, and nothing fails
	signallog.Error("before any connector")
	require.NotContains(t, buf.String(), "before any connector")
}
