#!/usr/bin/env bash
# Fuzzes ferrite with cargo-fuzz (libFuzzer + AddressSanitizer, nightly toolchain).
#
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  how long to run each target (default 30); targets run one after another
#   TARGET   fuzz/fuzz_targets/TARGET.rs (default: every file there)
#   e.g. tools/fuzz.sh 600 gguf         (a long local run of the GGUF loader)
#
# Installs what it needs when missing (the nightly toolchain through rustup, cargo-fuzz with
# `cargo install`), regenerates the seed corpora and dictionaries from the test data
# (tools/fuzz_seeds.py: ../shared/synth, ../shared/vocab), builds every target, then runs each
# for SECONDS. Inputs the fuzzer finds interesting accumulate in fuzz/corpus/TARGET (not
# committed); a crash, timeout (10 s per input) or out-of-memory (2 GB) stops that target, leaves
# the input in fuzz/artifacts/TARGET/ and makes the script exit 1 after the other targets ran.
# Each target's log is fuzz/logs/TARGET.log; the summary gives the executions per target.
#
# FUZZ_ARGS adds libFuzzer flags, e.g. FUZZ_ARGS=-max_len=16384 for long inputs.
#
# A finding becomes a regression test in the ordinary suite once fixed (a malformed file beside
# the cases of tests/gguf_malformed.rs, a text beside tests/tokenizer_edge.rs, ...).
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lib.sh
. "$repo/tools/lib.sh"
cd "$repo"

secs=30
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    secs=$1
    shift
elif [[ $# -gt 0 && ($1 == -h || $1 == --help) ]]; then
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
    exit 0
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for f in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi
for t in "${targets[@]}"; do
    [[ -f fuzz/fuzz_targets/$t.rs ]] || {
        echo "error: fuzz.sh: no target '$t' (fuzz/fuzz_targets/$t.rs)" >&2
        exit 2
    }
done

# --- prerequisites (idempotent) ------------------------------------------------------------
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain (rustup)"
    rustup toolchain install nightly --profile minimal >/dev/null
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (cargo install --locked cargo-fuzz)"
    cargo install --locked --quiet cargo-fuzz
fi

shared=$(shared_dir "$repo")
[[ -d $shared/vocab && -d $shared/synth ]] || {
    echo "error: fuzz.sh: test data not found at $shared (set FERRITE_SHARED)" >&2
    exit 1
}
export FERRITE_SHARED=$shared
model=$(default_model)

python3 tools/fuzz_seeds.py "$shared" fuzz "$model"
(cd fuzz && cargo +nightly fuzz build)

mkdir -p fuzz/logs
failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    # shellcheck disable=SC2206 # FUZZ_ARGS is a list of libFuzzer flags, split on spaces
    args+=(${FUZZ_ARGS:-})
    [[ -f fuzz/dicts/$t.dict ]] && args+=(-dict="dicts/$t.dict")
    echo
    echo "== fuzzing $t for ${secs}s (log: fuzz/logs/$t.log)"
    status=0
    (cd fuzz && cargo +nightly fuzz run "$t" "corpus/$t" -- "${args[@]}") >"fuzz/logs/$t.log" 2>&1 ||
        status=$?
    execs=$(awk '/stat::number_of_executed_units/ {n = $2} END {print n + 0}' "fuzz/logs/$t.log")
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    if [[ $status == 0 ]]; then
        summary+=("$(printf '  %-7s %-16s %12s executions, corpus %s' ok "$t" "$execs" "$corpus")")
    else
        failed+=("$t")
        summary+=("$(printf '  %-7s %-16s %12s executions (status %s)' FAILED "$t" "$execs" "$status")")
        grep -E "^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)" \
            "fuzz/logs/$t.log" | head -20 >&2 || true
        grep -A3 "panicked at" "fuzz/logs/$t.log" | head -8 >&2 || true
    fi
done

echo
echo "== ferrite tools/fuzz.sh summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "findings in: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/logs/)" >&2
    exit 1
fi
