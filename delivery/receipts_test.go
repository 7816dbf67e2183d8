package delivery_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/internal/testdb"
)

// sent makes the fixture's deliveries ids[i] sent through account 7 with message id
// prefix-i (msgid.Of(ids[i]) with the prefix "keyed"); those at the indexes in pending are
// claimed and their attempt recorded, but their send is not.
func sent(t *testing.T, s *delivery.Sends, ids []int64, prefix string, pending ...int) {
	t.Helper()
	ctx := context.Background()
	for i, id := range ids {
		claimWith(t, s, id, delivery.Attempt{AccountID: 7, Locale: "en", MessageID: messageID(prefix, i, id)})
		isPending := false
		for _, p := range pending {
			isPending = isPending || p == i
		}
		if !isPending {
			require.NoError(t, s.MarkSent(ctx, id, delivery.SentInfo{}))
		}
	}
}

// messageID is the message id sent gives ids[i]: prefix-i, or msgid.Of(id) for "keyed".
func messageID(prefix string, i int, id int64) string {
	if prefix == "keyed" {
		return msgid.Of(id)
	}
	return fmt.Sprintf("%s%d", prefix, i)
}

type event struct {
	Kind   string
	Detail string
	At     time.Time
}

func deliveryEvents(t *testing.T, pool *pgxpool.Pool, id int64) []event {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT kind, detail::text, occurred_at FROM delivery_events WHERE delivery_id = $1 AND kind <> 'sent' ORDER BY id`, id)
	require.NoError(t, err)
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		require.NoError(t, rows.Scan(&e.Kind, &e.Detail, &e.At))
		e.At = e.At.UTC()
		out = append(out, e)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestApplyReceiptsBatch(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	campaignID, ids := sendFixture(t, pool, 6)
	sent(t, s, ids, "m-", 5) // m-5's send is not recorded yet

	t0 := time.Now().UTC().Truncate(time.Millisecond)
	t1 := t0.Add(time.Second)
	rc := func(msg string, kind delivery.ReceiptKind, at time.Time) delivery.Receipt {
		return delivery.Receipt{MessageID: msg, Kind: kind, At: at}
	}
	batch := []delivery.Receipt{
		rc("m-0", delivery.ReceiptDelivered, t0),                                         // 0: delivered, then read, in one batch
		rc("m-0", delivery.ReceiptRead, t1),                                              // 1
		rc("m-1", delivery.ReceiptRead, t0),                                              // 2: read overtook delivered
		rc("m-1", delivery.ReceiptDelivered, t1),                                         // 3: late delivered: nothing new
		rc("m-2", delivery.ReceiptDelivered, t0),                                         // 4
		rc("m-2", delivery.ReceiptFailed, t1),                                            // 5: a failure never undoes a delivery
		{MessageID: "m-3", Kind: delivery.ReceiptFailed, At: t0, Error: "undeliverable"}, // 6: fails a sent message
		rc("nobody's", delivery.ReceiptRead, t0),                                         // 7: no delivery's message: not an error
		rc("m-5", delivery.ReceiptDelivered, t0),                                         // 8: the send is not recorded yet
		rc("m-4", delivery.ReceiptDelivered, t0),                                         // 9
		rc("m-4", delivery.ReceiptDelivered, t1),                                         // 10: a repeat changes nothing
		rc("m-4", "played", t1),                                                          // 11: unknown kind: this receipt's error only
	}
	outs, err := s.ApplyReceipts(ctx, batch)
	require.NoError(t, err)
	require.Len(t, outs, len(batch))

	want := []struct {
		delivery     int // index in ids; -1: not found
		moved, early bool
		err          bool
	}{
		{0, true, false, false}, {0, true, false, false},
		{1, true, false, false}, {1, false, false, false},
		{2, true, false, false}, {2, false, false, false},
		{3, true, false, false},
		{-1, false, false, false},
		{5, false, true, true},
		{4, true, false, false}, {4, false, false, false}, {4, false, false, true},
	}
	for i, w := range want {
		out := outs[i]
		require.Equal(t, w.delivery >= 0, out.Found, "receipt %d", i)
		require.Equal(t, w.moved, out.Moved, "receipt %d", i)
		require.Equal(t, w.early, out.Early(), "receipt %d", i)
		require.Equal(t, w.err, out.Err != nil, "receipt %d: %v", i, out.Err)
		if w.delivery >= 0 {
			require.Equal(t, ids[w.delivery], out.DeliveryID, "receipt %d", i)
			require.Equal(t, campaignID, out.CampaignID, "receipt %d", i)
			require.Equal(t, int64(7), out.AccountID, "receipt %d", i)
		} else {
			require.Zero(t, out.DeliveryID)
		}
	}
	require.ErrorIs(t, outs[8].Err, delivery.ErrReceiptEarly)
	require.ErrorContains(t, outs[11].Err, "unknown receipt kind")

	d := func(i int) delivery.Delivery {
		d, err := s.Delivery(ctx, ids[i])
		require.NoError(t, err)
		return d
	}
	at := func(p *time.Time) time.Time {
		require.NotNil(t, p)
		return p.UTC()
	}
	// m-0: delivered at t0, read at t1.
	require.Equal(t, delivery.StatusRead, d(0).Status)
	require.Equal(t, t0, at(d(0).DeliveredAt))
	require.Equal(t, t1, at(d(0).ReadAt))
	require.Equal(t, []event{{"delivered", "{}", t0}, {"read", "{}", t1}}, deliveryEvents(t, pool, ids[0]))
	// m-1: the read's time is the delivered time too; the late delivered adds nothing.
	require.Equal(t, delivery.StatusRead, d(1).Status)
	require.Equal(t, t0, at(d(1).DeliveredAt))
	require.Equal(t, t0, at(d(1).ReadAt))
	require.Equal(t, []event{{"read", "{}", t0}}, deliveryEvents(t, pool, ids[1]))
	// m-2: delivered, the failure ignored.
	require.Equal(t, delivery.StatusDelivered, d(2).Status)
	require.Nil(t, d(2).FailedAt)
	require.Equal(t, []event{{"delivered", "{}", t0}}, deliveryEvents(t, pool, ids[2]))
	// m-3: failed, with the reason.
	require.Equal(t, delivery.StatusFailed, d(3).Status)
	require.Equal(t, t0, at(d(3).FailedAt))
	require.Equal(t, "undeliverable", d(3).Error)
	require.Equal(t, []event{{"failed", `{"error": "undeliverable"}`, t0}}, deliveryEvents(t, pool, ids[3]))
	// m-4: delivered once.
	require.Equal(t, delivery.StatusDelivered, d(4).Status)
	require.Equal(t, []event{{"delivered", "{}", t0}}, deliveryEvents(t, pool, ids[4]))
	// m-5: untouched until its send is recorded.
	require.Equal(t, delivery.StatusSending, d(5).Status)
	require.Nil(t, d(5).DeliveredAt)
	require.Empty(t, deliveryEvents(t, pool, ids[5]))

	// The same batch again (a retried task) changes nothing; once m-5's send is recorded
	// its receipt applies.
	require.NoError(t, s.MarkSent(ctx, ids[5], delivery.SentInfo{}))
	outs, err = s.ApplyReceipts(ctx, batch)
	require.NoError(t, err)
	for i, out := range outs {
		require.Equal(t, i == 8, out.Moved, "receipt %d", i)
		require.False(t, out.Early(), "receipt %d", i)
	}
	for i := range 5 {
		require.Len(t, deliveryEvents(t, pool, ids[i]), []int{2, 1, 1, 1, 1}[i], "delivery %d", i)
	}
	require.Equal(t, delivery.StatusDelivered, d(5).Status)
	require.Equal(t, []event{{"delivered", "{}", t0}}, deliveryEvents(t, pool, ids[5]))

	// An empty batch is nothing to do.
	outs, err = s.ApplyReceipts(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, outs)
}

// TestApplyReceiptsConcurrentBatches applies overlapping batches, each in its own shuffled
// order, at once: every batch succeeds (none deadlocks on another) and, the deliveries being
// locked, each change is applied and logged once.
func TestApplyReceiptsConcurrentBatches(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	const n = 40
	_, ids := sendFixture(t, pool, n)
	// Half the messages have ids made from their delivery ids, half older ids: the two
	// are locked by two statements, and concurrent batches must still not deadlock.
	sent(t, s, ids[:n/2], "keyed")
	sent(t, s, ids[n/2:], "c-")
	messageIDs := make([]string, n)
	for i, id := range ids {
		if i < n/2 {
			messageIDs[i] = messageID("keyed", i, id)
		} else {
			messageIDs[i] = messageID("c-", i-n/2, id)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			batch := make([]delivery.Receipt, 0, n)
			for _, i := range rng.Perm(n) {
				kind := delivery.ReceiptDelivered
				if g%2 == 1 {
					kind = delivery.ReceiptRead
				}
				batch = append(batch, delivery.Receipt{MessageID: messageIDs[i], Kind: kind})
			}
			_, err := s.ApplyReceipts(ctx, batch)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, id := range ids {
		d, err := s.Delivery(ctx, id)
		require.NoError(t, err)
		require.Equal(t, delivery.StatusRead, d.Status)
		evs := deliveryEvents(t, pool, id)
		require.NotEmpty(t, evs)
		require.LessOrEqual(t, len(evs), 2, "at most one delivered and one read event")
		require.Equal(t, "read", evs[len(evs)-1].Kind)
	}
}

// A receipt finds its delivery by the delivery id its message id was made from, and an
// older message id (18 digits, a hash, from before migration 00010) through the index of
// those. A message id that names a delivery not sent under it finds nothing.
func TestApplyReceiptsFindsKeyedAndOlderIDs(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	_, ids := sendFixture(t, pool, 4)
	older := "3EB0" + "0123456789ABCDEF01"
	sent(t, s, ids[:1], "keyed")
	claimWith(t, s, ids[1], delivery.Attempt{AccountID: 7, Locale: "en", MessageID: older})
	require.NoError(t, s.MarkSent(ctx, ids[1], delivery.SentInfo{}))
	sent(t, s, ids[2:3], "x-") // sent under "x-0", not under msgid.Of(ids[2])

	outs, err := s.ApplyReceipts(ctx, []delivery.Receipt{
		{MessageID: msgid.Of(ids[0]), Kind: delivery.ReceiptDelivered},
		{MessageID: older, Kind: delivery.ReceiptRead},
		{MessageID: msgid.Of(ids[2]), Kind: delivery.ReceiptRead},
		{MessageID: msgid.Of(ids[3] + 1000), Kind: delivery.ReceiptRead}, // no such delivery
	})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false, false}, []bool{outs[0].Found, outs[1].Found, outs[2].Found, outs[3].Found})
	require.Equal(t, ids[0], outs[0].DeliveryID)
	require.Equal(t, ids[1], outs[1].DeliveryID)
	for i, want := range []delivery.Status{delivery.StatusDelivered, delivery.StatusRead, delivery.StatusSent} {
		d, err := s.Delivery(ctx, ids[i])
		require.NoError(t, err)
		require.Equal(t, want, d.Status, "delivery %d", i)
	}

	// The older ids' index is the one the look-up names, and it holds no new id.
	var pred string
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'deliveries_legacy_message_idx'::regclass`).Scan(&pred))
	require.Contains(t, pred, "'"+msgid.Pattern+"'")
	var entries int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE message_id !~ '`+msgid.Pattern+`'`).Scan(&entries))
	require.Equal(t, 2, entries, "the older id and x-0")
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, `EXPLAIN SELECT id FROM deliveries d
		WHERE d.message_id = ANY ('{x}') AND d.message_id !~ '`+msgid.Pattern+`'`)
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, strings.Join(plan, "\n"), "deliveries_legacy_message_idx")
}

// A receipt's update must be able to be HOT (no new index entries, the new row version on
// the same page): no index of deliveries may use, as a key, in an expression or in a
// predicate, a column that a receipt changes. migrations/00009 explains why.
func TestReceiptColumnsAreInNoIndex(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	rows, err := pool.Query(context.Background(), `
		SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = 'deliveries'::regclass
		UNION -- the columns of expressions and predicates
		SELECT a.attname FROM pg_index i
		JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
		                AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid AND d.refobjsubid > 0
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = d.refobjsubid
		WHERE i.indrelid = 'deliveries'::regclass`)
	require.NoError(t, err)
	indexed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	// Key columns and predicate columns alike.
	require.Subset(t, indexed, []string{"id", "run_id", "message_id", "pending", "sending_since", "enqueued_at"})
	for _, written := range []string{"status", "updated_at", "delivered_at", "read_at", "failed_at", "error"} {
		require.NotContains(t, indexed, written, "a receipt writes %s, so an index on it makes every receipt a non-HOT update", written)
	}
}
