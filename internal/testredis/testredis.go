// Package testredis gives each test its own Redis logical database, so that tests (and
// Asynq, which has no key prefix) never see each other's keys. Databases 1..15 are leased
// through keys in database 0 with an expiry, so that parallel test binaries share the
// server safely and a crashed test frees its database after a while. Database 0 itself is
// never flushed.
//
// The server is CRIER_TEST_REDIS_URL (default redis://127.0.0.1:6379).
//
// Cluster gives a test a real three-node Redis Cluster instead, started from the local
// redis-server once per test binary (cluster.go).
package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the server the tests use when CRIER_TEST_REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379"

const (
	firstDB  = 1
	lastDB   = 15
	leaseTTL = 20 * time.Minute
)

// New returns a client on a freshly flushed database of its own; the database is flushed
// and released when the test ends.
func New(t testing.TB) *redis.Client {
	t.Helper()
	opts := Options(t)
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// Options leases a freshly flushed database and returns the options to reach it, for
// code (such as Asynq) that makes its own clients.
func Options(t testing.TB) *redis.Options {
	t.Helper()
	raw := os.Getenv("CRIER_TEST_REDIS_URL")
	if raw == "" {
		raw = DefaultURL
	}
	base, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("testredis: CRIER_TEST_REDIS_URL: %v", err)
	}
	ctx := context.Background()
	base.DB = 0
	admin := redis.NewClient(base)
	defer admin.Close()

	token := randomToken()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		for db := firstDB; db <= lastDB; db++ {
			ok, err := admin.SetNX(ctx, leaseKey(db), token, leaseTTL).Result()
			if err != nil {
				t.Fatalf("testredis: %v (is Redis running? `make test` starts it)", err)
			}
			if !ok {
				continue
			}
			opts := *base
			opts.DB = db
			flush(t, &opts)
			t.Cleanup(func() {
				flush(t, &opts)
				c := redis.NewClient(base)
				defer c.Close()
				// Release only our own lease.
				c.Eval(context.Background(), `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`,
					[]string{leaseKey(db)}, token)
			})
			return &opts
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: no free Redis database in %d..%d after 5 minutes", firstDB, lastDB)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func flush(t testing.TB, opts *redis.Options) {
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("testredis: flush db %d: %v", opts.DB, err)
	}
}

func leaseKey(db int) string { return fmt.Sprintf("crier:testredis:lease:%d", db) }

func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
