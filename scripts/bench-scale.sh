#!/usr/bin/env bash
# How the figures scale with the size of the database: login and GET /profile with 10k and with
# 1M users, refresh and token checks (revocation included) with 1M live sessions. The rows are
# written straight into SQLite (seconds, not the hours argon2 would take through the API), then
# Sesame (plain HTTP, rate limiting off) is measured with sesame-bench.
#
#   scripts/bench-scale.sh [seconds per run, default 10] [big user count, default 1000000]
#
# Needs python3 (its sqlite3 module). Prints one markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
BIG=${2:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}
cargo build --release -q -p sesame -p sesame-bench
BIN=$CARGO_TARGET_DIR/release/sesame
BENCH=$CARGO_TARGET_DIR/release/sesame-bench
WORK=$(mktemp -d /tmp/sesame-scale.XXXXXX)
PID=
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # data dir
  PORT=$(free_port)
  (cd "$1" && SESAME_TLS=off SESAME_LISTEN="127.0.0.1:$PORT" SESAME_RATE_LIMIT=off SESAME_LOG=warn \
     SESAME_DATA_DIR="$1" exec "$BIN") &
  PID=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "sesame did not start" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# seed DB USERS SESSIONS: USERS users (password: the bench's, hash copied from a real account),
# SESSIONS live sessions with one unspent refresh token each, spread over the users.
seed() {
  python3 - "$1" "$2" "$3" <<'EOF'
import sqlite3, sys, uuid, os, time
db, users, sessions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=OFF")
(phc,) = c.execute("SELECT password_hash FROM users WHERE email_canonical = 'template@scale.example.com'").fetchone()
now = int(time.time() * 1000)
ids = []
def rows():
    for i in range(users):
        uid = str(uuid.uuid4()); ids.append(uid)
        e = f"seed{i}@scale.example.com"
        yield (uid, e, e, phc, now, now)
c.execute("BEGIN")
c.executemany("INSERT INTO users (id, email, email_canonical, password_hash, created_at, updated_at) VALUES (?,?,?,?,?,?)", rows())
c.executemany("INSERT INTO user_roles (user_id, role) VALUES (?, 'customer')", ((u,) for u in ids))
def sess():
    for i in range(sessions):
        yield (str(uuid.uuid4()), ids[i % len(ids)], '["api"]', now, now, now + 7 * 86400 * 1000)
c.executemany("INSERT INTO sessions (id, user_id, audience, created_at, last_used_at, expires_at) VALUES (?,?,?,?,?,?)", sess())
c.execute("UPDATE sessions SET refresh_hash = randomblob(32)")
c.execute("COMMIT")
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
EOF
}

row() { # label scenario [more sesame-bench flags]
  local label=$1 scenario=$2; shift 2
  "$BENCH" --url "http://127.0.0.1:$PORT" --scenario "$scenario" --connections 32 --duration "${SECS}s" \
    --pid "$PID" --label "$label" "$@" | tail -1
}

echo "| database | scenario | conns | req/s | p50 ms | p99 ms | p99.9 ms | errors | server RSS end / peak MB | note |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in 10000 "$BIG"; do
  dir="$WORK/u$n"; mkdir -p "$dir"
  start "$dir"
  curl -sf "http://127.0.0.1:$PORT/auth/register" -H 'content-type: application/json' \
    -d '{"email": "template@scale.example.com", "password": "bench horse battery staple"}' >/dev/null
  stop
  t0=$(date +%s)
  sessions=$([ "$n" = "$BIG" ] && echo "$BIG" || echo 10000)
  seed "$dir/sesame.db" "$n" "$sessions"
  echo "seeded $n users and $sessions sessions in $(( $(date +%s) - t0 )) s ($(du -h "$dir/sesame.db" | cut -f1))" >&2
  start "$dir"
  label="$n users, $sessions sessions"
  for s in login profile refresh; do
    row "$label" "$s" | sed "s/^| $label |/| $label | $s |/"
  done
  # Tokens the server has never seen (each checked in full, revocation state included).
  row "$label" verify-distinct --mint-db "sqlite://$dir/sesame.db" --distinct 200000 \
    | sed "s/^| $label |/| $label | verify-distinct |/"
  stop
done
