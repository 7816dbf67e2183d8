-- +goose Up
-- deliveries_due_idx (due_at, for every queued delivery) goes: every delivery a launch
-- inserts added an entry to it, and every dispatch, touch and release one more. At ten
-- million deliveries it was one WAL record in six of the launch's (60.6 M records and
-- 6.0 GB of WAL with it, 50.5 M and 5.4 GB without; docs/BENCHMARKS.md). Its two
-- readers now take the partial indexes that the dispatcher and the reconciler keep anyway:
-- ExpireOverdue walks deliveries_dispatch_idx (campaign_id, due_at) and
-- deliveries_inflight_idx per campaign, and the launch's frequency cap reads the queued
-- deliveries through the same two.
DROP INDEX deliveries_due_idx;

-- +goose Down
CREATE INDEX deliveries_due_idx ON deliveries (due_at) WHERE pending = 'queued';
