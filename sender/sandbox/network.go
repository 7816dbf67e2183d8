package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/sender"
)

// Options configure a Network. Zero values get defaults.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Rand makes the simulated failures; nil means a random source.
	Rand *rand.Rand
	// MaxBatch is the most messages written at once (default 2 000).
	MaxBatch int
}

// Network is the simulated network: a sender.Connector for sandbox accounts, and the
// record of what it delivered.
type Network struct {
	pool   *pgxpool.Pool
	opts   Options
	writer *writer

	mu     sync.Mutex
	closed bool
	rand   *rand.Rand
}

var _ sender.Connector = (*Network)(nil)

// New returns a Network storing its messages in pool. Close it to stop its writer.
func New(pool *pgxpool.Pool, opts Options) *Network {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 2000
	}
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	n := &Network{pool: pool, opts: opts, rand: opts.Rand}
	n.writer = newWriter(pool, opts.MaxBatch)
	return n
}

// Connect connects a sandbox account: at once, with the account's simulated behaviour.
func (n *Network) Connect(ctx context.Context, a sender.Account, events sender.EventFunc) (sender.Transport, error) {
	if a.Channel != sender.Sandbox {
		return nil, fmt.Errorf("sandbox: connect account %d: it is a %q account", a.ID, a.Channel)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("sandbox: connect account %d: the network is closed", a.ID)
	}
	cfg := sender.SandboxConfig{}
	if a.Sandbox != nil {
		cfg = *a.Sandbox
	}
	if events == nil {
		events = func(context.Context, sender.Event) {}
	}
	t := newTransport(n, a.ID, cfg, events)
	events(ctx, sender.Event{Kind: sender.EventStatus, AccountID: a.ID, At: n.opts.Now(), Status: sender.StatusConnected, Reason: "sandbox"})
	return t, nil
}

// Capabilities are the simulated network's: receipts after the account's delays, inbound
// messages written by operators (POST /v1/sandbox/inbound), text only, and no pairing.
func (n *Network) Capabilities() sender.Capabilities {
	return sender.Capabilities{Receipts: true, Inbound: true, Simulated: true}
}

// Close stops the writer; transports that are still open fail their sends.
func (n *Network) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.writer.close()
}

// float returns a pseudo-random number in [0, 1) from the network's source.
func (n *Network) float() float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rand.Float64()
}
