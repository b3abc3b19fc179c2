#!/usr/bin/env python3
"""Seed corpora and dictionaries for the fuzz targets (tools/fuzz.sh calls this).

Usage: tools/fuzz_seeds.py SHARED_DIR OUT_DIR [DEFAULT_MODEL]

Writes OUT_DIR/corpus/<target>/seed-* and OUT_DIR/dicts/<target>.dict from the test data:
  gguf       every synthetic model of SHARED_DIR/synth, shrunk to a valid model of the same
             architecture, metadata (vocabulary included) and tensor types that is 50-150 KB
             instead of megabytes (one layer, n_embd 64, n_ff 256, 2 heads; tensor data is
             deterministic noise), so mutations hit the header rather than weight bytes.
             The dictionary holds every metadata key and tensor name.
  tokenizer  the test strings of SHARED_DIR/vocab/*.inp for every vocabulary, and the expected
             ids of *.out as decode inputs (input format: see fuzz/fuzz_targets/tokenizer.rs).
  c_api      the same test strings for every model (format: fuzz/fuzz_targets/c_api.rs).
Only the standard library is used. Seeds are regenerated on every run (cheap, deterministic).
"""

import os
import random
import struct
import sys

# ggml type id -> (block size, bytes per block), for the types ferrite loads.
GGML = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    20: (32, 18), 23: (256, 136), 30: (1, 2),
}
Q8_0 = 8
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u64()).decode()

    def skip_value(self, ty):
        if ty in SCALAR:
            self.take(SCALAR[ty])
        elif ty == 8:
            self.string()
        elif ty == 9:
            et, n = self.u32(), self.u64()
            if et == 8:
                for _ in range(n):
                    self.string()
            else:
                self.take(SCALAR[et] * n)
        else:
            raise ValueError(f"metadata type {ty}")


def read_gguf(path):
    """(kv: list of (key, type, raw value bytes), tensors: list of (name, dims, type))."""
    r = Reader(open(path, "rb").read())
    assert r.take(4) == b"GGUF"
    r.u32()
    n_t, n_kv = r.u64(), r.u64()
    kv = []
    for _ in range(n_kv):
        key = r.string()
        ty = r.u32()
        start = r.p
        r.skip_value(ty)
        kv.append((key, ty, r.b[start:r.p]))
    tensors = []
    for _ in range(n_t):
        name = r.string()
        dims = [r.u64() for _ in range(r.u32())]
        ty = r.u32()
        r.u64()
        tensors.append((name, dims, ty))
    return kv, tensors


def enc_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def shrink(path):
    """A small valid model with the metadata and tensor types of `path` (see the docstring)."""
    kv, tensors = read_gguf(path)
    arch = next(v[8:].decode() for k, t, v in kv if k == "general.architecture")
    E, F, H = 64, 256, 2
    HKV = H if arch == "gpt2" else 1
    HD, CTX = 32, 64
    over = {
        "embedding_length": E, "feed_forward_length": F, "block_count": 1,
        "attention.head_count": H, "attention.head_count_kv": HKV,
        "attention.key_length": HD, "attention.value_length": HD,
        "context_length": CTX, "rope.dimension_count": HD,
    }
    out_kv = []
    for k, t, v in kv:
        suffix = k[len(arch) + 1:] if k.startswith(arch + ".") else None
        if suffix in over:
            t, v = 4, struct.pack("<I", over[suffix])
        out_kv.append((k, t, v))
    V = next(d[1] for n, d, t in tensors if n == "token_embd.weight")
    qd, kd = H * HD, HKV * HD
    shapes = {
        "token_embd.weight": [E, V], "output.weight": [E, V], "position_embd.weight": [E, CTX],
        "rope_freqs.weight": [HD // 2],
        "attn_q.weight": [E, qd], "attn_k.weight": [E, kd], "attn_v.weight": [E, kd],
        "attn_q.bias": [qd], "attn_k.bias": [kd], "attn_v.bias": [kd],
        "attn_qkv.weight": [E, qd + 2 * kd], "attn_qkv.bias": [qd + 2 * kd],
        "attn_output.weight": [qd, E], "attn_q_norm.weight": [HD], "attn_k_norm.weight": [HD],
        "ffn_gate.weight": [E, F], "ffn_up.weight": [E, F], "ffn_up.bias": [F],
        "ffn_down.weight": [F, E],
    }
    rng = random.Random(os.path.basename(path))
    out_t, data = [], bytearray()
    for name, dims, ty in tensors:
        if name.startswith("blk.") and not name.startswith("blk.0."):
            continue
        role = name.split(".", 2)[2] if name.startswith("blk.") else name
        new = shapes.get(role, [E] if len(dims) == 1 else None)
        assert new is not None, f"{path}: no shape rule for {name}"
        block, size = GGML[ty]
        if new[0] % block:
            ty, (block, size) = Q8_0, GGML[Q8_0]
        while len(data) % 32:
            data.append(0)
        off = len(data)
        n_blocks = new[0] // block * (new[1] if len(new) > 1 else 1)
        if ty == 0:  # F32: norms near 1, weights small
            base = 1.0 if len(new) == 1 else 0.0
            data += b"".join(struct.pack("<f", base + rng.uniform(-0.1, 0.1))
                             for _ in range(n_blocks))
        else:
            data += bytes(rng.getrandbits(8) for _ in range(n_blocks * size))
        out_t.append((name, new, ty, off))
    b = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(out_t), len(out_kv)))
    for k, t, v in out_kv:
        b += enc_str(k) + struct.pack("<I", t) + v
    for name, dims, ty, off in out_t:
        b += enc_str(name) + struct.pack("<I", len(dims))
        b += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ty, off)
    while len(b) % 32:
        b.append(0)
    return bytes(b + data), [k for k, _, _ in out_kv] + [n for n, _, _, _ in out_t]


def write_dict(path, words):
    with open(path, "w") as f:
        for w in sorted(set(words)):
            esc = "".join(c if c.isalnum() or c in "._-" else "\\x%02x" % ord(c) for c in w)
            f.write(f'"{esc}"\n')


def test_strings(shared):
    """{vocab file name: ([test strings], [expected id lists])}."""
    vocab = os.path.join(shared, "vocab")
    out = {}
    for name in sorted(os.listdir(vocab)):
        if not name.endswith(".gguf"):
            continue
        inp = open(os.path.join(vocab, name + ".inp"), encoding="utf-8").read()
        strings = inp.split("\n__ggml_vocab_test__\n")
        ids = [[int(x) for x in line.split()]
               for line in open(os.path.join(vocab, name + ".out")).read().splitlines()]
        out[name] = (strings, ids)
    return out


def main():
    shared, out = sys.argv[1], sys.argv[2]
    default_model = sys.argv[3] if len(sys.argv) > 3 else ""
    corpus = lambda t: os.makedirs(os.path.join(out, "corpus", t), exist_ok=True) or \
        os.path.join(out, "corpus", t)
    os.makedirs(os.path.join(out, "dicts"), exist_ok=True)

    # gguf
    d, words = corpus("gguf"), []
    synth = os.path.join(shared, "synth")
    for name in sorted(os.listdir(synth)):
        if name.endswith(".gguf"):
            img, w = shrink(os.path.join(synth, name))
            words += w
            open(os.path.join(d, "seed-" + name), "wb").write(img)
    write_dict(os.path.join(out, "dicts", "gguf.dict"), words + ["GGUF"])

    # tokenizer: vocabularies in name order, then the default model (fuzz/src/lib.rs order).
    tests = test_strings(shared)
    n_vocabs = len(tests) + (1 if os.path.isfile(default_model) else 0)
    d = corpus("tokenizer")
    all_strings = []
    for vi, (name, (strings, ids)) in enumerate(tests.items()):
        all_strings += strings
        for si, s in enumerate(strings):
            flags = (0, 3)[si % 2]
            open(os.path.join(d, f"seed-{vi}-{si}"), "wb").write(bytes([vi, flags]) + s.encode())
        for si, line in enumerate(ids):
            body = b"".join(struct.pack("<I", i) for i in line)
            open(os.path.join(d, f"seed-{vi}-ids-{si}"), "wb").write(bytes([vi, 4]) + body)
    if n_vocabs > len(tests):
        for si, s in enumerate(tests["ggml-vocab-llama-spm.gguf"][0]):
            open(os.path.join(d, f"seed-gemma-{si}"), "wb").write(
                bytes([len(tests), 3]) + s.encode())

    # c_api: 5 synthetic models (+ the default model), header of 10 bytes, then the text.
    d = corpus("c_api")
    n_models = 5 + (1 if os.path.isfile(default_model) else 0)
    rng = random.Random(7)
    uniq = sorted(set(s.replace("\0", "") for s in all_strings))
    for si, s in enumerate(uniq):
        h = bytes([si % n_models, si % 8]) + struct.pack("<HiH", rng.getrandbits(16),
                                                         rng.getrandbits(31), rng.getrandbits(16))
        open(os.path.join(d, f"seed-{si}"), "wb").write(h + s.encode())

    # chat_template: the Jinja templates of the vocabulary files and the built-in shapes, each
    # followed by a short conversation (NUL-separated messages, first byte the role).
    d = corpus("chat_template")
    templates = []
    for name in sorted(os.listdir(os.path.join(shared, "vocab"))):
        if name.endswith(".gguf"):
            kv, _ = read_gguf(os.path.join(shared, "vocab", name))
            for key, ty, raw in kv:
                if key == "tokenizer.chat_template" and ty == 8:  # a string: u64 length, bytes
                    templates.append(raw[8:].decode())
    templates += [
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}"
        "{{ raise_exception('no system role') }}{% endif %}{{ m.content | trim }}{% endfor %}",
    ]
    conv = b"\0\x01Hello\0\x02Hi! How can I help?\0\x01Tell me a joke."
    for i, t in enumerate(templates):
        open(os.path.join(d, f"seed-{i}"), "wb").write(t.encode() + conv)

    for t in ("gguf", "tokenizer", "c_api", "chat_template"):
        print(f"seeds: {t}: {len(os.listdir(corpus(t)))} files in {corpus(t)}")


if __name__ == "__main__":
    main()
