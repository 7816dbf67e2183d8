package sandbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/batch"
)

// errClosed fails sends after Close.
var errClosed = errors.New("sandbox: the network is closed")

// writerLinger is how long the writer waits for more messages before an INSERT that would
// not be full. Sends arrive in bursts (a worker's batch of claims), and an INSERT with its
// commit costs PostgreSQL about as much for one row as for dozens.
const writerLinger = 5 * time.Millisecond

// writer stores messages with group commit (internal/batch): a send waits until its row is
// in PostgreSQL, but the sends that arrive while one INSERT runs, or within the linger,
// share the next, so that the network keeps up with any number of workers and a message it
// accepted is never lost to a crash.
type writer struct {
	pool    *pgxpool.Pool
	inserts *batch.Batcher[message, struct{}]

	mu     sync.RWMutex // write holds it shared while it waits; close, exclusively
	closed bool
}

type message struct {
	id        string
	accountID int64
	to, text  string
	sentAt    time.Time
}

func newWriter(pool *pgxpool.Pool, max int) *writer {
	w := &writer{pool: pool}
	w.inserts = batch.New(w.flush, batch.Options{MaxSize: max, Timeout: 30 * time.Second, Linger: writerLinger})
	return w
}

// write stores m and returns once it is committed.
func (w *writer) write(ctx context.Context, m message) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return errClosed
	}
	_, err := w.inserts.Do(ctx, m)
	return err
}

func (w *writer) flush(ctx context.Context, ms []message) ([]batch.Result[struct{}], error) {
	n := len(ms)
	ids, accounts, tos, texts, times := make([]string, n), make([]int64, n), make([]string, n), make([]string, n), make([]time.Time, n)
	for i, m := range ms {
		ids[i], accounts[i], tos[i], texts[i], times[i] = m.id, m.accountID, m.to, m.text, m.sentAt
	}
	_, err := w.pool.Exec(ctx, `
		INSERT INTO sandbox_messages (id, account_id, to_phone, text, sent_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[])
		ON CONFLICT (id) DO NOTHING`, ids, accounts, tos, texts, times)
	if err != nil {
		return nil, err
	}
	return make([]batch.Result[struct{}], n), nil
}

// close fails the writes that come after it, once the ones under way are stored.
func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
