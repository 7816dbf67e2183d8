// Package webhooks owns Crier's outbound webhooks: the endpoints people register (their
// URL, the event types they want, whether they receive personal data, and their signing
// secrets, sealed with internal/secretbox), the relay that turns the append-only logs
// (delivery_events, consent_ledger, finished campaign runs and imports) into one delivery
// per event and endpoint, and the Deliverer that signs and POSTs them, with backoff,
// giving up after a day and disabling an endpoint that has failed for three.
//
// It never emits events from the hot paths: the relay reads the logs by recorded time,
// behind a watermark that no open transaction can still write before (relay.go), so an
// event is relayed once even when the row that records it commits late. It never sends to
// an address it has not checked (guard.go): loopback, private, link-local and other
// internal addresses are refused when an endpoint is saved and again on the address
// actually dialled, unless Options.AllowPrivate. It never logs a payload, a secret or a
// URL's query, and its task payloads carry a delivery id only.
//
// Receivers check a delivery with Verify; docs/webhooks.md is their guide.
package webhooks
