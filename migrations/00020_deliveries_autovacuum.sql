-- +goose Up
-- A campaign updates each of its deliveries several times in minutes (dispatch, claim,
-- sent, receipts): with the default scale factor (20 % of the table) autovacuum waits for
-- millions of dead tuples on a large deliveries table, and the sends slow as the heap and
-- its indexes bloat. Vacuum after 2 % (and at least 10 000 rows), analyze after 2 %, and
-- let each vacuum do four times the default work before it sleeps, so that dead tuples
-- stay bounded during a run (`crier bench` reports them before and after).
ALTER TABLE deliveries SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_limit = 800
);

-- +goose Down
ALTER TABLE deliveries RESET (
    autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_insert_scale_factor,
    autovacuum_analyze_scale_factor, autovacuum_vacuum_cost_limit
);
