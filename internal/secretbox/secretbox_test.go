package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/secretbox"
)

func newBox(t testing.TB, fill byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(bytes.Repeat([]byte{fill}, secretbox.KeySize))
	require.NoError(t, err)
	return b
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box := newBox(t, 1)
	for _, plain := range []string{"", "EAAG-secret-token", strings.Repeat("ü", 500)} {
		sealed, err := box.Seal(plain)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(sealed, "v1:"))
		got, err := box.Open(sealed)
		require.NoError(t, err)
		require.Equal(t, plain, got)
	}
}

func TestSealHidesThePlaintext(t *testing.T) {
	t.Parallel()
	box := newBox(t, 1)
	const plain = "EAAGsupersecretaccesstoken"
	a, err := box.Seal(plain)
	require.NoError(t, err)
	b, err := box.Seal(plain)
	require.NoError(t, err)
	require.NotEqual(t, a, b, "a fresh nonce each time")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "v1:"))
	require.NoError(t, err)
	rawB, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(b, "v1:"))
	require.NoError(t, err)
	require.NotEqual(t, raw[:12], rawB[:12], "the nonces differ")
	require.NotContains(t, a, plain)
	require.False(t, bytes.Contains(raw, []byte(plain)))
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	box := newBox(t, 1)
	const plain = "app-secret-123"
	sealed, err := box.Seal(plain)
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	require.NoError(t, err)
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-1] ^= 1
	nonce := bytes.Clone(raw)
	nonce[0] ^= 1

	for name, in := range map[string]string{
		"tampered ciphertext": "v1:" + base64.StdEncoding.EncodeToString(flipped),
		"tampered nonce":      "v1:" + base64.StdEncoding.EncodeToString(nonce),
		"truncated":           sealed[:len(sealed)-4],
		"no prefix":           strings.TrimPrefix(sealed, "v1:"),
		"other version":       "v2:" + strings.TrimPrefix(sealed, "v1:"),
		"not base64":          "v1:!!!",
		"short":               "v1:" + base64.StdEncoding.EncodeToString(raw[:20]),
		"empty":               "",
		"plaintext":           plain,
	} {
		_, err := box.Open(in)
		require.ErrorIs(t, err, secretbox.ErrOpen, name)
		require.NotContains(t, err.Error(), plain, name)
	}

	_, err = newBox(t, 2).Open(sealed)
	require.ErrorIs(t, err, secretbox.ErrOpen, "wrong key")
}

func TestNewRefusesBadKeys(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		_, err := secretbox.New(make([]byte, n))
		require.Error(t, err, n)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := make([]byte, secretbox.KeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	for _, s := range []string{
		hex.EncodeToString(key),
		strings.ToUpper(hex.EncodeToString(key)),
		" " + hex.EncodeToString(key) + "\n",
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
	} {
		got, err := secretbox.ParseKey(s)
		require.NoError(t, err, s)
		require.Equal(t, key, got, s)
	}

	for _, s := range []string{
		"",
		"short",
		hex.EncodeToString(key[:16]),       // AES-128 is not enough
		hex.EncodeToString(key)[:63] + "g", // not hex, not base64 of 32
		base64.StdEncoding.EncodeToString(append(key, 1)),     // 33 bytes
		"correct horse battery staple correct horse battery!", // a passphrase
	} {
		_, err := secretbox.ParseKey(s)
		require.Error(t, err, s)
		if s != "" {
			require.NotContains(t, err.Error(), s, "the error never repeats the key")
		}
	}
}

// FuzzOpen checks that Open never panics and opens nothing it did not seal.
func FuzzOpen(f *testing.F) {
	box := newBox(f, 1)
	sealed, err := box.Seal("seed secret")
	require.NoError(f, err)
	f.Add(sealed)
	f.Fuzz(func(t *testing.T, in string) {
		plain, err := box.Open(in)
		if err != nil {
			require.Empty(t, plain)
			return
		}
		again, err := box.Seal(plain)
		require.NoError(t, err)
		back, err := box.Open(again)
		require.NoError(t, err)
		require.Equal(t, plain, back)
	})
}
