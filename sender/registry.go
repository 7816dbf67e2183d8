package sender

import (
	"slices"
	"strings"
)

// Channels are a process's transports, by channel. cmd/crier builds the one set a process
// uses: that is where a new channel plugs in. The Manager connects accounts through it,
// and the API and the CLI ask it what a channel can do instead of naming channels.
type Channels map[Channel]Connector

// Capabilities returns what the channel's transport can do, and false when no transport
// of the channel is registered.
func (c Channels) Capabilities(ch Channel) (Capabilities, bool) {
	conn, ok := c[ch]
	if !ok || conn == nil {
		return Capabilities{}, false
	}
	return conn.Capabilities(), true
}

// Where returns the registered channels whose capabilities satisfy ok, sorted by name.
func (c Channels) Where(ok func(Capabilities) bool) []Channel {
	var out []Channel
	for ch, conn := range c {
		if conn != nil && ok(conn.Capabilities()) {
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

// ChannelNames lists channels for a person: "whatsapp", "sandbox or whatsapp".
func ChannelNames(chs []Channel) string {
	s := make([]string, len(chs))
	for i, ch := range chs {
		s[i] = string(ch)
	}
	return strings.Join(s, " or ")
}
