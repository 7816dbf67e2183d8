package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCoalescesConcurrentCalls(t *testing.T) {
	var calls, maxSeen atomic.Int64
	release := make(chan struct{})
	b := New(func(_ context.Context, in []int) ([]Result[int], error) {
		if calls.Add(1) == 1 {
			<-release // hold the first batch so that the others queue up behind it
		}
		if int64(len(in)) > maxSeen.Load() {
			maxSeen.Store(int64(len(in)))
		}
		out := make([]Result[int], len(in))
		for i, v := range in {
			out[i] = Result[int]{Value: v * 2}
			if v%10 == 0 {
				out[i].Err = errors.New("tens fail")
			}
		}
		return out, nil
	}, Options{MaxSize: 50})

	const n = 101
	var wg sync.WaitGroup
	got := make([]int, n)
	errs := make([]error, n)
	wg.Go(func() { got[0], errs[0] = b.Do(context.Background(), 0) })
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < n; i++ {
		wg.Go(func() { got[i], errs[i] = b.Do(context.Background(), i) })
	}
	waitPending(t, b, n-1)
	close(release)
	wg.Wait()

	for i := range n {
		if wantErr := i%10 == 0; (errs[i] != nil) != wantErr {
			t.Errorf("input %d: error %v, want error %v", i, errs[i], wantErr)
		}
		if errs[i] == nil && got[i] != 2*i {
			t.Errorf("input %d: got %d, want %d", i, got[i], 2*i)
		}
	}
	// 1 alone, then 100 in batches of at most 50.
	if c := calls.Load(); c != 3 {
		t.Errorf("%d calls, want 3", c)
	}
	if m := maxSeen.Load(); m != 50 {
		t.Errorf("largest batch %d, want 50 (MaxSize)", m)
	}
}

func waitPending[In, Out any](t *testing.T, b *Batcher[In, Out], n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		p := len(b.pending)
		b.mu.Unlock()
		if p == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pending, want %d", p, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatchErrorAndPanicReachEveryCaller(t *testing.T) {
	boom := errors.New("boom")
	for name, fn := range map[string]Func[int, int]{
		"error": func(context.Context, []int) ([]Result[int], error) { return nil, boom },
		"panic": func(context.Context, []int) ([]Result[int], error) { panic("bad") },
		"short": func(context.Context, []int) ([]Result[int], error) { return nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			b := New(fn, Options{})
			var wg sync.WaitGroup
			var failed atomic.Int64
			for i := range 20 {
				wg.Go(func() {
					if _, err := b.Do(context.Background(), i); err != nil {
						failed.Add(1)
					}
				})
			}
			wg.Wait()
			if failed.Load() != 20 {
				t.Fatalf("%d of 20 callers got an error", failed.Load())
			}
		})
	}
}

func TestRunnersRunConcurrently(t *testing.T) {
	var running, peak atomic.Int64
	b := New(func(_ context.Context, in []int) ([]Result[int], error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return make([]Result[int], len(in)), nil
	}, Options{Runners: 3, MaxSize: 1})
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Go(func() { _, _ = b.Do(context.Background(), i) })
	}
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak %d concurrent calls, want 3 (Runners)", p)
	}
}

func TestTimeoutBoundsACall(t *testing.T) {
	b := New(func(ctx context.Context, in []int) ([]Result[int], error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}, Options{Timeout: 20 * time.Millisecond})
	if _, err := b.Do(context.Background(), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the batch's deadline", err)
	}
}

// TestLingerGathersCallersThatComeOneByOne: with Linger, inputs given one after the other
// by one goroutine (Go does not wait) still share a call.
func TestLingerGathersCallersThatComeOneByOne(t *testing.T) {
	var calls, items atomic.Int64
	b := New(func(_ context.Context, in []int) ([]Result[int], error) {
		calls.Add(1)
		items.Add(int64(len(in)))
		return make([]Result[int], len(in)), nil
	}, Options{Linger: 50 * time.Millisecond})
	for i := range 100 {
		b.Go(i)
	}
	b.Wait()
	if items.Load() != 100 {
		t.Fatalf("%d inputs run, want 100", items.Load())
	}
	if c := calls.Load(); c > 3 {
		t.Fatalf("%d calls for 100 inputs given within the linger, want at most 3", c)
	}
}
