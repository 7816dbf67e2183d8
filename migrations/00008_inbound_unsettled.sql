-- +goose Up

-- The reconciler's scan of inbound messages that are not settled: never processed (their
-- event task was lost with Redis) or with a confirmation reply still due. Both sets are
-- small in steady state, so partial indexes keep the scan cheap however many messages
-- arrived.
CREATE INDEX inbound_messages_unprocessed_idx ON inbound_messages (id) WHERE processed_at IS NULL;
CREATE INDEX inbound_messages_reply_pending_idx ON inbound_messages (id) WHERE reply_status = 'pending';

-- +goose Down
DROP INDEX inbound_messages_reply_pending_idx;
DROP INDEX inbound_messages_unprocessed_idx;
