package workers

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStacks(t *testing.T) {
	t.Parallel()
	s := newStacks(3)

	// Calls run, on at most max goroutines however many callers there are.
	var calls, running, most atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			s.run(func() {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				calls.Add(1)
				running.Add(-1)
			})
		})
	}
	wg.Wait()
	require.Equal(t, int64(50), calls.Load())
	require.LessOrEqual(t, most.Load(), int64(3))
	s.mu.Lock()
	require.LessOrEqual(t, s.started, 3)
	require.Positive(t, s.started)
	s.mu.Unlock()

	// A panic reaches the caller, with its value and stack, and the goroutine carries on.
	var got any
	func() {
		defer func() { got = recover() }()
		s.run(func() { panic("boom") })
	}()
	err, ok := got.(error)
	require.True(t, ok, "%v", got)
	require.ErrorContains(t, err, "boom\ngoroutine ")
	ran := false
	s.run(func() { ran = true })
	require.True(t, ran)

	// After close, calls still run: on the caller's goroutine.
	s.close()
	ran = false
	s.run(func() { ran = true })
	require.True(t, ran)
}
