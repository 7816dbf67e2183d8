#!/usr/bin/env bash
# `make run`, after the services are up and bin/crier is built: makes a hash key and an
# admin API key on first run (kept in .crier/, which git ignores), migrates, adds the demo
# data, and runs `crier all`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .crier
if [ ! -s .crier/hash-key ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > .crier/hash-key)
  echo "run: made a new CRIER_HASH_KEY in .crier/hash-key (keep it: suppression hashes depend on it)" >&2
fi
export CRIER_HASH_KEY_FILE="$PWD/.crier/hash-key"
# The key that seals the Cloud API accounts' tokens (whatsapp_cloud accounts need it).
if [ ! -s .crier/secret-key ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > .crier/secret-key)
fi
export CRIER_SECRET_KEY_FILE="$PWD/.crier/secret-key"
export CRIER_LOG_FORMAT=${CRIER_LOG_FORMAT:-text}

bin/crier migrate

# Reuse the admin key of an earlier run while the database still knows it.
key=$(cat .crier/admin-key 2>/dev/null || true)
id=$(printf '%s' "$key" | cut -d_ -f2)
if [ -z "$key" ] || ! bin/crier apikey list | awk -v id="$id" '$1 == id && $NF == "-" {found=1} END {exit !found}'; then
  (umask 077; bin/crier apikey create --name "make run" --role admin > .crier/admin-key)
  key=$(cat .crier/admin-key)
fi

# The console's demo admin: a user with a password kept in .crier/admin-password.
admin_email=admin@crier.localhost
if [ ! -s .crier/admin-password ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > .crier/admin-password)
fi
if ! bin/crier user list | awk -v e="$admin_email" '$2 == e {found=1} END {exit !found}'; then
  bin/crier user create --email "$admin_email" --role admin --password-stdin < .crier/admin-password >/dev/null
fi

# Demo data: a sandbox account, ~200 contacts with consent, a template and a draft
# campaign. `crier demo` finds what an earlier run made, so this is safe to repeat.
eval "$(bin/crier demo)"   # sets account_id, template_id, campaign_id, contacts

addr=${CRIER_HTTP_ADDR:-127.0.0.1:8080}
api="http://$addr"
auth="Authorization: Bearer $key"
cat >&2 <<MSG

  Crier is starting on $api  (crier all: API, worker and scheduler in one process)

  Console: $api/
    sign in as $admin_email, password $(cat .crier/admin-password)  (also in .crier/admin-password)
    more users: bin/crier user create --email you@example.com --role marketer

  Admin API key (also in .crier/admin-key):
    $key
  Dashboard (Asynq queues): $api/monitoring/
    user: anything, password: the API key
  Demo: sandbox account $account_id, $contacts contacts, template $template_id, draft campaign $campaign_id

  1. Preview who gets the campaign, who is excluded and why, and sample messages:
    curl -s -X POST -H "$auth" $api/v1/campaigns/$campaign_id/preview
  2. Schedule it (it sends now, a message a second, through the sandbox):
    curl -s -X POST -H "$auth" $api/v1/campaigns/$campaign_id/schedule
  3. Watch the stats:
    while sleep 2; do curl -s -H "$auth" $api/v1/campaigns/$campaign_id/stats; echo; done

  A customer replies STOP (they get one confirmation and nothing more):
    curl -s -H "$auth" -H 'Content-Type: application/json' \\
      -d '{"account_id": $account_id, "from": "+6591000104", "text": "STOP"}' $api/v1/sandbox/inbound
  What the sandbox "delivered" to them:
    curl -s -H "$auth" '$api/v1/sandbox/messages?to=%2B6591000104'

MSG
exec bin/crier all
