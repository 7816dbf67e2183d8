package workers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// retryLater is a handler's answer "not now, and not a failure": no account can send yet
// (rate, daily cap, no connection held here), or a receipt overtook its send. The task comes
// back after Delay without using up a retry (Config.IsFailure) and is not counted as failed
// in the queue's statistics.
type retryLater struct {
	Delay  time.Duration
	Reason string
}

func (e *retryLater) Error() string { return fmt.Sprintf("retry in %v: %s", e.Delay, e.Reason) }

// later returns a retryLater error; delays are kept within [minRetryDelay, maxRetryDelay].
func later(d time.Duration, reason string) error {
	return &retryLater{Delay: min(max(d, minRetryDelay), maxRetryDelay), Reason: reason}
}

// The bounds of a retryLater delay. A waiting task touches its delivery each time it comes
// back (Sends.Touch); the reconciler asks Redis about the task of a queued delivery left
// untouched for Options.CheckTasksAfter and gives the delivery back only when its task is
// gone (requeueLost). A task that waits for tomorrow's daily budget keeps coming back every
// maxRetryDelay and touching its delivery.
const (
	minRetryDelay = time.Second
	maxRetryDelay = 5 * time.Minute
)

// IsFailure tells Asynq whether an error counts as a failure (Config.IsFailure).
func IsFailure(err error) bool {
	var rl *retryLater
	return !errors.As(err, &rl)
}

// RetryDelay is Asynq's Config.RetryDelayFunc: a retryLater's own delay, otherwise
// exponential backoff from 2 s up to 10 minutes.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var rl *retryLater
	if errors.As(err, &rl) {
		return rl.Delay
	}
	d := 2 * time.Second << min(n, 9)
	return min(d, 10*time.Minute)
}

// lastAttempt reports whether this run of the task is its last: a failure now archives it.
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	maxN, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= maxN
}
