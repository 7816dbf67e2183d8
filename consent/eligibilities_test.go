package consent_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
)

// TestEligibilitiesOfMany: the workers' one-statement form answers for each contact as
// Eligibility does, and leaves out contacts that do not exist.
func TestEligibilitiesOfMany(t *testing.T) {
	b, ctx := setup(t)
	granted := b.contact(t, "+6591230001", contacts.Fields{})
	withdrawn := b.contact(t, "+6591230002", contacts.Fields{})
	never := b.contact(t, "+6591230003", contacts.Fields{})
	suppressed := b.contact(t, "+6591230004", contacts.Fields{})
	for _, id := range []int64{granted, withdrawn, suppressed} {
		_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
			Evidence: formEvidence, Actor: "t"})
		require.NoError(t, err)
	}
	_, err := b.consent.Record(ctx, consent.Change{ContactID: withdrawn, Status: consent.Withdrawn, Source: consent.SourceAgent, Actor: "t"})
	require.NoError(t, err)
	_, _, err = b.consent.Suppress(ctx, "+6591230004", consent.ReasonManual, "t")
	require.NoError(t, err)

	got, err := b.consent.Eligibilities(ctx, []int64{granted, withdrawn, never, suppressed, 1 << 40}, consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.Equal(t, map[int64]consent.Exclusion{
		granted: "", withdrawn: consent.ExcludedWithdrawn, never: consent.ExcludedNoConsent, suppressed: consent.ExcludedSuppressed,
	}, got)
	for id, want := range got {
		require.Equal(t, want, b.eligible(t, id), "contact %d", id)
	}
}
