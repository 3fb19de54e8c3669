#!/usr/bin/env bash
# The fault suite: its own broker and ClickHouse (ports and data apart from the dev and test
# stacks), gateway, enrichers and sinks as separate release processes, traffic through the
# gateway, and one fault per scenario (sink / enricher kill -9, ClickHouse outage, broker
# kill, poison input, client retries, a rebalance). Prints a table per scenario and exits
# non-zero when any scenario lost or duplicated an event.
#
#   scripts/faults.sh                 every scenario
#   scripts/faults.sh sink_kill poison   only these (names: see scripts/faults.py --help)
#
# Environment (defaults in brackets):
#   TRIBUTARY_FAULTS_DATA_DIR [<repo>/.data/faults]   TRIBUTARY_FAULTS_KAFKA_PORT [27092]
#   TRIBUTARY_FAULTS_CLICKHOUSE_HTTP_PORT [27123]     TRIBUTARY_FAULTS_CLICKHOUSE_TCP_PORT [27000]
#   TRIBUTARY_FAULTS_GATEWAY_PORT [27080]             TRIBUTARY_FAULTS_ADMIN_PORT [27101] (first
#   of the services' admin ports)                     TRIBUTARY_FAULTS_SCALE [1.0] (event volume)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"

export TRIBUTARY_DATA_DIR="${TRIBUTARY_FAULTS_DATA_DIR:-$REPO/.data/faults}"
# Ports below Linux's ephemeral range (32768-60999): in that range a client connection's local
# port once took the admin port of a sink started mid-run ("Address already in use").
export TRIBUTARY_KAFKA_PORT="${TRIBUTARY_FAULTS_KAFKA_PORT:-27092}"
export TRIBUTARY_CLICKHOUSE_HTTP_PORT="${TRIBUTARY_FAULTS_CLICKHOUSE_HTTP_PORT:-27123}"
export TRIBUTARY_CLICKHOUSE_TCP_PORT="${TRIBUTARY_FAULTS_CLICKHOUSE_TCP_PORT:-27000}"
export TRIBUTARY_CLICKHOUSE_DATABASE=tributary
export TRIBUTARY_TOPIC_PARTITIONS=4

log() { printf '[faults] %s\n' "$*" >&2; }

log "building the services (release) and the poison test"
cargo build --release --quiet -p tributary-gateway -p tributary-enricher -p tributary-sink
cargo test --quiet -p tributary-tests --test poison --no-run

deploy/local/stack down >/dev/null 2>&1 || true
rm -rf "$TRIBUTARY_DATA_DIR"
mkdir -p "$TRIBUTARY_DATA_DIR"
stop_all() {
    # Services faults.py started (it stops them itself; this covers it being killed).
    if [ -f "$TRIBUTARY_DATA_DIR/services.pids" ]; then
        while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$TRIBUTARY_DATA_DIR/services.pids"
    fi
    deploy/local/stack down >/dev/null 2>&1 || true
}
trap stop_all EXIT
deploy/local/stack up

python3 "$REPO/scripts/faults.py" \
    --repo "$REPO" \
    --data "$TRIBUTARY_DATA_DIR" \
    --bin "$CARGO_TARGET_DIR/release" \
    --kafka-port "$TRIBUTARY_KAFKA_PORT" \
    --clickhouse-port "$TRIBUTARY_CLICKHOUSE_HTTP_PORT" \
    --gateway-port "${TRIBUTARY_FAULTS_GATEWAY_PORT:-27080}" \
    --admin-port "${TRIBUTARY_FAULTS_ADMIN_PORT:-27101}" \
    --scale "${TRIBUTARY_FAULTS_SCALE:-1.0}" \
    "$@"
