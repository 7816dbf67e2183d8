#!/usr/bin/env bash
# Makes sure Node.js and npm are there for the development tools of package.json (the
# OpenAPI linter, Redoc's bundle): installs Debian's nodejs and npm packages if they are
# not. Crier itself never needs Node.js. Idempotent.
set -euo pipefail

say() { printf 'node: %s\n' "$*" >&2; }

if command -v node >/dev/null && command -v npm >/dev/null; then
  exit 0
fi
say "installing nodejs and npm (apt-get)"
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root to run: $* (install Node.js 20.19 or later, or sudo)"; exit 1; fi
}
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
say "$(node --version), npm $(npm --version)"
