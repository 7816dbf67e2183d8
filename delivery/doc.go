// Package delivery is the delivery state machine: the send side of the deliveries and
// delivery_events tables (DESIGN §2). The launch (package campaigns) writes a run's
// deliveries, queued or skipped; from then on the workers move each one through the
// transitions of this package as they dispatch, send and track it. Every transition is
// one conditional statement on the delivery's status, so that two workers, a retry or the
// reconciler can never move a delivery the wrong way:
//
//	queued ──ClaimMany──► sending ──MarkSentMany──► sent ──receipt──► delivered ──receipt──► read
//	  │  ▲                  │  ▲                      │ │                                     ▲
//	  │  └─Settle(Released)─┤  └─ClaimMany (stale)    │ └──receipt (read overtook delivered)──┤
//	  │  └─ReleaseStuck─────┘                         └──failed receipt──► failed ──receipt───┘
//	  ├──ExpireOverdue──► expired
//	  └──campaigns.CancelPending, campaigns.Cancel──► cancelled (with a SkipReason)
//
//	queued or sending ──Settle(Parked)───► queued, without a task (the campaign is paused)
//	queued or sending ──Settle(Failed)───► failed
//	queued or sending ──Settle(Skipped)──► skipped (with a SkipReason)
//	queued or sending ──Settle(Expired)──► expired
//
// The transitions table (transitions.go) is the same machine as data, and a test checks
// every statement against it: a move from a status the table does not list leaves the
// delivery as it was (Settle returns ErrDeliveryFinal), and only receipts move a final
// delivery, forward only (sent → delivered → read, sent → failed, failed → read).
//
// Who calls what:
//   - the dispatcher (workers.Dispatcher): DispatchCampaigns, DispatchRate, and per
//     Partition DispatchInFlight and DispatchTake, and Unenqueue for the tasks it could
//     not enqueue;
//   - the send handler (workers.Sender): Deliveries, ClaimMany (with the attempt and the
//     consent and frequency-cap checks), MarkSentMany, Touch while a task waits to retry,
//     and Settle: Skipped (campaign cancelled, contact erased, consent, cap), Parked
//     (campaign paused), Expired (past its TTL), Failed (the transport refused it for
//     good), Released (a retry: an account or the database failed);
//   - the receipts and replies (workers.Events): ApplyReceipts, RecordReply;
//   - the reconciler (workers.Maintenance): ExpireOverdue, ReleaseStuck, EnqueuedBefore and
//     Unenqueue for tasks Redis lost;
//   - the limiter's daily seed (cmd/crier): SentSince;
//   - campaigns: the SkipReason constants its launch writes, Columns and Fields for its
//     deliveries list and export, and the cancellations (queued → cancelled) it makes
//     itself.
//
// enqueued_at says that a delivery has (or had) an Asynq task: the dispatcher sets it when
// it hands the delivery over, and only deliveries without it are dispatched. The reconciler
// clears it when Redis no longer has the task.
package delivery
