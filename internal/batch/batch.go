// Package batch coalesces concurrent calls into one call over all their inputs: group
// commit. Many goroutines each ask for one thing (claim this delivery, record that
// receipt); a Batcher runs one statement for all the requests that arrived while the
// previous statements were running, and gives each caller its own result.
//
// Without a Linger, a request that arrives when a runner is free runs at once, alone:
// batching adds no delay at low load, and batches grow by themselves as load grows. With
// one, a runner waits that long for company before a batch that would not be full, which
// trades a little latency for larger batches.
package batch

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Func does the work for a batch of inputs. It returns one result per input, in order, or
// an error for the whole batch, which every caller of the batch then gets.
type Func[In, Out any] func(ctx context.Context, in []In) ([]Result[Out], error)

// Result is one input's outcome.
type Result[Out any] struct {
	Value Out
	Err   error
}

// Options tune a Batcher. Zero values get defaults.
type Options struct {
	// MaxSize caps the inputs of one call. Default 256.
	MaxSize int
	// Runners is how many calls may run at once. Default 1: strict group commit.
	Runners int
	// Timeout bounds one call. Default 30s.
	Timeout time.Duration
	// Linger is how long a runner waits for more inputs before a call that would not be
	// full. Zero: it never waits. For inputs that arrive one at a time (a connection's
	// receipts, with Go) or in bursts that a few milliseconds would join (the send steps,
	// the sandbox's writes).
	Linger time.Duration
}

// Batcher coalesces Do calls. The zero value is not usable; make one with New.
type Batcher[In, Out any] struct {
	fn   Func[In, Out]
	opts Options

	mu      sync.Mutex
	pending []*request[In, Out]
	running int
	wg      sync.WaitGroup // Go's inputs not run yet
}

type request[In, Out any] struct {
	in   In
	out  Result[Out]
	done chan struct{}
}

// New returns a Batcher that runs fn.
func New[In, Out any](fn Func[In, Out], opts Options) *Batcher[In, Out] {
	if opts.MaxSize <= 0 {
		opts.MaxSize = 256
	}
	if opts.Runners <= 0 {
		opts.Runners = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	return &Batcher[In, Out]{fn: fn, opts: opts}
}

// Do runs in as part of a batch and returns its result. It waits for the batch to finish
// even when ctx ends, because the batch may already have changed something for in (a
// claim, a write) that the caller must learn about. ctx is not passed on either: the batch
// runs for many callers, under a context of its own bounded by Options.Timeout.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	r := &request[In, Out]{in: in, done: make(chan struct{})}
	b.add(r)
	<-r.done
	return r.out.Value, r.out.Err
}

func (b *Batcher[In, Out]) add(r *request[In, Out]) {
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if b.running < b.opts.Runners {
		b.running++
		go b.run()
	}
	b.mu.Unlock()
}

// Go runs in as part of a batch without waiting for it; the batch's Func deals with its
// outcome. Wait waits for the batches of every Go so far.
func (b *Batcher[In, Out]) Go(in In) {
	b.wg.Add(1)
	b.add(&request[In, Out]{in: in}) // no done channel: call counts it off wg
}

// Wait waits until the inputs given to Go have been run.
func (b *Batcher[In, Out]) Wait() { b.wg.Wait() }

// run takes batches until none is pending.
func (b *Batcher[In, Out]) run() {
	for {
		if b.opts.Linger > 0 {
			b.mu.Lock()
			full := len(b.pending) >= b.opts.MaxSize
			b.mu.Unlock()
			if !full {
				time.Sleep(b.opts.Linger)
			}
		}
		b.mu.Lock()
		n := min(len(b.pending), b.opts.MaxSize)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		reqs := make([]*request[In, Out], n)
		copy(reqs, b.pending)
		b.pending = append(b.pending[:0], b.pending[n:]...)
		b.mu.Unlock()
		b.call(reqs)
	}
}

func (b *Batcher[In, Out]) call(reqs []*request[In, Out]) {
	defer func() {
		for _, r := range reqs {
			if r.done == nil {
				b.wg.Done()
				continue
			}
			close(r.done)
		}
	}()
	ins := make([]In, len(reqs))
	for i, r := range reqs {
		ins[i] = r.in
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
	defer cancel()
	outs, err := b.safeCall(ctx, ins)
	if err == nil && len(outs) != len(ins) {
		err = fmt.Errorf("batch: %d results for %d inputs", len(outs), len(ins))
	}
	for i, r := range reqs {
		if err != nil {
			r.out.Err = err
			continue
		}
		r.out = outs[i]
	}
}

// safeCall turns a panic in fn into an error for the batch, so that no caller waits forever.
func (b *Batcher[In, Out]) safeCall(ctx context.Context, ins []In) (outs []Result[Out], err error) {
	defer func() {
		if p := recover(); p != nil {
			outs, err = nil, fmt.Errorf("batch: panic: %v", p)
		}
	}()
	return b.fn(ctx, ins)
}
