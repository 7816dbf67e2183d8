package schedule

import "time"

// wallClock is a time of day as minutes since local midnight, 0 to 1439.
type wallClock int

// parseWallClock parses "HH:MM" strictly: two digits each, 00:00 to 23:59.
func parseWallClock(s string) (wallClock, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return wallClock(h*60 + m), true
}

// wallDate is a calendar date, without a zone.
type wallDate struct {
	year  int
	month time.Month
	day   int
}

func wallDateOf(local time.Time) wallDate {
	y, m, d := local.Date()
	return wallDate{y, m, d}
}

func (d wallDate) addDays(n int) wallDate {
	return wallDateOf(time.Date(d.year, d.month, d.day+n, 0, 0, 0, 0, time.UTC))
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

// wallSearch bounds how far an instant can be from the same wall reading read as UTC:
// no zone's offset is more than a day.
const wallSearch = 27 * time.Hour

// wallFirst returns the first instant, not before notBefore, at which the wall clock in
// loc reads clock on date or later. That one rule gives every DST answer this package
// promises: a normal wall time maps to its instant; a time that occurs twice (fall back)
// maps to its first occurrence; a time that does not exist (spring forward) maps to the
// first instant after the gap, when the clock jumps past it. The result is in UTC.
//
// Time and Location have no "wall time to instant" with defined DST behaviour (time.Date
// leaves it unspecified), so this walks the zone's periods (ZoneBounds) instead: within
// one period the wall clock only moves forward, so the answer in each period is a
// subtraction, and the first period that has one holds the answer.
func wallFirst(loc *time.Location, date wallDate, clock wallClock, notBefore time.Time) time.Time {
	w := time.Date(date.year, date.month, date.day, 0, int(clock), 0, 0, time.UTC) // the wall reading, written as UTC
	t := w.Add(-wallSearch)
	if notBefore.After(t) {
		t = notBefore
	}
	for range 16 {
		local := t.In(loc)
		_, offset := local.Zone()
		_, end := local.ZoneBounds()
		at := w.Add(-time.Duration(offset) * time.Second)
		if at.Before(t) {
			at = t
		}
		if end.IsZero() || at.Before(end) {
			return at.UTC()
		}
		t = end
	}
	return t.UTC() // sixteen transitions in two days: no real zone has them
}
