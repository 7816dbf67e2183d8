// Package workers holds the Asynq task types and their handlers, the server and
// scheduler wiring, the dispatcher and the reconciler. Task payloads carry ids only,
// never phone numbers, names or message text.
package workers
