package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testdb"
)

// TestRefreshStatisticsRemakesStalePlans: a claim prepared while the suppression list was
// empty and analysed so (a first import) keeps a plan that scans the whole list for every
// delivery, however long the list grows. RefreshStatistics analyses the list once it has
// grown by more than a tenth, and the claim on that same connection is planned again, by
// the list's primary key.
func TestRefreshStatisticsRemakesStalePlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	sends := New(pool, Options{})
	_, err := pool.Exec(ctx, `ANALYZE contacts, consent_state, suppressions`)
	require.NoError(t, err)
	analysed, err := sends.RefreshStatistics(ctx)
	require.NoError(t, err)
	require.Empty(t, analysed, "nothing changed since the last ANALYZE")

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `PREPARE claim (bigint[], timestamptz, timestamptz, bigint[], text[], int[], text[], text, text, int, timestamptz) AS `+claimDeliveries)
	require.NoError(t, err)
	plan := func() string {
		t.Helper()
		rows, err := conn.Query(ctx, `EXPLAIN EXECUTE claim ('{1}', now(), now(), '{1}', '{en}', '{0}', '{m}', 'whatsapp', 'marketing', 2, now())`)
		require.NoError(t, err)
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			b.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
		return b.String()
	}
	require.Contains(t, plan(), "Seq Scan on suppressions", "the plan of an empty list")

	_, err = pool.Exec(ctx, `
		INSERT INTO suppressions (phone_hash, purpose, reason, source, actor)
		SELECT sha256(g::text::bytea), p, 'opt_out', 'keyword', 'test'
		FROM generate_series(1, 3000) g, (VALUES ('marketing'), ('utility')) v(p)`)
	require.NoError(t, err)
	// The server counts the change once the inserting session reports it (within a second).
	require.Eventually(t, func() bool {
		var n int64
		err := pool.QueryRow(ctx, `SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'suppressions'`).Scan(&n)
		return err == nil && n >= 6000
	}, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, plan(), "Seq Scan on suppressions", "a new row changes no plan")

	// Another worker refreshing at the moment: this one skips.
	other, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = other.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, statisticsLockKey)
	require.NoError(t, err)
	analysed, err = sends.RefreshStatistics(ctx)
	require.NoError(t, err)
	require.Empty(t, analysed)
	require.NoError(t, other.Rollback(ctx))

	analysed, err = sends.RefreshStatistics(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"suppressions"}, analysed)
	p := plan()
	require.NotContains(t, p, "Seq Scan on suppressions")
	require.Contains(t, p, "suppressions_pkey")

	analysed, err = sends.RefreshStatistics(ctx)
	require.NoError(t, err)
	require.Empty(t, analysed, "analysed already")
}
