package sender_test

import (
	"sync/atomic"
	"testing"

	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
)

// BenchmarkLimiterTake measures the cost of one granted token (two Redis round trips: the
// GCRA script and the daily counter script), each goroutine on its own account.
func BenchmarkLimiterTake(b *testing.B) {
	lim := sender.NewLimiter(testredis.New(b), sender.LimiterOptions{})
	limits := sender.AccountLimits{RatePerMinute: 60_000_000, DailyCap: 1 << 30}
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		account := next.Add(1)
		for pb.Next() {
			if _, err := lim.Take(b.Context(), account, limits); err != nil {
				b.Fatal(err)
			}
		}
	})
}
