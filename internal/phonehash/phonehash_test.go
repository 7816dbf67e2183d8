package phonehash_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/phonehash"
)

func TestSumIsHMACSHA256(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	h, err := phonehash.New(key)
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("+6591234567"))
	require.Equal(t, m.Sum(nil), h.Sum("+6591234567"))
	require.NotEqual(t, h.Sum("+6591234567"), h.Sum("+6591234568"))

	other, err := phonehash.New(bytes.Repeat([]byte{8}, 32))
	require.NoError(t, err)
	require.NotEqual(t, h.Sum("+6591234567"), other.Sum("+6591234567"), "the key matters")

	_, err = phonehash.New([]byte("short"))
	require.Error(t, err)
}

func TestSumConcurrently(t *testing.T) {
	t.Parallel()
	h, err := phonehash.New(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	want := h.Sum("+14155552671")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if !bytes.Equal(h.Sum("+14155552671"), want) {
					t.Error("different hash under concurrency")
					return
				}
			}
		}()
	}
	wg.Wait()
}
