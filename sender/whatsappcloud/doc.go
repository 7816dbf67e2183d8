// Package whatsappcloud is the client side of Crier's channel on Meta's official WhatsApp
// Cloud API: a Graph API Client for one business phone number, and the classification of
// Meta's errors into what Crier does about them.
//
// It owns:
//   - Client (client.go): Check (the token and the phone number id work), SendText and
//     SendTemplate (POST /{version}/{phone_number_id}/messages, returning Meta's wamid),
//     and Templates (GET /{version}/{waba_id}/message_templates, every page);
//   - GraphError and Classify (errors.go): Meta's error payload, mapped onto the sender
//     package's kinds (sender.ErrPermanent, sender.ErrAccount, transient) and this
//     package's sentinels (ErrTemplate, ErrMarketingOptOut, ErrOutsideWindow,
//     ErrThrottled) with a suggested back-off for rate limits;
//   - the webhook side (webhook.go): signatures, the handshake and the parsing of Meta's
//     notifications;
//   - cloudtest, a fake Graph API for tests of this and other packages.
//
// Not done yet: a sender.Connector and sender.Transport on Client and their wiring in
// cmd/crier (the Capabilities TemplatesOutsideWindow, Receipts, Inbound); the accounts'
// Cloud API fields (phone number id, WABA id) and the encryption of the access token at
// rest; the job that syncs templates from Templates into the templates package; mounting
// the webhook in httpapi.
//
// It must never:
//   - put the access token in an error, a log line or a URL (the token travels only in the
//     Authorization header; errors are redacted, Config and Client print without it);
//   - put a customer's number in an error it returns;
//   - decide consent, suppression, rate limits or which account sends: it reports what
//     Meta said, and the workers decide;
//   - talk to Meta from tests: tests use cloudtest.
package whatsappcloud
