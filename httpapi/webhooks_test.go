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
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/webhooks"
)

// webhookQueue delivers a queued attempt at once (the workers' part).
type webhookQueue struct {
	mu      sync.Mutex
	deliver *webhooks.Deliverer
	ids     []int64
}

func (q *webhookQueue) EnqueueWebhook(_ context.Context, id int64, _ string, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids = append(q.ids, id)
	return nil
}

// setupWebhooks is an API with outbound webhooks, and the relay and deliverer behind it.
func setupWebhooks(t *testing.T) (*testBundle, *webhooks.Relay, *webhooks.Deliverer, *webhookQueue) {
	t.Helper()
	t.Parallel()
	pool := testdb.New(t)
	box, err := secretbox.New(bytes.Repeat([]byte{5}, secretbox.KeySize))
	require.NoError(t, err)
	q := &webhookQueue{}
	opts := webhooks.Options{AllowPrivate: true, Queue: q, RelayLag: time.Microsecond}
	keys := auth.NewKeys(pool)
	api := httpapi.New(httpapi.Deps{
		Webhooks: webhooks.New(pool, box, opts),
		Keys:     keys,
		Audit:    audit.NewLog(pool),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, httpapi.Options{})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	b := &testBundle{api: api, srv: srv, pool: pool, keys: map[auth.Role]string{}, keyIDs: map[auth.Role]string{}}
	for _, role := range auth.Roles {
		token, key, err := keys.Create(context.Background(), string(role)+" key", role)
		require.NoError(t, err)
		b.keys[role], b.keyIDs[role] = token, key.ID
	}
	return b, webhooks.NewRelay(pool, opts), webhooks.NewDeliverer(pool, box, opts), q
}

func TestWebhooksAPI(t *testing.T) {
	b, relay, deliver, q := setupWebhooks(t)
	ctx := context.Background()
	var got [][]byte
	var mu sync.Mutex
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(recv.Close)

	res := b.do(t, auth.Admin, "POST", "/v1/webhooks", map[string]any{"url": "ftp://x", "events": []string{"message.sent", "nope"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
	errs := res.fieldErrors(t)
	require.Contains(t, errs, "url")
	require.Contains(t, errs, "events[1]")
	require.Equal(t, http.StatusForbidden, b.do(t, auth.Marketer, "GET", "/v1/webhooks", nil).status, "admin only")

	res = b.do(t, auth.Admin, "POST", "/v1/webhooks", map[string]any{"url": recv.URL + "/hook?token=t",
		"events": []string{"contact.opted_out"}, "include_pii": false, "description": "CRM"})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	created := res.json(t)
	secret := created["secret"].(string)
	require.Regexp(t, `^whsec_`, secret)
	id := int64(created["id"].(float64))
	require.Equal(t, fmt.Sprintf("/v1/webhooks/%d", id), res.header.Get("Location"))

	one := b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/webhooks/%d", id), nil).json(t)
	require.NotContains(t, one, "secret", "the secret is shown once")
	require.Nil(t, one["secret_rotating_until"])
	list := b.do(t, auth.Admin, "GET", "/v1/webhooks", nil).json(t)
	require.Len(t, list["data"], 1)

	res = b.do(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/webhooks/%d", id), map[string]any{"events": []string{"contact.opted_out", "contact.opted_in"}, "enabled": true})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.Len(t, res.json(t)["events"], 2)
	require.Equal(t, http.StatusUnprocessableEntity, b.do(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/webhooks/%d", id), map[string]any{"events": []string{}}).status)

	rot := b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/webhooks/%d/rotate-secret", id), map[string]any{"grace_hours": 1})
	require.Equal(t, http.StatusOK, rot.status, "%s", rot.body)
	newSecret := rot.json(t)["secret"].(string)
	require.NotEqual(t, secret, newSecret)
	require.NotNil(t, rot.json(t)["previous_expires_at"])
	require.NotNil(t, b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/webhooks/%d", id), nil).json(t)["secret_rotating_until"])
	require.Equal(t, http.StatusUnprocessableEntity, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/webhooks/%d/rotate-secret", id), map[string]any{"grace_hours": 169}).status)

	// An opt-out reaches the endpoint, signed with both secrets.
	_, err := relay.Step(ctx)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `
		WITH c AS (INSERT INTO contacts (phone, phone_hash) VALUES ('+6591230000', '\x01') RETURNING id)
		INSERT INTO consent_ledger (contact_id, channel, purpose, status, source, actor, occurred_at)
		SELECT id, 'whatsapp', 'marketing', 'withdrawn', 'keyword', 'customer', now() FROM c`)
	require.NoError(t, err)
	n, err := relay.Step(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, q.ids, 1)
	require.NoError(t, deliver.Deliver(ctx, q.ids[0]))
	require.Len(t, got, 1)
	require.Contains(t, string(got[0]), `"type":"contact.opted_out"`)
	require.NotContains(t, string(got[0]), "+6591230000")

	page := b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/webhooks/%d/deliveries?status=delivered", id), nil)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	rows := page.json(t)["data"].([]any)
	require.Len(t, rows, 1)
	row := rows[0].(map[string]any)
	require.Equal(t, "delivered", row["status"])
	require.EqualValues(t, 1, row["attempts"])
	require.NotContains(t, row, "payload")
	require.Equal(t, http.StatusUnprocessableEntity, b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/webhooks/%d/deliveries?status=lost", id), nil).status)

	res = b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/webhooks/%d/deliveries/%d/replay", id, int64(row["id"].(float64))), nil)
	require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
	require.Len(t, q.ids, 2)
	require.NoError(t, deliver.Deliver(ctx, q.ids[1]))
	require.Len(t, got, 2)
	require.Equal(t, got[0], got[1], "a replay sends the same event")
	require.Equal(t, http.StatusNotFound, b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/webhooks/%d/deliveries/999/replay", id), nil).status)

	var actions []string
	arows, err := b.pool.Query(ctx, `SELECT action FROM audit_log WHERE target_type = 'webhook' ORDER BY id`)
	require.NoError(t, err)
	for arows.Next() {
		var a string
		require.NoError(t, arows.Scan(&a))
		actions = append(actions, a)
	}
	require.Contains(t, actions, "webhook.rotate_secret")
	require.Contains(t, actions, "webhook.replay")

	require.Equal(t, http.StatusNoContent, b.do(t, auth.Admin, "DELETE", fmt.Sprintf("/v1/webhooks/%d", id), nil).status)
	require.Equal(t, http.StatusNotFound, b.do(t, auth.Admin, "GET", fmt.Sprintf("/v1/webhooks/%d", id), nil).status)
}

func TestWebhooksAbsentAnswer404(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "GET", "/v1/webhooks", nil)
	require.Equal(t, http.StatusNotFound, res.status, "%s", res.body)
	var p map[string]any
	require.NoError(t, json.Unmarshal(res.body, &p))
	require.Contains(t, p["detail"], "outbound webhooks")
}
