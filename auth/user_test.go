package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/testdb"
)

// usersAt returns a user store on a fresh database with a clock the test moves.
func usersAt(t *testing.T) (*Users, *time.Time) {
	t.Helper()
	t.Parallel()
	u := NewUsers(testdb.New(t))
	u.SetCost(bcrypt.MinCost)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	u.now = func() time.Time { return now }
	return u, &now
}

func TestSessionIdleAndAbsoluteTimeouts(t *testing.T) {
	u, now := usersAt(t)
	ctx := context.Background()
	_, err := u.Create(ctx, "ana@example.com", Marketer, "correct horse battery")
	require.NoError(t, err)

	// Idle: used every 20 minutes, a session lives; 30 minutes unused, it is gone.
	s, err := u.SignIn(ctx, "ana@example.com", "correct horse battery")
	require.NoError(t, err)
	for range 3 {
		*now = now.Add(20 * time.Minute)
		_, err = u.Lookup(ctx, s.Token)
		require.NoError(t, err, "a session in use stays")
	}
	*now = now.Add(DefaultIdleTimeout)
	_, err = u.Lookup(ctx, s.Token)
	require.ErrorIs(t, err, ErrUnauthenticated, "idle for the idle timeout: ended")

	// Absolute: even a session used every few minutes ends 12 hours after sign-in.
	s, err = u.SignIn(ctx, "ana@example.com", "correct horse battery")
	require.NoError(t, err)
	start := *now
	for now.Sub(start) < DefaultAbsoluteTimeout-10*time.Minute {
		*now = now.Add(10 * time.Minute)
		_, err = u.Lookup(ctx, s.Token)
		require.NoError(t, err, "at %s", now.Sub(start))
	}
	*now = start.Add(DefaultAbsoluteTimeout)
	_, err = u.Lookup(ctx, s.Token)
	require.ErrorIs(t, err, ErrUnauthenticated, "past the absolute timeout: ended however busy")

	// A sign-in link works once, and not after LinkTTL.
	id := s.User.ID
	link, _, err := u.SignInLink(ctx, id)
	require.NoError(t, err)
	_, err = u.Redeem(ctx, link)
	require.NoError(t, err)
	_, err = u.Redeem(ctx, link)
	require.ErrorIs(t, err, ErrBadSignIn, "used once")
	link, _, err = u.SignInLink(ctx, id)
	require.NoError(t, err)
	*now = now.Add(DefaultLinkTTL)
	_, err = u.Redeem(ctx, link)
	require.ErrorIs(t, err, ErrBadSignIn, "expired")
}

func TestPasswordsAreBcryptHashes(t *testing.T) {
	u, _ := usersAt(t)
	ctx := context.Background()
	x, err := u.Create(ctx, "  Ana.Lima@Example.COM ", Admin, "correct horse battery")
	require.NoError(t, err)
	require.Equal(t, "ana.lima@example.com", x.Email, "emails are trimmed and lower-cased")
	require.True(t, x.HasPassword)

	var stored string
	require.NoError(t, u.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, x.ID).Scan(&stored))
	require.NotContains(t, stored, "correct horse", "never the password itself")
	require.True(t, strings.HasPrefix(stored, "$2a$"), "a bcrypt hash: %s", stored)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(stored), []byte("correct horse battery")))

	// Sign-in finds the user whatever the case of the address, and only with the password.
	_, err = u.SignIn(ctx, "ANA.LIMA@example.com", "correct horse battery")
	require.NoError(t, err)
	_, err = u.SignIn(ctx, "ana.lima@example.com", "correct horse battery!")
	require.ErrorIs(t, err, ErrBadSignIn)
	_, err = u.SignIn(ctx, "nobody@example.com", "correct horse battery")
	require.ErrorIs(t, err, ErrBadSignIn, "an unknown email is the same error")

	// The same address in another case is the same user.
	_, err = u.Create(ctx, "ANA.LIMA@example.com", Marketer, "")
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))

	for _, bad := range []string{"ana", "ana@", "ana@example", "<ana@example.com>", "Ana <ana@example.com>", strings.Repeat("a", 250) + "@example.com"} {
		_, err := NormalizeEmail(bad)
		require.Error(t, err, bad)
	}

	// Too short a password is refused by field, at creation and at a change.
	_, err = u.Create(ctx, "short@example.com", Marketer, "elevenchars")
	require.ErrorContains(t, err, "password: must be at least 12 characters")
	_, err = u.Create(ctx, "long@example.com", Marketer, strings.Repeat("x", 73))
	require.ErrorContains(t, err, "at most 72 bytes")
	err = u.ChangePassword(ctx, x.ID, "correct horse battery", "tooshort", "")
	require.ErrorContains(t, err, "new_password")

	// A change needs the current password; it keeps the changing session, ends the others.
	keep, err := u.SignIn(ctx, "ana.lima@example.com", "correct horse battery")
	require.NoError(t, err)
	other, err := u.SignIn(ctx, "ana.lima@example.com", "correct horse battery")
	require.NoError(t, err)
	err = u.ChangePassword(ctx, x.ID, "wrong password!!", "a brand new passphrase", keep.Token)
	require.True(t, errors.Is(err, ErrBadSignIn), "%v", err)
	require.ErrorContains(t, err, "current_password")
	require.NoError(t, u.ChangePassword(ctx, x.ID, "correct horse battery", "a brand new passphrase", keep.Token))
	_, err = u.Lookup(ctx, keep.Token)
	require.NoError(t, err)
	_, err = u.Lookup(ctx, other.Token)
	require.ErrorIs(t, err, ErrUnauthenticated)
	_, err = u.SignIn(ctx, "ana.lima@example.com", "a brand new passphrase")
	require.NoError(t, err)

	// A user made without a password (link only) cannot sign in with any password, and
	// sets one without a current one.
	y, err := u.Create(ctx, "link@example.com", Ops, "")
	require.NoError(t, err)
	require.False(t, y.HasPassword)
	_, err = u.SignIn(ctx, "link@example.com", "")
	require.ErrorIs(t, err, ErrBadSignIn)
	require.NoError(t, u.ChangePassword(ctx, y.ID, "", "my first passphrase", ""))
	_, err = u.SignIn(ctx, "link@example.com", "my first passphrase")
	require.NoError(t, err)
}

func TestDisablingAndRoleChangesEndSessions(t *testing.T) {
	u, _ := usersAt(t)
	ctx := context.Background()
	x, err := u.Create(ctx, "ops@example.com", Ops, "correct horse battery")
	require.NoError(t, err)
	s, err := u.SignIn(ctx, "ops@example.com", "correct horse battery")
	require.NoError(t, err)
	role := Marketer
	_, err = u.Update(ctx, x.ID, UserChange{Role: &role})
	require.NoError(t, err)
	_, err = u.Lookup(ctx, s.Token)
	require.ErrorIs(t, err, ErrUnauthenticated, "a role change signs the user out")

	s, err = u.SignIn(ctx, "ops@example.com", "correct horse battery")
	require.NoError(t, err)
	require.Equal(t, Marketer, s.User.Role)
	yes := true
	_, err = u.Update(ctx, x.ID, UserChange{Disabled: &yes})
	require.NoError(t, err)
	_, err = u.Lookup(ctx, s.Token)
	require.ErrorIs(t, err, ErrUnauthenticated)
	_, err = u.SignIn(ctx, "ops@example.com", "correct horse battery")
	require.ErrorIs(t, err, ErrBadSignIn, "a disabled user cannot sign in")
	_, _, err = u.SignInLink(ctx, x.ID)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "nor get a link")
}
