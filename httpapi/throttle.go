package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// throttle limits, in Redis so that every API process shares the count:
//   - failed authentication per client address: past the limit, a request with a key is
//     answered 429 before the key is looked up, so guessing keys costs no database query;
//   - requests per API key: past the limit, 429 with Retry-After.
//
// A nil throttle limits nothing (Deps.Redis not given).
type throttle struct {
	limiter  *redis_rate.Limiter
	failures redis_rate.Limit // failed authentications per client address
	perKey   redis_rate.Limit // requests per key; Rate 0: none
	proxies  []netip.Prefix   // addresses whose X-Forwarded-For is believed
}

func newThrottle(rdb redis.UniversalClient, o Options) *throttle {
	if rdb == nil {
		return nil
	}
	t := &throttle{limiter: redis_rate.NewLimiter(rdb), proxies: o.TrustedProxies,
		failures: redis_rate.PerMinute(o.AuthFailuresPerMinute)}
	if o.RequestsPerSecond > 0 {
		t.perKey = redis_rate.Limit{Rate: o.RequestsPerSecond, Burst: 2 * o.RequestsPerSecond, Period: time.Second}
	}
	return t
}

// tooMany is a 429 that says when to come back.
func tooMany(retryAfter time.Duration, detail string) error {
	return &httpError{status: http.StatusTooManyRequests, kind: "too-many-requests", detail: detail, retryAfter: retryAfter}
}

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// guessing refuses a client address that failed authentication too often lately. It only
// reads the count (a cost of 0).
func (t *throttle) guessing(ctx context.Context, r *http.Request) error {
	if t == nil {
		return nil
	}
	res, err := t.limiter.AllowN(ctx, "crier:auth-failures:"+t.client(r), t.failures, 0)
	if err != nil || res.Remaining >= 1 {
		return nil // room for another failure; or Redis is down: authentication works, unthrottled
	}
	after := res.RetryAfter
	if after <= 0 { // exactly out of room: the next failure is allowed one interval from now
		after = t.failures.Period / time.Duration(t.failures.Rate)
	}
	return tooMany(after, fmt.Sprintf("too many failed attempts to authenticate from this address; try again in %s",
		retryAfterSeconds(after)+" s"))
}

// failed counts a failed authentication against the client's address.
func (t *throttle) failed(ctx context.Context, r *http.Request) {
	if t != nil {
		_, _ = t.limiter.Allow(ctx, "crier:auth-failures:"+t.client(r), t.failures)
	}
}

// request takes one request from a key's budget.
func (t *throttle) request(ctx context.Context, keyID string) error {
	if t == nil || t.perKey.Rate == 0 {
		return nil
	}
	res, err := t.limiter.Allow(ctx, "crier:api-key:"+keyID, t.perKey)
	if err != nil || res.Allowed > 0 {
		return nil
	}
	return tooMany(res.RetryAfter, fmt.Sprintf("this API key may make %d requests a second (CRIER_API_RATE); try again in %s s",
		t.perKey.Rate, retryAfterSeconds(res.RetryAfter)))
}

// Sign-in attempts are throttled twice: per client address (guessing and failed, shared
// with the API's authentication failures) and per email, 10 failures in 15 minutes, so
// that guessing one person's password from many addresses is slow too. The email is
// hashed: Redis holds no address of anyone's.
var signInPerEmail = redis_rate.Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute}

func signInEmailKey(email string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "crier:signin-failures:" + hex.EncodeToString(h[:12])
}

// guessingEmail reports an email that failed to sign in too often lately (it only reads
// the count; Redis being down throttles nothing).
func (t *throttle) guessingEmail(ctx context.Context, email string) bool {
	if t == nil {
		return false
	}
	res, err := t.limiter.AllowN(ctx, signInEmailKey(email), signInPerEmail, 0)
	return err == nil && res.Remaining < 1
}

// failedEmail counts a failed sign-in against the email.
func (t *throttle) failedEmail(ctx context.Context, email string) {
	if t != nil {
		_, _ = t.limiter.Allow(ctx, signInEmailKey(email), signInPerEmail)
	}
}

// client is the address a request comes from: the connection's, or, when that is a trusted
// proxy, the last address in X-Forwarded-For that is not one.
func (t *throttle) client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !t.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !t.trusted(hop) {
			return hop.String()
		}
	}
	return host
}

func (t *throttle) trusted(a netip.Addr) bool { return inPrefixes(t.proxies, a) }

// inPrefixes reports whether a is in one of the prefixes (an IPv4-mapped address as IPv4).
func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
