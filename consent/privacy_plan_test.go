package consent

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/sqltest"
)

// TestSubjectEntriesUseTheContactIndex: with the ledger's numbers unindexed (migration
// 00026), a subject's export and erasure find their entries through the ledger's contact
// index, for them and for the contacts that had their number, never by reading the ledger.
func TestSubjectEntriesUseTheContactIndex(t *testing.T) {
	_, pool, _ := inboxSetup(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, evidence, actor, occurred_at, phone_hash)
		SELECT i / 2, 'whatsapp', 'marketing', 'granted', 'import', '{"line": 1}', 'key:a', now(), sha256((i / 2)::text::bytea)
		FROM generate_series(1, 20000) AS i;
		INSERT INTO contact_former_numbers (phone_hash, contact_id)
		SELECT sha256((i % 500)::text::bytea), i FROM generate_series(1, 2000) AS i;
		ANALYZE consent_ledger, contact_former_numbers`)
	require.NoError(t, err)

	sum := sha256.Sum256([]byte("7")) // contact 7's number, as the ledger above has it
	hash := sum[:]
	const custom = `SET LOCAL plan_cache_mode = force_custom_plan`
	sqltest.CheckPlans(t, pool,
		sqltest.PlanCase{Name: "export", Settings: custom,
			Stmt: `SELECT id FROM consent_ledger WHERE ` + subjectEntries + ` ORDER BY id`, Args: []any{int64(7), hash},
			Want:   []string{"index=consent_ledger_contact_idx", "index=contact_former_numbers_pkey"},
			Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "erase", Settings: custom,
			Stmt: `UPDATE consent_ledger SET evidence = '{"erased": true}' WHERE ` + subjectEntries, Args: []any{int64(7), hash},
			Want:   []string{"index=consent_ledger_contact_idx", "index=contact_former_numbers_pkey"},
			Absent: []string{"Seq Scan"}},
	)
}
