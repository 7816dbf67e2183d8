package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecipientZone(t *testing.T) {
	t.Parallel()
	tests := []struct{ contactTZ, phone, campaignTZ, want string }{
		{"Asia/Tokyo", "+12125550123", "Europe/London", "Asia/Tokyo"},
		{"Mars/Base", "+12125550123", "Europe/London", "America/New_York"},
		{"", "+447911123456", "Asia/Singapore", "Europe/Guernsey"},
		{"", "+16055550123", "America/Chicago", "America/Chicago"},
		{"Local", "", "Europe/London", "Europe/London"},
		{"", "", "", "UTC"},
		{"", "", "Bad/Zone", "UTC"},
		{"UTC", "+12125550123", "Europe/London", "UTC"},
	}
	for _, tt := range tests {
		got := RecipientZone(tt.contactTZ, tt.phone, tt.campaignTZ)
		require.Equal(t, tt.want, got.String(), "%+v", tt)
	}
	require.Same(t, RecipientZone("Asia/Tokyo", "", ""), RecipientZone("Asia/Tokyo", "", ""), "zones are cached")
}

func TestDueAt(t *testing.T) {
	t.Parallel()
	none := QuietHours{Start: "00:00", End: "00:00"}
	def := DefaultQuietHours()
	local := func(hhmm string, skip bool) Schedule {
		return Schedule{Type: Now, LocalTime: hhmm, SkipPastLocal: skip}
	}
	tests := []struct {
		name  string
		zone  string
		s     Schedule
		quiet QuietHours
		runAt string
		want  string // "" means skipped
	}{
		{"no local time", "America/New_York", Schedule{Type: Now}, def, "2026-06-01T15:00:00-04:00", "2026-06-01T15:00:00-04:00"},
		{"no local time, quiet", "America/New_York", Schedule{Type: Now}, def, "2026-06-01T23:00:00-04:00", "2026-06-02T08:00:00-04:00"},
		{"later today", "America/New_York", local("10:00", false), none, "2026-06-01T08:00:00-04:00", "2026-06-01T10:00:00-04:00"},
		{"this minute", "America/New_York", local("10:00", false), none, "2026-06-01T10:00:40-04:00", "2026-06-01T10:00:40-04:00"},
		{"passed", "America/New_York", local("10:00", false), none, "2026-06-01T10:01:00-04:00", "2026-06-02T10:00:00-04:00"},
		{"passed, skip", "America/New_York", local("10:00", true), none, "2026-06-01T10:01:00-04:00", ""},
		{"not passed, skip", "America/New_York", local("10:00", true), none, "2026-06-01T09:59:59-04:00", "2026-06-01T10:00:00-04:00"},
		// One run at 20:00 UTC: already tomorrow in Tokyo, still this afternoon in Los
		// Angeles; each recipient's own date decides.
		{"Tokyo", "Asia/Tokyo", local("10:00", true), none, "2026-06-01T20:00:00Z", "2026-06-02T10:00:00+09:00"},
		{"Los Angeles", "America/Los_Angeles", local("10:00", false), none, "2026-06-01T20:00:00Z", "2026-06-02T10:00:00-07:00"},
		{"Los Angeles, skip", "America/Los_Angeles", local("10:00", true), none, "2026-06-01T20:00:00Z", ""},
		{"Kolkata", "Asia/Kolkata", local("10:00", false), def, "2026-06-01T00:00:00Z", "2026-06-01T10:00:00+05:30"},
		{"Chatham", "Pacific/Chatham", local("09:00", false), def, "2026-06-01T00:00:00Z", "2026-06-02T09:00:00+12:45"},
		{"local time in quiet hours", "Asia/Singapore", local("22:00", false), def, "2026-06-01T09:00:00+08:00", "2026-06-02T08:00:00+08:00"},
		{"nil zone is UTC", "", local("10:00", false), none, "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"},

		// New York, 8 March 2026: 02:00 EST → 03:00 EDT. 02:30 does not exist: 03:00 EDT.
		{"NY gap", "America/New_York", local("02:30", false), none, "2026-03-08T00:00:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"NY gap, skip", "America/New_York", local("02:30", true), none, "2026-03-08T01:59:30-05:00", "2026-03-08T03:00:00-04:00"},
		{"NY gap, quiet", "America/New_York", local("02:30", false), def, "2026-03-08T00:00:00-05:00", "2026-03-08T08:00:00-04:00"},
		{"NY gap passed", "America/New_York", local("02:30", false), none, "2026-03-08T03:10:00-04:00", "2026-03-09T02:30:00-04:00"},
		{"NY after the gap", "America/New_York", local("09:00", false), def, "2026-03-08T00:00:00-05:00", "2026-03-08T09:00:00-04:00"},
		// New York, 1 November 2026: 02:00 EDT → 01:00 EST. 01:30 happens twice.
		{"NY ambiguous", "America/New_York", local("01:30", false), none, "2026-11-01T00:00:00-04:00", "2026-11-01T01:30:00-04:00"},
		{"NY ambiguous, second pass", "America/New_York", local("01:30", false), none, "2026-11-01T01:15:00-05:00", "2026-11-01T01:30:00-05:00"},
		{"NY ambiguous, passed", "America/New_York", local("01:30", false), none, "2026-11-01T01:45:00-04:00", "2026-11-02T01:30:00-05:00"},
		// London, 29 March 2026: 01:00 GMT → 02:00 BST; 25 October 2026: 02:00 BST → 01:00 GMT.
		{"London gap", "Europe/London", local("01:30", false), none, "2026-03-29T00:00:00Z", "2026-03-29T02:00:00+01:00"},
		{"London spring, quiet", "Europe/London", local("07:00", false), def, "2026-03-28T23:00:00Z", "2026-03-29T08:00:00+01:00"},
		{"London ambiguous", "Europe/London", local("01:30", false), none, "2026-10-25T00:00:00+01:00", "2026-10-25T01:30:00+01:00"},
		{"London autumn, quiet", "Europe/London", local("07:00", false), def, "2026-10-24T22:00:00+01:00", "2026-10-25T08:00:00Z"},
		// Lord Howe, 4 October 2026: 02:00 +10:30 → 02:30 +11:00.
		{"Lord Howe gap", "Australia/Lord_Howe", local("02:15", false), none, "2026-10-04T00:00:00+10:30", "2026-10-04T02:30:00+11:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var zone *time.Location
			if tt.zone != "" {
				zone = testZone(t, tt.zone)
			}
			runAt := testTime(t, tt.runAt)
			due, skip := DueAt(runAt, tt.s, zone, tt.quiet)
			if tt.want == "" {
				require.True(t, skip)
				require.True(t, due.IsZero())
				return
			}
			require.False(t, skip)
			want := testTime(t, tt.want)
			require.True(t, want.Equal(due), "want %s, got %s", want.In(orUTC(zone)), due.In(orUTC(zone)))
			require.Equal(t, time.UTC, due.Location())
			require.False(t, due.Before(runAt))
		})
	}
}

func TestNewDueTable(t *testing.T) {
	t.Parallel()
	runAt := testTime(t, "2026-06-01T20:00:00Z")
	s := Schedule{Type: Now, Timezone: "Europe/London", LocalTime: "10:00", SkipPastLocal: true}
	table := NewDueTable(runAt, s, DefaultQuietHours(),
		[]string{"Asia/Tokyo", "", "Local", "Mars/Base", "America/Los_Angeles", "Asia/Tokyo"})
	require.Equal(t, []string{"Asia/Tokyo", "America/Los_Angeles"}, table.Zones, "valid names, once each")
	require.Equal(t, []bool{false, true}, table.Skip)
	require.True(t, testTime(t, "2026-06-02T10:00:00+09:00").Equal(table.Due[0]))
	require.True(t, table.Due[1].IsZero())
	require.Equal(t, "Europe/London", table.FallbackZone)
	require.True(t, table.FallbackSkip, "21:00 in London: 10:00 has passed")
	dues, fallback := table.DuesOrNil()
	require.Len(t, dues, 2)
	require.True(t, table.Due[0].Equal(*dues[0]))
	require.Nil(t, dues[1], "a skipped zone's due time is NULL")
	require.Nil(t, fallback, "so is a skipped fallback's")

	table = NewDueTable(runAt, Schedule{Type: Now, Timezone: "Bad/Zone"}, DefaultQuietHours(), nil)
	require.Equal(t, "UTC", table.FallbackZone)
	require.True(t, runAt.Equal(table.FallbackDue))
	require.Empty(t, table.Zones)
	dues, fallback = table.DuesOrNil()
	require.Empty(t, dues)
	require.NotNil(t, fallback)
	require.True(t, runAt.Equal(*fallback))
}
