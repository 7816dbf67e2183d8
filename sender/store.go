package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/secretbox"
)

// Accounts stores sending accounts in PostgreSQL.
type Accounts struct {
	pool *pgxpool.Pool
	box  *secretbox.Box // seals the Cloud API secrets; nil: no whatsapp_cloud accounts
	now  func() time.Time
}

// NewAccounts returns an account store on pool. It cannot create whatsapp_cloud
// accounts, whose secrets need a key: see NewAccountsWithSecrets.
func NewAccounts(pool *pgxpool.Pool) *Accounts { return &Accounts{pool: pool, now: time.Now} }

// NewAccountsWithSecrets returns an account store on pool that seals and opens the Cloud
// API secrets of whatsapp_cloud accounts with box.
func NewAccountsWithSecrets(pool *pgxpool.Pool, box *secretbox.Box) *Accounts {
	return &Accounts{pool: pool, box: box, now: time.Now}
}

// ErrNoSecretKey is the cause of the error of Create and CloudSecrets for a
// whatsapp_cloud account on a store without a secretbox.
var ErrNoSecretKey = errors.New("sender: no secret key to seal Cloud API secrets with")

// AccountInput is a new account as the API receives it. Nil fields get the channel's
// defaults: a WhatsApp account sends 20 a minute, 1 000 a day, warms up and paces itself;
// a sandbox account sends 600 a minute with no daily cap, no warm-up and no pacing; a
// whatsapp_cloud account sends Meta's default 80 a second (4 800 a minute) with no daily
// cap (Meta enforces its messaging tiers itself), no warm-up and no pacing.
type AccountInput struct {
	Name          string
	Channel       Channel
	RatePerMinute *int
	DailyCap      *int
	Warmup        *bool
	Pacing        *bool
	ProxyURL      string
	Sandbox       *SandboxConfig
	Cloud         *CloudConfig // required for, and only for, whatsapp_cloud accounts
}

// The largest per-minute rates. WhatsApp bans numbers long before 1 000 a minute; the
// Cloud API allows up to 1 000 a second to a number Meta has upgraded; the sandbox goes
// much higher so that benchmarks measure Crier, not a limit.
const (
	maxWhatsAppRate = 1_000
	maxCloudRate    = 60_000
	maxSandboxRate  = 10_000_000
)

func (in *AccountInput) normalize() error {
	var errs []apperr.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		bad("name", "is required and at most 100 characters")
	}
	rate, cap, warmup, pacing, maxRate := 20, 1000, true, true, maxWhatsAppRate
	if in.Sandbox != nil && in.Channel != Sandbox {
		bad("sandbox", "is only for sandbox accounts")
	}
	if in.Cloud != nil && in.Channel != WhatsAppCloud {
		bad("cloud", "is only for whatsapp_cloud accounts")
	}
	switch in.Channel {
	case WhatsApp:
	case Sandbox:
		rate, cap, warmup, pacing, maxRate = 600, 0, false, false, maxSandboxRate
		if in.Sandbox == nil {
			in.Sandbox = &SandboxConfig{}
		}
		errs = append(errs, in.Sandbox.validate()...)
	case WhatsAppCloud:
		rate, cap, warmup, pacing, maxRate = 4_800, 0, false, false, maxCloudRate
		if in.Cloud == nil {
			bad("cloud", "is required for whatsapp_cloud accounts")
		} else {
			errs = append(errs, in.Cloud.normalize()...)
		}
	default:
		bad("channel", "must be %q, %q or %q", WhatsApp, Sandbox, WhatsAppCloud)
	}
	if in.RatePerMinute == nil {
		in.RatePerMinute = &rate
	} else if *in.RatePerMinute < 1 || *in.RatePerMinute > maxRate {
		bad("rate_per_minute", "must be from 1 to %d for a %s account", maxRate, in.Channel)
	}
	if in.DailyCap == nil {
		in.DailyCap = &cap
	} else if *in.DailyCap < 0 {
		bad("daily_cap", "must be 0 (no cap) or more")
	}
	if in.Warmup == nil {
		in.Warmup = &warmup
	}
	if in.Pacing == nil {
		in.Pacing = &pacing
	}
	if in.ProxyURL != "" {
		if err := checkProxy(in.ProxyURL); err != nil {
			bad("proxy_url", "%s", err)
		}
	}
	return apperr.Fields(errs...)
}

func checkProxy(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be a URL such as socks5://user:pass@host:1080 or http://host:3128")
	}
	switch u.Scheme {
	case "socks5", "socks5h", "http", "https":
	default:
		return fmt.Errorf("scheme %q is not supported: use socks5, http or https", u.Scheme)
	}
	if u.Port() == "" {
		return errors.New("needs a port")
	}
	return nil
}

func (c *SandboxConfig) validate() []apperr.FieldError {
	var errs []apperr.FieldError
	for name, rate := range map[string]float64{"send_failure_rate": c.SendFailureRate, "undeliverable_rate": c.UndeliverableRate} {
		if rate < 0 || rate > 1 {
			errs = append(errs, apperr.FieldError{Field: "sandbox." + name, Message: "must be from 0 to 1"})
		}
	}
	if c.ReadRate > 1 {
		errs = append(errs, apperr.FieldError{Field: "sandbox.read_rate", Message: "must be at most 1 (negative: none read)"})
	}
	for i, s := range c.NotOnWhatsAppSuffixes {
		if s == "" || len(s) > 6 || strings.Trim(s, "0123456789") != "" {
			errs = append(errs, apperr.FieldError{Field: fmt.Sprintf("sandbox.not_on_whatsapp_suffixes[%d]", i), Message: "must be 1 to 6 digits"})
		}
	}
	if c.BanAfter < 0 || c.BanForMS < 0 || c.DeliveredAfterMS < 0 {
		errs = append(errs, apperr.FieldError{Field: "sandbox", Message: "counts and delays must not be negative"})
	}
	return errs
}

const accountColumns = `id, name, channel, status, status_reason, paused_at, paused_reason, phone, rate_per_minute,
	daily_cap, warmup, coalesce(warmup_started_on, '0001-01-01'::date)::timestamptz, proxy_url, pacing, sandbox,
	created_at, updated_at, phone_number_id, waba_id, graph_url, api_version, verify_token,
	access_token_sealed <> '', app_secret_sealed <> ''`

// scanAccount reads accountColumns. The sealed secrets are never selected here: an
// Account says only whether they are set.
func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	var sandbox []byte
	var cloud CloudConfig
	err := row.Scan(&a.ID, &a.Name, &a.Channel, &a.Status, &a.StatusReason, &a.PausedAt, &a.PausedReason, &a.Phone,
		&a.RatePerMinute, &a.DailyCap, &a.Warmup, &a.WarmupStart, &a.ProxyURL, &a.Pacing, &sandbox, &a.CreatedAt, &a.UpdatedAt,
		&cloud.PhoneNumberID, &cloud.WABAID, &cloud.GraphURL, &cloud.APIVersion, &cloud.VerifyToken,
		&cloud.AccessTokenSet, &cloud.AppSecretSet)
	if err != nil {
		return Account{}, err
	}
	if a.Channel == WhatsAppCloud {
		a.Cloud = &cloud
	}
	if a.WarmupStart.Year() == 1 {
		a.WarmupStart = time.Time{}
	}
	if sandbox != nil {
		a.Sandbox = &SandboxConfig{}
		if err := json.Unmarshal(sandbox, a.Sandbox); err != nil {
			return Account{}, fmt.Errorf("account %d: sandbox: %w", a.ID, err)
		}
	}
	return a, nil
}

// Check validates in and applies its defaults as Create does, without storing anything:
// the API calls it before checking a new account's credentials with the network.
func (s *Accounts) Check(in *AccountInput) error {
	if err := in.normalize(); err != nil {
		return err
	}
	if in.Channel == WhatsAppCloud && s.box == nil {
		return noSecretKey()
	}
	return nil
}

// Create adds an account. A WhatsApp account waits to be paired; sandbox and
// whatsapp_cloud accounts are ready for a worker to connect, and start their warm-up (if
// any) today. A whatsapp_cloud account's secrets are sealed before they are stored, and
// need a store made by NewAccountsWithSecrets.
func (s *Accounts) Create(ctx context.Context, in AccountInput) (Account, error) {
	if err := in.normalize(); err != nil {
		return Account{}, err
	}
	var cloud CloudConfig
	var accessSealed, appSealed string
	if in.Channel == WhatsAppCloud {
		if s.box == nil {
			return Account{}, noSecretKey()
		}
		cloud = *in.Cloud
		var err error
		if accessSealed, err = s.box.Seal(cloud.AccessToken); err != nil {
			return Account{}, fmt.Errorf("sender: create account: seal access token: %w", err)
		}
		if appSealed, err = s.box.Seal(cloud.AppSecret); err != nil {
			return Account{}, fmt.Errorf("sender: create account: seal app secret: %w", err)
		}
	}
	status := StatusPendingPair
	var warmupStart *time.Time
	if in.Channel == Sandbox || in.Channel == WhatsAppCloud {
		status = StatusDisconnected
		if *in.Warmup {
			today := s.now().UTC()
			warmupStart = &today
		}
	}
	var sandbox []byte
	if in.Sandbox != nil {
		sandbox, _ = json.Marshal(in.Sandbox)
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, `
		INSERT INTO accounts (name, channel, status, rate_per_minute, daily_cap, warmup, warmup_started_on, pacing, proxy_url, sandbox,
			phone_number_id, waba_id, graph_url, api_version, verify_token, access_token_sealed, app_secret_sealed)
		VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz::date, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		RETURNING `+accountColumns,
		in.Name, in.Channel, status, *in.RatePerMinute, *in.DailyCap, *in.Warmup, warmupStart, *in.Pacing, in.ProxyURL, sandbox,
		cloud.PhoneNumberID, cloud.WABAID, cloud.GraphURL, cloud.APIVersion, cloud.VerifyToken, accessSealed, appSealed))
	if err != nil {
		return Account{}, fmt.Errorf("sender: create account: %w", interpretError(err, 0))
	}
	return a, nil
}

// Get returns an account that is not deleted.
func (s *Accounts) Get(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 AND deleted_at IS NULL`, id))
	if err != nil {
		return Account{}, fmt.Errorf("sender: get account %d: %w", id, interpretError(err, id))
	}
	return a, nil
}

// CloudSecrets opens the access token and app secret of a whatsapp_cloud account that
// is not deleted, for its Connector. Nothing else should call it, and nothing should log
// what it returns.
func (s *Accounts) CloudSecrets(ctx context.Context, id int64) (accessToken, appSecret string, err error) {
	if s.box == nil {
		return "", "", noSecretKey()
	}
	var channel Channel
	var accessSealed, appSealed string
	err = s.pool.QueryRow(ctx, `
		SELECT channel, access_token_sealed, app_secret_sealed FROM accounts WHERE id = $1 AND deleted_at IS NULL`, id).
		Scan(&channel, &accessSealed, &appSealed)
	if err != nil {
		return "", "", fmt.Errorf("sender: cloud secrets of account %d: %w", id, interpretError(err, id))
	}
	if channel != WhatsAppCloud {
		return "", "", apperr.Conflictf("account %d is a %s account: only %s accounts have Cloud API secrets", id, channel, WhatsAppCloud)
	}
	// secretbox's errors never hold the plaintext; a failure here means another key.
	if accessToken, err = s.box.Open(accessSealed); err != nil {
		return "", "", fmt.Errorf("sender: cloud secrets of account %d: access token: %w", id, err)
	}
	if appSecret, err = s.box.Open(appSealed); err != nil {
		return "", "", fmt.Errorf("sender: cloud secrets of account %d: app secret: %w", id, err)
	}
	return accessToken, appSecret, nil
}

func noSecretKey() error {
	return &apperr.Error{Code: apperr.Unavailable, Err: ErrNoSecretKey,
		Message: "whatsapp_cloud accounts need a secret key to seal their tokens, and this server has none (set CRIER_SECRET_KEY)"}
}

// List returns accounts in id order after afterID and the cursor of the next page.
func (s *Accounts) List(ctx context.Context, afterID int64, limit int) ([]Account, int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+accountColumns+` FROM accounts WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2`, afterID, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("sender: list accounts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("sender: list accounts: %w", err)
	}
	var next int64
	if len(list) > limit {
		list = list[:limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

// Connectable returns the accounts a worker should hold a connection for: not deleted,
// paired, and not logged out (which needs a new pairing). Paused and banned accounts are
// held, so that their status keeps being watched, but rotation skips them.
func (s *Accounts) Connectable(ctx context.Context) ([]Account, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+accountColumns+` FROM accounts
		WHERE deleted_at IS NULL AND status NOT IN ('pending_pair', 'logged_out') ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sender: connectable accounts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
}

// Delete removes an account from use; deliveries keep pointing at it.
func (s *Accounts) Delete(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("sender: delete account %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFoundf("account %d not found", id)
	}
	return nil
}

// Pause stops an account from sending, with a reason people will read. Pausing a paused
// account keeps its first reason.
func (s *Accounts) Pause(ctx context.Context, id int64, reason string) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `
		UPDATE accounts SET paused_at = coalesce(paused_at, now()),
			paused_reason = CASE WHEN paused_at IS NULL THEN $2 ELSE paused_reason END, updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL
		RETURNING `+accountColumns, id, reason))
	if err != nil {
		return Account{}, fmt.Errorf("sender: pause account %d: %w", id, interpretError(err, id))
	}
	return a, nil
}

// Resume lets a paused account send again.
func (s *Accounts) Resume(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `
		UPDATE accounts SET paused_at = NULL, paused_reason = '', updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL
		RETURNING `+accountColumns, id))
	if err != nil {
		return Account{}, fmt.Errorf("sender: resume account %d: %w", id, interpretError(err, id))
	}
	return a, nil
}

// SetDailyCap sets an account's daily cap (0: none) to the limit the network itself
// set: the Cloud API's messaging tier, which Meta's phone_number_quality_update
// webhooks keep current. It reports whether the cap changed; the Manager's next read of
// the accounts hands it to the limiter.
func (s *Accounts) SetDailyCap(ctx context.Context, id int64, cap int) (bool, error) {
	if cap < 0 {
		return false, apperr.Field("daily_cap", "must be 0 (no cap) or more")
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE accounts SET daily_cap = $2, updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL AND daily_cap <> $2`, id, cap)
	if err != nil {
		return false, fmt.Errorf("sender: set daily cap of account %d: %w", id, err)
	}
	return tag.RowsAffected() > 0, nil
}

// SetStatus records the connection status a worker saw.
func (s *Accounts) SetStatus(ctx context.Context, id int64, status Status, reason string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE accounts SET status = $2, status_reason = $3, updated_at = now()
		WHERE id = $1 AND (status, status_reason) IS DISTINCT FROM ($2, $3)`, id, status, reason)
	if err != nil {
		return fmt.Errorf("sender: set status of account %d: %w", id, err)
	}
	return nil
}

// SetPaired records a successful pairing: the account's own number, ready to connect, and
// the start of its warm-up.
func (s *Accounts) SetPaired(ctx context.Context, id int64, phone string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE accounts SET phone = $2, status = 'disconnected', status_reason = 'paired',
			warmup_started_on = CASE WHEN warmup THEN coalesce(warmup_started_on, current_date) END, updated_at = now()
		WHERE id = $1`, id, phone)
	if err != nil {
		return fmt.Errorf("sender: set paired account %d: %w", id, err)
	}
	return nil
}

func interpretError(err error, id int64) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFoundf("account %d not found", id)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "accounts_name_idx" {
		return &apperr.Error{Code: apperr.Conflict, Message: "the name is taken",
			Fields: []apperr.FieldError{{Field: "name", Message: "another account has this name"}}}
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "accounts_phone_number_id_idx" {
		return &apperr.Error{Code: apperr.Conflict, Message: "the phone number ID is taken",
			Fields: []apperr.FieldError{{Field: "cloud.phone_number_id", Message: "another account sends from this number"}}}
	}
	return err
}
