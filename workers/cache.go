package workers

import (
	"sync"
	"time"
)

// cache keeps values for a short time. It is small: campaigns and templates in use.
type cache[K comparable, V any] struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[K]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

func newCache[K comparable, V any](ttl time.Duration) *cache[K, V] {
	return &cache[K, V]{ttl: ttl, m: map[K]cached[V]{}}
}

func (c *cache[K, V]) get(k K, load func() (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if len(c.m) > 10_000 { // never grows without bound
		clear(c.m)
	}
	c.m[k] = cached[V]{v: v, at: time.Now()}
	c.mu.Unlock()
	return v, nil
}

func (c *cache[K, V]) forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
