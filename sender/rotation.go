package sender

import (
	"hash/fnv"
	"strconv"
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
