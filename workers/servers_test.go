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

// TestSendQueuesSpread: CRIER_SEND_QUEUES' queues take the sends by delivery id, each has a
// send server, and one queue is the send queue of before.
func TestSendQueuesSpread(t *testing.T) {
	require.Equal(t, []string{QueueSend}, SendQueues(1))
	require.Equal(t, []string{"send", "send-1", "send-2"}, SendQueues(3))
	require.Equal(t, QueueSend, SendQueue(12345, 1))
	seen := map[string]int{}
	for id := int64(1); id <= 300; id++ {
		seen[SendQueue(id, 3)]++
	}
	require.Equal(t, map[string]int{"send": 100, "send-1": 100, "send-2": 100}, seen)
	for _, tc := range []struct{ queues, concurrency int }{{1, 1000}, {3, 1000}, {8, 1000}, {16, 1000}, {3, 16}, {64, 64}} {
		q := NewQueue(nil, nil).SpreadSends(tc.queues)
		h := New(Deps{Queue: q}, Options{Concurrency: tc.concurrency})
		served := map[string]int{}
		for _, c := range h.ServerConfigs(time.Second)[2:] {
			require.NotEmpty(t, c.Queues, "%+v: a send server with no queue", tc)
			for name := range c.Queues {
				served[name]++
			}
		}
		require.Len(t, served, tc.queues, "%+v: every send queue has a server", tc)
		for _, name := range SendQueues(tc.queues) {
			require.Positive(t, served[name], "%+v: %s", tc, name)
		}
	}
}
