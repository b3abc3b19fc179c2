#!/usr/bin/env bash
# Builds the lean static library, compiles the C examples against it and checks them:
#
#   1. tools/check-header.sh: include/ferrite.h is what src/ffi.rs generates.
#   2. The `ferrite` CLI (release), the reference for the greedy ids.
#   3. The lean static library: cargo build --release --lib --no-default-features, checked to
#      contain none of the CLI's crates (clap, serde_json, indicatif).
#   4. include/ferrite.h alone as C99 and C++11 (-Wpedantic); then examples/c/errors.c and
#      examples/c/generate.c, compiled with
#        cc -std=c11 -Wall -Wextra -Werror -Iinclude X.c libferrite.a -lpthread -ldl -lm
#   5. errors: every error path gives its status and message.
#   6. generate: the greedy ids of 32 tokens after "The capital of France is" must equal those of
#        ferrite run -p "The capital of France is" -n 32 --temp 0 --json
#      and how far they agree with llama.cpp's (../shared/golden/gemma3-270m-q4_k_m.json) is
#      reported.
#   7. generate (4 tokens) and errors under valgrind --leak-check=full --error-exitcode=1:
#      no leak, no invalid access.
#
# Usage: tools/c-example.sh [MODEL.gguf]     (default: the model tools/fetch-model.sh installs)
# Environment: FERRITE_BIN=path/to/ferrite   use this CLI instead of building it (cargo test);
#              FERRITE_GOLDEN=path.json      the llama.cpp golden file.
#
# Requires cc, c++ (the header is also checked as C++), valgrind and python3; a missing one is
# an error, not a skip. The libraries to link come from
#   cargo rustc --release --lib --no-default-features -- --print native-static-libs
# which lists -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc: on glibc >= 2.34 -lrt and -lutil are
# part of libc, and cc links libgcc_s and libc by itself, so -lpthread -ldl -lm suffice.
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lib.sh
. "$repo/tools/lib.sh"
cd "$repo"
cargo=${CARGO:-cargo}

die() {
    echo "error: c-example.sh: $*" >&2
    exit 1
}
step() { echo "== c-example.sh: $*" >&2; }

case "${1:-}" in
-h | --help)
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
    exit 0
    ;;
esac

model=${1:-$(default_model)}
shared=$(shared_dir "$repo")
golden=${FERRITE_GOLDEN:-$shared/golden/gemma3-270m-q4_k_m.json}

for tool in cc c++ valgrind python3; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (needed to build and check the C examples; on Debian: apt-get install build-essential valgrind python3)"
done
[[ -f "$model" ]] || die "model $model not found: run tools/fetch-model.sh or pass MODEL.gguf"
[[ -f "$golden" ]] || die "golden file $golden not found"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "header"
tools/check-header.sh >&2

# The CLI first: its build (default features) also writes target/release/libferrite.a, which
# the lean build below then replaces.
if [[ -n "${FERRITE_BIN:-}" ]]; then
    ferrite=$FERRITE_BIN
    [[ -x "$ferrite" ]] || die "FERRITE_BIN=$ferrite is not an executable"
else
    step "ferrite CLI (release)"
    "$cargo" build --release --quiet --bin ferrite
    ferrite=$repo/target/release/ferrite
fi

step "lean static library"
"$cargo" build --release --quiet --lib --no-default-features
# Copied at once, so a concurrent default-features build cannot swap it under the linker.
cp target/release/libferrite.a "$work/libferrite.a"
cli_crates=$("$cargo" tree --quiet --no-default-features -e normal --prefix none |
    awk '{print $1}' | grep -xE 'clap|clap_builder|serde_json|indicatif' | sort -u || true)
[[ -z "$cli_crates" ]] || die "the lean library depends on CLI crates: $cli_crates"
echo "libferrite.a (lean): $(stat -c %s "$work/libferrite.a") bytes" >&2

step "header alone: C99 and C++11, pedantic"
cc -std=c99 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c include/ferrite.h
c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c++ include/ferrite.h

step "compile the examples"
cflags=(-std=c11 -Wall -Wextra -Werror -Iinclude)
libs=(-lpthread -ldl -lm)
for ex in generate errors; do
    cc "${cflags[@]}" "examples/c/$ex.c" "$work/libferrite.a" "${libs[@]}" -o "$work/$ex"
done

step "errors"
"$work/errors" "$model" || die "examples/c/errors.c failed"

prompt="The capital of France is"
step "generate: greedy ids vs ferrite run"
"$work/generate" "$model" "$prompt" 32 >"$work/gen.out" || die "generate failed"
cat "$work/gen.out" >&2
"$ferrite" run -m "$model" -p "$prompt" -n 32 --temp 0 --json >"$work/cli.json" 2>"$work/cli.err" ||
    die "ferrite run failed: $(cat "$work/cli.err")"

python3 - "$work/gen.out" "$work/cli.json" "$golden" "$prompt" <<'PY'
import json, sys

gen_out, cli_json, golden_path, prompt = sys.argv[1:]
lines = [l for l in open(gen_out, encoding="utf-8") if l.startswith("ids:")]
if len(lines) != 1:
    sys.exit(f"error: generate printed {len(lines)} 'ids:' lines, expected 1")
c_ids = [int(x) for x in lines[0].split()[1:]]
cli_ids = [t["id"] for t in json.load(open(cli_json))["tokens"]]
if c_ids != cli_ids:
    sys.exit(f"error: C API ids differ from ferrite run's\n  C:   {c_ids}\n  CLI: {cli_ids}")
print(f"C API ids == ferrite run ids ({len(c_ids)} tokens)", file=sys.stderr)

gen = next(g for g in json.load(open(golden_path))["generate"] if g["prompt"] == prompt)
gold = [s["id"] for s in gen["steps"]]
agree = next((i for i, (a, b) in enumerate(zip(c_ids, gold)) if a != b), min(len(c_ids), len(gold)))
msg = f"agreement with llama.cpp's golden: first {agree} of {len(gold)} tokens"
if agree < min(len(c_ids), len(gold)):
    top = gen["steps"][agree]["top"]
    gap = top[0][1] - top[1][1]
    msg += (f" (step {agree}: golden {gold[agree]}, ferrite {c_ids[agree]};"
            f" golden top-2 logit gap there {gap:.3f})")
print(msg, file=sys.stderr)
PY

step "valgrind: generate (4 tokens) and errors"
vg=(valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect,possible
    --error-exitcode=1)
"${vg[@]}" "$work/generate" "$model" "$prompt" 4 >"$work/vg-gen.out" ||
    die "valgrind found errors in generate (see above)"
"${vg[@]}" "$work/errors" "$model" >"$work/vg-err.out" ||
    die "valgrind found errors in errors (see above)"
step "all good"
