#!/usr/bin/env bash
# The whole test suite: starts its own broker and ClickHouse (on ports apart from the dev
# stack, fresh data), runs every test of the workspace against them, and stops them.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"

export TRIBUTARY_DATA_DIR="${TRIBUTARY_TEST_DATA_DIR:-$REPO/.data/test-stack}"
export TRIBUTARY_KAFKA_PORT="${TRIBUTARY_TEST_KAFKA_PORT:-19092}"
export TRIBUTARY_CLICKHOUSE_HTTP_PORT="${TRIBUTARY_TEST_CLICKHOUSE_HTTP_PORT:-18123}"
export TRIBUTARY_CLICKHOUSE_TCP_PORT="${TRIBUTARY_TEST_CLICKHOUSE_TCP_PORT:-19000}"

deploy/local/stack down >/dev/null 2>&1 || true
rm -rf "$TRIBUTARY_DATA_DIR"
trap 'deploy/local/stack down' EXIT
deploy/local/stack up

export TRIBUTARY_TEST_KAFKA="127.0.0.1:$TRIBUTARY_KAFKA_PORT"
export TRIBUTARY_TEST_CLICKHOUSE_URL="http://127.0.0.1:$TRIBUTARY_CLICKHOUSE_HTTP_PORT"
export TRIBUTARY_TEST_CLICKHOUSE_TCP_PORT="$TRIBUTARY_CLICKHOUSE_TCP_PORT"

# The ClickHouse model (migrations, search SQL, views) and the BI clients (clickhouse-connect,
# clickhouse-driver) against the stack's ClickHouse.
VENV="${TRIBUTARY_VENV:-$HOME/.cache/tributary/venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
"$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/python

# The events debugger page's browser test (tests/tests/debugger_page.rs) drives Debian's
# Chromium with playwright-core from npm: install what is missing (once; npm keeps its cache).
if [ ! -x "${TRIBUTARY_CHROMIUM:-/usr/bin/chromium}" ]; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium >/dev/null; }
    else sudo apt-get install -y -q chromium >/dev/null; fi
fi
if [ ! -d tests/browser/node_modules/playwright-core ] ||
    [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

# TLS towards Kafka and ClickHouse (tests/tests/secure_transport.rs) goes through Debian's
# stunnel4 in front of a Tansu broker of the test's own (the stack's Tansu binary).
if [ ! -x "${TRIBUTARY_STUNNEL:-/usr/bin/stunnel4}" ]; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q stunnel4 >/dev/null || { apt-get update -q && apt-get install -y -q stunnel4 >/dev/null; }
    else sudo apt-get install -y -q stunnel4 >/dev/null; fi
fi
export TRIBUTARY_TANSU="${TRIBUTARY_TANSU:-${TRIBUTARY_TOOLS_DIR:-$HOME/.cache/tributary/tools}/bin/tansu}"

# The OpenAPI document against a real gateway on this stack (schemathesis, bounded).
scripts/api-conformance.sh

cargo test --workspace --all-targets "$@"
