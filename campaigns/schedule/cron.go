package schedule

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

const (
	cronMaxLen = 200
	// cronYears is how far NextRun looks for a tick, as robfig/cron does: a cron
	// that does not fire within it (30 February) never fires.
	cronYears = 5
	// intervalHorizon is how far ahead MinInterval is checked: a year covers both
	// DST changes, which can bring two ticks closer than their wall-clock distance.
	intervalHorizon = 366 * 24 * time.Hour
)

// cronSpec is a parsed cron expression read in one zone.
type cronSpec struct {
	loc                *time.Location
	months, doms, dows uint64      // robfig/cron's bit sets, with its star bit
	clocks             []wallClock // the hour × minute ticks of a firing day, ascending
}

// starBit is the bit robfig/cron sets in a field written as * or ?: a day matches
// day-of-month AND day-of-week when either is a star, OR otherwise (as in Vixie cron).
const starBit = 1 << 63

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// compileCron parses expr for zone loc. Its errors are messages for the user.
func compileCron(expr string, loc *time.Location) (*cronSpec, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case len(expr) > cronMaxLen:
		return nil, fmt.Errorf("is too long (at most %d characters)", cronMaxLen)
	case strings.Contains(strings.ToUpper(expr), "TZ="):
		return nil, errors.New("must not name a time zone (CRON_TZ= or TZ=): set schedule.timezone instead")
	case strings.HasPrefix(expr, "@every"):
		return nil, errors.New(`@every is not supported: use a calendar expression such as "0 9 * * *" or @daily`)
	}
	parsed, err := parseCron(expr)
	if err != nil {
		return nil, fmt.Errorf("is not a valid cron expression (minute hour day-of-month month day-of-week, "+
			"or @hourly, @daily, @weekly, @monthly, @yearly): %s", truncate(err.Error(), 120))
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("is not a calendar cron expression")
	}
	c := &cronSpec{loc: loc, months: spec.Month, doms: spec.Dom, dows: spec.Dow}
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

// parseCron is robfig/cron's parser with its panics turned into errors: v3.0.1
// slices out of range on a TZ=/CRON_TZ= prefix without a space after it ("CRON_TZ=",
// "TZ=UTC", "TZ=Invalid/Zone"). The caller refuses such prefixes first; this guard is
// for whatever else a future input finds.
func parseCron(expr string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, errors.New("malformed expression")
		}
	}()
	return cronParser.Parse(expr)
}

// dayMatches reports whether the cron fires on date d, exactly as robfig/cron decides.
func (c *cronSpec) dayMatches(d wallDate) bool {
	if c.months&(1<<uint(d.month)) == 0 {
		return false
	}
	weekday := time.Date(d.year, d.month, d.day, 12, 0, 0, 0, time.UTC).Weekday()
	dom := c.doms&(1<<uint(d.day)) != 0
	dow := c.dows&(1<<uint(weekday)) != 0
	if c.doms&starBit != 0 || c.dows&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// next returns the first tick after the instant after, searching to the end of the
// fifth year after it (robfig/cron's horizon). A day's ticks are in ascending order as
// instants too (wallFirst is monotonic in the wall reading), so a binary search finds
// the first one after after.
func (c *cronSpec) next(after time.Time) (time.Time, bool) {
	local := after.In(c.loc)
	last := local.Year() + cronYears
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
func (c *cronSpec) each(after, until time.Time, fn func(time.Time) bool) {
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
func (c *cronSpec) check(now time.Time, lim Limits) string {
	first, ok := c.next(now)
	if !ok {
		return fmt.Sprintf("never fires within %d years: is the day valid for the month (not 30 February)?", cronYears)
	}
	if lim.MinInterval <= 0 {
		return ""
	}
	msg, prev := "", first
	c.each(first, first.Add(intervalHorizon), func(u time.Time) bool {
		if gap := u.Sub(prev); gap < lim.MinInterval {
			msg = fmt.Sprintf("fires more often than once every %s (runs %s apart at %s); each tick is a new run to the whole audience",
				formatDuration(lim.MinInterval), formatDuration(gap), u.In(c.loc).Format("2006-01-02 15:04 MST"))
			return false
		}
		prev = u
		return true
	})
	return msg
}

// formatDuration formats d without zero units: 1h, 30m, 1h30m.
func formatDuration(d time.Duration) string {
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
