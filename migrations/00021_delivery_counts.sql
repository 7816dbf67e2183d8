-- +goose Up
-- A campaign's stats come from counters, not from a scan of its deliveries: at a million
-- deliveries the scan took over a second a call, and the console polls it every two
-- seconds. Each statement that changes deliveries appends, in its own transaction, one
-- row per group it changed with the signed difference of every count (statement-level
-- triggers over the transition tables below). Appending takes no lock, so concurrent
-- sends never wait on a counter row; the workers' maintenance folds each campaign's rows
-- into one per group (delivery.Sends.FoldCounts, in every reconciler pass), so a read
-- sums a few rows a group.
--
-- A group is a run, variant and account, and for a skipped or cancelled delivery its
-- reason. The counts follow campaigns.Counts: see campaigns/stats.go.
CREATE TABLE delivery_counts (
    campaign_id bigint NOT NULL,
    run_id      bigint NOT NULL,
    variant     int,
    account_id  bigint,
    skip_reason text,
    total       bigint NOT NULL,
    queued      bigint NOT NULL,
    sending     bigint NOT NULL,
    sent        bigint NOT NULL,
    delivered   bigint NOT NULL,
    read        bigint NOT NULL,
    failed      bigint NOT NULL,
    skipped     bigint NOT NULL,
    cancelled   bigint NOT NULL,
    expired     bigint NOT NULL,
    opted_out   bigint NOT NULL,
    replied     bigint NOT NULL,
    -- folded: this row is its group's sum, written by FoldCounts; the triggers' rows are
    -- not, and say which campaigns have some to fold.
    folded      boolean NOT NULL DEFAULT false
);
CREATE INDEX delivery_counts_campaign_idx ON delivery_counts (campaign_id);
CREATE INDEX delivery_counts_unfolded_idx ON delivery_counts (campaign_id) WHERE NOT folded;

-- delivery_counts_delta is the statement that appends the signed counts of a set of
-- changed deliveries; %s is their source: rows of deliveries with a sign column s.
-- +goose StatementBegin
CREATE FUNCTION delivery_counts_delta(source text) RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
INSERT INTO delivery_counts (campaign_id, run_id, variant, account_id, skip_reason, total, queued,
    sending, sent, delivered, read, failed, skipped, cancelled, expired, opted_out, replied)
SELECT campaign_id, run_id, variant, account_id, reason, sum(s), sum(s * queued), sum(s * sending),
    sum(s * sent), sum(s * delivered), sum(s * read), sum(s * failed), sum(s * skipped),
    sum(s * cancelled), sum(s * expired), sum(s * opted_out), sum(s * replied)
FROM (SELECT c.s, c.campaign_id, c.run_id, c.variant, c.account_id,
        CASE WHEN c.status IN ('skipped', 'cancelled') THEN c.skip_reason END AS reason,
        (c.status = 'queued')::int AS queued, (c.status = 'sending')::int AS sending,
        (c.sent_at IS NOT NULL)::int AS sent,
        (c.delivered_at IS NOT NULL OR c.read_at IS NOT NULL)::int AS delivered,
        (c.read_at IS NOT NULL)::int AS read, (c.status = 'failed')::int AS failed,
        (c.status = 'skipped')::int AS skipped, (c.status = 'cancelled')::int AS cancelled,
        (c.status = 'expired')::int AS expired,
        (c.opted_out_at IS NOT NULL OR c.skip_reason IS NOT DISTINCT FROM 'opted_out')::int AS opted_out,
        (c.replied_at IS NOT NULL)::int AS replied
      FROM (%s) c) d
GROUP BY campaign_id, run_id, variant, account_id, reason
HAVING sum(s) <> 0 OR sum(s * queued) <> 0 OR sum(s * sending) <> 0 OR sum(s * sent) <> 0
    OR sum(s * delivered) <> 0 OR sum(s * read) <> 0 OR sum(s * failed) <> 0 OR sum(s * skipped) <> 0
    OR sum(s * cancelled) <> 0 OR sum(s * expired) <> 0 OR sum(s * opted_out) <> 0
    OR sum(s * replied) <> 0$q$, source)
$fn$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION deliveries_count() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE delivery_counts_delta('SELECT 1 AS s, * FROM new_rows');
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE delivery_counts_delta('SELECT 1 AS s, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows');
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE delivery_counts_delta('SELECT -1 AS s, * FROM old_rows');
    ELSE -- TRUNCATE
        DELETE FROM delivery_counts;
    END IF;
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd

CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count();
-- Every update fires (PostgreSQL allows no column list with transition tables); one that
-- changes no counted column, as the dispatcher's (enqueued_at), appends nothing.
CREATE TRIGGER deliveries_count_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count();
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count();
CREATE TRIGGER deliveries_count_truncate AFTER TRUNCATE ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count();

-- The deliveries there are now, counted once (a large table takes a scan: about a second
-- per million deliveries on a 2-core machine).
INSERT INTO delivery_counts (campaign_id, run_id, variant, account_id, skip_reason, total, queued,
    sending, sent, delivered, read, failed, skipped, cancelled, expired, opted_out, replied, folded)
SELECT campaign_id, run_id, variant, account_id,
    CASE WHEN status IN ('skipped', 'cancelled') THEN skip_reason END, count(*),
    count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'sending'),
    count(*) FILTER (WHERE sent_at IS NOT NULL),
    count(*) FILTER (WHERE delivered_at IS NOT NULL OR read_at IS NOT NULL),
    count(*) FILTER (WHERE read_at IS NOT NULL), count(*) FILTER (WHERE status = 'failed'),
    count(*) FILTER (WHERE status = 'skipped'), count(*) FILTER (WHERE status = 'cancelled'),
    count(*) FILTER (WHERE status = 'expired'),
    count(*) FILTER (WHERE opted_out_at IS NOT NULL OR skip_reason = 'opted_out'),
    count(*) FILTER (WHERE replied_at IS NOT NULL), true
FROM deliveries GROUP BY 1, 2, 3, 4, 5;

-- +goose Down
DROP TRIGGER deliveries_count_truncate ON deliveries;
DROP TRIGGER deliveries_count_delete ON deliveries;
DROP TRIGGER deliveries_count_update ON deliveries;
DROP TRIGGER deliveries_count_insert ON deliveries;
DROP FUNCTION deliveries_count();
DROP FUNCTION delivery_counts_delta(text);
DROP TABLE delivery_counts;
