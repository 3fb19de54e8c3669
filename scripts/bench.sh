#!/usr/bin/env bash
# Side-by-side benchmarks on a stack of their own; writes bench/RESULTS.md.
#
#   scripts/bench.sh           the whole bench (7-9 minutes after the build on an idle machine)
#   scripts/bench.sh --quick   shorter windows, fewer rows and searches (about 5 minutes)
#   scripts/bench.sh --keep    leave the stack running afterwards (for poking at it)
#   scripts/bench.sh --only a,d    only these phases (c a b d h e g; f comes with a, b and d)
#   TRIBUTARY_BENCH_SERVICE_ENV="LD_PRELOAD=..." scripts/bench.sh   extra environment for the
#                              three services, e.g. to try another allocator without a rebuild
#   TRIBUTARY_BENCH_EXTRA_CONFIG=file.toml scripts/bench.sh   TOML appended to the services'
#                              config, e.g. a [kafka.properties] table to try librdkafka settings
#
# It starts its own broker and ClickHouse (ports 28092 / 28123 / 29000, data in
# .data/bench-stack, wiped first) and the three release services on ports apart from
# scripts/run.sh's, then measures, each next to what it is compared with:
#   (c) per-stage CPU cost per family, in-process, one core        tributary-bench cpu
#   (a) gateway events/s and latency vs rdkafka producing the same RawBatch bytes
#   (b) sink rows/s vs a plain HTTP insert of the same rows in production order (curl, Native)
#   (d) ingest-to-queryable freshness at a steady 20k events/s, whole pipeline
#   (h) the same with one core kept busy by a CPU hog (issue 17)
#   (e) lead search latency at 1M and 10M stored rows
#   (f) peak RSS (VmHWM) of each service under its load
#   (g) per-tenant rate limits: a flooding tenant (closed loop) held at its events/s limit
#       while another tenant's latency stays within 2x of its solo figure
# All load goes to 127.0.0.1 and every step is bounded in time.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

QUICK=0
KEEP=0
ONLY=c,a,b,d,h,e,g
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --only) ONLY=${2:?--only needs phases, e.g. a,d}; shift ;;
        -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"
export TRIBUTARY_DATA_DIR="${TRIBUTARY_BENCH_DATA_DIR:-$REPO/.data/bench-stack}"
# Below Linux's ephemeral range (32768-60999), where a client's local port could take them.
export TRIBUTARY_KAFKA_PORT="${TRIBUTARY_BENCH_KAFKA_PORT:-28092}"
export TRIBUTARY_CLICKHOUSE_HTTP_PORT="${TRIBUTARY_BENCH_CLICKHOUSE_HTTP_PORT:-28123}"
export TRIBUTARY_CLICKHOUSE_TCP_PORT="${TRIBUTARY_BENCH_CLICKHOUSE_TCP_PORT:-29000}"
export TRIBUTARY_CLICKHOUSE_DATABASE=tributary
GATEWAY_PORT="${TRIBUTARY_BENCH_GATEWAY_PORT:-28080}"
ADMIN_BASE="${TRIBUTARY_BENCH_ADMIN_BASE:-29100}"
OUT="$REPO/.data/bench-run"
TANSU="${TRIBUTARY_TOOLS_DIR:-$HOME/.cache/tributary/tools}/bin/tansu"
BIN="$CARGO_TARGET_DIR/release"
KAFKA="127.0.0.1:$TRIBUTARY_KAFKA_PORT"
CH_URL="http://127.0.0.1:$TRIBUTARY_CLICKHOUSE_HTTP_PORT"
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
SINK_METRICS="http://127.0.0.1:$((ADMIN_BASE + 3))/metrics"

if [ "$QUICK" = 1 ]; then
    LOAD_S=8 WARM_S=2 SIDE_S=5 FRESH_S=20 SINK_ROWS=200000 SEARCH_Q=40 CPU_S=0.4 TENANT_S=8
else
    LOAD_S=20 WARM_S=3 SIDE_S=10 FRESH_S=45 SINK_ROWS=500000 SEARCH_Q=200 CPU_S=1.2 TENANT_S=15
fi
SEARCH_ROWS=1000000,10000000

log() { printf '[bench] %s\n' "$*" >&2; }

# ClickHouse over HTTP: ch SQL runs one statement; ch_insert SQL FILE sends FILE as its data.
ch() { curl -fsS --data-binary "$1" "$CH_URL/"; }
ch_insert() { curl -fsS --data-binary "@$2" "$CH_URL/?query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")"; }

declare -A PIDS=()

start_service() { # start_service NAME LOGNAME [VAR=VALUE...]
    local name=$1 logname=$2
    shift 2
    # shellcheck disable=SC2086 # word splitting of the extra environment is intended
    env ${TRIBUTARY_BENCH_SERVICE_ENV:-} "$@" RUST_LOG="${RUST_LOG:-warn}" \
        nohup "$BIN/tributary-$name" --config "$OUT/bench.toml" >"$OUT/$logname.log" 2>&1 &
    PIDS[$logname]=$!
}

stop_service() { # stop_service LOGNAME
    local pid=${PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    unset "PIDS[$1]"
}

HOG_PID=
cleanup() {
    if [ -n "$HOG_PID" ]; then kill "$HOG_PID" 2>/dev/null || true; fi
    for name in "${!PIDS[@]}"; do stop_service "$name"; done
    if [ "$KEEP" = 0 ]; then deploy/local/stack down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

wait_http() { # wait_http URL SECONDS
    local deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { log "$1 did not answer in $2 s"; return 1; }
        sleep 0.2
    done
}

RSS_ENTRIES=()
record_rss() { # record_rss KEY LOGNAME PHASE: the process's VmHWM while it still runs
    local pid=${PIDS[$2]} kb
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    RSS_ENTRIES+=("\"$1\": {\"mib\": $(awk "BEGIN {print ${kb:-0} / 1024}"), \"phase\": \"$3\"}")
    log "peak RSS of $1: $((${kb:-0} / 1024)) MiB ($3)"
}

bench() { "$BIN/tributary-bench" "$@"; }

HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# proc_cpu SLUG LABEL DELAY SECONDS NAME=PID...: after DELAY, the cores each process used over
# SECONDS, plus the whole machine's (other tenants of the machine included) -> $OUT/cpu.SLUG
proc_cpu() {
    local slug=$1 label=$2 delay=$3 secs=$4
    shift 4
    sleep "$delay"
    local -a names=() pids=() before=()
    local kv
    for kv in "$@"; do names+=("${kv%%=*}"); pids+=("${kv#*=}"); done
    local i m0 m1 t0 t1
    for i in "${!pids[@]}"; do before+=("$(ticks "${pids[$i]}")"); done
    m0=$(machine_busy)
    t0=$(date +%s.%N)
    sleep "$secs"
    t1=$(date +%s.%N)
    m1=$(machine_busy)
    local parts=()
    for i in "${!pids[@]}"; do
        parts+=("\"${names[$i]}\": $(awk "BEGIN {printf \"%.2f\", ($(ticks "${pids[$i]}") - ${before[$i]}) / $HZ / ($t1 - $t0)}")")
    done
    parts+=("\"whole machine\": $(awk "BEGIN {printf \"%.2f\", ($m1 - $m0) / $HZ / ($t1 - $t0)}")")
    (IFS=,; printf '"%s": {%s}\n' "$label" "${parts[*]}") >"$OUT/cpu.$slug"
}
STACK_PIDS=()
# (g): the flooding tenant's limit, and the other tenant's steady rate (events/s).
FLOOD_LIMIT=5000
CALM_RATE=1000

started=$SECONDS
log "building release binaries (gateway, enricher, sink, bench)"
cargo build --release --quiet -p tributary-gateway -p tributary-enricher -p tributary-sink -p tributary-bench
build_done=$SECONDS

rm -rf "$OUT"
mkdir -p "$OUT"
deploy/local/stack down >/dev/null 2>&1 || true
rm -rf "$TRIBUTARY_DATA_DIR"
deploy/local/stack up
for topic in bench.gateway bench.direct bench.sink; do
    "$TANSU" topic create "$topic" --partitions 4 --broker "tcp://$KAFKA" >/dev/null
done
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
STACK_PIDS=("broker=$(cat "$TRIBUTARY_DATA_DIR/tansu.pid")" "clickhouse=$(cat "$TRIBUTARY_DATA_DIR/clickhouse.pid")")

cat >"$OUT/bench.toml" <<EOF
# Written by scripts/bench.sh: the bench stack's ports; everything else the defaults.
[kafka]
brokers = "$KAFKA"
[clickhouse]
url = "$CH_URL"
database = "tributary"
[gateway]
listen = "127.0.0.1:$GATEWAY_PORT"
admin_listen = "127.0.0.1:$((ADMIN_BASE + 1))"
[enricher]
group = "bench-enricher"
admin_listen = "127.0.0.1:$((ADMIN_BASE + 2))"
[sink]
group = "bench-sink"
admin_listen = "127.0.0.1:$((ADMIN_BASE + 3))"
# (g): two more activity tenants, one of them limited; the demo key stays for (a) and (d).
[[tenants.activity_keys]]
tenant = "default"
key = "demo-netcore-key"
[[tenants.activity_keys]]
tenant = "flood"
key = "bench-flood-key"
[[tenants.activity_keys]]
tenant = "calm"
key = "bench-calm-key"
[gateway.rate_limits.tenants.flood]
events_per_second = $FLOOD_LIMIT
EOF
if [ -n "${TRIBUTARY_BENCH_EXTRA_CONFIG:-}" ]; then
    cat "$TRIBUTARY_BENCH_EXTRA_CONFIG" >>"$OUT/bench.toml"
fi

# (c) In-process stage costs, before anything else runs.
if want c; then
log "(c) per-stage CPU cost per family"
bench cpu --seconds "$CPU_S" --json "$OUT/cpu.json"
fi

# (a) The gateway alone (its topic has no consumer), then the producer alone.
if want a; then
log "(a) gateway: closed loop, 32 connections, 100-event seed-000 batches, ${LOAD_S}s"
start_service gateway gateway_a TRIBUTARY_KAFKA__TOPICS__RAW=bench.gateway
wait_http "$GATEWAY_URL/openapi.json" 30
"$BIN/tributary-bench" load --url "$GATEWAY_URL" --concurrency 32 --batch-size 100 \
    --duration "$LOAD_S" --warmup "$WARM_S" --json "$OUT/gateway.json" &
load_pid=$!
proc_cpu a1 "(a) gateway, closed loop" "$WARM_S" $((LOAD_S - WARM_S - 1)) \
    "gateway=${PIDS[gateway_a]}" "load generator=$load_pid" "${STACK_PIDS[@]}" &
cpu_pid=$!
wait $load_pid
wait $cpu_pid
record_rss gateway gateway_a "(a) closed loop, 32 connections, 100-event batches"
log "(a) gateway with gzip bodies, ${SIDE_S}s"
bench load --url "$GATEWAY_URL" --concurrency 32 --batch-size 100 --gzip \
    --duration "$SIDE_S" --warmup 1 --quiet --json "$OUT/gateway_gzip.json"
log "(a) gateway with all four families mixed, ${SIDE_S}s"
"$BIN/tributary-bench" load --url "$GATEWAY_URL" --concurrency 32 --batch-size 100 \
    --mix mobile=60,crm=10,s2s=15,activity=15 \
    --duration "$SIDE_S" --warmup 1 --quiet --json "$OUT/mixed.json"
stop_service gateway_a
log "(a) direct rdkafka producer, same RawBatch bytes, 32 in flight, ${LOAD_S}s"
"$BIN/tributary-bench" produce --brokers "$KAFKA" --topic bench.direct --concurrency 32 --batch-size 100 \
    --duration "$LOAD_S" --warmup "$WARM_S" --json "$OUT/direct.json" &
load_pid=$!
proc_cpu a2 "(a) direct produce" "$WARM_S" $((LOAD_S - WARM_S - 1)) \
    "producer=$load_pid" "${STACK_PIDS[@]}" &
cpu_pid=$!
wait $load_pid
wait $cpu_pid
fi

# (b) The sink alone on a prepared backlog, then a plain HTTP insert (curl) of the same rows.
if want b; then
log "(b) sink: $SINK_ROWS rows on a topic first"
bench fill --brokers "$KAFKA" --topic bench.sink --rows "$SINK_ROWS" --json "$OUT/fill.json"
ch "CREATE DATABASE IF NOT EXISTS bench_sink"
start_service sink sink_b TRIBUTARY_KAFKA__TOPICS__NORMALIZED=bench.sink \
    TRIBUTARY_CLICKHOUSE__DATABASE=bench_sink TRIBUTARY_SINK__GROUP=bench-sink-b
proc_cpu b "(b) sink draining a backlog" 3 3 "sink=${PIDS[sink_b]}" "${STACK_PIDS[@]}" &
cpu_pid=$!
bench wait-rows --clickhouse-url "$CH_URL" --table bench_sink.events --rows "$SINK_ROWS" \
    --timeout 300 --json "$OUT/sink.json"
wait $cpu_pid
record_rss "sink (backlog)" sink_b "(b) draining a backlog, 100k-row inserts"
stop_service sink_b
COLUMNS_LIST=$(ch "SELECT name FROM system.columns WHERE database = 'bench_sink' AND table = 'events' AND name != 'inserted_at' ORDER BY position" | paste -sd, -)
# curl_insert DATABASE ORDER JSON: the same rows exported in ORDER and inserted with one curl
# into DATABASE (the sink's migrations applied: the same tables and materialized views), in
# Native, the format clickhouse-client sends and the sink sends.
curl_insert() {
    local db=$1 order=$2 json=$3
    ch "SELECT $COLUMNS_LIST FROM bench_sink.events ORDER BY $order FORMAT Native" >"$OUT/rows.bin"
    ch "CREATE DATABASE IF NOT EXISTS $db"
    TRIBUTARY_CLICKHOUSE__DATABASE=$db "$BIN/tributary-sink" --config "$OUT/bench.toml" migrate >/dev/null
    local t0 t1 rows
    t0=$(date +%s.%N)
    ch_insert "INSERT INTO $db.events ($COLUMNS_LIST) FORMAT Native" "$OUT/rows.bin"
    t1=$(date +%s.%N)
    rows=$(ch "SELECT count() FROM $db.events")
    printf '{"rows": %s, "seconds": %s, "bytes": %s}\n' "$rows" "$(awk "BEGIN {print $t1 - $t0}")" \
        "$(stat -c %s "$OUT/rows.bin")" >"$OUT/$json"
    rm -f "$OUT/rows.bin"
    log "(b) curl, rows by $order: $rows rows in $(awk "BEGIN {printf \"%.2f\", $t1 - $t0}") s"
    ch "DROP DATABASE $db"
}
# The baseline: the rows in the order the enricher produced them, as a client reading the
# topic would insert them. For reference, the same rows already in the table's sorting order,
# which ClickHouse inserts at about half the CPU (it skips sorting a sorted block).
log "(b) curl: INSERT ... FORMAT Native of the same rows over HTTP"
curl_insert bench_cc "received_at_ms, batch_id, event_index" clickhouse_client.json
curl_insert bench_cc_sorted "tenant, event_uid" clickhouse_client_sorted.json
# The rows of (b) go, so their background merges do not take (d)'s cores.
ch "DROP DATABASE bench_sink"
fi

# pipeline_at_20k SLUG LABEL JSON: the whole pipeline at a steady 20k events/s for FRESH_S
# seconds, freshness markers polled in ClickHouse, each process's CPU sampled; leaves the
# services running (named gateway_SLUG, enricher_SLUG, sink_SLUG) for the caller to stop.
pipeline_at_20k() {
    local slug=$1 label=$2 json=$3
    start_service gateway "gateway_$slug"
    start_service enricher "enricher_$slug"
    start_service sink "sink_$slug"
    wait_http "$GATEWAY_URL/openapi.json" 30
    wait_http "$SINK_METRICS" 30
    sleep 5 # consumer groups join
    "$BIN/tributary-bench" load --url "$GATEWAY_URL" --rate 20000 --concurrency 64 --batch-size 100 \
        --duration "$FRESH_S" --warmup 5 --markers-per-sec 5 \
        --clickhouse-url "$CH_URL" --clickhouse-database tributary \
        --sink-metrics "$SINK_METRICS" --drain-timeout 90 --json "$json" &
    local load_pid=$!
    proc_cpu "$slug" "$label" 6 $((FRESH_S - 8)) "gateway=${PIDS[gateway_$slug]}" \
        "enricher=${PIDS[enricher_$slug]}" "sink=${PIDS[sink_$slug]}" "load generator=$load_pid" \
        "${STACK_PIDS[@]}" &
    local cpu_pid=$!
    wait $load_pid
    wait $cpu_pid
}

stop_pipeline() { # stop_pipeline SLUG
    stop_service "gateway_$1"
    stop_service "enricher_$1"
    stop_service "sink_$1"
}

# (d) The whole pipeline at a steady 20k events/s.
if want d; then
log "(d) whole pipeline at 20k events/s for ${FRESH_S}s, markers polled in ClickHouse"
pipeline_at_20k d "(d) pipeline at 20k events/s" "$OUT/freshness.json"
record_rss "gateway (pipeline)" gateway_d "(d) 20k events/s open loop"
record_rss enricher enricher_d "(d) 20k events/s"
record_rss sink sink_d "(d) 20k events/s"
stop_pipeline d
fi

# (h) The same with one core kept busy by a CPU hog (a busy loop), as on a shared machine.
if want h; then
log "(h) whole pipeline at 20k events/s for ${FRESH_S}s next to a CPU hog on one core"
bash -c 'while :; do :; done' &
HOG_PID=$!
pipeline_at_20k h "(h) pipeline at 20k events/s, one core hogged" "$OUT/freshness_hog.json"
kill "$HOG_PID" 2>/dev/null || true
wait "$HOG_PID" 2>/dev/null || true
HOG_PID=
stop_pipeline h
fi

# (e) Search over 1M and 10M synthetic rows; the gateway answers it when it can.
if want e; then
log "(e) lead search at 1M and 10M rows ($SEARCH_Q searches each)"
start_service gateway gateway_e TRIBUTARY_CLICKHOUSE__DATABASE=bench_search \
    TRIBUTARY_KAFKA__TOPICS__RAW=bench.gateway
wait_http "$GATEWAY_URL/openapi.json" 30
bench search --clickhouse-url "$CH_URL" --database bench_search --rows "$SEARCH_ROWS" \
    --queries "$SEARCH_Q" --gateway-url "$GATEWAY_URL" --events-scan --json "$OUT/search.json"
stop_service gateway_e
fi

# (g) Tenant isolation: the calm tenant alone, then next to a tenant flooding in a closed loop.
if want g; then
log "(g) rate limits: calm tenant alone at $CALM_RATE events/s, ${TENANT_S}s"
start_service gateway gateway_g TRIBUTARY_KAFKA__TOPICS__RAW=bench.gateway
wait_http "$GATEWAY_URL/openapi.json" 30
calm() { # calm JSON: the calm tenant's steady activity uploads, 10 events a request
    bench load --url "$GATEWAY_URL" --mix activity=1 --activity-key bench-calm-key \
        --rate "$CALM_RATE" --batch-size 10 --concurrency 16 --duration "$TENANT_S" \
        --warmup "$WARM_S" --quiet --json "$1"
}
calm "$OUT/tenants_solo.json"
log "(g) calm tenant next to a flooding tenant (closed loop, 32 connections, limit $FLOOD_LIMIT events/s)"
bench load --url "$GATEWAY_URL" --mix activity=1 --activity-key bench-flood-key \
    --concurrency 32 --batch-size 100 --duration "$TENANT_S" --warmup "$WARM_S" --quiet \
    --json "$OUT/tenants_flood.json" &
load_pid=$!
calm "$OUT/tenants_shared.json"
wait $load_pid
stop_service gateway_g
printf '{"events_per_s": %s}\n' "$FLOOD_LIMIT" >"$OUT/tenants_limit.json"
fi

# (f) and the report.
(IFS=,; printf '{%s}\n' "${RSS_ENTRIES[*]:-}") >"$OUT/rss.json"
printf '{%s}\n' "$(cat "$OUT"/cpu.a1 "$OUT"/cpu.a2 "$OUT"/cpu.b "$OUT"/cpu.d "$OUT"/cpu.h 2>/dev/null | paste -sd, -)" \
    >"$OUT/proc_cpu.json"
# TRIBUTARY_BENCH_COMMIT names the commit when the bench runs on an exported tree.
commit="${TRIBUTARY_BENCH_COMMIT:-}"
if [ -z "$commit" ]; then
    commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit + uncommitted changes"; fi
fi
json_text() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
cat >"$OUT/meta.json" <<EOF
{
  "date": $(json_text "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),
  "commit": $(json_text "$commit"),
  "command": $(json_text "scripts/bench.sh$([ "$QUICK" = 1 ] && echo ' --quick')$([ "$ONLY" != c,a,b,d,h,e,g ] && echo " --only $ONLY")${TRIBUTARY_BENCH_SERVICE_ENV:+ (services with $TRIBUTARY_BENCH_SERVICE_ENV)}"),
  "nproc": $(json_text "$(nproc)"),
  "memory": $(json_text "$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"),
  "cpu": $(json_text "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"),
  "kernel": $(json_text "Linux $(uname -r)"),
  "clickhouse": $(json_text "ClickHouse $(ch 'SELECT version()')"),
  "tansu": $(json_text "$("$TANSU" --version 2>/dev/null | head -1 || echo tansu)"),
  "quick": $([ "$QUICK" = 1 ] && echo true || echo false),
  "loadavg_before": $(json_text "$LOADAVG"),
  "seconds": $((SECONDS - build_done))
}
EOF
bench report --dir "$OUT" --out "$REPO/bench/RESULTS.md"
# The verdicts, where the reader of this output looks first.
sed -n '/^## Against the targets/,/^## /p' "$REPO/bench/RESULTS.md" | sed '$d' >&2
log "done in $((SECONDS - started)) s: bench/RESULTS.md (raw figures in $OUT)"
