#!/usr/bin/env bash
# Issue #16.1's reproduction, as first measured: a 4-second wrk login storm of one user (which
# ends by closing its 32 connections mid-request), then at once 100 registrations from 32
# concurrent clients; ROUNDS times. Prints the status counts of each round's registrations.
# Before the fix, every registration of one round in four answered 500 `internal_error`.
#
#   cargo build --release -p sesame && scripts/storm-then-register.sh [ROUNDS]
#
# Needs wrk and curl. Plain HTTP, SQLite in a temporary data dir, rate limit off, no grace.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
port=18471
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
SESAME_TLS=off SESAME_RATE_LIMIT=off SESAME_REFRESH_REUSE_GRACE=0s SESAME_LOG=warn \
  SESAME_DATA_DIR="$dir" SESAME_LISTEN=127.0.0.1:$port target/release/sesame serve >"$dir/log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
pw='Zebra-Quartz-Nimbus-4471'
curl -sf -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"storm@example.com\",\"password\":\"$pw\"}" "$base/auth/register"
cat >"$dir/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"storm@example.com","password":"$pw"}'
LUA
for r in $(seq "$rounds"); do
  wrk -t2 -c32 -d4s -s "$dir/login.lua" "$base/auth/login" >/dev/null
  seq 100 | xargs -P32 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
    -H 'content-type: application/json' \
    -d "{\"email\":\"r$r-{}@example.com\",\"password\":\"$pw\"}" "$base/auth/register" \
    | sort | uniq -c | tr '\n' ' ' | sed "s/^/round $r registrations: /"; echo
done
