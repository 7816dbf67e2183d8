package workers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/delivery"
)

// dispatchStore hands the due deliveries to the send queue (delivery.Sends).
type dispatchStore interface {
	DispatchCampaigns(ctx context.Context) ([]int64, error)
	DispatchRate(ctx context.Context, campaignID int64) (delivery.DispatchRate, error)
	DispatchInFlight(ctx context.Context, campaignID int64, part delivery.Partition, countUpTo int) (int, error)
	DispatchTake(ctx context.Context, campaignID int64, part delivery.Partition, limit int) ([]int64, error)
	Unenqueue(ctx context.Context, ids []int64) (int64, error)
	FoldCounts(ctx context.Context) (int64, error)
	RefreshStatistics(ctx context.Context) ([]string, error)
}

// Dispatcher keeps each campaign's send queue topped up from Postgres: campaign:dispatch
// tops up one partition of a campaign (DispatchPartition), and RunDispatcher asks for a
// dispatch of every partition of every campaign with work, every DispatchEvery.
//
// A campaign's deliveries are cut into partitions by delivery id (delivery.Partition), one
// per 500 deliveries of its capacity and at most Options.DispatchPartitions, each
// dispatched by a task of its own, so that several workers, and several goroutines of one
// worker, dispatch one campaign side by side. Each partition gets an equal share of the
// capacity and counts its own deliveries in flight, so that together they never hand
// Asynq more than the capacity. Whatever the partitions, a delivery is taken once (the
// take marks it in the statement that selects it).
type Dispatcher struct {
	sends   dispatchStore
	queue   *Queue
	metrics *Metrics
	log     *slog.Logger
	opts    Options
}

// handleDispatch tops up one partition of a campaign's send queue from Postgres
// (DispatchPartition).
func (d *Dispatcher) handleDispatch(ctx context.Context, t *asynq.Task) error {
	var p DispatchPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	part := p.partition()
	if !part.Whole() && (part.Index < 0 || part.Index >= part.Of) {
		return fmt.Errorf("workers: dispatch partition %d of %d: %w", part.Index, part.Of, asynq.SkipRetry)
	}
	// A full batch means there may be more room: carry on at once rather than at the
	// dispatcher's next tick, for a while (the task's timeout is a minute).
	began := time.Now()
	for {
		n, err := d.DispatchPartition(ctx, p.CampaignID, part)
		if err != nil {
			return err
		}
		if n > 0 {
			d.log.DebugContext(ctx, "dispatched", "campaign_id", p.CampaignID, "partition", part.Index,
				"partitions", part.Of, "deliveries", n)
		}
		if n < maxDispatchBatch || time.Since(began) > 20*time.Second {
			return nil
		}
	}
}

// Dispatch tops up every partition of one campaign's send queue, side by side, and returns
// how many deliveries it handed to Asynq.
func (d *Dispatcher) Dispatch(ctx context.Context, campaignID int64) (int, error) {
	parts := d.opts.DispatchPartitions
	var (
		total atomic.Int64
		errs  = make([]error, parts)
		wg    sync.WaitGroup
	)
	for k := range parts {
		wg.Go(func() {
			n, err := d.DispatchPartition(ctx, campaignID, delivery.Partition{Index: k, Of: parts})
			total.Add(int64(n))
			errs[k] = err
		})
	}
	wg.Wait()
	return int(total.Load()), errors.Join(errs...)
}

// DispatchPartition tops up one partition of a campaign's send queue: it hands Asynq the
// partition's due deliveries that have no task yet, but never more than its share of what
// the campaign's accounts can send within the horizon (the sum of their per-minute rates,
// capped by the campaign's own rate, times Horizon, and never more than
// Options.MaxInFlight) minus its deliveries already in flight. Redis so holds a few
// minutes of work per campaign whatever the audience's size (a pending task is about half
// a kilobyte), and Postgres keeps the rest. It returns how many deliveries it handed over;
// a campaign that is not running or scheduled gets none.
func (d *Dispatcher) DispatchPartition(ctx context.Context, campaignID int64, part delivery.Partition) (int, error) {
	s := d.sends
	rate, err := s.DispatchRate(ctx, campaignID)
	if err != nil || !rate.Sending {
		return 0, err
	}
	part, share := d.share(rate.PerMinute, part)
	if share <= 0 {
		return 0, nil
	}
	inFlight, err := s.DispatchInFlight(ctx, campaignID, part, share)
	if err != nil {
		return 0, err
	}
	room := min(share-inFlight, maxDispatchBatch)
	if room <= 0 {
		return 0, nil
	}
	ids, err := s.DispatchTake(ctx, campaignID, part, room)
	if err != nil {
		return 0, err
	}
	n, err := d.enqueueSends(ctx, ids)
	d.metrics.dispatched.WithLabelValues(itoa(campaignID)).Add(float64(n))
	if err != nil {
		return n, fmt.Errorf("dispatch campaign %d: %w", campaignID, err)
	}
	return n, nil
}

// share returns the partition a dispatch of part counts and takes from, and its share of
// the campaign's capacity: perMinute times Horizon, at most MaxInFlight, and at least one
// while any account can send. A campaign gets a partition per minPartitionShare of
// capacity, up to part.Of: a small campaign (a few accounts at WhatsApp rates) gains
// nothing from being cut up, and each partition costs a task, a count and a take per
// dispatch; below minPartitionShare the first partition is the whole campaign and the
// others have nothing to do. The capacity is split evenly, the first partitions taking the
// remainder, so that the shares add up to it exactly.
func (d *Dispatcher) share(perMinute int, part delivery.Partition) (delivery.Partition, int) {
	capacity := int(min(float64(perMinute)*d.opts.Horizon.Minutes(), float64(d.opts.MaxInFlight)))
	if perMinute > 0 {
		capacity = max(capacity, 1)
	}
	if part.Whole() {
		return part, capacity
	}
	part.Of = min(part.Of, max(capacity/d.opts.minPartitionShare, 1))
	if part.Index >= part.Of {
		return part, 0
	}
	share := capacity / part.Of
	if part.Index < capacity%part.Of {
		share++
	}
	return part, share
}

// minPartitionShare is the least capacity a partition of a campaign's dispatch is given
// (Options.minPartitionShare).
const minPartitionShare = 500

// enqueueSends enqueues the sends of ids with dispatchEnqueuers enqueues in flight: one
// at a time, a dispatcher would hand out only as many sends per second as it has round
// trips to Redis. It returns how many it enqueued; the ids whose enqueue failed (Redis is
// failing) are given back to the next dispatch.
func (d *Dispatcher) enqueueSends(ctx context.Context, ids []int64) (int, error) {
	var (
		mu       sync.Mutex
		failed   []int64
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range min(dispatchEnqueuers, len(ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				if _, err := d.queue.enqueueSend(ctx, ids[i]); err != nil {
					mu.Lock()
					failed = append(failed, ids[i])
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	n := len(ids) - len(failed)
	if firstErr == nil {
		return n, nil
	}
	if _, err := d.sends.Unenqueue(context.WithoutCancel(ctx), failed); err != nil {
		return n, fmt.Errorf("%w (and unenqueue: %v)", firstErr, err)
	}
	return n, fmt.Errorf("%d of %d sends not enqueued: %w", len(failed), len(ids), firstErr)
}

// foldEvery is how often each worker's dispatcher folds the campaigns' counters.
const foldEvery = 5 * time.Second

// dispatchEnqueuers is how many enqueues a dispatch keeps in flight.
const dispatchEnqueuers = 16

// maxDispatchBatch bounds one dispatch, so that a task never runs for long; the next tick
// dispatches more.
const maxDispatchBatch = 5000

// RunDispatcher asks, every DispatchEvery until ctx ends, for a campaign:dispatch of every
// partition of every campaign with due deliveries without a task. A dispatch task's TaskID
// is its campaign's and partition's, so however many workers run this loop, one dispatch
// per partition is queued at a time.
func (d *Dispatcher) RunDispatcher(ctx context.Context) error {
	t := time.NewTicker(d.opts.DispatchEvery)
	defer t.Stop()
	failing := false
	var folded time.Time
	for {
		err := d.requestDispatches(ctx)
		// The campaigns' counters are folded here too, not only by the reconciler: a campaign
		// sending thousands a second appends hundreds of counter rows a second, and its stats
		// read them all until a fold. One worker folds at a time (the others skip). So are the
		// planner's statistics of the tables the send path reads, where they went stale: a
		// burst of STOPs grows the suppression list while every claim runs a plan made
		// before it (delivery.Sends.RefreshStatistics).
		if err == nil && time.Since(folded) >= foldEvery {
			folded = time.Now()
			if _, err = d.sends.FoldCounts(ctx); err == nil {
				err = d.refreshStatistics(ctx)
			}
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			d.log.WarnContext(ctx, "dispatcher", "error", err)
			failing = true
		case err == nil && failing:
			d.log.InfoContext(ctx, "dispatcher works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refreshStatistics analyses the send path's tables that changed much since they were last
// analysed, and says which.
func (d *Dispatcher) refreshStatistics(ctx context.Context) error {
	tables, err := d.sends.RefreshStatistics(ctx)
	if len(tables) > 0 {
		d.log.InfoContext(ctx, "analysed tables that had changed", "tables", tables)
	}
	return err
}

func (d *Dispatcher) requestDispatches(ctx context.Context) error {
	ids, err := d.sends.DispatchCampaigns(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := d.queue.enqueueDispatch(ctx, id, d.opts.DispatchPartitions); err != nil {
			return err
		}
	}
	return nil
}

// enqueueDispatch queues a campaign:dispatch of each of a campaign's partitions (one task
// for the whole campaign when there is one partition).
func (q *Queue) enqueueDispatch(ctx context.Context, campaignID int64, partitions int) error {
	for k := range max(partitions, 1) {
		if _, err := q.enqueue(ctx, NewDispatchTask(campaignID, delivery.Partition{Index: k, Of: partitions})); err != nil {
			return fmt.Errorf("enqueue dispatch of campaign %d: %w", campaignID, err)
		}
	}
	return nil
}
