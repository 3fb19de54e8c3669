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
SERVICES=(gateway enricher sink debugger)
DEBUGGER="${TRIBUTARY_DEBUGGER__LISTEN:-127.0.0.1:9104}"
export TRIBUTARY_DEBUGGER__LISTEN="$DEBUGGER"

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

# Say why samples did not arrive, from what each stage reports about itself.
explain_missing() {
    local service admin metrics
    for service in enricher sink; do
        local var="TRIBUTARY_${service^^}__ADMIN_LISTEN"
        admin="${!var:-127.0.0.1:$([ "$service" = enricher ] && echo 9102 || echo 9103)}"
        if ! kill -0 "$(cat "$RUN_DIR/$service.pid" 2>/dev/null)" 2>/dev/null; then
            echo "  - the $service is not running: see $RUN_DIR/$service.log"
            continue
        fi
        metrics=$(curl -fsS --max-time 3 "http://$admin/metrics" 2>/dev/null) || { echo "  - the $service's admin port $admin does not answer"; continue; }
        local assigned lag stalled rejoins
        assigned=$(awk '/^tributary_consumer_assigned_partitions/ {s+=$2} END {print s+0}' <<<"$metrics")
        lag=$(awk '/^tributary_consumer_lag_messages/ {s+=$2} END {print s+0}' <<<"$metrics")
        stalled=$(awk '/^tributary_consumer_stalled_seconds/ {print int($2)}' <<<"$metrics" | head -1)
        rejoins=$(awk '/^tributary_consumer_rejoins_total/ {s+=$2} END {print s+0}' <<<"$metrics")
        if [ "$lag" -gt 0 ] && [ "$assigned" -eq 0 ]; then
            echo "  - the $service has no partitions while its group has lag $lag (commits stalled ${stalled:-?}s, $rejoins watchdog rejoins so far): the broker has not assigned it any; its watchdog rejoins after kafka.watchdog.stall_after_ms"
        elif [ "$lag" -gt 0 ]; then
            echo "  - the $service's group has lag $lag, commits stalled ${stalled:-0}s, $assigned partitions assigned, $rejoins watchdog rejoins"
        else
            echo "  - the $service has no lag (everything it was given is committed)"
        fi
        curl -fsS --max-time 3 "http://$admin/readyz" >/dev/null 2>&1 || echo "  - the $service is not ready: its dependency fails (ClickHouse for the sink, the broker for the enricher)"
        curl -fsS --max-time 3 "http://$admin/healthz" >/dev/null 2>&1 || echo "  - the $service's /healthz fails: its watchdog gave up rejoining; restart it"
    done
    grep -q "panicked at" "${TRIBUTARY_DATA_DIR:-$REPO/.data/stack}/log/tansu.log" 2>/dev/null &&
        echo "  - the broker's log has a panic (Tansu storage); its supervisor restarts it: ${TRIBUTARY_DATA_DIR:-$REPO/.data/stack}/log/broker-supervisor.log"
    echo "  Logs: $RUN_DIR/*.log"
}

if [ "${1:-}" = stop ]; then
    stop_services
    deploy/local/stack down
    exit 0
fi

deploy/local/stack up
eval "$(deploy/local/stack env)"
log "building the services (release; the first build takes several minutes)"
cargo build --release --quiet -p tributary-gateway -p tributary-enricher -p tributary-sink \
    -p tributary-operator
stop_services
mkdir -p "$RUN_DIR"
# The admin token of the events debugger page (and the gateway's /rejections): kept across
# runs in $RUN_DIR/admin-token, or TRIBUTARY_ADMIN__TOKEN when set.
if [ -z "${TRIBUTARY_ADMIN__TOKEN:-}" ]; then
    [ -s "$RUN_DIR/admin-token" ] ||
        python3 -c 'import secrets; print(secrets.token_hex(16))' >"$RUN_DIR/admin-token"
    TRIBUTARY_ADMIN__TOKEN="$(cat "$RUN_DIR/admin-token")"
fi
export TRIBUTARY_ADMIN__TOKEN
for service in "${SERVICES[@]}"; do
    if [ "$service" = debugger ]; then
        command=("$CARGO_TARGET_DIR/release/tributary" --config "$REPO/config/tributary.toml" debugger)
    else
        command=("$CARGO_TARGET_DIR/release/tributary-$service" --config "$REPO/config/tributary.toml")
    fi
    nohup "${command[@]}" >"$RUN_DIR/$service.log" 2>&1 &
    echo $! >"$RUN_DIR/$service.pid"
done
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://$GATEWAY/openapi.json" 2>/dev/null && break
    sleep 0.2
done
log "services up: gateway http://$GATEWAY, logs in $RUN_DIR"

# Only this run's samples: the gateway stamps received_at_ms on each, so rows of earlier runs
# (the samples carry the same ids every time) never pass for these.
SENT_AFTER_MS=$(( $(date +%s%3N) - 1000 ))
python3 "$REPO/scripts/send_samples.py" "http://$GATEWAY" "$RUN_DIR/accepted" || true
ACCEPTED=$(cat "$RUN_DIR/accepted" 2>/dev/null || echo 0)

# ClickHouse over HTTP (no client binary needed); the result as text.
CLICKHOUSE_URL="$TRIBUTARY_CLICKHOUSE__URL"
query() {
    curl -fsS --data-binary "$1" "$CLICKHOUSE_URL/?database=$TRIBUTARY_CLICKHOUSE__DATABASE"
}
arrived() { query "SELECT uniqExact(batch_id) FROM events WHERE received_at_ms >= $SENT_AFTER_MS" 2>/dev/null || echo 0; }
WAIT_S="${TRIBUTARY_RUN_WAIT_S:-90}"
deadline=$((SECONDS + WAIT_S))
got=$(arrived)
while [ "$got" -lt "$ACCEPTED" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.5
    got=$(arrived)
done
echo
echo "ClickHouse $(query "SELECT version()") at $CLICKHOUSE_URL"
STORED=$(query "SELECT count() FROM events FINAL WHERE received_at_ms >= $SENT_AFTER_MS" 2>/dev/null || echo 0)
echo "This run's $STORED events in tributary.events, one row per event_uid (5 of ~75 columns, ids"
echo "cut at 24 characters; event_time is the time each event carries: seed 000's samples say 4):"
# Fits 120 columns; a missing event_id shows as -.
query "SELECT source, event_name, \
    if(event_id IS NULL, '-', leftUTF8(event_id, 24)) AS event_id, \
    leftUTF8(user_key, 24) AS user_key, event_time \
    FROM events FINAL WHERE received_at_ms >= $SENT_AFTER_MS \
    ORDER BY received_at_ms DESC, source, event_index LIMIT 20 FORMAT PrettyCompactMonoBlock"
echo "Every column: SELECT * FROM events FINAL WHERE received_at_ms >= $SENT_AFTER_MS FORMAT Vertical"
echo
if [ "$got" -ge "$ACCEPTED" ]; then
    echo "All $ACCEPTED accepted sample requests of this run are in ClickHouse ($STORED events)."
else
    echo "NOT ARRIVED: only $got of the $ACCEPTED sample requests the gateway accepted reached ClickHouse within ${WAIT_S}s."
    echo "Why, as far as the services can tell:"
    explain_missing
fi
cat <<EOF

Tributary is running on the local default stack.
  APIs:        http://$GATEWAY  (OpenAPI: http://$GATEWAY/openapi.json)
  Debugger:    http://$DEBUGGER/?token=$TRIBUTARY_ADMIN__TOKEN
               (live events, rejected requests, dead letters; the token is in $RUN_DIR/admin-token)
               send the samples again to watch them arrive: python3 scripts/send_samples.py http://$GATEWAY
  Dead letters: $CARGO_TARGET_DIR/release/tributary --config config/tributary.toml dlq list --records
               (then: dlq show PARTITION/OFFSET, dlq replay --reason R [--dry-run])
  Metrics:     http://127.0.0.1:9101/metrics (gateway), :9102 (enricher), :9103 (sink)
  ClickHouse:  $CLICKHOUSE_URL (HTTP), native port $TRIBUTARY_CLICKHOUSE_TCP_PORT, database $TRIBUTARY_CLICKHOUSE__DATABASE
               curl --data-binary 'SELECT count() FROM events FINAL' '$CLICKHOUSE_URL/?database=$TRIBUTARY_CLICKHOUSE__DATABASE'
  Logs:        $RUN_DIR/*.log
  Stop:        scripts/run.sh stop
EOF
