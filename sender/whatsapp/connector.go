package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"

	"github.com/crierhq/crier/sender"
)

// Defaults of Options.
const (
	DefaultConnectTimeout   = 20 * time.Second
	DefaultPairTimeout      = 3 * time.Minute // whatsmeow's QR codes last 160 s in all
	DefaultOnWhatsAppTTL    = 24 * time.Hour
	DefaultOnWhatsAppMax    = 100_000
	DefaultTypingMin        = 1 * time.Second
	DefaultTypingMax        = 4 * time.Second
	defaultResolveTimeout   = 5 * time.Second
	defaultDeviceOSName     = "Crier"
	pairingCodeClientName   = "Chrome (Linux)" // must be "Browser (OS)" of a common pair; WhatsApp checks it
	maxTextLength           = 65536
	pairingEventsBufferSize = 16
)

// Options configure a Connector. The zero value works.
type Options struct {
	// Logger receives the package's own lines and whatsmeow's (scrubbed of numbers); nil
	// discards them.
	Logger *slog.Logger
	// LibraryDebug also passes whatsmeow's debug lines on (whole protocol nodes, scrubbed of
	// digit runs but still verbose). Off by default.
	LibraryDebug bool
	// Now tells the time of events, cache expiries and pairings; nil means time.Now.
	Now func() time.Time
	// Rand drives the pacing jitter; nil means a source seeded at random. It need not be
	// safe for concurrent use.
	Rand rand.Source

	// ConnectTimeout bounds Connect, and the start of a pairing up to its first code:
	// dialling (through the proxy), the handshake and the login. Default 20 s.
	ConnectTimeout time.Duration
	// PairTimeout bounds a whole pairing, after which it ends with sender.PairTimeout.
	// Default 3 min.
	PairTimeout time.Duration

	// Pacing sets the typing times; Pacing.Enabled turns pacing on for every account, and
	// an account's own Pacing turns it on for that account.
	Pacing Pacing

	// OnWhatsAppTTL is how long an IsOnWhatsApp answer is trusted. Default 24 h.
	OnWhatsAppTTL time.Duration
	// OnWhatsAppMax bounds the number of cached answers. Default 100 000.
	OnWhatsAppMax int
}

// Pacing is optional human-like pacing: before each message, the account shows "typing…"
// in the customer's chat for a random time between TypingMin and TypingMax, then sends the
// message and clears the indicator. It slows each send down by that much, on top of the
// account's rate limit.
type Pacing struct {
	Enabled   bool
	TypingMin time.Duration // default 1 s
	TypingMax time.Duration // default 4 s
}

func (o Options) withDefaults() (Options, error) {
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.PairTimeout == 0 {
		o.PairTimeout = DefaultPairTimeout
	}
	if o.OnWhatsAppTTL == 0 {
		o.OnWhatsAppTTL = DefaultOnWhatsAppTTL
	}
	if o.OnWhatsAppMax == 0 {
		o.OnWhatsAppMax = DefaultOnWhatsAppMax
	}
	if o.Pacing.TypingMin == 0 && o.Pacing.TypingMax == 0 {
		o.Pacing.TypingMin, o.Pacing.TypingMax = DefaultTypingMin, DefaultTypingMax
	}
	switch {
	case o.ConnectTimeout < 0:
		return o, errors.New("whatsapp: options: ConnectTimeout must be positive")
	case o.PairTimeout < 0:
		return o, errors.New("whatsapp: options: PairTimeout must be positive")
	case o.OnWhatsAppTTL < 0:
		return o, errors.New("whatsapp: options: OnWhatsAppTTL must be positive")
	case o.OnWhatsAppMax < 0:
		return o, errors.New("whatsapp: options: OnWhatsAppMax must be positive")
	case o.Pacing.TypingMin < 0 || o.Pacing.TypingMax < o.Pacing.TypingMin:
		return o, errors.New("whatsapp: options: Pacing wants 0 <= TypingMin <= TypingMax")
	}
	return o, nil
}

// Connector connects WhatsApp accounts, pairs them and erases people from whatsmeow's
// store. One per process; safe for concurrent use.
type Connector struct {
	pool      *pgxpool.Pool
	db        *sql.DB
	container *sqlstore.Container
	opts      Options
	log       *slog.Logger
	waLog     waLogger
	now       func() time.Time
	rnd       *lockedRand
	onWA      *onWhatsAppCache

	mu        sync.Mutex
	closed    bool
	active    map[int64]*Transport      // connected accounts
	pairings  map[int64]*sender.Pairing // pairings under way
	pairingWG sync.WaitGroup
}

var _ sender.Connector = (*Connector)(nil)

// Capabilities are those of a WhatsApp account linked as a device of the phone: delivered
// and read receipts, customers' messages, free text at any time (no template rule, unlike
// Meta's Cloud API), text only as Send goes today, and pairing by QR code or by code.
func (c *Connector) Capabilities() sender.Capabilities {
	return sender.Capabilities{Receipts: true, Inbound: true, PairQR: true, PairPhone: true}
}

// setOSInfo names the linked device "Crier" in the phone's list of linked devices. It sets
// whatsmeow globals, hence once per process.
var setOSInfo sync.Once

// New sets up the WhatsApp session store in the database of pool, creating or upgrading
// whatsmeow's tables (safe to run from several processes at once, and idempotent), and
// returns a Connector. The database must be migrated: the migrations create Crier's
// account-to-device map.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Connector, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	wl := newWALogger(opts.Logger, "", opts.LibraryDebug)
	signalLog.Store(opts.Logger)
	db := stdlib.OpenDBFromPool(pool) // closing db leaves the pool open
	container := sqlstore.NewWithDB(db, "postgres", wl.Sub("Store"))
	if err := schemaUpgrade(ctx, pool, container); err != nil {
		db.Close()
		return nil, fmt.Errorf("whatsapp: set up the session store: %w", err)
	}
	setOSInfo.Do(func() { store.SetOSInfo(defaultDeviceOSName, [3]uint32{1, 0, 0}) })
	return &Connector{
		pool:      pool,
		db:        db,
		container: container,
		opts:      opts,
		log:       opts.Logger,
		waLog:     wl,
		now:       opts.Now,
		rnd:       &lockedRand{r: rand.New(opts.Rand)},
		onWA:      newOnWhatsAppCache(opts.OnWhatsAppTTL, opts.OnWhatsAppMax),
		active:    make(map[int64]*Transport),
		pairings:  make(map[int64]*sender.Pairing),
	}, nil
}

// Close cancels the pairings under way and waits for them, closes the connected
// transports, and releases the store. The pool stays open.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	transports := make([]*Transport, 0, len(c.active))
	for _, t := range c.active {
		transports = append(transports, t)
	}
	pairings := make([]*sender.Pairing, 0, len(c.pairings))
	for _, p := range c.pairings {
		pairings = append(pairings, p)
	}
	c.mu.Unlock()

	for _, p := range pairings {
		p.Cancel()
	}
	c.pairingWG.Wait()
	for _, t := range transports {
		t.Close()
	}
	return c.container.Close()
}

// Connect connects the account's linked device and returns its transport once WhatsApp
// has logged it in. Events of the connection go to events until the transport is closed;
// some may arrive before Connect returns, and they stop before a failed Connect returns.
//
// It fails fast, within Options.ConnectTimeout at most: with ErrNotPaired (wrapped) when
// the account has no linked device; with the dial error or ErrTimeout, naming the proxy,
// when WhatsApp cannot be reached; with ErrLoggedOut or ErrBanned when WhatsApp refuses
// the login. The caller holds the account's connection lease: a second Connect of the same
// account in this process fails with ErrAlreadyConnected.
func (c *Connector) Connect(ctx context.Context, a sender.Account, events sender.EventFunc) (sender.Transport, error) {
	if a.Channel != sender.WhatsApp {
		return nil, fmt.Errorf("whatsapp: connect account %d: it is a %q account", a.ID, a.Channel)
	}
	if events == nil {
		events = func(context.Context, sender.Event) {}
	}
	device, err := c.device(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: connect account %d: %w", a.ID, err)
	}
	cli := whatsmeow.NewClient(device, c.waLog.Sub(fmt.Sprintf("account-%d", a.ID)))
	if err := applyProxy(cli, a.ProxyURL); err != nil {
		return nil, fmt.Errorf("whatsapp: connect account %d: %w", a.ID, err)
	}
	// The decrypted-event buffer would keep message plaintext in whatsmeow_event_buffer,
	// where no erasure can attribute it to a person. It is off by default; keep it off.
	cli.EnableDecryptedEventBuffer = false

	// whatsmeow ties the connection's life (keep-alives, event handling, reconnects) to
	// the context given to ConnectContext, so it gets its own, cancelled by Close; ctx and
	// the timeout bound only the wait below.
	runCtx, cancel := context.WithCancel(context.Background())
	t := newTransport(c, a.ID, cli, events, runCtx, cancel)
	t.pacing.Enabled = t.pacing.Enabled || a.Pacing // the account's setting, with the connector's timings
	t.resolvePN = func(lid types.JID) (types.JID, bool) {
		rctx, rcancel := context.WithTimeout(runCtx, defaultResolveTimeout)
		defer rcancel()
		pn, err := cli.Store.LIDs.GetPNForLID(rctx, lid)
		return pn, err == nil && !pn.IsEmpty()
	}
	cli.GetMessageForRetry = t.messageForRetry
	if err := c.reserve(a.ID, t); err != nil {
		cancel()
		return nil, fmt.Errorf("whatsapp: connect account %d: %w", a.ID, err)
	}
	t.handlerID = cli.AddEventHandler(t.handle)

	deadline := time.Now().Add(c.opts.ConnectTimeout)
	if err := dial(ctx, cli, runCtx, cancel, deadline); err != nil {
		t.Close()
		return nil, reachError("connect", a, err)
	}
	if err := t.waitLoggedIn(ctx, deadline); err != nil {
		t.Close()
		return nil, reachError("connect", a, err)
	}
	return t, nil
}

// device loads the account's linked device, or returns ErrNotPaired.
func (c *Connector) device(ctx context.Context, accountID int64) (*store.Device, error) {
	jid, err := deviceGet(ctx, c.pool, accountID)
	if err != nil {
		return nil, err
	}
	dev, err := c.container.GetDevice(ctx, jid)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: load device of account %d: %w", accountID, err)
	}
	if dev == nil {
		return nil, fmt.Errorf("%w (its linked device is gone: logged out or unpaired)", ErrNotPaired)
	}
	return dev, nil
}

// Unpair forgets the account's linked device: whatsmeow's keys, sessions and contacts for
// it (they cascade from whatsmeow_device), its privacy tokens, and Crier's record of it.
// The phone keeps listing the device until its owner removes it (WhatsApp → Linked
// devices), or until WhatsApp drops it for being offline. The account must not be
// connected in this process; unpairing an unpaired account does nothing.
func (c *Connector) Unpair(ctx context.Context, accountID int64) error {
	c.mu.Lock()
	_, connected := c.active[accountID]
	c.mu.Unlock()
	if connected {
		return fmt.Errorf("whatsapp: unpair account %d: close its connection first", accountID)
	}
	dev, err := c.device(ctx, accountID)
	switch {
	case errors.Is(err, ErrNotPaired):
	case err != nil:
		return err
	default:
		// whatsmeow_privacy_tokens has no foreign key to the device, so it does not cascade.
		if _, err := c.pool.Exec(ctx, "DELETE FROM whatsmeow_privacy_tokens WHERE our_jid = $1", dev.GetJID().String()); err != nil {
			return fmt.Errorf("whatsapp: unpair account %d: %w", accountID, err)
		}
		if err := c.container.DeleteDevice(ctx, dev); err != nil {
			return fmt.Errorf("whatsapp: unpair account %d: %w", accountID, err)
		}
	}
	return deviceDelete(ctx, c.pool, accountID)
}

// reserve records t as the account's connection, or fails if there is one.
func (c *Connector) reserve(accountID int64, t *Transport) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if _, ok := c.active[accountID]; ok {
		return ErrAlreadyConnected
	}
	c.active[accountID] = t
	return nil
}

// release forgets t as the account's connection.
func (c *Connector) release(accountID int64, t *Transport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active[accountID] == t {
		delete(c.active, accountID)
	}
}

// dial opens the websocket and does the Noise handshake, giving up at deadline or when
// ctx ends. whatsmeow's ConnectContext takes the connection's lifetime context, not a
// timeout, so it runs on runCtx in a goroutine; giving up cancels runCtx, which aborts the
// dial, and disconnects whatever connected late.
func dial(ctx context.Context, cli *whatsmeow.Client, runCtx context.Context, cancel context.CancelFunc, deadline time.Time) error {
	done := make(chan error, 1)
	go func() { done <- cli.ConnectContext(runCtx) }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var err error
	select {
	case err := <-done:
		return err
	case <-timer.C:
		err = fmt.Errorf("%w: the websocket (or the proxy) did not answer", ErrTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	go func() {
		if <-done == nil {
			cli.Disconnect()
		}
	}()
	return err
}

// reachError explains a failed connection (verb "connect" or "pair"): which account,
// through which proxy, and what to check when WhatsApp could not be reached.
func reachError(verb string, a sender.Account, err error) error {
	for _, known := range []error{ErrLoggedOut, ErrBanned, ErrNotPaired, ErrPairingCancelled, ErrClosed, context.Canceled} {
		if errors.Is(err, known) {
			return fmt.Errorf("whatsapp: %s account %d: %w", verb, a.ID, err)
		}
	}
	via := "directly (no proxy)"
	if a.ProxyURL != "" {
		via = "through proxy " + sender.RedactProxyURL(a.ProxyURL)
	}
	return fmt.Errorf("whatsapp: %s account %d %s: %w; check the network or the account's proxy", verb, a.ID, via, scrubbed(err))
}

// applyProxy routes the account's websocket and media through its proxy: socks5://,
// http:// or https://, with optional user:password. An empty URL keeps the default, which
// honours HTTPS_PROXY.
func applyProxy(cli *whatsmeow.Client, proxyURL string) error {
	if proxyURL == "" {
		return nil
	}
	u, err := url.Parse(proxyURL)
	if err != nil {
		return fmt.Errorf("bad proxy URL %s", sender.RedactProxyURL(proxyURL))
	}
	switch u.Scheme {
	case "socks5", "http", "https":
	default:
		return fmt.Errorf("unsupported proxy scheme %q in %s: use socks5, http or https", u.Scheme, sender.RedactProxyURL(proxyURL))
	}
	if u.Host == "" {
		return fmt.Errorf("proxy URL %s has no host", sender.RedactProxyURL(proxyURL))
	}
	if err := cli.SetProxyAddress(proxyURL); err != nil {
		return fmt.Errorf("proxy %s: %w", sender.RedactProxyURL(proxyURL), err)
	}
	return nil
}

// lockedRand is a rand.Rand safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// durationBetween returns a uniform duration in [lo, hi].
func (l *lockedRand) durationBetween(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return lo + time.Duration(l.r.Int64N(int64(hi-lo)+1))
}
