package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/testdb"
)

// bareServer serves an API with only the keys, the audit log and deps, and returns it with
// a key of the role.
func bareServer(t *testing.T, role auth.Role, deps httpapi.Deps, o httpapi.Options) (*httptest.Server, string) {
	t.Helper()
	pool := testdb.New(t)
	deps.Keys, deps.Audit = auth.NewKeys(pool), audit.NewLog(pool)
	deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	token, _, err := deps.Keys.Create(context.Background(), string(role), role)
	require.NoError(t, err)
	srv := httptest.NewServer(httpapi.New(deps, o))
	t.Cleanup(srv.Close)
	return srv, token
}

// TestDashboardRefusesCrossSiteChanges is issue 16's sixth reproduction: the browser signs
// in to /monitoring/ with HTTP Basic, so a form on another site could pause the events
// queue. A change now needs a same-origin Origin or Referer; reading needs none.
func TestDashboardRefusesCrossSiteChanges(t *testing.T) {
	t.Parallel()
	var changes atomic.Int32
	dashboard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			changes.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	})
	srv, token := bareServer(t, auth.Ops, httpapi.Deps{Monitoring: dashboard}, httpapi.Options{})

	send := func(method string, header ...string) *http.Response {
		req, err := http.NewRequest(method, srv.URL+"/monitoring/api/queues/events:pause", strings.NewReader(""))
		require.NoError(t, err)
		req.SetBasicAuth("ops", token)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	for _, h := range [][]string{
		{"Origin", "https://evil.example"},
		{"Referer", "https://evil.example/page"},
		{"Origin", "null"},
		{},
	} {
		res := send("POST", h...)
		require.Equal(t, http.StatusForbidden, res.StatusCode, "%v", h)
	}
	require.Zero(t, changes.Load(), "no cross-site change reached the dashboard")

	require.Equal(t, http.StatusOK, send("POST", "Origin", srv.URL).StatusCode)
	require.Equal(t, http.StatusOK, send("DELETE", "Referer", srv.URL+"/monitoring/queues/events").StatusCode)
	require.EqualValues(t, 2, changes.Load())
	res := send("GET")
	require.Equal(t, http.StatusOK, res.StatusCode, "reading needs no Origin")

	// Every answer carries the security headers.
	for name, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Content-Security-Policy": "frame-ancestors 'none'", "Referrer-Policy": "same-origin"} {
		require.Equal(t, want, res.Header.Get(name), name)
	}
	res, err := http.Get(srv.URL + "/no/such/route")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), "also on a 404")
}
