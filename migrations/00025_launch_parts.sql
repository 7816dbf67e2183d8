-- +goose Up
-- A launch materialises its run in parts (campaigns.Service.Launch): each part the contacts
-- whose id is in its range [from_id, to_id) (NULL: open), each part in a transaction of its
-- own, several at once, so that PostgreSQL inserts on several cores. The run is 'launching'
-- until every part is done. Each part writes its row here as it commits, with its counts;
-- a launch that dies half way leaves the run launching and the campaign's next_run_at at
-- the run, so the scheduler launches it again and only the parts not done run. The rows
-- stay with the run (a few per run): they say how it was launched.
CREATE TABLE campaign_run_parts (
    run_id   bigint NOT NULL REFERENCES campaign_runs (id) ON DELETE CASCADE,
    part     integer NOT NULL,
    from_id  bigint,
    to_id    bigint,
    matched  bigint NOT NULL DEFAULT 0,
    eligible bigint NOT NULL DEFAULT 0,
    done_at  timestamptz,
    PRIMARY KEY (run_id, part)
);

-- +goose Down
DROP TABLE campaign_run_parts;
