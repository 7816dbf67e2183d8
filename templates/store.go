package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
)

// Store keeps templates in PostgreSQL. Everything it stores has passed Engine.Normalize,
// so a stored template can always be rendered. It is the only file of this package that
// touches the database.
type Store struct {
	pool   *pgxpool.Pool
	engine *Engine
}

// NewStore returns a Store that validates with engine.
func NewStore(pool *pgxpool.Pool, engine *Engine) *Store { return &Store{pool: pool, engine: engine} }

// Stored is a template with its edit count.
type Stored struct {
	Template
	Version int
}

const storedColumns = `id, name, category, locales, version, created_at, updated_at`

func scanStored(row pgx.Row) (Stored, error) {
	var s Stored
	var locales []byte
	if err := row.Scan(&s.ID, &s.Name, &s.Category, &locales, &s.Version, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return Stored{}, err
	}
	if err := json.Unmarshal(locales, &s.Locales); err != nil {
		return Stored{}, fmt.Errorf("templates: template %d: locales: %w", s.ID, err)
	}
	return s, nil
}

// Create validates and stores a new template.
func (s *Store) Create(ctx context.Context, t Template) (Stored, error) {
	t, err := s.engine.Normalize(ctx, t)
	if err != nil {
		return Stored{}, err
	}
	locales, err := json.Marshal(t.Locales)
	if err != nil {
		return Stored{}, fmt.Errorf("templates: create: %w", err)
	}
	st, err := scanStored(s.pool.QueryRow(ctx, `
		INSERT INTO templates (name, category, locales) VALUES ($1, $2, $3)
		RETURNING `+storedColumns, t.Name, t.Category, locales))
	if err != nil {
		return Stored{}, fmt.Errorf("templates: create: %w", interpretError(err, 0, t.Name))
	}
	return st, nil
}

// Update validates t and replaces template id with it, counting a new version.
func (s *Store) Update(ctx context.Context, id int64, t Template) (Stored, error) {
	t, err := s.engine.Normalize(ctx, t)
	if err != nil {
		return Stored{}, err
	}
	locales, err := json.Marshal(t.Locales)
	if err != nil {
		return Stored{}, fmt.Errorf("templates: update %d: %w", id, err)
	}
	st, err := scanStored(s.pool.QueryRow(ctx, `
		UPDATE templates SET name = $2, category = $3, locales = $4, version = version + 1, updated_at = now()
		WHERE id = $1
		RETURNING `+storedColumns, id, t.Name, t.Category, locales))
	if err != nil {
		return Stored{}, fmt.Errorf("templates: update %d: %w", id, interpretError(err, id, t.Name))
	}
	return st, nil
}

// Get returns one template.
func (s *Store) Get(ctx context.Context, id int64) (Stored, error) {
	st, err := scanStored(s.pool.QueryRow(ctx, `SELECT `+storedColumns+` FROM templates WHERE id = $1`, id))
	if err != nil {
		return Stored{}, fmt.Errorf("templates: get %d: %w", id, interpretError(err, id, ""))
	}
	return st, nil
}

// GetByName returns the template called name, in any case (names are unique regardless of
// case). Errors: NotFound.
func (s *Store) GetByName(ctx context.Context, name string) (Stored, error) {
	st, err := scanStored(s.pool.QueryRow(ctx, `SELECT `+storedColumns+` FROM templates WHERE lower(name) = lower($1)`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Stored{}, apperr.NotFoundf("no template is called %q", name)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("templates: get %q: %w", name, err)
	}
	return st, nil
}

// Engine returns the engine the store validates with.
func (s *Store) Engine() *Engine { return s.engine }

// List returns templates in id order after afterID, and the cursor of the next page (0 at
// the end).
func (s *Store) List(ctx context.Context, afterID int64, limit int) ([]Stored, int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+storedColumns+` FROM templates WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("templates: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stored, error) { return scanStored(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("templates: list: %w", err)
	}
	var next int64
	if len(list) > limit {
		list = list[:limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

func interpretError(err error, id int64, name string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFoundf("template %d not found", id)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "templates_name_idx" {
		return &apperr.Error{Code: apperr.Conflict, Message: "the name is taken",
			Fields: []apperr.FieldError{{Field: "name", Message: fmt.Sprintf("another template is already called %q", name)}}}
	}
	return err
}
