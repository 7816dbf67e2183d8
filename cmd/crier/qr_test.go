package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRenderQR(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, renderQR(&buf, "2@abcdefghijklmnopqrstuvwxyz0123456789,AbCdEfGhIjKlMnOpQrStUvWxYz,0123456789abcdef,ABCDEFGH"))
	out := buf.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Greater(t, len(lines), 10)
	require.Contains(t, out, "▀")
	require.Contains(t, out, "▄")
	// Half blocks: about half as many lines as columns.
	width := len([]rune(lines[0]))
	require.Less(t, len(lines), width)

	require.Error(t, renderQR(&buf, ""))
	require.Error(t, renderQR(&buf, strings.Repeat("x", maxQRText+1)))
}
