// Package workers holds the Asynq task types and their handlers, the server and
// scheduler wiring, the dispatcher and the reconciler. Task payloads carry ids only,
// never phone numbers, names or message text.
//
// The handlers are one type per job, each over the small interfaces it declares: Sender
// (message:send, reply:send), Dispatcher (campaign:dispatch), Events (event:*) and
// Maintenance (campaign:launch, import:run, maintenance:*); New assembles them for a process.
// The send path's steps have owners elsewhere: the delivery state machine
// (delivery.Sends), the account and its send token (sender.Pool), the message id
// (internal/msgid). The package never imports a transport adapter: it sends through
// sender.Transport, and the transports are registered in cmd.
package workers
