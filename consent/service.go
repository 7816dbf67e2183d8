package consent

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/phonehash"
)

// PendingCanceller cancels a contact's messages that are not sent yet. The campaigns
// package implements it; an opt-out calls it so that nothing queued goes out.
type PendingCanceller interface {
	CancelPending(ctx context.Context, contactID int64, reason string) (int64, error)
}

// Options configure a Service. Zero values get defaults.
type Options struct {
	// Brand names the sender in confirmation replies ("You won't get more messages from
	// <Brand>."). Default "us".
	Brand string
	// Replies override the default reply texts, by BCP 47 locale ("en", "es", …); {brand}
	// is replaced by Brand.
	Replies map[string]Replies
	// Keywords are the STOP/START/HELP words; default DefaultKeywords().
	Keywords *Keywords
	// Canceller cancels the pending messages of a contact whose consent is withdrawn or
	// whose number is suppressed; nil cancels nothing (the send path checks again anyway).
	Canceller PendingCanceller
	Now       func() time.Time
	Logger    *slog.Logger
}

// Service is the consent ledger, the suppression list and inbound handling.
type Service struct {
	pool       *pgxpool.Pool
	hasher     *phonehash.Hasher
	classifier *Classifier
	replies    replyBook
	opts       Options
}

// New returns a Service.
func New(pool *pgxpool.Pool, hasher *phonehash.Hasher, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Brand == "" {
		opts.Brand = "us"
	}
	kw := DefaultKeywords()
	if opts.Keywords != nil {
		kw = *opts.Keywords
	}
	cl, err := NewClassifier(kw)
	if err != nil {
		return nil, err
	}
	return &Service{pool: pool, hasher: hasher, classifier: cl, replies: newReplyBook(opts.Brand, opts.Replies), opts: opts}, nil
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }
