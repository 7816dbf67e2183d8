package schedule

import (
	"time"

	"github.com/crierhq/crier/contacts"
)

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
	zone = orUTC(zone)
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
// (contacts.PhoneZone, from an E.164 phone such as "+12125550123"), else the campaign's
// zone, else UTC. Zones are loaded once and cached: LoadLocation reads files.
func RecipientZone(contactTZ, phone, campaignTZ string) *time.Location {
	if loc := loadZone(contactTZ); loc != nil {
		return loc
	}
	if loc := loadZone(contacts.PhoneZone(phone)); loc != nil {
		return loc
	}
	if loc := loadZone(campaignTZ); loc != nil {
		return loc
	}
	return time.UTC
}

// DueTable is one run's due time in every recipient zone the launch may meet. The due
// time depends on the recipient only through their zone, so the launch needs DueAt for
// a few hundred zones rather than a million recipients: Go computes this table, and the
// launch's single SQL statement joins it by zone name (package campaigns).
//
// This is why the due time is not computed in SQL with AT TIME ZONE: PostgreSQL reads a
// wall time in a spring-forward gap as standard time (02:30 in New York on 8 March 2026
// becomes 03:30 EDT, not this package's 03:00) and an ambiguous one as its second
// occurrence (01:30 on 1 November 2026 becomes 01:30 EST, not EDT), its tz database may
// differ from Go's, and quiet hours that reopen after a fall-back need a loop. Package
// campaigns' tests prove that the table, joined in SQL, agrees with DueAt and
// RecipientZone.
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
// a few milliseconds). A name missing from the table makes the launch fall back to the
// next zone in RecipientZone's order where Go would not.
func NewDueTable(runAt time.Time, sched Schedule, quiet QuietHours, zones []string) DueTable {
	t := DueTable{}
	seen := make(map[string]bool, len(zones))
	for _, name := range zones {
		loc := loadZone(name)
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

// DuesOrNil returns the due times as a nullable column holds them: Due with nil for
// each skipped zone, and FallbackDue, nil when FallbackSkip.
func (t DueTable) DuesOrNil() (dues []*time.Time, fallback *time.Time) {
	dues = make([]*time.Time, len(t.Due))
	for i := range t.Due {
		if !t.Skip[i] {
			dues[i] = &t.Due[i]
		}
	}
	if !t.FallbackSkip {
		fallback = &t.FallbackDue
	}
	return dues, fallback
}
