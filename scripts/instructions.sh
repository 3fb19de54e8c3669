#!/usr/bin/env bash
# Instructions per event of the hot stages (gateway.accept, enricher.process, sink.decode for
# each family), counted by callgrind and held to bench/instructions.json: fails when a stage
# rose more than 10% (issue 17). Deterministic for a given binary and inputs, unlike wall time.
#
#   scripts/instructions.sh            check against the baseline (what .ci/run does)
#   scripts/instructions.sh --update   write the baseline after a deliberate change
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"

if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind >/dev/null; }
    else sudo apt-get install -y -q valgrind >/dev/null; fi
fi
cargo build --release --locked -q -p tributary-bench
"$CARGO_TARGET_DIR/release/tributary-bench" instructions "$@"
