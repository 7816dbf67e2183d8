package testredis

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopCluster()
	os.Exit(code)
}

// TestClusterHasThreeMastersAndIsFlushed: the cluster is real (three masters sharing the
// 16384 slots, keys spread over all of them) and each test gets it empty.
func TestClusterHasThreeMastersAndIsFlushed(t *testing.T) {
	ctx := context.Background()
	for round := range 2 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			c := Cluster(t)
			require.Len(t, c.Options().Addrs, 3)
			var masters, keys atomic.Int64 // ForEachMaster asks the nodes at once
			require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
				size, err := n.DBSize(ctx).Result()
				keys.Add(size)
				masters.Add(1)
				return err
			}))
			require.EqualValues(t, 3, masters.Load())
			require.Zero(t, keys.Load(), "flushed for each test")

			slots, err := c.ClusterSlots(ctx).Result()
			require.NoError(t, err)
			covered := 0
			for _, s := range slots {
				covered += s.End - s.Start + 1
			}
			require.Equal(t, 16384, covered)

			nodes := map[string]bool{}
			for i := range 30 {
				key := "k{" + strconv.Itoa(i) + "}"
				require.NoError(t, c.Set(ctx, key, i, 0).Err())
				nodes[NodeOf(t, c, key)] = true
			}
			require.Len(t, nodes, 3, "thirty keys land on every master")
		})
	}
}
