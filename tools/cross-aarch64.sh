#!/usr/bin/env bash
# Build ferrite's kernel tests for aarch64 and run them under qemu, once on a CPU with the
# dot-product extension (cortex-a76, like the Pi 5) and once without (cortex-a72, the Pi 4),
# so both NEON tables are compared with the scalar reference on an x86 host.
#
# Usage: tools/cross-aarch64.sh [-- CARGO_TEST_ARGS...]
#   e.g. tools/cross-aarch64.sh -- --test quant_dot   (default: --test kernels)
#
# Installs what is missing, idempotently (quiet when everything is there):
#   rustup target aarch64-unknown-linux-gnu, and the Debian packages gcc-aarch64-linux-gnu
#   (the linker), libc6-dev-arm64-cross and qemu-user (needs root or sudo for apt-get).
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

target=aarch64-unknown-linux-gnu
test_args=(--test kernels)
if [[ $# -gt 0 ]]; then
    [[ $1 == -- ]] || { echo "error: cross-aarch64: unknown argument '$1' (see the header)" >&2; exit 2; }
    shift
    test_args=("$@")
fi

die() {
    echo "error: cross-aarch64: $*" >&2
    exit 1
}

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

# --- build and run ----------------------------------------------------------------------------
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
echo "== cargo test --release --target $target ${test_args[*]} --no-run"
cargo test --release --target "$target" "${test_args[@]}" --no-run

status=0
for cpu in cortex-a76 cortex-a72; do
    echo
    echo "== qemu-aarch64 -cpu $cpu"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu $cpu"
    cargo test --release --target "$target" "${test_args[@]}" -- --nocapture 2>&1 \
        | grep -v '^\s*\(Compiling\|Finished\|Running\)' || status=1
done
exit $status
