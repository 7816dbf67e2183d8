// Package phonehash computes the keyed hash that identifies a phone number without
// holding it: HMAC-SHA256 of the E.164 number under CRIER_HASH_KEY. The suppression list
// is keyed by it, so that a number stays suppressed after its person is erased, and each
// contact carries it, so that "not suppressed" is one indexed join.
//
// Phone numbers are few enough to enumerate, so the hash protects them only while the key
// stays secret: it must never be stored with the data.
package phonehash

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"
)

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 32

// Hasher hashes phone numbers. It is safe for concurrent use.
type Hasher struct {
	pool sync.Pool
}

// New returns a Hasher under key.
func New(key []byte) (*Hasher, error) {
	if len(key) < MinKeyBytes {
		return nil, errors.New("phonehash: the key must be at least 32 bytes")
	}
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any { return hmac.New(sha256.New, k) }
	return h, nil
}

// Sum returns the 32-byte hash of an E.164 number.
func (h *Hasher) Sum(e164 string) []byte {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(e164))
	out := m.Sum(nil)
	h.pool.Put(m)
	return out
}
