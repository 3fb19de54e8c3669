# syntax=docker/dockerfile:1.7
# One image with Tributary's three services; the container's command picks which one runs:
# tributary-gateway, tributary-enricher, or tributary-sink (also `tributary-sink migrate`).
# Used by docker-compose.yml and deploy/k8s/. Build: docker build -t tributary:local .

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
# rdkafka-sys builds librdkafka from source (configure + make) with OpenSSL (libssl-dev: TLS
# and SASL SCRAM to the broker; also ClickHouse over HTTPS); zstd-sys and libz-sys use cc.
# Package versions follow the pinned Debian release rather than being pinned one by one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake pkg-config zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Registry and target live in BuildKit caches, so rebuilds after a code change are incremental;
# the binaries are copied out of the cache in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p tributary-gateway -p tributary-enricher -p tributary-sink \
    && mkdir -p /out \
    && cp target/release/tributary-gateway target/release/tributary-enricher \
        target/release/tributary-sink /out/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tributary \
    && useradd --system --uid 10001 --gid tributary --no-create-home --shell /usr/sbin/nologin tributary
COPY --from=builder /out/ /usr/local/bin/
COPY config/tributary.toml /etc/tributary/tributary.toml
# Inside a container every port listens on all interfaces; the file's 127.0.0.1 defaults are
# for running on a workstation. Environment beats the file: TRIBUTARY_<SECTION>__<KEY>.
ENV TRIBUTARY_CONFIG=/etc/tributary/tributary.toml \
    TRIBUTARY_GATEWAY__LISTEN=0.0.0.0:8080 \
    TRIBUTARY_GATEWAY__ADMIN_LISTEN=0.0.0.0:9101 \
    TRIBUTARY_ENRICHER__ADMIN_LISTEN=0.0.0.0:9102 \
    TRIBUTARY_SINK__ADMIN_LISTEN=0.0.0.0:9103 \
    RUST_LOG=info
USER 10001:10001
# gateway HTTP, then the admin ports (/metrics, /healthz, /readyz) of gateway, enricher, sink.
EXPOSE 8080 9101 9102 9103
CMD ["tributary-gateway"]
