# Sesame: multi-stage build; the final image holds only the binary, runs as a non-root user and
# keeps its state (embedded database, self-signed certificate) in the /data volume.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace is copied: the binary links the core, verify and store crates.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# examples/gallery is a workspace member: cargo needs its manifest to load the workspace.
COPY examples ./examples
RUN cargo build --release --locked -p sesame \
 && strip target/release/sesame

FROM debian:bookworm-slim
# curl only for the container health check; ca-certificates for any outbound TLS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sesame \
 && useradd --system --uid 10001 --gid sesame --home-dir /data --shell /usr/sbin/nologin sesame \
 && mkdir -p /data && chown sesame:sesame /data
COPY --from=build /src/target/release/sesame /usr/local/bin/sesame
USER sesame:sesame
WORKDIR /data
ENV SESAME_LISTEN=0.0.0.0:8443 \
    SESAME_DATA_DIR=/data \
    SESAME_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8443
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsk "https://127.0.0.1:8443/healthz" || curl -fs "http://127.0.0.1:8443/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/sesame"]
CMD ["serve"]
