package campaigns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/sqltest"
	"github.com/crierhq/crier/internal/testdb"
)

// TestHotStatementsUseTheirIndexes fills a small database with the shape of a real one
// (sqltest.Fill: 50 tags, consent for most contacts, a history of sent messages and a run
// waiting to be dispatched), lets ANALYZE gather statistics, and checks that each hot
// statement's plan uses the index it is written for: the planner would otherwise read
// whole tables on every launch or preview.
func TestHotStatementsUseTheirIndexes(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	sqltest.Fill(t, pool)

	svc := New(pool, Options{})
	runAt := time.Now().UTC()
	c := Campaign{Audience: Audience{TagsAny: []string{"t7"}, ExcludeTags: []string{"t8"}}}
	c.Schedule.Timezone, c.Schedule.LocalTime = "Asia/Singapore", "10:00"
	audience, err := svc.audienceArgs(ctx, pool, c, consent.Marketing, runAt, true)
	require.NoError(t, err)

	sqltest.CheckPlans(t, pool,
		sqltest.PlanCase{Name: "launch", Settings: audienceSettings, Stmt: launchDeliveries,
			Args: append(append([]any{}, audience...), int64(3), int64(3), runAt),
			// Eligibility is inlined: joins of its tables, not a call of the function.
			Want:   []string{"index=contacts_tags_idx", "rel=consent_state", "rel=suppressions"},
			Absent: []string{"contact_eligibility", "Seq Scan rel=contacts"}},
		sqltest.PlanCase{Name: "preview count", Settings: countSettings, Stmt: previewCounts, Args: audience,
			Want:   []string{"index=contacts_tags_idx", "rel=consent_state", "rel=suppressions"},
			Absent: []string{"contact_eligibility", "Seq Scan rel=contacts"}},
		// The first few by id, the cap counted for each by its contact: never every message
		// sent in the window grouped before the first row.
		sqltest.PlanCase{Name: "preview samples", Settings: `SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL TimeZone = 'UTC'`,
			Stmt: previewSamples, Args: append(append([]any{}, audience...), 3),
			Want:   []string{"index=deliveries_contact_idx"},
			Absent: []string{"Seq Scan rel=deliveries", "HashAggregate", "GroupAggregate"}},
	)

	// A part of a launch, half the contacts: its range is a condition of the contacts'
	// scan itself, and the plan is the whole launch's (hash joins, each table read once).
	from, to := int64(1), int64(sqltest.Contacts/2)
	half := append(withRange(audience, idRange{From: &from, To: &to}), int64(3), int64(3), runAt)
	plan := sqltest.Explain(t, pool, audienceSettings, launchDeliveries, half...)
	t.Logf("launch part:\n%s", plan)
	// The contacts at the frequency cap are grouped for the part's contacts only.
	for rel, cond := range map[string]string{"contacts": "c.id < '10000'::bigint", "consent_state": "cs.contact_id < '10000'::bigint",
		"deliveries": "contact_id < '10000'::bigint"} {
		require.True(t, slices.ContainsFunc(plan, func(n string) bool {
			return strings.Contains(n, "rel="+rel+" ") && strings.Contains(n, cond)
		}), "the part's range is a condition of the scan of %s:\n%s", rel, plan)
	}
	require.False(t, plan.Has("Nested Loop"), "launch part:\n%s", plan)
	require.False(t, plan.Has("Seq Scan rel=contacts"), "launch part:\n%s", plan)

	// An audience of every contact is a sequential scan with hash joins, each table read
	// once: no index lookup per contact.
	c.Audience = Audience{}
	for i := range 50 {
		c.Audience.TagsAny = append(c.Audience.TagsAny, fmt.Sprintf("t%d", i))
	}
	all, err := svc.audienceArgs(ctx, pool, c, consent.Marketing, runAt, false)
	require.NoError(t, err)
	plan = sqltest.Explain(t, pool, countSettings, previewCounts, all...)
	require.True(t, plan.Has("Hash"), "preview of everyone:\n%s", plan)
	require.False(t, plan.Has("Nested Loop"), "preview of everyone:\n%s", plan)
	require.False(t, plan.Has("rel=due_"), "a preview that reads no due time does not join the due table:\n%s", plan)
}
