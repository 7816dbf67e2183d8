package consent

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/sqltest"
	"github.com/crierhq/crier/internal/testdb"
)

// inboxSetup is a consent service on its own database, with a clock the test sets.
func inboxSetup(t *testing.T) (*Service, *pgxpool.Pool, *time.Time) {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	h, err := phonehash.New(bytes.Repeat([]byte{9}, 32))
	require.NoError(t, err)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := New(pool, h, Options{Brand: "Acme", Now: func() time.Time { return now }})
	require.NoError(t, err)
	return s, pool, &now
}

// inboxRow is an inbound message written directly: these tests are about the inbox, not
// about how messages arrive (RecordInbound) or are attributed (delivery.RecordReply).
type inboxRow struct {
	account, contact, campaign int64 // 0: NULL
	text                       *string
	handled                    bool
}

func insertInbox(t *testing.T, pool *pgxpool.Pool, r inboxRow) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pool.QueryRow(context.Background(), `
		INSERT INTO inbound_messages (account_id, provider_id, from_phone, phone_hash, contact_id, campaign_id, delivery_id,
			text, received_at, class, processed_at, handled_at, handled_by)
		VALUES ($1, gen_random_uuid()::text, '+6591234567', '\x01', nullif($2, 0), nullif($3, 0), nullif($3, 0) * 100,
			$4, now(), 'none', now(), CASE WHEN $5 THEN now() END, CASE WHEN $5 THEN 'key:x' ELSE '' END)
		RETURNING id`, r.account, r.contact, r.campaign, r.text, r.handled).Scan(&id))
	return id
}

func ptr[T any](v T) *T { return &v }

// TestReplyListFiltersAndPages: each filter, alone and together, pages through exactly the
// replies it selects, newest first; messages whose text was erased or purged are not
// replies.
func TestReplyListFiltersAndPages(t *testing.T) {
	s, pool, _ := inboxSetup(t)
	ctx := context.Background()
	type row struct {
		inboxRow
		id int64
	}
	var rows []row
	for i := range 24 {
		r := inboxRow{account: int64(1 + i%2), contact: int64(i % 3), campaign: int64(i % 4), text: ptr("thanks"), handled: i%5 == 0}
		rows = append(rows, row{r, insertInbox(t, pool, r)})
	}
	erased := insertInbox(t, pool, inboxRow{account: 1, contact: 1, campaign: 1})

	cases := []struct {
		name string
		f    ReplyFilter
		keep func(inboxRow) bool
	}{
		{"all", ReplyFilter{}, func(inboxRow) bool { return true }},
		{"campaign", ReplyFilter{CampaignID: 1}, func(r inboxRow) bool { return r.campaign == 1 }},
		{"account", ReplyFilter{AccountID: 2}, func(r inboxRow) bool { return r.account == 2 }},
		{"contact", ReplyFilter{ContactID: 2}, func(r inboxRow) bool { return r.contact == 2 }},
		{"handled", ReplyFilter{Handled: ptr(true)}, func(r inboxRow) bool { return r.handled }},
		{"unhandled", ReplyFilter{Handled: ptr(false)}, func(r inboxRow) bool { return !r.handled }},
		{"unhandled of a campaign and account", ReplyFilter{CampaignID: 2, AccountID: 1, Handled: ptr(false)},
			func(r inboxRow) bool { return r.campaign == 2 && r.account == 1 && !r.handled }},
		{"none", ReplyFilter{CampaignID: 99}, func(inboxRow) bool { return false }},
	}
	for _, tc := range cases {
		var want []int64
		for _, r := range slices.Backward(rows) {
			if tc.keep(r.inboxRow) {
				want = append(want, r.id)
			}
		}
		var got []int64
		f := tc.f
		f.Limit = 3
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20, "%s: paging does not end", tc.name)
			list, next, err := s.ReplyList(ctx, f)
			require.NoError(t, err)
			require.LessOrEqual(t, len(list), 3)
			for _, r := range list {
				got = append(got, r.ID)
				require.Equal(t, "thanks", r.Text)
				require.Equal(t, "+6591234567", r.Phone)
			}
			if next == 0 {
				break
			}
			require.Equal(t, list[len(list)-1].ID, next)
			f.Cursor = next
		}
		require.Equal(t, want, got, tc.name)
		require.NotContains(t, got, erased, "%s: a message without its text is no reply", tc.name)
	}

	list, _, err := s.ReplyList(ctx, ReplyFilter{CampaignID: 1, Limit: 1})
	require.NoError(t, err)
	r := list[0]
	require.Equal(t, int64(1), *r.CampaignID)
	require.Equal(t, int64(100), *r.DeliveryID)
	require.Equal(t, ClassNone, r.Class)
	require.Equal(t, r.HandledAt != nil, r.Handled())
}

// TestReplyHandleIsIdempotent: the first handler and time stay; an unknown id and a
// message without its text are not found.
func TestReplyHandleIsIdempotent(t *testing.T) {
	s, pool, now := inboxSetup(t)
	ctx := context.Background()
	id := insertInbox(t, pool, inboxRow{account: 1, contact: 1, text: ptr("when does the sale end?")})

	r, changed, err := s.ReplyHandle(ctx, id, "key:first")
	require.NoError(t, err)
	require.True(t, changed)
	require.True(t, r.Handled())
	require.Equal(t, "key:first", r.HandledBy)
	require.True(t, now.Equal(*r.HandledAt))
	require.Nil(t, r.CampaignID, "a message that answered no campaign message is a reply all the same")

	*now = now.Add(time.Hour)
	again, changed, err := s.ReplyHandle(ctx, id, "key:second")
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, "key:first", again.HandledBy)
	require.True(t, r.HandledAt.Equal(*again.HandledAt))

	list, _, err := s.ReplyList(ctx, ReplyFilter{Handled: ptr(false)})
	require.NoError(t, err)
	require.Empty(t, list)

	_, _, err = s.ReplyHandle(ctx, id+1000, "key:first")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	purged := insertInbox(t, pool, inboxRow{account: 1})
	_, _, err = s.ReplyHandle(ctx, purged, "key:first")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

// TestReplyListUsesItsIndexes: on a few thousand messages, mostly handled and mostly not
// replies to a campaign, each common filter walks its index from the newest end instead of
// reading the table.
func TestReplyListUsesItsIndexes(t *testing.T) {
	_, pool, _ := inboxSetup(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO inbound_messages (account_id, provider_id, from_phone, phone_hash, contact_id, campaign_id, text,
			received_at, handled_at)
		SELECT 1 + i % 3, 'p' || i, '+65' || (90000000 + i), sha256(('p' || i % 2000)::bytea), 1 + i % 2000,
			CASE WHEN i % 5 = 0 THEN 1 + i % 40 END, 'thanks', now(), CASE WHEN i % 50 <> 0 THEN now() END
		FROM generate_series(1, 8000) AS i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE inbound_messages`)
	require.NoError(t, err)

	const custom = `SET LOCAL plan_cache_mode = force_custom_plan`
	var none *bool
	sqltest.CheckPlans(t, pool,
		sqltest.PlanCase{Name: "by campaign", Settings: custom, Stmt: replyList,
			Args: []any{int64(0), int64(5), int64(0), int64(0), none, 51},
			Want: []string{"index=inbound_messages_campaign_idx"}, Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "by campaign, next page", Settings: custom, Stmt: replyList,
			Args: []any{int64(4000), int64(5), int64(0), int64(0), ptr(false), 51},
			Want: []string{"index=inbound_messages_campaign_idx"}, Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "unhandled", Settings: custom, Stmt: replyList,
			Args: []any{int64(0), int64(0), int64(0), int64(0), ptr(false), 51},
			Want: []string{"index=inbound_messages_unhandled_idx"}, Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "by contact", Settings: custom, Stmt: replyList,
			Args: []any{int64(0), int64(0), int64(0), int64(17), none, 51},
			Want: []string{"index=inbound_messages_contact_idx"}, Absent: []string{"Seq Scan"}},
		sqltest.PlanCase{Name: "all", Settings: custom, Stmt: replyList,
			Args: []any{int64(0), int64(0), int64(0), int64(0), none, 51},
			Want: []string{"index=inbound_messages_pkey"}, Absent: []string{"Seq Scan"}},
	)
}
