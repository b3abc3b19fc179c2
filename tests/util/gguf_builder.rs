//! A tiny GGUF writer for tests: builds valid files field by field so each malformed-file test
//! can break exactly one thing.
#![allow(dead_code)]

use std::path::PathBuf;

pub struct Builder {
    pub magic: [u8; 4],
    pub version: u32,
    pub n_kv_override: Option<u64>,
    pub n_tensors_override: Option<u64>,
    kv: Vec<u8>,
    n_kv: u64,
    tensors: Vec<u8>,
    n_tensors: u64,
    pub data: Vec<u8>,
    pub alignment: usize,
}

pub fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            magic: *b"GGUF",
            version: 3,
            n_kv_override: None,
            n_tensors_override: None,
            kv: Vec::new(),
            n_kv: 0,
            tensors: Vec::new(),
            n_tensors: 0,
            data: Vec::new(),
            alignment: 32,
        }
    }
}

impl Builder {
    /// A raw key/value entry: key, type id, encoded value.
    pub fn kv_raw(&mut self, key: &str, ty: u32, value: &[u8]) -> &mut Self {
        string(&mut self.kv, key);
        self.kv.extend_from_slice(&ty.to_le_bytes());
        self.kv.extend_from_slice(value);
        self.n_kv += 1;
        self
    }
    pub fn u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.kv_raw(key, 4, &v.to_le_bytes())
    }
    pub fn f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.kv_raw(key, 6, &v.to_le_bytes())
    }
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        let mut b = Vec::new();
        string(&mut b, v);
        self.kv_raw(key, 8, &b)
    }
    pub fn str_array(&mut self, key: &str, items: &[&str]) -> &mut Self {
        let mut b = Vec::new();
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for s in items {
            string(&mut b, s);
        }
        self.kv_raw(key, 9, &b)
    }
    /// A raw tensor-info entry.
    pub fn tensor_raw(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        string(&mut self.tensors, name);
        self.tensors
            .extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            self.tensors.extend_from_slice(&d.to_le_bytes());
        }
        self.tensors.extend_from_slice(&ty.to_le_bytes());
        self.tensors.extend_from_slice(&offset.to_le_bytes());
        self.n_tensors += 1;
        self
    }
    /// An F32 tensor with the given values appended to the data section (aligned).
    pub fn tensor_f32(&mut self, name: &str, dims: &[u64], values: &[f32]) -> &mut Self {
        while !self.data.len().is_multiple_of(self.alignment) {
            self.data.push(0);
        }
        let off = self.data.len() as u64;
        for v in values {
            self.data.extend_from_slice(&v.to_le_bytes());
        }
        self.tensor_raw(name, dims, 0, off)
    }
    /// An F32 tensor filled with a deterministic pattern.
    pub fn tensor_f32_fill(&mut self, name: &str, dims: &[u64]) -> &mut Self {
        let n: u64 = dims.iter().product();
        let vals: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 500.0)
            .collect();
        self.tensor_f32(name, dims, &vals)
    }
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(
            &self
                .n_tensors_override
                .unwrap_or(self.n_tensors)
                .to_le_bytes(),
        );
        out.extend_from_slice(&self.n_kv_override.unwrap_or(self.n_kv).to_le_bytes());
        out.extend_from_slice(&self.kv);
        out.extend_from_slice(&self.tensors);
        while out.len() % self.alignment != 0 {
            out.push(0);
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// Writes `bytes` to a fresh temporary file and returns its path.
pub fn temp_file(tag: &str, bytes: &[u8]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "ferrite-test-{}-{}-{tag}.gguf",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A complete, valid tiny llama model (all F32). `kv` may add or change metadata before the
/// standard keys are written (a key written twice is a duplicate: use `skip_keys` to drop a
/// standard one); `tensors` may edit the (name, shape) list.
pub fn tiny_llama_with(
    skip_keys: &[&str],
    kv: impl FnOnce(&mut Builder),
    tensors: impl FnOnce(&mut Vec<(String, Vec<u64>)>),
) -> Vec<u8> {
    let mut b = Builder::default();
    kv(&mut b);
    let std_u32 = [
        ("llama.context_length", 64),
        ("llama.embedding_length", 32),
        ("llama.block_count", 1),
        ("llama.feed_forward_length", 64),
        ("llama.attention.head_count", 2),
        ("llama.attention.head_count_kv", 2),
    ];
    if !skip_keys.contains(&"general.architecture") {
        b.str("general.architecture", "llama");
    }
    for (k, v) in std_u32 {
        if !skip_keys.contains(&k) {
            b.u32(k, v);
        }
    }
    if !skip_keys.contains(&"llama.attention.layer_norm_rms_epsilon") {
        b.f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
    }
    let mut list: Vec<(String, Vec<u64>)> = [
        ("token_embd.weight", vec![32, 10]),
        ("output_norm.weight", vec![32]),
        ("blk.0.attn_norm.weight", vec![32]),
        ("blk.0.attn_q.weight", vec![32, 32]),
        ("blk.0.attn_k.weight", vec![32, 32]),
        ("blk.0.attn_v.weight", vec![32, 32]),
        ("blk.0.attn_output.weight", vec![32, 32]),
        ("blk.0.ffn_norm.weight", vec![32]),
        ("blk.0.ffn_gate.weight", vec![32, 64]),
        ("blk.0.ffn_up.weight", vec![32, 64]),
        ("blk.0.ffn_down.weight", vec![64, 32]),
    ]
    .into_iter()
    .map(|(n, d)| (n.to_string(), d))
    .collect();
    tensors(&mut list);
    for (n, d) in &list {
        b.tensor_f32_fill(n, d);
    }
    b.build()
}

/// The valid tiny llama model.
pub fn tiny_llama() -> Vec<u8> {
    tiny_llama_with(&[], |_| {}, |_| {})
}
