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

// The exclusions, as campaign previews and stats count them, in the order they are
// decided: a contact gets the first that applies.
const (
	ExcludedInvalidPhone Exclusion = "invalid_phone" // no keyed phone hash: the suppression list cannot be checked
	ExcludedSuppressed   Exclusion = "suppressed"    // on the do-not-contact list
	ExcludedNoConsent    Exclusion = "no_consent"    // never granted
	ExcludedWithdrawn    Exclusion = "withdrawn"     // granted once, withdrawn since
)

// Eligibility is defined once, in SQL: the function contact_eligibility(channel, purpose)
// of migrations/00013_eligibility.sql returns every contact (the column contact, of the
// contacts row type) with its exclusion (NULL when it may be messaged). The statements
// that decide who gets a message read it: the audience of a campaign's launch and preview
// (package campaigns), the claim of each message at send time (package delivery), and
// eligibilityOf here. PostgreSQL inlines it, so an audience of a million is one hash join per table and one
// contact is a primary-key lookup each. Since migration 00025 its body is
// contact_eligibility(channel, purpose, from_id, to_id), the same for the contacts whose
// id is in a range (a part of a launch), with both ends NULL.

// eligibilityOf is the exclusion of one contact, NULL when it may be messaged; no row
// when there is no such contact.
//
//	$1 contact id, $2 channel, $3 purpose
const eligibilityOf = `
SELECT e.exclusion
FROM contact_eligibility($2, $3) e
WHERE (e.contact).id = $1`

// Eligibility says whether one contact may be sent a message of this channel and purpose
// now, and if not, why: the rule the launch and the send-time claim apply, for one
// contact. Errors: NotFound.
func (s *Service) Eligibility(ctx context.Context, contactID int64, ch Channel, p Purpose) (Exclusion, error) {
	var reason *string
	err := s.pool.QueryRow(ctx, eligibilityOf, contactID, ch, p).Scan(&reason)
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
