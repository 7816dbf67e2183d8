package contacts_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
)

// TestPhoneZoneIsWritten checks that every way a phone is written also writes its zone,
// which the campaigns' recipient-local times fall back to (contacts.PhoneZone's own cases
// are tested in campaigns' TestPhoneZone).
func TestPhoneZoneIsWritten(t *testing.T) {
	svc, pool, ctx := setupImport(t)
	zoneOf := func(phone string) *string {
		var z *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT phone_zone FROM contacts WHERE phone = $1`, phone).Scan(&z))
		return z
	}
	_, err := svc.Import(ctx, strings.NewReader("phone,name\n+12125550123,Ny\n+16055550123,Sd\n"), contacts.ImportOptions{Actor: "test"})
	require.NoError(t, err)
	require.Equal(t, "America/New_York", *zoneOf("+12125550123"))
	require.Equal(t, "", *zoneOf("+16055550123"), "two zones apart: none, not NULL")

	c, _, err := svc.Upsert(ctx, "+447911123456", "", contacts.Fields{})
	require.NoError(t, err)
	require.Equal(t, "Europe/Guernsey", *zoneOf("+447911123456"))

	_, err = svc.Update(ctx, c.ID, ptrStr("+6591234567"), "", contacts.Fields{})
	require.NoError(t, err)
	require.Equal(t, "Asia/Singapore", *zoneOf("+6591234567"))
}

func ptrStr(s string) *string { return &s }

// BenchmarkPhoneZone is the import's extra cost per row for phone_zone.
//
//	go test ./contacts -run '^$' -bench PhoneZone
func BenchmarkPhoneZone(b *testing.B) {
	for b.Loop() {
		contacts.PhoneZone("+6591234567")
	}
}
