package schedule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/internal/apperr"
)

// quietZone loads a zone or fails the test.
func quietZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// quietTime parses an RFC 3339 instant or fails the test.
func quietTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}

func TestQuietHoursValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		q      schedule.QuietHours
		fields []string
	}{
		{"default", schedule.DefaultQuietHours(), nil},
		{"omitted", schedule.QuietHours{}, nil},
		{"only start", schedule.QuietHours{Start: "22:00"}, nil},
		{"none", schedule.QuietHours{Start: "00:00", End: "00:00"}, nil},
		{"bounds", schedule.QuietHours{Start: "00:00", End: "23:59"}, nil},
		{"hour 24", schedule.QuietHours{Start: "24:00", End: "08:00"}, []string{"quiet_hours.start"}},
		{"minute 60", schedule.QuietHours{Start: "21:00", End: "08:60"}, []string{"quiet_hours.end"}},
		{"one digit", schedule.QuietHours{Start: "9:00", End: "8:00"}, []string{"quiet_hours.start", "quiet_hours.end"}},
		{"seconds", schedule.QuietHours{Start: "21:00:00", End: "08:00"}, []string{"quiet_hours.start"}},
		{"words", schedule.QuietHours{Start: "late", End: "early"}, []string{"quiet_hours.start", "quiet_hours.end"}},
		{"signs", schedule.QuietHours{Start: "+1:00", End: "-1:00"}, []string{"quiet_hours.start", "quiet_hours.end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.q.Validate()
			if tt.fields == nil {
				require.NoError(t, err)
				return
			}
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			var got []string
			for _, f := range apperr.FieldsOf(err) {
				got = append(got, f.Field)
				require.Contains(t, f.Message, "HH:MM")
			}
			require.Equal(t, tt.fields, got)
		})
	}
}

func TestParseQuietHours(t *testing.T) {
	t.Parallel()
	q, err := schedule.ParseQuietHours(" 22:30-07:15 ")
	require.NoError(t, err)
	require.Equal(t, schedule.QuietHours{Start: "22:30", End: "07:15"}, q)

	q, err = schedule.ParseQuietHours("00:00-00:00")
	require.NoError(t, err)
	require.True(t, q.None())

	for _, bad := range []string{"", "21:00", "21:00-", "-08:00", "21-08", "21:00-08:00-09:00", "21:00–08:00"} {
		_, err := schedule.ParseQuietHours(bad)
		require.Error(t, err, bad)
	}
}

func TestQuietHoursDefaults(t *testing.T) {
	t.Parallel()
	require.Equal(t, schedule.QuietHours{Start: "21:00", End: "08:00"}, schedule.DefaultQuietHours())

	def := schedule.QuietHours{Start: "20:00", End: "09:00"}
	require.Equal(t, def, schedule.QuietHours{}.WithDefault(def), "omitted → the default")
	require.Equal(t, schedule.QuietHours{Start: "23:00", End: "09:00"}, schedule.QuietHours{Start: "23:00"}.WithDefault(def))
	require.Equal(t, schedule.QuietHours{Start: "20:00", End: "07:00"}, schedule.QuietHours{End: "07:00"}.WithDefault(def))
	none := schedule.QuietHours{Start: "10:00", End: "10:00"}
	require.Equal(t, none, none.WithDefault(def))
	require.True(t, none.None(), "equal start and end → none")
	require.False(t, def.None())
	require.False(t, schedule.QuietHours{}.None(), "the zero value is the built-in default, not none")

	// Unmerged or broken windows read as the built-in default: never as "no quiet hours".
	sg := quietZone(t, "Asia/Singapore")
	night := quietTime(t, "2026-06-01T23:00:00+08:00")
	for _, q := range []schedule.QuietHours{{}, {Start: "bogus", End: "08:00"}, {Start: "21:00", End: "25:00"}} {
		require.True(t, q.Contains(night, sg), "%+v", q)
		require.True(t, quietTime(t, "2026-06-02T08:00:00+08:00").Equal(q.Defer(night, sg)), "%+v", q)
	}
}

func TestQuietHoursDefer(t *testing.T) {
	t.Parallel()
	def := schedule.DefaultQuietHours()
	lunch := schedule.QuietHours{Start: "12:00", End: "14:00"}
	tests := []struct {
		name  string
		zone  string
		quiet schedule.QuietHours
		at    string // RFC 3339, with the zone's offset for readability
		want  string // "" means unchanged
	}{
		// A zone without DST, the default window crossing midnight.
		{"before the window", "Asia/Singapore", def, "2026-06-01T20:59:59+08:00", ""},
		{"at the start", "Asia/Singapore", def, "2026-06-01T21:00:00+08:00", "2026-06-02T08:00:00+08:00"},
		{"late evening", "Asia/Singapore", def, "2026-06-01T23:30:00+08:00", "2026-06-02T08:00:00+08:00"},
		{"after midnight", "Asia/Singapore", def, "2026-06-02T00:10:00+08:00", "2026-06-02T08:00:00+08:00"},
		{"last second", "Asia/Singapore", def, "2026-06-02T07:59:59.999+08:00", "2026-06-02T08:00:00+08:00"},
		{"at the end", "Asia/Singapore", def, "2026-06-02T08:00:00+08:00", ""},
		{"year end", "Asia/Singapore", def, "2026-12-31T22:00:00+08:00", "2027-01-01T08:00:00+08:00"},
		// A window that does not cross midnight.
		{"lunch before", "Asia/Singapore", lunch, "2026-06-01T11:59:00+08:00", ""},
		{"lunch inside", "Asia/Singapore", lunch, "2026-06-01T13:00:00+08:00", "2026-06-01T14:00:00+08:00"},
		{"lunch after", "Asia/Singapore", lunch, "2026-06-01T14:00:00+08:00", ""},
		{"lunch evening", "Asia/Singapore", lunch, "2026-06-01T23:00:00+08:00", ""},
		{"none", "Asia/Singapore", schedule.QuietHours{Start: "08:00", End: "08:00"}, "2026-06-01T03:00:00+08:00", ""},
		// The window is the recipient's: the same instant is quiet in one zone only.
		{"Kolkata night", "Asia/Kolkata", def, "2026-06-01T23:00:00+05:30", "2026-06-02T08:00:00+05:30"},
		{"Kolkata half hour", "Asia/Kolkata", schedule.QuietHours{Start: "21:30", End: "07:45"}, "2026-06-01T21:29:00+05:30", ""},
		{"New York afternoon", "America/New_York", def, "2026-06-01T15:00:00Z", ""},
		{"Singapore same instant", "Asia/Singapore", def, "2026-06-01T15:00:00Z", "2026-06-02T08:00:00+08:00"},

		// New York springs forward on 8 March 2026, 02:00 EST → 03:00 EDT.
		{"NY window across spring forward", "America/New_York", def, "2026-03-07T23:00:00-05:00", "2026-03-08T08:00:00-04:00"},
		{"NY end in the gap", "America/New_York", schedule.QuietHours{Start: "21:00", End: "02:30"}, "2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"NY end in the gap, evening", "America/New_York", schedule.QuietHours{Start: "21:00", End: "02:30"}, "2026-03-07T22:00:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"NY start in the gap", "America/New_York", schedule.QuietHours{Start: "02:30", End: "06:00"}, "2026-03-08T03:00:00-04:00", "2026-03-08T06:00:00-04:00"},
		// New York falls back on 1 November 2026, 02:00 EDT → 01:00 EST.
		{"NY window across fall back", "America/New_York", def, "2026-10-31T23:00:00-04:00", "2026-11-01T08:00:00-05:00"},
		{"NY end ambiguous, first pass", "America/New_York", schedule.QuietHours{Start: "21:00", End: "01:30"}, "2026-11-01T01:15:00-04:00", "2026-11-01T01:30:00-04:00"},
		{"NY open between the passes", "America/New_York", schedule.QuietHours{Start: "21:00", End: "01:30"}, "2026-11-01T01:45:00-04:00", ""},
		{"NY end ambiguous, second pass", "America/New_York", schedule.QuietHours{Start: "21:00", End: "01:30"}, "2026-11-01T01:15:00-05:00", "2026-11-01T01:30:00-05:00"},

		// London springs forward on 29 March 2026, 01:00 GMT → 02:00 BST.
		{"London window across spring forward", "Europe/London", def, "2026-03-28T22:00:00Z", "2026-03-29T08:00:00+01:00"},
		{"London end in the gap", "Europe/London", schedule.QuietHours{Start: "22:00", End: "01:30"}, "2026-03-29T00:45:00Z", "2026-03-29T02:00:00+01:00"},
		// London falls back on 25 October 2026, 02:00 BST → 01:00 GMT.
		{"London end ambiguous, first pass", "Europe/London", schedule.QuietHours{Start: "23:00", End: "01:30"}, "2026-10-25T00:30:00+01:00", "2026-10-25T01:30:00+01:00"},
		{"London end ambiguous, second pass", "Europe/London", schedule.QuietHours{Start: "23:00", End: "01:30"}, "2026-10-25T01:10:00Z", "2026-10-25T01:30:00Z"},
		{"London window across fall back", "Europe/London", def, "2026-10-24T21:30:00+01:00", "2026-10-25T08:00:00Z"},

		// Lord Howe moves by 30 minutes: 4 October 2026, 02:00 +10:30 → 02:30 +11:00.
		{"Lord Howe end in the gap", "Australia/Lord_Howe", schedule.QuietHours{Start: "22:00", End: "02:15"}, "2026-10-04T01:00:00+10:30", "2026-10-04T02:30:00+11:00"},
		// … and back on 5 April 2026, 02:00 +11:00 → 01:30 +10:30.
		{"Lord Howe end ambiguous, second pass", "Australia/Lord_Howe", schedule.QuietHours{Start: "22:00", End: "01:45"}, "2026-04-05T01:35:00+10:30", "2026-04-05T01:45:00+10:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			zone, at := quietZone(t, tt.zone), quietTime(t, tt.at)
			want := at
			if tt.want != "" {
				want = quietTime(t, tt.want)
			}
			got := tt.quiet.Defer(at, zone)
			require.True(t, want.Equal(got), "want %s, got %s", want.In(zone), got.In(zone))
			require.Equal(t, time.UTC, got.Location())
			require.Equal(t, tt.want != "", tt.quiet.Contains(at, zone), "Contains(at)")
			require.False(t, tt.quiet.Contains(got, zone), "the result is outside the window")
			require.Equal(t, got, tt.quiet.Defer(got, zone), "Defer is idempotent")
		})
	}
}

// TestQuietHoursDeferSweep walks every DST transition of 2026 in several zones, three
// minutes at a time (and the rest of the year coarsely): Defer never goes back in time,
// never lands in the window, and never moves an instant that is outside it.
func TestQuietHoursDeferSweep(t *testing.T) {
	t.Parallel()
	windows := []schedule.QuietHours{
		schedule.DefaultQuietHours(),
		{Start: "12:00", End: "14:00"},
		{Start: "21:00", End: "02:30"},
		{Start: "01:30", End: "02:15"},
		{Start: "02:45", End: "02:30"}, // all day but a quarter hour: a gap can jump past the start
	}
	for _, name := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham"} {
		zone := quietZone(t, name)
		var instants []time.Time
		for at := quietTime(t, "2026-01-01T00:00:00Z"); at.Year() == 2026; at = at.Add(97 * time.Minute) {
			instants = append(instants, at)
		}
		for at := quietTime(t, "2026-01-01T00:00:00Z"); ; {
			_, end := at.In(zone).ZoneBounds()
			if end.IsZero() || end.Year() > 2026 {
				break
			}
			for m := -26 * 60; m <= 26*60; m += 3 {
				instants = append(instants, end.Add(time.Duration(m)*time.Minute))
			}
			at = end
		}
		for _, q := range windows {
			for _, at := range instants {
				// Plain ifs: require's variadic arguments dominate the run time of this loop.
				got := q.Defer(at, zone)
				if got.Before(at) || q.Contains(got, zone) || (!q.Contains(at, zone) && !got.Equal(at)) {
					t.Fatalf("%s %+v: %s → %s", name, q, at.In(zone), got.In(zone))
				}
				if got.Sub(at) >= 48*time.Hour { // a day, or two when a gap jumps past the window's start
					t.Fatalf("%s %+v: %s → %s is too far", name, q, at.In(zone), got.In(zone))
				}
			}
		}
	}
}
