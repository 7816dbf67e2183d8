// Package contacts owns Crier's customers: their E.164 phone numbers (normalised with
// github.com/nyaruka/phonenumbers), profile, locale, time zone, country, tags and
// attributes; the streamed CSV import, and imports as a resource (received without a
// database connection, stored, run in the background, followed; importjob.go); and the tag
// queries that segment them.
//
// It must never send anything, decide consent, or know about HTTP: consent lives in the
// consent package, and the API in httpapi.
package contacts
