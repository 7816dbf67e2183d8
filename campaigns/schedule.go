package campaigns

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// ScheduleType says when a campaign's runs happen.
type ScheduleType string

// The schedule types of DESIGN §5.
const (
	ScheduleNow  ScheduleType = "now"  // one run, as soon as the campaign is scheduled
	ScheduleAt   ScheduleType = "at"   // one run at an instant in the future
	ScheduleCron ScheduleType = "cron" // a run at every tick of a cron expression
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
	Type          ScheduleType `json:"type"`
	At            string       `json:"at,omitempty"`
	Cron          string       `json:"cron,omitempty"`
	Timezone      string       `json:"timezone,omitempty"`
	LocalTime     string       `json:"local_time,omitempty"`
	SkipPastLocal bool         `json:"skip_past_local,omitempty"`
}

// ScheduleLimits are the deployment's limits on schedules.
type ScheduleLimits struct {
	// MinInterval is the shortest time allowed between two runs of a cron schedule, each
	// of which messages the whole audience; zero or less turns the check off.
	MinInterval time.Duration
}

// DefaultScheduleLimits returns the limits Validate applies: cron runs at least an hour
// apart.
func DefaultScheduleLimits() ScheduleLimits { return ScheduleLimits{MinInterval: time.Hour} }

const (
	scheduleCronMaxLen = 200
	// scheduleCronYears is how far NextRun looks for a tick, as robfig/cron does: a cron
	// that does not fire within it (30 February) never fires.
	scheduleCronYears = 5
	// scheduleIntervalHorizon is how far ahead MinInterval is checked: a year covers both
	// DST changes, which can bring two ticks closer than their wall-clock distance.
	scheduleIntervalHorizon = 366 * 24 * time.Hour
)

// Validate checks s as of now with DefaultScheduleLimits. See ValidateLimits.
func (s Schedule) Validate(now time.Time) error {
	return s.ValidateLimits(now, DefaultScheduleLimits())
}

// ValidateLimits checks s as of now. It returns nil or an apperr Invalid error whose
// field paths start with "schedule." (e.g. "schedule.cron"), as the campaign's JSON is
// written. A cron expression must be five fields (minute hour day-of-month month
// day-of-week) or one of @hourly, @daily/@midnight, @weekly, @monthly, @yearly/@annually;
// it must not carry its own zone (CRON_TZ=, TZ=: the zone is s.Timezone), must fire
// within five years and no more often than lim.MinInterval over the coming year, measured
// in real time in s.Timezone (DST included).
func (s Schedule) ValidateLimits(now time.Time, lim ScheduleLimits) error {
	var errs []apperr.FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: "schedule." + field, Message: fmt.Sprintf(format, args...)})
	}
	loc, zoneOK := schedZone(s.Timezone)
	if !zoneOK {
		fail("timezone", "%q is not an IANA time zone (e.g. Europe/London, America/New_York, UTC)", schedTruncate(s.Timezone, 40))
	}
	known := true
	switch s.Type {
	case ScheduleNow:
	case ScheduleAt:
		if s.At == "" {
			fail("at", "is required when type is at")
		} else if at, err := schedParseAt(s.At); err != nil {
			fail("at", "must be an RFC 3339 time with a UTC offset, e.g. 2026-05-01T09:00:00Z")
		} else if !at.After(now) {
			fail("at", "must be in the future")
		}
	case ScheduleCron:
		if s.Cron == "" {
			fail("cron", "is required when type is cron")
		} else if c, err := schedCompileCron(s.Cron, loc); err != nil {
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
		fail("type", "must be now, at or cron (got %q)", schedTruncate(string(s.Type), 20))
	}
	if known && s.Type != ScheduleAt && s.At != "" {
		fail("at", "is only allowed when type is at")
	}
	if known && s.Type != ScheduleCron && s.Cron != "" {
		fail("cron", "is only allowed when type is cron")
	}
	if _, ok := parseWallClock(s.LocalTime); s.LocalTime != "" && !ok {
		fail("local_time", "must be a time of day as HH:MM, from 00:00 to 23:59 (got %q)", schedTruncate(s.LocalTime, 20))
	}
	if s.SkipPastLocal && s.LocalTime == "" {
		fail("skip_past_local", "only applies with local_time")
	}
	return apperr.Fields(errs...)
}

// Location returns the campaign's zone: Timezone, or UTC when it is empty or invalid.
func (s Schedule) Location() *time.Location {
	loc, _ := schedZone(s.Timezone)
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
	case ScheduleNow:
		return after.UTC().Truncate(time.Microsecond), true
	case ScheduleAt:
		at, err := schedParseAt(s.At)
		if err != nil {
			return time.Time{}, false
		}
		return at, at.After(after)
	case ScheduleCron:
		loc, ok := schedZone(s.Timezone)
		if !ok {
			return time.Time{}, false
		}
		c, err := schedCompileCron(s.Cron, loc)
		if err != nil {
			return time.Time{}, false
		}
		return c.next(after)
	}
	return time.Time{}, false
}

// schedParseAt parses an at time as NextRun returns it: UTC, with the microsecond
// precision of timestamptz (so that Validate and NextRun agree on "in the future").
func schedParseAt(s string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339, s)
	return at.UTC().Truncate(time.Microsecond), err
}

// DueAt returns when one recipient of the run at runAt should get the message, given the
// recipient's zone (nil means UTC) and the campaign's quiet hours, or skip = true when
// the recipient is to be skipped (only with LocalTime and SkipPastLocal).
//
// Without LocalTime, due is runAt. With it, the recipient's day is the local date of
// runAt in zone: due is the first instant not before runAt at which the recipient's
// clock reads LocalTime on that day; if that day's LocalTime has already passed at runAt
// (by the minute: a run at 10:00:40 for "10:00" is on time), due is the next day's
// LocalTime, or the recipient is skipped when SkipPastLocal is set. A LocalTime that
// does not exist that day (02:30 in New York on 8 March 2026) becomes the first instant
// after the gap (03:00 EDT); one that occurs twice becomes the first occurrence not
// before runAt.
//
// Then quiet hours apply (QuietHours.Defer). So due is never before runAt, never inside
// quiet hours, and normally within two days of runAt (three with a quiet window that a
// DST gap makes skip a day). An unparseable LocalTime is ignored:
// validate the schedule first.
func DueAt(runAt time.Time, sched Schedule, zone *time.Location, quiet QuietHours) (due time.Time, skip bool) {
	zone = schedOrUTC(zone)
	due = runAt.UTC()
	if at, ok := parseWallClock(sched.LocalTime); ok {
		local := runAt.In(zone)
		today := wallDateOf(local)
		switch {
		case wallClock(local.Hour()*60+local.Minute()) <= at:
			due = wallFirst(zone, today, at, runAt)
		case sched.SkipPastLocal:
			return time.Time{}, true
		default:
			due = wallFirst(zone, today.addDays(1), at, runAt)
		}
	}
	return quiet.Defer(due, zone), false
}

// RecipientZone returns the zone a recipient's local times are read in: the contact's
// own timezone if it is a valid IANA zone, else the zone of their phone number
// (PhoneZone, from an E.164 phone such as "+12125550123"), else the campaign's zone,
// else UTC. Zones are loaded once and cached: LoadLocation reads files.
func RecipientZone(contactTZ, phone, campaignTZ string) *time.Location {
	if loc := schedLoadZone(contactTZ); loc != nil {
		return loc
	}
	if loc := schedLoadZone(PhoneZone(phone)); loc != nil {
		return loc
	}
	if loc := schedLoadZone(campaignTZ); loc != nil {
		return loc
	}
	return time.UTC
}

// PhoneZone returns the IANA zone of an E.164 phone number, or "" when it is unknown
// or ambiguous: contacts.PhoneZone, which the contacts store writes to phone_zone with
// the phone, and which the launch SQL (DueTable.SQL) reads.
func PhoneZone(phone string) string { return contacts.PhoneZone(phone) }

// DueTable is one run's due time in every recipient zone the launch may meet. The due
// time depends on the recipient only through their zone, so the launch needs DueAt for
// a few hundred zones rather than a million recipients: Go computes this table, and the
// launch's single SQL statement joins it (see SQL).
//
// This is why the due time is not computed in SQL with AT TIME ZONE: PostgreSQL reads a
// wall time in a spring-forward gap as standard time (02:30 in New York on 8 March 2026
// becomes 03:30 EDT, not this package's 03:00) and an ambiguous one as its second
// occurrence (01:30 on 1 November 2026 becomes 01:30 EST, not EDT), its tz database may
// differ from Go's, and quiet hours that reopen after a fall-back need a loop. The
// tests prove that the table and the SQL agree with DueAt and RecipientZone.
type DueTable struct {
	Zones []string    // IANA names, each once
	Due   []time.Time // Due[i] is for Zones[i], in UTC; zero when Skip[i]
	Skip  []bool

	// The campaign's fallback (its zone, or UTC): for recipients whose contact zone and
	// phone zone are both unknown.
	FallbackZone string
	FallbackDue  time.Time
	FallbackSkip bool
}

// NewDueTable computes the due time of the run at runAt for each zone in zones (names
// that are empty, repeated or not valid zones are left out) and for the campaign's
// fallback zone. Pass every zone name a recipient may have: the distinct timezone and
// phone zone values of the contacts, or simply all names PostgreSQL knows (`SELECT name
// FROM pg_timezone_names`, about 1,200, worth caching per process; the table then takes
// a few milliseconds). A name missing from the table makes SQL fall back to the next
// zone in RecipientZone's order where Go would not.
func NewDueTable(runAt time.Time, sched Schedule, quiet QuietHours, zones []string) DueTable {
	t := DueTable{}
	seen := make(map[string]bool, len(zones))
	for _, name := range zones {
		loc := schedLoadZone(name)
		if loc == nil || seen[name] {
			continue
		}
		seen[name] = true
		due, skip := DueAt(runAt, sched, loc, quiet)
		t.Zones, t.Due, t.Skip = append(t.Zones, name), append(t.Due, due), append(t.Skip, skip)
	}
	fallback := RecipientZone("", "", sched.Timezone)
	t.FallbackZone = fallback.String()
	t.FallbackDue, t.FallbackSkip = DueAt(runAt, sched, fallback, quiet)
	return t
}

// DueTableSQL holds the SQL fragments that give each row of a launch statement its
// recipient zone and due time, and the arguments they refer to.
type DueTableSQL struct {
	// Joins goes after the contacts table in FROM: two LEFT JOINs on the table, as
	// due_ctz (by contact timezone) and due_pz (by phone zone), and a one-row due_fb
	// for the fallback. The table's names are unique, so no row is dropped or repeated.
	// Joins refers to every parameter, so PostgreSQL can type them all even when the
	// statement leaves out Zone or Skip.
	Joins string
	Zone  string // the recipient's zone name: text
	Due   string // the due time: timestamptz, NULL when skipped
	Skip  string // whether to skip the recipient (local_time already passed): boolean
	Args  []any  // the values of the parameters, in order from firstParam
}

// SQL returns the fragments for a launch statement whose contact timezone and phone zone
// are the SQL expressions contactTZ and phoneZone (e.g. "c.timezone", "c.phone_zone";
// the SQL empty string if there is no phone zone column, which loses the phone step of
// RecipientZone).
// The expressions are pasted into the SQL: pass code, never input. Parameters are
// numbered from firstParam ($firstParam to $firstParam+5); append Args to the
// statement's own arguments.
//
//	INSERT INTO deliveries (run_id, contact_id, zone, due_at, status)
//	SELECT $1, c.id, <Zone>, <Due>, CASE WHEN <Skip> THEN 'skipped' ELSE 'queued' END
//	FROM contacts c <Joins>
//	WHERE …
func (t DueTable) SQL(contactTZ, phoneZone string, firstParam int) DueTableSQL {
	p := func(i int) string { return "$" + strconv.Itoa(firstParam+i) }
	table := fmt.Sprintf("unnest(%s::text[], %s::timestamptz[], %s::boolean[])", p(0), p(1), p(2))
	dues := make([]*time.Time, len(t.Due))
	for i := range t.Due {
		if !t.Skip[i] {
			dues[i] = &t.Due[i]
		}
	}
	var fallbackDue *time.Time
	if !t.FallbackSkip {
		fallbackDue = &t.FallbackDue
	}
	pick := func(column string) string {
		return fmt.Sprintf("CASE WHEN due_ctz.zone IS NOT NULL THEN due_ctz.%[1]s WHEN due_pz.zone IS NOT NULL THEN due_pz.%[1]s ELSE due_fb.%[1]s END", column)
	}
	return DueTableSQL{
		Joins: fmt.Sprintf("LEFT JOIN %[1]s AS due_ctz(zone, due, skip) ON due_ctz.zone = %[2]s\n"+
			"LEFT JOIN %[1]s AS due_pz(zone, due, skip) ON due_pz.zone = %[3]s\n"+
			"CROSS JOIN (VALUES (%[4]s::text, %[5]s::timestamptz, %[6]s::boolean)) AS due_fb(zone, due, skip)",
			table, contactTZ, phoneZone, p(3), p(4), p(5)),
		Zone: "COALESCE(due_ctz.zone, due_pz.zone, due_fb.zone)",
		Due:  pick("due"),
		Skip: pick("skip"),
		Args: []any{t.Zones, dues, t.Skip, t.FallbackZone, fallbackDue, t.FallbackSkip},
	}
}

// schedCron is a parsed cron expression read in one zone.
type schedCron struct {
	loc                *time.Location
	months, doms, dows uint64      // robfig/cron's bit sets, with its star bit
	clocks             []wallClock // the hour × minute ticks of a firing day, ascending
}

// schedStarBit is the bit robfig/cron sets in a field written as * or ?: a day matches
// day-of-month AND day-of-week when either is a star, OR otherwise (as in Vixie cron).
const schedStarBit = 1 << 63

var schedCronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// schedCompileCron parses expr for zone loc. Its errors are messages for the user.
func schedCompileCron(expr string, loc *time.Location) (*schedCron, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case len(expr) > scheduleCronMaxLen:
		return nil, fmt.Errorf("is too long (at most %d characters)", scheduleCronMaxLen)
	case strings.Contains(strings.ToUpper(expr), "TZ="):
		return nil, errors.New("must not name a time zone (CRON_TZ= or TZ=): set schedule.timezone instead")
	case strings.HasPrefix(expr, "@every"):
		return nil, errors.New(`@every is not supported: use a calendar expression such as "0 9 * * *" or @daily`)
	}
	parsed, err := schedParseCron(expr)
	if err != nil {
		return nil, fmt.Errorf("is not a valid cron expression (minute hour day-of-month month day-of-week, "+
			"or @hourly, @daily, @weekly, @monthly, @yearly): %s", schedTruncate(err.Error(), 120))
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("is not a calendar cron expression")
	}
	c := &schedCron{loc: loc, months: spec.Month, doms: spec.Dom, dows: spec.Dow}
	for h := range 24 {
		for m := range 60 {
			if spec.Hour&(1<<h) != 0 && spec.Minute&(1<<m) != 0 {
				c.clocks = append(c.clocks, wallClock(h*60+m))
			}
		}
	}
	if len(c.clocks) == 0 {
		return nil, errors.New("has no time of day")
	}
	return c, nil
}

// schedParseCron is robfig/cron's parser with its panics turned into errors: v3.0.1
// slices out of range on a TZ=/CRON_TZ= prefix without a space after it ("CRON_TZ=",
// "TZ=UTC", "TZ=Invalid/Zone"). The caller refuses such prefixes first; this guard is
// for whatever else a future input finds.
func schedParseCron(expr string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, errors.New("malformed expression")
		}
	}()
	return schedCronParser.Parse(expr)
}

// dayMatches reports whether the cron fires on date d, exactly as robfig/cron decides.
func (c *schedCron) dayMatches(d wallDate) bool {
	if c.months&(1<<uint(d.month)) == 0 {
		return false
	}
	weekday := time.Date(d.year, d.month, d.day, 12, 0, 0, 0, time.UTC).Weekday()
	dom := c.doms&(1<<uint(d.day)) != 0
	dow := c.dows&(1<<uint(weekday)) != 0
	if c.doms&schedStarBit != 0 || c.dows&schedStarBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// next returns the first tick after the instant after, searching to the end of the
// fifth year after it (robfig/cron's horizon). A day's ticks are in ascending order as
// instants too (wallFirst is monotonic in the wall reading), so a binary search finds
// the first one after after.
func (c *schedCron) next(after time.Time) (time.Time, bool) {
	local := after.In(c.loc)
	last := local.Year() + scheduleCronYears
	for d := wallDateOf(local).addDays(-1); d.year <= last; d = d.addDays(1) {
		if !c.dayMatches(d) {
			continue
		}
		i := sort.Search(len(c.clocks), func(i int) bool {
			return wallFirst(c.loc, d, c.clocks[i], time.Time{}).After(after)
		})
		if i < len(c.clocks) {
			return wallFirst(c.loc, d, c.clocks[i], time.Time{}), true
		}
	}
	return time.Time{}, false
}

// each calls fn with every tick after the instant after and not after until, in order
// and each instant once, until fn returns false.
func (c *schedCron) each(after, until time.Time, fn func(time.Time) bool) {
	last, stop := after, wallDateOf(until.In(c.loc)).addDays(1)
	for d := wallDateOf(after.In(c.loc)).addDays(-1); !stop.before(d); d = d.addDays(1) {
		if !c.dayMatches(d) {
			continue
		}
		for _, clock := range c.clocks {
			u := wallFirst(c.loc, d, clock, time.Time{})
			if u.After(until) {
				return
			}
			if !u.After(last) {
				continue // before after, or a second tick in the same DST gap
			}
			if !fn(u) {
				return
			}
			last = u
		}
	}
}

// check returns why the cron is not acceptable as of now, or "".
func (c *schedCron) check(now time.Time, lim ScheduleLimits) string {
	first, ok := c.next(now)
	if !ok {
		return fmt.Sprintf("never fires within %d years: is the day valid for the month (not 30 February)?", scheduleCronYears)
	}
	if lim.MinInterval <= 0 {
		return ""
	}
	msg, prev := "", first
	c.each(first, first.Add(scheduleIntervalHorizon), func(u time.Time) bool {
		if gap := u.Sub(prev); gap < lim.MinInterval {
			msg = fmt.Sprintf("fires more often than once every %s (runs %s apart at %s); each tick is a new run to the whole audience",
				schedDuration(lim.MinInterval), schedDuration(gap), u.In(c.loc).Format("2006-01-02 15:04 MST"))
			return false
		}
		prev = u
		return true
	})
	return msg
}

func (d wallDate) before(o wallDate) bool {
	if d.year != o.year {
		return d.year < o.year
	}
	if d.month != o.month {
		return d.month < o.month
	}
	return d.day < o.day
}

// schedDuration formats d without zero units: 1h, 30m, 1h30m.
func schedDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return "0s"
	}
	return s
}

// schedZone returns the zone named by a schedule's timezone: "" is UTC; an invalid name
// gives UTC and false.
func schedZone(name string) (*time.Location, bool) {
	if name == "" {
		return time.UTC, true
	}
	if loc := schedLoadZone(name); loc != nil {
		return loc, true
	}
	return time.UTC, false
}

// schedZones caches LoadLocation, which reads a file each time, by name; failures are
// cached as nil. It is bounded so that junk input cannot grow it.
var schedZones = struct {
	sync.RWMutex
	m map[string]*time.Location
}{m: make(map[string]*time.Location)}

const schedZoneCacheMax = 4096

// schedLoadZone returns the IANA zone named name, or nil for "", "Local" (the server's
// zone is not a recipient's) and anything LoadLocation refuses.
func schedLoadZone(name string) *time.Location {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil
	}
	schedZones.RLock()
	loc, seen := schedZones.m[name]
	schedZones.RUnlock()
	if seen {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	schedZones.Lock()
	if len(schedZones.m) < schedZoneCacheMax {
		schedZones.m[name] = loc
	}
	schedZones.Unlock()
	return loc
}
