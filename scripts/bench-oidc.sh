#!/usr/bin/env bash
# Sesame's OpenID provider beside panva's oidc-provider (issue #18), on this machine, in one run:
#   - Sesame (release build, SQLite, plain HTTP, rate limiting off, a throwaway data directory)
#     twice: RS256 keys, then EdDSA keys (ID tokens are signed with the signing key);
#   - oidc-provider (bench/peers/oidc-provider, from npm, in-memory adapter, one process) twice:
#     JWT access tokens for a resource server (the shape Sesame issues), then opaque access
#     tokens (its default). Its ID tokens are RS256.
# The same load generator (sesame-bench --url, 32 keep-alive connections) runs the same scenarios
# against each, one server at a time, and one markdown table of req/s and ratios is printed:
#   code-flow     authorize with an existing browser session (consent given) -> token request
#                 with the PKCE verifier -> ID token verified (JWKS by kid, iss, aud, nonce);
#                 one per connection's session; the rate is of whole flows (two requests each)
#   client-token  POST token endpoint, grant_type=client_credentials, client_secret_basic
#   introspect    POST introspection endpoint with an access token of the app's code flow
#                 (oidc-provider does not introspect JWT access tokens: opaque run only)
#
#   scripts/bench-oidc.sh
#
# Environment: DURATION (per scenario, default 10s), CONNECTIONS (default 32), SCENARIOS
# (default "code-flow client-token introspect"), BENCH_PEERS_DIR (node_modules, default
# target/bench-peers), OUT (a directory to keep each run's JSON rows in), RS256_ENV and
# EDDSA_ENV (the environment that makes Sesame sign ID tokens with each algorithm; default
# SESAME_ID_TOKEN_ALG=RS256 / EdDSA, access tokens at their default, EdDSA; set
# RS256_ENV=SESAME_SIGNING_ALG=RS256 to RSA-sign access tokens too). Needs node (20.19+),
# npm, curl, python3, cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
read -r -a SCENARIOS <<<"${SCENARIOS:-code-flow client-token introspect}"
PEERS_DIR=${BENCH_PEERS_DIR:-$ROOT/target/bench-peers}
RS256_ENV=${RS256_ENV:-SESAME_ID_TOKEN_ALG=RS256}
EDDSA_ENV=${EDDSA_ENV:-SESAME_ID_TOKEN_ALG=EdDSA}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}

# The account both providers know, with sesame-bench's password (scenario::PASSWORD), and the
# app's redirect URI (never followed: the code is read from the Location header).
USER_EMAIL=bench@bench.example.com
USER_PASSWORD='bench horse battery staple'
REDIRECT_URI=https://app.example/cb

for tool in node npm curl python3 cargo; do
  command -v "$tool" >/dev/null || { echo "bench-oidc: $tool is needed" >&2; exit 1; }
done

# --- Install (skipped when the lock file has not changed since the last run) -----------------
OP=$PEERS_DIR/oidc-provider
mkdir -p "$OP"
if ! cmp -s bench/peers/oidc-provider/package-lock.json "$OP/installed-package-lock.json"; then
  echo "bench-oidc: installing oidc-provider into $OP (npm ci)" >&2
  cp bench/peers/oidc-provider/package.json bench/peers/oidc-provider/package-lock.json "$OP/"
  (cd "$OP" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp bench/peers/oidc-provider/package-lock.json "$OP/installed-package-lock.json"
fi
cp bench/peers/oidc-provider/server.js "$OP/server.js"

echo "bench-oidc: building sesame and sesame-bench (release)" >&2
cargo build --release -q -p sesame -p sesame-bench
SESAME=$CARGO_TARGET_DIR/release/sesame
BENCH=$CARGO_TARGET_DIR/release/sesame-bench

# --- One server at a time ---------------------------------------------------------------------
WORK=$(mktemp -d /tmp/sesame-bench-oidc.XXXXXX)
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
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }

wait_http() { # name port path: until it answers 200
  for _ in $(seq 300); do
    if ! kill -0 "$SERVER" 2>/dev/null; then
      echo "bench-oidc: $1 exited at start; its log:" >&2
      cat "$WORK/$1.log" >&2
      exit 1
    fi
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2$3" || true)" = 200 ] && return 0
    sleep 0.1
  done
  echo "bench-oidc: $1 did not answer on port $2" >&2
  exit 1
}

measure() { # name port client_id client_secret scenario...
  local name=$1 port=$2 id=$3 secret=$4
  shift 4
  for s in "$@"; do
    echo "bench-oidc: $name $s..." >&2
    "$BENCH" --url "http://127.0.0.1:$port" --scenario "$s" --connections "$CONNECTIONS" \
      --duration "$DURATION" --pid "$SERVER" --user "$USER_EMAIL" --client-id "$id" \
      --client-secret "$secret" --redirect-uri "$REDIRECT_URI" --json \
      >"$RESULTS/$name-$s.json" || echo "bench-oidc: $name $s failed" >&2
    sleep 0.5 # let the server settle (WAL checkpointed, collector caught up)
  done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

sesame_row() { # name "ENV=VALUE ..."
  local name=$1 dir=$WORK/$1 port client
  local -a alg_env
  read -r -a alg_env <<<"$2"
  port=$(free_port)
  mkdir -p "$dir"
  local -a env=(SESAME_TLS=off SESAME_LISTEN="127.0.0.1:$port" SESAME_RATE_LIMIT=off
    SESAME_DATA_DIR="$dir" SESAME_DATABASE_URL="sqlite://$dir/sesame.db" "${alg_env[@]}")
  # The account and the app, made with the CLI before the server starts: a confidential
  # third-party client (consent asked once, at set-up) that may also use client credentials.
  printf '%s' "$USER_PASSWORD" | (cd "$dir" && env "${env[@]}" "$SESAME" user create \
    --email "$USER_EMAIL" --password-stdin >/dev/null)
  client=$(cd "$dir" && env "${env[@]}" "$SESAME" client create --name "Bench app" \
    --audience api --redirect-uri "$REDIRECT_URI" --grant-type authorization_code \
    --grant-type refresh_token --grant-type client_credentials)
  local id secret
  id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
  secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")
  (cd "$dir" && exec env "${env[@]}" "$SESAME" >"$WORK/$name.log" 2>&1) &
  SERVER=$!
  wait_http "$name" "$port" /healthz
  measure "$name" "$port" "$id" "$secret" "${SCENARIOS[@]}"
  stop_server
}

peer_row() { # name opaque|jwt
  local name=$1 port secret
  port=$(free_port)
  secret=$(secret)
  (cd "$OP" && NODE_ENV=production PEER_PORT="$port" PEER_CLIENT_SECRET="$secret" \
    PEER_COOKIE_KEY="$(secret)" PEER_ACCOUNT_EMAIL="$USER_EMAIL" \
    PEER_ACCOUNT_PASSWORD="$USER_PASSWORD" PEER_REDIRECT_URI="$REDIRECT_URI" \
    PEER_ACCESS_TOKENS="$2" exec node server.js >"$WORK/$name.log" 2>&1) &
  SERVER=$!
  wait_http "$name" "$port" /.well-known/openid-configuration
  local -a scenarios=()
  for s in "${SCENARIOS[@]}"; do
    # It answers {"active":false} for its JWT access tokens (they are self-contained).
    [ "$2" = jwt ] && [ "$s" = introspect ] && continue
    scenarios+=("$s")
  done
  measure "$name" "$port" bench "$secret" "${scenarios[@]}"
  stop_server
}

# The ceiling of RS256 ID tokens on this box, in this run: RSA-2048 signatures per second with
# every core signing (OpenSSL, the same primitive as aws-lc-rs's and node's). Every code flow
# signs one ID token, so no provider here does more RS256 flows per second than this.
RSA_SIGNS=$(openssl speed -seconds 3 -multi "$(nproc)" rsa2048 2>/dev/null |
  awk '/^rsa 2048 bits/ {print $(NF-1)}' | tail -1)
echo "$RSA_SIGNS" >"$RESULTS/rsa-ceiling.txt"

sesame_row sesame-rs256 "$RS256_ENV"
sesame_row sesame-eddsa "$EDDSA_ENV"
peer_row op-jwt jwt
peer_row op-opaque opaque

if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$RESULTS"/*.json "$OUT/"; fi

# --- The table --------------------------------------------------------------------------------
python3 - "$RESULTS" "$DURATION" "$CONNECTIONS" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(node --version)" "$(node -p 'require(process.argv[1] + "/node_modules/oidc-provider/package.json").version' "$OP")" \
  "$RS256_ENV" "$EDDSA_ENV" "${SCENARIOS[@]}" <<'EOF'
import json, os, sys

(results, duration, conns, load_before, load_after, node, op_version, rs_env, ed_env,
 *scenarios) = sys.argv[1:]
servers = ["sesame-rs256", "sesame-eddsa", "op-jwt", "op-opaque"]

def row(server, scenario):
    try:
        with open(os.path.join(results, f"{server}-{scenario}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def cell(r):
    if r is None:
        return "-"
    text = f"{r['rate']:,.0f}"
    if r["errors"]:
        text += f" ({r['errors']} errors)"
    return text

def ratio(a, b):
    if a is None or b is None or b["rate"] == 0:
        return "-"
    return f"{a['rate'] / b['rate']:.1f}×"

# The like-for-like peer: JWT access tokens where Sesame issues JWTs (code flow, client
# credentials); opaque tokens for introspection (the only ones it introspects).
def peer(s):
    return row("op-opaque" if s == "introspect" else "op-jwt", s)

print(f"{conns} connections, {duration} per scenario, plain HTTP; Sesame on SQLite "
      f"({rs_env} / {ed_env}); oidc-provider {op_version} on Node {node}, one process, "
      f"in-memory adapter, RS256 ID tokens; load average before {load_before}, after {load_after}\n")
print("| scenario (req/s; code-flow: whole flows/s) | Sesame RS256 | Sesame EdDSA | "
      "oidc-provider, JWT access tokens | oidc-provider, opaque (its default) | "
      "Sesame RS256 ÷ oidc-provider | Sesame EdDSA ÷ oidc-provider | ÷ its default (RS256 / EdDSA) |")
print("|---|---|---|---|---|---|---|---|")
for s in scenarios:
    r = {srv: row(srv, s) for srv in servers}
    p = peer(s)
    print(f"| {s} | {cell(r['sesame-rs256'])} | {cell(r['sesame-eddsa'])} | {cell(r['op-jwt'])} | "
          f"{cell(r['op-opaque'])} | {ratio(r['sesame-rs256'], p)} | {ratio(r['sesame-eddsa'], p)} | "
          f"{ratio(r['sesame-rs256'], r['op-opaque'])} / {ratio(r['sesame-eddsa'], r['op-opaque'])} |")
print()
print("| scenario (p50 / p99 ms; RSS end / peak MB) | Sesame RS256 | Sesame EdDSA | "
      "oidc-provider JWT | oidc-provider opaque |")
print("|---|---|---|---|---|")
for s in scenarios:
    cells = []
    for srv in servers:
        r = row(srv, s)
        if r is None:
            cells.append("-")
            continue
        rss = "" if r["rss_end_mb"] is None else f"; {r['rss_end_mb']:.0f} / {r['rss_peak_mb']:.0f}"
        cells.append(f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}{rss}")
    print(f"| {s} | " + " | ".join(cells) + " |")

# The RS256 ceiling: one RSA signature per flow, whoever signs it.
try:
    with open(os.path.join(results, "rsa-ceiling.txt")) as f:
        signs = float(f.read().strip())
except (OSError, ValueError):
    signs = None
flows, op = row("sesame-rs256", "code-flow"), peer("code-flow")
if signs and flows and op:
    print(f"\nRSA-2048 signatures/s on this box, every core signing (openssl speed -multi "
          f"{os.cpu_count()}): {signs:,.0f}. Sesame's RS256 code flows use {flows['rate'] / signs:.0%} "
          f"of that for their ID tokens alone; 5× oidc-provider would be {5 * op['rate']:,.0f} "
          f"flows/s, {5 * op['rate'] / signs:.0%} of it, before any HTTP, database or the "
          f"generator's own work.")
EOF
