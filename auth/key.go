package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
)

// ErrUnauthenticated is returned for a token that is malformed, unknown or revoked. The
// caller is not told which.
var ErrUnauthenticated = errors.New("auth: invalid API key")

// Key is an API key as listed: never its secret.
type Key struct {
	ID         string
	Name       string
	Role       Role
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Keys stores API keys in PostgreSQL.
type Keys struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewKeys returns a key store on pool.
func NewKeys(pool *pgxpool.Pool) *Keys { return &Keys{pool: pool, now: time.Now} }

// A token is "crier_" + id + "_" + secret: the id (60 random bits) finds the key, the
// secret (256 random bits) proves it. Both are lower-case base32, so a token survives
// copy-paste and needs no quoting in a shell.
const tokenPrefix = "crier_"

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const maxKeyName = 100

// Create makes a new key and returns its token, which is shown once and never stored.
func (k *Keys) Create(ctx context.Context, name string, role Role) (token string, key Key, err error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxKeyName {
		return "", Key{}, apperr.Field("name", "is required and at most %d characters", maxKeyName)
	}
	role, err = ParseRole(string(role))
	if err != nil {
		return "", Key{}, apperr.Field("role", "%s", err)
	}
	idBytes := make([]byte, 8)
	secret := make([]byte, 32)
	rand.Read(idBytes) // crypto/rand.Read never fails (Go 1.24+)
	rand.Read(secret)
	id := encoding.EncodeToString(idBytes)[:12]
	secretText := encoding.EncodeToString(secret)
	hash := sha256.Sum256([]byte(secretText))

	err = k.pool.QueryRow(ctx, `
		INSERT INTO api_keys (id, secret_hash, name, role) VALUES ($1, $2, $3, $4)
		RETURNING id, name, role, created_at, last_used_at, revoked_at`,
		id, hash[:], name, role).Scan(&key.ID, &key.Name, &key.Role, &key.CreatedAt, &key.LastUsedAt, &key.RevokedAt)
	if err != nil {
		return "", Key{}, fmt.Errorf("auth: create key: %w", err)
	}
	return tokenPrefix + id + "_" + secretText, key, nil
}

// List returns every key, revoked ones included, oldest first.
func (k *Keys) List(ctx context.Context) ([]Key, error) {
	rows, err := k.pool.Query(ctx, `
		SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Key])
	if err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	return keys, nil
}

// Revoke disables a key for good. Revoking a revoked key is not an error.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	tag, err := k.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("auth: revoke key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFoundf("API key %q not found", id)
	}
	return nil
}

// dummyHash is compared against when the id is unknown, so that an unknown id and a wrong
// secret take the same time.
var dummyHash = sha256.Sum256([]byte("crier-dummy"))

// Authenticate returns the key a token belongs to, or ErrUnauthenticated.
func (k *Keys) Authenticate(ctx context.Context, token string) (Key, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 12 || len(secret) != encoding.EncodedLen(32) {
		return Key{}, ErrUnauthenticated
	}
	var key Key
	stored := dummyHash[:]
	err := k.pool.QueryRow(ctx, `
		SELECT id, name, role, created_at, last_used_at, revoked_at, secret_hash FROM api_keys WHERE id = $1`, id).
		Scan(&key.ID, &key.Name, &key.Role, &key.CreatedAt, &key.LastUsedAt, &key.RevokedAt, &stored)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Key{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	given := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(given[:], stored) != 1 || err != nil || key.RevokedAt != nil {
		return Key{}, ErrUnauthenticated
	}
	// Record use at most once a minute, so that a busy key does not write on every request.
	now := k.now()
	if key.LastUsedAt == nil || now.Sub(*key.LastUsedAt) > time.Minute {
		if _, err := k.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, key.ID, now); err != nil {
			return Key{}, fmt.Errorf("auth: authenticate: %w", err)
		}
	}
	return key, nil
}
