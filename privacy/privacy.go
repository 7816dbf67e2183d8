// Package privacy carries out the data-subject rights of GDPR Art. 15, 17 and 20 and the
// retention policy, across every package that keeps personal data. Each such package is
// a Holder: it exports and erases its own tables. This package runs them in one
// transaction, so an erasure is complete or does not happen, and it never knows their
// tables.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
)

// Subject is the person an export or an erasure is about.
type Subject struct {
	ContactID int64
	Phone     string // E.164
	PhoneHash []byte // the suppression list's key for Phone
}

// Holder is a package that keeps personal data about contacts.
type Holder interface {
	// Name is the holder's section of an export, e.g. "consent".
	Name() string
	// Export returns everything the holder keeps about the subject, ready for JSON.
	Export(ctx context.Context, tx pgx.Tx, s Subject) (any, error)
	// Erase removes the subject's phone number, name, email and message text from the
	// holder's tables, inside tx. A holder whose storage cannot join tx must be
	// idempotent: it runs again if the erasure is retried.
	Erase(ctx context.Context, tx pgx.Tx, s Subject) error
}

// Purger removes message text older than a cutoff.
type Purger interface {
	Purge(ctx context.Context, before time.Time) (int64, error)
}

// Service exports and erases subjects through the holders, and purges old text.
type Service struct {
	pool    *pgxpool.Pool
	holders []Holder
	purgers map[string]Purger
	now     func() time.Time
}

// New returns a Service over the holders, which erase in the order given: the one that
// deletes the contact itself goes last.
func New(pool *pgxpool.Pool, holders []Holder, purgers map[string]Purger) *Service {
	return &Service{pool: pool, holders: holders, purgers: purgers, now: time.Now}
}

// Export is a data-subject export: one section per holder.
type Export struct {
	ContactID  int64          `json:"contact_id"`
	ExportedAt time.Time      `json:"exported_at"`
	Sections   map[string]any `json:"data"`
}

// Export gathers everything Crier keeps about a contact, in one consistent snapshot.
func (s *Service) Export(ctx context.Context, contactID int64) (Export, error) {
	out := Export{ContactID: contactID, ExportedAt: s.now().UTC(), Sections: map[string]any{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		subj, err := subject(ctx, tx, contactID, false)
		if err != nil {
			return err
		}
		for _, h := range s.holders {
			v, err := h.Export(ctx, tx, subj)
			if err != nil {
				return fmt.Errorf("%s: %w", h.Name(), err)
			}
			out.Sections[h.Name()] = v
		}
		return nil
	})
	if err != nil {
		return Export{}, fmt.Errorf("privacy: export contact %d: %w", contactID, err)
	}
	return out, nil
}

// Erase removes the contact and every trace of its phone number, name, email and message
// text from every holder, in one transaction. Afterwards only the keyed hash of the
// number remains, on the suppression list, so the person is not messaged again if they
// are imported again.
func (s *Service) Erase(ctx context.Context, contactID int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		subj, err := subject(ctx, tx, contactID, true)
		if err != nil {
			return err
		}
		for _, h := range s.holders {
			if err := h.Erase(ctx, tx, subj); err != nil {
				return fmt.Errorf("%s: %w", h.Name(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("privacy: erase contact %d: %w", contactID, err)
	}
	return nil
}

func subject(ctx context.Context, tx pgx.Tx, contactID int64, lock bool) (Subject, error) {
	q := `SELECT id, phone, phone_hash FROM contact_keys WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	var subj Subject
	err := tx.QueryRow(ctx, q, contactID).Scan(&subj.ContactID, &subj.Phone, &subj.PhoneHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Subject{}, apperr.NotFoundf("contact %d not found", contactID)
	}
	if err != nil {
		return Subject{}, err
	}
	if subj.PhoneHash == nil {
		return Subject{}, fmt.Errorf("contact %d has no phone hash yet: start crier serve once to backfill it", contactID)
	}
	return subj, nil
}

// Purge removes message text older than the retention period from every purger and
// reports how many rows each cleared.
func (s *Service) Purge(ctx context.Context, retention time.Duration) (map[string]int64, error) {
	before := s.now().Add(-retention)
	out := map[string]int64{}
	for name, p := range s.purgers {
		n, err := p.Purge(ctx, before)
		if err != nil {
			return out, fmt.Errorf("privacy: purge %s: %w", name, err)
		}
		out[name] = n
	}
	return out, nil
}
