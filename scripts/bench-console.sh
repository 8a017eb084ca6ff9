#!/usr/bin/env bash
# The admin console's users list with a million users (issue #21: ≤ 50 ms p99), on this machine:
#   1. a release Sesame on SQLite (plain HTTP, rate limiting off) whose database gets 1,000,000
#      users written straight into it (one transaction; they are rows like any other: UUIDv7 ids,
#      `customer` role) plus an admin made with the CLI;
#   2. the admin signs in on the sign-in page (its form and anti-forgery token, like a browser);
#   3. wrk with that browser session's cookie, one connection at a time (an operator, not a
#      crowd) and then four, against: the first page of /console/users, the page halfway
#      down (its cursor), and two searches — a common substring (many matches: the page fills
#      at once) and a single user's address (one match: every row is looked at).
#
#   scripts/bench-console.sh
#
# Environment: USERS (default 1000000), DURATION (per run, default 10s), NO_BUILD=1 to use the
# release binary already in target-bench, SESAME_BIN to run another binary. Needs wrk, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
USERS=${USERS:-1000000}
DURATION=${DURATION:-10s}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "bench-console: $tool is needed" >&2; exit 1; }
done
if [ -z "${NO_BUILD:-}" ]; then
  echo "bench-console: building sesame (release)" >&2
  cargo build --release -q -p sesame
fi
SESAME=${SESAME_BIN:-$CARGO_TARGET_DIR/release/sesame}

WORK=$(mktemp -d /tmp/sesame-bench-console.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && { kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$port"
ENV=(SESAME_TLS=off SESAME_LISTEN="127.0.0.1:$port" SESAME_ISSUER="$BASE" SESAME_RATE_LIMIT=off
  SESAME_DATA_DIR="$WORK" SESAME_DATABASE_URL="sqlite://$WORK/sesame.db")
ADMIN_EMAIL=admin@bench.example.com
ADMIN_PASSWORD='bench horse battery staple'

echo "bench-console: the admin (CLI), then $USERS users written into the database" >&2
printf '%s' "$ADMIN_PASSWORD" | env "${ENV[@]}" "$SESAME" user create --email "$ADMIN_EMAIL" \
  --password-stdin --role admin >/dev/null
python3 - "$WORK/sesame.db" "$USERS" <<'EOF'
import os, sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db)
now = int(time.time() * 1000)
# One argon2id hash for all (nobody signs in as them); UUIDv7 ids in creation order.
hash_ = con.execute("SELECT password_hash FROM users LIMIT 1").fetchone()[0]
def uuid7(ms, i):
    rand = int.from_bytes(os.urandom(8), "big")
    v = (ms << 80) | (0x7 << 76) | ((i & 0xFFF) << 64) | (0b10 << 62) | (rand >> 2)
    h = f"{v:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
with con:
    for i in range(n):
        uid = uuid7(now - n + i, i)
        email = f"user{i:07d}@bench.example.com"
        con.execute(
            "INSERT INTO users (id, email, email_canonical, username, username_canonical, password_hash, "
            "email_verified, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (uid, email, email, f"user{i:07d}", f"user{i:07d}", hash_, now, now))
        con.execute("INSERT INTO user_roles (user_id, role) VALUES (?, 'customer')", (uid,))
deep = con.execute("SELECT id FROM users ORDER BY id LIMIT 1 OFFSET ?", (n // 2,)).fetchone()[0]
open(db + ".deep", "w").write(deep)
EOF
DEEP=$(cat "$WORK/sesame.db.deep")

(cd "$WORK" && exec env "${ENV[@]}" "$SESAME" >"$WORK/sesame.log" 2>&1) &
SERVER=$!
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz" || true)" = 200 ] && break
  sleep 0.1
done

# Sign in as a browser does: the form's token, its binding cookie, then the session cookie.
COOKIE=$(python3 - "$BASE" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" <<'EOF'
import http.client, re, sys, urllib.parse
base, email, password = sys.argv[1:]
host = urllib.parse.urlparse(base).netloc
c = http.client.HTTPConnection(host)
c.request("GET", "/signin")
r = c.getresponse(); html = r.read().decode()
jar = {}
for k, v in r.getheaders():
    if k.lower() == "set-cookie":
        name, value = v.split(";")[0].split("=", 1); jar[name] = value
token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
body = urllib.parse.urlencode({"identifier": email, "password": password, "csrf_token": token})
c.request("POST", "/signin", body, {"Content-Type": "application/x-www-form-urlencoded",
    "Origin": base, "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
r = c.getresponse(); r.read()
for k, v in r.getheaders():
    if k.lower() == "set-cookie":
        name, value = v.split(";")[0].split("=", 1); jar[name] = value
assert r.status == 303 and "__Host-sesame" in jar, (r.status, jar.keys())
print(f"__Host-sesame={jar['__Host-sesame']}")
EOF
)
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$BASE/console/users")
[ "$status" = 200 ] || { echo "bench-console: /console/users answered $status" >&2; exit 1; }

echo "## The console's users list, $(date -u +%F), $(nproc) cores, $USERS users, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| page | connections | req/s | p50 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
run() { # label path connections
  wrk -t1 -c"$3" -d"$DURATION" --latency -H "Cookie: $COOKIE" "$BASE$2" >"$WORK/wrk.txt"
  python3 - "$1" "$3" "$WORK/wrk.txt" <<'EOF'
import re, sys
label, conns, path = sys.argv[1:]
out = open(path).read()
def ms(q):
    m = re.search(r"^\s*" + q + r"\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not m:
        return "-"
    return f"{float(m.group(1)) * {'us': 0.001, 'ms': 1, 's': 1000}[m.group(2)]:.2f}"
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
bad = " (non-2xx answers!)" if "Non-2xx" in out else ""
print(f"| {label} | {conns} | {rate:,.0f}{bad} | {ms('50%')} | {ms('90%')} | {ms('99%')} |")
EOF
}
for c in 1 4; do
  run "first page" "/console/users" "$c"
  run "halfway down (its cursor)" "/console/users?cursor=$DEEP" "$c"
  run "search, many matches (\`user00\`)" "/console/users?q=user00" "$c"
  run "search, one match" "/console/users?q=user0999999%40bench" "$c"
done
