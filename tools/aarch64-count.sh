#!/usr/bin/env bash
# The number of instructions an aarch64 program executes, counted under qemu: no Pi here, and
# qemu timings mean nothing, but a count is deterministic (the same binary and input give the
# same number) and says how much work a program asks of the core.
#
# Usage: tools/aarch64-count.sh a76|a72 PROGRAM [ARGS...]
#   a76: qemu's cortex-a76 (a Pi 5 core, dotprod), a72: cortex-a72 (a Pi 4 core, plain NEON).
# Prints "insns: N" on stderr after the program's own output. Count single-threaded runs
# (`-t 1`): the counter is not atomic. Builds tools/qemu-insn.c (a qemu plugin) with the
# host's cc into ${CARGO_TARGET_DIR:-target}/qemu-insn/ the first time.
#
# Per-token figures come from differences: e.g. `ferrite bench -p 0 -n 8 -t 1 -r 1` and the
# same with `-n 24` (README "Raspberry Pi").
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 2 ]] || { echo "usage: tools/aarch64-count.sh a76|a72 PROGRAM [ARGS...]" >&2; exit 2; }
case $1 in
    a76) cpu=cortex-a76 ;;
    a72) cpu=cortex-a72 ;;
    *) echo "error: aarch64-count: the CPU is a76 or a72, not '$1'" >&2; exit 2 ;;
esac
shift
command -v qemu-aarch64 >/dev/null 2>&1 || { echo "error: aarch64-count: qemu-aarch64 is missing (tools/cross-aarch64.sh installs it)" >&2; exit 1; }
out=${CARGO_TARGET_DIR:-$repo/target}/qemu-insn
plugin=$out/libqemu-insn.so
if [[ ! -f $plugin || $repo/tools/qemu-insn.c -nt $plugin ]]; then
    mkdir -p "$out"
    ${CC:-cc} -O2 -shared -fPIC -fvisibility=hidden -o "$plugin" "$repo/tools/qemu-insn.c"
fi
exec qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "$cpu" -plugin "$plugin" "$@"
