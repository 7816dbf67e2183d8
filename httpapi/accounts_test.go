package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/sender"
)

// fakePairer stands in for the whatsmeow connector, which would try to reach WhatsApp: a
// Connector that pairs, it fails with the error it is given and records what it was asked.
type fakePairer struct {
	mu      sync.Mutex
	err     error
	pairing *sender.Pairing // what a pairing without err returns
	calls   []string
}

var _ httpapi.Pairer = (*fakePairer)(nil)

func (p *fakePairer) Connect(context.Context, sender.Account, sender.EventFunc) (sender.Transport, error) {
	return nil, errors.New("fakePairer: no connections")
}

func (p *fakePairer) Capabilities() sender.Capabilities {
	return sender.Capabilities{Receipts: true, Inbound: true, PairQR: true, PairPhone: true}
}

func (p *fakePairer) PairQR(_ context.Context, a sender.Account) (*sender.Pairing, error) {
	if err := p.record(fmt.Sprintf("qr %d", a.ID)); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pairing, nil
}

func (p *fakePairer) PairPhone(_ context.Context, a sender.Account, phone string) (*sender.Pairing, error) {
	if phone == "12" {
		return nil, p.record("phone", sender.Mark(sender.Permanent(errors.New("fake: invalid phone number")), sender.ErrInvalidPhone))
	}
	return nil, p.record(fmt.Sprintf("phone %d", a.ID))
}

func (p *fakePairer) record(call string, err ...error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call)
	if len(err) > 0 {
		return err[0]
	}
	return p.err
}

func TestAccountsLifecycle(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "Sandbox A", "channel": "sandbox"})
	require.Equal(t, 201, res.status, "%s", res.body)
	sb := res.json(t)
	require.Equal(t, "disconnected", sb["status"], "a sandbox account needs no pairing")
	require.Equal(t, float64(600), sb["rate_per_minute"])
	sbPath := fmt.Sprintf("/v1/accounts/%d", int64(sb["id"].(float64)))
	require.Equal(t, sbPath, res.header.Get("Location"))

	res = b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{
		"name": "Sales SG", "channel": "whatsapp", "proxy_url": "socks5://user:hunter2@proxy.example:1080",
	})
	require.Equal(t, 201, res.status, "%s", res.body)
	wa := res.json(t)
	require.Equal(t, "pending_pair", wa["status"])
	require.Equal(t, float64(20), wa["rate_per_minute"], "a new WhatsApp number starts slow")
	require.Equal(t, float64(1000), wa["daily_cap"])
	require.Equal(t, true, wa["warmup"])
	require.NotContains(t, string(res.body), "hunter2", "the proxy password is never shown")
	require.Contains(t, wa["proxy_url"], "proxy.example:1080")
	usage := wa["usage"].(map[string]any)
	require.Equal(t, float64(0), usage["sent_today"])
	waPath := fmt.Sprintf("/v1/accounts/%d", int64(wa["id"].(float64)))

	res = b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{"name": "sandbox a", "channel": "sandbox"})
	require.Equal(t, 409, res.status, "names are unique, whatever their case")

	res = b.do(t, auth.Admin, "POST", "/v1/accounts", map[string]any{
		"name": "", "channel": "sms", "rate_per_minute": 0, "proxy_url": "ftp://x",
	})
	require.Equal(t, 422, res.status, "%s", res.body)
	fields := res.fieldErrors(t)
	for _, f := range []string{"name", "channel"} {
		require.Contains(t, fields, f)
	}

	list := b.do(t, auth.Marketer, "GET", "/v1/accounts?limit=1", nil).json(t)
	require.Len(t, list["data"], 1)
	require.NotNil(t, list["next_cursor"])
	require.Equal(t, 403, b.do(t, auth.Marketer, "POST", "/v1/accounts", map[string]any{"name": "x", "channel": "sandbox"}).status)
	require.Equal(t, 403, b.do(t, auth.Compliance, "GET", "/v1/accounts", nil).status)

	res = b.do(t, auth.Ops, "POST", sbPath+"/pause", map[string]any{"reason": "checking the numbers"})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "paused", res.json(t)["status"])
	require.Equal(t, "checking the numbers", res.json(t)["status_reason"])
	require.Equal(t, "disconnected", res.json(t)["connection_status"])
	res = b.do(t, auth.Ops, "POST", sbPath+"/resume", nil)
	require.Equal(t, "disconnected", res.json(t)["status"])

	require.Equal(t, 204, b.do(t, auth.Ops, "DELETE", sbPath, nil).status)
	require.Equal(t, 404, b.do(t, auth.Ops, "GET", sbPath, nil).status)
	require.Equal(t, 404, b.do(t, auth.Ops, "DELETE", sbPath, nil).status)
	require.Equal(t, 200, b.do(t, auth.Ops, "GET", waPath, nil).status)
}

func TestAccountPairing(t *testing.T) {
	b := setup(t)
	sb := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "Sandbox", "channel": "sandbox"}).json(t)
	wa := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "WA", "channel": "whatsapp"}).json(t)
	waPath := fmt.Sprintf("/v1/accounts/%d/pair", int64(wa["id"].(float64)))

	res := b.do(t, auth.Ops, "POST", fmt.Sprintf("/v1/accounts/%d/pair", int64(sb["id"].(float64))), nil)
	require.Equal(t, 409, res.status, "%s", res.body)
	require.Contains(t, res.json(t)["detail"], "only whatsapp accounts are paired")
	require.Equal(t, fmt.Sprintf("account %d is a sandbox account: only whatsapp accounts are paired", int64(sb["id"].(float64))),
		res.json(t)["detail"], "the channels' capabilities word it as before")

	b.pairer.err = fmt.Errorf("whatsapp: pair account 2 directly (no proxy): %w", errors.New("dial tcp: no route to host"))
	res = b.do(t, auth.Ops, "POST", waPath, nil)
	require.Equal(t, 503, res.status, "%s", res.body)
	require.Contains(t, res.json(t)["detail"], "no route to host", "the cause is shown, not hidden")

	b.pairer.err = sender.Mark(errors.New("fake: already paired"), sender.ErrAlreadyPaired)
	require.Equal(t, 409, b.do(t, auth.Ops, "POST", waPath, map[string]any{"phone": "+6591234567"}).status)

	res = b.do(t, auth.Ops, "POST", waPath, map[string]any{"phone": "12"})
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t), "phone")
	require.Equal(t, 403, b.do(t, auth.Marketer, "POST", waPath, nil).status)
	require.Equal(t, []string{"qr 2", "phone 2", "phone"}, b.pairer.calls)
}

// TestAccountPairingSucceeds: the answer shows the transport's first code and how long the
// pairing waits; when the phone links the account, the account is recorded as paired.
func TestAccountPairingSucceeds(t *testing.T) {
	b := setup(t)
	wa := b.do(t, auth.Ops, "POST", "/v1/accounts", map[string]any{"name": "WA", "channel": "whatsapp"}).json(t)
	id := int64(wa["id"].(float64))
	p := sender.NewPairing(id, func() {})
	p.Code, p.Timeout = "2@first-code", 3*time.Minute
	b.pairer.mu.Lock()
	b.pairer.pairing = p
	b.pairer.mu.Unlock()

	res := b.do(t, auth.Ops, "POST", fmt.Sprintf("/v1/accounts/%d/pair", id), nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.JSONEq(t, fmt.Sprintf(`{"account_id": %d, "method": "qr", "code": "2@first-code", "expires_in_seconds": 180}`, id), string(res.body))

	p.Finish(sender.PairEvent{Kind: sender.PairSuccess, Phone: "+6591234567", Device: "6591234567:12@s.whatsapp.net"})
	require.Eventually(t, func() bool {
		a := b.do(t, auth.Ops, "GET", fmt.Sprintf("/v1/accounts/%d", id), nil).json(t)
		return a["phone"] == "+6591234567" && a["status"] == "disconnected"
	}, 10*time.Second, 20*time.Millisecond, "recorded as paired")
}
