package httpapi_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/testredis"
)

// TestThrottles is issue 16's fifth reproduction: 1 500 requests with wrong keys in a row
// got no 429, and each cost a database query. Failed authentication is now limited per
// client address (a proxy's X-Forwarded-For believed only from a trusted proxy), and each
// key's requests per second.
func TestThrottles(t *testing.T) {
	t.Parallel()
	srv, token := bareServer(t, auth.Compliance, httpapi.Deps{Redis: testredis.New(t)},
		httpapi.Options{AuthFailuresPerMinute: 5, RequestsPerSecond: 3, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	get := func(key, forwardedFor string) *http.Response {
		req, err := http.NewRequest("GET", srv.URL+"/v1/audit", nil)
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}

	wrong := "crier_aaaaaaaaaaaa_" + "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	statuses := map[int]int{}
	for range 20 {
		statuses[get(wrong, "203.0.113.9").StatusCode]++
	}
	require.Equal(t, map[int]int{401: 5, 429: 15}, statuses, "five wrong keys a minute from one address, then 429")
	res := get(wrong, "203.0.113.9")
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	require.Equal(t, http.StatusTooManyRequests, get(token, "203.0.113.9").StatusCode,
		"the address is refused before any key is looked up, even a good one")
	require.Equal(t, http.StatusOK, get(token, "198.51.100.4").StatusCode, "another client behind the proxy is not")
	for range 10 {
		require.Equal(t, http.StatusUnauthorized, get("", "192.0.2.77").StatusCode)
	}
	require.Equal(t, http.StatusUnauthorized, get(wrong, "192.0.2.77").StatusCode, "no key at all costs nothing and is not counted")

	// Per key: a burst of twice the rate, then 429 with Retry-After.
	statuses = map[int]int{}
	for range 12 {
		statuses[get(token, "192.0.2.1").StatusCode]++
	}
	require.GreaterOrEqual(t, statuses[429], 4, "%v", statuses)
	require.LessOrEqual(t, statuses[200], 8, "%v", statuses)
}
