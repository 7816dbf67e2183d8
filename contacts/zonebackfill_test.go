package contacts_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
)

// TestBackfillPhoneZones: contacts written before phone_zone existed get the zone of their
// number, once; the others are left as they are.
func TestBackfillPhoneZones(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	ids := map[string]int64{}
	for _, phone := range []string{"+12125550123", "+6591000001", "+16055550123"} {
		c, _, err := svc.Upsert(ctx, phone, "", contacts.Fields{})
		require.NoError(t, err)
		ids[phone] = c.ID
	}
	_, err := pool.Exec(ctx, `UPDATE contacts SET phone_zone = NULL WHERE phone <> '+6591000001'`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE contacts SET phone_zone = 'Europe/Paris' WHERE phone = '+6591000001'`)
	require.NoError(t, err)

	n, err := svc.BackfillPhoneZones(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	zone := func(phone string) string {
		t.Helper()
		var z string
		require.NoError(t, pool.QueryRow(ctx, `SELECT phone_zone FROM contacts WHERE id = $1`, ids[phone]).Scan(&z))
		return z
	}
	require.Equal(t, "America/New_York", zone("+12125550123"))
	require.Equal(t, "", zone("+16055550123"), "an ambiguous number has no zone, and is not looked at again")
	require.Equal(t, "Europe/Paris", zone("+6591000001"), "a zone already there stays")

	n, err = svc.BackfillPhoneZones(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}
