package workers

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
)

// BenchmarkAcquire measures the Sender taking an account for one send (round robin over two
// held accounts, a send token from the limiter; with a campaign cap, a token of the cap
// too; with check, the lease checked as before a send) and giving the token back, as a send
// does that is not sent after all. The rates are too high to refuse.
func BenchmarkAcquire(b *testing.B) {
	ctx := context.Background()
	pool, rdb := testdb.New(b), testredis.New(b)
	accounts := sender.NewAccounts(pool)
	network := sandbox.New(pool, sandbox.Options{})
	b.Cleanup(network.Close)
	rate := 10_000_000
	var ids []int64
	for _, name := range []string{"A", "B"} {
		a, err := accounts.Create(ctx, sender.AccountInput{Name: name, Channel: sender.Sandbox, RatePerMinute: &rate})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	mgr, err := sender.NewManager(rdb, accounts, map[sender.Channel]sender.Connector{sender.Sandbox: network}, nil,
		sender.ManagerOptions{Refresh: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Run(mctx) }()
	b.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, _, _, okA := mgr.Held(ids[0])
		_, _, _, okB := mgr.Held(ids[1])
		if okA && okB {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the accounts were not held in time")
		}
	}
	h := New(Deps{Redis: rdb, Limiter: sender.NewLimiter(rdb, sender.LimiterOptions{}), Manager: mgr,
		Logger: slog.New(slog.DiscardHandler)}, Options{})
	b.Cleanup(func() { _ = h.Close() })
	s := h.send
	for _, bc := range []struct {
		name  string
		rate  int  // the campaign's cap
		check bool // check the lease too, as a send does before it sends
	}{{"uncapped", 0, false}, {"capped", 10_000_000, false}, {"uncapped+check", 0, true}} {
		b.Run(bc.name, func(b *testing.B) {
			camp := campaigns.SendCampaign{ID: 1, AccountIDs: ids, Rotation: sender.RoundRobin, RatePerMinute: bc.rate}
			b.ReportAllocs()
			for i := range b.N {
				contact := int64(i)
				m := message{delivery: delivery.Delivery{ID: int64(i), CampaignID: 1, ContactID: &contact}, campaign: camp}
				g, err := s.acquire(ctx, &m)
				if err != nil {
					b.Fatal(err)
				}
				if bc.check {
					if err := s.pool.Confirm(ctx, g); err != nil {
						b.Fatal(err)
					}
				}
				s.refund(ctx, g)
			}
		})
	}
}
