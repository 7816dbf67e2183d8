package schedule

import (
	"fmt"
	"time"

	"github.com/crierhq/crier/internal/apperr"
)

// Type says when a campaign's runs happen.
type Type string

// The schedule types of DESIGN §5.
const (
	Now  Type = "now"  // one run, as soon as the campaign is scheduled
	At   Type = "at"   // one run at an instant in the future
	Cron Type = "cron" // a run at every tick of a cron expression
)

// Schedule is a campaign's `schedule` object as the API reads and writes it.
//
// Timezone is the zone a cron expression is read in and the campaign's fallback zone for
// recipients whose own zone is unknown; empty means UTC. LocalTime ("HH:MM") sends at
// that wall-clock time in each recipient's own zone: the run's instant decides the day
// (see DueAt). SkipPastLocal skips, instead of moving to the next day, recipients whose
// LocalTime has already passed when the run starts.
//
// Call Validate before anything else: the other methods treat an invalid schedule as one
// that never runs.
type Schedule struct {
	Type          Type   `json:"type"`
	At            string `json:"at,omitempty"`
	Cron          string `json:"cron,omitempty"`
	Timezone      string `json:"timezone,omitempty"`
	LocalTime     string `json:"local_time,omitempty"`
	SkipPastLocal bool   `json:"skip_past_local,omitempty"`
}

// Limits are the deployment's limits on schedules.
type Limits struct {
	// MinInterval is the shortest time allowed between two runs of a cron schedule, each
	// of which messages the whole audience; zero or less turns the check off.
	MinInterval time.Duration
}

// DefaultLimits returns the limits Validate applies: cron runs at least an hour
// apart.
func DefaultLimits() Limits { return Limits{MinInterval: time.Hour} }

// Validate checks s as of now with DefaultLimits. See ValidateLimits.
func (s Schedule) Validate(now time.Time) error {
	return s.ValidateLimits(now, DefaultLimits())
}

// ValidateLimits checks s as of now. It returns nil or an apperr Invalid error whose
// field paths start with "schedule." (e.g. "schedule.cron"), as the campaign's JSON is
// written. A cron expression must be five fields (minute hour day-of-month month
// day-of-week) or one of @hourly, @daily/@midnight, @weekly, @monthly, @yearly/@annually;
// it must not carry its own zone (CRON_TZ=, TZ=: the zone is s.Timezone), must fire
// within five years and no more often than lim.MinInterval over the coming year, measured
// in real time in s.Timezone (DST included).
func (s Schedule) ValidateLimits(now time.Time, lim Limits) error {
	var errs []apperr.FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: "schedule." + field, Message: fmt.Sprintf(format, args...)})
	}
	loc, zoneOK := zoneNamed(s.Timezone)
	if !zoneOK {
		fail("timezone", "%q is not an IANA time zone (e.g. Europe/London, America/New_York, UTC)", truncate(s.Timezone, 40))
	}
	known := true
	switch s.Type {
	case Now:
	case At:
		if s.At == "" {
			fail("at", "is required when type is at")
		} else if at, err := parseAt(s.At); err != nil {
			fail("at", "must be an RFC 3339 time with a UTC offset, e.g. 2026-05-01T09:00:00Z")
		} else if !at.After(now) {
			fail("at", "must be in the future")
		}
	case Cron:
		if s.Cron == "" {
			fail("cron", "is required when type is cron")
		} else if c, err := compileCron(s.Cron, loc); err != nil {
			fail("cron", "%s", err)
		} else if zoneOK {
			if msg := c.check(now, lim); msg != "" {
				fail("cron", "%s", msg)
			}
		}
	case "":
		known = false
		fail("type", "is required: now, at or cron")
	default:
		known = false
		fail("type", "must be now, at or cron (got %q)", truncate(string(s.Type), 20))
	}
	if known && s.Type != At && s.At != "" {
		fail("at", "is only allowed when type is at")
	}
	if known && s.Type != Cron && s.Cron != "" {
		fail("cron", "is only allowed when type is cron")
	}
	if _, ok := parseWallClock(s.LocalTime); s.LocalTime != "" && !ok {
		fail("local_time", "must be a time of day as HH:MM, from 00:00 to 23:59 (got %q)", truncate(s.LocalTime, 20))
	}
	if s.SkipPastLocal && s.LocalTime == "" {
		fail("skip_past_local", "only applies with local_time")
	}
	return apperr.Fields(errs...)
}

// Location returns the campaign's zone: Timezone, or UTC when it is empty or invalid.
func (s Schedule) Location() *time.Location {
	loc, _ := zoneNamed(s.Timezone)
	return loc
}

// NextRun returns the first run of s after the instant after, and false when there is
// none. For now it is after itself (the store records that the one run happened and
// does not ask again); for at, the at instant if it is later than after; for cron, the
// next tick after after in s.Timezone. Each cron tick is its own run, and the returned
// instant, in UTC with microsecond precision like a PostgreSQL timestamptz, is a stable
// key for it: the same tick always comes back as the same instant.
//
// Cron ticks follow the wall clock of s.Timezone, with the DST rules of the rest of this
// package (robfig/cron's own Next skips a day in a spring-forward gap and fires twice in
// a fall-back hour; this does neither): a tick at a wall time that does not exist that
// day fires at the first instant after the gap, ticks that land on the same instant are
// one run, and a wall time that occurs twice fires once, at its first occurrence.
func (s Schedule) NextRun(after time.Time) (time.Time, bool) {
	switch s.Type {
	case Now:
		return after.UTC().Truncate(time.Microsecond), true
	case At:
		at, err := parseAt(s.At)
		if err != nil {
			return time.Time{}, false
		}
		return at, at.After(after)
	case Cron:
		loc, ok := zoneNamed(s.Timezone)
		if !ok {
			return time.Time{}, false
		}
		c, err := compileCron(s.Cron, loc)
		if err != nil {
			return time.Time{}, false
		}
		return c.next(after)
	}
	return time.Time{}, false
}

// parseAt parses an at time as NextRun returns it: UTC, with the microsecond
// precision of timestamptz (so that Validate and NextRun agree on "in the future").
func parseAt(s string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339, s)
	return at.UTC().Truncate(time.Microsecond), err
}

// truncate shortens user input echoed in a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
