package whatsapp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// onWhatsAppCache remembers IsOnWhatsApp answers, so that each number is looked up once per
// TTL rather than before every message (WhatsApp watches for accounts that look up many
// numbers). One cache serves all the accounts of a Connector: whether a number has
// WhatsApp does not depend on who asks.
//
// Keys are HMAC-SHA256 of the number under a key made at random per process, so the map
// holds no numbers and its keys cannot be reversed by hashing every possible number. An
// entry holds a number only in the rare case that WhatsApp's canonical JID differs from
// the number asked for (some countries changed their numbering); ErasePhone removes the
// entry.
type onWhatsAppCache struct {
	key [32]byte
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[[32]byte]onWhatsAppEntry
}

type onWhatsAppEntry struct {
	in      bool      // the number has WhatsApp
	user    string    // the canonical JID user, only when it differs from the number
	expires time.Time // the answer is asked again from then on
}

func newOnWhatsAppCache(ttl time.Duration, max int) *onWhatsAppCache {
	c := &onWhatsAppCache{ttl: ttl, max: max, m: make(map[[32]byte]onWhatsAppEntry)}
	if _, err := rand.Read(c.key[:]); err != nil {
		panic("whatsapp: no randomness for the cache key: " + err.Error()) // crypto/rand does not fail on supported platforms
	}
	return c
}

func (c *onWhatsAppCache) hash(digits string) [32]byte {
	mac := hmac.New(sha256.New, c.key[:])
	mac.Write([]byte(digits))
	var out [32]byte
	mac.Sum(out[:0])
	return out
}

// get returns the live answer for the number, if any.
func (c *onWhatsAppCache) get(digits string, now time.Time) (onWhatsAppEntry, bool) {
	k := c.hash(digits)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return onWhatsAppEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(c.m, k)
		return onWhatsAppEntry{}, false
	}
	return e, true
}

// put remembers an answer for the TTL. When the cache is full it first drops expired
// entries, then arbitrary ones (Go's map order is random), so memory stays bounded however
// large the audience.
func (c *onWhatsAppCache) put(digits string, in bool, canonicalUser string, now time.Time) {
	e := onWhatsAppEntry{in: in, expires: now.Add(c.ttl)}
	if canonicalUser != digits {
		e.user = canonicalUser
	}
	k := c.hash(digits)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[k] = e
}

// evict makes room for at least one entry; called with mu held.
func (c *onWhatsAppCache) evict(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.max {
			break
		}
		delete(c.m, k)
	}
}

// forget drops the number's entry (erasure).
func (c *onWhatsAppCache) forget(digits string) {
	k := c.hash(digits)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// len is the number of entries, for tests.
func (c *onWhatsAppCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
