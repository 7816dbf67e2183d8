package campaigns

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/templates"
)

// FrequencyCap limits the marketing messages one contact gets across all campaigns: at
// most Max in any Window; Max 0 turns the cap off. It is delivery.FrequencyCap: the launch
// and the send-time claim (delivery.Sends) enforce the same cap.
type FrequencyCap = delivery.FrequencyCap

// Options configure a Service. Zero values get defaults.
type Options struct {
	// QuietHours is the deployment's default quiet window; default schedule.DefaultQuietHours().
	QuietHours schedule.QuietHours
	// FrequencyCap is the cross-campaign cap; default 2 per 24 h. Set Max < 0 to turn it off.
	FrequencyCap FrequencyCap
	// Channel is the consent channel deliveries are checked against; default "whatsapp".
	Channel consent.Channel
	// ScheduleLimits bound cron schedules; default schedule.DefaultLimits().
	ScheduleLimits schedule.Limits
	// Templates and Engine render the preview's samples; without them a preview has none.
	Templates *templates.Store
	Engine    *templates.Engine
	// PhoneZones fills in the phone zone of contacts written before it existed
	// (contacts.Service); each launch calls it first. Nil: none is filled in.
	PhoneZones PhoneZoneBackfiller
	// LaunchParts is how many parts a launch makes its deliveries in, each on a
	// connection of its own at once (Launch), at most 16; default GOMAXPROCS, at most 4,
	// and never more than the pool's connections less two. 1: one statement.
	LaunchParts int
	// PreviewSamples is how many eligible contacts a preview renders for; default 3.
	PreviewSamples int
	Now            func() time.Time
	Logger         *slog.Logger
}

// Service is the campaigns' lifecycle, launch, preview and stats, on PostgreSQL.
type Service struct {
	pool *pgxpool.Pool
	opts Options

	zonesMu sync.Mutex
	zones   []string // every zone name PostgreSQL knows, for schedule.NewDueTable

	// Tests' hooks into a launch: afterLaunchPart runs in each part's transaction after its
	// work (an error rolls the part back, as a crash would); beforeLaunchParts before each
	// round of parts.
	afterLaunchPart   func(runID int64, part int) error
	beforeLaunchParts func(runID int64)
}

// New returns a Service on pool.
func New(pool *pgxpool.Pool, opts Options) *Service {
	if opts.QuietHours == (schedule.QuietHours{}) {
		opts.QuietHours = schedule.DefaultQuietHours()
	}
	opts.QuietHours = opts.QuietHours.WithDefault(schedule.DefaultQuietHours())
	opts.FrequencyCap = opts.FrequencyCap.WithDefault()
	if opts.Channel == "" {
		opts.Channel = "whatsapp"
	}
	if opts.ScheduleLimits == (schedule.Limits{}) {
		opts.ScheduleLimits = schedule.DefaultLimits()
	}
	if opts.PreviewSamples <= 0 {
		opts.PreviewSamples = 3
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{pool: pool, opts: opts}
}

// now is the service's clock, in UTC at the microsecond precision of timestamptz.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// zoneNames returns every time zone name PostgreSQL knows, read once per process: the
// launch computes one due time per zone (schedule.NewDueTable) and joins them.
func (s *Service) zoneNames(ctx context.Context) ([]string, error) {
	s.zonesMu.Lock()
	defer s.zonesMu.Unlock()
	if s.zones != nil {
		return s.zones, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT name FROM pg_timezone_names`)
	if err != nil {
		return nil, err
	}
	zones, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	s.zones = zones
	return zones, nil
}
