#!/usr/bin/env bash
# Fuzz every parser and normalizer that reads client or broker bytes (fuzz/fuzz_targets/),
# each for a bounded time, and fail on any crash. Crashes are kept in
# fuzz/artifacts/<target>/; turn each into a regression test in the owning module.
#
#   scripts/fuzz.sh                    every target, FUZZ_SECONDS each (default 20)
#   scripts/fuzz.sh s2s_parse crm_parse   only these
#   FUZZ_SECONDS=300 scripts/fuzz.sh avro_envelopes
#
# The corpus grows in ~/.cache/tributary/fuzz-corpus (TRIBUTARY_FUZZ_CORPUS); fuzz/seeds/ holds
# the documents' samples and every crash input found so far, so a fixed bug stays fixed.
#
# Installs cargo-fuzz once into ~/.cache/tributary/tools. This machine has only a stable
# toolchain: RUSTC_BOOTSTRAP=1 lets it take the flags cargo-fuzz passes. Targets build
# without a sanitizer (safe Rust; panics, overflow checks and debug assertions are what
# catch bugs here) into a target directory of their own, so the sanitizer-coverage flags
# never invalidate the workspace's shared build cache.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${TRIBUTARY_TOOLS_DIR:-$HOME/.cache/tributary/tools}"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
export CARGO_TARGET_DIR="${TRIBUTARY_FUZZ_TARGET_DIR:-$HOME/.cache/tributary/fuzz-target}"
# What the fuzzer learned, kept between runs outside the repository.
CORPUS="${TRIBUTARY_FUZZ_CORPUS:-$HOME/.cache/tributary/fuzz-corpus}"
export RUSTC_BOOTSTRAP=1
export PATH="$TOOLS/bin:$PATH"

log() { printf '[fuzz] %s\n' "$*" >&2; }

if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz (once; cached in $TOOLS)"
    cargo install cargo-fuzz --locked --root "$TOOLS" >&2
fi

cd "$REPO/fuzz"
mapfile -t ALL < <(cargo fuzz list)
TARGETS=("${@:-${ALL[@]}}")
log "building the targets"
cargo fuzz build --sanitizer none --release --debug-assertions >&2

failed=()
for target in "${TARGETS[@]}"; do
    mkdir -p "$CORPUS/$target" "artifacts/$target"
    seeds=("$CORPUS/$target")
    if [ -d "seeds/$target" ]; then seeds+=("seeds/$target"); fi
    log "$target: ${SECONDS_EACH}s"
    if cargo fuzz run --sanitizer none --release --debug-assertions "$target" "${seeds[@]}" -- \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"artifacts/$target/last-run.log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "artifacts/$target/last-run.log" | grep -o '[0-9]*$' || true)
        log "$target: ok (${runs:-?} runs)"
    else
        failed+=("$target")
        log "$target: CRASH; input and log in fuzz/artifacts/$target/"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "artifacts/$target/last-run.log" | head -5 >&2 || true
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    log "crashed: ${failed[*]}"
    exit 1
fi
log "no crashes in ${#TARGETS[@]} targets (${SECONDS_EACH}s each)"
