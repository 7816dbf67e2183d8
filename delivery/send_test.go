package delivery_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/sender"
)

// sendFixture makes a campaign with one run and n queued deliveries (contacts 1..n) and
// returns their ids. The rows are written directly: these tests are about the send-side
// transitions, not launch.
func sendFixture(t *testing.T, pool *pgxpool.Pool, n int) (campaignID int64, ids []int64) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pool.QueryRow(ctx, `
		WITH tpl AS (INSERT INTO templates (name, category, locales) VALUES ('t-' || clock_timestamp(), 'marketing', '[]') RETURNING id)
		INSERT INTO campaigns (name, template_id, status) SELECT 'c', id, 'running' FROM tpl RETURNING id`).Scan(&campaignID))
	rows, err := pool.Query(ctx, `
		WITH run AS (INSERT INTO campaign_runs (campaign_id, run_at, status) VALUES ($1, now(), 'running') RETURNING id)
		INSERT INTO deliveries (run_id, campaign_id, contact_id, status, due_at)
		SELECT run.id, $1, g, 'queued', now() FROM run, generate_series(1, $2) g RETURNING id`, campaignID, n)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return campaignID, ids
}

// claimWith claims a delivery and records the attempt, as a worker does.
func claimWith(t *testing.T, s *delivery.Sends, id int64, a delivery.Attempt) delivery.Delivery {
	t.Helper()
	res, err := s.ClaimMany(context.Background(), []delivery.ClaimRequest{{ID: id, Attempt: a}}, time.Now(), consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.Equal(t, a.MessageID, res[0].Delivery.MessageID)
	return res[0].Delivery
}

func TestSendClaimIsExclusiveAndRefusesFinal(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	_, ids := sendFixture(t, pool, 2)

	d, err := s.Claim(ctx, ids[0], time.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.Equal(t, delivery.StatusSending, d.Status)
	require.Equal(t, 1, d.Attempts)
	_, err = s.Claim(ctx, ids[0], time.Now().Add(-time.Minute))
	require.ErrorIs(t, err, delivery.ErrDeliveryBusy, "a second worker may not take it")
	// A worker that died holding it: claimable again once stale.
	res, err := s.ClaimMany(ctx, []delivery.ClaimRequest{{ID: ids[0], Attempt: delivery.Attempt{AccountID: 7, Locale: "en", Variant: 1, MessageID: "m-1"}}},
		time.Now().Add(time.Second), consent.WhatsApp, consent.Marketing)
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.Equal(t, 2, res[0].Delivery.Attempts)
	require.Equal(t, "m-1", res[0].Delivery.MessageID)
	require.NoError(t, s.MarkSent(ctx, ids[0], delivery.SentInfo{ProviderID: "m-1", Rendered: "hi"}))
	_, err = s.Claim(ctx, ids[0], time.Now().Add(time.Hour))
	require.ErrorIs(t, err, delivery.ErrDeliveryFinal, "a sent delivery is never claimed again")
	require.ErrorIs(t, s.MarkSent(ctx, ids[0], delivery.SentInfo{}), delivery.ErrDeliveryFinal)

	require.NoError(t, s.Settle(ctx, ids[1], delivery.Skipped(delivery.SkipWithdrawn)))
	_, err = s.Claim(ctx, ids[1], time.Now().Add(time.Hour))
	require.ErrorIs(t, err, delivery.ErrDeliveryFinal)
}

func TestSendReleaseKeepsTheAccountOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	_, ids := sendFixture(t, pool, 2)
	for i, keep := range []bool{true, false} {
		claimWith(t, s, ids[i], delivery.Attempt{AccountID: 3, Locale: "en", Variant: 0, MessageID: "m" + string(rune('a'+i))})
		require.NoError(t, s.Settle(ctx, ids[i], delivery.Released(keep, "transient")))
		d, err := s.Delivery(ctx, ids[i])
		require.NoError(t, err)
		require.Equal(t, delivery.StatusQueued, d.Status)
		require.Equal(t, keep, d.AccountID != nil)
		require.NotEmpty(t, d.MessageID, "the message id stays: a retry is the same message")
	}
}

func TestReceiptsNeverMoveBackwards(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	_, ids := sendFixture(t, pool, 2)

	// Before the send is recorded, a receipt waits.
	claimWith(t, s, ids[0], delivery.Attempt{AccountID: 1, Locale: "en", MessageID: "m-0"})
	_, err := s.ApplyReceipt(ctx, delivery.Receipt{MessageID: "m-0", Kind: delivery.ReceiptDelivered})
	require.True(t, errors.Is(err, delivery.ErrReceiptEarly))
	require.NoError(t, s.MarkSent(ctx, ids[0], delivery.SentInfo{}))

	at := time.Now().UTC().Truncate(time.Millisecond)
	steps := []struct {
		kind   delivery.ReceiptKind
		status delivery.Status
		moved  bool
	}{
		{delivery.ReceiptRead, delivery.StatusRead, true},       // read overtook delivered
		{delivery.ReceiptDelivered, delivery.StatusRead, false}, // late delivered: recorded, not backwards
		{delivery.ReceiptFailed, delivery.StatusRead, false},    // a failure never undoes a read
		{delivery.ReceiptRead, delivery.StatusRead, false},      // a repeat changes nothing
	}
	for i, st := range steps {
		out, err := s.ApplyReceipt(ctx, delivery.Receipt{MessageID: "m-0", Kind: st.kind, At: at.Add(time.Duration(i) * time.Second)})
		require.NoError(t, err)
		require.True(t, out.Found)
		require.Equal(t, st.moved, out.Moved, "step %d", i)
		d, err := s.Delivery(ctx, ids[0])
		require.NoError(t, err)
		require.Equal(t, st.status, d.Status, "step %d", i)
	}
	d, err := s.Delivery(ctx, ids[0])
	require.NoError(t, err)
	require.NotNil(t, d.DeliveredAt, "a read message was delivered")
	require.NotNil(t, d.ReadAt)
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE delivery_id = $1 AND kind IN ('read', 'delivered')`, ids[0]).Scan(&events))
	require.Equal(t, 1, events, "one event per receipt that changed something")

	// A failed receipt fails a sent message; an unknown message id is not an error.
	claimWith(t, s, ids[1], delivery.Attempt{AccountID: 1, Locale: "en", MessageID: "m-1"})
	require.NoError(t, s.MarkSent(ctx, ids[1], delivery.SentInfo{}))
	out, err := s.ApplyReceipt(ctx, delivery.Receipt{MessageID: "m-1", Kind: delivery.ReceiptFailed, Error: "undeliverable"})
	require.NoError(t, err)
	require.True(t, out.Moved)
	out, err = s.ApplyReceipt(ctx, delivery.Receipt{MessageID: "nobody's", Kind: delivery.ReceiptRead})
	require.NoError(t, err)
	require.False(t, out.Found)
}

func TestRecordReplyCountsOnTheLatestMessageOnce(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	campaignID, ids := sendFixture(t, pool, 1)
	// The customer's messages, as consent records them (contact 1).
	inbound := make([]int64, 4)
	for i := range inbound {
		require.NoError(t, pool.QueryRow(ctx, `
			INSERT INTO inbound_messages (account_id, provider_id, phone_hash, contact_id, text, received_at)
			VALUES (1, $1, '\x00', 1, 'thanks', now()) RETURNING id`, "in-"+strconv.Itoa(i)).Scan(&inbound[i]))
	}
	attributed := func(id int64) (deliveryID, campaign *int64) {
		t.Helper()
		require.NoError(t, pool.QueryRow(ctx, `SELECT delivery_id, campaign_id FROM inbound_messages WHERE id = $1`, id).
			Scan(&deliveryID, &campaign))
		return deliveryID, campaign
	}

	_, ok, err := s.RecordReply(ctx, inbound[0], 1, time.Now(), time.Hour, false)
	require.NoError(t, err)
	require.False(t, ok, "nothing sent to the contact yet")
	d, c := attributed(inbound[0])
	require.Nil(t, d)
	require.Nil(t, c, "a message that answers no campaign message is not attributed")

	_, err = s.Claim(ctx, ids[0], time.Now())
	require.NoError(t, err)
	require.NoError(t, s.MarkSent(ctx, ids[0], delivery.SentInfo{SentAt: time.Now().Add(-time.Minute)}))
	r, ok, err := s.RecordReply(ctx, inbound[1], 1, time.Now(), time.Hour, true)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, r.First)
	require.Equal(t, ids[0], r.DeliveryID)
	require.Equal(t, campaignID, r.CampaignID)
	r, ok, err = s.RecordReply(ctx, inbound[2], 1, time.Now(), time.Hour, true)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, r.First, "a repeated reply is not counted again")
	for _, id := range inbound[1:3] {
		d, c := attributed(id)
		require.NotNil(t, d, "every reply is attributed, not only the first")
		require.Equal(t, ids[0], *d)
		require.Equal(t, campaignID, *c)
	}
	_, ok, err = s.RecordReply(ctx, inbound[3], 1, time.Now().Add(3*time.Hour), time.Hour, false)
	require.NoError(t, err)
	require.False(t, ok, "outside the window")
	d, _ = attributed(inbound[3])
	require.Nil(t, d)
	var counted int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE delivery_id = $1 AND kind = 'replied'`, ids[0]).Scan(&counted))
	require.Equal(t, 1, counted)
}

// TestSentSinceSeedsTheLimiter: SentSince counts what the account's daily counter counts
// (sent since the day began, and in flight with the account pinned), and seeding a counter
// that Redis lost with it lets the account send only the rest of its cap: 5, of which 3
// count already.
func TestSentSinceSeedsTheLimiter(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := delivery.New(pool, delivery.Options{})
	ctx := context.Background()
	_, ids := sendFixture(t, pool, 8)
	dayStart := time.Now().UTC().Truncate(24 * time.Hour)
	send := func(id, account int64, at time.Time) {
		t.Helper()
		claimWith(t, s, id, delivery.Attempt{AccountID: account, Locale: "en", MessageID: "m" + strconv.FormatInt(id, 10)})
		if !at.IsZero() {
			require.NoError(t, s.MarkSent(ctx, id, delivery.SentInfo{SentAt: at}))
		}
	}
	send(ids[0], 7, dayStart.Add(time.Second))  // counted
	send(ids[1], 7, dayStart.Add(-time.Second)) // yesterday
	send(ids[2], 8, dayStart.Add(time.Second))  // another account
	send(ids[3], 7, time.Time{})                // in flight: counted
	send(ids[4], 7, time.Time{})                // transient failure, retried through 7: counted
	require.NoError(t, s.Settle(ctx, ids[4], delivery.Released(true, "timeout")))
	send(ids[5], 7, time.Time{}) // the account failed; another account retries it
	require.NoError(t, s.Settle(ctx, ids[5], delivery.Released(false, "account failure")))
	_, err := s.Claim(ctx, ids[6], time.Now()) // claimed, no account chosen yet
	require.NoError(t, err)

	n, err := s.SentSince(ctx, 7, dayStart)
	require.NoError(t, err)
	require.Equal(t, 3, n)

	rdb := testredis.New(t)
	lim := sender.NewLimiter(rdb, sender.LimiterOptions{})
	limits := sender.AccountLimits{RatePerMinute: 6_000_000, DailyCap: 5}
	require.NoError(t, rdb.FlushDB(ctx).Err())
	_, err = lim.SeedDay(ctx, 7, limits, s.SentSince)
	require.NoError(t, err)
	granted := 0
	for {
		d, err := lim.Wait(ctx, 7, limits, time.Second)
		require.NoError(t, err)
		if !d.Allowed {
			require.Equal(t, sender.LimitedByDailyCap, d.Reason)
			break
		}
		granted++
		require.LessOrEqual(t, granted, 5)
	}
	require.Equal(t, 2, granted)
}
