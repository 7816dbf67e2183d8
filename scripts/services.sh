#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis run on loopback and that Crier's role and database exist.
# Starts the local servers if they are installed, installs them from the OS packages
# (apt-get) if they are not. Idempotent: safe to run again and again.
#
#   CRIER_PG_HOST / CRIER_PG_PORT       where PostgreSQL listens      (127.0.0.1:5432)
#   CRIER_PG_USER / CRIER_PG_PASSWORD   the role to create            (crier / crier)
#   CRIER_PG_DB                         the database to create        (crier)
#   CRIER_REDIS_PORT                    where Redis listens           (6379)
set -euo pipefail

PG_HOST=${CRIER_PG_HOST:-127.0.0.1}
PG_PORT=${CRIER_PG_PORT:-5432}
PG_USER=${CRIER_PG_USER:-crier}
PG_PASSWORD=${CRIER_PG_PASSWORD:-crier}
PG_DB=${CRIER_PG_DB:-crier}
REDIS_PORT=${CRIER_REDIS_PORT:-6379}

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# as_root runs a command as root: directly, or through sudo when it is there.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (install sudo or run as root)"; fi
}

# as_postgres runs a command as the postgres OS user (peer authentication on the socket).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else sudo -u postgres "$@"; fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" "$2" && return 0; sleep 0.5; done
  return 1
}

apt_updated=
apt_install() {
  if ! command -v apt-get >/dev/null; then
    die "$* not installed and there is no apt-get here: install them with your package manager"
  fi
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_cluster() {
  command -v pg_lsclusters >/dev/null || return 1
  pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1" "$2}'
}

ensure_postgres() {
  if port_open "$PG_HOST" "$PG_PORT"; then
    say "PostgreSQL is up on $PG_HOST:$PG_PORT"
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql postgresql-client
  fi
  local cluster
  cluster=$(pg_cluster || true)
  if [ -z "$cluster" ]; then
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    say "creating PostgreSQL $version cluster main"
    as_root pg_createcluster "$version" main >/dev/null
    cluster="$version main"
  fi
  say "starting PostgreSQL cluster $cluster"
  # shellcheck disable=SC2086
  as_root pg_ctlcluster --skip-systemctl-redirect $cluster start || true
  wait_port "$PG_HOST" "$PG_PORT" || die "PostgreSQL did not come up on $PG_HOST:$PG_PORT"
}

ensure_redis() {
  if port_open 127.0.0.1 "$REDIS_PORT"; then
    say "Redis is up on 127.0.0.1:$REDIS_PORT"
    return
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis on 127.0.0.1:$REDIS_PORT (nothing kept on disk)"
  local dir=${TMPDIR:-/tmp}/crier-redis
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log"
  wait_port 127.0.0.1 "$REDIS_PORT" || die "Redis did not come up on 127.0.0.1:$REDIS_PORT"
}

# superuser_psql runs psql as a PostgreSQL superuser: over TCP when the server trusts
# loopback, else as the postgres OS user over the local socket.
superuser_psql() {
  if psql "postgres://postgres@$PG_HOST:$PG_PORT/postgres?sslmode=disable&connect_timeout=3" -Atqc 'select 1' >/dev/null 2>&1 </dev/null; then
    psql "postgres://postgres@$PG_HOST:$PG_PORT/postgres?sslmode=disable" -v ON_ERROR_STOP=1 -Atq "$@"
  else
    as_postgres psql -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
  fi
}

ensure_role_and_db() {
  command -v psql >/dev/null || apt_install postgresql-client
  local url="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DB?sslmode=disable&connect_timeout=3"
  if psql "$url" -Atqc 'select 1' >/dev/null 2>&1 </dev/null; then
    say "role $PG_USER and database $PG_DB are ready"
    return
  fi
  say "creating role $PG_USER (CREATEDB, for the tests) and database $PG_DB"
  superuser_psql <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE "$PG_USER" LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE "$PG_USER" LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  if [ "$(superuser_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
    superuser_psql -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
  fi
  psql "$url" -Atqc 'select 1' >/dev/null </dev/null || die "cannot connect as $PG_USER to $PG_HOST:$PG_PORT/$PG_DB"
}

ensure_postgres
ensure_redis
ensure_role_and_db
