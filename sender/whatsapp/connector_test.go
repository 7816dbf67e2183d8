package whatsapp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender"
)

// unreachableProxy refuses connections at once: nothing leaves the machine.
const unreachableProxy = "socks5://127.0.0.1:1"

// fastFail is how quickly a connection through an unreachable proxy must fail.
const fastFail = 5 * time.Second

func waAccount(id int64, proxy string) sender.Account {
	return sender.Account{ID: id, Name: "shop", Channel: sender.WhatsApp, Status: sender.StatusDisconnected, ProxyURL: proxy}
}

// silentProxy accepts TCP connections and never answers, like a proxy or a network that
// swallows packets; it returns its http:// URL.
func silentProxy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestConnectNeedsAPairedAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()

	_, err := b.conn.Connect(ctx, waAccount(3, unreachableProxy), nil)
	require.ErrorIs(t, err, ErrNotPaired)
	require.ErrorContains(t, err, "account 3")
	require.ErrorContains(t, err, "pending_pair")

	a := waAccount(3, "")
	a.Channel = sender.Sandbox
	_, err = b.conn.Connect(ctx, a, nil)
	require.ErrorContains(t, err, `"sandbox" account`)
}

func TestConnectFailsFastWhenWhatsAppIsUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	storeFakeDevice(t, b, 3, ownDigits)
	events := &eventLog{}

	for range 2 { // the failed attempt leaves the account free to try again
		start := time.Now()
		_, err := b.conn.Connect(context.Background(), waAccount(3, unreachableProxy), events.add)
		require.Less(t, time.Since(start), fastFail)
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrAlreadyConnected)
		require.ErrorContains(t, err, "connect account 3 through proxy socks5://127.0.0.1:1")
		require.ErrorContains(t, err, "refused")
		require.ErrorContains(t, err, "check the network or the account's proxy")
		require.NotContains(t, err.Error(), ownDigits)
	}
	require.Empty(t, events.all(), "no events from a connection that never opened")
}

func TestConnectTimesOutWhenNobodyAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{ConnectTimeout: 300 * time.Millisecond})
	storeFakeDevice(t, b, 3, ownDigits)
	proxy := silentProxy(t)

	start := time.Now()
	_, err := b.conn.Connect(context.Background(), waAccount(3, proxy), nil)
	require.Less(t, time.Since(start), fastFail)
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorContains(t, err, "through proxy "+proxy)

	// The caller's context ends the wait too.
	b2 := setup(t, Options{ConnectTimeout: time.Minute})
	storeFakeDevice(t, b2, 3, ownDigits)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = b2.conn.Connect(ctx, waAccount(3, proxy), nil)
	require.Less(t, time.Since(start), fastFail)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConnectRejectsBadProxies(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	storeFakeDevice(t, b, 3, ownDigits)
	for proxy, want := range map[string]string{
		"ftp://proxy.example:21":          `unsupported proxy scheme "ftp"`,
		"socks5://":                       "has no host",
		"http://user:hunter2@[::1":        "bad proxy URL",
		"socks4://user:hunter2@127.0.0.1": "user:xxxxx@",
	} {
		_, err := b.conn.Connect(context.Background(), waAccount(3, proxy), nil)
		require.ErrorContains(t, err, want, proxy)
		require.NotContains(t, err.Error(), "hunter2", "proxy passwords stay out of errors")
	}

	// A refused proxy with a password: the password stays out of the error too.
	_, err := b.conn.Connect(context.Background(), waAccount(3, "socks5://user:hunter2@127.0.0.1:1"), nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestConnectorClose(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	require.NoError(t, b.conn.Close())
	require.NoError(t, b.conn.Close(), "twice")
	_, err := b.conn.PairQR(context.Background(), waAccount(3, unreachableProxy))
	require.Error(t, err)
}

func TestUnpair(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	seedPeople(t, b) // account 3's device and what it knows about people
	ctx := context.Background()

	// Not while connected in this process.
	tr := &Transport{}
	require.NoError(t, b.conn.reserve(3, tr))
	require.ErrorContains(t, b.conn.Unpair(ctx, 3), "close its connection first")
	b.conn.release(3, tr)

	require.NoError(t, b.conn.Unpair(ctx, 3))
	_, err := b.conn.device(ctx, 3)
	require.ErrorIs(t, err, ErrNotPaired)
	for _, table := range []string{"whatsmeow_device", "whatsmeow_contacts", "whatsmeow_sessions", "whatsmeow_identity_keys", "whatsmeow_privacy_tokens", "whatsmeow_message_secrets", "crier_whatsapp_devices"} {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		require.Zero(t, n, table)
	}
	require.NoError(t, b.conn.Unpair(ctx, 3), "twice")
}
