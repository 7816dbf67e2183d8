package sender

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/testdb"
)

func ptr[T any](v T) *T { return &v }

// TestAccountUpdate: each setting changes alone, with Create's limits for the account's
// channel; the changes are reported old → new, proxies without their passwords; warm-up
// starts on the store's today unless the account still waits to be paired; and what the
// Manager reads next (Connectable) carries the new limits.
func TestAccountUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewAccounts(testdb.New(t))
	s.now = func() time.Time { return time.Date(2025, 3, 9, 23, 30, 0, 0, time.FixedZone("", -5*3600)) } // 10 March in UTC

	sb, err := s.Create(ctx, AccountInput{Name: "Sandbox", Channel: Sandbox})
	require.NoError(t, err)
	require.False(t, sb.Warmup)
	require.True(t, sb.WarmupStart.IsZero())

	a, changes, err := s.Update(ctx, sb.ID, AccountPatch{RatePerMinute: ptr(5000), DailyCap: ptr(300), Warmup: ptr(true), Pacing: ptr(false)})
	require.NoError(t, err)
	require.Equal(t, []AccountChange{{"rate_per_minute", 600, 5000}, {"daily_cap", 0, 300}, {"warmup", false, true}}, changes,
		"pacing was off already")
	require.Equal(t, 5000, a.RatePerMinute)
	require.Equal(t, 300, a.DailyCap)
	require.Equal(t, "2025-03-10", a.WarmupStart.Format(time.DateOnly), "warm-up starts today (UTC)")
	list, err := s.Connectable(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, AccountLimits{RatePerMinute: 5000, DailyCap: 300, Warmup: WarmupRamp{Start: a.WarmupStart}}, list[0].Limits(),
		"the Manager's next read hands the limiter the new limits")

	// Turning warm-up off and on again keeps the day it started.
	s.now = func() time.Time { return time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC) }
	_, _, err = s.Update(ctx, sb.ID, AccountPatch{Warmup: ptr(false)})
	require.NoError(t, err)
	a, _, err = s.Update(ctx, sb.ID, AccountPatch{Warmup: ptr(true)})
	require.NoError(t, err)
	require.Equal(t, "2025-03-10", a.WarmupStart.Format(time.DateOnly))

	// Nothing to change: nothing written.
	same, changes, err := s.Update(ctx, sb.ID, AccountPatch{RatePerMinute: ptr(5000), Warmup: ptr(true)})
	require.NoError(t, err)
	require.Empty(t, changes)
	require.Equal(t, a.UpdatedAt, same.UpdatedAt)

	// The limits of Create, by channel; a proxy only for whatsapp accounts.
	for _, tc := range []struct {
		p     AccountPatch
		field string
	}{
		{AccountPatch{RatePerMinute: ptr(0)}, "rate_per_minute"},
		{AccountPatch{RatePerMinute: ptr(maxSandboxRate + 1)}, "rate_per_minute"},
		{AccountPatch{DailyCap: ptr(-1)}, "daily_cap"},
		{AccountPatch{ProxyURL: ptr("socks5://proxy.example:1080")}, "proxy_url"},
	} {
		_, _, err := s.Update(ctx, sb.ID, tc.p)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Equal(t, tc.field, apperr.FieldsOf(err)[0].Field)
	}
	_, _, err = s.Update(ctx, sb.ID, AccountPatch{ProxyURL: ptr("")})
	require.NoError(t, err, "no proxy is no proxy, on any channel")

	wa, err := s.Create(ctx, AccountInput{Name: "Sales", Channel: WhatsApp, ProxyURL: "socks5://user:hunter2@proxy.example:1080"})
	require.NoError(t, err)
	require.Equal(t, StatusPendingPair, wa.Status)
	_, _, err = s.Update(ctx, wa.ID, AccountPatch{RatePerMinute: ptr(maxWhatsAppRate + 1)})
	require.Equal(t, "rate_per_minute", apperr.FieldsOf(err)[0].Field, "a WhatsApp number's rate is capped lower")
	for _, bad := range []string{"ftp://proxy.example:21", "socks5://proxy.example", "not a url"} {
		_, _, err = s.Update(ctx, wa.ID, AccountPatch{ProxyURL: ptr(bad)})
		require.Equal(t, "proxy_url", apperr.FieldsOf(err)[0].Field, bad)
	}
	a, changes, err = s.Update(ctx, wa.ID, AccountPatch{ProxyURL: ptr("socks5://user:s3cret@proxy.example:1080"), Warmup: ptr(false)})
	require.NoError(t, err)
	require.Equal(t, "socks5://user:s3cret@proxy.example:1080", a.ProxyURL)
	require.Equal(t, []AccountChange{{"warmup", true, false},
		{"proxy_url", "socks5://user:xxxxx@proxy.example:1080", "socks5://user:xxxxx@proxy.example:1080"}}, changes,
		"a new password is a change, shown without it")
	a, _, err = s.Update(ctx, wa.ID, AccountPatch{Warmup: ptr(true)})
	require.NoError(t, err)
	require.True(t, a.WarmupStart.IsZero(), "an account waiting to be paired starts its warm-up when paired")
	a, changes, err = s.Update(ctx, wa.ID, AccountPatch{ProxyURL: ptr("")})
	require.NoError(t, err)
	require.Empty(t, a.ProxyURL)
	require.Equal(t, []AccountChange{{"proxy_url", "socks5://user:xxxxx@proxy.example:1080", ""}}, changes)

	require.NoError(t, s.Delete(ctx, wa.ID))
	_, _, err = s.Update(ctx, wa.ID, AccountPatch{DailyCap: ptr(5)})
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "a deleted account is gone")
	_, _, err = s.Update(ctx, wa.ID+100, AccountPatch{DailyCap: ptr(5)})
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}
