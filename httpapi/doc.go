// Package httpapi is Crier's REST API under /v1: the route table (each route with the
// permission it needs and the audit action it records), bearer-key authentication,
// phone masking for roles without access to personal data, strict JSON decoding, and
// RFC 9457 problem+json errors.
//
// Handlers only translate: decode and shape-check the request, call a domain service,
// encode the result. Domain rules live in the domain packages, which never import this
// one. It never imports a transport adapter (sender/whatsapp, sender/sandbox): it asks
// Deps.Channels what an account's channel can do and reaches the adapters through
// interfaces declared here (Pairer, SentLog), which cmd/crier fills.
package httpapi
