package sender

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
)

// TestLeaseClusterExclusiveAcrossNodes runs three managers for nine accounts whose leases
// live on all three masters: the acquire script's two keys share a slot, each account is
// held by exactly one manager, the leases are renewed past their TTL, LeaseHolders reads
// them across nodes in one call, and a stopped manager's accounts are handed over with
// higher fencing tokens.
func TestLeaseClusterExclusiveAcrossNodes(t *testing.T) {
	t.Parallel()
	accounts := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	clients := testredis.ClusterClients(t, 3)
	ctx := t.Context()
	nodes := map[string]bool{}
	for _, id := range accounts {
		holder, err := clients[0].ClusterKeySlot(ctx, leaseHolderKey(id)).Result()
		require.NoError(t, err)
		fence, err := clients[0].ClusterKeySlot(ctx, leaseFenceKey(id)).Result()
		require.NoError(t, err)
		require.Equal(t, holder, fence, "account %d: the acquire script's keys share a slot", id)
		nodes[testredis.NodeOf(t, clients[0], leaseHolderKey(id))] = true
	}
	require.Len(t, nodes, 3, "the leases spread over all three masters")

	var managers []*testLeaseManager
	for i, rdb := range clients {
		managers = append(managers, startLeaseManager(t, rdb, fmt.Sprintf("m%d", i), LeaseManagerOptions{}, accounts, nil))
	}
	tokens := map[int64]int64{}
	owner := map[int64]*testLeaseManager{}
	require.Eventually(t, func() bool {
		held := leaseHolders(managers, accounts)
		for _, id := range accounts {
			if len(held[id]) != 1 {
				return false
			}
		}
		for _, id := range accounts {
			owner[id] = held[id][0]
			tokens[id], _ = held[id][0].Holds(id)
		}
		return true
	}, 2*testLeaseTTL, 10*time.Millisecond, "every account held by exactly one manager")

	// Past two TTLs the same holders keep the same tokens: renewals work on every node.
	deadline := time.Now().Add(2 * testLeaseTTL)
	for time.Now().Before(deadline) {
		held := leaseHolders(managers, accounts)
		for _, id := range accounts {
			require.Len(t, held[id], 1, "account %d", id)
			require.Same(t, owner[id], held[id][0], "account %d changed hands", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range accounts {
		ok, err := owner[id].Check(ctx, id, tokens[id])
		require.NoError(t, err)
		require.True(t, ok, "account %d", id)
	}
	names, err := LeaseHolders(ctx, clients[1], append(accounts, 99))
	require.NoError(t, err)
	require.Len(t, names, len(accounts), "one pipeline across the nodes; nobody holds 99")
	for _, id := range accounts {
		require.Equal(t, owner[id].Owner(), names[id])
	}

	// Stop the manager that holds account 1: its accounts go to the others, with new tokens.
	stopped := owner[1]
	stopped.stop()
	require.Eventually(t, func() bool {
		held := leaseHolders(managers, accounts)
		for _, id := range accounts {
			if len(held[id]) != 1 || held[id][0] == stopped {
				return false
			}
		}
		return true
	}, 2*testLeaseTTL, 10*time.Millisecond)
	for _, id := range accounts {
		if owner[id] != stopped {
			continue
		}
		for _, m := range managers {
			if tok, ok := m.Holds(id); ok {
				require.Greater(t, tok, tokens[id], "account %d: the fencing token grows", id)
			}
		}
	}
}

// TestLeaseClusterStealProtection: a holder paused past its TTL loses the account to
// another process on the cluster, and Redis refuses its stale token for Check, renewal and
// release, whichever node holds the account.
func TestLeaseClusterStealProtection(t *testing.T) {
	t.Parallel()
	clients := testredis.ClusterClients(t, 2)
	// One account on each node.
	byNode := map[string]int64{}
	for id := int64(1); len(byNode) < 3; id++ {
		node := testredis.NodeOf(t, clients[0], leaseHolderKey(id))
		if _, ok := byNode[node]; !ok {
			byNode[node] = id
		}
	}
	var accounts []int64
	for _, id := range byNode {
		accounts = append(accounts, id)
	}

	var paused atomic.Bool
	resume := make(chan struct{})
	defer func() {
		select {
		case <-resume:
		default:
			close(resume)
		}
	}()
	a := startLeaseManager(t, clients[0], "a", LeaseManagerOptions{}, accounts, func(m *LeaseManager) {
		m.beforeRenew = func(int64) {
			if paused.Load() {
				<-resume
			}
		}
	})
	tokensA := map[int64]int64{}
	for _, id := range accounts {
		tokensA[id] = a.events.waitFor(t, LeaseAcquired, id, testLeaseTTL).Token
	}
	paused.Store(true)

	b := startLeaseManager(t, clients[1], "b", LeaseManagerOptions{}, accounts, nil)
	for _, id := range accounts {
		tokenB := b.events.waitFor(t, LeaseAcquired, id, 3*testLeaseTTL).Token
		require.Greater(t, tokenB, tokensA[id])
		_, held := a.Holds(id)
		require.False(t, held, "account %d: a paused holder's lease ends on its own clock", id)
		ok, err := a.Check(t.Context(), id, tokensA[id])
		require.NoError(t, err)
		require.False(t, ok)
		renewed, _, err := a.renew(t.Context(), id, tokensA[id], time.Now().Add(time.Second))
		require.NoError(t, err)
		require.False(t, renewed, "account %d: a stale token is not renewed", id)
		n, err := leaseReleaseScript.Run(t.Context(), clients[0], []string{leaseHolderKey(id)}, a.value(tokensA[id])).Int()
		require.NoError(t, err)
		require.Zero(t, n, "account %d: a stale token releases nothing", id)
		ok, err = b.Check(t.Context(), id, tokenB)
		require.NoError(t, err)
		require.True(t, ok, "account %d", id)
	}
}
