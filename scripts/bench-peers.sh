#!/usr/bin/env bash
# Sesame beside the peers a user would pick instead (issue #23), on this machine, in one run:
#   - Sesame (release build, SQLite, plain HTTP, rate limiting off, a throwaway data directory);
#   - Django + DRF + djangorestframework-simplejwt under gunicorn, SQLite (seed 004's stack,
#     bench/peers/django), installed from PyPI into a venv;
#   - Express + jsonwebtoken + better-sqlite3 + argon2 under Node's cluster module
#     (bench/peers/express), installed from npm.
# The same load generator (sesame-bench --url, 32 keep-alive connections) runs the same scenarios
# against each, one server at a time, and one markdown table of req/s and ratios is printed.
#
#   scripts/bench-peers.sh
#
# Environment: DURATION (per scenario, default 10s), SCENARIOS (default "verify profile refresh
# login"), BENCH_PEERS_DIR (venv and node_modules, default target/bench-peers), GUNICORN_WORKER
# (sync | gthread, default gthread) and GUNICORN_THREADS (default 4), OUT (a directory to keep
# each run's JSON row in). Needs python3 (3.10+), node (20+) and npm, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
read -r -a SCENARIOS <<<"${SCENARIOS:-verify profile refresh login}"
PEERS_DIR=${BENCH_PEERS_DIR:-$ROOT/target/bench-peers}
GUNICORN_WORKER=${GUNICORN_WORKER:-gthread}
GUNICORN_THREADS=${GUNICORN_THREADS:-4}
# gunicorn turns a sync worker with more than one thread into gthread: keep sync honest.
[ "$GUNICORN_WORKER" = sync ] && GUNICORN_THREADS=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}

for tool in python3 node npm curl cargo; do
  command -v "$tool" >/dev/null || { echo "bench-peers: $tool is needed" >&2; exit 1; }
done

# --- Installs (each skipped when its pinned list has not changed since the last run) ---------
mkdir -p "$PEERS_DIR"
VENV=$PEERS_DIR/venv
REQS=bench/peers/django/requirements.txt
if ! cmp -s "$REQS" "$VENV/installed-requirements.txt"; then
  echo "bench-peers: installing the Django peer into $VENV" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/installed-requirements.txt"
fi
EXPRESS=$PEERS_DIR/express
mkdir -p "$EXPRESS"
if ! cmp -s bench/peers/express/package-lock.json "$EXPRESS/installed-package-lock.json"; then
  # better-sqlite3 compiles SQLite when no prebuilt binary can be fetched: minutes, once.
  echo "bench-peers: installing the Express peer into $EXPRESS (npm ci)" >&2
  cp bench/peers/express/package.json bench/peers/express/package-lock.json "$EXPRESS/"
  (cd "$EXPRESS" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp bench/peers/express/package-lock.json "$EXPRESS/installed-package-lock.json"
fi
cp bench/peers/express/server.js "$EXPRESS/server.js"

echo "bench-peers: building sesame and sesame-bench (release)" >&2
cargo build --release -q -p sesame -p sesame-bench
SESAME=$CARGO_TARGET_DIR/release/sesame
BENCH=$CARGO_TARGET_DIR/release/sesame-bench

# --- One server at a time ---------------------------------------------------------------------
WORK=$(mktemp -d /tmp/sesame-bench-peers.XXXXXX)
RESULTS=$WORK/results
mkdir -p "$RESULTS"
SERVER=""
stop_server() {
  if [ -n "$SERVER" ]; then
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }

# Waits until anything answers HTTP on the port (a 401 or 404 will do).
wait_http() { # name port path
  for _ in $(seq 300); do
    if ! kill -0 "$SERVER" 2>/dev/null; then
      echo "bench-peers: $1 exited at start; its log:" >&2
      cat "$WORK/$1.log" >&2
      exit 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2$3" || true)
    [ "$code" != 000 ] && return 0
    sleep 0.1
  done
  echo "bench-peers: $1 did not answer on port $2" >&2
  exit 1
}

measure() { # name port
  for s in "${SCENARIOS[@]}"; do
    echo "bench-peers: $1 $s..." >&2
    "$BENCH" --url "http://127.0.0.1:$2" --scenario "$s" --connections 32 --duration "$DURATION" \
      --pid "$SERVER" --json >"$RESULTS/$1-$s.json" || echo "bench-peers: $1 $s failed" >&2
    sleep 0.5 # let the server settle (hash queue drained, WAL checkpointed)
  done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

port=$(free_port)
mkdir -p "$WORK/sesame"
(cd "$WORK/sesame" && SESAME_TLS=off SESAME_LISTEN="127.0.0.1:$port" SESAME_RATE_LIMIT=off \
  SESAME_DATABASE_URL="sqlite://$WORK/sesame/sesame.db" exec "$SESAME" >"$WORK/sesame.log" 2>&1) &
SERVER=$!
wait_http sesame "$port" /healthz
measure sesame "$port"
stop_server

port=$(free_port)
DJANGO_ENV=(PEER_SECRET_KEY="$(secret)" PEER_DB="$WORK/django.sqlite3")
(cd bench/peers/django && env "${DJANGO_ENV[@]}" "$VENV/bin/python" manage.py migrate -v 0)
(cd bench/peers/django && exec env "${DJANGO_ENV[@]}" "$VENV/bin/gunicorn" --workers 2 \
  --worker-class "$GUNICORN_WORKER" --threads "$GUNICORN_THREADS" --bind "127.0.0.1:$port" \
  --no-control-socket peer.wsgi >"$WORK/django.log" 2>&1) &
SERVER=$!
wait_http django "$port" /auth/verify
measure django "$port"
stop_server

port=$(free_port)
(cd "$EXPRESS" && NODE_ENV=production PEER_PORT="$port" PEER_DB="$WORK/express.sqlite3" \
  PEER_SECRET="$(secret)" PEER_WORKERS=2 exec node server.js >"$WORK/express.log" 2>&1) &
SERVER=$!
wait_http express "$port" /auth/verify
measure express "$port"
stop_server

if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$RESULTS"/*.json "$OUT/"; fi

# --- The table --------------------------------------------------------------------------------
python3 - "$RESULTS" "$DURATION" "$GUNICORN_WORKER" "$GUNICORN_THREADS" "$LOAD_BEFORE" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "${SCENARIOS[@]}" <<'EOF'
import json, os, sys

results, duration, worker, threads, load_before, load_after, *scenarios = sys.argv[1:]
servers = ["sesame", "django", "express"]

def row(server, scenario):
    try:
        with open(os.path.join(results, f"{server}-{scenario}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def cell(r):
    if r is None:
        return "failed"
    text = f"{r['rate']:,.0f}"
    if r["errors"]:
        text += f" ({r['errors']} errors)"
    return text

def ratio(a, b):
    if a is None or b is None or b["rate"] == 0:
        return "-"
    return f"{a['rate'] / b['rate']:.1f}×"

print(f"32 connections, {duration} per scenario, plain HTTP, SQLite; gunicorn --workers 2 "
      f"--worker-class {worker} --threads {threads}; Express on 2 cluster workers; "
      f"load average before {load_before}, after {load_after}\n")
print("| scenario (req/s) | Sesame | SimpleJWT | Express | Sesame÷SimpleJWT | Sesame÷Express |")
print("|---|---|---|---|---|---|")
for s in scenarios:
    r = {srv: row(srv, s) for srv in servers}
    print(f"| {s} | {cell(r['sesame'])} | {cell(r['django'])} | {cell(r['express'])} | "
          f"{ratio(r['sesame'], r['django'])} | {ratio(r['sesame'], r['express'])} |")
print()
print("| scenario (p50 / p99 ms) | Sesame | SimpleJWT | Express |")
print("|---|---|---|---|")
for s in scenarios:
    cells = []
    for srv in servers:
        r = row(srv, s)
        cells.append("-" if r is None else f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}")
    print(f"| {s} | " + " | ".join(cells) + " |")
EOF
