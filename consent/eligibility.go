package consent

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
)

// Exclusion is why a contact may not be sent a message; "" means it may.
type Exclusion string

// The exclusions, as campaign previews and stats count them.
const (
	ExcludedNoConsent  Exclusion = "no_consent" // never granted
	ExcludedWithdrawn  Exclusion = "withdrawn"  // granted once, withdrawn since
	ExcludedSuppressed Exclusion = "suppressed" // on the do-not-contact list
)

// ExclusionSQL is the SQL that tells, for each contact of a query, whether it may be
// messaged: add Joins after the contacts table in FROM, and Expr is NULL for a contact that
// may be messaged and otherwise its Exclusion. Suppression (of the number, for the
// purpose) wins over consent. Each join finds at most one row, by a primary key. It is
// joins rather than subqueries so that a whole audience of a million is one hash join each.
type ExclusionSQL struct {
	Joins string // LEFT JOINs of consent_state (as cs) and suppressions (as sup)
	Expr  string // NULL, or 'suppressed', 'no_consent' or 'withdrawn'
}

// Exclusions returns the ExclusionSQL for contacts aliased contact, for the channel and
// purpose given as SQL expressions or parameters (e.g. "'whatsapp'" or "$2").
func Exclusions(contact, channel, purpose string) ExclusionSQL {
	return ExclusionSQL{
		Joins: fmt.Sprintf(`
			LEFT JOIN consent_state cs ON cs.contact_id = %[1]s.id AND cs.channel = %[2]s AND cs.purpose = %[3]s
			LEFT JOIN suppressions sup ON sup.phone_hash = %[1]s.phone_hash AND sup.purpose = %[3]s`, contact, channel, purpose),
		Expr: `(CASE
			WHEN sup.phone_hash IS NOT NULL THEN 'suppressed'
			WHEN cs.status IS NULL THEN 'no_consent'
			WHEN cs.status <> 'granted' THEN 'withdrawn'
		END)`,
	}
}

// Eligibility says whether one contact may be sent a message of this channel and purpose
// now, and if not, why, by the rules of Exclusions: those the launch and the send-time
// claim apply, for one contact.
func (s *Service) Eligibility(ctx context.Context, contactID int64, ch Channel, p Purpose) (Exclusion, error) {
	ex := Exclusions("c", "$2", "$3")
	var reason *string
	err := s.pool.QueryRow(ctx, `SELECT `+ex.Expr+` FROM contacts c `+ex.Joins+` WHERE c.id = $1`, contactID, ch, p).Scan(&reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", apperr.NotFoundf("contact %d not found", contactID)
	}
	if err != nil {
		return "", fmt.Errorf("consent: eligibility of %d: %w", contactID, err)
	}
	if reason == nil {
		return "", nil
	}
	return Exclusion(*reason), nil
}
