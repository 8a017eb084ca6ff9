#!/usr/bin/env bash
# Sesame, the gallery and nginx on one port: the seed 003 system, locally.
#
#   scripts/run-local.sh
#   # entry point: http://127.0.0.1:8080   (Ctrl-C stops all three)
#
# Then, for example:
#   E=http://127.0.0.1:8080; J='content-type: application/json'
#   curl -i $E/images                                              # 401: no token
#   curl -s $E/register -H "$J" -d '{"email":"a@example.com","username":"alice","password":"correct horse battery staple"}'
#   ACCESS=$(curl -s $E/login -H "$J" -d '{"username":"alice","password":"correct horse battery staple","audience":"gallery"}' \
#            | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')
#   curl -s $E/images -H "$J" -H "authorization: Bearer $ACCESS" \
#        -d "{\"title\":\"logo\",\"data\":\"$(base64 -w0 some.png)\"}"   # 201, with a public image_url
#
# Settings (environment): PORT (8080, the entry point), SESAME_PORT (8443), GALLERY_PORT (8081),
# RUN_DIR (./target/run-local: Sesame's and the gallery's data, nginx's rendered config and logs),
# PROFILE (debug or release), BUILD (0: use the binaries already built), NGINX (the nginx binary).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8080}
SESAME_PORT=${SESAME_PORT:-8443}
GALLERY_PORT=${GALLERY_PORT:-8081}
RUN_DIR=${RUN_DIR:-$PWD/target/run-local}
PROFILE=${PROFILE:-debug}
BUILD=${BUILD:-1}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

if [ ! -x "$NGINX" ]; then
  echo "run-local: nginx not found (apt-get install nginx, or set NGINX=/path/to/nginx)" >&2
  exit 1
fi

cargo_flags=()
[ "$PROFILE" = release ] && cargo_flags+=(--release)
if [ "$BUILD" != 0 ]; then
  echo "== building sesame and gallery ($PROFILE)"
  cargo build ${cargo_flags[@]+"${cargo_flags[@]}"} -p sesame -p gallery
fi
BIN=target/$PROFILE

mkdir -p "$RUN_DIR/sesame" "$RUN_DIR/gallery" "$RUN_DIR/nginx"
# nginx workers run as an unprivileged user when started by root: let them in.
chmod 755 "$RUN_DIR" "$RUN_DIR/nginx"

pids=()
stop_all() {
  # SIGTERM, then wait: each process drains its requests (nginx stops its workers).
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Waits (30 s at most) until a URL answers 200.
wait_for() {
  local url=$1 what=$2; shift 2
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$@" "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "run-local: $what did not come up ($url)" >&2
  exit 1
}

echo "== sesame on https://localhost:$SESAME_PORT"
SESAME_LISTEN=127.0.0.1:$SESAME_PORT \
SESAME_ISSUER=https://localhost:$SESAME_PORT \
SESAME_AUDIENCES=api,gallery \
SESAME_DATA_DIR="$RUN_DIR/sesame" \
SESAME_TRUSTED_PROXIES=127.0.0.1/32 \
  "$BIN/sesame" serve &
pids+=($!)
SESAME_CA="$RUN_DIR/sesame/tls/cert.pem"
for _ in $(seq 1 300); do [ -s "$SESAME_CA" ] && break; sleep 0.1; done
wait_for "https://localhost:$SESAME_PORT/healthz" sesame --cacert "$SESAME_CA"

echo "== gallery on http://127.0.0.1:$GALLERY_PORT"
GALLERY_LISTEN=127.0.0.1:$GALLERY_PORT \
GALLERY_ISSUER=https://localhost:$SESAME_PORT \
GALLERY_ISSUER_CA="$SESAME_CA" \
GALLERY_AUDIENCE=gallery \
GALLERY_DATA_DIR="$RUN_DIR/gallery" \
GALLERY_PUBLIC_URL=http://127.0.0.1:$PORT \
  "$BIN/gallery" &
pids+=($!)
wait_for "http://127.0.0.1:$GALLERY_PORT/healthz" gallery

echo "== nginx on http://127.0.0.1:$PORT"
export NGINX_LISTEN=127.0.0.1:$PORT
export SESAME_UPSTREAM=127.0.0.1:$SESAME_PORT SESAME_TLS_NAME=localhost SESAME_CA_FILE="$SESAME_CA"
export GALLERY_UPSTREAM=127.0.0.1:$GALLERY_PORT
vars='${NGINX_LISTEN} ${SESAME_UPSTREAM} ${SESAME_TLS_NAME} ${SESAME_CA_FILE} ${GALLERY_UPSTREAM}'
if command -v envsubst >/dev/null 2>&1; then
  envsubst "$vars" < deploy/nginx/sesame-gallery.conf > "$RUN_DIR/nginx/sesame-gallery.conf"
else
  sed -e "s|\${NGINX_LISTEN}|$NGINX_LISTEN|g" -e "s|\${SESAME_UPSTREAM}|$SESAME_UPSTREAM|g" \
      -e "s|\${SESAME_TLS_NAME}|$SESAME_TLS_NAME|g" -e "s|\${SESAME_CA_FILE}|$SESAME_CA_FILE|g" \
      -e "s|\${GALLERY_UPSTREAM}|$GALLERY_UPSTREAM|g" \
      deploy/nginx/sesame-gallery.conf > "$RUN_DIR/nginx/sesame-gallery.conf"
fi
N="$RUN_DIR/nginx"
cat > "$N/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $N/nginx.pid;
error_log $N/error.log warn;
events { worker_connections 256; }
http {
    access_log $N/access.log;
    client_body_temp_path $N/body; proxy_temp_path $N/proxy; fastcgi_temp_path $N/fcgi;
    uwsgi_temp_path $N/uwsgi; scgi_temp_path $N/scgi;
    include $N/sesame-gallery.conf;
}
CONF
"$NGINX" -e "$N/error.log" -p "$N" -c "$N/nginx.conf" &
pids+=($!)
wait_for "http://127.0.0.1:$PORT/.well-known/openid-configuration" nginx

echo
echo "ready: http://127.0.0.1:$PORT  (Sesame: /auth/*, /login, /register, /refresh, /profile, /users/*, /.well-known/*; gallery: /images)"
echo "Ctrl-C stops everything."
# Until one of them exits (or Ctrl-C); the EXIT trap stops the others.
wait -n "${pids[@]}"
