package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/testdb"
)

func setup(t *testing.T) (*Keys, context.Context) {
	t.Helper()
	t.Parallel()
	return NewKeys(testdb.New(t)), context.Background()
}

var tokenShape = regexp.MustCompile(`^crier_([a-z2-7]{12})_([a-z2-7]{52})$`)

func TestCreate(t *testing.T) {
	k, ctx := setup(t)
	token, key, err := k.Create(ctx, "  Shop front  ", Marketer)
	require.NoError(t, err)
	m := tokenShape.FindStringSubmatch(token)
	require.NotNil(t, m, token)
	id, secret := m[1], m[2]
	require.Equal(t, id, key.ID)
	require.Equal(t, "Shop front", key.Name)
	require.Equal(t, Marketer, key.Role)
	require.WithinDuration(t, time.Now(), key.CreatedAt, time.Minute)
	require.Nil(t, key.LastUsedAt)
	require.Nil(t, key.RevokedAt)

	// Only the hash of the secret is stored, and nothing else holds the secret.
	var stored []byte
	var row string
	require.NoError(t, k.pool.QueryRow(ctx, `SELECT secret_hash, t::text FROM api_keys t WHERE id = $1`, id).Scan(&stored, &row))
	want := sha256.Sum256([]byte(secret))
	require.Equal(t, want[:], stored)
	require.NotContains(t, row, secret)

	// Every key is new.
	token2, key2, err := k.Create(ctx, "Shop front", Marketer)
	require.NoError(t, err)
	require.NotEqual(t, token, token2)
	require.NotEqual(t, key.ID, key2.ID)
}

// TestCreateEveryRole also checks that the five roles are the ones the table accepts.
func TestCreateEveryRole(t *testing.T) {
	k, ctx := setup(t)
	for _, r := range append(slices.Clone(Roles), "Compliance", " ops ") {
		token, key, err := k.Create(ctx, "key "+string(r), r)
		require.NoError(t, err, r)
		want, _ := ParseRole(string(r))
		require.Equal(t, want, key.Role)
		got, err := k.Authenticate(ctx, token)
		require.NoError(t, err)
		require.Equal(t, want, got.Role)
	}
}

func TestCreateInvalid(t *testing.T) {
	k, ctx := setup(t)
	tests := []struct {
		name  string
		role  Role
		field string
	}{
		{name: "", role: Admin, field: "name"},
		{name: "   ", role: Admin, field: "name"},
		{name: strings.Repeat("é", 101), role: Admin, field: "name"},
		{name: "ok", role: "", field: "role"},
		{name: "ok", role: "root", field: "role"},
	}
	for _, tt := range tests {
		token, _, err := k.Create(ctx, tt.name, tt.role)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%q %q: %v", tt.name, tt.role, err)
		require.Equal(t, tt.field, apperr.FieldsOf(err)[0].Field)
		require.Empty(t, token)
	}
	_, _, err := k.Create(ctx, strings.Repeat("é", 100), Admin)
	require.NoError(t, err, "100 characters is the limit, not 100 bytes")

	keys, err := k.List(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1, "no invalid key was stored")
}

func TestAuthenticate(t *testing.T) {
	k, ctx := setup(t)
	token, key, err := k.Create(ctx, "ops desk", Ops)
	require.NoError(t, err)
	other, otherKey, err := k.Create(ctx, "agent desk", Agent)
	require.NoError(t, err)
	revoked, revokedKey, err := k.Create(ctx, "old", Admin)
	require.NoError(t, err)
	require.NoError(t, k.Revoke(ctx, revokedKey.ID))

	id, secret, _ := strings.Cut(strings.TrimPrefix(token, "crier_"), "_")
	_, otherSecret, _ := strings.Cut(strings.TrimPrefix(other, "crier_"), "_")
	flip := func(s string) string { // the same length and alphabet, one letter off
		if s[len(s)-1] == 'a' {
			return s[:len(s)-1] + "b"
		}
		return s[:len(s)-1] + "a"
	}
	tests := []struct {
		name, token string
		want        string // the key's id; "" for ErrUnauthenticated
	}{
		{"valid", token, key.ID},
		{"another valid", other, otherKey.ID},
		{"wrong secret", "crier_" + id + "_" + flip(secret), ""},
		{"another key's secret", "crier_" + id + "_" + otherSecret, ""},
		{"unknown id", "crier_" + flip(id) + "_" + secret, ""},
		{"revoked", revoked, ""},
		{"empty", "", ""},
		{"no prefix", id + "_" + secret, ""},
		{"other prefix", "crier-" + id + "_" + secret, ""},
		{"bearer word", "Bearer " + token, ""},
		{"no separator", "crier_" + id + secret, ""},
		{"short id", "crier_" + id[1:] + "_" + secret, ""},
		{"long secret", token + "a", ""},
		{"short secret", token[:len(token)-1], ""},
		{"upper case", strings.ToUpper(token), ""},
	}
	for _, tt := range tests {
		got, err := k.Authenticate(ctx, tt.token)
		if tt.want == "" {
			require.ErrorIs(t, err, ErrUnauthenticated, tt.name)
			require.Equal(t, Key{}, got, tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, got.ID, tt.name)
	}
	require.Equal(t, Ops, mustAuth(t, k, token).Role)
	require.Equal(t, "agent desk", mustAuth(t, k, other).Name)
}

func mustAuth(t *testing.T, k *Keys, token string) Key {
	t.Helper()
	key, err := k.Authenticate(context.Background(), token)
	require.NoError(t, err)
	return key
}

// TestAuthenticateLastUsed checks that a key's use is recorded at most once a minute.
func TestAuthenticateLastUsed(t *testing.T) {
	k, ctx := setup(t)
	now := time.Date(2030, 5, 1, 9, 0, 0, 0, time.UTC)
	k.now = func() time.Time { return now }
	token, key, err := k.Create(ctx, "busy", Marketer)
	require.NoError(t, err)
	lastUsed := func() *time.Time {
		t.Helper()
		keys, err := k.List(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		require.Equal(t, key.ID, keys[0].ID)
		return keys[0].LastUsedAt
	}
	require.Nil(t, lastUsed())

	steps := []struct {
		after time.Duration // since the start
		want  time.Duration // last_used_at, since the start
	}{
		{0, 0},                // first use: recorded
		{30 * time.Second, 0}, // within the minute: not written
		{time.Minute, 0},      // exactly a minute: not written
		{time.Minute + time.Second, time.Minute + time.Second},
		{90 * time.Second, time.Minute + time.Second},
		{3 * time.Minute, 3 * time.Minute},
	}
	start := now
	for _, s := range steps {
		now = start.Add(s.after)
		mustAuth(t, k, token)
		got := lastUsed()
		require.NotNil(t, got, s.after)
		require.True(t, start.Add(s.want).Equal(*got), "after %s: last used %s", s.after, got.Sub(start))
	}

	// A failed attempt records nothing.
	now = start.Add(time.Hour)
	_, err = k.Authenticate(ctx, token[:len(token)-1]+"x")
	require.Error(t, err)
	require.True(t, start.Add(3*time.Minute).Equal(*lastUsed()))
}

func TestRevokeAndList(t *testing.T) {
	k, ctx := setup(t)
	names := []string{"first", "second", "third"}
	tokens := map[string]string{}
	for _, n := range names {
		token, _, err := k.Create(ctx, n, Agent)
		require.NoError(t, err)
		tokens[n] = token
	}
	keys, err := k.List(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 3)
	for i, key := range keys {
		require.Equal(t, names[i], key.Name, "oldest first")
		require.Nil(t, key.RevokedAt)
	}

	second := keys[1].ID
	require.NoError(t, k.Revoke(ctx, second))
	keys, err = k.List(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 3, "a revoked key is still listed")
	require.NotNil(t, keys[1].RevokedAt)
	require.Nil(t, keys[0].RevokedAt)
	require.Nil(t, keys[2].RevokedAt)
	at := *keys[1].RevokedAt

	_, err = k.Authenticate(ctx, tokens["second"])
	require.ErrorIs(t, err, ErrUnauthenticated)
	_, err = k.Authenticate(ctx, tokens["first"])
	require.NoError(t, err, "revoking one key leaves the others")

	// Revoking again is no error and keeps the first revocation's time.
	require.NoError(t, k.Revoke(ctx, second))
	keys, err = k.List(ctx)
	require.NoError(t, err)
	require.True(t, at.Equal(*keys[1].RevokedAt))

	err = k.Revoke(ctx, "nosuchkey000")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	require.ErrorContains(t, err, `"nosuchkey000"`)
}

func TestKeysDatabaseErrors(t *testing.T) {
	k, ctx := setup(t)
	token, _, err := k.Create(ctx, "x", Admin)
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// A database failure is an error of its own, never taken for a bad key.
	_, err = k.Authenticate(cancelled, token)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.Is(err, ErrUnauthenticated))
	require.ErrorContains(t, err, "auth: authenticate")
	_, _, err = k.Create(cancelled, "y", Admin)
	require.ErrorContains(t, err, "auth: create key")
	_, err = k.List(cancelled)
	require.ErrorContains(t, err, "auth: list keys")
	require.ErrorContains(t, k.Revoke(cancelled, "x"), "auth: revoke key")
}
