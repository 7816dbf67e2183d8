package sender

import "time"

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

// Account is one sending identity on one channel.
type Account struct {
	ID            int64
	Name          string
	Channel       Channel
	Status        Status
	StatusReason  string // why it is in its status, for people
	Phone         string // the account's own number, once paired (the business's, not a customer's)
	RatePerMinute int
	DailyCap      int
	Warmup        bool      // ramp the daily budget up from a small start
	WarmupStart   time.Time // the day the ramp started
	ProxyURL      string    // optional per-account proxy (socks5:// or http://)
	CreatedAt     time.Time
	UpdatedAt     time.Time
}
