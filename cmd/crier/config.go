package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/internal/secretbox"
)

// Config is everything Crier reads from its environment. Defaults work against the local
// PostgreSQL and Redis that `make run` sets up.
type Config struct {
	DatabaseURL     string                 // CRIER_DATABASE_URL
	RedisURL        string                 // CRIER_REDIS_URL
	RedisCluster    *redis.ClusterOptions  // CRIER_REDIS_CLUSTER: a Redis Cluster's seed nodes; nil: the Redis at RedisURL
	HTTPAddr        string                 // CRIER_HTTP_ADDR
	PublicURL       string                 // CRIER_PUBLIC_URL: where people reach the console (sign-in links)
	HashKey         []byte                 // CRIER_HASH_KEY: keys the suppression list's phone hashes
	SecretKey       []byte                 // CRIER_SECRET_KEY: seals the Cloud API accounts' tokens; optional
	Brand           string                 // CRIER_BRAND: who confirmation replies say the messages are from
	RetentionDays   int                    // CRIER_RETENTION_DAYS: message text is purged after this
	LogLevel        slog.Level             // CRIER_LOG_LEVEL
	LogFormat       string                 // CRIER_LOG_FORMAT: json or text
	MaxBodyBytes    int64                  // CRIER_MAX_BODY_BYTES
	MaxImportBytes  int64                  // CRIER_MAX_IMPORT_BYTES
	ShutdownTimeout time.Duration          // CRIER_SHUTDOWN_TIMEOUT
	SendTTL         time.Duration          // CRIER_SEND_TTL: a message not sent this long after its due time expires
	DispatchHorizon time.Duration          // CRIER_DISPATCH_HORIZON: minutes of sending capacity kept in Redis
	StaleSending    time.Duration          // CRIER_STALE_SENDING: a send held this long has lost its worker
	ReconcileEvery  time.Duration          // CRIER_RECONCILE_EVERY: how often the scheduler queues a reconciler pass
	QuietHours      schedule.QuietHours    // CRIER_QUIET_HOURS: campaigns' default quiet window, recipient-local
	FrequencyCap    campaigns.FrequencyCap // CRIER_FREQUENCY_CAP: marketing messages per contact per window
	Concurrency     int                    // CRIER_WORKER_CONCURRENCY: tasks a worker runs at once
	MetricsAddr     string                 // CRIER_METRICS_ADDR: where `crier worker` and `crier scheduler` serve /metrics
	SandboxOff      bool                   // CRIER_SANDBOX=off: the sandbox API routes answer 404
	AuthFailures    int                    // CRIER_AUTH_FAILURES: failed authentications a client address may make a minute
	APIRate         int                    // CRIER_API_RATE: requests a second per API key; 0: none
	TrustedProxies  []netip.Prefix         // CRIER_TRUSTED_PROXIES: proxies whose X-Forwarded-For is believed
	Processes       int                    // CRIER_PROCESSES: Crier processes sharing the database, for the pool size
	DBPoolSize      int                    // CRIER_DB_POOL_SIZE: the pool's size instead of the computed one; 0: computed
	// CRIER_WEBHOOK_ALLOW_PRIVATE=1: outbound webhooks may go to loopback, private and
	// link-local addresses (development, tests)
	WebhookAllowPrivate bool
	// CRIER_DISPATCH_PARTITIONS: parts a campaign's dispatch is cut into, dispatched side by side
	DispatchPartitions int
	// CRIER_SEND_QUEUES: queues the sends are spread over, by delivery id
	SendQueues int
	// CRIER_LAUNCH_PARTS: parts a launch makes its deliveries in, side by side; 0: computed
	LaunchParts int
	// CRIER_MAX_IN_FLIGHT: each campaign's deliveries in Asynq at most
	MaxInFlight int
}

// Defaults for a laptop. The database credentials are the ones scripts/services.sh
// creates; production sets its own.
const (
	defaultDatabaseURL = "postgres://crier:crier@127.0.0.1:5432/crier?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
	defaultHTTPAddr    = "127.0.0.1:8080"
	minHashKeyBytes    = 32
)

// envDoc documents every variable, for `crier help` and the README.
var envDoc = []struct{ name, def, doc string }{
	{"CRIER_DATABASE_URL", defaultDatabaseURL, "PostgreSQL connection URL"},
	{"CRIER_REDIS_URL", defaultRedisURL, "Redis connection URL (redis:// or rediss://)"},
	{"CRIER_REDIS_CLUSTER", "", "a Redis Cluster instead of CRIER_REDIS_URL: seed nodes host:port,host:port,… or a URL redis[s]://[user:password@]host:port?addr=host:port&addr=… (password, TLS)"},
	{"CRIER_HTTP_ADDR", defaultHTTPAddr, "address the API listens on"},
	{"CRIER_PUBLIC_URL", "http://CRIER_HTTP_ADDR", "where people reach the console, e.g. https://crier.example.com (the base of sign-in links)"},
	{"CRIER_HASH_KEY", "(required by serve)", "secret of at least 32 bytes, hex or base64, that keys the suppression list's phone hashes; never change it"},
	{"CRIER_HASH_KEY_FILE", "", "file holding CRIER_HASH_KEY, instead of the variable"},
	{"CRIER_BRAND", "us", "the sender named in confirmation replies (\"You won't get more messages from <brand>.\")"},
	{"CRIER_RETENTION_DAYS", "90", "days after which message text (sent and received) is purged"},
	{"CRIER_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"CRIER_LOG_FORMAT", "json", "json or text"},
	{"CRIER_MAX_BODY_BYTES", "1048576", "largest JSON request body"},
	{"CRIER_MAX_IMPORT_BYTES", "1073741824", "largest CSV import"},
	{"CRIER_SHUTDOWN_TIMEOUT", "30s", "how long a stopping process waits for work in flight"},
	{"CRIER_SEND_TTL", "6h", "a campaign message not sent this long after its due time expires instead of going out late"},
	{"CRIER_DISPATCH_HORIZON", "2m", "how many minutes of the accounts' sending capacity the dispatcher keeps queued in Redis"},
	{"CRIER_STALE_SENDING", "3m", "a message a worker has held this long without an answer is taken back by the reconciler (same account, same message id); keep it above the send timeout"},
	{"CRIER_QUIET_HOURS", "21:00-08:00", "campaigns' default quiet hours in each recipient's local time, HH:MM-HH:MM (00:00-00:00: none); a campaign's quiet_hours override it"},
	{"CRIER_FREQUENCY_CAP", "2/24h", "at most N marketing messages per contact in a rolling window, across campaigns, as N/window, or off"},
	{"CRIER_RECONCILE_EVERY", "30s", "how often the scheduler runs the reconciler (lost tasks, stuck sends, unsettled inbound messages)"},
	{"CRIER_WORKER_CONCURRENCY", "1000", "tasks one worker process runs at once"},
	{"CRIER_MAX_IN_FLIGHT", "10000", "each campaign's deliveries in Asynq at most (about 500 bytes of Redis each); a campaign sends at most about this many a second"},
	{"CRIER_SEND_QUEUES", "1", "queues the sends are spread over, by delivery id (send, send-1, …): on a Redis Cluster each queue is one node's work; the same on every process"},
	{"CRIER_DISPATCH_PARTITIONS", "4", "parts a campaign's dispatch is cut into (by delivery id), each dispatched by its own task on any worker, side by side; the same on every process"},
	{"CRIER_LAUNCH_PARTS", "(computed)", "parts a campaign's launch makes its deliveries in (by contact id), each a transaction on a connection of its own, side by side, 1 to 16; default the cores, at most 4, leaving the pool two connections"},
	{"CRIER_METRICS_ADDR", "", "address where `crier worker` and `crier scheduler` serve /metrics (serve and all use CRIER_HTTP_ADDR)"},
	{"CRIER_PROCESSES", "3", "how many Crier processes share the database (api, worker, scheduler, …): each pool gets its part of half the server's max_connections, from 4 to 16"},
	{"CRIER_DB_POOL_SIZE", "(computed)", "this process's PostgreSQL connections, instead of the size CRIER_PROCESSES gives; never more than the server allows"},
	{"CRIER_SANDBOX", "on", "on or off: off turns the sandbox API off (simulated customer messages, what the sandbox delivered)"},
	{"CRIER_AUTH_FAILURES", "20", "failed authentications a client address may make a minute; past them its requests get 429 before any key is looked up"},
	{"CRIER_API_RATE", "50", "requests a second each API key may make, in bursts of twice as many (429 with Retry-After past them); 0: no limit"},
	{"CRIER_WEBHOOK_ALLOW_PRIVATE", "0", "1: outbound webhooks may be sent to loopback, private, link-local and other internal addresses (development only: otherwise they are refused, when an endpoint is saved and when it is dialled)"},
	{"CRIER_TRUSTED_PROXIES", "", "addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (for CRIER_AUTH_FAILURES), comma-separated"},
}

// loadConfig reads the environment through getenv and reports every problem at once,
// each naming its variable.
func loadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL: or(getenv("CRIER_DATABASE_URL"), defaultDatabaseURL),
		RedisURL:    or(getenv("CRIER_REDIS_URL"), defaultRedisURL),
		HTTPAddr:    or(getenv("CRIER_HTTP_ADDR"), defaultHTTPAddr),
		PublicURL:   strings.TrimSpace(getenv("CRIER_PUBLIC_URL")),
		LogFormat:   strings.ToLower(or(getenv("CRIER_LOG_FORMAT"), "json")),
		Brand:       strings.TrimSpace(or(getenv("CRIER_BRAND"), "us")),
	}
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}

	if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
		bad("CRIER_DATABASE_URL", "not a PostgreSQL URL (postgres://user:password@host:5432/db)")
	}
	if n, err := positiveInt(getenv("CRIER_PROCESSES"), defaultProcesses); err != nil || n > 1000 {
		bad("CRIER_PROCESSES", "must be an integer from 1 to 1000, got %q", getenv("CRIER_PROCESSES"))
	} else {
		c.Processes = int(n)
	}
	if s := getenv("CRIER_DB_POOL_SIZE"); s != "" {
		n, err := positiveInt(s, 0)
		switch {
		case err != nil || n > 10_000:
			bad("CRIER_DB_POOL_SIZE", "must be an integer from 1 to 10000, got %q", s)
		case strings.Contains(c.DatabaseURL, "pool_max_conns"):
			bad("CRIER_DB_POOL_SIZE", "set it or pool_max_conns in CRIER_DATABASE_URL, not both")
		default:
			c.DBPoolSize = int(n)
		}
	}
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		bad("CRIER_REDIS_URL", "not a Redis URL (redis://host:6379/0): %v", err)
	}
	if s := strings.TrimSpace(getenv("CRIER_REDIS_CLUSTER")); s != "" {
		opts, err := parseRedisCluster(s)
		switch {
		case err != nil:
			bad("CRIER_REDIS_CLUSTER", "%v", err)
		case getenv("CRIER_REDIS_URL") != "":
			bad("CRIER_REDIS_CLUSTER", "set CRIER_REDIS_URL or CRIER_REDIS_CLUSTER, not both (a cluster's password and TLS go in its URL form, rediss://:password@host:port?addr=host:port)")
		default:
			c.RedisCluster = opts
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			bad("CRIER_PUBLIC_URL", "must be an http or https URL like https://crier.example.com, got %q", c.PublicURL)
		}
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("CRIER_HTTP_ADDR", "must be host:port or :port, got %q", c.HTTPAddr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("CRIER_HTTP_ADDR", "port %q is not a number from 0 to 65535", port)
	}

	key, keyFile := getenv("CRIER_HASH_KEY"), getenv("CRIER_HASH_KEY_FILE")
	switch {
	case key != "" && keyFile != "":
		bad("CRIER_HASH_KEY", "set CRIER_HASH_KEY or CRIER_HASH_KEY_FILE, not both")
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			bad("CRIER_HASH_KEY_FILE", "%v", err)
			break
		}
		key = strings.TrimSpace(string(b))
		fallthrough
	case key != "":
		k, err := decodeKey(key)
		if err != nil {
			bad("CRIER_HASH_KEY", "%v", err)
		}
		c.HashKey = k
	}

	secret, secretFile := getenv("CRIER_SECRET_KEY"), getenv("CRIER_SECRET_KEY_FILE")
	switch {
	case secret != "" && secretFile != "":
		bad("CRIER_SECRET_KEY", "set CRIER_SECRET_KEY or CRIER_SECRET_KEY_FILE, not both")
	case secretFile != "":
		b, err := os.ReadFile(secretFile)
		if err != nil {
			bad("CRIER_SECRET_KEY_FILE", "%v", err)
			break
		}
		secret = strings.TrimSpace(string(b))
		fallthrough
	case secret != "":
		k, err := secretbox.ParseKey(secret)
		if err != nil {
			bad("CRIER_SECRET_KEY", "%v", err)
		}
		c.SecretKey = k
	}

	if n, err := positiveInt(getenv("CRIER_AUTH_FAILURES"), 20); err != nil || n > 1_000_000 {
		bad("CRIER_AUTH_FAILURES", "must be an integer from 1 to 1000000, got %q", getenv("CRIER_AUTH_FAILURES"))
	} else {
		c.AuthFailures = int(n)
	}
	switch s := getenv("CRIER_API_RATE"); s {
	case "":
		c.APIRate = 50
	case "0":
		c.APIRate = -1 // httpapi.Options: below zero is none
	default:
		n, err := positiveInt(s, 0)
		if err != nil || n > 1_000_000 {
			bad("CRIER_API_RATE", "must be an integer from 0 (no limit) to 1000000, got %q", s)
		}
		c.APIRate = int(n)
	}
	for _, p := range strings.Split(getenv("CRIER_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				bad("CRIER_TRUSTED_PROXIES", "%q is not an address or a CIDR (10.0.0.0/8, 192.0.2.7)", p)
				continue
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
	}

	switch v := strings.ToLower(strings.TrimSpace(getenv("CRIER_WEBHOOK_ALLOW_PRIVATE"))); v {
	case "", "0", "false", "no", "off":
	case "1", "true", "yes", "on":
		c.WebhookAllowPrivate = true
	default:
		bad("CRIER_WEBHOOK_ALLOW_PRIVATE", "must be 1 or 0, got %q", v)
	}

	switch v := strings.ToLower(strings.TrimSpace(or(getenv("CRIER_SANDBOX"), "on"))); v {
	case "on":
	case "off":
		c.SandboxOff = true
	default:
		bad("CRIER_SANDBOX", "must be on or off, got %q", v)
	}

	switch lvl := strings.ToLower(or(getenv("CRIER_LOG_LEVEL"), "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		bad("CRIER_LOG_LEVEL", "must be debug, info, warn or error, got %q", lvl)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("CRIER_LOG_FORMAT", "must be json or text, got %q", c.LogFormat)
	}

	var err error
	days, err := positiveInt(getenv("CRIER_RETENTION_DAYS"), 90)
	if err != nil {
		bad("CRIER_RETENTION_DAYS", "%v", err)
	}
	c.RetentionDays = int(days)
	if len(c.Brand) > 60 {
		bad("CRIER_BRAND", "must be at most 60 characters")
	}
	if c.MaxBodyBytes, err = positiveInt(getenv("CRIER_MAX_BODY_BYTES"), 1<<20); err != nil {
		bad("CRIER_MAX_BODY_BYTES", "%v", err)
	}
	if c.MaxImportBytes, err = positiveInt(getenv("CRIER_MAX_IMPORT_BYTES"), 1<<30); err != nil {
		bad("CRIER_MAX_IMPORT_BYTES", "%v", err)
	}
	c.ShutdownTimeout = 30 * time.Second
	if s := getenv("CRIER_SHUTDOWN_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			bad("CRIER_SHUTDOWN_TIMEOUT", "must be a positive duration such as 30s, got %q", s)
		}
		c.ShutdownTimeout = d
	}
	durations := []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"CRIER_SEND_TTL", 6 * time.Hour, &c.SendTTL},
		{"CRIER_DISPATCH_HORIZON", 2 * time.Minute, &c.DispatchHorizon},
		{"CRIER_STALE_SENDING", 3 * time.Minute, &c.StaleSending},
		{"CRIER_RECONCILE_EVERY", 30 * time.Second, &c.ReconcileEvery},
	}
	for _, d := range durations {
		*d.dst = d.def
		if s := getenv(d.name); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v <= 0 {
				bad(d.name, "must be a positive duration such as %s, got %q", d.def, s)
			}
			*d.dst = v
		}
	}
	if n, err := positiveInt(getenv("CRIER_WORKER_CONCURRENCY"), 1000); err != nil || n > 10_000 {
		bad("CRIER_WORKER_CONCURRENCY", "must be an integer from 1 to 10000, got %q", getenv("CRIER_WORKER_CONCURRENCY"))
	} else {
		c.Concurrency = int(n)
	}
	if n, err := positiveInt(getenv("CRIER_DISPATCH_PARTITIONS"), 4); err != nil || n > 64 {
		bad("CRIER_DISPATCH_PARTITIONS", "must be an integer from 1 to 64, got %q", getenv("CRIER_DISPATCH_PARTITIONS"))
	} else {
		c.DispatchPartitions = int(n)
	}
	if n, err := positiveInt(getenv("CRIER_LAUNCH_PARTS"), 0); err != nil || n > 16 {
		bad("CRIER_LAUNCH_PARTS", "must be an integer from 1 to 16, got %q", getenv("CRIER_LAUNCH_PARTS"))
	} else {
		c.LaunchParts = int(n)
	}
	if n, err := positiveInt(getenv("CRIER_SEND_QUEUES"), 1); err != nil || n > 64 {
		bad("CRIER_SEND_QUEUES", "must be an integer from 1 to 64, got %q", getenv("CRIER_SEND_QUEUES"))
	} else {
		c.SendQueues = int(n)
	}
	if n, err := positiveInt(getenv("CRIER_MAX_IN_FLIGHT"), 10_000); err != nil || n < 100 || n > 1_000_000 {
		bad("CRIER_MAX_IN_FLIGHT", "must be an integer from 100 to 1000000, got %q", getenv("CRIER_MAX_IN_FLIGHT"))
	} else {
		c.MaxInFlight = int(n)
	}
	if c.MetricsAddr = getenv("CRIER_METRICS_ADDR"); c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("CRIER_METRICS_ADDR", "must be host:port or :port, got %q", c.MetricsAddr)
		}
	}
	if c.QuietHours, err = schedule.ParseQuietHours(or(getenv("CRIER_QUIET_HOURS"), "21:00-08:00")); err != nil {
		bad("CRIER_QUIET_HOURS", "must be HH:MM-HH:MM, e.g. 21:00-08:00 (00:00-00:00 for none), got %q", getenv("CRIER_QUIET_HOURS"))
	}
	if c.FrequencyCap, err = parseFrequencyCap(or(getenv("CRIER_FREQUENCY_CAP"), "2/24h")); err != nil {
		bad("CRIER_FREQUENCY_CAP", "%v", err)
	}
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, nil
}

// parseRedisCluster reads CRIER_REDIS_CLUSTER: a comma-separated list of seed nodes
// (host:port,host:port), or a cluster URL as go-redis reads it
// (redis[s]://[user:password@]host:port?addr=host:port&addr=…&dial_timeout=…), which
// carries the credentials and TLS. Its errors never repeat the value: it may hold a password.
func parseRedisCluster(s string) (*redis.ClusterOptions, error) {
	var opts *redis.ClusterOptions
	if strings.Contains(s, "://") {
		var err error
		if opts, err = redis.ParseClusterURL(s); err != nil {
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err // url.Error quotes the whole URL, password and all
			}
			return nil, fmt.Errorf("not a Redis Cluster URL (redis://host:port?addr=host:port&addr=host:port): %v", err)
		}
		if u, _ := url.Parse(s); u.Path != "" && u.Path != "/" && u.Path != "/0" {
			return nil, errors.New("a Redis Cluster has only database 0: leave the path out of the URL")
		}
	} else {
		opts = &redis.ClusterOptions{}
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				opts.Addrs = append(opts.Addrs, a)
			}
		}
	}
	if len(opts.Addrs) == 0 {
		return nil, errors.New("names no node: give host:port,host:port,…")
	}
	for i, a := range opts.Addrs {
		if strings.Contains(a, "@") {
			return nil, fmt.Errorf("node %d holds credentials: put them in the URL form, redis://user:password@host:port?addr=host:port", i+1)
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("node %q is not host:port", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("node %q: port %q is not a number from 1 to 65535", a, port)
		}
	}
	return opts, nil
}

// parseFrequencyCap reads "N/window" (2/24h) or "off".
func parseFrequencyCap(s string) (campaigns.FrequencyCap, error) {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		return campaigns.FrequencyCap{Max: -1}, nil // campaigns.Options: below zero turns it off
	}
	n, window, ok := strings.Cut(strings.TrimSpace(s), "/")
	max, nerr := strconv.Atoi(n)
	d, derr := time.ParseDuration(window)
	if !ok || nerr != nil || derr != nil || max < 1 || d <= 0 {
		return campaigns.FrequencyCap{}, fmt.Errorf("must be N/window such as 2/24h, or off, got %q", s)
	}
	return campaigns.FrequencyCap{Max: max, Window: d}, nil
}

// requireHashKey is checked by the commands that hash phone numbers.
func (c Config) requireHashKey() error {
	if len(c.HashKey) == 0 {
		return fmt.Errorf("configuration:\n  CRIER_HASH_KEY: is required: a secret of at least %d bytes, e.g. `openssl rand -hex 32`; keep it safe and never change it (make run creates one in .crier/hash-key)", minHashKeyBytes)
	}
	return nil
}

// decodeKey accepts hex or standard/URL base64 and demands enough entropy.
func decodeKey(s string) ([]byte, error) {
	var k []byte
	if b, err := hex.DecodeString(s); err == nil {
		k = b
	} else if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		k = b
	} else if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "=")); err == nil {
		k = b
	} else {
		return nil, fmt.Errorf("must be hex or base64")
	}
	if len(k) < minHashKeyBytes {
		return nil, fmt.Errorf("is %d bytes; it must be at least %d (e.g. `openssl rand -hex 32`)", len(k), minHashKeyBytes)
	}
	return k, nil
}

func positiveInt(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a positive integer, got %q", s)
	}
	return n, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
