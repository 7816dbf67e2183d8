package contacts_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/phonehash"
)

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, country string
		want, region string
		err          string
	}{
		{raw: "+65 9123 4567", want: "+6591234567", region: "SG"},
		{raw: "+65-9123-4567", want: "+6591234567", region: "SG"},
		{raw: "(+65) 9123 4567", want: "+6591234567", region: "SG"},
		{raw: "9123 4567", country: "SG", want: "+6591234567", region: "SG"},
		{raw: "9123 4567", country: "sg", want: "+6591234567", region: "SG"},
		{raw: "0065 9123 4567", country: "GB", want: "+6591234567", region: "SG"},
		{raw: "+1 (415) 555-2671", want: "+14155552671", region: "US"},
		{raw: "(415) 555-2671", country: "US", want: "+14155552671", region: "US"},
		{raw: "+44 7400 123456", want: "+447400123456", region: "GB"},
		{raw: "07400 123456", country: "GB", want: "+447400123456", region: "GB"},
		{raw: "+55 11 91234-5678", want: "+5511912345678", region: "BR"},
		{raw: "+86 138 0013 8000", want: "+8613800138000", region: "CN"},
		{raw: "+6591234567", country: "US", want: "+6591234567", region: "SG"}, // + wins over the default
		{raw: "  +6591234567  ", want: "+6591234567", region: "SG"},
		{raw: "", err: "is required"},
		{raw: "   ", err: "is required"},
		{raw: "91234567", err: "has no country code"},
		{raw: "hello", country: "SG", err: "is not a phone number"},
		{raw: "+999 1234567", err: "unknown country code"},
		{raw: "+65 123", err: "too short"},
		{raw: "+65 9123 4567 8901 2345", err: "too long"},
		{raw: "+1 415 555 267", err: "too short for country code +1"},
		{raw: "+1 999 555 2671", err: "not a valid number for"},
		{raw: "+6591234567" + string(make([]byte, 80)), err: "is not a phone number"},
		{raw: "\xff\xfe", country: "SG", err: "is not a phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.raw+"/"+tt.country, func(t *testing.T) {
			got, region, err := contacts.NormalizePhone(tt.raw, tt.country)
			if tt.err != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.err)
				require.Empty(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.region, region)
		})
	}
}

// TestNewPhone checks that every form of a number comes from the one parse: the E.164
// form and region as NormalizePhone gives them, the HMAC of that form under the key, and
// its zone.
func TestNewPhone(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	hasher, err := phonehash.New(key)
	require.NoError(t, err)
	hmacOf := func(s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	tests := []struct {
		raw, region            string
		e164, wantRegion, zone string
		err                    string
	}{
		{raw: "+12125550123", e164: "+12125550123", wantRegion: "US", zone: "America/New_York"},
		{raw: "(212) 555-0123", region: "us", e164: "+12125550123", wantRegion: "US", zone: "America/New_York"},
		{raw: "9123 4567", region: "SG", e164: "+6591234567", wantRegion: "SG", zone: "Asia/Singapore"},
		{raw: "+44 7911 123456", region: "SG", e164: "+447911123456", wantRegion: "GG", zone: "Europe/Guernsey"}, // a Guernsey mobile,
		{raw: "+1 605 555 0123", e164: "+16055550123", wantRegion: "US", zone: ""},                               // two clocks: no zone
		{raw: "", err: "is required"},
		{raw: "91234567", err: "has no country code"},
		{raw: "+65 123", err: "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.raw+"/"+tt.region, func(t *testing.T) {
			p, err := contacts.NewPhone(tt.raw, tt.region, hasher)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.Zero(t, p)
				_, _, nerr := contacts.NormalizePhone(tt.raw, tt.region)
				require.EqualError(t, err, nerr.Error(), "the same words as NormalizePhone")
				return
			}
			require.NoError(t, err)
			require.Equal(t, contacts.Phone{E164: tt.e164, Region: tt.wantRegion, Hash: hmacOf(tt.e164), Zone: tt.zone}, p)
			require.Len(t, p.Hash, sha256.Size)
		})
	}
}

// BenchmarkNewPhone is the cost of every form of a canonical number, the import's common
// case: NormalizePhone's fast path, the hash and the zone.
func BenchmarkNewPhone(b *testing.B) {
	hasher, err := phonehash.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(b, err)
	for b.Loop() {
		if _, err := contacts.NewPhone("+6591234567", "", hasher); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	t.Parallel()
	require.Equal(t, "+65••••••67", contacts.MaskPhone("+6591234567"))
	require.Equal(t, "+14•••••••71", contacts.MaskPhone("+14155552671"))
	require.Equal(t, "+•••", contacts.MaskPhone("+123"))
	require.Equal(t, "j•••@example.com", contacts.MaskEmail("jane@example.com"))
	require.Equal(t, "", contacts.MaskEmail(""))
}

func TestNormalizeFields(t *testing.T) {
	t.Parallel()
	loc, err := contacts.NormalizeLocale("pt_br")
	require.NoError(t, err)
	require.Equal(t, "pt-BR", loc)
	loc, err = contacts.NormalizeLocale("ZH-hant-tw")
	require.NoError(t, err)
	require.Equal(t, "zh-Hant-TW", loc)
	_, err = contacts.NormalizeLocale("not a locale")
	require.ErrorContains(t, err, "BCP 47")

	tz, err := contacts.NormalizeTimezone("Asia/Singapore")
	require.NoError(t, err)
	require.Equal(t, "Asia/Singapore", tz)
	for _, bad := range []string{"Local", "Mars/Olympus", "asia/nowhere", "../../etc/passwd"} {
		_, err = contacts.NormalizeTimezone(bad)
		require.ErrorContains(t, err, "IANA", bad)
	}

	c, err := contacts.NormalizeCountry(" sg ")
	require.NoError(t, err)
	require.Equal(t, "SG", c)
	_, err = contacts.NormalizeCountry("XX")
	require.ErrorContains(t, err, "ISO 3166")

	tags, err := contacts.NormalizeTags([]string{"VIP", " vip", "sale-2024", "ü:neu"})
	require.NoError(t, err)
	require.Equal(t, []string{"sale-2024", "vip", "ü:neu"}, tags)
	for _, bad := range []string{"", "two words", "semi;colon", "a,b", string(make([]rune, 65))} {
		_, err = contacts.NormalizeTags([]string{bad})
		require.Error(t, err, "%q", bad)
	}
}
