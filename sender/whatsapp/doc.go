// Package whatsapp is Crier's WhatsApp transport: sender.Connector and sender.Transport on
// go.mau.fi/whatsmeow, which speaks the WhatsApp Web multi-device protocol as a linked
// device of the account's phone.
//
// It owns:
//   - the device sessions, in whatsmeow's own tables (whatsmeow_*) in Crier's PostgreSQL,
//     created and upgraded by New;
//   - the rows of the map from a Crier account to its linked device
//     (crier_whatsapp_devices, a table that migrations/00005 creates, see store.go);
//   - pairing by QR code or phone pairing code (PairQR, PairPhone, returning a
//     sender.Pairing);
//   - connecting an account, with its own proxy, and failing fast when WhatsApp cannot be
//     reached (Connect);
//   - sending a text under the caller's deterministic message id (msgid.Of, Send), with an
//     IsOnWhatsApp check cached per number and optional typing-indicator pacing;
//   - turning whatsmeow events into sender.Events: receipts, inbound texts and account
//     status (events.go);
//   - erasing a person's number, name and keys from whatsmeow's tables (ErasePhone).
//
// It must never:
//   - decide consent, suppression, rate limits or which account sends: callers do that
//     before Send, and an inbound "STOP" is just an inbound event here;
//   - write a phone number, a push name or message text into a log line or an error that
//     leaves the package (errors from whatsmeow are scrubbed of the number they concern,
//     and whatsmeow's own log lines are scrubbed of digit runs);
//   - keep a customer's number anywhere but whatsmeow's own tables, which ErasePhone
//     clears (the IsOnWhatsApp cache is keyed by a keyed hash of the number);
//   - talk to WhatsApp from tests: tests use constructed events, a fake client and
//     unreachable proxies.
package whatsapp
