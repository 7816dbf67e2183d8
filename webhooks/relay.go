package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Relay turns the logs into deliveries. Each Step reads, from each log, the rows recorded
// since the last step and before a watermark, writes one delivery per event and endpoint
// that wants it, moves the log's read position, and queues the new deliveries.
//
// Why by time, and why the watermark: ids and recorded times are taken when a row is
// written, but the row is seen when its transaction commits, so reading "after the last id
// seen" skips the rows of a transaction that commits late. recorded_at defaults to now(),
// its transaction's start; so once every transaction that started before a time W has
// ended, no row recorded before W can still appear. The watermark is the earlier of the
// database's clock less RelayLag and the start of the oldest transaction open in the
// database, read from pg_stat_activity (which shows a role's own sessions, so Crier's
// processes must share one role or be granted pg_read_all_stats). A transaction held
// open for long therefore holds the events back; it never loses them.
//
// A campaign run's completed_at is set from the application's clock, not now(): its
// source reads further behind, by goClockMargin, for clocks that drift apart.
type Relay struct {
	pool *pgxpool.Pool
	opts Options
}

// NewRelay returns the relay; opts.Queue is required.
func NewRelay(pool *pgxpool.Pool, opts Options) *Relay {
	opts.setDefaults()
	return &Relay{pool: pool, opts: opts}
}

const (
	// relayLock is the advisory lock that makes one step run at a time, should two
	// schedulers overlap at a hand-over.
	relayLock = 0x637277686b // "crwhk"
	// goClockMargin: how far behind the watermark a log written with the application's
	// clock is read.
	goClockMargin = 5 * time.Second
	// sweepAge: a pending delivery due longer ago than this lost its task.
	sweepAge   = time.Minute
	sweepBatch = 1000
)

// relayed is one event read from a log, with its data as endpoints with and without
// personal data receive it.
type relayed struct {
	id         string
	typ        EventType
	occurredAt time.Time
	recordedAt time.Time
	data       any
	plain      any
}

// source is one log the relay reads.
type source struct {
	name  string
	types []EventType
	// goClock: its time column is set from the application's clock (goClockMargin).
	goClock bool
	// read returns the rows recorded in [from, to) of the wanted types, in recorded order,
	// at most limit (0: all), with personal data if pii.
	read func(ctx context.Context, tx pgx.Tx, from, to time.Time, limit int, want []EventType, pii bool) ([]relayed, error)
}

var sources = []source{
	{name: "delivery_events", types: []EventType{MessageSent, MessageDelivered, MessageRead, MessageFailed, MessageReplied}, read: readDeliveryEvents},
	{name: "consent_ledger", types: []EventType{ContactOptedOut, ContactOptedIn}, read: readLedger},
	{name: "campaign_runs", types: []EventType{CampaignCompleted}, goClock: true, read: readRuns},
	{name: "contact_imports", types: []EventType{ImportCompleted}, read: readImports},
}

// limitArg is a LIMIT parameter: NULL is no limit.
func limitArg(limit int) *int {
	if limit <= 0 {
		return nil
	}
	return &limit
}

var kindTypes = map[string]EventType{"sent": MessageSent, "delivered": MessageDelivered, "read": MessageRead,
	"failed": MessageFailed, "replied": MessageReplied}

// readDeliveryEvents reads the message events. The reply's text is the latest customer
// message counted on the delivery (found through the contact's index).
func readDeliveryEvents(ctx context.Context, tx pgx.Tx, from, to time.Time, limit int, want []EventType, pii bool) ([]relayed, error) {
	var kinds []string
	for k, t := range kindTypes {
		if slices.Contains(want, t) {
			kinds = append(kinds, k)
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT e.id, e.kind, e.occurred_at, e.recorded_at, d.id, d.campaign_id, d.run_id, d.contact_id, d.account_id,
		       CASE WHEN $5 THEN c.phone END,
		       CASE WHEN NOT $5 THEN NULL
		            WHEN e.kind = 'replied' THEN (SELECT i.text FROM inbound_messages i
		                WHERE i.contact_id = d.contact_id AND i.delivery_id = d.id ORDER BY i.id DESC LIMIT 1)
		            ELSE d.rendered END,
		       CASE WHEN $5 AND e.kind = 'failed' THEN coalesce(nullif(e.detail->>'error', ''), d.error) END
		FROM delivery_events e
		JOIN deliveries d ON d.id = e.delivery_id
		LEFT JOIN contacts c ON c.id = d.contact_id
		WHERE e.recorded_at >= $1 AND e.recorded_at < $2 AND e.kind = ANY($3)
		ORDER BY e.recorded_at
		LIMIT $4`, from, to, kinds, limitArg(limit), pii)
	if err != nil {
		return nil, err
	}
	var out []relayed
	var id int64
	var kind string
	var r relayed
	var m MessageData
	_, err = pgx.ForEachRow(rows, []any{&id, &kind, &r.occurredAt, &r.recordedAt, &m.DeliveryID, &m.CampaignID, &m.RunID,
		&m.ContactID, &m.AccountID, &m.Phone, &m.Text, &m.Error}, func() error {
		r.id, r.typ = "evt_de_"+strconv.FormatInt(id, 10), kindTypes[kind]
		plain := m
		plain.Phone, plain.Text, plain.Error = nil, nil, nil
		r.data, r.plain = m, plain
		out = append(out, r)
		return nil
	})
	return out, err
}

// readLedger reads consent withdrawals and grants. Grants recorded by a CSV import are
// left out: an import records one per line, a million at once, and import.completed
// tells of it.
func readLedger(ctx context.Context, tx pgx.Tx, from, to time.Time, limit int, want []EventType, pii bool) ([]relayed, error) {
	var statuses []string
	if slices.Contains(want, ContactOptedOut) {
		statuses = append(statuses, "withdrawn")
	}
	if slices.Contains(want, ContactOptedIn) {
		statuses = append(statuses, "granted")
	}
	rows, err := tx.Query(ctx, `
		SELECT l.id, l.status, l.occurred_at, l.recorded_at, l.contact_id, l.channel, l.purpose, l.source,
		       CASE WHEN $5 THEN c.phone END
		FROM consent_ledger l
		LEFT JOIN contacts c ON c.id = l.contact_id
		WHERE l.recorded_at >= $1 AND l.recorded_at < $2 AND l.status = ANY($3)
		  AND NOT (l.status = 'granted' AND l.source = 'import')
		ORDER BY l.recorded_at
		LIMIT $4`, from, to, statuses, limitArg(limit), pii)
	if err != nil {
		return nil, err
	}
	var out []relayed
	var status string
	var r relayed
	var c ContactData
	_, err = pgx.ForEachRow(rows, []any{&c.LedgerID, &status, &r.occurredAt, &r.recordedAt, &c.ContactID, &c.Channel,
		&c.Purpose, &c.Source, &c.Phone}, func() error {
		r.id, r.typ = "evt_cl_"+strconv.FormatInt(c.LedgerID, 10), ContactOptedIn
		if status == "withdrawn" {
			r.typ = ContactOptedOut
		}
		plain := c
		plain.Phone = nil
		r.data, r.plain = c, plain
		out = append(out, r)
		return nil
	})
	return out, err
}

// readRuns reads the campaign runs completed (not cancelled).
func readRuns(ctx context.Context, tx pgx.Tx, from, to time.Time, limit int, _ []EventType, _ bool) ([]relayed, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, campaign_id, completed_at, matched, eligible
		FROM campaign_runs
		WHERE status = 'completed' AND completed_at >= $1 AND completed_at < $2
		ORDER BY completed_at
		LIMIT $3`, from, to, limitArg(limit))
	if err != nil {
		return nil, err
	}
	var out []relayed
	var c CampaignData
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&c.RunID, &c.CampaignID, &at, &c.Matched, &c.Eligible}, func() error {
		out = append(out, relayed{id: "evt_cr_" + strconv.FormatInt(c.RunID, 10), typ: CampaignCompleted,
			occurredAt: at, recordedAt: at, data: c, plain: c})
		return nil
	})
	return out, err
}

// readImports reads the CSV imports that ended, done or failed.
func readImports(ctx context.Context, tx pgx.Tx, from, to time.Time, limit int, _ []EventType, _ bool) ([]relayed, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, status, finished_at, rows, created, updated, unchanged, rejected, duplicates
		FROM contact_imports
		WHERE status IN ('done', 'failed') AND finished_at >= $1 AND finished_at < $2
		ORDER BY finished_at
		LIMIT $3`, from, to, limitArg(limit))
	if err != nil {
		return nil, err
	}
	var out []relayed
	var d ImportData
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&d.ImportID, &d.Status, &at, &d.Rows, &d.Created, &d.Updated, &d.Unchanged,
		&d.Rejected, &d.Duplicates}, func() error {
		out = append(out, relayed{id: "evt_ci_" + strconv.FormatInt(d.ImportID, 10), typ: ImportCompleted,
			occurredAt: at, recordedAt: at, data: d, plain: d})
		return nil
	})
	return out, err
}

// subscriber is an enabled endpoint, as the relay needs it.
type subscriber struct {
	id     int64
	events []EventType
	pii    bool
}

// watermarkSQL: see Relay. Autovacuum and other background processes write no log rows,
// so only client sessions count.
const watermarkSQL = `
SELECT least(now() - make_interval(secs => $1),
             (SELECT min(xact_start) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()
                AND backend_type = 'client backend' AND xact_start IS NOT NULL))`

// Step relays what the logs recorded since the last step, then queues again the pending
// deliveries whose task was lost. It returns how many deliveries it created.
func (r *Relay) Step(ctx context.Context) (int, error) {
	var created []int64
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		created = created[:0]
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(relayLock)).Scan(&locked); err != nil || !locked {
			return err // another step is running
		}
		var watermark time.Time
		if err := tx.QueryRow(ctx, watermarkSQL, r.opts.RelayLag.Seconds()).Scan(&watermark); err != nil {
			return fmt.Errorf("watermark: %w", err)
		}
		subs, err := subscribers(ctx, tx)
		if err != nil {
			return err
		}
		positions := map[string]time.Time{}
		rows, err := tx.Query(ctx, `SELECT source, read_until FROM webhook_relay`)
		if err != nil {
			return err
		}
		var name string
		var at time.Time
		if _, err := pgx.ForEachRow(rows, []any{&name, &at}, func() error { positions[name] = at; return nil }); err != nil {
			return err
		}
		for _, src := range sources {
			to := watermark
			if src.goClock {
				to = to.Add(-goClockMargin)
			}
			from, known := positions[src.name]
			var want []EventType
			pii := false
			for _, s := range subs {
				for _, t := range s.events {
					if slices.Contains(src.types, t) && !slices.Contains(want, t) {
						want = append(want, t)
					}
				}
				pii = pii || s.pii
			}
			until := to
			if known && len(want) > 0 && to.After(from) {
				var ids []int64
				ids, until, err = r.relaySource(ctx, tx, src, subs, from, to, want, pii)
				if err != nil {
					return fmt.Errorf("%s: %w", src.name, err)
				}
				created = append(created, ids...)
			}
			// Never backwards: a clock stepped back must not relay anything twice.
			if _, err := tx.Exec(ctx, `
				INSERT INTO webhook_relay (source, read_until) VALUES ($1, $2)
				ON CONFLICT (source) DO UPDATE SET read_until = greatest(webhook_relay.read_until, excluded.read_until),
					updated_at = now()`, src.name, until); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("webhooks: relay: %w", err)
	}
	now := r.opts.Now()
	for _, id := range created {
		// A failure leaves the delivery pending and due: the sweep queues it.
		_ = r.opts.Queue.EnqueueWebhook(ctx, id, "0", now)
	}
	if err := r.sweep(ctx, now); err != nil {
		return len(created), fmt.Errorf("webhooks: sweep: %w", err)
	}
	return len(created), nil
}

// relaySource relays one log's rows in [from, to) and returns the deliveries created and
// how far it read: to, or when the batch is full, the time of its last row (rows recorded
// at that same time are read again next step, and the event ids make that harmless).
func (r *Relay) relaySource(ctx context.Context, tx pgx.Tx, src source, subs []subscriber, from, to time.Time,
	want []EventType, pii bool) ([]int64, time.Time, error) {
	events, err := src.read(ctx, tx, from, to, r.opts.RelayBatch, want, pii)
	if err != nil {
		return nil, from, err
	}
	until := to
	if len(events) == r.opts.RelayBatch {
		until = events[len(events)-1].recordedAt
		if !until.After(from) {
			// A whole batch recorded at one instant (one transaction): read that instant
			// whole, or the position would never move.
			next := from.Add(time.Microsecond)
			if events, err = src.read(ctx, tx, from, next, 0, want, pii); err != nil {
				return nil, from, err
			}
			until = next
		}
	}
	var endpoints []int64
	var ids, types, payloads []string
	for _, ev := range events {
		for _, s := range subs {
			if !slices.Contains(s.events, ev.typ) {
				continue
			}
			data := ev.plain
			if s.pii {
				data = ev.data
			}
			d, err := json.Marshal(data)
			if err != nil {
				return nil, from, err
			}
			p, err := json.Marshal(Event{ID: ev.id, Type: ev.typ, OccurredAt: ev.occurredAt.UTC(), Data: d})
			if err != nil {
				return nil, from, err
			}
			endpoints, ids, types, payloads = append(endpoints, s.id), append(ids, ev.id), append(types, string(ev.typ)), append(payloads, string(p))
		}
	}
	if len(endpoints) == 0 {
		return nil, until, nil
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, next_attempt_at, created_at)
		SELECT e, i, t, p::jsonb, $5, $5 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(e, i, t, p)
		ON CONFLICT (endpoint_id, event_id) DO NOTHING
		RETURNING id`, endpoints, ids, types, payloads, r.opts.Now())
	if err != nil {
		return nil, from, err
	}
	created, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return created, until, err
}

// subscribers returns the enabled endpoints.
func subscribers(ctx context.Context, tx pgx.Tx) ([]subscriber, error) {
	rows, err := tx.Query(ctx, `SELECT id, events, include_pii FROM webhook_endpoints WHERE enabled ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (subscriber, error) {
		var s subscriber
		var events []string
		err := row.Scan(&s.id, &events, &s.pii)
		for _, e := range events {
			s.events = append(s.events, EventType(e))
		}
		return s, err
	})
}

// sweep queues again the pending deliveries due for more than sweepAge: Redis lost their
// task, or refused it.
func (r *Relay) sweep(ctx context.Context, now time.Time) error {
	rows, err := r.pool.Query(ctx, `
		SELECT id, attempts FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at < $1
		ORDER BY next_attempt_at LIMIT $2`, now.Add(-sweepAge), sweepBatch)
	if err != nil {
		return err
	}
	var id int64
	var attempts int
	type due struct {
		id       int64
		attempts int
	}
	var list []due
	if _, err := pgx.ForEachRow(rows, []any{&id, &attempts}, func() error {
		list = append(list, due{id, attempts})
		return nil
	}); err != nil {
		return err
	}
	for _, d := range list {
		if err := r.opts.Queue.EnqueueWebhook(ctx, d.id, strconv.Itoa(d.attempts), now); err != nil {
			return err
		}
	}
	return nil
}
