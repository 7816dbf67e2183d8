package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/secretbox"
)

// Limits of an endpoint's settings.
const (
	MaxDescription = 500
	// DefaultGrace is how long the previous secret keeps signing after a rotation.
	DefaultGrace = 24 * time.Hour
	MaxGrace     = 7 * 24 * time.Hour
	secretPrefix = "whsec_"
)

// Queue queues the delivery of a stored webhook (workers.Queue): key tells attempts apart
// in the task id, so that an enqueue repeated after a crash is one task, and at is when it
// is due.
type Queue interface {
	EnqueueWebhook(ctx context.Context, deliveryID int64, key string, at time.Time) error
}

// Options configure the package's types. Zero values get defaults.
type Options struct {
	// AllowPrivate lets endpoints be on loopback, private and link-local addresses
	// (CRIER_WEBHOOK_ALLOW_PRIVATE: development and tests).
	AllowPrivate bool
	// Resolver checks endpoint hosts when they are saved; default net.DefaultResolver.
	Resolver Resolver
	// Queue queues deliveries (required by the Relay, and by Service.Replay).
	Queue Queue
	// Now tells the time; default time.Now.
	Now func() time.Time
	// Rand makes secrets; default crypto/rand.
	Rand io.Reader

	// RelayLag is how far behind the database's clock the relay reads: the margin for a
	// transaction that has taken its start time but is not yet in pg_stat_activity.
	// Default 1s.
	RelayLag time.Duration
	// RelayBatch is the most rows the relay reads from each log in a step. Default 5000.
	RelayBatch int
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration
	// Jitter returns a number in [0, 1) that spreads the retries; default math/rand.
	Jitter func() float64
}

func (o *Options) setDefaults() {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.RelayLag <= 0 {
		o.RelayLag = time.Second
	}
	if o.RelayBatch <= 0 {
		o.RelayBatch = 5000
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Jitter == nil {
		o.Jitter = mrand.Float64
	}
}

// Service manages the endpoints and their delivery logs. It is safe for concurrent use.
type Service struct {
	pool *pgxpool.Pool
	box  *secretbox.Box
	opts Options
}

// New returns a Service whose secrets are sealed with box.
func New(pool *pgxpool.Pool, box *secretbox.Box, opts Options) *Service {
	opts.setDefaults()
	return &Service{pool: pool, box: box, opts: opts}
}

// Endpoint is a registered receiver. Its secrets are never in it.
type Endpoint struct {
	ID             int64
	URL            string
	Description    string
	Events         []EventType
	IncludePII     bool
	Enabled        bool
	DisabledReason string
	FailingSince   *time.Time
	// SecretRotatingUntil: during a rotation, when the previous secret stops signing.
	SecretRotatingUntil *time.Time
	CreatedBy           string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Input is a new endpoint.
type Input struct {
	URL         string
	Events      []string
	IncludePII  bool
	Description string
}

// Patch changes an endpoint; nil fields are left as they are. Enabling a disabled
// endpoint clears its failure streak.
type Patch struct {
	URL         *string
	Events      []string // nil: unchanged
	IncludePII  *bool
	Description *string
	Enabled     *bool
}

const endpointColumns = `id, url, description, events, include_pii, enabled, disabled_reason, failing_since,
	CASE WHEN previous_expires_at > $now THEN previous_expires_at END, created_by, created_at, updated_at`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	var events []string
	err := row.Scan(&e.ID, &e.URL, &e.Description, &events, &e.IncludePII, &e.Enabled, &e.DisabledReason,
		&e.FailingSince, &e.SecretRotatingUntil, &e.CreatedBy, &e.CreatedAt, &e.UpdatedAt)
	for _, ev := range events {
		e.Events = append(e.Events, EventType(ev))
	}
	return e, err
}

// columns fills the $now of endpointColumns (pgx has no named parameters: it is the
// last argument of each query that selects them).
func columns(n int) string { return strings.ReplaceAll(endpointColumns, "$now", "$"+strconv.Itoa(n)) }

// checkEvents validates a subscription list and returns it without repeats.
func checkEvents(events []string) ([]string, []apperr.FieldError) {
	if len(events) == 0 {
		return nil, []apperr.FieldError{{Field: "events", Message: "must name at least one event type"}}
	}
	var errs []apperr.FieldError
	var out []string
	seen := map[string]bool{}
	for i, ev := range events {
		if !EventType(ev).Valid() {
			errs = append(errs, apperr.FieldError{Field: fmt.Sprintf("events[%d]", i),
				Message: fmt.Sprintf("is not an event type (%s)", eventList())})
			continue
		}
		if !seen[ev] {
			seen[ev] = true
			out = append(out, ev)
		}
	}
	return out, errs
}

func eventList() string {
	s := make([]string, len(EventTypes))
	for i, t := range EventTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func checkDescription(d string) []apperr.FieldError {
	if utf8.RuneCountInString(d) > MaxDescription {
		return []apperr.FieldError{{Field: "description", Message: fmt.Sprintf("must be at most %d characters", MaxDescription)}}
	}
	return nil
}

func (s *Service) checkURL(ctx context.Context, raw string) []apperr.FieldError {
	if err := checkURL(ctx, raw, s.opts.AllowPrivate, s.opts.Resolver); err != nil {
		return []apperr.FieldError{{Field: "url", Message: err.Error()}}
	}
	return nil
}

// newSecret returns a fresh secret and its sealed form.
func (s *Service) newSecret() (string, string, error) {
	if s.box == nil {
		return "", "", apperr.Conflictf("outbound webhooks need CRIER_SECRET_KEY: their secrets are kept sealed with it")
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.opts.Rand, b); err != nil {
		return "", "", fmt.Errorf("webhooks: secret: %w", err)
	}
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(b)
	sealed, err := s.box.Seal(secret)
	if err != nil {
		return "", "", fmt.Errorf("webhooks: seal secret: %w", err)
	}
	return secret, sealed, nil
}

// Create registers an endpoint and returns it with its secret, in clear this once.
func (s *Service) Create(ctx context.Context, in Input, actor string) (Endpoint, string, error) {
	events, errs := checkEvents(in.Events)
	errs = append(append(s.checkURL(ctx, in.URL), errs...), checkDescription(in.Description)...)
	if err := apperr.Fields(errs...); err != nil {
		return Endpoint{}, "", err
	}
	secret, sealed, err := s.newSecret()
	if err != nil {
		return Endpoint{}, "", err
	}
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `
		INSERT INTO webhook_endpoints (url, description, events, include_pii, secret_sealed, created_by)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+columns(7),
		in.URL, in.Description, events, in.IncludePII, sealed, actor, s.opts.Now()))
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("webhooks: create endpoint: %w", err)
	}
	return e, secret, nil
}

// Get returns an endpoint, or a NotFound error.
func (s *Service) Get(ctx context.Context, id int64) (Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+columns(2)+` FROM webhook_endpoints WHERE id = $1`, id, s.opts.Now()))
	return e, notFound(err, "webhooks: get endpoint %d", id)
}

func notFound(err error, format string, id int64) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFoundf("there is no webhook endpoint %d", id)
	}
	if err != nil {
		return fmt.Errorf(format+": %w", id, err)
	}
	return nil
}

// List returns up to limit endpoints with ids above after, and the cursor of the next page
// (0: none).
func (s *Service) List(ctx context.Context, after int64, limit int) ([]Endpoint, int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns(3)+` FROM webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2`,
		after, limit+1, s.opts.Now())
	if err != nil {
		return nil, 0, fmt.Errorf("webhooks: list endpoints: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Endpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("webhooks: list endpoints: %w", err)
	}
	var next int64
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	return list, next, nil
}

// Update changes an endpoint. Re-enabling it clears its failure streak and the reason it
// was disabled.
func (s *Service) Update(ctx context.Context, id int64, p Patch) (Endpoint, error) {
	var errs []apperr.FieldError
	var events []string
	if p.URL != nil {
		errs = append(errs, s.checkURL(ctx, *p.URL)...)
	}
	if p.Events != nil {
		var eerrs []apperr.FieldError
		events, eerrs = checkEvents(p.Events)
		errs = append(errs, eerrs...)
	}
	if p.Description != nil {
		errs = append(errs, checkDescription(*p.Description)...)
	}
	if err := apperr.Fields(errs...); err != nil {
		return Endpoint{}, err
	}
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `
		UPDATE webhook_endpoints SET
			url = coalesce($2, url),
			events = coalesce($3, events),
			include_pii = coalesce($4, include_pii),
			description = coalesce($5, description),
			enabled = coalesce($6, enabled),
			failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END,
			disabled_reason = CASE WHEN $6 THEN '' ELSE disabled_reason END,
			updated_at = now()
		WHERE id = $1
		RETURNING `+columns(7),
		id, p.URL, events, p.IncludePII, p.Description, p.Enabled, s.opts.Now()))
	return e, notFound(err, "webhooks: update endpoint %d", id)
}

// Delete removes an endpoint and its delivery log.
func (s *Service) Delete(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return notFound(err, "webhooks: delete endpoint %d", id)
}

// RotateSecret gives an endpoint a new secret, returned in clear this once. For grace
// (at most MaxGrace) the current secret keeps signing beside it, so that receivers can
// switch over; 0 ends the old secret at once. It returns when the old one stops.
func (s *Service) RotateSecret(ctx context.Context, id int64, grace time.Duration) (string, time.Time, error) {
	if grace < 0 || grace > MaxGrace {
		return "", time.Time{}, apperr.Field("grace_hours", "must be from 0 to %d", int(MaxGrace.Hours()))
	}
	secret, sealed, err := s.newSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	until := s.opts.Now().Add(grace).UTC().Truncate(time.Microsecond)
	// The secret signing now becomes the previous one; one rotating out already is dropped.
	tag, err := s.pool.Exec(ctx, `
		UPDATE webhook_endpoints SET previous_sealed = CASE WHEN $3 THEN secret_sealed END,
			previous_expires_at = CASE WHEN $3 THEN $4::timestamptz END, secret_sealed = $2, updated_at = now()
		WHERE id = $1`, id, sealed, grace > 0, until)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	if err := notFound(err, "webhooks: rotate secret of %d", id); err != nil {
		return "", time.Time{}, err
	}
	return secret, until, nil
}
