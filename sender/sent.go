package sender

import "time"

// SentMessage is a message as a network that keeps them recorded it: what the sandbox's
// simulated network "delivered", for people to look at.
type SentMessage struct {
	Seq       int64 // the record's place in the log, for pagination
	ID        string
	AccountID int64
	To        string // E.164; "" once erased
	Text      string // "" once erased or purged
	SentAt    time.Time
}

// SentFilter selects recorded messages, oldest first.
type SentFilter struct {
	To        string // E.164; "" for all
	AccountID int64  // 0 for all
	AfterSeq  int64  // the cursor: only records after this one
	Limit     int
}
