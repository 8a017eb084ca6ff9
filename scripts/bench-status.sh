#!/usr/bin/env bash
# Token status lists (issue #20), measured on this machine in one run:
#   1. GET /statuslists/0 of a Sesame holding a million sessions, a tenth of them revoked:
#      requests/s with a 200 each time and with If-None-Match (a 304 each), and the size on the
#      wire (sesame-bench's statuslist and statuslist-304 scenarios), beside /healthz on the same
#      server before and after (the ceiling of a GET there, in this run);
#   2. the gallery (examples/gallery, verifying Sesame's tokens offline) with the status-list
#      check on and off: GET /images with one user's token, wrk -t2 -c32, alternating on, off,
#      on, off so that drift on a shared machine hits both; the ratio of the medians.
#
#   scripts/bench-status.sh
#
# Environment: DURATION (per run, default 10s), ROUNDS (on/off pairs, default 3), NO_BUILD=1 to
# run the release binaries already in target-bench (say which commit they are when you report).
# Needs wrk, curl, python3. Release builds go to target-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
for tool in wrk curl python3 cargo; do
  command -v "$tool" >/dev/null || { echo "bench-status: $tool is needed" >&2; exit 1; }
done
if [ -z "${NO_BUILD:-}" ]; then
  echo "bench-status: building sesame, sesame-bench and the gallery (release)" >&2
  cargo build --release -q -p sesame -p sesame-bench -p gallery
fi
BIN=$CARGO_TARGET_DIR/release

WORK=$(mktemp -d /tmp/sesame-bench-status.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" != 000 ] && return 0
    sleep 0.1
  done
  echo "bench-status: nothing answers at $1" >&2
  exit 1
}

port=$(free_port)
ISSUER="http://127.0.0.1:$port"
DB="sqlite://$WORK/sesame.db"
SESAME_TLS=off SESAME_LISTEN="127.0.0.1:$port" SESAME_ISSUER="$ISSUER" SESAME_RATE_LIMIT=off \
  SESAME_AUDIENCES=api,gallery SESAME_DATABASE_URL="$DB" SESAME_DATA_DIR="$WORK" \
  "$BIN/sesame" >"$WORK/sesame.log" 2>&1 &
SESAME_PID=$!
PIDS+=("$SESAME_PID")
wait_http "$ISSUER/healthz"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "## Status lists, $(date -u +%F), $(nproc) cores, load before $LOAD_BEFORE"
echo
# /healthz first: the ceiling of a GET on this server in this run (the box may be shared).
for s in healthz statuslist statuslist-304 healthz; do
  "$BIN/sesame-bench" --url "$ISSUER" --scenario "$s" --mint-db "$DB" --pid "$SESAME_PID" \
    --connections 32 --duration "$DURATION" | tail -n 1
  sleep 1
done
echo

# One user signed in for the gallery.
curl -sf -o /dev/null -H 'content-type: application/json' "$ISSUER/auth/register" \
  -d '{"email":"status-bench@bench.example.com","password":"bench horse battery staple"}'
TOKEN=$(curl -sf -H 'content-type: application/json' "$ISSUER/auth/login" \
  -d '{"email":"status-bench@bench.example.com","password":"bench horse battery staple","audience":"gallery"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')

run_gallery() { # on|off -> prints req/s
  local gport gpid
  gport=$(free_port)
  GALLERY_LISTEN="127.0.0.1:$gport" GALLERY_ISSUER="$ISSUER" GALLERY_DATA_DIR="$WORK/gallery" \
    GALLERY_STATUS_LISTS="$1" GALLERY_LOG=warn "$BIN/gallery" >"$WORK/gallery-$1.log" 2>&1 &
  gpid=$!
  wait_http "http://127.0.0.1:$gport/healthz"
  # Warm: keys and the status list fetched.
  curl -sf -o /dev/null -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$gport/images"
  wrk -t2 -c32 -d "$DURATION" -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$gport/images" |
    awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "errors " $4 > "/dev/stderr"}'
  kill -TERM "$gpid"; wait "$gpid" 2>/dev/null || true
}
ON=(); OFF=()
for _ in $(seq "$ROUNDS"); do
  ON+=("$(run_gallery on)"); sleep 1
  OFF+=("$(run_gallery off)"); sleep 1
done
python3 - "${ON[*]}" "${OFF[*]}" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
print("| gallery GET /images | runs (req/s) | median req/s |")
print("|---|---|---|")
print(f"| status lists on | {', '.join(f'{x:,.0f}' for x in on)} | {statistics.median(on):,.0f} |")
print(f"| status lists off | {', '.join(f'{x:,.0f}' for x in off)} | {statistics.median(off):,.0f} |")
print(f"\non / off = {statistics.median(on) / statistics.median(off) * 100:.1f} % (goal >= 95 %); "
      f"load before {sys.argv[3]}, after {sys.argv[4]}")
PY
