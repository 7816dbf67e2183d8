package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/internal/testdb"
)

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan, with what the test looks at.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	FunctionName string     `json:"Function Name"`
	Plans        []planNode `json:"Plans"`
}

// planSummary is a plan's nodes, flattened: what each node is and what it reads.
type planSummary []string

func (p planSummary) String() string { return strings.Join(p, "\n") }

// has reports whether a node mentions s (a node type, a relation, an index, a function).
func (p planSummary) has(s string) bool {
	for _, n := range p {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// explain returns the plan PostgreSQL makes for stmt with args (the plan a statement gets
// for its values, as pgx's first executions do), after settings ("" for none), in a
// transaction that it rolls back.
func explain(t *testing.T, pool *pgxpool.Pool, settings, stmt string, args ...any) planSummary {
	t.Helper()
	ctx := context.Background()
	var out []byte
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if settings != "" {
			if _, err := tx.Exec(ctx, settings); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+stmt, args...).Scan(&out); err != nil {
			return err
		}
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	var plans []struct{ Plan planNode }
	require.NoError(t, json.Unmarshal(out, &plans))
	var s planSummary
	var walk func(n planNode, depth int)
	walk = func(n planNode, depth int) {
		s = append(s, fmt.Sprintf("%s%s rel=%s index=%s function=%s", strings.Repeat("  ", depth),
			n.NodeType, n.RelationName, n.IndexName, n.FunctionName))
		for _, c := range n.Plans {
			walk(c, depth+1)
		}
	}
	walk(plans[0].Plan, 0)
	return s
}

var errRollback = fmt.Errorf("rollback")

// TestHotStatementsUseTheirIndexes fills a small database with the shape of a real one
// (50 tags, consent for most contacts, a history of sent messages and a run waiting to be
// dispatched), lets ANALYZE gather statistics, and checks that each hot statement's plan
// uses the index it is written for: the planner would otherwise read whole tables on
// every launch, claim, send or receipt.
func TestHotStatementsUseTheirIndexes(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, q, args...)
		require.NoError(t, err, q)
	}
	const contacts = 20_000
	exec(`
		INSERT INTO contacts (phone, phone_region, phone_zone, timezone, tags, phone_hash)
		SELECT '+65' || (90000000 + i), 'SG', 'Asia/Singapore',
		       (ARRAY['', 'Asia/Jakarta', 'Europe/London'])[1 + i % 3], ARRAY['t' || (i % 50)], sha256(('p' || i)::bytea)
		FROM generate_series(1, $1) AS i`, contacts)
	exec(`
		INSERT INTO consent_state (contact_id, channel, purpose, status, ledger_id)
		SELECT id, 'whatsapp', 'marketing', CASE WHEN id % 20 = 0 THEN 'withdrawn' ELSE 'granted' END, id
		FROM contacts WHERE id % 10 <> 7`)
	exec(`
		INSERT INTO suppressions (phone_hash, purpose, reason, source, actor)
		SELECT phone_hash, 'marketing', 'manual', 'staff', 't' FROM contacts WHERE id % 100 = 3`)
	// Campaign 1 sent a message to every contact an hour ago (half of them with message ids
	// made before msgid); campaigns 2 to 11 each have a run queued for a tenth of them, due,
	// four in five handed to Asynq already.
	exec(`INSERT INTO templates (name, category, locales) VALUES ('sale', 'marketing', '[]')`)
	exec(`INSERT INTO campaigns (name, template_id, status) SELECT n, t.id, 'running' FROM templates t, generate_series(1, 11) n`)
	exec(`
		INSERT INTO campaign_runs (campaign_id, run_at, status, purpose)
		SELECT id, CASE WHEN id = 1 THEN now() - interval '1 hour' ELSE now() END, 'running', 'marketing' FROM campaigns`)
	exec(`
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at, sent_at, account_id)
		SELECT 1, 1, id, 'sent', now() - interval '1 hour', now() - interval '1 hour', 1 FROM contacts`)
	exec(`UPDATE deliveries SET message_id = CASE WHEN id % 2 = 0 THEN 'legacy-' || id END`)
	rows, err := pool.Query(ctx, `SELECT id FROM deliveries WHERE message_id IS NULL`)
	require.NoError(t, err)
	keyed, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	keyedIDs := make([]string, len(keyed))
	for i, id := range keyed {
		keyedIDs[i] = msgid.Of(id)
	}
	exec(`UPDATE deliveries d SET message_id = k.m FROM unnest($1::bigint[], $2::text[]) AS k(id, m) WHERE d.id = k.id`, keyed, keyedIDs)
	exec(`
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT r.id, r.campaign_id, c.id, 'queued', now() - interval '1 minute'
		FROM campaign_runs r JOIN contacts c ON c.id % 10 = r.campaign_id % 10 WHERE r.campaign_id > 1`)
	exec(`UPDATE deliveries SET enqueued_at = now() WHERE status = 'queued' AND id % 5 <> 0`)
	exec(`VACUUM ANALYZE contacts, consent_state, suppressions, campaign_runs, deliveries`)

	svc := New(pool, Options{})
	runAt := time.Now().UTC()
	c := Campaign{Audience: Audience{TagsAny: []string{"t7"}, ExcludeTags: []string{"t8"}}}
	c.Schedule.Timezone, c.Schedule.LocalTime = "Asia/Singapore", "10:00"
	audience, err := svc.audienceArgs(ctx, c, consent.Marketing, runAt, true)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, settings, stmt string
		args                 []any
		want                 []string // each must be in the plan: "index=…", "rel=…"
		absent               []string // none may be
	}{
		{name: "launch", settings: audienceSettings, stmt: launchDeliveries,
			args: append(append([]any{}, audience...), int64(3), int64(3), runAt),
			// Eligibility is inlined: joins of its tables, not a call of the function.
			want:   []string{"index=contacts_tags_idx", "rel=consent_state", "rel=suppressions"},
			absent: []string{"contact_eligibility", "Seq Scan rel=contacts"}},
		{name: "preview count", settings: audienceSettings, stmt: previewCounts, args: audience,
			want:   []string{"index=contacts_tags_idx", "rel=consent_state", "rel=suppressions"},
			absent: []string{"contact_eligibility", "Seq Scan rel=contacts"}},
	} {
		plan := explain(t, pool, tc.settings, tc.stmt, tc.args...)
		t.Logf("%s:\n%s", tc.name, plan)
		for _, w := range tc.want {
			require.True(t, plan.has(w), "%s: no %s in\n%s", tc.name, w, plan)
		}
		for _, s := range tc.absent {
			require.False(t, plan.has(s), "%s: %s in\n%s", tc.name, s, plan)
		}
	}

	// An audience of every contact is a sequential scan with hash joins, each table read
	// once: no index lookup per contact.
	c.Audience = Audience{}
	for i := range 50 {
		c.Audience.TagsAny = append(c.Audience.TagsAny, fmt.Sprintf("t%d", i))
	}
	all, err := svc.audienceArgs(ctx, c, consent.Marketing, runAt, false)
	require.NoError(t, err)
	plan := explain(t, pool, audienceSettings, previewCounts, all...)
	require.True(t, plan.has("Hash"), "preview of everyone:\n%s", plan)
	require.False(t, plan.has("Nested Loop"), "preview of everyone:\n%s", plan)
	require.False(t, plan.has("rel=due_"), "a preview that reads no due time does not join the due table:\n%s", plan)
}
