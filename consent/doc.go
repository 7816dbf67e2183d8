// Package consent owns whether Crier may message a person: the append-only consent
// ledger (with its evidence) and the current state derived from it, the suppression list
// (keyed by a keyed hash of the phone, so it outlives erasure), the classifier of inbound
// STOP/START/HELP messages, and what follows from them: withdrawing or granting consent,
// suppressing, cancelling pending messages, and exactly one confirmation reply.
//
// It decides eligibility in SQL (Exclusions), joined into the statements that need it:
// the audience of a launch or preview, and the claim of each message at send time;
// Eligibility answers for one contact. It never sends anything itself, and it knows
// campaigns and transports only through the small interfaces it declares
// (PendingCanceller, Replier).
package consent
