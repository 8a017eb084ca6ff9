#!/usr/bin/env bash
# login/s and refresh/s on embedded SQLite and on PostgreSQL, side by side in one run, on this
# machine: two Sesame processes (plain HTTP, rate limiting off, default argon2 cost), a throwaway
# PostgreSQL 15 cluster, and sesame-bench with 32 keep-alive connections, alternating backends.
#
#   scripts/bench-backends.sh [seconds per run, default 10]
#
# Needs initdb/postgres/psql (PostgreSQL 15). Run as root, PostgreSQL runs as `nobody`.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}
cargo build --release -q -p sesame -p sesame-bench
BIN=$CARGO_TARGET_DIR/release/sesame
BENCH=$CARGO_TARGET_DIR/release/sesame-bench
WORK=$(mktemp -d /tmp/sesame-bench.XXXXXX)
chmod 755 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid nobody --regid nogroup --clear-groups "$@"; else "$@"; fi; }
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

PGPORT=$(free_port)
mkdir -p "$WORK/pg"; [ "$(id -u)" = 0 ] && chown nobody:nogroup "$WORK/pg"
as_pg initdb -D "$WORK/pg" -U postgres --auth=trust >/dev/null
as_pg postgres -D "$WORK/pg" -p "$PGPORT" -k "$WORK/pg" -c listen_addresses=127.0.0.1 >"$WORK/pg.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do psql -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
psql -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'create database sesame' >/dev/null

start() { # name port database_url
  mkdir -p "$WORK/$1"
  (cd "$WORK/$1" && SESAME_TLS=off SESAME_LISTEN="127.0.0.1:$2" SESAME_RATE_LIMIT=off SESAME_LOG=warn \
     SESAME_DATABASE_URL="$3" exec "$BIN") &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.1; done
  echo "sesame ($1) did not start" >&2; exit 1
}
SQ=$(free_port); PG=$(free_port)
start sqlite "$SQ" "sqlite://$WORK/sqlite/sesame.db"
SQPID=${PIDS[-1]}
start postgres "$PG" "postgres://postgres@127.0.0.1:$PGPORT/sesame"
PGPID=${PIDS[-1]}

echo "| backend | scenario | connections | req/s | p50 ms | p99 ms | p99.9 ms | errors | server RSS end / peak MB | note |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for scenario in refresh login; do
  for backend in sqlite postgres; do
    if [ $backend = sqlite ]; then port=$SQ; pid=$SQPID; else port=$PG; pid=$PGPID; fi
    "$BENCH" --url "http://127.0.0.1:$port" --scenario $scenario --connections 32 --duration "${SECS}s" --pid "$pid" \
      | tail -1 | sed "s/^|/| $backend |/"
  done
done
