package contacts

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// PhoneZone returns the IANA zone of an E.164 phone number from libphonenumber's
// number-level data (phonenumbers.GetTimezonesForPrefix: the longest known prefix, e.g.
// +1212 → America/New_York, +1415 → America/Los_Angeles, +7916 → Europe/Moscow), or ""
// when it is unknown or ambiguous.
//
// A prefix with several zones is resolved only when they keep the same clock (a UK
// mobile is Europe/Guernsey, Europe/Isle_of_Man, Europe/Jersey or Europe/London — the
// same offsets every day from 2020 to 2040): then it is the first name in alphabetical
// order, any of them being right. When they differ (+1605 is Central or Mountain, +7 on
// its own spans eleven zones) it is "", and a local-time campaign falls back to its own
// zone: a guess among candidates hours apart could land a message at night.
//
// The answer depends only on the phone, so the contacts table keeps it in phone_zone,
// written with the phone; the campaigns' launch SQL reads that column.
func PhoneZone(phone string) string {
	digits, ok := strings.CutPrefix(phone, "+")
	if !ok || digits == "" || len(digits) > 15 {
		return ""
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return ""
		}
	}
	zones, err := phonenumbers.GetTimezonesForPrefix(phone)
	if err != nil {
		return ""
	}
	return pickZone(zones)
}

// phoneZoneLocs caches LoadLocation, which reads a file each time, by name; failures are
// cached as nil. The names come from libphonenumber's data, a few hundred at most.
var phoneZoneLocs sync.Map // name → *time.Location (nil: not a zone)

func loadZone(name string) *time.Location {
	if name == "" || name == "Local" {
		return nil
	}
	if v, ok := phoneZoneLocs.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	phoneZoneLocs.Store(name, loc)
	return loc
}

// zonePicks caches pickZone for prefixes with several zones.
var zonePicks sync.Map // strings.Join(zones, " ") → string

// pickZone chooses the zone of a phone prefix from its candidates (see PhoneZone).
func pickZone(zones []string) string {
	if len(zones) == 1 {
		if loadZone(zones[0]) == nil {
			return ""
		}
		return zones[0]
	}
	key := strings.Join(zones, " ")
	if v, ok := zonePicks.Load(key); ok {
		return v.(string)
	}
	var names []string
	var locs []*time.Location
	for _, z := range zones {
		if loc := loadZone(z); loc != nil && z != phonenumbers.UNKNOWN_TIMEZONE {
			names, locs = append(names, z), append(locs, loc)
		}
	}
	pick := ""
	if len(names) > 0 {
		sort.Sort(zonesByName{names, locs})
		pick = names[0]
		for _, loc := range locs[1:] {
			if !sameClock(locs[0], loc) {
				pick = ""
				break
			}
		}
	}
	zonePicks.Store(key, pick)
	return pick
}

type zonesByName struct {
	names []string
	locs  []*time.Location
}

func (s zonesByName) Len() int           { return len(s.names) }
func (s zonesByName) Less(i, j int) bool { return s.names[i] < s.names[j] }
func (s zonesByName) Swap(i, j int) {
	s.names[i], s.names[j] = s.names[j], s.names[i]
	s.locs[i], s.locs[j] = s.locs[j], s.locs[i]
}

// The years over which two zones must keep the same clock to count as one.
var (
	sameClockFrom = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	sameClockTo   = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
)

// sameClock reports whether a and b have the same UTC offset at every instant from
// sameClockFrom to sameClockTo, by walking the transitions of both.
func sameClock(a, b *time.Location) bool {
	for t := sameClockFrom; t.Before(sameClockTo); {
		la, lb := t.In(a), t.In(b)
		_, offA := la.Zone()
		_, offB := lb.Zone()
		if offA != offB {
			return false
		}
		_, endA := la.ZoneBounds()
		_, endB := lb.ZoneBounds()
		switch {
		case endA.IsZero() && endB.IsZero():
			return true
		case endA.IsZero() || (!endB.IsZero() && endB.Before(endA)):
			t = endB
		default:
			t = endA
		}
	}
	return true
}
