package whatsapp

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/sender"
)

// testBundle is a Connector on its own migrated database.
type testBundle struct {
	pool  *pgxpool.Pool
	conn  *Connector
	clock *testClock
}

// setup returns a Connector on a fresh database; opts.Now defaults to the bundle's clock.
func setup(t *testing.T, opts Options) *testBundle {
	t.Helper()
	pool := testdb.New(t)
	clock := newTestClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	c, err := New(context.Background(), pool, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &testBundle{pool: pool, conn: c, clock: clock}
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// storeFakeDevice saves a device for the account as if it had been paired with the phone
// digits: whatsmeow can load it and try to log in with it, which is all Connect needs to
// reach the network.
func storeFakeDevice(t *testing.T, b *testBundle, accountID int64, digits string) types.JID {
	t.Helper()
	ctx := context.Background()
	dev := b.conn.container.NewDevice()
	jid := types.JID{User: digits, Device: 12, Server: types.DefaultUserServer}
	dev.ID = &jid
	dev.PushName = "Shop"
	dev.Account = &waAdv.ADVSignedDeviceIdentity{
		Details:             []byte{1},
		AccountSignature:    make([]byte, 64),
		AccountSignatureKey: make([]byte, 32),
		DeviceSignature:     make([]byte, 64),
	}
	require.NoError(t, b.conn.container.PutDevice(ctx, dev))
	require.NoError(t, devicePut(ctx, b.pool, accountID, jid, b.clock.Now()))
	return jid
}

// fakeClient stands in for a connected whatsmeow client in the send tests.
type fakeClient struct {
	mu         sync.Mutex
	loggedIn   bool
	onWA       map[string]types.IsOnWhatsAppResponse // by "+digits"; missing means not on WhatsApp
	onWAErr    error
	onWACalls  int
	sendErr    error
	sendTime   time.Time
	sent       []fakeSent
	presences  []types.ChatPresence
	removed    []uint32
	disconnect int
}

type fakeSent struct {
	to   types.JID
	text string
	id   types.MessageID
}

var _ client = (*fakeClient)(nil)

func newFakeClient() *fakeClient {
	return &fakeClient{loggedIn: true, onWA: map[string]types.IsOnWhatsAppResponse{}}
}

// on registers a number as on WhatsApp, under canonical if given.
func (f *fakeClient) on(e164 string, canonical ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user := e164[1:]
	if len(canonical) > 0 {
		user = canonical[0]
	}
	f.onWA[e164] = types.IsOnWhatsAppResponse{Query: e164, JID: types.NewJID(user, types.DefaultUserServer), IsIn: true}
}

func (f *fakeClient) IsLoggedIn() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loggedIn
}

func (f *fakeClient) IsOnWhatsApp(_ context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onWACalls++
	if f.onWAErr != nil {
		return nil, f.onWAErr
	}
	out := make([]types.IsOnWhatsAppResponse, 0, len(phones))
	for _, p := range phones {
		r, ok := f.onWA[p]
		if !ok {
			r = types.IsOnWhatsAppResponse{Query: p, JID: types.NewJID(p[1:], types.DefaultUserServer), IsIn: false}
		}
		out = append(out, r)
	}
	return out, nil
}

func (f *fakeClient) SendMessage(_ context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return whatsmeow.SendResponse{}, f.sendErr
	}
	var id types.MessageID
	if len(extra) > 0 {
		id = extra[0].ID
	}
	f.sent = append(f.sent, fakeSent{to: to, text: msg.GetConversation(), id: id})
	return whatsmeow.SendResponse{ID: id, Timestamp: f.sendTime}, nil
}

func (f *fakeClient) SendChatPresence(_ context.Context, _ types.JID, state types.ChatPresence, _ types.ChatPresenceMedia) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.presences = append(f.presences, state)
	return nil
}

func (f *fakeClient) RemoveEventHandler(id uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return true
}

func (f *fakeClient) Disconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnect++
}

// eventLog records delivered events.
type eventLog struct {
	mu     sync.Mutex
	events []sender.Event
}

func (l *eventLog) add(_ context.Context, e sender.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []sender.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sender.Event(nil), l.events...)
}

// newFakeTransport returns a Transport on cli, with a Connector that has no database
// (the send path does not use one), and the log of its events.
func newFakeTransport(t *testing.T, opts Options, cli client) (*Transport, *eventLog, *Connector) {
	t.Helper()
	if opts.Rand == nil {
		opts.Rand = rand.NewPCG(1, 2)
	}
	opts, err := opts.withDefaults()
	require.NoError(t, err)
	c := &Connector{
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		rnd:      &lockedRand{r: rand.New(opts.Rand)},
		onWA:     newOnWhatsAppCache(opts.OnWhatsAppTTL, opts.OnWhatsAppMax),
		active:   map[int64]*Transport{},
		pairings: map[int64]*sender.Pairing{},
	}
	log := &eventLog{}
	ctx, cancel := context.WithCancel(context.Background())
	tr := newTransport(c, 7, cli, log.add, ctx, cancel)
	require.NoError(t, c.reserve(7, tr))
	t.Cleanup(func() { tr.Close() })
	return tr, log, c
}
