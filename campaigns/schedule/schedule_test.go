package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
)

// testZone loads a zone or fails the test.
func testZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// testTime parses an RFC 3339 instant or fails the test.
func testTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}

// testNow is the injected clock of the validation tests: a Friday.
const testNow = "2026-05-01T12:00:00Z"

func TestScheduleValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    Schedule
		want map[string]string // field → a part of its message; nil means valid
	}{
		{"now", Schedule{Type: Now}, nil},
		{"now with everything", Schedule{Type: Now, Timezone: "Asia/Singapore", LocalTime: "10:00", SkipPastLocal: true}, nil},
		{"at", Schedule{Type: At, At: "2026-05-02T09:00:00Z"}, nil},
		{"at with offset", Schedule{Type: At, At: "2026-05-02T09:00:00+08:00"}, nil},
		{"at with fraction", Schedule{Type: At, At: "2026-05-01T12:00:00.001Z"}, nil},
		{"cron", Schedule{Type: Cron, Cron: "0 9 * * 1-5", Timezone: "Europe/London"}, nil},
		{"cron names", Schedule{Type: Cron, Cron: " 0 9 * jan-mar MON-FRI "}, nil},
		{"cron daily", Schedule{Type: Cron, Cron: "@daily", Timezone: "America/New_York"}, nil},
		{"cron hourly is the limit", Schedule{Type: Cron, Cron: "@hourly"}, nil},
		{"cron leap day", Schedule{Type: Cron, Cron: "0 0 29 2 *"}, nil},
		{"cron local time", Schedule{Type: Cron, Cron: "0 0 * * 1", LocalTime: "09:30"}, nil},

		{"no type", Schedule{}, map[string]string{"schedule.type": "is required"}},
		{"unknown type", Schedule{Type: "weekly"}, map[string]string{"schedule.type": `must be now, at or cron (got "weekly")`}},
		{"at missing", Schedule{Type: At}, map[string]string{"schedule.at": "is required when type is at"}},
		{"at not RFC 3339", Schedule{Type: At, At: "2026-05-02 09:00"}, map[string]string{"schedule.at": "RFC 3339"}},
		{"at without offset", Schedule{Type: At, At: "2026-05-02T09:00:00"}, map[string]string{"schedule.at": "RFC 3339"}},
		{"at now", Schedule{Type: At, At: testNow}, map[string]string{"schedule.at": "must be in the future"}},
		{"at within a microsecond", Schedule{Type: At, At: "2026-05-01T12:00:00.0000009Z"}, map[string]string{"schedule.at": "must be in the future"}},
		{"at past", Schedule{Type: At, At: "2026-05-01T19:59:59+08:00"}, map[string]string{"schedule.at": "must be in the future"}},
		{"at with now", Schedule{Type: Now, At: "2026-05-02T09:00:00Z"}, map[string]string{"schedule.at": "only allowed when type is at"}},
		{"cron with at", Schedule{Type: At, At: "2026-05-02T09:00:00Z", Cron: "@daily"}, map[string]string{"schedule.cron": "only allowed when type is cron"}},
		{"cron missing", Schedule{Type: Cron}, map[string]string{"schedule.cron": "is required when type is cron"}},
		{"cron four fields", Schedule{Type: Cron, Cron: "0 9 * *"}, map[string]string{"schedule.cron": "expected exactly 5 fields"}},
		{"cron seconds field", Schedule{Type: Cron, Cron: "0 0 9 * * *"}, map[string]string{"schedule.cron": "not a valid cron expression"}},
		{"cron minute 61", Schedule{Type: Cron, Cron: "61 * * * *"}, map[string]string{"schedule.cron": "above maximum"}},
		{"cron words", Schedule{Type: Cron, Cron: "every day at nine"}, map[string]string{"schedule.cron": "not a valid cron expression"}},
		{"cron unknown descriptor", Schedule{Type: Cron, Cron: "@fortnightly"}, map[string]string{"schedule.cron": "unrecognized descriptor"}},
		{"cron every", Schedule{Type: Cron, Cron: "@every 2h"}, map[string]string{"schedule.cron": "@every is not supported"}},
		{"cron bare CRON_TZ", Schedule{Type: Cron, Cron: "CRON_TZ="}, map[string]string{"schedule.cron": "set schedule.timezone instead"}},
		{"cron bare TZ", Schedule{Type: Cron, Cron: "TZ=UTC"}, map[string]string{"schedule.cron": "set schedule.timezone instead"}},
		{"cron invalid TZ", Schedule{Type: Cron, Cron: "TZ=Invalid/Zone * * * *"}, map[string]string{"schedule.cron": "set schedule.timezone instead"}},
		{"cron CRON_TZ", Schedule{Type: Cron, Cron: "CRON_TZ=Asia/Tokyo 0 9 * * *"}, map[string]string{"schedule.cron": "set schedule.timezone instead"}},
		{"cron lower-case tz", Schedule{Type: Cron, Cron: "tz=utc 0 9 * * *"}, map[string]string{"schedule.cron": "set schedule.timezone instead"}},
		{"cron 30 February", Schedule{Type: Cron, Cron: "0 9 30 2 *"}, map[string]string{"schedule.cron": "never fires"}},
		{"cron 31 April", Schedule{Type: Cron, Cron: "0 9 31 4 *"}, map[string]string{"schedule.cron": "never fires"}},
		{"cron every minute", Schedule{Type: Cron, Cron: "* * * * *"}, map[string]string{"schedule.cron": "more often than once every 1h (runs 1m apart"}},
		{"cron every half hour", Schedule{Type: Cron, Cron: "*/30 * * * *"}, map[string]string{"schedule.cron": "runs 30m apart"}},
		{"cron twice an hour at nine", Schedule{Type: Cron, Cron: "0,30 9 * * *"}, map[string]string{"schedule.cron": "runs 30m apart"}},
		{"cron too long", Schedule{Type: Cron, Cron: "0 9 * * " + strings.Repeat("1,", 120) + "2"}, map[string]string{"schedule.cron": "too long"}},
		{"timezone Local", Schedule{Type: Now, Timezone: "Local"}, map[string]string{"schedule.timezone": "not an IANA time zone"}},
		{"timezone unknown", Schedule{Type: Now, Timezone: "Mars/Base"}, map[string]string{"schedule.timezone": `"Mars/Base" is not an IANA time zone`}},
		{"timezone path", Schedule{Type: Now, Timezone: "../../etc/passwd"}, map[string]string{"schedule.timezone": "not an IANA time zone"}},
		{"local time one digit", Schedule{Type: Now, LocalTime: "9:00"}, map[string]string{"schedule.local_time": "HH:MM"}},
		{"local time 24:00", Schedule{Type: Now, LocalTime: "24:00"}, map[string]string{"schedule.local_time": "HH:MM"}},
		{"local time seconds", Schedule{Type: Now, LocalTime: "10:00:00"}, map[string]string{"schedule.local_time": "HH:MM"}},
		{"skip without local time", Schedule{Type: Now, SkipPastLocal: true}, map[string]string{"schedule.skip_past_local": "only applies with local_time"}},
		{"everything wrong", Schedule{Type: Cron, Cron: "0 9 * *", Timezone: "Nowhere", LocalTime: "noon"}, map[string]string{
			"schedule.timezone": "not an IANA time zone", "schedule.cron": "expected exactly 5 fields", "schedule.local_time": "HH:MM"}},
	}
	now := testTime(t, testNow)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.Validate(now)
			if tt.want == nil {
				require.NoError(t, err)
				_, ok := tt.s.NextRun(now)
				require.True(t, ok, "a valid schedule runs")
				return
			}
			require.Error(t, err)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			got := map[string]string{}
			for _, f := range apperr.FieldsOf(err) {
				require.NotContains(t, got, f.Field, "one message per field")
				got[f.Field] = f.Message
			}
			require.Len(t, got, len(tt.want), "fields: %v", got)
			for field, part := range tt.want {
				require.Contains(t, got[field], part, field)
			}
		})
	}
}

// TestScheduleCronLibraryPanics pins down the robfig/cron v3.0.1 inputs that panic and
// shows that neither the guarded parser nor Validate lets them through.
func TestScheduleCronLibraryPanics(t *testing.T) {
	t.Parallel()
	now := testTime(t, testNow)
	for _, expr := range []string{"CRON_TZ=", "TZ=", "TZ=UTC", "TZ=Invalid/Zone", "CRON_TZ=Europe/London"} {
		t.Run(expr, func(t *testing.T) {
			t.Parallel()
			require.Panics(t, func() { _, _ = cron.ParseStandard(expr) }, "the library panics")
			_, err := parseCron(expr)
			require.EqualError(t, err, "malformed expression")
			err = Schedule{Type: Cron, Cron: expr}.Validate(now)
			require.Equal(t, "schedule.cron", apperr.FieldsOf(err)[0].Field)
		})
	}
	// With a space after the zone the library does not panic, but the zone is refused
	// all the same: it belongs in schedule.timezone.
	_, err := cron.ParseStandard("TZ=Invalid/Zone * * * * *")
	require.ErrorContains(t, err, "bad location")
	_, err = parseCron("TZ=Invalid/Zone * * * * *")
	require.ErrorContains(t, err, "bad location")
}

func TestScheduleValidateLimits(t *testing.T) {
	t.Parallel()
	now := testTime(t, testNow)
	tests := []struct {
		name string
		s    Schedule
		min  time.Duration
		want string // a part of the schedule.cron message; "" means valid
	}{
		{"hourly at 1h", Schedule{Type: Cron, Cron: "@hourly"}, time.Hour, ""},
		{"hourly at 2h", Schedule{Type: Cron, Cron: "@hourly"}, 2 * time.Hour, "more often than once every 2h (runs 1h apart"},
		{"twice a day at 1h", Schedule{Type: Cron, Cron: "0 9,21 * * *"}, time.Hour, ""},
		{"twice a day at 24h", Schedule{Type: Cron, Cron: "0 9,21 * * *"}, 24 * time.Hour, "runs 12h apart"},
		{"across midnight at 2h", Schedule{Type: Cron, Cron: "30 0,23 * * *"}, 2 * time.Hour, "runs 1h apart at 2026-05-02 00:30 UTC"},
		{"Sunday and Monday at 48h", Schedule{Type: Cron, Cron: "0 9 * * 0,1"}, 48 * time.Hour, "runs 24h apart"},
		{"no limit", Schedule{Type: Cron, Cron: "* * * * *"}, 0, ""},
		{"never fires even without a limit", Schedule{Type: Cron, Cron: "0 0 30 2 *"}, 0, "never fires"},
		// 01:30 and 02:30 are an hour apart, except when New York springs forward: 02:30
		// does not exist and runs at 03:00 EDT, thirty minutes after 01:30 EST.
		{"DST brings ticks closer", Schedule{Type: Cron, Cron: "30 1,2 * * *", Timezone: "America/New_York"}, time.Hour, "runs 30m apart at 2027-03-14 03:00 EDT"},
		{"same ticks without DST", Schedule{Type: Cron, Cron: "30 1,2 * * *", Timezone: "Asia/Singapore"}, time.Hour, ""},
		// … and when it falls back, 01:00 occurs twice but fires once: 2h apart, allowed.
		{"DST fall back", Schedule{Type: Cron, Cron: "0 0-23/1 * * *", Timezone: "Europe/London"}, time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.ValidateLimits(now, Limits{MinInterval: tt.min})
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			fields := apperr.FieldsOf(err)
			require.Len(t, fields, 1, "%v", err)
			require.Equal(t, "schedule.cron", fields[0].Field)
			require.Contains(t, fields[0].Message, tt.want)
		})
	}
	require.Equal(t, Limits{MinInterval: time.Hour}, DefaultLimits())
}

// testRuns returns n successive runs of s after from, as RFC 3339 in zone.
func testRuns(t testing.TB, s Schedule, from time.Time, n int, zone *time.Location) []string {
	t.Helper()
	var out []string
	for range n {
		next, ok := s.NextRun(from)
		if !ok {
			break
		}
		require.True(t, next.After(from), "runs move forward")
		require.Equal(t, time.UTC, next.Location())
		out = append(out, next.In(zone).Format(time.RFC3339))
		from = next
	}
	return out
}

func TestScheduleNextRun(t *testing.T) {
	t.Parallel()
	now := testTime(t, testNow)

	t.Run("now", func(t *testing.T) {
		t.Parallel()
		at := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
		run, ok := Schedule{Type: Now}.NextRun(at)
		require.True(t, ok)
		require.Equal(t, time.Date(2026, 5, 1, 11, 0, 0, 123456000, time.UTC), run, "UTC, microseconds like timestamptz")
	})
	t.Run("at", func(t *testing.T) {
		t.Parallel()
		s := Schedule{Type: At, At: "2026-05-02T09:00:00+08:00"}
		run, ok := s.NextRun(now)
		require.True(t, ok)
		require.Equal(t, time.Date(2026, 5, 2, 1, 0, 0, 0, time.UTC), run)
		_, ok = s.NextRun(run)
		require.False(t, ok, "one run only")
		_, ok = s.NextRun(run.Add(time.Hour))
		require.False(t, ok)
		_, ok = Schedule{Type: At, At: "tomorrow"}.NextRun(now)
		require.False(t, ok)
	})
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		for _, s := range []Schedule{{}, {Type: "weekly"}, {Type: Cron, Cron: "CRON_TZ="},
			{Type: Cron, Cron: "@daily", Timezone: "Mars/Base"}, {Type: Cron, Cron: "0 0 30 2 *"}} {
			_, ok := s.NextRun(now)
			require.False(t, ok, "%+v", s)
		}
	})

	tests := []struct {
		name string
		s    Schedule
		from string
		want []string // successive runs, in the schedule's zone
	}{
		{"weekdays in UTC", Schedule{Type: Cron, Cron: "0 9 * * 1-5"}, testNow,
			[]string{"2026-05-04T09:00:00Z", "2026-05-05T09:00:00Z"}},
		{"a tick is after, not at", Schedule{Type: Cron, Cron: "0 9 * * *"}, "2026-05-04T09:00:00Z",
			[]string{"2026-05-05T09:00:00Z"}},
		{"leap day", Schedule{Type: Cron, Cron: "0 0 29 2 *"}, testNow,
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"day of month or day of week", Schedule{Type: Cron, Cron: "0 9 1 * 0"}, testNow,
			[]string{"2026-05-03T09:00:00Z", "2026-05-10T09:00:00Z", "2026-05-17T09:00:00Z", "2026-05-24T09:00:00Z", "2026-05-31T09:00:00Z", "2026-06-01T09:00:00Z"}},
		{"Kolkata midnight", Schedule{Type: Cron, Cron: "@daily", Timezone: "Asia/Kolkata"}, testNow,
			[]string{"2026-05-02T00:00:00+05:30", "2026-05-03T00:00:00+05:30"}},
		{"London across spring forward", Schedule{Type: Cron, Cron: "0 9 * * *", Timezone: "Europe/London"}, "2026-03-28T00:00:00Z",
			[]string{"2026-03-28T09:00:00Z", "2026-03-29T09:00:00+01:00"}},
		// robfig/cron's Next skips 8 March here (its next tick is 9 March): a daily
		// campaign must not silently lose a day, so the gap runs at 03:00 EDT.
		{"New York tick in the gap", Schedule{Type: Cron, Cron: "30 2 * * *", Timezone: "America/New_York"}, "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		// robfig/cron fires twice here (01:30 EDT and 01:30 EST): one run a day.
		{"New York tick in the repeated hour", Schedule{Type: Cron, Cron: "30 1 * * *", Timezone: "America/New_York"}, "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"New York hourly, spring forward", Schedule{Type: Cron, Cron: "0 * * * *", Timezone: "America/New_York"}, "2026-03-08T00:30:00-05:00",
			[]string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"}},
		{"New York hourly, fall back", Schedule{Type: Cron, Cron: "0 * * * *", Timezone: "America/New_York"}, "2026-11-01T00:30:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"}},
		{"London tick in the gap", Schedule{Type: Cron, Cron: "30 1 * * *", Timezone: "Europe/London"}, "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"}},
		{"London tick in the repeated hour", Schedule{Type: Cron, Cron: "30 1 * * *", Timezone: "Europe/London"}, "2026-10-24T12:00:00+01:00",
			[]string{"2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00Z"}},
		{"Lord Howe half-hour gap", Schedule{Type: Cron, Cron: "15 2 * * *", Timezone: "Australia/Lord_Howe"}, "2026-10-03T12:00:00+10:30",
			[]string{"2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			zone := tt.s.Location()
			require.Equal(t, tt.want, testRuns(t, tt.s, testTime(t, tt.from), len(tt.want), zone))
		})
	}
}

// TestScheduleNextRunMatchesRobfig checks the tick computation against the library's own
// Next where they must agree: zones without DST.
func TestScheduleNextRunMatchesRobfig(t *testing.T) {
	t.Parallel()
	exprs := []string{"0 9 * * 1-5", "*/7 3-5 * * *", "15 10 1,15 * *", "0 0 1 1 *", "0 12 * * sun", "0 9 1 * 0",
		"5 4 */3 * 2-4", "0 0 L * *", "@weekly", "@monthly", "@yearly", "0 22 29 2 *", "59 23 31 12 *"}
	for _, expr := range exprs {
		for _, zoneName := range []string{"UTC", "Asia/Singapore", "Asia/Kolkata"} {
			spec, err := cron.ParseStandard(expr)
			s := Schedule{Type: Cron, Cron: expr, Timezone: zoneName}
			if err != nil {
				_, ok := s.NextRun(time.Now())
				require.False(t, ok, expr)
				continue
			}
			spec.(*cron.SpecSchedule).Location = s.Location()
			from := testTime(t, "2026-01-01T00:00:00.5Z")
			for range 40 {
				want := spec.Next(from)
				got, ok := s.NextRun(from)
				if want.IsZero() { // both look five years ahead: 29 February 2096 → 2104
					require.False(t, ok, "%s in %s after %s: NextRun %s", expr, zoneName, from, got)
					break
				}
				require.True(t, ok, "%s in %s after %s", expr, zoneName, from)
				require.True(t, want.Equal(got), "%s in %s after %s: robfig %s, NextRun %s", expr, zoneName, from, want, got)
				from = got
			}
		}
	}
}
