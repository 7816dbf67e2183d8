package sqltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/msgid"
)

// Contacts is how many contacts Fill writes.
const Contacts = 20_000

// Fixture is what Fill wrote that a test may want to name in a statement's arguments.
type Fixture struct {
	// Keyed are the sent deliveries whose message ids msgid made (the other half carry
	// "legacy-<id>" ids, made before msgid), and KeyedIDs their message ids, in order.
	Keyed    []int64
	KeyedIDs []string
}

// Fill fills pool's migrated database with the shape of a real one, small enough to stay
// fast: Contacts contacts with 50 tags, consent for most of them, a few suppressions, a
// history of sent messages and runs waiting to be dispatched; then it lets ANALYZE gather
// statistics, so that plans are the ones a real database would get.
func Fill(t testing.TB, pool *pgxpool.Pool) Fixture {
	t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, q, args...)
		require.NoError(t, err, q)
	}
	exec(`
		INSERT INTO contacts (phone, phone_region, phone_zone, timezone, tags, phone_hash)
		SELECT '+65' || (90000000 + i), 'SG', 'Asia/Singapore',
		       (ARRAY['', 'Asia/Jakarta', 'Europe/London'])[1 + i % 3], ARRAY['t' || (i % 50)], sha256(('p' || i)::bytea)
		FROM generate_series(1, $1) AS i`, Contacts)
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
	var f Fixture
	f.Keyed, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	f.KeyedIDs = make([]string, len(f.Keyed))
	for i, id := range f.Keyed {
		f.KeyedIDs[i] = msgid.Of(id)
	}
	exec(`UPDATE deliveries d SET message_id = k.m FROM unnest($1::bigint[], $2::text[]) AS k(id, m) WHERE d.id = k.id`, f.Keyed, f.KeyedIDs)
	exec(`
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT r.id, r.campaign_id, c.id, 'queued', now() - interval '1 minute'
		FROM campaign_runs r JOIN contacts c ON c.id % 10 = r.campaign_id % 10 WHERE r.campaign_id > 1`)
	exec(`UPDATE deliveries SET enqueued_at = now() WHERE status = 'queued' AND id % 5 <> 0`)
	exec(`VACUUM ANALYZE contacts, consent_state, suppressions, campaign_runs, deliveries`)
	return f
}

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan, with what a test looks at.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	FunctionName string     `json:"Function Name"`
	IndexCond    string     `json:"Index Cond"`
	Filter       string     `json:"Filter"`
	Plans        []planNode `json:"Plans"`
}

// Plan is a plan's nodes, flattened, one line a node, indented by depth: what each node
// is, what it reads and how it selects what it reads ("Index Scan rel=deliveries
// index=deliveries_pkey function= cond=(deliveries.id = 1) filter=(deliveries.status =
// 'queued'::text)").
type Plan []string

func (p Plan) String() string { return strings.Join(p, "\n") }

// Has reports whether a node mentions s (a node type, "rel=" a relation, "index=" an
// index, a function, a condition).
func (p Plan) Has(s string) bool {
	for _, n := range p {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

var errRollback = errors.New("rollback")

// Explain returns the plan PostgreSQL makes for stmt with args (the plan a statement gets
// for its values, as pgx's first executions do), after settings ("" for none), in a
// transaction that it rolls back.
func Explain(t testing.TB, pool *pgxpool.Pool, settings, stmt string, args ...any) Plan {
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
	var p Plan
	var walk func(n planNode, depth int)
	walk = func(n planNode, depth int) {
		p = append(p, fmt.Sprintf("%s%s rel=%s index=%s function=%s cond=%s filter=%s", strings.Repeat("  ", depth),
			n.NodeType, n.RelationName, n.IndexName, n.FunctionName, n.IndexCond, n.Filter))
		for _, c := range n.Plans {
			walk(c, depth+1)
		}
	}
	walk(plans[0].Plan, 0)
	return p
}

// PlanCase is a statement whose plan a test checks.
type PlanCase struct {
	Name     string
	Settings string // run before the statement, in its transaction ("" for none)
	Stmt     string
	Args     []any
	Want     []string // each must be in the plan: "index=…", "rel=…"
	Absent   []string // none may be
}

// CheckPlans explains each case's statement (see Explain), logs its plan, and checks that
// the plan has everything in Want and nothing in Absent.
func CheckPlans(t testing.TB, pool *pgxpool.Pool, cases ...PlanCase) {
	t.Helper()
	for _, tc := range cases {
		plan := Explain(t, pool, tc.Settings, tc.Stmt, tc.Args...)
		t.Logf("%s:\n%s", tc.Name, plan)
		for _, w := range tc.Want {
			require.True(t, plan.Has(w), "%s: no %s in\n%s", tc.Name, w, plan)
		}
		for _, s := range tc.Absent {
			require.False(t, plan.Has(s), "%s: %s in\n%s", tc.Name, s, plan)
		}
	}
}
