// Package schedule is the time maths of campaigns: when a campaign's runs happen (now, at
// an instant, or at every tick of a cron expression read in a time zone), which zone each
// recipient's local times are read in (RecipientZone), when each recipient of a run is due
// (DueAt: a recipient-local send time, then quiet hours), and one run's due time per zone
// (DueTable) for a launch to join.
//
// Every answer is defined across daylight saving time: a wall time that does not exist
// becomes the first instant after the gap, one that occurs twice its first occurrence.
//
// It is pure: values in, values out, the clock passed in by the caller. It must never
// touch a database, a queue or the network, nor read the time itself; package campaigns
// stores schedules and turns a DueTable into SQL.
package schedule
