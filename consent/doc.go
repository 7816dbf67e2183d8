// Package consent owns whether Crier may message a person: the append-only consent
// ledger (with its evidence) and the current state derived from it, the suppression list
// (keyed by a keyed hash of the phone and the purpose, so it outlives erasure, deletion and
// a change of number), the classifier of inbound STOP/START/HELP messages, and what
// follows from them: withdrawing or granting consent, suppressing, cancelling pending
// messages, and the one confirmation reply that is then due.
//
// Its rules (docs/api.md, "Consent rules"): every withdrawal suppresses the number; only
// the customer lifts a suppression (their START on a real channel, or a compliance record
// with typed evidence of their request); the sandbox never speaks for a customer.
//
// It defines eligibility once, in SQL: the function contact_eligibility
// (migrations/00013_eligibility.sql; 00025 adds the form for a range of contact ids), which the statements that need it read: the
// audience of a launch or preview, and the claim of each message at send time;
// Eligibility answers for one contact. It never sends anything itself (a reply is left
// pending for the workers), and it knows campaigns only through the small interface it
// declares (PendingCanceller).
package consent
