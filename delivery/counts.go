package delivery

import (
	"context"
	"fmt"
)

// foldCounts replaces the triggers' rows of delivery_counts (migration 00021) by one row
// per group with their sum, for up to 1 000 campaigns that have such rows; a group that
// sums to nothing goes. One statement, so a read sees the rows or their sum, never both
// or neither; rows appended meanwhile are left for the next fold. Two folds at once would
// be safe (the second skips the rows the first deleted, and cannot see the sums it wrote)
// but wasted: a fold that finds another running (its advisory lock, $1) does nothing.
//
//	$1 lock key bigint
const foldCounts = `
WITH c AS (SELECT DISTINCT campaign_id FROM delivery_counts
           WHERE NOT folded AND (SELECT pg_try_advisory_xact_lock($1)) LIMIT 1000),
gone AS (DELETE FROM delivery_counts d USING c WHERE d.campaign_id = c.campaign_id RETURNING d.*),
folded AS (
	INSERT INTO delivery_counts (campaign_id, run_id, variant, account_id, skip_reason, total, queued,
		sending, sent, delivered, read, failed, skipped, cancelled, expired, opted_out, replied, folded)
	SELECT campaign_id, run_id, variant, account_id, skip_reason, sum(total), sum(queued), sum(sending),
		sum(sent), sum(delivered), sum(read), sum(failed), sum(skipped), sum(cancelled), sum(expired),
		sum(opted_out), sum(replied), true
	FROM gone GROUP BY 1, 2, 3, 4, 5
	HAVING sum(total) <> 0 -- no deliveries in the group: every count is 0
	RETURNING 1)
SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded)`

// foldLockKey is the advisory lock of a fold (the one-key form; "fold").
const foldLockKey int64 = 0x666f6c64

// FoldCounts folds the campaigns' delivery counters (foldCounts) and returns how many rows
// it saved. The dispatchers and the reconciler run it; stats read the same sums either
// way, only faster.
func (s *Sends) FoldCounts(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, foldCounts, foldLockKey).Scan(&n); err != nil {
		return 0, fmt.Errorf("delivery: fold counts: %w", err)
	}
	return n, nil
}
