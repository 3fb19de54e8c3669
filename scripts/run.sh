#!/usr/bin/env bash
# The main job on the local default stack: brings up Kafka (Tansu) and ClickHouse, builds and
# starts gateway, enricher and sink, sends the seed documents' samples, and shows the rows.
#
#   scripts/run.sh         start everything (again: restarts the services) and send the samples
#   scripts/run.sh stop    stop the services and the stack
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"
RUN_DIR="${TRIBUTARY_RUN_DIR:-$REPO/.data/run}"
GATEWAY="${TRIBUTARY_GATEWAY__LISTEN:-127.0.0.1:8080}"
SERVICES=(gateway enricher sink)

log() { printf '[run] %s\n' "$*" >&2; }

stop_services() {
    for service in "${SERVICES[@]}"; do
        local pidfile="$RUN_DIR/$service.pid"
        if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            kill -TERM "$(cat "$pidfile")"
            for _ in $(seq 1 100); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
            log "stopped $service"
        fi
        rm -f "$pidfile"
    done
}

if [ "${1:-}" = stop ]; then
    stop_services
    deploy/local/stack down
    exit 0
fi

deploy/local/stack up
eval "$(deploy/local/stack env)"
log "building the services (release; the first build takes several minutes)"
cargo build --release --quiet -p tributary-gateway -p tributary-enricher -p tributary-sink
stop_services
mkdir -p "$RUN_DIR"
for service in "${SERVICES[@]}"; do
    nohup "$CARGO_TARGET_DIR/release/tributary-$service" --config "$REPO/config/tributary.toml" \
        >"$RUN_DIR/$service.log" 2>&1 &
    echo $! >"$RUN_DIR/$service.pid"
done
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://$GATEWAY/openapi.json" 2>/dev/null && break
    sleep 0.2
done
log "services up: gateway http://$GATEWAY, logs in $RUN_DIR"

python3 "$REPO/scripts/send_samples.py" "http://$GATEWAY"

# ClickHouse over HTTP (no client binary needed); the result as text.
CLICKHOUSE_URL="$TRIBUTARY_CLICKHOUSE__URL"
query() {
    curl -fsS --data-binary "$1" "$CLICKHOUSE_URL/?database=$TRIBUTARY_CLICKHOUSE__DATABASE"
}
for _ in $(seq 1 150); do
    [ "$(query "SELECT count() FROM events WHERE received_at >= now() - 120" 2>/dev/null || echo 0)" -gt 0 ] && break
    sleep 0.2
done
sleep 1
echo
echo "ClickHouse $(query "SELECT version()") at $CLICKHOUSE_URL"
echo "SELECT * FROM tributary.events FINAL (newest first, one row per event_uid):"
query "SELECT * FROM events FINAL ORDER BY received_at_ms DESC LIMIT 20 FORMAT Vertical"
cat <<EOF

Tributary is running on the local default stack.
  APIs:        http://$GATEWAY  (OpenAPI: http://$GATEWAY/openapi.json)
  Metrics:     http://127.0.0.1:9101/metrics (gateway), :9102 (enricher), :9103 (sink)
  ClickHouse:  $CLICKHOUSE_URL (HTTP), native port $TRIBUTARY_CLICKHOUSE_TCP_PORT, database $TRIBUTARY_CLICKHOUSE__DATABASE
               curl --data-binary 'SELECT count() FROM events FINAL' '$CLICKHOUSE_URL/?database=$TRIBUTARY_CLICKHOUSE__DATABASE'
  Logs:        $RUN_DIR/*.log
  Stop:        scripts/run.sh stop
EOF
