-- +goose Up
-- The launch appends its own counters (campaigns' launchDeliveries, in the statement that
-- inserts the run's deliveries), and the insert trigger of migration 00021 goes. The
-- trigger made PostgreSQL keep every inserted row in a transition table and then group
-- them all again: 1.1 s of a 9.7 s launch at a million deliveries (BenchmarkLaunch1M,
-- docs/BENCHMARKS.md). The launch is the only
-- statement that inserts deliveries; one added elsewhere must append its counters too
-- (delivery_counts_delta), or the campaign's stats will not show those deliveries. The
-- update and delete triggers stay: the send path changes rows in small batches.
DROP TRIGGER deliveries_count_insert ON deliveries;

-- +goose Down
CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count();
