package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/internal/apperr"
)

// fuzzZones are the recipient zones the fuzz targets pick from: DST in both
// hemispheres, half- and quarter-hour offsets, a 30-minute DST, the date line.
var fuzzZones = []string{"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
	"Asia/Singapore", "America/Sao_Paulo", "Pacific/Chatham", "Asia/Kathmandu", "Pacific/Apia", "America/St_Johns"}

// fuzzInstant maps any int64 to an instant between 1990 and 2060, in seconds.
func fuzzInstant(sec int64) time.Time {
	const span = 70 * 365 * 24 * 3600
	sec %= span
	if sec < 0 {
		sec += span
	}
	return time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
}

var fuzzCron = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// FuzzSchedule feeds Validate arbitrary schedules and checks what a valid one promises:
// no panic, a first run, cron runs that agree with robfig/cron where there is no DST
// and respect the minimum interval, and due times that are never before the run and
// never inside quiet hours. `make fuzz` runs it; the seeds are also a unit test.
func FuzzSchedule(f *testing.F) {
	f.Add("cron", "", "0 9 * * 1-5", "Europe/London", "10:00", false, int64(1_100_000_000), uint8(1), "21:00", "08:00")
	f.Add("cron", "", "CRON_TZ=", "", "", false, int64(0), uint8(0), "", "")
	f.Add("cron", "", "TZ=Invalid/Zone * * * *", "", "", false, int64(0), uint8(0), "", "")
	f.Add("cron", "", "30 2 * * *", "America/New_York", "02:30", true, int64(1_141_000_000), uint8(1), "21:00", "02:30")
	f.Add("at", "2026-03-08T06:30:00Z", "", "", "02:30", false, int64(1_141_000_000), uint8(1), "00:00", "00:00")
	f.Add("now", "", "", "Australia/Lord_Howe", "02:15", false, int64(1_160_000_000), uint8(3), "22:00", "02:15")
	f.Fuzz(func(t *testing.T, typ, at, expr, tz, localTime string, skip bool, nowSec int64, zoneIdx uint8, quietStart, quietEnd string) {
		now := fuzzInstant(nowSec)
		s := schedule.Schedule{Type: schedule.Type(typ), At: at, Cron: expr, Timezone: tz, LocalTime: localTime, SkipPastLocal: skip}
		err := s.Validate(now)
		if err != nil {
			if apperr.CodeOf(err) != apperr.Invalid || len(apperr.FieldsOf(err)) == 0 {
				t.Fatalf("%+v: not a field error: %v", s, err)
			}
			for _, f := range apperr.FieldsOf(err) {
				if !strings.HasPrefix(f.Field, "schedule.") || f.Message == "" {
					t.Fatalf("%+v: bad field error %+v", s, f)
				}
			}
			return
		}

		run, ok := s.NextRun(now)
		switch {
		case !ok:
			t.Fatalf("%+v is valid at %s but never runs", s, now)
		case s.Type == schedule.Now && !run.Equal(now.Truncate(time.Microsecond)):
			t.Fatalf("%+v: now runs at %s", s, run)
		case s.Type != schedule.Now && !run.After(now):
			t.Fatalf("%+v: first run %s is not after %s", s, run, now)
		}
		if s.Type == schedule.Cron {
			next, ok := s.NextRun(run)
			if ok && !next.After(run) {
				t.Fatalf("%+v: run %s is followed by %s", s, run, next)
			}
			if ok && next.Sub(run) < time.Hour && next.Before(run.Add(365*24*time.Hour)) {
				t.Fatalf("%+v: runs %s and %s are closer than the minimum interval", s, run, next)
			}
			if tz == "" || tz == "UTC" { // no DST: robfig/cron must agree
				spec, err := fuzzCron.Parse(strings.TrimSpace(expr))
				if err != nil {
					t.Fatalf("%+v: valid here, refused by robfig/cron: %v", s, err)
				}
				spec.(*cron.SpecSchedule).Location = time.UTC
				if want := spec.Next(now); !want.Equal(run) {
					t.Fatalf("%+v after %s: robfig/cron %s, NextRun %s", s, now, want, run)
				}
			}
		}

		zone, err := time.LoadLocation(fuzzZones[int(zoneIdx)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		quiet := schedule.QuietHours{Start: quietStart, End: quietEnd}
		if quiet.Validate() != nil {
			quiet = schedule.DefaultQuietHours()
		}
		due, skipped := schedule.DueAt(run, s, zone, quiet)
		switch {
		case skipped && (!s.SkipPastLocal || s.LocalTime == ""):
			t.Fatalf("%+v: recipient in %s skipped without skip_past_local", s, zone)
		case skipped:
			return
		case due.Before(run):
			t.Fatalf("%+v: due %s before the run %s", s, due, run)
		case quiet.Contains(due, zone):
			t.Fatalf("%+v: due %s is inside quiet hours %+v", s, due.In(zone), quiet)
		case due.Sub(run) > 72*time.Hour:
			t.Fatalf("%+v: due %s is days after the run %s", s, due.In(zone), run)
		}
	})
}

// FuzzQuietHoursDefer checks Defer on any instant, zone and window: never earlier,
// never inside the window, unchanged when outside, idempotent.
func FuzzQuietHoursDefer(f *testing.F) {
	f.Add(int64(1_141_000_000), uint8(1), "21:00", "02:30")
	f.Add(int64(1_160_000_000), uint8(2), "23:00", "01:30")
	f.Add(int64(1_160_000_000), uint8(3), "02:45", "02:30")
	f.Fuzz(func(t *testing.T, sec int64, zoneIdx uint8, start, end string) {
		q := schedule.QuietHours{Start: start, End: end}
		if q.Validate() != nil {
			return
		}
		zone, err := time.LoadLocation(fuzzZones[int(zoneIdx)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		at := fuzzInstant(sec)
		got := q.Defer(at, zone)
		switch {
		case got.Before(at):
			t.Fatalf("%+v: %s deferred back to %s", q, at.In(zone), got.In(zone))
		case q.Contains(got, zone):
			t.Fatalf("%+v: %s deferred into the window at %s", q, at.In(zone), got.In(zone))
		case !q.Contains(at, zone) && !got.Equal(at):
			t.Fatalf("%+v: %s is outside the window but moved to %s", q, at.In(zone), got.In(zone))
		case !q.Defer(got, zone).Equal(got):
			t.Fatalf("%+v: Defer is not idempotent at %s", q, got.In(zone))
		}
	})
}
