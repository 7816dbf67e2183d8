package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/privacy"
)

func setup(t *testing.T) (*audit.Log, *pgxpool.Pool, context.Context) {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	return audit.NewLog(pool), pool, context.Background()
}

func TestWriteAndGet(t *testing.T) {
	log, pool, ctx := setup(t)
	tests := []struct {
		name string
		in   audit.Entry
		want audit.Entry // without ID and At
	}{
		{
			name: "from a key",
			in: audit.Entry{ActorKeyID: "abcdefghijkl", Actor: "shop front", Action: "contact.update", TargetType: "contact",
				TargetID: "42", RequestID: "req-1", Status: 200, Detail: map[string]any{"fields": []any{"name", "tags"}}},
			want: audit.Entry{ActorKeyID: "abcdefghijkl", Actor: "shop front", Action: "contact.update", TargetType: "contact",
				TargetID: "42", RequestID: "req-1", Status: 200, Detail: map[string]any{"fields": []any{"name", "tags"}}},
		},
		{
			name: "from the command line, no detail",
			in:   audit.Entry{Actor: "cli:ops", Action: "apikey.create", TargetType: "apikey", TargetID: "k1"},
			want: audit.Entry{Actor: "cli:ops", Action: "apikey.create", TargetType: "apikey", TargetID: "k1", Detail: map[string]any{}},
		},
	}
	for _, tt := range tests {
		before := time.Now()
		id, err := audit.Write(ctx, pool, tt.in)
		require.NoError(t, err, tt.name)
		require.Positive(t, id)
		got, err := log.Get(ctx, id)
		require.NoError(t, err, tt.name)
		require.Equal(t, id, got.ID)
		require.WithinDuration(t, before, got.At, time.Minute)
		got.ID, got.At = 0, time.Time{}
		require.Equal(t, tt.want, got, tt.name)

		// The command line has no key: NULL, not an empty key id.
		var keyIsNull bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT actor_key_id IS NULL FROM audit_log WHERE id = $1`, id).Scan(&keyIsNull))
		require.Equal(t, tt.in.ActorKeyID == "", keyIsNull, tt.name)
	}

	_, err := log.Get(ctx, 999999)
	require.EqualError(t, err, "audit: get 999999: not found")
}

// TestBeginFinish follows a request: the line is written before the action runs, with
// status 0, and the outcome is added after.
func TestBeginFinish(t *testing.T) {
	log, _, ctx := setup(t)
	tests := []struct {
		name                 string
		begin                audit.Entry
		status               int
		targetType, targetID string
		detail               map[string]any
		want                 audit.Entry // the fields Finish touches
	}{
		{
			name:   "target known only after the action",
			begin:  audit.Entry{Actor: "k", Action: "contact.create", TargetType: "contact", Detail: map[string]any{"fields": []any{"name"}}},
			status: 201, targetID: "17", detail: map[string]any{"created": true},
			want: audit.Entry{Status: 201, TargetType: "contact", TargetID: "17",
				Detail: map[string]any{"fields": []any{"name"}, "created": true}},
		},
		{
			name:   "detail is merged key by key; empty targets keep theirs",
			begin:  audit.Entry{Actor: "k", Action: "import.run", TargetType: "import", TargetID: "9", Detail: map[string]any{"rows": 10, "file": "a.csv"}},
			status: 200, detail: map[string]any{"rows": 12},
			want: audit.Entry{Status: 200, TargetType: "import", TargetID: "9", Detail: map[string]any{"rows": float64(12), "file": "a.csv"}},
		},
		{
			name:   "nil detail changes none",
			begin:  audit.Entry{Actor: "k", Action: "campaign.pause", TargetType: "campaign", TargetID: "3", Detail: map[string]any{"was": "running"}},
			status: 409, targetType: "campaign", targetID: "4",
			want: audit.Entry{Status: 409, TargetType: "campaign", TargetID: "4", Detail: map[string]any{"was": "running"}},
		},
	}
	for _, tt := range tests {
		id, err := log.Begin(ctx, tt.begin)
		require.NoError(t, err, tt.name)
		got, err := log.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, 0, got.Status, "%s: running", tt.name)

		require.NoError(t, log.Finish(ctx, id, tt.status, tt.targetType, tt.targetID, tt.detail), tt.name)
		got, err = log.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, tt.want.Status, got.Status, tt.name)
		require.Equal(t, tt.want.TargetType, got.TargetType, tt.name)
		require.Equal(t, tt.want.TargetID, got.TargetID, tt.name)
		require.Equal(t, tt.want.Detail, got.Detail, tt.name)
		require.Equal(t, tt.begin.Actor, got.Actor)
		require.Equal(t, tt.begin.Action, got.Action)
	}
}

func TestRecord(t *testing.T) {
	log, _, ctx := setup(t)
	require.NoError(t, log.Record(ctx, audit.Entry{Actor: "cli:root", Action: "retention.purge", Detail: map[string]any{"rows": 5}}))
	list, next, err := log.List(ctx, audit.ListParams{Limit: 10})
	require.NoError(t, err)
	require.Zero(t, next)
	require.Len(t, list, 1)
	require.Equal(t, "cli:root", list[0].Actor)
	require.Equal(t, "retention.purge", list[0].Action)
	require.Equal(t, map[string]any{"rows": float64(5)}, list[0].Detail)
}

// TestWriteInTransaction checks that a line written in a transaction shares its fate.
func TestWriteInTransaction(t *testing.T) {
	log, pool, ctx := setup(t)
	for _, commit := range []bool{false, true} {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		id, err := audit.Write(ctx, tx, audit.Entry{Actor: "k", Action: "suppression.add"})
		require.NoError(t, err)
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
		_, err = log.Get(ctx, id)
		if commit {
			require.NoError(t, err)
		} else {
			require.ErrorContains(t, err, "not found")
		}
	}
}

func TestWriteError(t *testing.T) {
	log, pool, ctx := setup(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := audit.Write(cancelled, pool, audit.Entry{Actor: "k", Action: "contact.delete"})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "audit: write contact.delete")
	_, err = log.Begin(cancelled, audit.Entry{Actor: "k", Action: "contact.delete"})
	require.ErrorIs(t, err, context.Canceled, "if the line cannot be written, the caller must not act")
	require.ErrorContains(t, log.Finish(cancelled, 1, 200, "", "", nil), "audit: finish 1")
	_, _, err = log.List(cancelled, audit.ListParams{Limit: 1})
	require.ErrorContains(t, err, "audit: list")
}

func TestList(t *testing.T) {
	log, _, ctx := setup(t)
	seed := []audit.Entry{
		{ActorKeyID: "key_a", Actor: "a", Action: "contact.update", TargetType: "contact", TargetID: "1"}, // 1
		{ActorKeyID: "key_b", Actor: "b", Action: "contact.update", TargetType: "contact", TargetID: "2"}, // 2
		{ActorKeyID: "key_a", Actor: "a", Action: "campaign.create", TargetType: "campaign", TargetID: "1"},
		{Actor: "cli:ops", Action: "apikey.revoke", TargetType: "apikey", TargetID: "key_b"},
		{ActorKeyID: "key_a", Actor: "a", Action: "contact.delete", TargetType: "contact", TargetID: "1"},
		{ActorKeyID: "key_b", Actor: "b", Action: "privacy.export", TargetType: "contact", TargetID: "1"},
	}
	ids := make([]int64, len(seed))
	for i, e := range seed {
		id, err := log.Begin(ctx, e)
		require.NoError(t, err)
		ids[i] = id
	}
	// idx turns positions in seed into ids, newest first as List returns them.
	idx := func(pos ...int) []int64 {
		out := make([]int64, len(pos))
		for i, p := range pos {
			out[i] = ids[p]
		}
		return out
	}
	tests := []struct {
		name string
		p    audit.ListParams
		want []int64
		next int64
	}{
		{name: "all", p: audit.ListParams{Limit: 10}, want: idx(5, 4, 3, 2, 1, 0)},
		{name: "a contact", p: audit.ListParams{Limit: 10, TargetType: "contact", TargetID: "1"}, want: idx(5, 4, 0)},
		{name: "id 1 of any type", p: audit.ListParams{Limit: 10, TargetID: "1"}, want: idx(5, 4, 2, 0)},
		{name: "a type", p: audit.ListParams{Limit: 10, TargetType: "contact"}, want: idx(5, 4, 1, 0)},
		{name: "a key", p: audit.ListParams{Limit: 10, ActorKeyID: "key_b"}, want: idx(5, 1)},
		{name: "an action", p: audit.ListParams{Limit: 10, Action: "contact.update"}, want: idx(1, 0)},
		{name: "a key and an action", p: audit.ListParams{Limit: 10, ActorKeyID: "key_a", Action: "contact.update"}, want: idx(0)},
		{name: "nothing matches", p: audit.ListParams{Limit: 10, Action: "contact.create"}, want: idx()},
		{name: "first page", p: audit.ListParams{Limit: 2}, want: idx(5, 4), next: ids[4]},
		{name: "second page", p: audit.ListParams{Limit: 2, BeforeID: ids[4]}, want: idx(3, 2), next: ids[2]},
		{name: "last page", p: audit.ListParams{Limit: 2, BeforeID: ids[2]}, want: idx(1, 0)},
		{name: "a page that ends exactly", p: audit.ListParams{Limit: 6}, want: idx(5, 4, 3, 2, 1, 0)},
		{name: "no limit: the default page", p: audit.ListParams{}, want: idx(5, 4, 3, 2, 1, 0)},
		{name: "a negative limit: the default page", p: audit.ListParams{Limit: -1}, want: idx(5, 4, 3, 2, 1, 0)},
		{name: "filtered pages", p: audit.ListParams{Limit: 1, TargetType: "contact", TargetID: "1", BeforeID: ids[5]}, want: idx(4), next: ids[4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, next, err := log.List(ctx, tt.p)
			require.NoError(t, err)
			got := make([]int64, len(list))
			for i, e := range list {
				got[i] = e.ID
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.next, next)
		})
	}

	// The entries come back whole.
	list, _, err := log.List(ctx, audit.ListParams{Limit: 1, ActorKeyID: "key_b", Action: "privacy.export"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	got := list[0]
	require.Equal(t, audit.Entry{ID: ids[5], At: got.At, ActorKeyID: "key_b", Actor: "b", Action: "privacy.export",
		TargetType: "contact", TargetID: "1", Detail: map[string]any{}}, got)
}

// TestPrivacyHolder checks what a data-subject export holds of the log, and that an
// erasure leaves the log as it is: it is the record that the erasure happened.
func TestPrivacyHolder(t *testing.T) {
	log, pool, ctx := setup(t)
	h := log.PrivacyHolder()
	require.Equal(t, "audit", h.Name())

	// Entries about contact 7 between entries about other things, some with the id 7.
	seed := []audit.Entry{
		{Actor: "a", Action: "contact.update", TargetType: "contact", TargetID: "70"},
		{ActorKeyID: "key_a", Actor: "a", Action: "contact.create", TargetType: "contact", TargetID: "7", RequestID: "r1", Status: 201,
			Detail: map[string]any{"fields": []any{"name"}}},
		{Actor: "a", Action: "campaign.create", TargetType: "campaign", TargetID: "7"},
		{Actor: "a", Action: "apikey.create", TargetType: "apikey", TargetID: "7"},
		{Actor: "cli:ops", Action: "consent.grant", TargetType: "contact", TargetID: "7", Detail: map[string]any{"ledger_id": 3}},
	}
	var mineIDs []int64
	for _, e := range seed {
		id, err := log.Begin(ctx, e)
		require.NoError(t, err)
		if e.TargetType == "contact" && e.TargetID == "7" {
			mineIDs = append(mineIDs, id)
		}
	}
	require.Len(t, mineIDs, 2)

	subj := privacy.Subject{ContactID: 7, Phone: "+6591234567", PhoneHash: []byte{1, 2, 3}}
	var sections []map[string]any
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		v, err := h.Export(ctx, tx, subj)
		if err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &sections)
	}))
	require.Len(t, sections, 2, "only the entries about contact 7, oldest first")
	for i, s := range sections {
		e, err := log.Get(ctx, mineIDs[i])
		require.NoError(t, err)
		at, err := time.Parse(time.RFC3339Nano, s["at"].(string))
		require.NoError(t, err)
		require.True(t, e.At.Equal(at), "%s = %s", s["at"], e.At)
		require.True(t, len(s["at"].(string)) == len("2006-01-02T15:04:05.000000Z") && s["at"].(string)[26] == 'Z', s["at"])
		delete(s, "at")
		var detail map[string]any
		b, _ := json.Marshal(e.Detail)
		require.NoError(t, json.Unmarshal(b, &detail))
		require.Equal(t, map[string]any{"actor": e.Actor, "action": e.Action, "status": float64(e.Status), "detail": detail,
			"request_id": e.RequestID, "actor_key_id": e.ActorKeyID, "target_id": "7"}, s)
	}
	require.Equal(t, "contact.create", sections[0]["action"])
	require.Equal(t, "key_a", sections[0]["actor_key_id"])
	require.Equal(t, "consent.grant", sections[1]["action"])

	// Erase keeps every line, unchanged.
	snapshot := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(a::text, E'\n' ORDER BY id) FROM audit_log a`).Scan(&s))
		return s
	}
	before := snapshot()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return h.Erase(ctx, tx, subj) }))
	require.Equal(t, before, snapshot())
	require.NotContains(t, before, subj.Phone)
}
