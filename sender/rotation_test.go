package sender_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender"
)

func TestRoundRobinTakesTurnsAndSkipsUnusable(t *testing.T) {
	t.Parallel()
	accounts := []int64{10, 20, 30}
	all := func(int64) bool { return true }
	var firsts []int64
	for turn := range uint64(6) {
		firsts = append(firsts, sender.Order(sender.RoundRobin, accounts, 42, turn, all)[0])
	}
	require.Equal(t, []int64{10, 20, 30, 10, 20, 30}, firsts)
	require.Equal(t, []int64{30, 10, 20}, sender.Order(sender.RoundRobin, accounts, 42, 2, all), "the rest follow as fallbacks")

	not20 := func(id int64) bool { return id != 20 }
	require.Equal(t, []int64{30, 10}, sender.Order(sender.RoundRobin, accounts, 42, 1, not20), "a paused or banned account is skipped")
	require.Empty(t, sender.Order(sender.RoundRobin, accounts, 42, 1, func(int64) bool { return false }))
	require.Empty(t, sender.Order(sender.RoundRobin, nil, 42, 1, all))
}

func TestStickyKeepsAContactOnOneAccount(t *testing.T) {
	t.Parallel()
	accounts := []int64{10, 20, 30}
	all := func(int64) bool { return true }
	seen := map[int64]int{}
	for contact := range int64(300) {
		first := sender.Order(sender.Sticky, accounts, contact, 0, all)
		require.Len(t, first, 1, "a usable sticky account comes alone: a rate limit means wait")
		for turn := range uint64(5) {
			require.Equal(t, first, sender.Order(sender.Sticky, accounts, contact, turn, all), "the same account whatever the turn")
		}
		seen[first[0]]++
	}
	for _, id := range accounts {
		require.Greater(t, seen[id], 60, "contacts spread over the accounts: %v", seen)
	}

	// When its account is unusable, a contact moves, always to the same next one.
	home := sender.Order(sender.Sticky, accounts, 7, 0, all)[0]
	without := func(id int64) bool { return id != home }
	moved := sender.Order(sender.Sticky, accounts, 7, 0, without)
	require.Len(t, moved, 2)
	require.NotContains(t, moved, home)
	require.Equal(t, moved, sender.Order(sender.Sticky, accounts, 7, 9, without))
}
