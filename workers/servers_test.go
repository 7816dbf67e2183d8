package workers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServerConfigsSplitTheSendQueue(t *testing.T) {
	for _, tc := range []struct{ concurrency, sendServers int }{{1, 1}, {16, 1}, {64, 4}, {70, 4}, {1000, 8}} {
		h := New(Deps{Redis: nil}, Options{Concurrency: tc.concurrency})
		configs := h.ServerConfigs(time.Second)
		require.Len(t, configs, 2+tc.sendServers, "concurrency %d", tc.concurrency)
		require.Equal(t, map[string]int{QueueEvents: 6, QueueCampaigns: 3, QueueMaintenance: 1}, configs[0].Queues,
			"events keep their priority over campaigns and maintenance, on a server of their own")
		require.Equal(t, map[string]int{QueueReplies: 1}, configs[1].Queues,
			"replies wait for rate tokens on a server of their own, never in an events slot")
		require.GreaterOrEqual(t, configs[1].Concurrency, 4)
		sends := 0
		for _, c := range configs[2:] {
			require.Equal(t, map[string]int{QueueSend: 1}, c.Queues)
			require.Positive(t, c.Concurrency)
			sends += c.Concurrency
		}
		require.Equal(t, tc.concurrency, sends, "the send servers share the configured concurrency")
	}
}
