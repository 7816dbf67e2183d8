// Package campaigns owns campaign lifecycle (draft → scheduled → running → completed,
// with paused and cancelled), storing each campaign's schedule and quiet hours (their
// time maths is package campaigns/schedule), audience filters (tags, attributes,
// countries, locales, consent and engagement) and the saved segments that name them, the
// set-based expansion of an audience into deliveries, and campaign stats.
//
// It must never send a message itself or import httpapi or workers: the workers read what
// they need of a campaign through SendCampaign and move deliveries through package
// delivery, which owns their state machine.
package campaigns
