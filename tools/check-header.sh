#!/usr/bin/env bash
# Checks that include/ferrite.h is what cbindgen generates from src/ffi.rs now.
#
# Usage: tools/check-header.sh            fail (exit 1) with a diff when the header is stale
#        tools/check-header.sh --update   rewrite include/ferrite.h
#
# Installs the pinned cbindgen into ~/.cargo/bin first when it is missing or another version
# (`cargo install cbindgen --locked`, from crates.io; once). The version is pinned because
# cbindgen's output changes between releases: everyone must generate the same header.
set -euo pipefail

CBINDGEN_VERSION=0.29.4

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

update=0
case "${1:-}" in
"") ;;
--update) update=1 ;;
-h | --help)
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
    exit 0
    ;;
*)
    echo "error: check-header.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
cbindgen="$cargo_bin/cbindgen"
if [[ ! -x "$cbindgen" ]] && command -v cbindgen >/dev/null; then
    cbindgen=$(command -v cbindgen)
fi
if [[ ! -x "$cbindgen" ]] || [[ "$("$cbindgen" --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]]; then
    echo "check-header.sh: installing cbindgen $CBINDGEN_VERSION into $cargo_bin (once)" >&2
    "${CARGO:-cargo}" install cbindgen --version "=$CBINDGEN_VERSION" --locked --quiet >&2
    cbindgen="$cargo_bin/cbindgen"
fi

generate() {
    # Only src/ffi.rs: the C API is that file; the rest of the crate's public constants and
    # types are not part of it.
    "$cbindgen" --quiet --config cbindgen.toml --output "$1" src/ffi.rs
}

if [[ $update -eq 1 ]]; then
    generate include/ferrite.h
    echo "check-header.sh: wrote include/ferrite.h"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
generate "$tmp/ferrite.h"
if ! diff -u include/ferrite.h "$tmp/ferrite.h" >"$tmp/diff"; then
    cat "$tmp/diff" >&2
    echo "error: include/ferrite.h is stale (the diff above turns it into what src/ffi.rs gives): run tools/check-header.sh --update and commit it" >&2
    exit 1
fi
echo "check-header.sh: include/ferrite.h is current"
