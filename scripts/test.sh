#!/usr/bin/env bash
# Runs every test of the workspace, as the README's second command: first installs what the
# tests drive as real peers when it is missing (Debian packages: nginx, jq, the PostgreSQL 15
# server, Python's venv, Node.js and npm, Chromium and ChromeDriver for the page tests), then `cargo test --workspace` (or `cargo test` with the arguments
# given here: `scripts/test.sh -p sesame --test api -- login::`).
#
# Installing needs root (or sudo) and apt; without them it says what is missing and stops, so a
# test never skips for want of a tool. PyPI and npm packages (PyJWT, authlib, schemathesis,
# jose, ...) are installed by the tests themselves into per-test-binary environments.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
pg_have() { have initdb || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

have nginx || missing+=(nginx)
have jq || missing+=(jq)
pg_have || missing+=(postgresql-15)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
have node || missing+=(nodejs)
have npm || missing+=(npm)
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
[ "$(id -u)" != 0 ] || have setpriv || missing+=(util-linux)

if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing test peers: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "!! missing: ${missing[*]} — install them (apt-get install ${missing[*]}) or run as root" >&2
      exit 1
    fi
    sudo="sudo"
  fi
  # A policy-rc.d stops apt from starting the services it installs (nginx, PostgreSQL): a daemon
  # started here would hold the caller's output open, and the tests start their own.
  $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  $sudo apt-get update -q >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  $sudo rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

if [ $# -eq 0 ]; then
  exec cargo test --workspace
fi
exec cargo test "$@"
