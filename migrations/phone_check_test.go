package migrations_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// e164Pattern is contacts_phone_check as migration 00001 wrote it.
const e164Pattern = `^\+[1-9][0-9]{6,14}$`

// TestPhoneCheckIsThePattern evaluates contacts_phone_check, as the database holds it
// after migration 00027, beside the regular expression it replaced, over the edges of
// the rule and fifty thousand random strings: they must agree on every one. Then it
// checks that the constraint still guards inserts, and that down brings the pattern back.
func TestPhoneCheckIsThePattern(t *testing.T) {
	ctx := context.Background()
	db, p := migrated(t)

	var expr string
	require.NoError(t, db.QueryRowContext(ctx, `
		SELECT pg_get_expr(conbin, conrelid) FROM pg_constraint
		WHERE conrelid = 'contacts'::regclass AND conname = 'contacts_phone_check'`).Scan(&expr))
	require.NotContains(t, expr, "~", "00027 replaces the regular expression")

	candidates := []string{
		"", "+", "+1", "+123456", "+1234567", "+12345678", "+123456789012345", "+1234567890123456",
		"+12345678901234567", "+0234567", "+02345678", "++1234567", "1234567", "12345678",
		"+1234567 ", " +1234567", "+1234567\n", "+1234\n567", "+123456a", "+a234567",
		"+123456٣", "+١٢٣٤٥٦٧٨", "+12345678٣", "+１２３４５６７８", "+1-234-567", "+1 2345678",
		"+9999999", "+99999999", "+999999999999999", "+9999999999999999", "+00000000",
		"+1234567+", "+12345678+", "+" + strings.Repeat("1", 15), "+" + strings.Repeat("1", 16),
	}
	rng := rand.New(rand.NewPCG(27, 1))
	alphabet := []rune("0123456789+ a-\n٣")
	for range 50_000 {
		var b strings.Builder
		if rng.IntN(10) < 8 {
			b.WriteByte('+')
		}
		for range rng.IntN(18) {
			if rng.IntN(20) == 0 {
				b.WriteRune(alphabet[10+rng.IntN(len(alphabet)-10)])
			} else {
				b.WriteRune(alphabet[rng.IntN(10)])
			}
		}
		candidates = append(candidates, b.String())
	}

	var accepted, disagree int
	var examples string
	require.NoError(t, db.QueryRowContext(ctx, `
		SELECT count(*) FILTER (WHERE ok),
		       count(*) FILTER (WHERE ok IS DISTINCT FROM check_ok),
		       coalesce(left(string_agg(format('%L', phone), ', ') FILTER (WHERE ok IS DISTINCT FROM check_ok), 200), '')
		FROM (SELECT phone, phone ~ '`+e164Pattern+`' AS ok,
		             coalesce(`+expr+`, true) AS check_ok -- a CHECK passes on NULL
		      FROM unnest($1::text[]) AS t(phone)) c`, candidates).Scan(&accepted, &disagree, &examples))
	require.Zero(t, disagree, "the check and the pattern disagree, e.g. on %s", examples)
	require.Greater(t, accepted, 10_000, "the candidates reach both sides of the rule")
	require.Less(t, accepted, len(candidates)-10_000, "the candidates reach both sides of the rule")

	_, err := db.ExecContext(ctx, `INSERT INTO contacts (phone) VALUES ('+6591234567')`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO contacts (phone) VALUES ('+06591234567')`)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "a number that is not E.164 is refused: %v", err)
	require.Equal(t, "23514", pgErr.Code)
	require.Equal(t, "contacts_phone_check", pgErr.ConstraintName)

	_, err = p.DownTo(ctx, 26)
	require.NoError(t, err, "00027 goes down cleanly")
	require.NoError(t, db.QueryRowContext(ctx, `
		SELECT pg_get_expr(conbin, conrelid) FROM pg_constraint
		WHERE conrelid = 'contacts'::regclass AND conname = 'contacts_phone_check'`).Scan(&expr))
	require.Contains(t, expr, e164Pattern, "down brings the pattern back")
	_, err = p.Up(ctx)
	require.NoError(t, err)
}
