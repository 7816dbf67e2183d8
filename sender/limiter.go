package sender

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// The Limiter's Redis keys, one set per account and one key per capped campaign (ids only,
// never a phone number):
//
//	rate:crier:limit:{id}:gcra           an account's GCRA state (the theoretical arrival
//	                                     time); redis_rate adds its own "rate:" prefix in
//	                                     front of our key
//	crier:limit:{id}:day:2006-01-02      tokens an account took on that budget day; expires
//	                                     a day after the day ends
//	rate:crier:limit:campaign:{id}:gcra  a campaign's own rate cap (campaignKey; Pool.Acquire): GCRA
//	                                     state only, a campaign has no daily budget
//
// No two keys are used in one script, so they need not share a Redis Cluster slot; the
// braces only keep one account's keys together.

// rateBurst is the GCRA burst. With a burst of 1 consecutive grants are at least one
// emission interval (60s / rate) apart on the Redis server's clock, so a half-open window
// of 60 s holds at most rate grants wherever it is placed: the per-minute rate is never
// exceeded over any 60-second window. A burst of b > 1 would let an idle account send b
// messages at once and reach rate+b-1 in some 60-second window. The price is that an
// account never "catches up" after idling, which is what WhatsApp wants anyway: an even pace.
const rateBurst = 1

// dayKeyGrace is how long a day counter outlives its day, so that Refund of a token taken
// just before the boundary, and usage figures for yesterday, still find it.
const dayKeyGrace = 24 * time.Hour

// ErrInvalidLimits is returned (wrapped) for AccountLimits that cannot be enforced.
var ErrInvalidLimits = errors.New("sender: invalid account limits")

// LimitReason says which limit refused a send token.
type LimitReason string

// The reasons a LimitDecision may carry.
const (
	// LimitedByRate: the per-minute rate; RetryAfter is short (at most 60s/rate).
	LimitedByRate LimitReason = "rate"
	// LimitedByDailyCap: the account's daily cap is used up; RetryAfter runs to the next day.
	LimitedByDailyCap LimitReason = "daily_cap"
	// LimitedByWarmup: today's warm-up budget (below the daily cap) is used up; RetryAfter
	// runs to the next day, when the budget grows.
	LimitedByWarmup LimitReason = "warmup"
)

// WarmupRamp limits a new account's daily budget while WhatsApp builds trust in it: FirstDay
// messages on its first day, multiplied by Factor each following day, until the ramp reaches
// the daily cap. The Limiter does not store when an account started; the caller passes it in.
type WarmupRamp struct {
	// Start is when the account began sending; its date in the account's day zone is day 1.
	// The zero time turns warm-up off.
	Start time.Time
	// FirstDay is the budget on day 1; 0 means 20.
	FirstDay int
	// Factor is the growth from one day to the next; 0 means 2 (doubling). It must be ≥ 1.
	Factor float64
}

// AccountLimits are one account's sending limits, as configured on the account.
type AccountLimits struct {
	// RatePerMinute is the most messages the account sends in any 60 seconds; it must be > 0.
	RatePerMinute int
	// DailyCap is the most messages the account sends in a budget day; 0 means no daily cap
	// (the rate and the warm-up still apply).
	DailyCap int
	// Warmup ramps the daily budget of a new account up to DailyCap.
	Warmup WarmupRamp
	// DayZone sets where the account's budget day starts and ends (midnight in this zone);
	// nil means UTC.
	DayZone *time.Location
}

func (a AccountLimits) validate() error {
	switch {
	case a.RatePerMinute <= 0:
		return fmt.Errorf("%w: rate per minute %d must be positive", ErrInvalidLimits, a.RatePerMinute)
	case a.DailyCap < 0:
		return fmt.Errorf("%w: daily cap %d must not be negative", ErrInvalidLimits, a.DailyCap)
	case a.Warmup.FirstDay < 0:
		return fmt.Errorf("%w: warm-up first day %d must not be negative", ErrInvalidLimits, a.Warmup.FirstDay)
	case a.Warmup.Factor != 0 && (a.Warmup.Factor < 1 || math.IsNaN(a.Warmup.Factor) || math.IsInf(a.Warmup.Factor, 0)):
		return fmt.Errorf("%w: warm-up factor %v must be at least 1", ErrInvalidLimits, a.Warmup.Factor)
	}
	return nil
}

// budgetDay is the daily budget in force at one instant.
type budgetDay struct {
	name   string      // the date in the day zone, 2006-01-02
	start  time.Time   // midnight that began it, in the day zone
	end    time.Time   // the next midnight in the day zone
	limit  int         // tokens allowed on this day; -1 for no limit
	reason LimitReason // what refuses a token once limit is reached
}

func (a AccountLimits) budgetAt(now time.Time) budgetDay {
	zone := a.DayZone
	if zone == nil {
		zone = time.UTC
	}
	local := now.In(zone)
	y, m, d := local.Date()
	day := budgetDay{
		name:   local.Format(time.DateOnly),
		start:  time.Date(y, m, d, 0, 0, 0, 0, zone),
		end:    time.Date(y, m, d+1, 0, 0, 0, 0, zone),
		limit:  -1,
		reason: LimitedByDailyCap,
	}
	if a.DailyCap > 0 {
		day.limit = a.DailyCap
	}
	if a.Warmup.Start.IsZero() {
		return day
	}

	first, factor := a.Warmup.FirstDay, a.Warmup.Factor
	if first == 0 {
		first = 20
	}
	if factor == 0 {
		factor = 2
	}
	// Count calendar days, not 24-hour periods, so a DST change does not shift the ramp.
	sy, sm, sd := a.Warmup.Start.In(zone).Date()
	days := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(time.Date(sy, sm, sd, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	budget := float64(first)
	for i := 0; i < days && budget < 1e12 && (day.limit < 0 || budget < float64(day.limit)); i++ {
		budget *= factor
	}
	if ramp := int(math.Min(math.Floor(budget), 1e12)); day.limit < 0 || ramp < day.limit {
		day.limit, day.reason = ramp, LimitedByWarmup
	}
	return day
}

// LimitDecision is the Limiter's answer to one request for a send token.
type LimitDecision struct {
	// AccountID is the account the token was asked for; 0 for a campaign's cap
	// (campaignKey).
	AccountID int64
	// Allowed reports whether a token was taken: the caller may send one message now.
	Allowed bool
	// Reason says which limit refused the token; empty when Allowed.
	Reason LimitReason
	// RetryAfter is how long until asking again can succeed; 0 when Allowed.
	RetryAfter time.Duration
	// Day is the budget day the token was counted against (2006-01-02 in the day zone);
	// empty for a campaign's cap, which has no daily budget.
	Day string
	// Used is how many tokens the account has taken on Day, this one included. It is known
	// only when the daily budget was consulted, so it is 0 with LimitedByRate.
	Used int
	// DailyLimit is the budget for Day (the daily cap or the warm-up budget); -1 for none.
	DailyLimit int
}

// LimitUsage is an account's daily budget at one instant, for metrics and the API.
type LimitUsage struct {
	// Day is the budget day (2006-01-02 in the day zone).
	Day string
	// Used is the number of tokens taken on Day and not refunded.
	Used int
	// DailyLimit is the budget for Day; -1 for none.
	DailyLimit int
	// Remaining is DailyLimit-Used (never negative); -1 when there is no limit.
	Remaining int
	// Warmup reports that the budget is today's warm-up budget, below the daily cap.
	Warmup bool
	// ResetsAt is when the next budget day begins.
	ResetsAt time.Time
}

// LimiterOptions configure a Limiter.
type LimiterOptions struct {
	// Now tells the time that decides the budget day and the warm-up day; nil means time.Now.
	// The per-minute rate does not use it: GCRA runs on the Redis server's clock, the one
	// clock all worker processes share.
	Now func() time.Time
}

// Limiter hands out send tokens per account under three limits kept in Redis, so that they
// hold however many worker processes send through the account (DESIGN §3 invariant 4): a
// per-minute rate (GCRA with a burst of 1, see rateBurst), a daily cap, and a warm-up ramp
// for new accounts. It keeps no state of its own and is safe for concurrent use.
type Limiter struct {
	rdb  redis.UniversalClient // scripts share pipelined round trips (Take)
	gcra *redis_rate.Limiter
	// direct and gcraDirect ask Redis at once, for Wait: a waiter asks when its token is
	// due, and waiting for other sends' pipeline would take the token late.
	direct     redis.UniversalClient
	gcraDirect *redis_rate.Limiter
	now        func() time.Time
}

// NewLimiter returns a Limiter that keeps its state in rdb.
func NewLimiter(rdb redis.UniversalClient, opts LimiterOptions) *Limiter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// The scripts of concurrent Takes share round trips.
	scripts := newPipelinedScripts(rdb)
	return &Limiter{rdb: scripts, gcra: redis_rate.NewLimiter(scripts),
		direct: rdb, gcraDirect: redis_rate.NewLimiter(rdb), now: opts.Now}
}

// dailyTakeScript takes one token from a day counter unless the day's budget is spent.
// Reading and incrementing in one script means concurrent takers never push the counter
// past the budget, and a refused taker never raises it even for a moment (an
// INCR-then-DECR-on-failure scheme would briefly count refused tokens and so refuse
// tokens that were in fact available).
//
// KEYS[1] the day counter; ARGV[1] the budget (-1: none); ARGV[2] time to live, ms.
// Returns {allowed 0/1, tokens used}.
var dailyTakeScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if limit >= 0 and used >= limit then
  return {0, used}
end
used = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, used}
`)

// dailyRefundScript gives one token back to a day counter, never below zero, and never
// creates a counter that has expired. Returns the tokens used afterwards.
var dailyRefundScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used <= 0 then
  return 0
end
return redis.call('DECR', KEYS[1])
`)

// Take takes one send token for the account if both the per-minute rate and the day's
// budget (daily cap, warm-up) allow it; otherwise it takes nothing and says which limit
// refused and when to ask again. An error means Redis could not be asked; no token is held.
//
// Take asks the rate first and the daily budget second. A rate grant followed by a refusal
// of the daily budget wastes that rate slot, which is harmless: the account cannot send
// until its next budget day anyway. The other order would have to hand daily tokens back
// whenever the rate refuses, which is most of the time under load.
//
// A granted token is spent whether or not a message is sent; see Refund.
func (l *Limiter) Take(ctx context.Context, accountID int64, limits AccountLimits) (LimitDecision, error) {
	return l.take(ctx, accountKey(accountID), limits, l.rdb, l.gcra)
}

// limitKey names what a limit is kept for: an account (a rate and a daily budget) or a
// campaign's own cap (a rate alone).
type limitKey struct {
	id       int64
	campaign bool
}

func accountKey(id int64) limitKey  { return limitKey{id: id} }
func campaignKey(id int64) limitKey { return limitKey{id: id, campaign: true} }

func (k limitKey) String() string {
	if k.campaign {
		return "campaign " + strconv.FormatInt(k.id, 10)
	}
	return "account " + strconv.FormatInt(k.id, 10)
}

func (l *Limiter) take(ctx context.Context, key limitKey, limits AccountLimits, rdb redis.Scripter, gcra *redis_rate.Limiter) (LimitDecision, error) {
	if err := limits.validate(); err != nil {
		return LimitDecision{}, fmt.Errorf("sender: take send token for %v: %w", key, err)
	}
	// A campaign's cap is a rate alone; an account's token counts against its budget day.
	var now time.Time
	var day budgetDay
	decision := LimitDecision{DailyLimit: -1}
	if !key.campaign {
		now = l.now()
		day = limits.budgetAt(now)
		decision = LimitDecision{AccountID: key.id, Day: day.name, DailyLimit: day.limit}
	}

	// The key is built in place (not by a method of limitKey): so it stays off the heap.
	var rateKey string
	if key.campaign {
		rateKey = limiterCampaignRateKey(key.id)
	} else {
		rateKey = limiterRateKey(key.id)
	}
	res, err := gcra.Allow(ctx, rateKey, redis_rate.Limit{
		Rate:   limits.RatePerMinute,
		Burst:  rateBurst,
		Period: time.Minute,
	})
	if err != nil {
		return LimitDecision{}, fmt.Errorf("sender: take rate token for %v: %w", key, err)
	}
	if res.Allowed == 0 {
		// Report the exact wait: rounding it up would waste rate in Wait, because GCRA with
		// a burst of 1 cannot make up for a token taken late.
		decision.Reason, decision.RetryAfter = LimitedByRate, max(res.RetryAfter, time.Microsecond)
		return decision, nil
	}
	if key.campaign {
		decision.Allowed = true
		return decision, nil
	}

	// The counter lives until a day after its budget day ends. The expiry is relative, so
	// it does not matter whether the Redis server's clock agrees with ours.
	ttl := day.end.Add(dayKeyGrace).Sub(now)
	vals, err := dailyTakeScript.Run(ctx, rdb, []string{limiterDayKey(key.id, day.name)}, day.limit, ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return LimitDecision{}, fmt.Errorf("sender: take daily token for %v: %w", key, err)
	}
	decision.Used = int(vals[1])
	if vals[0] == 0 {
		decision.Reason, decision.RetryAfter = day.reason, day.end.Sub(now)
		return decision, nil
	}
	decision.Allowed = true
	return decision, nil
}

// Wait is Take for a caller that would rather wait a little than give the work back: while
// the rate alone refuses, it sleeps the time the Limiter asks for and tries again, so the
// configured rate is actually reached. It stops when a token is taken, when the daily
// budget refuses (the wait would be hours), or when the next sleep would bring the total
// slept above maxWait; then it returns the refusal, whose RetryAfter the caller can use to
// schedule a retry (an Asynq retry that does not count as a failure). If ctx ends while it
// sleeps it returns the last refusal and an error wrapping ctx.Err().
func (l *Limiter) Wait(ctx context.Context, accountID int64, limits AccountLimits, maxWait time.Duration) (LimitDecision, error) {
	return l.wait(ctx, accountKey(accountID), limits, maxWait)
}

// WaitCampaign is Wait for a campaign's own rate cap, which a campaign may set below the
// sum of its accounts' rates: a token of the cap is taken as well as an account's. The cap
// has a key of its own and no daily budget, so its decisions carry no account and no budget
// day, and Refund of one does nothing. The send path takes the cap's token through
// Pool.Acquire, which waits for it in a waiter slot of the cap's key; this is the same wait
// without the slot.
func (l *Limiter) WaitCampaign(ctx context.Context, campaignID int64, ratePerMinute int, maxWait time.Duration) (LimitDecision, error) {
	return l.wait(ctx, campaignKey(campaignID), AccountLimits{RatePerMinute: ratePerMinute}, maxWait)
}

func (l *Limiter) wait(ctx context.Context, key limitKey, limits AccountLimits, maxWait time.Duration) (LimitDecision, error) {
	var slept time.Duration
	for {
		began := time.Now()
		d, err := l.take(ctx, key, limits, l.direct, l.gcraDirect)
		if err != nil || d.Allowed || d.Reason != LimitedByRate || slept+d.RetryAfter > maxWait {
			return d, err
		}
		slept += d.RetryAfter
		// RetryAfter was measured when Redis answered, about half a round trip ago, and the
		// next request takes half a round trip to arrive: sleep that much less, or every
		// token would be taken a round trip late, and GCRA with a burst of 1 never makes
		// up for lateness.
		t := time.NewTimer(max(d.RetryAfter-time.Since(began), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return d, fmt.Errorf("sender: wait for send token for %v: %w", key, ctx.Err())
		case <-t.C:
		}
	}
}

// Refund gives back the daily-budget part of a token that Take or Wait granted, so that a
// message that was never attempted does not count against the cap. Call it at most once
// per granted decision, and only when the message was not handed to the transport: the
// lease was lost, the delivery turned out to be final or opted out, the context ended
// before the send. Never call it after the transport was called, even if the send failed,
// because the message may have reached WhatsApp. The rate part is not given back; a
// skipped rate slot only slows the account down. Refund of a refused decision does
// nothing, and so does Refund of a campaign cap's decision (no budget day). It uses the
// decision's budget day, so it is right across midnight too.
func (l *Limiter) Refund(ctx context.Context, d LimitDecision) error {
	if !d.Allowed || d.Day == "" {
		return nil
	}
	if err := dailyRefundScript.Run(ctx, l.rdb, []string{limiterDayKey(d.AccountID, d.Day)}).Err(); err != nil {
		return fmt.Errorf("sender: refund send token for account %d: %w", d.AccountID, err)
	}
	return nil
}

// seedDayScript raises a day counter to a floor: it sets the counter to ARGV[1] (with the
// expiry Take gives it) unless it already holds at least that much, and returns the count.
// Raising, not SET NX: after Redis lost the counter, a process whose lease had not yet
// expired locally may have taken (and refunded) a token, which recreates the key near
// zero, and NX would then keep the lost count lost. The floor never lowers a live
// counter, so on a normal day seeding changes nothing.
//
// KEYS[1] the day counter; ARGV[1] the floor; ARGV[2] time to live, ms.
var seedDayScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '-1')
local floor = tonumber(ARGV[1])
if used >= floor then
  return used
end
redis.call('SET', KEYS[1], floor, 'PX', ARGV[2])
return floor
`)

// SentSinceFunc counts the messages an account sent since a time, from a record that
// outlives Redis (the deliveries in PostgreSQL).
type SentSinceFunc func(ctx context.Context, accountID int64, since time.Time) (int, error)

// SeedDay raises the account's counter for the current budget day to what sentSince
// reports for that day (sends since midnight in the account's day zone), and never lowers
// it. Call it before the account sends through this process after Redis may have lost
// the counter (the Manager's AcquiredFunc): a lost counter restarts at zero, and without
// the seed the account could send its whole daily cap again. The Limiter picks the day
// and asks sentSince for it, so a seed that straddles midnight is redone for the new day.
// It returns the counter afterwards.
func (l *Limiter) SeedDay(ctx context.Context, accountID int64, limits AccountLimits, sentSince SentSinceFunc) (int, error) {
	if err := limits.validate(); err != nil {
		return 0, fmt.Errorf("sender: seed daily count of account %d: %w", accountID, err)
	}
	day := limits.budgetAt(l.now())
	for {
		sent, err := sentSince(ctx, accountID, day.start)
		if err != nil {
			return 0, fmt.Errorf("sender: seed daily count of account %d: %w", accountID, err)
		}
		now := l.now()
		if next := limits.budgetAt(now); next.name != day.name {
			day = next // midnight passed while counting: count the new day instead
			continue
		}
		ttl := day.end.Add(dayKeyGrace).Sub(now)
		used, err := seedDayScript.Run(ctx, l.rdb, []string{limiterDayKey(accountID, day.name)}, max(sent, 0), ttl.Milliseconds()).Int()
		if err != nil {
			return 0, fmt.Errorf("sender: seed daily count of account %d: %w", accountID, err)
		}
		return used, nil
	}
}

// Usage reports the account's daily budget now; it costs one Redis GET.
func (l *Limiter) Usage(ctx context.Context, accountID int64, limits AccountLimits) (LimitUsage, error) {
	if err := limits.validate(); err != nil {
		return LimitUsage{}, fmt.Errorf("sender: limiter usage for account %d: %w", accountID, err)
	}
	day := limits.budgetAt(l.now())
	used, err := l.rdb.Get(ctx, limiterDayKey(accountID, day.name)).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return LimitUsage{}, fmt.Errorf("sender: limiter usage for account %d: %w", accountID, err)
	}
	u := LimitUsage{
		Day:        day.name,
		Used:       used,
		DailyLimit: day.limit,
		Remaining:  -1,
		Warmup:     day.reason == LimitedByWarmup,
		ResetsAt:   day.end,
	}
	if day.limit >= 0 {
		u.Remaining = max(day.limit-used, 0)
	}
	return u, nil
}

func limiterRateKey(accountID int64) string {
	return "crier:limit:{" + strconv.FormatInt(accountID, 10) + "}:gcra"
}

func limiterDayKey(accountID int64, day string) string {
	return "crier:limit:{" + strconv.FormatInt(accountID, 10) + "}:day:" + day
}

func limiterCampaignRateKey(campaignID int64) string {
	return "crier:limit:campaign:{" + strconv.FormatInt(campaignID, 10) + "}:gcra"
}
