package delivery

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The send path's statements are prepared once per connection, and PostgreSQL keeps a
// generic plan for each until the statistics of a table it reads change. A plan made while
// the suppression list was empty (a first import analyses it so) scans the whole list for
// every delivery claimed, and stays so as the list grows: 4 000 suppressions made a claim of
// 80 deliveries take 30 ms instead of 3.4 ms (docs/BENCHMARKS.md). Autovacuum analyses a
// table once a tenth of it has changed, and with it every such plan is made again; where
// autovacuum is off or behind, RefreshStatistics does the same for the tables the claim
// and the audience statements read.

// statisticsTables are the tables whose growth changes the send path's plans. deliveries is
// left to autovacuum (migration 00020 tunes it): it changes with every message sent.
var statisticsTables = []string{"contacts", "consent_state", "suppressions"}

// statisticsLockKey is the advisory lock one worker at a time refreshes the statistics
// under; the others skip the pass.
const statisticsLockKey int64 = 0x616e6c7a // "anlz"

// staleTables lists, of the tables $1, those changed since they were last analysed by more
// than autovacuum's default threshold: 50 rows and a tenth of the table.
//
//	$1 names text[]
const staleTables = `
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.relname = ANY ($1)
  AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
ORDER BY s.relname`

// RefreshStatistics analyses the tables of the send path's plans that changed by more than
// a tenth since they were last analysed (autovacuum's rule), and returns their names. One
// worker does it at a time; a pass that finds another at it returns nothing. The workers'
// dispatcher loop calls it every few seconds: the check is one read of the statistics
// views, and ANALYZE reads a sample of 30 000 rows whatever the table's size. A role that
// does not own a table gets a warning from PostgreSQL, not an error, and the table is left
// as it was.
func (s *Sends) RefreshStatistics(ctx context.Context) ([]string, error) {
	var analysed []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, statisticsLockKey).Scan(&mine); err != nil || !mine {
			return err
		}
		rows, err := tx.Query(ctx, staleTables, statisticsTables)
		if err != nil {
			return err
		}
		stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, t := range stale {
			if _, err := tx.Exec(ctx, `ANALYZE `+pgx.Identifier{t}.Sanitize()); err != nil {
				return fmt.Errorf("analyse %s: %w", t, err)
			}
			analysed = append(analysed, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: refresh statistics: %w", err)
	}
	return analysed, nil
}
