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
	"syscall"
	_ "time/tzdata" // time zones even on images without /usr/share/zoneinfo

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/sender"
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
  user create --email E --role R       add a console user; prints a one-time sign-in link
        [--password-stdin]             (or reads the password from stdin's first line)
  user list                            list the console's users
  user link --email E                  print a new one-time sign-in link for a user
  accounts list                        list the sending accounts
  accounts add --name N --channel C …  create an account; whatsapp_cloud accounts are checked
                                       with Meta first (accounts add -h lists the flags)
  accounts pair ID [--phone +E164]     link a WhatsApp account: draws the QR code here
                                       (or prints a pairing code to type on the phone)
  bench [--quick] [--contacts N]       measure import, expansion, dispatch and sends on a
                                       throwaway database; prints a Markdown table
  demo                                 add demo data: a sandbox account, ~200 contacts, a template
                                       and a draft campaign (safe to re-run)
  help                                 show this help and the environment variables
`

// longRunning are the commands that log their database pool's size at start.
var longRunning = map[string]bool{"serve": true, "worker": true, "scheduler": true, "all": true, "bench": true}

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
		"user":      userCommand(getenv, os.Stdin),
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
	if args[0] == "bench" && cfg.RedisCluster != nil {
		// The bench flushes a Redis database of its own and reads INFO memory: one server's.
		fmt.Fprintln(stderr, "crier bench: runs on a single Redis (it flushes a database of its own); unset CRIER_REDIS_CLUSTER and set CRIER_REDIS_URL")
		return 1
	}
	logger := newLogger(cfg, stderr)
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "crier: %v\n", err)
		return 1
	}
	defer a.Close()
	// The processes that run for long say how they sized their pool; the one-shot
	// commands (apikey, accounts, …) keep their stderr for what went wrong.
	level := slog.LevelDebug
	if longRunning[args[0]] {
		level = slog.LevelInfo
	}
	logger.Log(ctx, level, "database pool", a.poolChoice.attrs()...)
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
	// redis is a *redis.Client on CRIER_REDIS_URL, or a *redis.ClusterClient on
	// CRIER_REDIS_CLUSTER.
	redis redis.UniversalClient

	poolChoice poolChoice // how big pool is, and why
}

// accounts returns the account store, able to seal and open the Cloud API accounts'
// secrets when CRIER_SECRET_KEY is set.
func (a *app) accounts() (*sender.Accounts, error) {
	if len(a.cfg.SecretKey) == 0 {
		return sender.NewAccounts(a.pool), nil
	}
	box, err := secretbox.New(a.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return sender.NewAccountsWithSecrets(a.pool, box), nil
}

// openApp connects to PostgreSQL (failing fast with a clear message when it is not
// there), with a pool sized to leave the server room (openPool), and prepares the Redis
// client: one server's, or a cluster's.
func openApp(ctx context.Context, cfg Config, logger *slog.Logger) (*app, error) {
	pool, choice, err := openPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, logger: logger, pool: pool, poolChoice: choice}
	if cfg.RedisCluster != nil {
		opts := *cfg.RedisCluster // NewClusterClient fills in defaults: keep cfg as parsed
		a.redis = redis.NewClusterClient(&opts)
		return a, nil
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("CRIER_REDIS_URL: %w", err)
	}
	a.redis = redis.NewClient(ropts)
	return a, nil
}

// asynqRedis is where code that makes its own Redis clients (the Asynq dashboard) finds
// Redis: the same server or cluster as a.redis.
func (a *app) asynqRedis() (asynq.RedisConnOpt, error) {
	if c := a.cfg.RedisCluster; c != nil {
		return asynq.RedisClusterClientOpt{Addrs: c.Addrs, MaxRedirects: c.MaxRedirects, Username: c.Username,
			Password: c.Password, DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
			TLSConfig: c.TLSConfig}, nil
	}
	opt, err := asynq.ParseRedisURI(a.cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("CRIER_REDIS_URL: %w", err)
	}
	return opt, nil
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
