package sender

import (
	"fmt"
	"sync"
)

// ErrorWindow watches the recent send results of each of a set of senders, keyed by id, and
// says when one's failure rate calls for pausing it. Its users key it two ways: the Manager
// by account (only the process that holds an account's connection sends through it, so the
// window sees all of the account's sends), and the workers by campaign (each process
// judges the campaign's sends it made itself). Which failures count is the caller's choice.
type ErrorWindow struct {
	size      int     // sends looked at
	threshold float64 // failure share that pauses
	minSends  int     // sends needed before judging

	mu   sync.Mutex
	keys map[int64]*ring
}

// NewErrorWindow watches the last size sends of each id and trips when more than threshold
// of them failed (and at least size/2 were made).
func NewErrorWindow(size int, threshold float64) *ErrorWindow {
	return &ErrorWindow{size: size, threshold: threshold, minSends: max(1, size/2), keys: map[int64]*ring{}}
}

type ring struct {
	results []bool // true: failed
	next    int
	filled  int
	failed  int
}

// Record adds a send result of id (an account or a campaign) and, when id should be paused,
// returns the reason; the window then starts afresh.
func (w *ErrorWindow) Record(id int64, failed bool) (pause string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.keys[id]
	if r == nil {
		r = &ring{results: make([]bool, w.size)}
		w.keys[id] = r
	}
	if r.filled == w.size && r.results[r.next] {
		r.failed--
	}
	r.results[r.next] = failed
	if failed {
		r.failed++
	}
	r.next = (r.next + 1) % w.size
	r.filled = min(r.filled+1, w.size)
	if r.filled >= w.minSends && float64(r.failed) > w.threshold*float64(r.filled) {
		reason := fmt.Sprintf("paused itself: %d of its last %d sends failed (threshold %.0f%%)",
			r.failed, r.filled, w.threshold*100)
		*r = ring{results: make([]bool, w.size)} // start afresh after a pause
		return reason
	}
	return ""
}

// Forget drops id's window (an account resumed, or whose lease moved away).
func (w *ErrorWindow) Forget(id int64) {
	w.mu.Lock()
	delete(w.keys, id)
	w.mu.Unlock()
}
