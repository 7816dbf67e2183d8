package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/crierhq/crier/internal/apperr"
)

// QuietHours is a daily window, in the recipient's local time, during which no marketing
// message is delivered (DESIGN §3 invariant 5: quiet hours defer, never drop). Start and
// End are "HH:MM"; the window is [Start, End) and crosses midnight when End is earlier
// than Start (21:00–08:00). Equal Start and End mean no quiet hours at all.
//
// An omitted (empty) Start or End means the default's, so the zero value is the
// default window. The store should merge the configured default once with WithDefault;
// anything left empty or unparseable is read as DefaultQuietHours, so that a bad value
// can make a message wait but never lets one through at night.
type QuietHours struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// DefaultQuietHours returns Crier's built-in quiet hours, 21:00–08:00. Deployments
// configure their own default with ParseQuietHours and QuietHours.WithDefault.
func DefaultQuietHours() QuietHours { return QuietHours{Start: "21:00", End: "08:00"} }

// ParseQuietHours parses a configuration value of the form "HH:MM-HH:MM" (e.g.
// "21:00-08:00"; "00:00-00:00" turns quiet hours off), for a global default given in
// the environment.
func ParseQuietHours(s string) (QuietHours, error) {
	start, end, found := strings.Cut(strings.TrimSpace(s), "-")
	q := QuietHours{Start: strings.TrimSpace(start), End: strings.TrimSpace(end)}
	_, okStart := parseWallClock(q.Start)
	_, okEnd := parseWallClock(q.End)
	if !found || !okStart || !okEnd {
		return QuietHours{}, fmt.Errorf("schedule: quiet hours %q: want HH:MM-HH:MM, e.g. 21:00-08:00", s)
	}
	return q, nil
}

// WithDefault returns q with an omitted Start or End taken from def: DESIGN §5's
// "omitted → the default". A campaign without quiet_hours gets def whole.
func (q QuietHours) WithDefault(def QuietHours) QuietHours {
	if q.Start == "" {
		q.Start = def.Start
	}
	if q.End == "" {
		q.End = def.End
	}
	return q
}

// Validate checks a campaign's quiet_hours object. Empty fields are allowed (they mean
// the default); field paths are "quiet_hours.start" and "quiet_hours.end".
func (q QuietHours) Validate() error {
	var errs []apperr.FieldError
	for _, f := range []struct{ name, value string }{{"start", q.Start}, {"end", q.End}} {
		if _, ok := parseWallClock(f.value); f.value != "" && !ok {
			errs = append(errs, apperr.FieldError{Field: "quiet_hours." + f.name,
				Message: fmt.Sprintf("must be a time of day as HH:MM, from 00:00 to 23:59 (got %q)", truncate(f.value, 20))})
		}
	}
	return apperr.Fields(errs...)
}

// None reports whether q, after defaults, has no window (equal start and end).
func (q QuietHours) None() bool {
	start, end := q.window()
	return start == end
}

// Contains reports whether the instant t falls inside the quiet window of the local
// time in zone (nil means UTC).
func (q QuietHours) Contains(t time.Time, zone *time.Location) bool {
	start, end := q.window()
	return quietInside(start, end, t.In(orUTC(zone)))
}

// Defer returns the first instant at or after t that is outside the quiet window in
// zone: t itself when t is outside, else the window's opening (End) on the right local
// day. It never returns a time earlier than t and never gives up, so a deferred send is
// never dropped. The result is in UTC.
//
// Daylight saving time: when End does not exist that day (a spring-forward gap, e.g.
// 02:30 in New York on 8 March 2026) the window opens at the first instant after the gap
// (03:00 EDT); when End occurs twice (fall back) it opens at the first occurrence that is
// not before t. A local clock that falls back into the window closes it again, and Defer
// follows the clock: 01:15 EST on 1 November 2026, after the EDT 01:30, with a
// 21:00–01:30 window waits for 01:30 EST.
func (q QuietHours) Defer(t time.Time, zone *time.Location) time.Time {
	zone = orUTC(zone)
	start, end := q.window()
	t = t.UTC() // also drops the monotonic reading: results are stored and compared as instants
	// Each pass moves t to a later opening; more than two passes need a pathological
	// window (a gap that jumps past Start), and eight is a bound, not a tuning knob.
	for range 8 {
		local := t.In(zone)
		if !quietInside(start, end, local) {
			return t
		}
		day := wallDateOf(local)
		if start > end && quietSecondOfDay(local) >= int(start)*60 {
			day = day.addDays(1) // a window that crosses midnight ends tomorrow
		}
		t = wallFirst(zone, day, end, t)
	}
	return t
}

// window returns the parsed window, with anything empty or unparseable read as the
// built-in default.
func (q QuietHours) window() (start, end wallClock) {
	def := DefaultQuietHours()
	start, ok := parseWallClock(q.Start)
	if !ok {
		start, _ = parseWallClock(def.Start)
	}
	end, ok = parseWallClock(q.End)
	if !ok {
		end, _ = parseWallClock(def.End)
	}
	return start, end
}

// quietInside reports whether local (a time already in the recipient's zone) is in
// [start, end), by its wall clock.
func quietInside(start, end wallClock, local time.Time) bool {
	if start == end {
		return false
	}
	s, from, to := quietSecondOfDay(local), int(start)*60, int(end)*60
	if start < end {
		return from <= s && s < to
	}
	return s >= from || s < to
}

func quietSecondOfDay(local time.Time) int {
	return local.Hour()*3600 + local.Minute()*60 + local.Second()
}
