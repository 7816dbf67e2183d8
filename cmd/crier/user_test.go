package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

func TestUserCommands(t *testing.T) {
	t.Parallel()
	getenv := env(t, "CRIER_PUBLIC_URL", "https://crier.example.com/")
	code, stdout, stderr := runCmd(t, getenv, "user", "create", "--email", "Ana@Example.com", "--role", "marketer")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	require.Len(t, lines, 1, "create without a password prints the link alone")
	require.Regexp(t, `^https://crier\.example\.com/login/link/[a-z2-7]{52}$`, lines[0])

	code, stdout, stderr = runCmd(t, getenv, "user", "link", "--email", "ana@example.com")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `^https://crier\.example\.com/login/link/[a-z2-7]{52}\n$`, stdout)
	require.NotEqual(t, lines[0]+"\n", stdout, "a new link each time")

	code, _, stderr = runCmd(t, getenv, "user", "link", "--email", "nobody@example.com")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no user has the email")
	code, _, stderr = runCmd(t, getenv, "user", "create", "--email", "bo@example.com", "--role", "root")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "unknown role")
	code, _, _ = runCmd(t, getenv, "user", "create", "--role", "admin")
	require.Equal(t, 2, code)
	code, _, _ = runCmd(t, getenv, "user", "delete")
	require.Equal(t, 2, code)

	// --password-stdin reads the first line; the link-free user signs in with it.
	a := testApp(t, getenv)
	var out bytes.Buffer
	err := cmdUser(context.Background(), a, []string{"create", "--email", "ops@example.com", "--role", "ops", "--password-stdin"},
		&out, getenv, strings.NewReader("correct horse battery\nsecond line\n"))
	require.NoError(t, err)
	require.Contains(t, out.String(), "created user")
	require.NotContains(t, out.String(), "/login/link/", "no link when a password is given")
	_, err = auth.NewUsers(a.pool).SignIn(context.Background(), "ops@example.com", "correct horse battery")
	require.NoError(t, err)
	err = cmdUser(context.Background(), a, []string{"create", "--email", "x@example.com", "--role", "ops", "--password-stdin"},
		&out, getenv, strings.NewReader("short\n"))
	require.ErrorContains(t, err, "at least 12")
	err = cmdUser(context.Background(), a, []string{"create", "--email", "x@example.com", "--role", "ops", "--password-stdin"},
		&out, getenv, strings.NewReader(""))
	require.ErrorContains(t, err, "empty")

	code, stdout, _ = runCmd(t, getenv, "user", "list")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "ana@example.com")
	require.Contains(t, stdout, "ops@example.com")
	require.NotContains(t, stdout, "$2a$")

	// Audited as the command line's user.
	conn, err := pgx.Connect(context.Background(), getenv("CRIER_DATABASE_URL"))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT action FROM audit_log WHERE actor LIKE 'cli:%' ORDER BY id`)
	require.NoError(t, err)
	actions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"user.create", "user.sign_in_link", "user.sign_in_link", "user.create"}, actions)
}

func TestPublicBaseURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ public, addr, want string }{
		{"https://crier.example.com/", "127.0.0.1:8080", "https://crier.example.com"},
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"", ":8080", "http://localhost:8080"},
		{"", "0.0.0.0:80", "http://localhost:80"},
		{"", "[::]:8080", "http://localhost:8080"},
	} {
		require.Equal(t, c.want, publicBaseURL(c.public, c.addr), "%+v", c)
	}
}
