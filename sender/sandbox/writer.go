package sandbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// errClosed fails sends after Close.
var errClosed = errors.New("sandbox: the network is closed")

// writer stores messages with group commit: a send waits until its row is in PostgreSQL,
// but the sends that arrive while one INSERT runs share the next, so that batches grow
// with the load without any waiting, the network keeps up with any number of workers, and
// a message it accepted is never lost to a crash.
type writer struct {
	pool *pgxpool.Pool
	max  int
	reqs chan *writeReq
	stop chan struct{}
	// exited closes when run has returned: a request queued after its last drain is
	// never answered, so write stops waiting then.
	exited chan struct{}
	once   sync.Once
}

type message struct {
	id        string
	accountID int64
	to, text  string
	sentAt    time.Time
}

type writeReq struct {
	m    message
	done chan error
}

func newWriter(pool *pgxpool.Pool, max int) *writer {
	w := &writer{pool: pool, max: max, reqs: make(chan *writeReq, max), stop: make(chan struct{}), exited: make(chan struct{})}
	go w.run()
	return w
}

// write stores m and returns once it is committed.
func (w *writer) write(ctx context.Context, m message) error {
	req := &writeReq{m: m, done: make(chan error, 1)}
	select {
	case w.reqs <- req:
	case <-w.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-w.exited:
		select {
		case err := <-req.done:
			return err
		default:
			return errClosed
		}
	case <-ctx.Done():
		// The row may still be written; the message id keeps a retry from doubling it.
		return ctx.Err()
	}
}

func (w *writer) run() {
	defer close(w.exited)
	batch := make([]*writeReq, 0, w.max)
	for {
		select {
		case req := <-w.reqs:
			batch = append(batch[:0], req)
		case <-w.stop:
			w.drain()
			return
		}
	gather:
		for len(batch) < w.max {
			select {
			case req := <-w.reqs:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		err := w.flush(batch)
		for _, req := range batch {
			req.done <- err
		}
	}
}

// drain fails the requests left at Close.
func (w *writer) drain() {
	for {
		select {
		case req := <-w.reqs:
			req.done <- errClosed
		default:
			return
		}
	}
}

func (w *writer) flush(batch []*writeReq) error {
	n := len(batch)
	ids, accounts, tos, texts, times := make([]string, n), make([]int64, n), make([]string, n), make([]string, n), make([]time.Time, n)
	for i, r := range batch {
		ids[i], accounts[i], tos[i], texts[i], times[i] = r.m.id, r.m.accountID, r.m.to, r.m.text, r.m.sentAt
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := w.pool.Exec(ctx, `
		INSERT INTO sandbox_messages (id, account_id, to_phone, text, sent_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[])
		ON CONFLICT (id) DO NOTHING`, ids, accounts, tos, texts, times)
	return err
}

func (w *writer) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.exited
}
