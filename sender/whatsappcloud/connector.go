package whatsappcloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// SyncFunc pulls an account's message templates from Meta (the template sync); the
// Connector calls it while it holds the account.
type SyncFunc func(ctx context.Context, accountID int64) error

// ConnectorOptions configure a Connector. Zero values get the defaults.
type ConnectorOptions struct {
	// HTTPClient is the Graph API clients' HTTP client; nil: the Client's default.
	HTTPClient *http.Client
	// SyncFunc, if set, is called when an account connects and every SyncEvery while it
	// stays connected: only the process that holds the account's lease runs it.
	SyncFunc SyncFunc
	// SyncEvery is how often SyncFunc runs. Default 15m.
	SyncEvery time.Duration
	// PairGap is the least time between two messages from an account to one recipient:
	// Meta's pair rate limit allows about one every 6 s. Default 6s.
	PairGap time.Duration
	// ConfirmWindow is how long a retry waits for the status webhook of an earlier
	// attempt whose outcome is unknown (Meta may have accepted it) before it sends again.
	// Default 2m.
	ConfirmWindow time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

func (o *ConnectorOptions) setDefaults() {
	if o.SyncEvery <= 0 {
		o.SyncEvery = 15 * time.Minute
	}
	if o.PairGap <= 0 {
		o.PairGap = 6 * time.Second
	}
	if o.ConfirmWindow <= 0 {
		o.ConfirmWindow = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// refusedFor is how long a Connector remembers that Meta refused an account's
// credentials: the Manager retries a failed connection every few seconds, and a token
// that Meta refused stays refused until someone replaces it.
const refusedFor = time.Minute

// Connector connects whatsapp_cloud accounts: each connection is a Transport over a
// Graph API Client. It is the channel's sender.Connector and checks new accounts'
// credentials (sender.CredentialChecker).
type Connector struct {
	pool     *pgxpool.Pool
	accounts *sender.Accounts
	opts     ConnectorOptions

	mu      sync.Mutex
	refused map[int64]refusal // accounts whose credentials Meta refused lately
}

type refusal struct {
	err   error
	until time.Time
}

var (
	_ sender.Connector         = (*Connector)(nil)
	_ sender.CredentialChecker = (*Connector)(nil)
)

// NewConnector returns the Connector of whatsapp_cloud accounts. pool holds
// cloud_messages, by which a retried send finds out whether Meta accepted an earlier
// attempt; accounts opens the accounts' secrets.
func NewConnector(pool *pgxpool.Pool, accounts *sender.Accounts, opts ConnectorOptions) *Connector {
	opts.setDefaults()
	return &Connector{pool: pool, accounts: accounts, opts: opts, refused: map[int64]refusal{}}
}

// Capabilities: Meta reports receipts and customers' messages by webhook, takes only
// approved templates outside the customer service window, and sends media.
func (c *Connector) Capabilities() sender.Capabilities {
	return sender.Capabilities{Receipts: true, Inbound: true, TemplatesOutsideWindow: true, Media: true}
}

// Connect checks the account's access token with Meta once and returns its Transport.
// A token Meta refuses is sender.ErrAccount, with the reason (the token expired, a
// permission is missing). While the account stays connected, the Connector runs
// SyncFunc at once and every SyncEvery.
func (c *Connector) Connect(ctx context.Context, a sender.Account, events sender.EventFunc) (sender.Transport, error) {
	now := c.opts.Now()
	c.mu.Lock()
	r, ok := c.refused[a.ID]
	c.mu.Unlock()
	if ok && now.Before(r.until) {
		return nil, r.err
	}
	client, _, err := ClientFor(ctx, c.accounts, a, c.opts.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("whatsappcloud: connect account %d: %w", a.ID, err)
	}
	if _, err := client.Check(ctx); err != nil {
		var ge *GraphError
		if errors.As(err, &ge) && ge.Class == ClassAccount {
			err = sender.AccountFailure(fmt.Errorf("whatsappcloud: connect account %d: %s: %w", a.ID, accountReason(ge), err))
			c.mu.Lock()
			c.refused[a.ID] = refusal{err: err, until: now.Add(refusedFor)}
			c.mu.Unlock()
			return nil, err
		}
		return nil, fmt.Errorf("whatsappcloud: connect account %d: %w", a.ID, err)
	}
	c.mu.Lock()
	delete(c.refused, a.ID)
	c.mu.Unlock()
	if events == nil {
		events = func(context.Context, sender.Event) {}
	}
	t := newTransport(c.pool, a.ID, client, events, c.opts)
	if c.opts.SyncFunc != nil {
		t.startSync(c.opts.SyncFunc, c.opts.SyncEvery)
	}
	return t, nil
}

// CheckCredentials checks a new account's access token and phone number id with one
// Graph call (in.Cloud, normalized by sender.Accounts.Check). A refusal is a field error
// on cloud.access_token, or on cloud.phone_number_id when Meta knows no such number for
// the token; Meta out of reach is apperr.Unavailable. No error holds the token.
func (c *Connector) CheckCredentials(ctx context.Context, in sender.AccountInput) error {
	cc := in.Cloud
	if cc == nil {
		return apperr.Field("cloud", "is required for %s accounts", sender.WhatsAppCloud)
	}
	client, err := New(Config{GraphURL: cc.GraphURL, APIVersion: cc.APIVersion, PhoneNumberID: cc.PhoneNumberID,
		WABAID: cc.WABAID, AccessToken: cc.AccessToken, HTTPClient: c.opts.HTTPClient})
	if err != nil {
		// New's messages name the fields and never their values.
		return &apperr.Error{Code: apperr.Invalid, Message: "invalid input", Err: err,
			Fields: []apperr.FieldError{{Field: "cloud", Message: err.Error()}}}
	}
	if _, err := client.Check(ctx); err != nil {
		return credentialError(err)
	}
	return nil
}

// codeInvalidParameter is Meta's "invalid parameter"; on the GET of a phone number id
// (whose other parameters are fixed), it says that no such object exists for the token:
// Meta's "Object with ID … does not exist, cannot be loaded due to missing permissions"
// (subcode 33, which v16.0 and later no longer send).
const codeInvalidParameter = 100

// credentialError turns Check's failure into what the person creating the account can
// act on.
func credentialError(err error) error {
	var ge *GraphError
	if !errors.As(err, &ge) {
		return &apperr.Error{Code: apperr.Unavailable, Err: err,
			Message: "could not reach Meta's Graph API to check the access token; try again"}
	}
	field := func(name, format string, args ...any) error {
		return &apperr.Error{Code: apperr.Invalid, Message: "Meta refused the account's credentials", Err: err,
			Fields: []apperr.FieldError{{Field: name, Message: fmt.Sprintf(format, args...)}}}
	}
	switch {
	case ge.Code == codeInvalidParameter:
		return field("cloud.phone_number_id", "Meta knows no phone number with this ID that the access token may use (Graph error %d): check the phone number ID in WhatsApp Manager and the system user's assets", ge.Code)
	case ge.Class == ClassAccount:
		return field("cloud.access_token", "%s", accountReason(ge))
	case ge.Class == ClassTransient || ge.Class == ClassThrottled || ge.Class == ClassRecipientThrottled:
		return &apperr.Error{Code: apperr.Unavailable, Err: err,
			Message: fmt.Sprintf("Meta's Graph API could not check the access token now (HTTP %d); try again", ge.HTTPStatus)}
	default:
		return field("cloud.access_token", "Meta refused the check of the phone number (Graph error %d, HTTP %d): %s", ge.Code, ge.HTTPStatus, ge.Message)
	}
}
