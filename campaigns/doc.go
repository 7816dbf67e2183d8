// Package campaigns owns campaign lifecycle (draft → scheduled → running → completed,
// with paused and cancelled), schedules (now, at, cron, recipient-local time, quiet
// hours), the set-based expansion of an audience into deliveries, and campaign stats.
//
// It must never send a message itself or import httpapi or workers: the workers drive
// sends through the interfaces this package declares.
package campaigns
