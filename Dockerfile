# syntax=docker/dockerfile:1
# The HoverBot server image: `docker build -t hoverbot .` (see "Container" in README.md).
# .ci/container_startup.sh reads the runtime stage's settings (ENV, USER, WORKDIR, VOLUME, EXPOSE,
# HEALTHCHECK, ENTRYPOINT, CMD) and starts the release binary the same way, so CI notices when
# they stop working together.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep downloaded crates and compiled dependencies between builds on one machine;
# the binary is copied out of the target cache before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p hoverbot-server \
    && cp target/release/hoverbot /usr/local/bin/hoverbot

FROM debian:bookworm-slim
# The server cannot probe itself, so curl runs the health check. The server needs nothing else: it
# links SQLite in, and carries its own TLS roots for webhooks, crawls and the language model.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 hoverbot \
    && useradd --system --uid 10001 --gid hoverbot --home-dir /data --shell /usr/sbin/nologin hoverbot \
    && mkdir /data \
    && chown hoverbot:hoverbot /data
COPY --from=builder /usr/local/bin/hoverbot /usr/local/bin/hoverbot

# Plain HTTP on 0.0.0.0 is allowed only behind a proxy that terminates TLS, which the server is told
# to trust; to terminate TLS in the server instead, set HOVERBOT_TLS_CERT and HOVERBOT_TLS_KEY and
# HOVERBOT_TRUST_PROXY=false. /data holds the SQLite database and the secret key.
ENV HOVERBOT_LISTEN=0.0.0.0:8080 \
    HOVERBOT_DATA_DIR=/data \
    HOVERBOT_TRUST_PROXY=true
# Numeric, so that a runtime can tell it is not root without reading /etc/passwd.
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["hoverbot"]
CMD ["serve"]
