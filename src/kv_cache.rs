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

/// Writes one byte of every page of `v` with the value it has (zero), so the pages are
/// backed now: a session takes all the memory it will ever need when it is created, as
/// llama.cpp clears its KV buffer, instead of finding the machine short at token 30 000.
/// (`vec![0.0; n]` gets untouched pages from `calloc`, and a plain `fill(0)` after it may be
/// optimized away.)
pub(crate) fn commit<T: Copy>(v: &mut [T]) {
    let bytes = std::mem::size_of_val(v);
    let p = v.as_mut_ptr() as *mut u8;
    for off in (0..bytes).step_by(4096) {
        // SAFETY: `off < bytes`, inside `v`'s allocation, which is exclusively borrowed; every
        // buffer committed here is zero-initialized, and writing a zero byte keeps its value.
        unsafe { std::ptr::write_volatile(p.add(off), 0) };
    }
}

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

    /// The name [`Self::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
            KvType::F32 => "f32",
        }
    }

    /// Whether a cache of this type can hold heads of these sizes (Q8_0 blocks of 32 values
    /// must not straddle two heads).
    pub fn fits_heads(self, head_dim: usize, head_dim_v: usize) -> bool {
        self != KvType::Q8_0 || (head_dim.is_multiple_of(32) && head_dim_v.is_multiple_of(32))
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
    /// A zeroed buffer of `n` values of type `ty` (the cache's layers, and the session's scratch
    /// for re-laying a ring).
    pub(crate) fn new(ty: KvType, n: usize) -> KvBuf {
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

    /// Backs every page now (see [`commit`]).
    pub(crate) fn commit(&mut self) {
        match self {
            KvBuf::F16(b) => commit(b),
            KvBuf::F32(b) => commit(b),
            KvBuf::Q8_0(b) => commit(b),
        }
    }

    /// Values this buffer holds.
    pub fn len(&self) -> usize {
        match self {
            KvBuf::F16(b) => b.len(),
            KvBuf::F32(b) => b.len(),
            KvBuf::Q8_0(b) => b.len() * 32,
        }
    }

    /// True when the buffer holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `n` values from offset `from` to offset `to` (ranges may overlap; offsets and
    /// `n` multiples of 32 for Q8_0).
    pub fn copy_within(&mut self, from: usize, to: usize, n: usize) {
        match self {
            KvBuf::F16(b) => b.copy_within(from..from + n, to),
            KvBuf::F32(b) => b.copy_within(from..from + n, to),
            KvBuf::Q8_0(b) => b.copy_within(from / 32..(from + n) / 32, to / 32),
        }
    }

    /// Copies `n` values at offset `from` of `src` (of the same type) to offset `to`.
    pub fn copy_from(&mut self, to: usize, src: &KvBuf, from: usize, n: usize) {
        match (self, src) {
            (KvBuf::F16(d), KvBuf::F16(s)) => d[to..to + n].copy_from_slice(&s[from..from + n]),
            (KvBuf::F32(d), KvBuf::F32(s)) => d[to..to + n].copy_from_slice(&s[from..from + n]),
            (KvBuf::Q8_0(d), KvBuf::Q8_0(s)) => {
                d[to / 32..(to + n) / 32].copy_from_slice(&s[from / 32..(from + n) / 32])
            }
            _ => unreachable!("KV buffers of one cache share its type"),
        }
    }

    /// Reads the `out.len()` values at offset `at` as f32.
    pub fn read(&self, at: usize, out: &mut [f32]) {
        let n = out.len();
        match self {
            KvBuf::F16(b) => {
                for (o, &v) in out.iter_mut().zip(&b[at..at + n]) {
                    *o = v.to_f32();
                }
            }
            KvBuf::F32(b) => out.copy_from_slice(&b[at..at + n]),
            KvBuf::Q8_0(b) => q8_0::dequantize_row(&b[at / 32..(at + n) / 32], out),
        }
    }

    /// Rotates the `tmp.len()` values at offset `at` (heads of `head_dim` values) by the RoPE
    /// angles `cos`/`sin` ([`crate::ops::rope_head`]), as llama.cpp's K-shift does: the row
    /// read into `tmp` in f32 (f16 widened, Q8_0 dequantized), rotated, and written back in
    /// the cache's type (rounded to f16, re-quantized). `tmp` is the caller's scratch.
    pub fn rope_rows(
        &mut self,
        at: usize,
        head_dim: usize,
        cos: &[f32],
        sin: &[f32],
        neox: bool,
        tmp: &mut [f32],
    ) {
        self.read(at, tmp);
        tmp.chunks_exact_mut(head_dim)
            .for_each(|h| crate::ops::rope_head(h, cos, sin, neox));
        self.write(at, tmp);
    }

    /// Rounds a query (or attention weights) to the precision llama.cpp multiplies this cache
    /// with: ggml converts the f32 operand of an f16 matmul to f16 (`vec_dot_type`), so with an
    /// f16 cache both the query before `K.q` and the softmax weights before `V.p` are rounded
    /// to f16. Doing the same keeps Gemma 3 within 1e-4 of llama.cpp's log-probabilities.
    pub fn round_operand(&self, x: &mut [f32]) {
        if let KvBuf::F16(_) = self {
            crate::ops::round_to_f16(x);
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

    /// [`dot_ggml`](Self::dot_ggml) of `q` with the four rows at `at`.
    #[inline]
    pub fn dot_ggml_x4(&self, at: [usize; 4], q: &[f32], batch: bool) -> [f32; 4] {
        match self {
            KvBuf::F16(b) => {
                crate::kernels::attn::dot_f16_x4(at.map(|a| &b[a..a + q.len()]), q, batch)
            }
            _ => at.map(|a| self.dot(a, q)),
        }
    }

    /// For an f16 cache in the batch order: [`dot_ggml`](Self::dot_ggml) of the two rows at
    /// `at` with four queries (four heads sharing this KV head), `out[j][h]`, each row block
    /// converted once for the four; `None` for the other cache types, outside a batch, or a
    /// row length that is not a multiple of 8.
    #[inline]
    pub fn dot_ggml_2x4(
        &self,
        at: [usize; 2],
        q: [&[f32]; 4],
        batch: bool,
    ) -> Option<[[f32; 4]; 2]> {
        let n = q[0].len();
        match self {
            KvBuf::F16(b) if batch && n.is_multiple_of(8) => Some(
                crate::kernels::attn::dot_f16_2x4(at.map(|a| &b[a..a + n]), q),
            ),
            _ => None,
        }
    }

    /// [`fma_lanes_all`](Self::fma_lanes_all) for four heads sharing this KV head: weights
    /// `p[h]`, lanes `acc[h]`, each V row converted once for the four. The same bits as four
    /// calls.
    pub fn fma_lanes_all_x4(
        &self,
        first: usize,
        row_at: impl Fn(usize) -> usize,
        p: [&[f32]; 4],
        batch: bool,
        acc: [&mut [f32]; 4],
    ) -> bool {
        let KvBuf::F16(b) = self else {
            return false;
        };
        let n = acc[0].len() / 32;
        let [a0, a1, a2, a3] = acc;
        let mut rows = [(0usize, [0f32; 4]); LANE_CELLS];
        for_lane_cells(first, p[0].len(), batch, |lane, cells| {
            for (r, &i) in rows.iter_mut().zip(cells) {
                *r = (row_at(i), p.map(|p| p[i]));
            }
            let l = lane * n..(lane + 1) * n;
            let acc_l = [
                &mut a0[l.clone()],
                &mut a1[l.clone()],
                &mut a2[l.clone()],
                &mut a3[l],
            ];
            crate::kernels::attn::fma_f16_rows_x4(acc_l, b, &rows[..cells.len()]);
        });
        true
    }

    /// For an f16 cache, `V.p` in the FMA lanes of ggml's kernel: for every visible cell `i`
    /// (KV cell `first + i`, its row of `acc.len() / 32` values at `row_at(i)`, weight `p[i]`),
    /// `acc[lane * n + d] = fma(row[d], p[i], ...)` in the lane [`v_lane`] gives the cell (see
    /// [`reduce_v_lanes`]). Each lane's cells are added in cell order, as the kernel adds them;
    /// a lane's accumulator stays in registers across up to 16 cells. Returns false, doing
    /// nothing, for the cache types without a lane form.
    pub fn fma_lanes_all(
        &self,
        first: usize,
        row_at: impl Fn(usize) -> usize,
        p: &[f32],
        batch: bool,
        acc: &mut [f32],
    ) -> bool {
        let KvBuf::F16(b) = self else {
            return false;
        };
        let n = acc.len() / 32;
        let mut rows = [(0usize, 0f32); LANE_CELLS];
        for_lane_cells(first, p.len(), batch, |lane, cells| {
            for (r, &i) in rows.iter_mut().zip(cells) {
                *r = (row_at(i), p[i]);
            }
            let acc_l = &mut acc[lane * n..(lane + 1) * n];
            crate::kernels::attn::fma_f16_rows(acc_l, b, &rows[..cells.len()]);
        });
        true
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

/// Cells handed to the V kernels at a time: a lane's accumulators stay in registers across
/// them.
const LANE_CELLS: usize = 16;

/// Calls `f(lane, cells)` for every FMA lane of ggml's V kernel ([`v_lane`]) with its visible
/// cells `i` (KV cell `first + i`, `i < len`) in cell order, up to [`LANE_CELLS`] at a time.
fn for_lane_cells(first: usize, len: usize, batch: bool, mut f: impl FnMut(usize, &[usize])) {
    let n_lanes = if batch { 8 } else { 32 };
    let mut cells = [0usize; LANE_CELLS];
    for lane in 0..n_lanes {
        // The first cell i with v_lane(first + i) == lane, then every n_lanes-th.
        let i0 = (lane + n_lanes - first % n_lanes) % n_lanes;
        let mut k = 0;
        for i in (i0..len).step_by(n_lanes) {
            debug_assert_eq!(v_lane(first + i, batch), lane);
            cells[k] = i;
            k += 1;
            if k == LANE_CELLS {
                f(lane, &cells);
                k = 0;
            }
        }
        if k > 0 {
            f(lane, &cells[..k]);
        }
    }
}

/// Reduces the lanes filled by [`KvBuf::fma_lanes_all`] into `out` (one value per 32 lanes), as
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
    /// The lowest position whose entry may still be cached: 0, except after
    /// [`LayerCache::remove`] moved a ring's later entries down onto positions whose own
    /// entries the ring had already overwritten (see there). A ring also drops positions
    /// below `n_past - slots` as it wraps; [`LayerCache::first_held`] accounts for both.
    pub first_pos: usize,
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

    /// The slot of position `first + i` for `i < slots`, without a division per call:
    /// attention asks for every visible cell's slot, per head, and a 64-bit `%` per cell was
    /// a few percent of a long-context decode.
    #[inline]
    pub fn slots_from(&self, first: usize) -> impl Fn(usize) -> usize + Copy {
        let (s0, slots) = (self.slot(first), self.slots);
        move |i| {
            debug_assert!(i < slots);
            let s = s0 + i;
            if s >= slots {
                s - slots
            } else {
                s
            }
        }
    }

    /// The lowest position whose entry this layer holds when `n_past` positions are cached.
    #[inline]
    pub fn first_held(&self, n_past: usize) -> usize {
        self.first_pos.max(n_past.saturating_sub(self.slots))
    }

    /// Removes positions `[keep, keep + discard)` of the `n_past` cached ones: the entries of
    /// the later positions move down by `discard` (into slot `(p - discard) % slots`), the
    /// kept ones stay. Returns the new positions of the moved entries, whose keys the caller
    /// re-rotates. Allocation-free: a ring that has wrapped is re-laid through `scratch`
    /// (at least `slots * max(k_stride, v_stride)` values of this cache's type).
    ///
    /// A ring holds only its last `slots` positions, so an entry it already dropped cannot
    /// come back: when the move brings position `p` down to `p - discard` but the kept
    /// positions just below `keep` were already overwritten, those stay missing, and
    /// `first_pos` records where the held positions start (llama.cpp's sliding-window cache
    /// loses the same entries). Positions at least one window below the next query are never
    /// needed, so this only matters when the kept part is within a window of the end.
    pub fn remove(
        &mut self,
        n_past: usize,
        keep: usize,
        discard: usize,
        scratch: &mut KvBuf,
    ) -> std::ops::Range<usize> {
        debug_assert!(keep + discard <= n_past);
        let lo = self.first_held(n_past);
        let m0 = lo.max(keep + discard);
        self.first_pos = if lo <= keep { lo } else { m0 - discard };
        if discard == 0 || m0 >= n_past {
            return m0 - discard..m0 - discard;
        }
        let moved = n_past - m0;
        let s = self.slots;
        if n_past <= s {
            // Never wrapped: slot == position, one overlapping copy per matrix.
            let (ks, vs) = (self.k_stride, self.v_stride);
            self.k.copy_within(m0 * ks, (m0 - discard) * ks, moved * ks);
            self.v.copy_within(m0 * vs, (m0 - discard) * vs, moved * vs);
        } else {
            for (buf, st) in [(&mut self.k, self.k_stride), (&mut self.v, self.v_stride)] {
                for i in 0..moved {
                    scratch.copy_from(i * st, buf, ((m0 + i) % s) * st, st);
                }
                for i in 0..moved {
                    buf.copy_from(((m0 - discard + i) % s) * st, scratch, i * st, st);
                }
            }
        }
        m0 - discard..n_past - discard
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

    /// Values of the scratch [`LayerCache::remove`] needs: the largest ring's matrix (0 when
    /// no layer is a ring shorter than the context).
    pub fn scratch_len(shapes: &[LayerShape], n_ctx: usize) -> usize {
        shapes
            .iter()
            .filter(|s| s.slots < n_ctx)
            .map(|s| s.slots * s.k_stride.max(s.v_stride))
            .max()
            .unwrap_or(0)
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| l.first_pos = 0);
    }

    /// Allocates the cache. Q8_0 needs per-head sizes that are multiples of 32.
    pub fn new(ty: KvType, shapes: &[LayerShape], head_dims: (usize, usize)) -> Result<KvCache> {
        if !ty.fits_heads(head_dims.0, head_dims.1) {
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
                first_pos: 0,
                k_stride: s.k_stride,
                v_stride: s.v_stride,
            })
            .collect();
        Ok(KvCache { layers, ty })
    }
}
