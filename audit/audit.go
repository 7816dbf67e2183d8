// Package audit keeps the append-only log of who did what to which thing: every mutating
// API call, every export and erasure, and the administrative commands. Entries name the
// actor (an API key id, or "cli:<user>"), never the personal data that was changed.
package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Entry is one line of the audit log.
type Entry struct {
	ID          int64
	At          time.Time
	ActorKeyID  string // the API key that acted, "" for the command line and the console
	ActorUserID int64  // the console user who acted, 0 for API keys and the command line
	Actor       string // the key's name, the user's email, or "cli:<os user>"
	Action      string // dotted noun.verb, e.g. "contact.update"
	TargetType  string // e.g. "contact"
	TargetID    string
	RequestID   string
	// Status is the HTTP status the call ended with; 0 while it runs, and for good if the
	// process died before it could say.
	Status int
	Detail map[string]any // counts and field names, never personal data
}

// Log reads and writes the audit log.
type Log struct {
	pool *pgxpool.Pool
}

// NewLog returns a Log on pool.
func NewLog(pool *pgxpool.Pool) *Log { return &Log{pool: pool} }

// Begin records an action before it runs and returns the entry's id, so that a change
// can never happen without its audit line: if this write fails, the action must not run.
// Finish records the outcome.
func (l *Log) Begin(ctx context.Context, e Entry) (int64, error) {
	return Write(ctx, l.pool, e)
}

// Querier is what Write needs: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Write appends an entry through q, so that a change made in a transaction can be
// audited in that same transaction.
func Write(ctx context.Context, q Querier, e Entry) (int64, error) {
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	var id int64
	err := q.QueryRow(ctx, `
		INSERT INTO audit_log (actor_key_id, actor_user_id, actor, action, target_type, target_id, request_id, status, detail)
		VALUES (nullif($1, ''), nullif($9, 0), $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		e.ActorKeyID, e.Actor, e.Action, e.TargetType, e.TargetID, e.RequestID, e.Status, e.Detail, e.ActorUserID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("audit: write %s: %w", e.Action, err)
	}
	return id, nil
}

// Finish sets the outcome of an entry made by Begin: its status, its target (often known
// only once the action ran, e.g. the id of a created contact) and detail to merge.
func (l *Log) Finish(ctx context.Context, id int64, status int, targetType, targetID string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	_, err := l.pool.Exec(ctx, `
		UPDATE audit_log SET status = $2,
			target_type = coalesce(nullif($3, ''), target_type),
			target_id = coalesce(nullif($4, ''), target_id),
			detail = detail || $5
		WHERE id = $1`, id, status, targetType, targetID, detail)
	if err != nil {
		return fmt.Errorf("audit: finish %d: %w", id, err)
	}
	return nil
}

// Record writes a finished entry in one step, for actions outside a request (commands,
// maintenance).
func (l *Log) Record(ctx context.Context, e Entry) error {
	_, err := l.Begin(ctx, e)
	return err
}

// ListParams filter and page the log, newest first.
type ListParams struct {
	BeforeID    int64 // keyset cursor: entries with a smaller id; 0 for the newest
	Limit       int   // entries per page: 1 to MaxListLimit; 0 or less is DefaultListLimit
	TargetType  string
	TargetID    string
	ActorKeyID  string
	ActorUserID int64
	Action      string
}

// The page sizes of List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// List returns entries newest first and the cursor for the next page (0 at the end).
func (l *Log) List(ctx context.Context, p ListParams) ([]Entry, int64, error) {
	if p.Limit <= 0 {
		p.Limit = DefaultListLimit
	}
	p.Limit = min(p.Limit, MaxListLimit)
	rows, err := l.pool.Query(ctx, `
		SELECT id, at, coalesce(actor_key_id, ''), coalesce(actor_user_id, 0), actor, action, target_type, target_id, request_id, status, detail
		FROM audit_log
		WHERE ($1 = 0 OR id < $1)
		  AND ($2 = '' OR target_type = $2)
		  AND ($3 = '' OR target_id = $3)
		  AND ($4 = '' OR actor_key_id = $4)
		  AND ($5 = '' OR action = $5)
		  AND ($7 = 0 OR actor_user_id = $7)
		ORDER BY id DESC
		LIMIT $6`, p.BeforeID, p.TargetType, p.TargetID, p.ActorKeyID, p.Action, p.Limit+1, p.ActorUserID)
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Entry])
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	var next int64
	if len(list) > p.Limit {
		list = list[:p.Limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

// Get returns one entry, for tests and the API.
func (l *Log) Get(ctx context.Context, id int64) (Entry, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT id, at, coalesce(actor_key_id, ''), coalesce(actor_user_id, 0), actor, action, target_type, target_id, request_id, status, detail
		FROM audit_log WHERE id = $1`, id)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: get %d: %w", id, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Entry])
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, fmt.Errorf("audit: get %d: not found", id)
	}
	return e, err
}
