#!/usr/bin/env python3
"""A random-weight F16 GGUF with the shape of a real model and a real vocabulary, for speed
comparisons on model shapes other than the default Gemma 3 270M (no network needed: the
vocabularies are in ../shared/vocab). The text it generates is noise; its speed is the real
model's. Quantize it with llama.cpp's llama-quantize, as a published GGUF would be:

    pip install gguf numpy
    tools/synth_model.py qwen2.5-0.5b ../shared/vocab/ggml-vocab-qwen2.gguf qwen-f16.gguf
    llama-quantize qwen-f16.gguf qwen-q4_k_m.gguf Q4_K_M
    ferrite bench -m qwen-q4_k_m.gguf -t 1,2 ; llama-bench -m qwen-q4_k_m.gguf -t 1,2

usage: synth_model.py SHAPE VOCAB.gguf OUT.gguf   (SHAPE: qwen2.5-0.5b | llama3.2-1b)
(Llama 3.2's rope scaling is left out: it changes no cost.)"""
import sys
import numpy as np
import gguf

SHAPES = {
    "qwen2.5-0.5b": dict(arch="qwen2", n_embd=896, n_layer=24, n_ff=4864, n_head=14, n_kv=2,
                         rope_base=1e6, eps=1e-6, bias=True),
    "llama3.2-1b": dict(arch="llama", n_embd=2048, n_layer=16, n_ff=8192, n_head=32, n_kv=8,
                        rope_base=5e5, eps=1e-5, bias=False),
}
if len(sys.argv) != 4 or sys.argv[1] not in SHAPES:
    sys.exit(__doc__)
shape, vocab_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
s = SHAPES[shape]
arch = s["arch"]
r = gguf.GGUFReader(vocab_path)
w = gguf.GGUFWriter(out, arch)
hd = s["n_embd"] // s["n_head"]
n_vocab = None
for name, f in r.fields.items():
    if not name.startswith("tokenizer."):
        continue
    t = f.types[0]
    if t == gguf.GGUFValueType.ARRAY:
        sub = f.types[1]
        if sub == gguf.GGUFValueType.STRING:
            vals = [bytes(f.parts[i]) for i in f.data]
        else:
            vals = [f.parts[i][0].item() for i in f.data]
        if name == "tokenizer.ggml.tokens":
            n_vocab = len(vals)
        w.add_array(name, vals)
    elif t == gguf.GGUFValueType.STRING:
        w.add_string(name, bytes(f.parts[f.data[0]]).decode())
    else:
        w.add_key_value(name, f.parts[f.data[0]][0].item(), t)
w.add_name(f"synthetic {shape}")
w.add_context_length(32768)
w.add_embedding_length(s["n_embd"])
w.add_block_count(s["n_layer"])
w.add_feed_forward_length(s["n_ff"])
w.add_head_count(s["n_head"])
w.add_head_count_kv(s["n_kv"])
w.add_rope_freq_base(s["rope_base"])
w.add_layer_norm_rms_eps(s["eps"])
w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
rng = np.random.default_rng(1)
def mat(rows, cols, std=0.02):
    return (rng.standard_normal((rows, cols), dtype=np.float32) * std).astype(np.float16)
E, F, kv = s["n_embd"], s["n_ff"], s["n_kv"] * hd
w.add_tensor("token_embd.weight", mat(n_vocab, E))
w.add_tensor("output_norm.weight", np.ones(E, dtype=np.float32))
for i in range(s["n_layer"]):
    p = f"blk.{i}."
    w.add_tensor(p + "attn_norm.weight", np.ones(E, dtype=np.float32))
    w.add_tensor(p + "attn_q.weight", mat(E, E))
    w.add_tensor(p + "attn_k.weight", mat(kv, E))
    w.add_tensor(p + "attn_v.weight", mat(kv, E))
    if s["bias"]:
        for n, d in (("q", E), ("k", kv), ("v", kv)):
            w.add_tensor(p + f"attn_{n}.bias", (rng.standard_normal(d) * 0.02).astype(np.float32))
    w.add_tensor(p + "attn_output.weight", mat(E, E))
    w.add_tensor(p + "ffn_norm.weight", np.ones(E, dtype=np.float32))
    w.add_tensor(p + "ffn_gate.weight", mat(F, E))
    w.add_tensor(p + "ffn_up.weight", mat(F, E))
    w.add_tensor(p + "ffn_down.weight", mat(E, F))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(out, n_vocab)
