// Command crier is Crier's one binary: the API server, the workers, the scheduler and the
// administrative commands. Configuration comes from CRIER_* environment variables; run
// `crier help` for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time zones even on images without /usr/share/zoneinfo

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: crier <command> [arguments]

commands:
  migrate                              apply the database migrations
  serve                                run the HTTP API (with /metrics and the /monitoring/ dashboard)
  worker                               send: the Asynq server, the account connections, the dispatcher
  scheduler                            launch due campaign runs; queue reconcile and retention (one leads)
  all                                  serve, worker and scheduler in one process
  apikey create --name N --role R      make an API key; prints it alone on stdout
  apikey list                          list the API keys
  apikey revoke ID                     disable an API key for good
  accounts list                        list the sending accounts
  accounts pair ID [--phone +E164]     link a WhatsApp account: draws the QR code here
                                       (or prints a pairing code to type on the phone)
  bench [--quick] [--contacts N]       measure import, expansion, dispatch and sends on a
                                       throwaway database; prints a Markdown table
  demo                                 add demo data: a sandbox account, ~200 contacts, a template
                                       and a draft campaign (safe to re-run)
  help                                 show this help and the environment variables
`

// errUsage marks a mistake in the command line (exit status 2).
var errUsage = errors.New("usage")

// run is main without the process: tests call it with their own environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\nenvironment:")
		for _, e := range envDoc {
			fmt.Fprintf(stdout, "  %-24s %s (default: %s)\n", e.name, e.doc, or(e.def, "none"))
		}
		return 0
	}
	commands := map[string]func(context.Context, *app, []string, io.Writer) error{
		"migrate":   cmdMigrate,
		"serve":     cmdServe,
		"worker":    cmdWorker,
		"scheduler": cmdScheduler,
		"all":       cmdAll,
		"apikey":    cmdAPIKey,
		"accounts":  cmdAccounts,
		"bench":     cmdBench,
		"demo":      cmdDemo,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "crier: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "crier: %v\n", err)
		return 1
	}
	logger := newLogger(cfg, stderr)
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "crier: %v\n", err)
		return 1
	}
	defer a.Close()
	if err := cmd(ctx, a, args[1:], stdout); err != nil {
		if errors.Is(err, errUsage) {
			// "usage: <what is wrong>", then the commands.
			fmt.Fprintf(stderr, "crier %s: %v\n\n%s", args[0], err, usage)
			return 2
		}
		fmt.Fprintf(stderr, "crier %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// app holds the connections every command shares.
type app struct {
	cfg    Config
	logger *slog.Logger
	pool   *pgxpool.Pool
	redis  *redis.Client
}

// openApp connects to PostgreSQL (failing fast with a clear message when it is not
// there) and prepares the Redis client.
func openApp(ctx context.Context, cfg Config, logger *slog.Logger) (*app, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("CRIER_DATABASE_URL: %w", err)
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
		// pgx's default (the number of CPUs, at least 4) starves a worker: each send makes
		// a few short queries, and CRIER_WORKER_CONCURRENCY of them run at once.
		pcfg.MaxConns = int32(min(max(cfg.Concurrency/2, 16), 64))
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %w (is it running? `make run` starts it)", redactURL(cfg.DatabaseURL), err)
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("CRIER_REDIS_URL: %w", err)
	}
	return &app{cfg: cfg, logger: logger, pool: pool, redis: redis.NewClient(ropts)}, nil
}

func (a *app) Close() {
	a.redis.Close()
	a.pool.Close()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "CRIER_DATABASE_URL"
	}
	return u.Redacted()
}
