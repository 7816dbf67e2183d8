-- +goose Up

-- A delivery's message id is now made from its id, and the id can be read back from it
-- (internal/msgid): a receipt finds its delivery by primary key. The unique index of every
-- message id goes. It was the one index a send wrote at a random place, twice per message
-- (the claim and the sent update) and again for every receipt that was not a HOT update,
-- and at a million deliveries its descents came from outside PostgreSQL's cache.
--
-- Ids made before (18 hex digits, a hash) cannot be read back: this partial index keeps
-- them, and any id not of the new shape, findable and unique. New sends never enter it.
-- The pattern is msgid.Pattern, word for word: the receipts' look-up repeats it so that
-- the planner can use the index.
--
-- Building it reads the table once under a lock that holds writes (about a second for a
-- million deliveries on a 2-core machine).
CREATE UNIQUE INDEX deliveries_legacy_message_idx ON deliveries (message_id)
    WHERE message_id !~ '^3EB0[0-9A-F]{16}$';
DROP INDEX deliveries_message_idx;

-- +goose Down
CREATE UNIQUE INDEX deliveries_message_idx ON deliveries (message_id) WHERE message_id IS NOT NULL;
DROP INDEX deliveries_legacy_message_idx;
