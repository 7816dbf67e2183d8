package schedule

import (
	"sync"
	"time"
)

// zoneNamed returns the zone named by a schedule's timezone: "" is UTC; an invalid name
// gives UTC and false.
func zoneNamed(name string) (*time.Location, bool) {
	if name == "" {
		return time.UTC, true
	}
	if loc := loadZone(name); loc != nil {
		return loc, true
	}
	return time.UTC, false
}

// zoneCache caches LoadLocation, which reads a file each time, by name; failures are
// cached as nil. It is bounded so that junk input cannot grow it.
var zoneCache = struct {
	sync.RWMutex
	m map[string]*time.Location
}{m: make(map[string]*time.Location)}

const zoneCacheMax = 4096

// loadZone returns the IANA zone named name, or nil for "", "Local" (the server's
// zone is not a recipient's) and anything LoadLocation refuses.
func loadZone(name string) *time.Location {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil
	}
	zoneCache.RLock()
	loc, seen := zoneCache.m[name]
	zoneCache.RUnlock()
	if seen {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	zoneCache.Lock()
	if len(zoneCache.m) < zoneCacheMax {
		zoneCache.m[name] = loc
	}
	zoneCache.Unlock()
	return loc
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}
