#!/usr/bin/env bash
# `make run`, after the services are up and bin/crier is built: makes a hash key and an
# admin API key on first run (kept in .crier/, which git ignores), migrates, and serves.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .crier
if [ ! -s .crier/hash-key ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > .crier/hash-key)
  echo "run: made a new CRIER_HASH_KEY in .crier/hash-key (keep it: suppression hashes depend on it)" >&2
fi
export CRIER_HASH_KEY_FILE="$PWD/.crier/hash-key"
export CRIER_LOG_FORMAT=${CRIER_LOG_FORMAT:-text}

bin/crier migrate

# Reuse the admin key of an earlier run while the database still knows it.
key=$(cat .crier/admin-key 2>/dev/null || true)
id=$(printf '%s' "$key" | cut -d_ -f2)
if [ -z "$key" ] || ! bin/crier apikey list | awk -v id="$id" '$1 == id && $NF == "-" {found=1} END {exit !found}'; then
  (umask 077; bin/crier apikey create --name "make run" --role admin > .crier/admin-key)
  key=$(cat .crier/admin-key)
fi

addr=${CRIER_HTTP_ADDR:-127.0.0.1:8080}
cat >&2 <<MSG

  Crier is starting on http://$addr
  Admin API key (also in .crier/admin-key):
    $key

  Try:
    curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \\
      -d '{"phone":"+6591234567","name":"Ada","tags":["vip"]}' http://$addr/v1/contacts
    curl -s -H "Authorization: Bearer $key" http://$addr/v1/contacts

MSG
exec bin/crier serve
