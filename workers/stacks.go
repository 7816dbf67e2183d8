package workers

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// stacks runs functions on long-lived goroutines. Asynq starts a goroutine for every task,
// with a small stack, and a send's calls (JSON, Liquid, pgx, the batches) grow it several
// times over, each growth a copy of the stack: 7 % of a worker's CPU in `crier bench`. The
// goroutines here keep the stacks they grew. They start as the load needs them, up to max,
// and stop at close; after close, run calls f on the caller's goroutine.
type stacks struct {
	jobs chan stackJob
	quit chan struct{}
	once sync.Once

	mu      sync.Mutex
	started int
	max     int
}

type stackJob struct {
	f    func()
	done chan any // the panic value, or nil
}

func newStacks(max int) *stacks {
	return &stacks{jobs: make(chan stackJob), quit: make(chan struct{}), max: max}
}

// run calls f on one of the goroutines and waits for it; a panic in f is raised again here.
func (s *stacks) run(f func()) {
	j := stackJob{f: f, done: make(chan any, 1)}
	select {
	case s.jobs <- j: // an idle goroutine took it
	case <-s.quit:
		j.done <- call(f)
	default:
		s.mu.Lock()
		spawn := s.started < s.max
		if spawn {
			s.started++
		}
		s.mu.Unlock()
		if spawn {
			go s.loop(j)
			break
		}
		select {
		case s.jobs <- j:
		case <-s.quit:
			j.done <- call(f)
		}
	}
	if p := <-j.done; p != nil {
		panic(p)
	}
}

func (s *stacks) loop(j stackJob) {
	for {
		j.done <- call(j.f)
		select {
		case j = <-s.jobs:
		case <-s.quit:
			return
		}
	}
}

// close stops the idle goroutines; a busy one stops when its call returns.
func (s *stacks) close() { s.once.Do(func() { close(s.quit) }) }

func call(f func()) (p any) {
	defer func() {
		if r := recover(); r != nil {
			p = fmt.Errorf("%v\n%s", r, debug.Stack())
		}
	}()
	f()
	return nil
}
