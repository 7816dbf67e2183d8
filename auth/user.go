package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/crierhq/crier/internal/apperr"
)

// ErrBadSignIn is returned for a wrong email or password, an unknown, used or expired
// sign-in link, and a disabled user alike: the caller is not told which.
var ErrBadSignIn = errors.New("auth: the email or password is wrong, or the link has expired")

// User is a person who signs in to the console. Users hold the same roles as API keys.
type User struct {
	ID           int64
	Email        string
	Role         Role
	HasPassword  bool
	CreatedAt    time.Time
	LastSignInAt *time.Time
	DisabledAt   *time.Time
}

// Users stores console users, their one-time sign-in links and their sessions.
type Users struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// IdleTimeout ends a session nobody used for that long; AbsoluteTimeout ends every
	// session that long after sign-in; LinkTTL is how long a sign-in link works.
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	LinkTTL         time.Duration
	cost            int
}

// The defaults of Users' timeouts.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	DefaultLinkTTL         = 24 * time.Hour
	// MinPasswordLength is the shortest password accepted (NIST SP 800-63B's minimum for
	// a chosen password); bcrypt reads at most 72 bytes, so that is the longest.
	MinPasswordLength = 12
	maxPasswordBytes  = 72
	maxEmail          = 254
)

// NewUsers returns a user store on pool.
func NewUsers(pool *pgxpool.Pool) *Users {
	return &Users{pool: pool, now: time.Now, IdleTimeout: DefaultIdleTimeout,
		AbsoluteTimeout: DefaultAbsoluteTimeout, LinkTTL: DefaultLinkTTL, cost: bcrypt.DefaultCost}
}

// SetCost lowers bcrypt's cost, for tests: bcrypt.MinCost makes a hash take microseconds.
func (u *Users) SetCost(cost int) { u.cost = cost }

const userColumns = `id, email, role, password_hash IS NOT NULL, created_at, last_sign_in_at, disabled_at`

func scanUser(row pgx.Row) (User, error) {
	var x User
	err := row.Scan(&x.ID, &x.Email, &x.Role, &x.HasPassword, &x.CreatedAt, &x.LastSignInAt, &x.DisabledAt)
	return x, err
}

// NormalizeEmail checks an email address and returns it in lower case.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > maxEmail || !strings.Contains(s[strings.IndexByte(s, '@')+1:], ".") {
		return "", apperr.Field("email", "must be an email address like ana@example.com")
	}
	return s, nil
}

// checkPassword enforces the length rules; anything else a person chooses is allowed.
func checkPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength || len(pw) > maxPasswordBytes {
		return apperr.Field("password", "must be at least %d characters and at most %d bytes", MinPasswordLength, maxPasswordBytes)
	}
	return nil
}

// Create adds a user. An empty password leaves the user to sign in with a link.
func (u *Users) Create(ctx context.Context, email string, role Role, password string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if role, err = ParseRole(string(role)); err != nil {
		return User{}, apperr.Field("role", "%s", err)
	}
	var hash *string
	if password != "" {
		h, err := u.hash(password)
		if err != nil {
			return User{}, err
		}
		hash = &h
	}
	x, err := scanUser(u.pool.QueryRow(ctx, `
		INSERT INTO users (email, role, password_hash) VALUES ($1, $2, $3) RETURNING `+userColumns, email, role, hash))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return User{}, &apperr.Error{Code: apperr.Conflict, Message: "a user with this email exists",
			Fields: []apperr.FieldError{{Field: "email", Message: "is taken"}}}
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	return x, nil
}

func (u *Users) hash(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), u.cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// Get returns one user.
func (u *Users) Get(ctx context.Context, id int64) (User, error) {
	x, err := scanUser(u.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, apperr.NotFoundf("user %d not found", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: get user: %w", err)
	}
	return x, nil
}

// List returns every user, oldest first. Staff lists are short: there is no paging.
func (u *Users) List(ctx context.Context) ([]User, error) {
	rows, err := u.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id LIMIT 10000`)
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return list, nil
}

// UserChange is a change to a user; nil fields stay as they are.
type UserChange struct {
	Role     *Role
	Disabled *bool
	Password *string
}

// Update changes a user. Disabling a user or changing their role or password ends their
// sessions, so that a change of rights applies at once.
func (u *Users) Update(ctx context.Context, id int64, c UserChange) (User, error) {
	var role *Role
	if c.Role != nil {
		r, err := ParseRole(string(*c.Role))
		if err != nil {
			return User{}, apperr.Field("role", "%s", err)
		}
		role = &r
	}
	var hash *string
	if c.Password != nil {
		h, err := u.hash(*c.Password)
		if err != nil {
			return User{}, err
		}
		hash = &h
	}
	tx, err := u.pool.Begin(ctx)
	if err != nil {
		return User{}, fmt.Errorf("auth: update user: %w", err)
	}
	defer tx.Rollback(ctx)
	x, err := scanUser(tx.QueryRow(ctx, `
		UPDATE users SET role = coalesce($2, role), password_hash = coalesce($3, password_hash),
			disabled_at = CASE WHEN $4::boolean IS NULL THEN disabled_at
			                   WHEN $4 THEN coalesce(disabled_at, now()) ELSE NULL END
		WHERE id = $1 RETURNING `+userColumns, id, role, hash, c.Disabled))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, apperr.NotFoundf("user %d not found", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: update user: %w", err)
	}
	if role != nil || hash != nil || (c.Disabled != nil && *c.Disabled) {
		if _, err := tx.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, id); err != nil {
			return User{}, fmt.Errorf("auth: update user: %w", err)
		}
	}
	return x, tx.Commit(ctx)
}

// ChangePassword sets a user's password on their own request. A user who has a password
// must give it (current), so that a session left open on a shared computer cannot be
// turned into the account; one who signed in with a link and has none yet leaves current
// empty. The user's other sessions end; the one of keepToken (the session making the
// change) stays signed in. A wrong current password is a field error that wraps
// ErrBadSignIn, so that the caller can count it as a failed sign-in.
func (u *Users) ChangePassword(ctx context.Context, id int64, current, next, keepToken string) error {
	if err := checkPassword(next); err != nil {
		return apperr.Field("new_password", "must be at least %d characters and at most %d bytes", MinPasswordLength, maxPasswordBytes)
	}
	tx, err := u.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	defer tx.Rollback(ctx)
	var hash *string
	err = tx.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1 AND disabled_at IS NULL FOR UPDATE`, id).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFoundf("user %d not found or disabled", id)
	}
	if err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	if hash != nil {
		if len(current) > maxPasswordBytes {
			current = current[:maxPasswordBytes]
		}
		if bcrypt.CompareHashAndPassword([]byte(*hash), []byte(current)) != nil {
			return &apperr.Error{Code: apperr.Invalid, Message: "the current password is wrong",
				Fields: []apperr.FieldError{{Field: "current_password", Message: "is wrong"}}, Err: ErrBadSignIn}
		}
	}
	h, err := u.hash(next)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, h); err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1 AND token_hash <> $2`, id, tokenHash(keepToken)); err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	return nil
}

// newToken returns a random token (256 bits, base32) and its SHA-256.
func newToken() (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	t := encoding.EncodeToString(b)
	h := sha256.Sum256([]byte(t))
	return t, h[:]
}

func tokenHash(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// SignInLink makes a one-time sign-in token for a user, valid for LinkTTL. The token is
// shown once and only its hash is kept.
func (u *Users) SignInLink(ctx context.Context, id int64) (string, time.Time, error) {
	token, hash := newToken()
	expires := u.now().Add(u.LinkTTL)
	tag, err := u.pool.Exec(ctx, `
		INSERT INTO user_sign_in_links (token_hash, user_id, expires_at)
		SELECT $1, id, $3 FROM users WHERE id = $2 AND disabled_at IS NULL`, hash, id, expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign-in link: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return "", time.Time{}, apperr.NotFoundf("user %d not found or disabled", id)
	}
	return token, expires, nil
}

// dummyBcrypt is compared against for an unknown email, so that it takes as long as a
// known one.
var dummyBcrypt, _ = bcrypt.GenerateFromPassword([]byte("crier-dummy-password"), bcrypt.DefaultCost)

// SignIn checks an email and password and opens a session.
func (u *Users) SignIn(ctx context.Context, email, password string) (Session, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var id int64
	var hash *string
	var disabled *time.Time
	err := u.pool.QueryRow(ctx, `SELECT id, password_hash, disabled_at FROM users WHERE email = $1`, email).
		Scan(&id, &hash, &disabled)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Session{}, fmt.Errorf("auth: sign in: %w", err)
	}
	stored := dummyBcrypt
	if hash != nil {
		stored = []byte(*hash)
	}
	if len(password) > maxPasswordBytes {
		password = password[:maxPasswordBytes]
	}
	if bcrypt.CompareHashAndPassword(stored, []byte(password)) != nil || err != nil || hash == nil || disabled != nil {
		return Session{}, ErrBadSignIn
	}
	return u.open(ctx, id)
}

// Redeem uses a sign-in link once and opens a session.
func (u *Users) Redeem(ctx context.Context, token string) (Session, error) {
	var id int64
	err := u.pool.QueryRow(ctx, `
		UPDATE user_sign_in_links l SET used_at = now()
		FROM users x
		WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2
		  AND x.id = l.user_id AND x.disabled_at IS NULL
		RETURNING l.user_id`, tokenHash(token), u.now()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrBadSignIn
	}
	if err != nil {
		return Session{}, fmt.Errorf("auth: redeem link: %w", err)
	}
	return u.open(ctx, id)
}

// Session is a signed-in browser: Token goes in the cookie (only when opened), CSRFToken
// in every form and change.
type Session struct {
	Token     string
	CSRFToken string
	User      User
	ExpiresAt time.Time
}

func (u *Users) open(ctx context.Context, userID int64) (Session, error) {
	token, hash := newToken()
	csrf, _ := newToken()
	now := u.now()
	s := Session{Token: token, CSRFToken: csrf, ExpiresAt: now.Add(u.AbsoluteTimeout)}
	tx, err := u.pool.Begin(ctx)
	if err != nil {
		return Session{}, fmt.Errorf("auth: open session: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `
		INSERT INTO user_sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $4, $5)`, hash, userID, csrf, now, s.ExpiresAt); err != nil {
		return Session{}, fmt.Errorf("auth: open session: %w", err)
	}
	// Expired sessions of this user go as a new one opens: the table stays small without
	// a sweeper.
	if _, err := tx.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_seen_at <= $3)`,
		userID, now, now.Add(-u.IdleTimeout)); err != nil {
		return Session{}, fmt.Errorf("auth: open session: %w", err)
	}
	if s.User, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET last_sign_in_at = $2 WHERE id = $1 RETURNING `+userColumns, userID, now)); err != nil {
		return Session{}, fmt.Errorf("auth: open session: %w", err)
	}
	return s, tx.Commit(ctx)
}

// Lookup returns the live session of a cookie's token and marks it used, or
// ErrUnauthenticated when it is unknown, idle too long, past its absolute timeout, or
// its user is disabled. The returned Session has no Token.
func (u *Users) Lookup(ctx context.Context, token string) (Session, error) {
	if len(token) != encoding.EncodedLen(32) {
		return Session{}, ErrUnauthenticated
	}
	now := u.now()
	var s Session
	var lastSeen time.Time
	err := u.pool.QueryRow(ctx, `
		SELECT s.csrf_token, s.expires_at, s.last_seen_at, `+prefixed("x.", userColumns)+`
		FROM user_sessions s JOIN users x ON x.id = s.user_id
		WHERE s.token_hash = $1`, tokenHash(token)).
		Scan(&s.CSRFToken, &s.ExpiresAt, &lastSeen, &s.User.ID, &s.User.Email, &s.User.Role, &s.User.HasPassword,
			&s.User.CreatedAt, &s.User.LastSignInAt, &s.User.DisabledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrUnauthenticated
	}
	if err != nil {
		return Session{}, fmt.Errorf("auth: session: %w", err)
	}
	if !now.Before(s.ExpiresAt) || now.Sub(lastSeen) >= u.IdleTimeout || s.User.DisabledAt != nil {
		return Session{}, ErrUnauthenticated
	}
	// Record use at most once every 30 seconds: reading a page does not write each time.
	if now.Sub(lastSeen) > 30*time.Second {
		if _, err := u.pool.Exec(ctx, `UPDATE user_sessions SET last_seen_at = $2 WHERE token_hash = $1`, tokenHash(token), now); err != nil {
			return Session{}, fmt.Errorf("auth: session: %w", err)
		}
	}
	return s, nil
}

// SignOut ends a session. Ending an unknown one is not an error.
func (u *Users) SignOut(ctx context.Context, token string) error {
	if _, err := u.pool.Exec(ctx, `DELETE FROM user_sessions WHERE token_hash = $1`, tokenHash(token)); err != nil {
		return fmt.Errorf("auth: sign out: %w", err)
	}
	return nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = p + c
	}
	return strings.Join(parts, ", ")
}
