// Package sender is Crier's side of the messaging accounts: what a channel is, which
// accounts exist, which process holds each one, and which of them may send the next
// message.
//
//   - Channels (transport.go, capabilities.go, registry.go): a Connector connects an
//     Account and returns its Transport; each declares its Capabilities. The adapters
//     (sender/whatsapp, sender/sandbox) implement them, and cmd/crier registers them in a
//     Channels map: nothing else names an adapter.
//   - Accounts (account.go, store.go, cloud.go): the accounts table, owned here; a
//     whatsapp_cloud account's secrets are sealed with internal/secretbox and never read
//     back into an Account.
//   - Leases and connections (lease.go, manager.go): one process in the fleet holds each
//     account (a Redis lease) and keeps its connection; the Manager marks the events of a
//     simulated connection (Event.Simulated).
//   - Acquisition (pool.go, rotation.go, limiter.go): Pool.Acquire picks the account of a
//     campaign's next message: the rotation, the account's rate and daily cap, the
//     campaign's own rate cap, waiter slots, and replies before campaign sends.
//   - Pairing (pairing.go) and the simulated network's log (sent.go): channel-neutral
//     types the API shows.
//
// It holds no campaign or consent logic: the workers decide what to send, and sender
// decides through which account and when.
package sender
