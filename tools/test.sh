#!/usr/bin/env bash
# ferrite's one test command, for developers and CI alike (.ci/run calls it).
#
# Usage: tools/test.sh [-- CARGO_TEST_ARGS...]
#   e.g. tools/test.sh -- --test goldens     (extra arguments go to `cargo test --release`)
#
# Works from a fresh clone on a Debian machine with a rustup toolchain and python3 + pip:
# it installs what the tests need (idempotently, quietly when already there), then runs
#   1. tools/fetch-model.sh            the real model for the goldens (~250 MB, once)
#   2. cargo fmt --check
#   3. cargo clippy --all-targets -- -D warnings
#   4. cargo test --release            release: the model goldens run the real model
#                                      (--no-fail-fast: every test binary runs and reports)
#      (with AVX-VNNI or AVX512-VNNI: the decoder goldens again with FERRITE_KERNELS=avx2,
#      and with avxvnni on a CPU with both)
#   5. tools/cross-aarch64.sh          aarch64 build; tests, Gemma goldens and the C examples
#                                      under qemu (cortex-a76 and cortex-a72); binary sizes
#   6. tools/fuzz.sh 20                every fuzz target for 20 s (nightly + cargo-fuzz,
#                                      installed when missing); long runs are local
# and prints a short summary. Any failure stops the run with a non-zero exit status.
#
# The test data in ../shared (goldens, synthetic models, vocab files) sits beside the clone.
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

cargo_test_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --)
        shift
        cargo_test_args=("$@")
        break
        ;;
    -h | --help)
        sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
        exit 0
        ;;
    *)
        echo "error: test.sh: unknown argument '$1' (try --help)" >&2
        exit 2
        ;;
    esac
done

# --- bookkeeping for the summary -----------------------------------------------------------
summary=()
current=""
current_start=0
test_log=""
t_start=$SECONDS

print_summary() {
    local status=$?
    if [[ -n "$current" ]]; then
        summary+=("$(printf '  %-7s %-45s %5ss' FAILED "$current" $((SECONDS - current_start)))")
    fi
    echo
    echo "== ferrite tools/test.sh summary =="
    local line
    for line in "${summary[@]}"; do echo "$line"; done
    if [[ $status == 0 ]]; then
        echo "all steps passed in $((SECONDS - t_start))s"
    else
        echo "FAILED (exit status $status) after $((SECONDS - t_start))s${current:+, in: $current}"
    fi
    if [[ -n "$test_log" ]]; then
        # Totals over every test binary (unit, integration, doc tests).
        awk '/^test result:/ {
                for (i = 2; i <= NF; i++) {
                    if ($i ~ /^passed;?$/) p += $(i - 1)
                    if ($i ~ /^failed;?$/) f += $(i - 1)
                    if ($i ~ /^ignored;?$/) s += $(i - 1)
                }
                n++
            } END { if (n) printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$test_log"
        rm -f -- "$test_log"
    fi
}
trap print_summary EXIT

# step NAME: marks the start of a step; ok marks its end. A failing command in between
# leaves `current` set, so the summary names the step that failed.
step() {
    current="$1"
    current_start=$SECONDS
    echo
    echo "== $current"
}
ok() {
    summary+=("$(printf '  %-7s %-45s %5ss' ok "$current" $((SECONDS - current_start)))")
    current=""
}

die() {
    echo "error: test.sh: $*" >&2
    exit 1
}

# --- prerequisites -------------------------------------------------------------------------
step "prerequisites (rustfmt, clippy, ../shared)"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
for comp in rustfmt clippy; do
    sub=${comp/rustfmt/fmt}
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "cargo $sub is missing and rustup is not available to add component $comp"
        echo "installing rustup component $comp"
        rustup component add "$comp" >/dev/null || die "rustup component add $comp failed"
    fi
done
if [[ ! -d ../shared/golden ]]; then
    echo "warning: ../shared/golden not found beside the repository; tests that need the shared goldens will fail" >&2
fi
# Hook (later): Python oracles. If a test ever needs the `gguf` Python package at run time,
# create a venv under target/ (not the system Python) from a checked-in requirements file,
# keyed on the file's hash so it is built once.
ok

step "tools/fetch-model.sh"
tools/fetch-model.sh
ok

step "cargo fmt --check"
cargo fmt --all --check
(cd fuzz && cargo fmt --check) # its own workspace (tools/fuzz.sh)
ok

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
ok

# The lean library build (`cargo build --release --lib --no-default-features`) is part of
# tools/c-example.sh, which cargo test runs (tests/c_api.rs).

step "cargo test --release"
test_log=$(mktemp "${TMPDIR:-/tmp}/ferrite-test.XXXXXX")
cargo test --release --no-fail-fast "${cargo_test_args[@]}" 2>&1 | tee "$test_log"
ok

# On a CPU with AVX-VNNI or AVX512-VNNI the table the tests above ran with is a VNNI one; the
# decoder goldens once more with the AVX2 table, the one an AVX2-only machine selects, and, on
# a CPU with both encodings (where the EVEX one is chosen), with the VEX one (Intel Alder
# Lake's). (Every kernel of every table is also compared with the scalar reference above.)
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has_flag() { [[ " $cpu_flags " == *" $1 "* ]]; }
if has_flag avx_vnni || has_flag avx512_vnni; then
    step "decoder goldens with the AVX2 table (FERRITE_KERNELS=avx2)"
    FERRITE_KERNELS=avx2 cargo test --release --test decoder_golden 2>&1 | tail -n 4
    ok
fi
if has_flag avx_vnni && has_flag avx512_vnni && has_flag avx512vl && has_flag gfni; then
    step "decoder goldens with the VEX VNNI table (FERRITE_KERNELS=avxvnni)"
    FERRITE_KERNELS=avxvnni cargo test --release --test decoder_golden 2>&1 | tail -n 4
    ok
fi

step "aarch64 under qemu (tools/cross-aarch64.sh: cortex-a76 with dotprod, cortex-a72 without)"
tools/cross-aarch64.sh
ok

# A short fuzzing run: a smoke test that the targets build and that the seeds and the first
# mutations find nothing (about 1 min to build, 20 s per target). Long runs: tools/fuzz.sh 600.
step "fuzzing (tools/fuzz.sh 20: 20 s per target)"
tools/fuzz.sh 20
ok

# The C example (built against the lean libferrite.a with -Werror, compared with `ferrite run`,
# run under valgrind) and the header check (cbindgen) run inside `cargo test` through
# tests/c_api.rs -> tools/c-example.sh.
