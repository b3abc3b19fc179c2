#!/usr/bin/env bash
# Instructions a NEON kernel table executes for one prefill weight tile, counted under qemu
# (where NEON code runs but cannot be timed): examples/tile_count.rs built for aarch64 runs
# the tile R1 and R2 times under qemu with an instruction-counting plugin
# (tools/aarch64-count.sh); the difference of the two counts divided by R2 - R1 is one call,
# with loading and setup cancelled out. Deterministic: the same binary gives the same count.
#
# A count is a proxy for speed, not a timing: it says how much work a kernel asks of the
# core, not how well a given core overlaps it (see README, "Raspberry Pi").
#
# Usage: tools/neon-count.sh TABLE FORMAT ORDER ROWS COLS TOKENS
#   e.g. tools/neon-count.sh dotprod Q4_K gemm 64 2048 4
#   TABLE neon (run as cortex-a72) or dotprod (cortex-a76); ORDER vecdot, tiled, gemm or gemv; TOKENS 1 counts a decode product.
# Prints: instructions per call, per row and token, and per weight byte and token.
# Needs what tools/cross-aarch64.sh installs (it is run first if the target is missing).
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ $# -eq 6 ]] || { echo "usage: tools/neon-count.sh TABLE FORMAT ORDER ROWS COLS TOKENS" >&2; exit 2; }
table=$1 fmt=$2 order=$3 rows=$4 cols=$5 n=$6
case $table in
    neon) core=a72 ;;
    dotprod) core=a76 ;;
    *) echo "error: neon-count: TABLE is neon or dotprod" >&2; exit 2 ;;
esac
command -v qemu-aarch64 >/dev/null 2>&1 || { echo "error: neon-count: run tools/cross-aarch64.sh once first (installs qemu-user and the linker)" >&2; exit 1; }
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
target=aarch64-unknown-linux-gnu
cargo build --quiet --release --target "$target" --example tile_count
bin=${CARGO_TARGET_DIR:-$repo/target}/$target/release/examples/tile_count
count() { # REPEATS
    "$repo/tools/aarch64-count.sh" "$core" "$bin" "$table" "$fmt" "$order" "$rows" "$cols" "$n" "$1" \
        2>&1 >/dev/null | sed -n 's/^insns: //p'
}
r1=1 r2=3
c1=$(count $r1)
c2=$(count $r2)
per_call=$(( (c2 - c1) / (r2 - r1) ))
bytes=$(python3 - "$fmt" "$rows" "$cols" <<'PY'
import sys
size = {"Q8_0": (34, 32), "Q5_0": (22, 32), "Q4_0": (18, 32), "IQ4_NL": (18, 32), "IQ4_XS": (136, 256), "Q2_K": (84, 256), "Q3_K": (110, 256), "Q4_K": (144, 256), "Q5_K": (176, 256), "Q6_K": (210, 256)}
b, k = size[sys.argv[1]]
print(int(sys.argv[2]) * int(sys.argv[3]) // k * b)
PY
)
awk -v c="$per_call" -v r="$rows" -v n="$n" -v b="$bytes" -v t="$table $fmt $order ${rows}x$cols, $n tokens" \
    'BEGIN { printf "%s: %d instructions a call, %.1f a row and token, %.3f a weight byte and token\n", t, c, c / (r * n), c / (b * n) }'
