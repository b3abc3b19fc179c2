#!/usr/bin/env bash
# ferrite on aarch64, from an x86 host: cross-build, then run under qemu on two CPUs, a Pi 5
# core (cortex-a76: NEON with the dot-product extension) and a Pi 4 core (cortex-a72: NEON
# without it), so both NEON kernel tables run on the architecture they are written for.
# One binary serves both: the kernels are chosen at run time (no RUSTFLAGS).
#
# Usage:
#   tools/cross-aarch64.sh                      everything below (what CI runs)
#   tools/cross-aarch64.sh -- CARGO_TEST_ARGS   only `cargo test --release` with these arguments
#                                               under both CPUs, e.g. -- --test quant_dot
#
# What it checks, on each CPU (the two CPUs run side by side, one per host core):
#   1. The test suite that runs without the x86 CLI and in reasonable time under emulation:
#      the kernels against the scalar reference (tests/kernels.rs), the block formats
#      (quant_dot, quant_dequant), tokenizers, sampler, malformed files, cache rewind and shift,
#      the f32 vector ops, and the
#      decoder goldens of all synthetic models (decoder_golden synthetic_models, 1 and 3
#      threads).
#   2. The aarch64 `ferrite run --temp 0` on Gemma 3 270M: for each golden prompt, the 32
#      greedy ids equal those of the x86_64 build (and llama.cpp's golden is reported).
# Then, once:
#   3. The C examples (examples/c/{errors,generate}.c) built with aarch64-linux-gnu-gcc
#      -std=c11 -Wall -Wextra -Werror against the aarch64 lean libferrite.a; `errors` passes
#      and `generate` gives the same ids as the x86_64 `ferrite run`, under qemu.
#   4. The sizes of the aarch64 `ferrite` and `libferrite.a`, as built and stripped.
#
# Installs what is missing, idempotently (quiet when everything is there):
#   rustup target aarch64-unknown-linux-gnu, and the Debian packages gcc-aarch64-linux-gnu
#   (the linker), libc6-dev-arm64-cross and qemu-user (needs root or sudo for apt-get).
# Environment: FERRITE_MODEL as for the CLI (default: the model tools/fetch-model.sh installs).
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lib.sh
. "$repo/tools/lib.sh"
cd "$repo"

target=aarch64-unknown-linux-gnu
cpus=(cortex-a76 cortex-a72)
only_test_args=()
if [[ $# -gt 0 ]]; then
    [[ $1 == -- ]] || { echo "error: cross-aarch64: unknown argument '$1' (see the header)" >&2; exit 2; }
    shift
    only_test_args=("$@")
    [[ ${#only_test_args[@]} -gt 0 ]] || { echo "error: cross-aarch64: nothing after --" >&2; exit 2; }
fi

die() {
    echo "error: cross-aarch64: $*" >&2
    exit 1
}
step() { echo; echo "== cross-aarch64: $*"; }

# --- prerequisites ----------------------------------------------------------------------------
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "installing rustup target $target"
    rustup target add "$target" >/dev/null || die "rustup target add $target failed"
fi

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
[[ -d /usr/aarch64-linux-gnu/lib ]] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
if [[ ${#missing[@]} -gt 0 ]]; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    echo "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
qemu() { # qemu CPU PROGRAM ARGS...
    local cpu=$1
    shift
    qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "$cpu" "$@"
}

# --- developer mode: cargo test with the given arguments ---------------------------------------
if [[ ${#only_test_args[@]} -gt 0 ]]; then
    cargo test --release --target "$target" "${only_test_args[@]}" --no-run
    status=0
    for cpu in "${cpus[@]}"; do
        step "qemu-aarch64 -cpu $cpu: cargo test ${only_test_args[*]}"
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu $cpu" \
            cargo test --release --target "$target" "${only_test_args[@]}" 2>&1 |
            grep -v '^\s*\(Compiling\|Finished\|Running\)' || status=1
    done
    exit $status
fi

# --- build ------------------------------------------------------------------------------------
model=$(default_model)
[[ -f "$model" ]] || die "model $model not found: run tools/fetch-model.sh"
shared=$(shared_dir "$repo")
golden=$shared/golden/gemma3-270m-q4_k_m.json
[[ -f "$golden" ]] || die "golden file $golden not found"

# Test binary -> name filter ("" = all tests of the binary).
suite=(kernels quant_dot quant_dequant tokenizer_vocab tokenizer_edge tokenizer_special
    tokenizer_pretokenize sampler gguf_malformed rewind context_shift vec_ops decoder_golden)
declare -A filter=([decoder_golden]=synthetic_models)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "build: test binaries, ferrite and the lean libferrite.a for $target; ferrite for the host"
test_flags=()
for t in "${suite[@]}"; do test_flags+=(--test "$t"); done
cargo test --release --target "$target" "${test_flags[@]}" --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])
' >"$work/tests.txt"
[[ $(wc -l <"$work/tests.txt") -eq ${#suite[@]} ]] ||
    die "expected ${#suite[@]} test binaries, got: $(cat "$work/tests.txt")"
cargo build --release --quiet --target "$target" --bin ferrite
cp "target/$target/release/ferrite" "$work/ferrite-aarch64"
cargo build --release --quiet --target "$target" --lib --no-default-features
cp "target/$target/release/libferrite.a" "$work/libferrite-aarch64.a"
cargo build --release --quiet --bin ferrite
host_ferrite=$repo/target/release/ferrite

# The golden prompts, one file each (exact bytes: a prompt may end in a newline), and the
# x86_64 reference ids for them.
n_prompts=$(python3 -c '
import json, sys
gen = json.load(open(sys.argv[1]))["generate"]
for i, g in enumerate(gen):
    open(f"{sys.argv[2]}/prompt-{i}.txt", "w", encoding="utf-8").write(g["prompt"])
print(len(gen))
' "$golden" "$work")
for ((i = 0; i < n_prompts; i++)); do
    "$host_ferrite" run -m "$model" -f "$work/prompt-$i.txt" -n 32 --temp 0 --json -t 1 \
        >"$work/x86-$i.json" 2>/dev/null || die "x86_64 ferrite run failed on prompt $i"
done

# --- per CPU: the test suite and the Gemma golden prompts ---------------------------------------
on_cpu() { # on_cpu CPU: everything for one CPU, output to $work/CPU.log, status in $work/CPU.rc
    local cpu=$1 name exe rc=0 i
    {
        while read -r name exe; do
            echo "-- $name ${filter[$name]:-}"
            # shellcheck disable=SC2086
            if qemu "$cpu" "$exe" ${filter[$name]:-} >"$work/$cpu-$name.out" 2>&1; then
                grep -E '^test result' "$work/$cpu-$name.out" || true
            else
                cat "$work/$cpu-$name.out"
                echo "FAILED: $name on $cpu"
                rc=1
            fi
        done <"$work/tests.txt"
        echo "-- Gemma 3 270M golden prompts: aarch64 ferrite run vs the x86_64 build"
        for ((i = 0; i < n_prompts; i++)); do
            if ! qemu "$cpu" "$work/ferrite-aarch64" run -m "$model" -f "$work/prompt-$i.txt" -n 32 \
                --temp 0 --json -t 1 >"$work/$cpu-$i.json" 2>"$work/$cpu-$i.err"; then
                echo "FAILED: ferrite run on prompt $i: $(cat "$work/$cpu-$i.err")"
                rc=1
            fi
        done
        python3 - "$work" "$cpu" "$n_prompts" "$golden" <<'PY' || rc=1
import json, sys
work, cpu, n, golden = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
gold = json.load(open(golden))["generate"]
bad = 0
for i in range(n):
    try:
        a = [t["id"] for t in json.load(open(f"{work}/{cpu}-{i}.json"))["tokens"]]
    except (OSError, ValueError, KeyError) as e:
        print(f"  prompt {i}: no output ({e})")
        bad += 1
        continue
    xj = json.load(open(f"{work}/x86-{i}.json"))
    x = [t["id"] for t in xj["tokens"]]
    g = [s["id"] for s in gold[i]["steps"]]
    if xj["prompt_tokens"] != gold[i]["prompt_ids"]:
        print(f"  prompt {i}: the prompt tokenized differently from the golden's prompt_ids")
        bad += 1
    agree = next((k for k, (u, v) in enumerate(zip(a, g)) if u != v), min(len(a), len(g)))
    same = "==" if a == x else "!="
    print(f"  prompt {i}: {len(a)} ids, aarch64 {same} x86_64; first {agree} of {len(g)} equal llama.cpp's golden")
    bad += a != x
sys.exit(1 if bad else 0)
PY
        echo "$rc" >"$work/$cpu.rc"
    } >"$work/$cpu.log" 2>&1
}

step "run on ${cpus[*]} side by side (test suite + golden prompts; a few minutes)"
for cpu in "${cpus[@]}"; do on_cpu "$cpu" & done
wait
status=0
for cpu in "${cpus[@]}"; do
    step "qemu-aarch64 -cpu $cpu"
    cat "$work/$cpu.log"
    [[ $(cat "$work/$cpu.rc" 2>/dev/null) == 0 ]] || { echo "FAILED on $cpu"; status=1; }
done

# --- the C examples, cross-compiled ----------------------------------------------------------
step "C examples: aarch64-linux-gnu-gcc -std=c11 -Wall -Wextra -Werror, run under qemu"
for ex in generate errors; do
    aarch64-linux-gnu-gcc -std=c11 -Wall -Wextra -Werror -Iinclude "examples/c/$ex.c" \
        "$work/libferrite-aarch64.a" -lpthread -ldl -lm -o "$work/$ex-aarch64" ||
        die "cross-compiling examples/c/$ex.c failed"
done
qemu cortex-a72 "$work/errors-aarch64" "$model" >"$work/errors.out" 2>&1 ||
    { cat "$work/errors.out"; die "examples/c/errors.c failed under qemu"; }
tail -n 1 "$work/errors.out"
qemu cortex-a76 "$work/generate-aarch64" "$model" "The capital of France is" 8 >"$work/gen.out" 2>&1 ||
    { cat "$work/gen.out"; die "examples/c/generate.c failed under qemu"; }
"$host_ferrite" run -m "$model" -p "The capital of France is" -n 8 --temp 0 --json >"$work/gen-x86.json" 2>/dev/null
python3 - "$work/gen.out" "$work/gen-x86.json" <<'PY' || status=1
import json, sys
ids = [l for l in open(sys.argv[1], encoding="utf-8", errors="replace") if l.startswith("ids:")]
c = [int(x) for x in ids[0].split()[1:]] if len(ids) == 1 else None
x = [t["id"] for t in json.load(open(sys.argv[2]))["tokens"]]
if c != x:
    sys.exit(f"  C example on aarch64: {c} != x86_64 ferrite run {x}")
print(f"  C example on aarch64 (cortex-a76): {len(c)} ids == x86_64 ferrite run")
PY

# --- sizes ------------------------------------------------------------------------------------
step "sizes (aarch64)"
for f in ferrite-aarch64 libferrite-aarch64.a; do
    cp "$work/$f" "$work/$f.stripped"
    aarch64-linux-gnu-strip --strip-debug "$work/$f.stripped"
    awk -v f="$f" -v a="$(stat -c %s "$work/$f")" -v b="$(stat -c %s "$work/$f.stripped")" \
        'BEGIN { printf "  %-22s %6.1f MB as built (with debug info), %6.1f MB stripped\n", f, a / 1e6, b / 1e6 }'
done
exit $status
