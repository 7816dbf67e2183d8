package sender

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
)

// Rotation is how a campaign spreads its messages over its accounts.
type Rotation string

// The rotations.
const (
	// RoundRobin takes the accounts in turn.
	RoundRobin Rotation = "round_robin"
	// Sticky keeps each contact on the same account while that account is healthy, so a
	// customer always hears from one number.
	Sticky Rotation = "sticky"
)

// Valid reports whether r is a known rotation.
func (r Rotation) Valid() bool { return r == RoundRobin || r == Sticky }

// Order returns the accounts to try, in order, for one message to contact, among the
// campaign's accounts (in the campaign's order). usable says whether an account can send
// from this process now (healthy, and its connection held here); unusable accounts are
// left out. turn advances round-robin (a counter per campaign).
//
// With Sticky, the contact's account comes alone while it is usable: a rate limit on it
// means "wait", not "switch". Only when it is unusable do the others come, in an order
// that is also fixed per contact, so that the contact sticks to its second account too.
func Order(r Rotation, accounts []int64, contactID int64, turn uint64, usable func(int64) bool) []int64 {
	n := len(accounts)
	if n == 0 {
		return nil
	}
	start := int(turn % uint64(n))
	if r == Sticky {
		start = int(contactHash(contactID) % uint64(n))
		if preferred := accounts[start]; usable(preferred) {
			return []int64{preferred}
		}
	}
	out := make([]int64, 0, n)
	for i := range n {
		if id := accounts[(start+i)%n]; usable(id) {
			out = append(out, id)
		}
	}
	return out
}

func contactHash(id int64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatInt(id, 10)))
	return h.Sum64()
}

// ErrorWindow watches each account's recent send results and says when its failure rate
// calls for pausing it. Only the process that holds an account's connection sends
// through it, so its window sees all of the account's sends.
type ErrorWindow struct {
	size      int     // sends looked at
	threshold float64 // failure share that pauses
	minSends  int     // sends needed before judging

	mu       sync.Mutex
	accounts map[int64]*ring
}

// NewErrorWindow watches the last size sends of each account and trips when more than
// threshold of them failed (and at least size/2 were made).
func NewErrorWindow(size int, threshold float64) *ErrorWindow {
	return &ErrorWindow{size: size, threshold: threshold, minSends: max(1, size/2), accounts: map[int64]*ring{}}
}

type ring struct {
	results []bool // true: failed
	next    int
	filled  int
	failed  int
}

// Record adds a send result and, when the account should be paused, returns the reason.
// Only failures that are the account's or the network's count: a message that is
// permanently undeliverable (no WhatsApp) says nothing about the account.
func (w *ErrorWindow) Record(accountID int64, failed bool) (pause string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.accounts[accountID]
	if r == nil {
		r = &ring{results: make([]bool, w.size)}
		w.accounts[accountID] = r
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

// Forget drops an account's window (when it is resumed, or its lease moves away).
func (w *ErrorWindow) Forget(accountID int64) {
	w.mu.Lock()
	delete(w.accounts, accountID)
	w.mu.Unlock()
}
