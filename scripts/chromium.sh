#!/usr/bin/env bash
# Makes sure a Chromium browser is installed for the console's browser tests
# (cmd/crier/console_browser_test.go drives it headless with chromedp). Installs Debian's
# `chromium` package with apt-get when neither `chromium` nor `chromium-browser` is on the
# PATH. Idempotent and quiet when the browser is there.
#
#   CRIER_CHROMIUM   a browser binary to use instead (checked, never installed)
set -euo pipefail

say() { printf 'chromium: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# as_root runs a command as root: directly, or through sudo when it is there.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (install sudo or run as root)"; fi
}

found() {
  if [ -n "${CRIER_CHROMIUM:-}" ]; then
    [ -x "$CRIER_CHROMIUM" ] || die "CRIER_CHROMIUM=$CRIER_CHROMIUM is not an executable file"
    return 0
  fi
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null
}

found && exit 0

command -v apt-get >/dev/null ||
  die "Chromium is not installed and there is no apt-get here: install chromium with your package manager (the browser tests need it)"
say "apt-get update"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
say "installing chromium"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
found || die "chromium was installed but is not on the PATH"
