package sender

import (
	"net/url"
	"time"
)

// Status is an account's state as the API shows it.
type Status string

// The account statuses of DESIGN §5.
const (
	StatusPendingPair  Status = "pending_pair" // created, not yet linked to a phone
	StatusConnected    Status = "connected"
	StatusDisconnected Status = "disconnected" // linked, not connected right now
	StatusLoggedOut    Status = "logged_out"   // unlinked from the phone: pair again
	StatusBanned       Status = "banned"       // the network banned it, for now or for good
	StatusPaused       Status = "paused"       // paused by ops or by its own error rate
)

// Health says whether the account may send now: not paused, and connected.
func (a Account) Health() bool { return a.PausedAt == nil && a.Status == StatusConnected }

// ShownStatus is the status the API shows: paused wins over the connection's state.
func (a Account) ShownStatus() (Status, string) {
	if a.PausedAt != nil {
		return StatusPaused, a.PausedReason
	}
	return a.Status, a.StatusReason
}

// RedactProxyURL returns a proxy URL with its password hidden, for people and logs
// ("" stays "").
func RedactProxyURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Limits are the account's sending limits, as the Limiter takes them.
func (a Account) Limits() AccountLimits {
	l := AccountLimits{RatePerMinute: a.RatePerMinute, DailyCap: a.DailyCap}
	if a.Warmup && !a.WarmupStart.IsZero() {
		l.Warmup.Start = a.WarmupStart
	}
	return l
}

// Account is one sending identity on one channel.
type Account struct {
	ID            int64
	Name          string
	Channel       Channel
	Status        Status // the connection's state as the workers last saw it
	StatusReason  string // why it is in its status, for people
	PausedAt      *time.Time
	PausedReason  string
	Phone         string // the account's own number, once paired (the business's, not a customer's)
	RatePerMinute int
	DailyCap      int
	Warmup        bool      // ramp the daily budget up from a small start
	WarmupStart   time.Time // the day the ramp started
	ProxyURL      string    // optional per-account proxy (socks5:// or http://)
	// Pacing makes the account send like a person: a typing indicator and a random pause
	// before each message. Off for sandbox accounts by default.
	Pacing    bool
	Sandbox   *SandboxConfig // the simulated network's behaviour, for sandbox accounts
	Cloud     *CloudConfig   // the Cloud API configuration, for whatsapp_cloud accounts; secrets masked
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SandboxConfig is how the simulated network of a sandbox account behaves, so that every
// path of the pipeline can be exercised: receipts after delays, failures at a rate,
// numbers without WhatsApp, and a temporary ban after a number of messages.
type SandboxConfig struct {
	DeliveredAfterMS int `json:"delivered_after_ms"` // delivered receipt after this long (default 500)
	ReadAfterMS      int `json:"read_after_ms"`      // read receipt after this long (default 3000; < 0 never)
	// ReadRate is the share of delivered messages that are read (default 1 when zero; use a
	// negative value for none).
	ReadRate float64 `json:"read_rate"`
	// SendFailureRate is the share of sends that fail at once with a transient error.
	SendFailureRate float64 `json:"send_failure_rate"`
	// UndeliverableRate is the share of sent messages that get a failed receipt instead
	// of a delivered one.
	UndeliverableRate float64 `json:"undeliverable_rate"`
	// NotOnWhatsAppSuffixes: numbers ending in one of these have no WhatsApp (a permanent
	// failure). Suffixes, not numbers, so that no customer's number is kept here.
	NotOnWhatsAppSuffixes []string `json:"not_on_whatsapp_suffixes"`
	// BanAfter bans the account temporarily after this many messages (0: never), for
	// BanForMS (default one minute).
	BanAfter int `json:"ban_after"`
	BanForMS int `json:"ban_for_ms"`
}
