package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/internal/sqltest"
	"github.com/crierhq/crier/internal/testdb"
)

// TestHotStatementsUseTheirIndexes fills a small database with the shape of a real one
// (sqltest.Fill: 50 tags, consent for most contacts, a history of sent messages and a run
// waiting to be dispatched), lets ANALYZE gather statistics, and checks that each hot
// statement's plan uses the index it is written for: the planner would otherwise read
// whole tables on every claim, send or receipt.
func TestHotStatementsUseTheirIndexes(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	fx := sqltest.Fill(t, pool)

	runAt := time.Now().UTC()
	// A batch of a worker's claims: a few hundred of a million deliveries in production, a
	// hundred of forty thousand here.
	rows, err := pool.Query(ctx, `SELECT id FROM deliveries WHERE campaign_id = 2 ORDER BY id LIMIT 100`)
	require.NoError(t, err)
	queued, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	n := len(queued)
	accounts, locales, variants, messageIDs := make([]int64, n), make([]string, n), make([]int32, n), make([]string, n)
	for i, id := range queued {
		accounts[i], locales[i], messageIDs[i] = 1, "en", msgid.Of(id)
	}
	legacy := []string{"legacy-2", "legacy-4", "legacy-6"}

	sqltest.CheckPlans(t, pool,
		sqltest.PlanCase{Name: "claim", Stmt: claimDeliveries,
			Args: []any{queued, runAt, runAt.Add(-time.Minute), accounts, locales, variants, messageIDs,
				consent.WhatsApp, consent.Marketing, 2, runAt.Add(-24 * time.Hour)},
			// The deliveries by id; eligibility per contact by primary keys; the cap's counts by contact.
			Want: []string{"index=deliveries_pkey", "index=contacts_pkey", "index=consent_state_pkey", "index=suppressions_pkey", "index=deliveries_contact_idx"},
			// Never deliveries_sent_idx: every message sent in the window, for each delivery
			// claimed (the count's row comparison leaves the planner no way to it).
			Absent: []string{"contact_eligibility", "Seq Scan rel=deliveries", "Seq Scan rel=contacts", "index=deliveries_sent_idx"}},
		sqltest.PlanCase{Name: "mark sent", Stmt: markSent,
			Args: []any{queued, make([]string, n), make([]string, n), make([]time.Time, n), runAt},
			Want: []string{"index=deliveries_pkey"}, Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "receipts by keyed id", Stmt: lockKeyedReceiptTargets, Args: []any{fx.Keyed[:3], fx.KeyedIDs[:3]},
			Want: []string{"index=deliveries_pkey"}, Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "receipts by older id", Stmt: lockLegacyReceiptTargets, Args: []any{legacy},
			Want: []string{"index=deliveries_legacy_message_idx"}, Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "dispatch take", Stmt: dispatchTake, Args: []any{int64(2), 100, runAt, 1, 0},
			Want: []string{"index=deliveries_dispatch_idx"}, Absent: []string{"Seq Scan"}},
		// The reconciler's expiry, campaign by campaign: the queued deliveries without a task
		// by due time, and those handed to Asynq; never the whole table.
		sqltest.PlanCase{Name: "expire overdue", Stmt: expireOverdue, Args: []any{runAt.Add(-time.Hour)},
			Want: []string{"index=deliveries_dispatch_idx", "index=deliveries_inflight_idx"}, Absent: []string{"Seq Scan rel=deliveries"}},
	)
}
