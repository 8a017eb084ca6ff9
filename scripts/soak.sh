#!/usr/bin/env bash
# Soak test with faults: two `sesame serve` replicas on one throwaway PostgreSQL 15, a mixed load
# (registration, login, refresh chains, profile, verify, logout) for MINUTES (default 10), and
# in the middle: one replica killed with SIGKILL and restarted, PostgreSQL stopped for ~7 s and
# started again. Then the checks (see crates/sesame-bench/src/bin/soak.rs) and a markdown summary.
#
#     scripts/soak.sh [MINUTES]
#
# Not part of `cargo test`: it takes MINUTES plus about two more (release build excluded).
# Builds into target-bench/ (CARGO_TARGET_DIR), so it does not fight `cargo test` over target/.
# Everything runs on 127.0.0.1, in a temporary directory removed afterwards (KEEP=1 keeps it,
# with the servers' logs). Exits non-zero when a check fails.
#
# Replicas run as deployed behind a TLS-terminating proxy (SESAME_TLS=off), with the production
# password-hashing cost, rate limiting off (one client address makes all the load) and a 3-minute
# access-token lifetime (ACCESS_TTL; see below).
set -euo pipefail

MINUTES="${1:-10}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-bench}"
BIN="$CARGO_TARGET_DIR/release"
DURATION=$((MINUTES * 60))
WORKERS="${WORKERS:-16}"
GRACE=10s
# Revocations are held in memory for one access-token lifetime: a lifetime shorter than the run
# lets that state reach its steady size within it, so growth that has no bound would show.
ACCESS_TTL="${ACCESS_TTL:-3m}"

now_ms() { date +%s%3N; }
log() { echo "[soak $(date +%H:%M:%S)] $*" >&2; }

log "building the release binaries into $CARGO_TARGET_DIR"
(cd "$ROOT" && cargo build --release -q -p sesame --bin sesame -p sesame-bench --bin soak)

WORK="$(mktemp -d /tmp/sesame-soak.XXXXXX)"
chmod 755 "$WORK"
EVENTS="$WORK/events.log"
: >"$EVENTS"
PGDIR="$WORK/pg"
mkdir -p "$PGDIR"

# PostgreSQL refuses to run as root: as `nobody` then, through setpriv (which execs, so the
# process we start is PostgreSQL's own).
if [ "$(id -u)" = 0 ]; then
    chown nobody:nogroup "$PGDIR"
    as_pg() { (cd "$PGDIR" && setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"); }
else
    as_pg() { (cd "$PGDIR" && "$@"); }
fi
PGBIN="$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | tail -n 1)")"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PGPORT="$(free_port)"
PORTS=("$(free_port)" "$(free_port)")
DB_URL="postgres://postgres@127.0.0.1:$PGPORT/sesame"

pg_start() {
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w -t 60 \
        -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR" start >/dev/null
}
pg_stop() {
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop >/dev/null
}

start_replica() {
    local i="$1" dir="$WORK/replica$1"
    mkdir -p "$dir"
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        SESAME_DATABASE_URL="$DB_URL" \
        SESAME_LISTEN="127.0.0.1:${PORTS[$i]}" \
        SESAME_TLS=off \
        SESAME_RATE_LIMIT=off \
        SESAME_DATA_DIR="$dir" \
        SESAME_ISSUER="http://soak.localhost" \
        SESAME_REFRESH_REUSE_GRACE="$GRACE" \
        SESAME_ACCESS_TTL="$ACCESS_TTL" \
        SESAME_LOG=warn \
        "$BIN/sesame" serve >>"$dir/server.log" 2>&1 &
    echo $! >"$WORK/replica$i.pid"
    disown $! # its SIGKILL below is the plan, not news
    local deadline=$((SECONDS + 30))
    until curl -fsS -o /dev/null "http://127.0.0.1:${PORTS[$i]}/healthz" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "replica $i did not start:"
            cat "$dir/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

cleanup() {
    local status=$?
    for i in 0 1; do
        if [ -f "$WORK/replica$i.pid" ]; then
            kill -TERM "$(cat "$WORK/replica$i.pid")" 2>/dev/null || true
        fi
    done
    if [ -n "${SOAK_PID:-}" ]; then kill -TERM "$SOAK_PID" 2>/dev/null || true; fi
    sleep 1
    if [ -f "$PGDIR/data/postmaster.pid" ]; then pg_stop 2>/dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on port $PGPORT"
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C >"$WORK/initdb.log"
pg_start
psql -X -q "postgres://postgres@127.0.0.1:$PGPORT/postgres" -c 'CREATE DATABASE sesame'

log "replicas on ports ${PORTS[0]} and ${PORTS[1]}"
start_replica 0
start_replica 1

STARTED=$SECONDS
log "load for $MINUTES min with $WORKERS workers"
"$BIN/soak" \
    --targets "http://127.0.0.1:${PORTS[0]},http://127.0.0.1:${PORTS[1]}" \
    --duration "${DURATION}s" \
    --workers "$WORKERS" \
    --events "$EVENTS" \
    --watch "replica0=$WORK/replica0.pid" \
    --watch "replica1=$WORK/replica1.pid" \
    --watch "postgres=$PGDIR/data/postmaster.pid" \
    --database-url "$DB_URL" \
    --work-dir "$WORK" \
    --grace "$GRACE" >"$WORK/summary.md" &
SOAK_PID=$!

at() { # sleep until this many seconds after the load started
    local wait=$(($1 - (SECONDS - STARTED)))
    if [ "$wait" -gt 0 ]; then sleep "$wait"; fi
}

at $((DURATION * 30 / 100))
log "kill -9 replica 1"
echo "$(now_ms) kill 1" >>"$EVENTS"
kill -KILL "$(cat "$WORK/replica1.pid")"
sleep 3
start_replica 1
echo "$(now_ms) ready 1" >>"$EVENTS"
log "replica 1 is back"

at $((DURATION * 55 / 100))
log "stopping PostgreSQL"
echo "$(now_ms) db_stop" >>"$EVENTS"
pg_stop
sleep 7
pg_start
echo "$(now_ms) db_start" >>"$EVENTS"
log "PostgreSQL is back"

status=0
wait "$SOAK_PID" || status=$?
SOAK_PID=
TOOK=$((SECONDS - STARTED))

echo "# Soak: ${MINUTES} min, 2 replicas on PostgreSQL, faults injected"
echo
echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Wall time from the start of the load to the end of the checks: ${TOOK} s."
echo "Replicas: SESAME_ACCESS_TTL=$ACCESS_TTL, SESAME_REFRESH_REUSE_GRACE=$GRACE, production argon2 cost, rate limits off; $WORKERS load workers."
echo
cat "$WORK/summary.md"
if [ "$status" != 0 ]; then
    log "checks FAILED (exit $status); replica logs: $WORK/replica*/server.log"
fi
exit "$status"
