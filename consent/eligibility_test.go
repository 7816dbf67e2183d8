package consent_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// TestEligibilityOrder walks one contact through every exclusion of contact_eligibility
// and checks that the first that applies is the one reported: invalid_phone, suppressed,
// no_consent, withdrawn.
func TestEligibilityOrder(t *testing.T) {
	b, ctx := setup(t)
	id := b.contact(t, "+6591234567", contacts.Fields{})
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := b.pool.Exec(ctx, q, args...)
		require.NoError(t, err, q)
	}

	require.Equal(t, consent.ExcludedNoConsent, b.eligible(t, id))
	b.grant(t, id)
	require.Equal(t, consent.Exclusion(""), b.eligible(t, id))
	require.Equal(t, consent.ExcludedNoConsent, b.eligibleFor(t, id, consent.Utility), "consent is per purpose")

	// A withdrawn state without a suppression (the suppression list is emptied by hand):
	// withdrawn, not no_consent.
	_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Withdrawn, Source: consent.SourceAgent, Actor: "t"})
	require.NoError(t, err)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id), "suppression wins over the withdrawal")
	exec(`DELETE FROM suppressions`)
	require.Equal(t, consent.ExcludedWithdrawn, b.eligible(t, id))

	// A suppression of the number wins over consent, whatever the state.
	b.grant(t, id)
	exec(`INSERT INTO suppressions (phone_hash, purpose, reason, source, actor)
	      SELECT phone_hash, 'marketing', 'manual', 'staff', 't' FROM contacts WHERE id = $1`, id)
	require.Equal(t, consent.ExcludedSuppressed, b.eligible(t, id))

	// Without the keyed hash the suppression list cannot be checked: nobody is sent to.
	exec(`UPDATE contacts SET phone_hash = NULL WHERE id = $1`, id)
	require.Equal(t, consent.ExcludedInvalidPhone, b.eligible(t, id))
	require.Equal(t, consent.ExcludedInvalidPhone, b.eligibleFor(t, id, consent.Utility))

	_, err = b.consent.Eligibility(ctx, id+1000, consent.WhatsApp, consent.Marketing)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}
