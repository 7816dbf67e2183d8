// Package whatsappcloud is Crier's channel on Meta's official WhatsApp Cloud API
// (docs/channels.md): a Graph API Client for one business phone number, the
// classification of Meta's errors into what Crier does about them, and the channel built
// on them.
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
// On that client it builds the channel:
//   - Connector and Transport (connector.go, transport.go): credential checks before an
//     account is created, sends as templates (or free text for replies), no message sent
//     twice (cloud_messages and biz_opaque_callback_data), the pair rate limit, Meta's
//     back-offs, and 131050 reported as the recipient's opt-out;
//   - Webhooks (webhooks.go): the handshake, signed POSTs recorded and queued, then
//     processed once per event into receipts, inbound messages, opt-outs, daily caps and
//     pauses;
//   - TemplateSync (sync.go): Meta's templates stored in cloud_templates and mapped to
//     Crier templates with a cloud binding per locale.
//
// It must never:
//   - put the access token in an error, a log line or a URL (the token travels only in the
//     Authorization header; errors are redacted, Config and Client print without it);
//   - put a customer's number in an error it returns;
//   - decide consent, suppression, rate limits or which account sends: it reports what
//     Meta said, and the workers decide;
//   - talk to Meta from tests: tests use cloudtest.
package whatsappcloud
