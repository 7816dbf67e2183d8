-- +goose Up

-- The send pipeline's two scans (now in package delivery), each over a small partial index so that
-- its cost follows the work in flight, not the audience:
--
-- the dispatcher's candidates: queued deliveries of one campaign that have no task yet, in
-- due order. A million-recipient campaign has a million rows here, but the dispatcher reads
-- only the first few thousand of one campaign.
CREATE INDEX deliveries_dispatch_idx ON deliveries (campaign_id, due_at)
    WHERE status = 'queued' AND enqueued_at IS NULL;

-- the work in flight: deliveries handed to Asynq (or held by a worker) and not settled. It
-- holds at most a few minutes of sends per campaign, so counting it per dispatch is cheap,
-- and the reconciler scans it for tasks that Redis lost.
CREATE INDEX deliveries_inflight_idx ON deliveries (campaign_id, enqueued_at)
    WHERE status IN ('queued', 'sending') AND enqueued_at IS NOT NULL;

-- Messages sent per account and day, to seed the limiter's daily counter after Redis lost it.
CREATE INDEX deliveries_account_sent_idx ON deliveries (account_id, sent_at) WHERE sent_at IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_account_sent_idx;
DROP INDEX deliveries_inflight_idx;
DROP INDEX deliveries_dispatch_idx;
