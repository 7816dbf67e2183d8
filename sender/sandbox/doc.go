// Package sandbox is a simulated WhatsApp network for demos, tests and benchmarks. A
// sandbox account connects at once, "delivers" each message by storing it in PostgreSQL
// (one row per message id, so a retried send is one message, visible through
// GET /v1/sandbox/messages), sends delivered and read receipts after configurable delays,
// and can fail on purpose: a share of sends, numbers "not on WhatsApp", a temporary ban
// after N messages. It must never be the bottleneck of a benchmark.
//
// It never decides consent or rate limits: it is a network, and it sends whatever the
// workers hand it.
package sandbox
