package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/audit"
	"golang.org/x/crypto/bcrypt"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/sandbox"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/templates"
)

type testBundle struct {
	api     *httpapi.Server
	srv     *httptest.Server
	pool    *pgxpool.Pool
	consent *consent.Service
	keys    map[auth.Role]string // a token per role
	keyIDs  map[auth.Role]string
	pairer  *fakePairer
	network *sandbox.Network
	users   *auth.Users
}

func setup(t *testing.T, opts ...httpapi.Options) *testBundle {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	rdb := testredis.New(t)
	keys := auth.NewKeys(pool)
	hasher, err := phonehash.New(bytes.Repeat([]byte{42}, 32))
	require.NoError(t, err)
	var o httpapi.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	engine, err := templates.New(templates.Options{})
	require.NoError(t, err)
	consentSvc, err := consent.New(pool, hasher, consent.Options{Brand: "Acme"})
	require.NoError(t, err)
	contactSvc := contacts.New(pool, hasher, contacts.Options{ImportConsent: consentSvc})
	auditLog := audit.NewLog(pool)
	network := sandbox.New(pool, sandbox.Options{})
	t.Cleanup(network.Close)
	pairer := &fakePairer{}
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	require.NoError(t, err)
	accounts := sender.NewAccountsWithSecrets(pool, box)
	users := auth.NewUsers(pool)
	users.SetCost(bcrypt.MinCost)
	api := httpapi.New(httpapi.Deps{
		Users:    users,
		Accounts: accounts,
		Limiter:  sender.NewLimiter(rdb, sender.LimiterOptions{}),
		Channels: sender.Channels{sender.WhatsApp: pairer, sender.Sandbox: network,
			sender.WhatsAppCloud: whatsappcloud.NewConnector(pool, accounts, whatsappcloud.ConnectorOptions{})},
		// Recorded only: a worker would process them (sender/whatsappcloud, workers).
		CloudWebhooks: whatsappcloud.NewWebhooks(pool, accounts, whatsappcloud.WebhookOptions{}),
		Sandbox:       network,
		Inbound:       consentSvc.HandleInbound,
		Contacts:      contactSvc,
		Consent:       consentSvc,
		Privacy: privacy.New(pool, []privacy.Holder{consentSvc.PrivacyHolder(), auditLog.PrivacyHolder(), contactSvc.PrivacyHolder()},
			map[string]privacy.Purger{"inbound_messages": consentSvc.InboundPurger()}),
		Templates: templates.NewStore(pool, engine),
		Engine:    engine,
		Keys:      keys,
		Audit:     audit.NewLog(pool),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: map[string]func(context.Context) error{
			"postgres": pool.Ping,
			"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		},
	}, o)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	b := &testBundle{api: api, srv: srv, pool: pool, consent: consentSvc, pairer: pairer, network: network, users: users, keys: map[auth.Role]string{}, keyIDs: map[auth.Role]string{}}
	for _, role := range auth.Roles {
		token, key, err := keys.Create(context.Background(), string(role)+" key", role)
		require.NoError(t, err)
		b.keys[role], b.keyIDs[role] = token, key.ID
	}
	return b
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// fieldErrors returns field → message of a problem response.
func (r response) fieldErrors(t *testing.T) map[string]string {
	t.Helper()
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), "%s", r.body)
	out := map[string]string{}
	for _, e := range r.json(t)["errors"].([]any) {
		m := e.(map[string]any)
		out[m["field"].(string)] = m["message"].(string)
	}
	return out
}

func (b *testBundle) do(t *testing.T, role auth.Role, method, path string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	contentType := "application/json"
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
		contentType = "text/csv"
	case []byte:
		rd = bytes.NewReader(v)
	default:
		j, err := json.Marshal(v)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+b.keys[role])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// session signs a user of the role in (made on first use, <role>@example.com) and returns
// the session's cookie value and CSRF token.
func (b *testBundle) session(t *testing.T, role auth.Role) (cookie, csrf string) {
	t.Helper()
	ctx := context.Background()
	email := string(role) + "@example.com"
	if _, err := b.users.Create(ctx, email, role, "correct horse battery"); err != nil {
		require.Contains(t, err.Error(), "exists")
	}
	sess, err := b.users.SignIn(ctx, email, "correct horse battery")
	require.NoError(t, err)
	return sess.Token, sess.CSRFToken
}

// page sends a request as a signed-in console user of the role: with the session cookie,
// and, for a change, the CSRF token the console's script sends. It follows no redirect.
func (b *testBundle) page(t *testing.T, role auth.Role, method, path string, body any) response {
	t.Helper()
	cookie, csrf := b.session(t, role)
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "crier_session", Value: cookie})
	if method != "GET" {
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

func (b *testBundle) createContact(t *testing.T, phone string) int64 {
	t.Helper()
	res := b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{"phone": phone, "name": "Test"})
	require.Contains(t, []int{200, 201}, res.status, "%s", res.body)
	return int64(res.json(t)["id"].(float64))
}

// TestRouteRoleMatrix sends every route of the table with every role's key and checks the
// permission table: 403 exactly when the role lacks the route's permission, and 401
// without a key or with a bad one.
func TestRouteRoleMatrix(t *testing.T) {
	b := setup(t)
	routes := b.api.Routes()
	require.NotEmpty(t, routes)
	// A handler that asks the table for a second permission for what the matrix sends:
	// paging through contacts (no ?phone=) needs contacts:list too.
	also := map[string]auth.Permission{"GET /v1/contacts": auth.ContactsList}
	for _, rt := range routes {
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok { // a pattern for every method (the dashboard's API): try it with POST
			method, path = "POST", rt.Pattern
		}
		if rt.Perm == "" {
			continue
		}
		for _, role := range append([]auth.Role{""}, auth.Roles...) {
			id := b.createContact(t, fmt.Sprintf("+6591%06d", len(role)*1000+len(rt.Pattern)*7+int(rt.Pattern[len(rt.Pattern)-2])))
			p := strings.NewReplacer("{id}", fmt.Sprint(id), "{tag}", "x").Replace(path)
			var body any
			if method != "GET" && method != "DELETE" {
				body = map[string]any{}
				if strings.HasSuffix(path, "/import") {
					body = "phone\n+6599999999\n"
				}
			}
			res := b.do(t, role, method, p, body)
			switch {
			case role == "":
				require.Equal(t, 401, res.status, "%s without a key", rt.Pattern)
				require.Contains(t, res.header.Get("WWW-Authenticate"), "Bearer")
			case !role.Can(auth.Permission(rt.Perm)) || (also[rt.Pattern] != "" && !role.Can(also[rt.Pattern])):
				require.Equal(t, 403, res.status, "%s as %s: %s", rt.Pattern, role, res.body)
			default:
				require.NotContains(t, []int{401, 403}, res.status, "%s as %s: %s", rt.Pattern, role, res.body)
			}
		}
	}
	// A revoked or made-up key is refused everywhere.
	res := b.do(t, "", "GET", "/v1/contacts", nil, "Authorization", "Bearer crier_aaaaaaaaaaaa_"+strings.Repeat("a", 52))
	require.Equal(t, 401, res.status)
	res = b.do(t, "", "GET", "/v1/contacts", nil, "Authorization", "Basic "+basic("x", b.keys[auth.Admin]))
	require.Equal(t, 200, res.status, "HTTP Basic with the key as password works, for browsers")
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestRoleTable(t *testing.T) {
	t.Parallel()
	// The rules of DESIGN §5 that matter most, spelled out.
	require.True(t, auth.Admin.Can(auth.PrivacyErase))
	require.False(t, auth.Marketer.Can(auth.ContactsPII), "marketers see masked phones")
	require.False(t, auth.Marketer.Can(auth.PrivacyExport))
	require.True(t, auth.Ops.Can(auth.Dashboard))
	require.True(t, auth.Ops.Can(auth.CampaignsControl))
	require.False(t, auth.Ops.Can(auth.CampaignsWrite))
	require.False(t, auth.Ops.Can(auth.ContactsWrite), "ops is read-only outside accounts and campaign control")
	require.True(t, auth.Agent.Can(auth.ContactsPII))
	require.True(t, auth.Agent.Can(auth.ConsentWrite))
	require.False(t, auth.Agent.Can(auth.ContactsWrite))
	require.True(t, auth.Compliance.Can(auth.PrivacyErase))
	require.True(t, auth.Compliance.Can(auth.AuditRead))
	require.False(t, auth.Compliance.Can(auth.CampaignsWrite))
	_, err := auth.ParseRole("root")
	require.ErrorContains(t, err, "the roles are admin, marketer, ops, agent, compliance")
}

func TestHealthAndReadiness(t *testing.T) {
	b := setup(t)
	res := b.do(t, "", "GET", "/healthz", nil)
	require.Equal(t, 200, res.status)
	res = b.do(t, "", "GET", "/readyz", nil)
	require.Equal(t, 200, res.status)
	require.Equal(t, map[string]any{"postgres": "ok", "redis": "ok"}, res.json(t)["checks"])

	// A Redis that is not there makes the service not ready.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer dead.Close()
	api := httpapi.New(httpapi.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: map[string]func(context.Context) error{
		"postgres": b.pool.Ping,
		"redis":    func(ctx context.Context) error { return dead.Ping(ctx).Err() },
	}}, httpapi.Options{})
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	require.Equal(t, 503, rec.Code)
	require.Contains(t, rec.Body.String(), `"redis":"unavailable"`)
}

func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "GET", "/v1/nope", nil)
	require.Equal(t, 404, res.status)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	res = b.do(t, auth.Admin, "PUT", "/v1/contacts", nil)
	require.Equal(t, 405, res.status)
	require.Contains(t, res.header.Get("Allow"), "POST")
	require.Equal(t, float64(405), res.json(t)["status"])
}
