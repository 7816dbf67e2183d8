package contacts_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
)

// TestPhoneZone covers PhoneZone's rules: the longest prefix's zone, one name for zones
// that keep one clock, none for zones hours apart or for what is not an E.164 number.
func TestPhoneZone(t *testing.T) {
	t.Parallel()
	tests := []struct{ phone, want string }{
		{"+12125550123", "America/New_York"},
		{"+14155550123", "America/Los_Angeles"},
		{"+6591234567", "Asia/Singapore"},
		{"+919812345678", "Asia/Calcutta"}, // libphonenumber's name; Go and PostgreSQL know it
		{"+5511987654321", "America/Sao_Paulo"},
		{"+5569987654321", "America/Manaus"},
		{"+79161234567", "Europe/Moscow"},
		{"+6281234567890", "Asia/Jakarta"},
		// Several zones, one clock: the first name.
		{"+447911123456", "Europe/Guernsey"},
		{"+390612345678", "Europe/Rome"},
		// Several zones, different clocks: unknown.
		{"+16055550123", ""}, // South Dakota: Central or Mountain
		{"+19075550123", ""}, // Alaska: Anchorage or Adak
		{"+7", ""},
		// Not a phone.
		{"+99912345", ""},
		{"12125550123", ""},
		{"+1 212 555 0123", ""},
		{"+", ""},
		{"", ""},
		{"+1234567890123456", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, contacts.PhoneZone(tt.phone), tt.phone)
	}
}

// TestPhoneZoneIsWritten checks that every way a phone is written also writes its zone,
// which the campaigns' recipient-local times fall back to.
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
