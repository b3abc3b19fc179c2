//! The KV cache: fixed capacity chosen when a session starts, never grown.
//!
//! Layout per layer: `k` and `v` each hold `slots x n_head_kv x head_dim` values, one slot per
//! cached position. Full-attention layers have one slot per context position. Sliding-window
//! layers (Gemma 3) keep only the positions a query can still see, in a ring: position `p`
//! lives in slot `p % slots`, with `slots = min(n_ctx, window + max_batch - 1)` so a batch of
//! queries never overwrites a key an earlier query of the same batch still needs.

use half::f16;

use crate::quant::q8_0::{self, BlockQ8_0};
use crate::{Error, Result};

/// The storage type of cached keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvType {
    /// 2 bytes per value (the default, as llama.cpp).
    #[default]
    F16,
    /// 34 bytes per 32 values: half the memory of f16, slightly less precise.
    Q8_0,
    /// 4 bytes per value: exact.
    F32,
}

impl KvType {
    /// Parses `f16`, `q8_0`, `f32`.
    pub fn parse(s: &str) -> Result<KvType> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Ok(KvType::F16),
            "q8_0" => Ok(KvType::Q8_0),
            "f32" => Ok(KvType::F32),
            _ => Err(Error::InvalidArgument(format!(
                "unknown KV cache type '{s}' (expected f16, q8_0 or f32)"
            ))),
        }
    }

    /// Bytes needed to store `n` values (`n` a multiple of 32 for Q8_0).
    pub fn bytes_for(self, n: usize) -> usize {
        match self {
            KvType::F16 => 2 * n,
            KvType::F32 => 4 * n,
            KvType::Q8_0 => n / 32 * std::mem::size_of::<BlockQ8_0>(),
        }
    }
}

/// One matrix of cached rows (keys or values of one layer); a row is one head of one slot.
pub enum KvBuf {
    F16(Vec<f16>),
    Q8_0(Vec<BlockQ8_0>),
    F32(Vec<f32>),
}

impl KvBuf {
    fn new(ty: KvType, n: usize) -> KvBuf {
        match ty {
            KvType::F16 => KvBuf::F16(vec![f16::ZERO; n]),
            KvType::F32 => KvBuf::F32(vec![0.0; n]),
            KvType::Q8_0 => KvBuf::Q8_0(vec![
                BlockQ8_0 {
                    d: f16::ZERO,
                    qs: [0; 32]
                };
                n / 32
            ]),
        }
    }

    /// Stores `src` at value offset `at` (a multiple of 32 for Q8_0).
    pub fn write(&mut self, at: usize, src: &[f32]) {
        match self {
            KvBuf::F16(b) => {
                for (d, &s) in b[at..at + src.len()].iter_mut().zip(src) {
                    *d = f16::from_f32(s);
                }
            }
            KvBuf::F32(b) => b[at..at + src.len()].copy_from_slice(src),
            KvBuf::Q8_0(b) => q8_0::quantize_row(src, &mut b[at / 32..(at + src.len()) / 32]),
        }
    }

    /// Rounds a query (or attention weights) to the precision llama.cpp multiplies this cache
    /// with: ggml converts the f32 operand of an f16 matmul to f16 (`vec_dot_type`), so with an
    /// f16 cache both the query before `K.q` and the softmax weights before `V.p` are rounded
    /// to f16. Doing the same keeps Gemma 3 within 1e-4 of llama.cpp's log-probabilities.
    pub fn round_operand(&self, x: &mut [f32]) {
        if let KvBuf::F16(_) = self {
            x.iter_mut().for_each(|v| *v = f16::from_f32(*v).to_f32());
        }
    }

    /// `K.q` for the row of `q.len()` values at offset `at`, in the order llama.cpp computes
    /// it with this cache ([`Self::dot`] for the f32 and Q8_0 caches). With an f16 cache
    /// ggml's `mul_mat` takes one of two kernels: for a single token `ggml_vec_dot_f16`
    /// (four 8-lane FMA accumulators over groups of 32, reduced as `GGML_F32x8_REDUCE`, a
    /// tail in f64), and for a batch of tokens llamafile's `tinyBLAS` (one 8-lane FMA
    /// accumulator, reduced by `hsum8`; it needs a multiple of 8 values).
    #[inline]
    pub fn dot_ggml(&self, at: usize, q: &[f32], batch: bool) -> f32 {
        match self {
            KvBuf::F16(b) => crate::kernels::attn::dot_f16(&b[at..at + q.len()], q, batch),
            _ => self.dot(at, q),
        }
    }

    /// For an f16 cache, `acc[lane * n + d] = fma(row[d], w, ...)` for the row of
    /// `acc.len() / 32` values at offset `at`: one cell's term of `V.p`, kept in the FMA lane
    /// ggml's kernel gives that cell (see [`reduce_v_lanes`]). Returns false, doing nothing,
    /// for the other cache types.
    #[inline]
    pub fn fma_lanes(&self, at: usize, w: f32, lane: usize, acc: &mut [f32]) -> bool {
        match self {
            KvBuf::F16(b) => {
                let n = acc.len() / 32;
                crate::kernels::attn::fma_f16(
                    &mut acc[lane * n..(lane + 1) * n],
                    &b[at..at + n],
                    w,
                );
                true
            }
            _ => false,
        }
    }

    /// Dot product of `q` with the row of `q.len()` values at offset `at`.
    #[inline]
    pub fn dot(&self, at: usize, q: &[f32]) -> f32 {
        match self {
            KvBuf::F16(b) => {
                let row = &b[at..at + q.len()];
                let mut s = 0f32;
                for (&k, &x) in row.iter().zip(q) {
                    s += k.to_f32() * x;
                }
                s
            }
            KvBuf::F32(b) => b[at..at + q.len()].iter().zip(q).map(|(a, b)| a * b).sum(),
            KvBuf::Q8_0(b) => {
                let mut s = 0f32;
                for (blk, qc) in b[at / 32..(at + q.len()) / 32]
                    .iter()
                    .zip(q.chunks_exact(32))
                {
                    let d = blk.d.to_f32();
                    let mut bs = 0f32;
                    for (&v, &x) in blk.qs.iter().zip(qc) {
                        bs += v as f32 * x;
                    }
                    s += bs * d;
                }
                s
            }
        }
    }

    /// `out += w * row`, for the row of `out.len()` values at offset `at`.
    #[inline]
    pub fn axpy(&self, at: usize, w: f32, out: &mut [f32]) {
        let n = out.len();
        match self {
            KvBuf::F16(b) => {
                for (o, &v) in out.iter_mut().zip(&b[at..at + n]) {
                    *o += w * v.to_f32();
                }
            }
            KvBuf::F32(b) => {
                for (o, &v) in out.iter_mut().zip(&b[at..at + n]) {
                    *o += w * v;
                }
            }
            KvBuf::Q8_0(b) => {
                for (blk, oc) in b[at / 32..(at + n) / 32]
                    .iter()
                    .zip(out.chunks_exact_mut(32))
                {
                    let d = w * blk.d.to_f32();
                    for (o, &v) in oc.iter_mut().zip(&blk.qs) {
                        *o += d * v as f32;
                    }
                }
            }
        }
    }
}

/// The lane ggml's f16 `V.p` kernel gives KV cell `cell`: `ggml_vec_dot_f16` for one token
/// (32 lanes in four accumulators), llamafile's `tinyBLAS` for a batch (8 lanes).
#[inline]
pub fn v_lane(cell: usize, batch: bool) -> usize {
    if batch {
        cell % 8
    } else {
        cell % 32
    }
}

/// Reduces the lanes filled by [`KvBuf::fma_lanes`] into `out` (one value per 32 lanes), as
/// the kernel of [`v_lane`] does.
///
/// Layout: lane-major, `acc[lane * n + d]` with `n = acc.len() / 32`, so that adding one
/// cell's row is a contiguous FMA over `d` ([`crate::kernels::attn::fma_f16`]).
pub fn reduce_v_lanes(acc: &[f32], batch: bool, out: &mut [f32]) {
    let n = acc.len() / 32;
    for (d, o) in out.iter_mut().enumerate() {
        let lane = |l: usize| acc[l * n + d];
        *o = if batch {
            crate::quant::lanes::hsum8(&std::array::from_fn(lane))
        } else {
            crate::quant::lanes::reduce_f32x8x4(&std::array::from_fn(lane))
        };
    }
}

/// The cache of one layer.
pub struct LayerCache {
    pub k: KvBuf,
    pub v: KvBuf,
    /// Number of position slots (the ring length for sliding-window layers).
    pub slots: usize,
    /// Values per slot of k (`n_head_kv * head_dim`) and of v (`n_head_kv * head_dim_v`).
    pub k_stride: usize,
    pub v_stride: usize,
}

impl LayerCache {
    /// The slot holding position `pos`.
    #[inline]
    pub fn slot(&self, pos: usize) -> usize {
        pos % self.slots
    }
}

/// All layers' caches.
pub struct KvCache {
    pub layers: Vec<LayerCache>,
    pub ty: KvType,
}

/// What one layer's cache needs: slots and per-slot sizes.
#[derive(Clone, Copy, Debug)]
pub struct LayerShape {
    pub slots: usize,
    pub k_stride: usize,
    pub v_stride: usize,
}

impl KvCache {
    /// Bytes a cache of these shapes takes (for the memory estimate).
    pub fn bytes_needed(ty: KvType, shapes: &[LayerShape]) -> usize {
        shapes
            .iter()
            .map(|s| ty.bytes_for(s.slots * s.k_stride) + ty.bytes_for(s.slots * s.v_stride))
            .sum()
    }

    /// Allocates the cache. Q8_0 needs per-head sizes that are multiples of 32.
    pub fn new(ty: KvType, shapes: &[LayerShape], head_dims: (usize, usize)) -> Result<KvCache> {
        if ty == KvType::Q8_0 && (head_dims.0 % 32 != 0 || head_dims.1 % 32 != 0) {
            return Err(Error::InvalidArgument(format!(
                "--kv-type q8_0 needs head sizes that are multiples of 32 (this model: {} and {})",
                head_dims.0, head_dims.1
            )));
        }
        let layers = shapes
            .iter()
            .map(|s| LayerCache {
                k: KvBuf::new(ty, s.slots * s.k_stride),
                v: KvBuf::new(ty, s.slots * s.v_stride),
                slots: s.slots,
                k_stride: s.k_stride,
                v_stride: s.v_stride,
            })
            .collect();
        Ok(KvCache { layers, ty })
    }
}
