#!/usr/bin/env python3
"""Generate the block-format fixtures in tests/fixtures/quant/ from the Python `gguf` package.

The fixtures are the independent oracle for `tests/quant_dequant.rs`: for each of the 15 block
formats ferrite supports, some raw blocks and what `gguf.quants.dequantize` (the reference
implementation maintained with llama.cpp) makes of them.

Dependencies:  pip install gguf numpy
Run (from the repository root):  python tools/gen_quant_fixtures.py [--check]
    --check   regenerate in memory and fail if any committed fixture differs.

Files written, per format `<t>` (lower-case type name, e.g. `q4_0`), all little-endian:
    <t>.blocks      the raw blocks, exactly as they would sit in a GGUF tensor
    <t>.f32         the expected dequantized values, f32
    <t>.input.f32   (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 only) the f32 values that
                    `gguf.quants.quantize` turned into <t>.blocks, so the Rust quantizers can
                    be checked against gguf's bit for bit

How the blocks are made:
  * The simple formats (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) are quantized by
    `gguf.quants.quantize` from seeded random floats: 7 blocks of 32 values (225 single values
    for the float types) at varied magnitudes, including an all-zero block (d == 0), a block
    whose scale underflows to an f16 subnormal, and a block with one large outlier. The float
    types also get signed zeros, infinities, a NaN, f16 overflow and subnormal values.
  * The K-formats (Q2_K..Q6_K), IQ4_NL and IQ4_XS, for which the package has no quantizer (or
    none we want to depend on), are 7 blocks of random bytes whose f16 `d` (and `dmin`)
    fields are overwritten with small finite random values of either sign, scaled per format
    so the dequantized values are of order 1 (no inf or NaN can appear).

The seed is fixed, so the output is deterministic for a given gguf/numpy version.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

SEED = 0x5EED_F3
N_BLOCKS = 7  # odd on purpose
OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "quant"

FLOAT_TYPES = [T.F32, T.F16, T.BF16]
SIMPLE_TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]

# Random-byte formats: byte offsets of the f16 scale fields inside one block, and the rough
# size of `d` that keeps the dequantized values of order 1 (largest quant magnitude ~ 1/base).
RANDOM_TYPES: dict[T, tuple[tuple[int, ...], float]] = {
    T.Q2_K: ((80, 82), 2e-2),  # scales[16] qs[64] d dmin; y = d*sc*q - dmin*m, sc,m < 16, q < 4
    T.Q3_K: ((108,), 8e-3),  # hmask[32] qs[64] scales[12] d; y = d*(sc-32)*q, q in [-4, 3]
    T.Q4_K: ((0, 2), 1e-3),  # d dmin scales[12] qs[128]; sc,m < 64, q < 16
    T.Q5_K: ((0, 2), 5e-4),  # d dmin scales[12] qh[32] qs[128]; sc,m < 64, q < 32
    T.Q6_K: ((208,), 2.5e-4),  # ql[128] qh[64] scales[16] (i8) d; q in [-32, 31]
    T.IQ4_NL: ((0,), 1e-2),  # d qs[16]; y = d*kvalue, |kvalue| <= 127
    T.IQ4_XS: ((0,), 2.5e-4),  # d scales_h scales_l[4] qs[128]; y = d*(ls-32)*kvalue
}

ALL_TYPES = FLOAT_TYPES + SIMPLE_TYPES + list(RANDOM_TYPES)
assert len(ALL_TYPES) == 15


def simple_inputs(rng: np.random.Generator) -> np.ndarray:
    """7 blocks of 32 floats at varied magnitudes, with the edge cases listed above."""
    blocks = rng.standard_normal((N_BLOCKS, 32)).astype(np.float32)
    blocks[0] *= 1.0
    blocks[1] *= 0.01
    blocks[2] *= 100.0
    blocks[3] = 0.0  # d == 0: the quantizers must not divide by zero
    blocks[4] *= 1e-6  # the f16 scale becomes subnormal
    blocks[5] = rng.uniform(-1.0, 1.0, 32).astype(np.float32)
    blocks[5][17] = 40.0  # one outlier dominates the scale
    blocks[6] = rng.uniform(0.5, 3.0, 32).astype(np.float32)  # all positive (min != 0)
    return blocks.reshape(-1).astype(np.float32)


def float_inputs(rng: np.random.Generator) -> np.ndarray:
    """225 floats: a normal spread, wide magnitudes and the special values."""
    x = (rng.standard_normal(225) * np.exp(rng.uniform(-12.0, 12.0, 225))).astype(np.float32)
    special = np.array(
        [
            0.0, -0.0, np.inf, -np.inf, np.nan,
            65504.0, 65519.0, 65520.0, -1e6,  # f16 max, still rounds to max, overflows, far
            6.0e-8, 2.9e-8, -3.0e-5, 1e-40,  # f16 subnormals / underflow, an f32 subnormal
            1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11,  # f16 round-to-even ties
            float(np.frombuffer(np.uint32(0x3F808000).tobytes(), np.float32)[0]),  # bf16 tie
            float(np.frombuffer(np.uint32(0x3F818000).tobytes(), np.float32)[0]),  # bf16 tie
            3.4e38,  # bf16 rounds to infinity
        ],
        dtype=np.float32,
    )
    x[: len(special)] = special
    return x


def random_blocks(rng: np.random.Generator, ty: T) -> np.ndarray:
    offsets, base = RANDOM_TYPES[ty]
    _, type_size = GGML_QUANT_SIZES[ty]
    raw = rng.integers(0, 256, size=(N_BLOCKS, type_size), dtype=np.uint8)
    for off in offsets:
        mag = base * rng.uniform(0.5, 2.0, N_BLOCKS)
        sign = np.where(rng.integers(0, 2, N_BLOCKS) == 1, -1.0, 1.0)
        d = (sign * mag).astype(np.float16)
        assert np.all(np.isfinite(d)) and np.all(d != 0)
        raw[:, off : off + 2] = d.view(np.uint8).reshape(N_BLOCKS, 2)
    return raw.reshape(-1)


def generate() -> dict[str, bytes]:
    rng = np.random.default_rng(SEED)
    files: dict[str, bytes] = {}
    for ty in ALL_TYPES:
        name = ty.name.lower()
        if ty in FLOAT_TYPES or ty in SIMPLE_TYPES:
            x = float_inputs(rng) if ty in FLOAT_TYPES else simple_inputs(rng)
            with np.errstate(over="ignore", invalid="ignore"):
                raw = np.asarray(quants.quantize(x, ty)).view(np.uint8).reshape(-1)
            files[f"{name}.input.f32"] = x.astype("<f4").tobytes()
        else:
            raw = random_blocks(rng, ty)
        block_size, type_size = GGML_QUANT_SIZES[ty]
        assert raw.size % type_size == 0
        with np.errstate(over="ignore", invalid="ignore"):
            y = np.asarray(quants.dequantize(raw, ty), dtype=np.float32).reshape(-1)
        assert y.size == raw.size // type_size * block_size
        if ty not in FLOAT_TYPES:
            assert np.all(np.isfinite(y)), name
        files[f"{name}.blocks"] = raw.tobytes()
        files[f"{name}.f32"] = y.astype("<f4").tobytes()
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files")
    args = ap.parse_args()
    files = generate()
    if args.check:
        bad = [n for n, b in files.items() if not (OUT_DIR / n).is_file() or (OUT_DIR / n).read_bytes() != b]
        for n in bad:
            print(f"differs: {n}", file=sys.stderr)
        return 1 if bad else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for n, b in sorted(files.items()):
        (OUT_DIR / n).write_bytes(b)
    total = sum(len(b) for b in files.values())
    print(f"wrote {len(files)} files ({total} bytes) to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
