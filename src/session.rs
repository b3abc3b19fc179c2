//! A session: one conversation's KV cache and every scratch buffer, allocated once in
//! [`Session::new`]; and the forward pass, which reads top to bottom in
//! [`Session::forward_batch`].
//!
//! The forward pass takes a batch of up to [`MAX_BATCH`] consecutive tokens (decode is a batch
//! of one). Every weight matrix is streamed once per batch: its rows are split over the
//! threads, and each 64-row tile is multiplied with every token's activations while it is in
//! cache (the batched prefill of the speed work). After `new`, evaluating tokens allocates
//! nothing: all buffers below are sized from the model's dimensions, the context length and
//! the batch size.

use crate::kernels::{self, AlignedBuf};
use crate::kv_cache::{commit, KvBuf, KvCache, KvType, LayerShape};
use crate::model::{Arch, Model, RopeStyle, Weight};
use crate::ops;
use crate::quant::{DotOrder, GgmlType};
use crate::threadpool::ThreadPool;
use crate::{Error, Result};

/// Tokens per forward pass during prefill. 64 rather than 32: the per-batch work (unpacking
/// Q5_0 tiles, dispatching the threads) is spread over twice the tokens, 5 % less CPU time for
/// a 512-token prefill of Gemma 3 270M; the tiles' activations (64 x 2 KiB for the widest
/// matrix) still fit in L2.
pub const MAX_BATCH: usize = 64;
/// Tokens whose logits are computed in one pass of the output matrix (perplexity).
pub const LOGITS_BATCH: usize = 8;
/// Rows of a weight tile multiplied with every token of a batch while in cache (64: 16 and 32
/// were 4-5 % slower at 1 thread with the AVX-VNNI tiles, whose per-tile preparation 64 rows
/// share; a 64-row tile of 2048 values is about 140-170 KB, well inside L2).
const TILE_ROWS: usize = 64;

/// How a session is set up.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Context length in tokens; 0 means min(n_ctx_train, 4096).
    pub n_ctx: usize,
    /// Storage type of the KV cache.
    pub kv_type: KvType,
    /// Threads for the matrix products; 0 means the number of available cores.
    pub n_threads: usize,
    /// Testing aid: give sliding-window layers a full-length cache instead of a ring, so a
    /// test can check the ring against a cache that never wraps.
    #[doc(hidden)]
    pub full_swa_cache: bool,
    /// Memory budget in bytes for the whole process running this session (0 = no limit):
    /// [`Session::new`] refuses, naming the figures, when the [`crate::MemoryEstimate`] of
    /// the model and this configuration exceeds it.
    pub max_memory: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            n_ctx: 0,
            kv_type: KvType::F16,
            n_threads: 0,
            full_swa_cache: false,
            max_memory: 0,
        }
    }
}

/// The default context length when none is asked for.
pub const DEFAULT_CTX: usize = 4096;

/// Scratch buffers of the forward pass; `B` = [`MAX_BATCH`], one row per token of the batch.
struct Scratch {
    /// Residual stream `[B][n_embd]`.
    x: Vec<f32>,
    /// Normalized input of a sub-layer `[B][n_embd]`.
    xb: Vec<f32>,
    /// q, k and v of each token: `[B][q_dim + k_dim + v_dim]`.
    qkv: Vec<f32>,
    /// Attention output, all heads `[B][n_head * head_dim_v]`.
    att: Vec<f32>,
    /// Attention scores of one token's head over the visible positions, one row per pool
    /// thread `[n_threads][max slots]`.
    scores: Vec<f32>,
    /// FMA lanes of one token's attention output for one head, one row per pool thread
    /// `[n_threads][head_dim_v * 32]` (see [`crate::kv_cache::reduce_v_lanes`]).
    vacc: Vec<f32>,
    /// Sub-layer output before the residual add `[B][n_embd]`.
    out: Vec<f32>,
    /// FFN gate and up projections `[B][n_ff]`.
    hb: Vec<f32>,
    hb2: Vec<f32>,
    /// Quantized activations, one row per token at a fixed stride.
    act: AlignedBuf,
    /// Weight tiles unpacked or repacked once per batch (Q5_0 -> Q8_0, Q4_K for AVX-VNNI;
    /// see `kernels::Kernels::matmul_tile`), one region of `unpacked_per_chunk` bytes per pool
    /// thread.
    unpacked: AlignedBuf,
    unpacked_per_chunk: usize,
    act_stride: usize,
    /// RoPE angles of each token's position `[B][n_rot/2]`: full-attention and sliding layers.
    cos: Vec<f32>,
    sin: Vec<f32>,
    cos_swa: Vec<f32>,
    sin_swa: Vec<f32>,
    /// Logits `[rows][n_vocab]`, one row (`LOGITS_BATCH` once `eval_scored` scores several
    /// tokens per pass); row 0 holds the last token's after `prefill`.
    logits: Vec<f32>,
}

/// One conversation with a model: KV cache, scratch, position.
pub struct Session<'m> {
    model: &'m Model,
    n_ctx: usize,
    n_past: usize,
    kv: KvCache,
    s: Scratch,
    /// Whether `s.logits` row 0 holds the logits of the last token evaluated.
    has_logits: bool,
    pool: ThreadPool,
    /// [`Session::shift`]'s scratch: one ring matrix of the cache's type, and one cached key
    /// row in f32.
    shift_buf: KvBuf,
    rot_tmp: Vec<f32>,
}

/// The length of every buffer a session allocates besides the KV cache, in one place for
/// [`Session::new`] and the memory estimate ([`Session::scratch_bytes`]).
struct ScratchSizes {
    x: usize,
    qkv: usize,
    att: usize,
    scores: usize,
    vacc: usize,
    hb: usize,
    act_stride: usize,
    act_bytes: usize,
    unpacked: usize,
    unpacked_per_chunk: usize,
    rope: usize,
    logits: usize,
    /// [`Session::shift`]'s scratch: values of the cache type, and f32s.
    shift_buf: usize,
    rot_tmp: usize,
}

impl ScratchSizes {
    fn new(
        hp: &crate::model::HParams,
        shapes: &[LayerShape],
        n_ctx: usize,
        n_threads: usize,
    ) -> Self {
        let b = MAX_BATCH;
        let q_dim = hp.n_head * hp.head_dim;
        let kv_dim = hp.n_head_kv * (hp.head_dim + hp.head_dim_v);
        let att_dim = hp.n_head * hp.head_dim_v;
        let widest = hp.n_embd.max(hp.n_ff).max(att_dim);
        // The widest activation row in any partner format: f32 is the largest (4 bytes per
        // value), rounded up to 8 so every row starts aligned.
        let act_stride = (4 * widest).div_ceil(8) * 8;
        let max_slots = shapes.iter().map(|s| s.slots).max().unwrap_or(1);
        let heads = if attn_quads(hp.n_head / hp.n_head_kv.max(1)) {
            4
        } else {
            1
        };
        // Bytes per thread, a multiple of 8 so that every region is 8-byte aligned.
        let unpacked_per_chunk = kernels::tile_scratch_bytes(TILE_ROWS, widest).div_ceil(8) * 8;
        ScratchSizes {
            x: b * hp.n_embd,
            qkv: b * (q_dim + kv_dim),
            att: b * att_dim.max(q_dim),
            // Per thread: the attention pass gives each thread one row of each.
            // Four heads' when they share KV heads in fours (see the attention pass).
            scores: n_threads * max_slots * heads,
            vacc: n_threads * hp.head_dim_v * 32 * heads,
            hb: b * hp.n_ff,
            act_stride,
            act_bytes: b * act_stride,
            unpacked: n_threads * unpacked_per_chunk,
            unpacked_per_chunk,
            rope: b * (hp.n_rot / 2),
            // One row: decoding and prefill need the last token's logits only. Scoring
            // several tokens per pass (`eval_scored`, perplexity) grows it once to
            // LOGITS_BATCH rows (8 MiB for a 262k vocabulary, kept out of every session).
            logits: hp.n_vocab,
            shift_buf: KvCache::scratch_len(shapes, n_ctx),
            rot_tmp: hp.n_head_kv * hp.head_dim,
        }
    }

    /// Bytes of every buffer: x, xb and out (n_embd); qkv, att, scores, vacc, hb and hb2;
    /// four RoPE tables, the logits and the shift's f32 row (all f32); the activation and
    /// unpacked-tile buffers; the shift's ring scratch in the cache type.
    fn bytes(&self, kv_type: KvType) -> usize {
        let f32s = 3 * self.x
            + self.qkv
            + self.att
            + self.scores
            + self.vacc
            + 2 * self.hb
            + 4 * self.rope
            + self.logits
            + self.rot_tmp;
        4 * f32s
            + self.act_bytes.div_ceil(8) * 8
            + self.unpacked
            + kv_type.bytes_for(self.shift_buf)
    }
}

/// Whether attention takes a KV head's `group` query heads four at a time (see the attention
/// pass): when they come in fours, or when there are three or more (a last unit of fewer
/// computes copies of its last head: for three heads one copy is cheaper than converting each
/// K and V row twice more; for two, two copies would cost about what they save).
fn attn_quads(group: usize) -> bool {
    group.is_multiple_of(4) || group >= 3
}

/// A raw pointer that may be shared with the pool's threads, which write disjoint parts.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: only used to give threads disjoint sub-ranges of one exclusively borrowed buffer.
unsafe impl Sync for SharedMut {}
unsafe impl Send for SharedMut {}

/// [`SharedMut`] for the unpacked weight tiles.
#[derive(Clone, Copy)]
struct SharedBlocks(*mut u8);
// SAFETY: as for `SharedMut`: disjoint regions of one exclusively borrowed buffer.
unsafe impl Sync for SharedBlocks {}
unsafe impl Send for SharedBlocks {}

impl SharedBlocks {
    fn at(&self, offset: usize) -> *mut u8 {
        self.0.wrapping_add(offset)
    }
}

impl SharedMut {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper, not the field).
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

impl<'m> Session<'m> {
    /// Allocates the KV cache and scratch for `cfg.n_ctx` tokens.
    pub fn new(model: &'m Model, cfg: &SessionConfig) -> Result<Session<'m>> {
        let hp = &model.hp;
        // Built once per process, here rather than at the first GELU of a decode.
        ops::gelu_table();
        // The estimate resolves (and checks) the context length and thread count.
        let estimate = crate::MemoryEstimate::for_model(model, cfg)?;
        let (n_ctx, n_threads) = (estimate.n_ctx, estimate.n_threads);
        if cfg.max_memory > 0 {
            estimate.check(cfg.max_memory)?;
        } else {
            estimate.check_available()?;
        }
        let pool = ThreadPool::new(n_threads).map_err(|e| {
            Error::InvalidArgument(format!("cannot start {n_threads} threads: {e}"))
        })?;
        let shapes = Self::shapes_for(hp, n_ctx, cfg.full_swa_cache);
        let mut kv = KvCache::new(cfg.kv_type, &shapes, (hp.head_dim, hp.head_dim_v))?;
        let z = ScratchSizes::new(hp, &shapes, n_ctx, n_threads);
        let mut s = Scratch {
            x: vec![0.0; z.x],
            xb: vec![0.0; z.x],
            qkv: vec![0.0; z.qkv],
            att: vec![0.0; z.att],
            scores: vec![0.0; z.scores],
            vacc: vec![0.0; z.vacc],
            out: vec![0.0; z.x],
            hb: vec![0.0; z.hb],
            hb2: vec![0.0; z.hb],
            act: AlignedBuf::new(z.act_bytes),
            unpacked: AlignedBuf::new(z.unpacked),
            unpacked_per_chunk: z.unpacked_per_chunk,
            act_stride: z.act_stride,
            cos: vec![0.0; z.rope],
            sin: vec![0.0; z.rope],
            cos_swa: vec![0.0; z.rope],
            sin_swa: vec![0.0; z.rope],
            logits: vec![0.0; z.logits],
        };
        let mut shift_buf = KvBuf::new(cfg.kv_type, z.shift_buf);
        let mut rot_tmp = vec![0.0; z.rot_tmp];
        for l in &mut kv.layers {
            l.k.commit();
            l.v.commit();
        }
        shift_buf.commit();
        for v in [
            &mut s.x,
            &mut s.xb,
            &mut s.qkv,
            &mut s.att,
            &mut s.scores,
            &mut s.vacc,
            &mut s.out,
            &mut s.hb,
            &mut s.hb2,
            &mut s.cos,
            &mut s.sin,
            &mut s.cos_swa,
            &mut s.sin_swa,
            &mut s.logits,
            &mut rot_tmp,
        ] {
            commit(v);
        }
        commit(s.act.bytes_mut(z.act_bytes));
        commit(s.unpacked.bytes_mut(z.unpacked));
        Ok(Session {
            model,
            n_ctx,
            n_past: 0,
            kv,
            s,
            has_logits: false,
            pool,
            shift_buf,
            rot_tmp,
        })
    }

    /// The thread count `n` (0 = one per core) stands for, checked.
    pub(crate) fn resolve_threads(n: usize) -> Result<usize> {
        match n {
            0 => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
            n if n > 256 => Err(Error::InvalidArgument(format!(
                "{n} threads requested (at most 256)"
            ))),
            n => Ok(n),
        }
    }

    /// The context length `cfg` asks for (0 = min(training context, 4096)), checked.
    pub(crate) fn resolve_ctx(hp: &crate::model::HParams, n_ctx: usize) -> Result<usize> {
        let n_ctx = if n_ctx == 0 {
            hp.n_ctx_train.min(DEFAULT_CTX)
        } else {
            n_ctx
        };
        if n_ctx > 1 << 24 {
            return Err(Error::InvalidArgument(format!(
                "context length {n_ctx} is too large"
            )));
        }
        if hp.arch == Arch::Gpt2 && n_ctx > hp.n_ctx_train {
            return Err(Error::InvalidArgument(format!(
                "context length {n_ctx} exceeds GPT-2's {} learned positions",
                hp.n_ctx_train
            )));
        }
        Ok(n_ctx)
    }

    /// Bytes of every buffer [`Session::new`] allocates besides the KV cache, for a model
    /// with hyperparameters `hp`, cache shapes `shapes` ([`Self::shapes_for`]), a context of
    /// `n_ctx` (resolved) and `n_threads` threads.
    pub(crate) fn scratch_bytes(
        hp: &crate::model::HParams,
        shapes: &[LayerShape],
        n_ctx: usize,
        n_threads: usize,
        kv_type: KvType,
    ) -> usize {
        ScratchSizes::new(hp, shapes, n_ctx, n_threads).bytes(kv_type)
    }

    /// The cache shape of every layer for a context of `n_ctx`: sliding-window layers keep
    /// only their window plus room for one batch (a ring), full layers every position.
    pub fn layer_shapes(model: &Model, n_ctx: usize) -> Vec<LayerShape> {
        Self::shapes_for(&model.hp, n_ctx, false)
    }

    /// [`Self::layer_shapes`] from the hyperparameters alone; `full_swa` gives the
    /// sliding-window layers a full-length cache too ([`SessionConfig::full_swa_cache`]).
    pub fn shapes_for(hp: &crate::model::HParams, n_ctx: usize, full_swa: bool) -> Vec<LayerShape> {
        (0..hp.n_layer)
            .map(|il| LayerShape {
                slots: if hp.swa_layers[il] && !full_swa {
                    n_ctx.min(hp.sliding_window + MAX_BATCH - 1)
                } else {
                    n_ctx
                },
                k_stride: hp.n_head_kv * hp.head_dim,
                v_stride: hp.n_head_kv * hp.head_dim_v,
            })
            .collect()
    }

    /// The model this session runs.
    pub fn model(&self) -> &'m Model {
        self.model
    }
    /// Context length in tokens.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    /// Tokens evaluated so far (the position of the next token).
    pub fn n_past(&self) -> usize {
        self.n_past
    }
    /// Threads used for the matrix products.
    pub fn n_threads(&self) -> usize {
        self.pool.n_threads()
    }
    /// Forgets the conversation (the cache is overwritten as new tokens come).
    pub fn reset(&mut self) {
        self.n_past = 0;
        self.has_logits = false;
        self.kv.clear();
    }

    /// Removes positions `[n_keep, n_keep + n_discard)` from the conversation, as llama.cpp's
    /// `llama_memory_seq_rm` followed by `llama_memory_seq_add(.., -n_discard)`: the cached
    /// keys and values of the later positions move down by `n_discard`, and each moved key is
    /// rotated by RoPE through `-n_discard` (llama.cpp's K-shift: a rotation by the position
    /// delta, in f32, rounded back to the cache type), so the next token goes to position
    /// `n_past - n_discard` and sees the kept and moved tokens at their new positions.
    /// Sliding-window rings are re-laid so position `p` is again in slot `p % slots`.
    ///
    /// Any `n_keep` and `n_discard` with `n_keep + n_discard <= n_past` are allowed (`ferrite
    /// run --context-shift` keeps the prompt's first tokens and drops the oldest half of the
    /// rest; a chat drops its oldest turns; discarding up to `n_past` forgets the tail).
    /// Allocates nothing (the scratch is sized in [`Session::new`]). `logits()` keeps the
    /// logits computed before the shift.
    ///
    /// What a shift cannot do: the moved entries were computed while the discarded tokens
    /// were visible, so the continuation is close to, not the same as, a fresh evaluation of
    /// the kept tokens (as in llama.cpp); a sliding-window ring cannot bring back kept
    /// positions it had already overwritten ([`crate::kv_cache::LayerCache::remove`]); and a
    /// model with learned absolute positions (GPT-2) keeps them in its cached values.
    pub fn shift(&mut self, n_keep: usize, n_discard: usize) -> Result<()> {
        let n_past = self.n_past;
        if !matches!(n_keep.checked_add(n_discard), Some(end) if end <= n_past) {
            return Err(Error::InvalidArgument(format!(
                "cannot remove {n_discard} positions from position {n_keep}: {n_past} are cached"
            )));
        }
        if n_discard == 0 {
            return Ok(());
        }
        let hp = &self.model.hp;
        let half = hp.n_rot / 2;
        let rope = hp.rope_style != RopeStyle::None;
        let neox = hp.rope_style == RopeStyle::Neox;
        let s = &mut self.s;
        if rope {
            // The angles of position -n_discard: those of n_discard with the sines negated.
            rope_tables(self.model, n_discard, s, 0);
            s.sin[..half].iter_mut().for_each(|v| *v = -*v);
            s.sin_swa[..half].iter_mut().for_each(|v| *v = -*v);
        }
        for (il, lc) in self.kv.layers.iter_mut().enumerate() {
            let moved = lc.remove(n_past, n_keep, n_discard, &mut self.shift_buf);
            if !rope {
                continue;
            }
            let (c, sn) = if hp.swa_layers[il] {
                (&s.cos_swa[..half], &s.sin_swa[..half])
            } else {
                (&s.cos[..half], &s.sin[..half])
            };
            for p in moved {
                let at = lc.slot(p) * lc.k_stride;
                lc.k.rope_rows(at, hp.head_dim, c, sn, neox, &mut self.rot_tmp);
            }
        }
        self.n_past -= n_discard;
        Ok(())
    }

    /// Testing aid: the cached key (`value` false) or value row of position `pos` in layer
    /// `layer` as f32 (`out` holds `n_head_kv * head_dim` values); false when the cache does
    /// not hold that position.
    #[doc(hidden)]
    pub fn cached_row(&self, layer: usize, pos: usize, value: bool, out: &mut [f32]) -> bool {
        let lc = &self.kv.layers[layer];
        if pos >= self.n_past || pos < lc.first_held(self.n_past) {
            return false;
        }
        let (buf, st) = if value {
            (&lc.v, lc.v_stride)
        } else {
            (&lc.k, lc.k_stride)
        };
        buf.read(lc.slot(pos) * st, &mut out[..st]);
        true
    }
    /// Whether [`rewind`](Self::rewind) to `n` tokens is possible: always on full caches; a
    /// sliding-window ring keeps only `MAX_BATCH - 1` positions beyond its window, so it can go
    /// back that far and no further (older positions were overwritten).
    pub fn can_rewind(&self, n: usize) -> bool {
        n <= self.n_past
            && self.kv.layers.iter().all(|l| {
                // What a rewind must not need is an entry the ring has overwritten. Positions
                // a shift dropped (below `first_pos`) are missing whether or not we rewind,
                // and attention skips them either way, so they do not limit it.
                let oldest_kept = self.n_past.saturating_sub(l.slots);
                let window = if l.slots < self.n_ctx {
                    self.model.hp.sliding_window
                } else {
                    self.n_ctx
                };
                n.saturating_sub(window) >= oldest_kept
            })
    }

    /// Forgets the tokens after the first `n` (the chat REPL takes back the tail of a turn
    /// that the template renders differently). Positions `n..` are overwritten by the next
    /// tokens. Fails without changing anything when [`can_rewind`](Self::can_rewind) is false;
    /// then [`reset`](Self::reset) and prefill again.
    pub fn rewind(&mut self, n: usize) -> Result<()> {
        if !self.can_rewind(n) {
            return Err(Error::InvalidArgument(format!(
                "cannot rewind from {} to {n} tokens: the sliding-window cache no longer holds them",
                self.n_past
            )));
        }
        if n < self.n_past {
            self.n_past = n;
            self.has_logits = false;
        }
        Ok(())
    }

    /// The KV cache storage type.
    pub fn kv_type(&self) -> KvType {
        self.kv.ty
    }

    /// Logits of the last evaluated token.
    pub fn logits(&self) -> Option<&[f32]> {
        self.has_logits
            .then_some(&self.s.logits[..self.model.hp.n_vocab])
    }

    fn check(&self, tokens: &[u32]) -> Result<()> {
        let needed = self.n_past + tokens.len();
        if needed > self.n_ctx {
            return Err(Error::ContextFull {
                needed,
                capacity: self.n_ctx,
            });
        }
        let n_vocab = self.model.hp.n_vocab;
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(Error::InvalidArgument(format!(
                "token id {t} is out of range (vocabulary has {n_vocab} tokens)"
            )));
        }
        Ok(())
    }

    /// Evaluates `tokens` (appending them to the conversation) in batches and returns the
    /// logits of the last one. Fails without changing anything when they do not fit.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument("no tokens to evaluate".into()));
        }
        self.check(tokens)?;
        let n = tokens.len();
        for (i, batch) in tokens.chunks(MAX_BATCH).enumerate() {
            let last = (i + 1) * MAX_BATCH >= n;
            let logits_from = if last { batch.len() - 1 } else { batch.len() };
            self.forward_batch(batch, logits_from, (i * MAX_BATCH, n), (0, 1));
        }
        self.has_logits = true;
        Ok(&self.s.logits[..self.model.hp.n_vocab])
    }

    /// Evaluates tokens without computing logits (perplexity's unscored half, chat history).
    pub fn prefill_no_logits(&mut self, tokens: &[u32]) -> Result<()> {
        self.eval_scored(tokens, tokens.len(), |_, _| {})
    }

    /// Evaluates `tokens` and calls `f(i, logits_i)` with the logits after each of them (the
    /// output matrix is streamed once per [`LOGITS_BATCH`] tokens).
    pub fn eval_all_logits(&mut self, tokens: &[u32], f: impl FnMut(usize, &[f32])) -> Result<()> {
        self.eval_scored(tokens, 0, f)
    }

    /// Evaluates `tokens` as one call and calls `f(i, logits)` with the logits after each token
    /// `i >= first`, as `llama-perplexity` evaluates a chunk whose second half it scores:
    /// llama.cpp picks its kernels by the size of the whole call and of its output rows, and
    /// doing the same here gives its perplexity to the last digit.
    pub fn eval_scored(
        &mut self,
        tokens: &[u32],
        first: usize,
        mut f: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        self.check(tokens)?;
        let n = tokens.len();
        let first = first.min(n);
        let n_out = n - first;
        for (i, batch) in tokens[..first].chunks(MAX_BATCH).enumerate() {
            self.forward_batch(batch, batch.len(), (i * MAX_BATCH, n), (0, n_out));
        }
        let nv = self.model.hp.n_vocab;
        if n_out > 1 && self.s.logits.len() < LOGITS_BATCH * nv {
            // The one allocation after `new`, on the first multi-token scoring call.
            self.s.logits.resize(LOGITS_BATCH * nv, 0.0);
        }
        for (bi, batch) in tokens[first..].chunks(LOGITS_BATCH).enumerate() {
            let off = bi * LOGITS_BATCH;
            self.forward_batch(batch, 0, (first + off, n), (off, n_out));
            for i in 0..batch.len() {
                f(first + off + i, &self.s.logits[i * nv..(i + 1) * nv]);
            }
        }
        // Keep `logits()` meaningful: the last token's row moves to row 0.
        if n_out > 0 {
            let last = (n_out - 1) % LOGITS_BATCH;
            self.s.logits.copy_within(last * nv..(last + 1) * nv, 0);
        }
        self.has_logits = n_out > 0;
        Ok(())
    }

    /// Evaluates one token and returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<&[f32]> {
        self.prefill(std::slice::from_ref(&token))
    }

    /// `out[b] = w . x[b] (+ bias)` for the `n` tokens of the batch: `x` holds `n` rows of
    /// `w.cols` values, `out` receives `n` rows of `w.rows`. Each token's row is quantized for
    /// the weight's format once; then the weight's rows are split over the threads, and each
    /// 64-row tile is multiplied with every token while it is in cache.
    #[allow(clippy::too_many_arguments)]
    fn linear(
        model: &Model,
        pool: &mut ThreadPool,
        scratch: (&mut AlignedBuf, usize, &mut AlignedBuf, usize),
        n: usize,
        out: &mut [f32],
        w: &Weight,
        x: &[f32],
        b: Option<&Vec<f32>>,
        pos_of: &(dyn Fn(usize) -> (usize, usize) + Sync),
    ) {
        let (act, act_stride, unpacked, per_chunk) = scratch;
        let (rows, cols) = (w.rows, w.cols);
        // ggml does not repack the token embedding, also when it doubles as the output.
        let repackable = w.offset != model.tok_embd.offset;
        let order_of = |t: usize| dot_order(w.ty, rows, pos_of(t), repackable);
        let aty: GgmlType = w.ty.vec_dot_type();
        let arb = aty
            .row_bytes(cols)
            .expect("row length checked at load against the activation block");
        // The table's quantizers (SIMD where the CPU has them) give the same bytes as ggml's
        // x86 ones (`quant::quantize_activation_x86`).
        // One token per pool chunk.
        let table = kernels::Kernels::get();
        assert!(
            arb <= act_stride && x.len() >= n * cols,
            "activation rows fit their slots"
        );
        let act_rows = SharedBlocks(act.bytes_mut(n * act_stride).as_mut_ptr());
        pool.run(n, &|t| {
            // SAFETY: chunk t writes only token t's row (`arb <= act_stride` bytes at
            // t * act_stride, inside the n * act_stride bytes taken above); `act` is
            // exclusively borrowed while the pool runs.
            let dst = unsafe { std::slice::from_raw_parts_mut(act_rows.at(t * act_stride), arb) };
            table
                .quantize_activation(aty, &x[t * cols..(t + 1) * cols], dst)
                .expect("activation buffer sized at session creation");
        });
        let acts = act.bytes(n * act_stride);
        let data = w.data(&model.file);
        let rb = w.row_bytes;
        // Chunks of about equal numbers of rows (multiples of eight: the AVX-VNNI Q4_K tiles
        // take eight rows at a time), a few per thread so that
        // a slow thread does not hold the others up; each chunk goes through its rows
        // `TILE_ROWS` at a time. A decode product of a small matrix (a layer's, under 4 MiB)
        // takes one chunk per thread: each chunk prepares the activation again and starts
        // its prefetch stream cold, which for these costs more than the balance gains (Gemma
        // tg128 at 2 threads on the Zen 4 EPYC, alternated: the layers' products 1041-1093 ->
        // 908-977 ms, 113-116 -> 117-124 tok/s; 1 thread unchanged). The output matrix
        // keeps four per thread.
        let per_thread = if n == 1 && rows * w.row_bytes < (4 << 20) {
            1
        } else {
            4
        };
        let n_chunks = rows
            .div_ceil(TILE_ROWS)
            .min(pool.n_threads() * per_thread)
            .max(1);
        let chunk_start = |c: usize| {
            if c >= n_chunks {
                rows
            } else {
                (rows * c / n_chunks) & !7
            }
        };
        // Each thread gets its own region of the unpacking scratch (see `Kernels::matmul_tile`).
        let tile_scratch = if unpacked.len() >= pool.n_threads() * per_chunk {
            per_chunk
        } else {
            0
        };
        let tiles = SharedBlocks(
            unpacked
                .bytes_mut(pool.n_threads() * tile_scratch)
                .as_mut_ptr(),
        );
        let dst = SharedMut(out.as_mut_ptr());
        let out_len = out.len();
        assert!(out_len >= n * rows, "output buffer holds the batch");
        pool.run_on(n_chunks, &|c, thread| {
            let (mut r0, r_end) = (chunk_start(c), chunk_start(c + 1));
            // SAFETY: the calls on one thread never overlap, so `thread` owns region `thread`
            // of `unpacked` (n_threads regions exist: `tile_scratch`), and `unpacked` is
            // exclusively borrowed while the pool runs.
            let scratch = unsafe {
                std::slice::from_raw_parts_mut(tiles.at(thread * per_chunk), tile_scratch)
            };
            while r0 < r_end {
                // A batch goes through tiles of TILE_ROWS rows (the tile's weights stay in
                // cache for all its tokens); one token through the whole chunk at once (a
                // matrix-vector product prepares its activation once per call: per 64-row
                // tile that was 4096 preparations for Gemma's output matrix, ~1 % of decode).
                let r1 = if n == 1 {
                    r_end
                } else {
                    (r0 + TILE_ROWS).min(r_end)
                };
                // SAFETY: chunk c writes rows [r0, r1) of every token: out[t*rows + r0 ..
                // t*rows + r1), inside `out` (asserted above) and disjoint from every other
                // chunk's rows; `out` is exclusively borrowed while the pool runs.
                unsafe {
                    table.matmul_tile(
                        dst.at(r0),
                        rows,
                        w.ty,
                        &data[r0 * rb..r1 * rb],
                        r1 - r0,
                        acts,
                        act_stride,
                        arb,
                        n,
                        &order_of,
                        scratch,
                    )
                };
                r0 = r1;
            }
        });
        if let Some(b) = b {
            for t in 0..n {
                ops::add(&mut out[t * rows..(t + 1) * rows], b);
            }
        }
    }

    /// The forward pass for `tokens` (at most [`MAX_BATCH`]) at positions `n_past..`, with
    /// logits for the tokens from index `logits_from` on (at most [`LOGITS_BATCH`] of them;
    /// `tokens.len()` for none). Checked by the caller: the positions are inside the context
    /// and the tokens inside the vocabulary.
    ///
    /// `call` is where these tokens sit in the call that evaluates them (the index of
    /// `tokens[0]` among the call's tokens, and their number): llama.cpp evaluates a call in
    /// slices of [`UBATCH`] tokens and picks its matmul kernels, whose float orders differ, by
    /// the slice size; we follow the same choice (see [`dot_order`]). `out_call` is the same
    /// for the output rows (the tokens whose logits the call computes): the index of this
    /// pass's first output row among them, and their number.
    fn forward_batch(
        &mut self,
        tokens: &[u32],
        logits_from: usize,
        call: (usize, usize),
        out_call: (usize, usize),
    ) {
        let m = self.model;
        let hp = &m.hp;
        let n = tokens.len();
        let pos0 = self.n_past;
        let s = &mut self.s;
        let pool = &mut self.pool;
        let st = s.act_stride;
        let upc = s.unpacked_per_chunk;
        let (e, hd, hdv) = (hp.n_embd, hp.head_dim, hp.head_dim_v);
        let (n_head, n_kv) = (hp.n_head, hp.n_head_kv);
        let q_dim = n_head * hd;
        let k_dim = n_kv * hd;
        let v_dim = n_kv * hdv;
        let qkv_dim = q_dim + k_dim + v_dim;
        let att_dim = n_head * hdv;
        let group = n_head / n_kv;
        let half_rot = hp.n_rot / 2;
        let pos_in = |t: usize| ubatch_pos(call.0 + t, call.1);
        let norm = |dst: &mut [f32], src: &[f32], w: &[f32], b: Option<&Vec<f32>>| match b {
            Some(b) => ops::layernorm_into(dst, src, w, b, hp.norm_eps),
            None => ops::rmsnorm_into(dst, src, w, hp.norm_eps),
        };

        // Token embeddings (dequantized from the mapping), scaled for Gemma, plus GPT-2's
        // learned position embeddings; RoPE angles of each position.
        for (t, &tok) in tokens.iter().enumerate() {
            let x = &mut s.x[t * e..(t + 1) * e];
            let row = m.tok_embd.row(&m.file, tok as usize);
            crate::quant::dequantize_row(m.tok_embd.ty, row, x).expect("embedding row");
            if hp.arch == Arch::Gemma3 {
                ops::scale(x, (e as f32).sqrt());
            }
            if let Some(pe) = &m.pos_embd {
                let xb = &mut s.xb[..e];
                crate::quant::dequantize_row(pe.ty, pe.row(&m.file, pos0 + t), xb)
                    .expect("position row");
                ops::add(x, xb);
            }
            if hp.rope_style != RopeStyle::None {
                rope_tables(m, pos0 + t, s, t);
            }
        }

        // After the last layer's attention only the tokens whose logits are wanted go on
        // (llama.cpp's output rows): the last FFN and the output matrix see those alone.
        let n_out = n - logits_from.min(n);
        debug_assert!(n_out <= LOGITS_BATCH);
        let out_pos = |i: usize| (out_call.0 + i, out_call.1);
        let n_layer = m.layers.len();
        for (il, layer) in m.layers.iter().enumerate() {
            let swa = hp.swa_layers[il];
            // ---- attention: norm, q/k/v projections ----
            per_token(pool, n, e, &mut s.xb, &mut s.x, &|xb, x| {
                norm(xb, x, &layer.attn_norm, layer.attn_norm_b.as_ref())
            });
            if let Some(w) = &layer.wqkv {
                let b = layer.bqkv.as_ref();
                Self::linear(
                    m,
                    pool,
                    (&mut s.act, st, &mut s.unpacked, upc),
                    n,
                    &mut s.qkv,
                    w,
                    &s.xb,
                    b,
                    &pos_in,
                );
            } else {
                // Separate projections write into scratch rows, then interleave per token.
                let projections = [
                    (layer.wq.as_ref().expect("wq"), layer.bq.as_ref(), 0, q_dim),
                    (
                        layer.wk.as_ref().expect("wk"),
                        layer.bk.as_ref(),
                        q_dim,
                        k_dim,
                    ),
                    (
                        layer.wv.as_ref().expect("wv"),
                        layer.bv.as_ref(),
                        q_dim + k_dim,
                        v_dim,
                    ),
                ];
                for (w, b, off, dim) in projections {
                    Self::linear(
                        m,
                        pool,
                        (&mut s.act, st, &mut s.unpacked, upc),
                        n,
                        &mut s.att,
                        w,
                        &s.xb,
                        b,
                        &pos_in,
                    );
                    for t in 0..n {
                        s.qkv[t * qkv_dim + off..t * qkv_dim + off + dim]
                            .copy_from_slice(&s.att[t * dim..(t + 1) * dim]);
                    }
                }
            }

            // ---- per token: q/k norms, RoPE (token rows split over the threads), then k
            // and v stored in the cache ----
            let lc = &self.kv.layers[il];
            let (cos, sin) = if swa {
                (&s.cos_swa, &s.sin_swa)
            } else {
                (&s.cos, &s.sin)
            };
            per_row(pool, n, qkv_dim, &mut s.qkv, &|t, row| {
                let (q, kv) = row.split_at_mut(q_dim);
                let k = &mut kv[..k_dim];
                if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                    q.chunks_exact_mut(hd)
                        .for_each(|h| ops::rmsnorm(h, qn, hp.norm_eps));
                    k.chunks_exact_mut(hd)
                        .for_each(|h| ops::rmsnorm(h, kn, hp.norm_eps));
                }
                if hp.rope_style != RopeStyle::None {
                    let neox = hp.rope_style == RopeStyle::Neox;
                    let r = t * half_rot..(t + 1) * half_rot;
                    let (c, sn) = (&cos[r.clone()], &sin[r]);
                    q.chunks_exact_mut(hd)
                        .for_each(|h| ops::rope_head(h, c, sn, neox));
                    k.chunks_exact_mut(hd)
                        .for_each(|h| ops::rope_head(h, c, sn, neox));
                }
                // Where the attention scale goes matters with an f16 cache, since the query
                // is rounded to f16 after it: llama.cpp's Gemma 3 graph scales the query
                // (ggml_scale, then kq_scale 1); the others scale the scores in the softmax.
                if hp.arch == Arch::Gemma3 {
                    ops::scale(q, hp.attn_scale);
                }
                lc.k.round_operand(q);
            });
            let lc = &mut self.kv.layers[il];
            for t in 0..n {
                let kv = &s.qkv[t * qkv_dim + q_dim..(t + 1) * qkv_dim];
                let (k, v) = kv.split_at(k_dim);
                let slot = lc.slot(pos0 + t);
                lc.k.write(slot * lc.k_stride, k);
                lc.v.write(slot * lc.v_stride, v);
            }
            let kq_scale = if hp.arch == Arch::Gemma3 {
                1.0
            } else {
                hp.attn_scale
            };

            // ---- causal attention: token t at position p sees [p - window + 1, p] ----
            // One chunk per token and head unit, run on any thread; the scores and V-lane
            // scratch are the running thread's own. A unit is one head, or with `quads` up to
            // four heads of one KV head (each K and V row converted once for them; a group
            // that is not a multiple of four ends in a unit of fewer, its missing heads
            // computed as copies of its last and dropped: Qwen2.5's seven heads a KV head go
            // as four and three). Every head's result is computed alone, so it does not depend
            // on the split. (Per token only, a decoded token's attention ran on one thread
            // while the others waited: a Qwen2.5-0.5B-shaped model at 2048 tokens of context
            // decoded slower with two threads than llama.cpp.)
            // Per thread: the scores and V lanes of one unit (sized in `ScratchSizes::new`).
            let quads = attn_quads(group);
            let (width, per_kv) = if quads {
                (4, group.div_ceil(4))
            } else {
                (1, group)
            };
            let units = n_kv * per_kv;
            let max_slots = s.scores.len() / pool.n_threads();
            let vlen = s.vacc.len() / pool.n_threads();
            let vlen1 = hdv * 32;
            assert!(!quads || vlen >= 4 * vlen1, "V lanes for four heads");
            let (qkv, att, scores, vacc) = (
                &s.qkv,
                SharedMut(s.att.as_mut_ptr()),
                SharedMut(s.scores.as_mut_ptr()),
                SharedMut(s.vacc.as_mut_ptr()),
            );
            let lc = &self.kv.layers[il];
            pool.run_on(n * units, &|chunk, c| {
                let (t, u) = (chunk / units, chunk % units);
                // This chunk's heads: unit `u % per_kv` of KV head `u / per_kv`.
                let h_lo = u / per_kv * group + u % per_kv * width;
                let heads = h_lo..(h_lo + width).min((u / per_kv + 1) * group);
                let pos = pos0 + t;
                // Positions a shift took out of a ring (`first_pos`, 0 otherwise) are gone.
                let first = if swa {
                    (pos + 1).saturating_sub(hp.sliding_window)
                } else {
                    0
                }
                .max(lc.first_pos);
                let n_vis = pos + 1 - first;
                // The slot of visible cell i (n_vis <= slots).
                let slot_of = lc.slots_from(first);
                // llama.cpp multiplies the cache with a matmul kernel chosen by batch size.
                let batch = pos_in(t).1 > 1;
                // SAFETY: the chunk writes only its heads' part of token t's row of `att`
                // (disjoint per (t, u), inside a buffer sized for MAX_BATCH tokens) and thread
                // c's rows of `scores` and `vacc` (c < n_threads, buffers sized for n_threads; a
                // thread runs one chunk at a time); the buffers are exclusively borrowed by this
                // pass while the pool runs. `out_u` is indexed by head less `heads.start`.
                let (out_u, sc_all, acc_all) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(
                            att.at(t * att_dim + heads.start * hdv),
                            heads.len() * hdv,
                        ),
                        std::slice::from_raw_parts_mut(scores.at(c * max_slots), max_slots),
                        std::slice::from_raw_parts_mut(vacc.at(c * vlen), vlen),
                    )
                };
                let q = &qkv[t * qkv_dim..t * qkv_dim + q_dim];
                // The scores' softmax (the KV cell of position p is p in llama.cpp's cache) and
                // their rounding to the V cache's operand precision.
                let normalize = |sc: &mut [f32]| {
                    ops::softmax_cells(sc, first);
                    lc.v.round_operand(sc);
                };
                // One head's output: V is accumulated in the FMA lanes of ggml's kernel, then
                // reduced as it reduces them (`lanes_used`); cache types without a lane form
                // use a plain sum of the rows weighted by `p`.
                let finish =
                    |lanes_used: bool, acc: &[f32], p: &[f32], kvh: usize, o: &mut [f32]| {
                        if lanes_used {
                            crate::kv_cache::reduce_v_lanes(acc, batch, o);
                        } else {
                            o.fill(0.0);
                            for (i, &w) in p.iter().enumerate() {
                                let sl = slot_of(i);
                                lc.v.axpy(sl * lc.v_stride + kvh * hdv, w, o);
                            }
                        }
                    };
                if quads {
                    // The unit's heads (up to four of one KV head) at once, each K and V row
                    // converted once for them; the same operations per head as the loop below.
                    // Past the unit's last head its query is used again and the results are
                    // not stored.
                    let (sc4, acc4) = (&mut sc_all[..4 * n_vis], &mut acc_all[..4 * vlen1]);
                    let h0 = heads.start;
                    let kvh = h0 / group;
                    let qs: [&[f32]; 4] = std::array::from_fn(|j| {
                        let h = (h0 + j).min(heads.end - 1);
                        &q[h * hd..(h + 1) * hd]
                    });
                    let at = |i: usize| slot_of(i) * lc.k_stride + kvh * hd;
                    let mut it = sc4.chunks_exact_mut(n_vis);
                    let mut sc: [&mut [f32]; 4] =
                        std::array::from_fn(|_| it.next().expect("four score rows"));
                    let mut i = 0;
                    while i < n_vis {
                        let two = (i + 2 <= n_vis)
                            .then(|| lc.k.dot_ggml_2x4([at(i), at(i + 1)], qs, batch))
                            .flatten();
                        match two {
                            Some(d) => {
                                for (j, dj) in d.into_iter().enumerate() {
                                    for (h, x) in dj.into_iter().enumerate() {
                                        sc[h][i + j] = x * kq_scale;
                                    }
                                }
                                i += 2;
                            }
                            None => {
                                for h in 0..4 {
                                    sc[h][i] = lc.k.dot_ggml(at(i), qs[h], batch) * kq_scale;
                                }
                                i += 1;
                            }
                        }
                    }
                    sc.iter_mut().for_each(|s| normalize(s));
                    acc4.fill(0.0);
                    let row_at = |i: usize| slot_of(i) * lc.v_stride + kvh * hdv;
                    let p: [&[f32]; 4] = std::array::from_fn(|h| &*sc[h]);
                    let mut accs = acc4.chunks_exact_mut(vlen1);
                    let accs: [&mut [f32]; 4] =
                        std::array::from_fn(|_| accs.next().expect("four accumulators"));
                    let lanes_used = lc.v.fma_lanes_all_x4(first, row_at, p, batch, accs);
                    for (h, o) in out_u.chunks_exact_mut(hdv).enumerate() {
                        let acc = &acc4[h * vlen1..(h + 1) * vlen1];
                        finish(lanes_used, acc, p[h], kvh, o);
                    }
                    return;
                }
                let (sc, acc) = (&mut sc_all[..n_vis], &mut acc_all[..vlen1]);
                for h in heads.clone() {
                    let kvh = h / group;
                    let qh = &q[h * hd..(h + 1) * hd];
                    let at = |i: usize| slot_of(i) * lc.k_stride + kvh * hd;
                    // Four cells at a time: four independent FMA chains (the same bits).
                    let whole = sc.len() / 4 * 4;
                    for i in (0..whole).step_by(4) {
                        let d =
                            lc.k.dot_ggml_x4([at(i), at(i + 1), at(i + 2), at(i + 3)], qh, batch);
                        for (v, d) in sc[i..i + 4].iter_mut().zip(d) {
                            *v = d * kq_scale;
                        }
                    }
                    for (i, v) in sc.iter_mut().enumerate().skip(whole) {
                        *v = lc.k.dot_ggml(at(i), qh, batch) * kq_scale;
                    }
                    normalize(sc);
                    acc.fill(0.0);
                    let row_at = |i: usize| slot_of(i) * lc.v_stride + kvh * hdv;
                    let lanes_used = lc.v.fma_lanes_all(first, row_at, sc, batch, acc);
                    let o = &mut out_u[(h - heads.start) * hdv..][..hdv];
                    finish(lanes_used, acc, sc, kvh, o);
                }
            });

            // ---- output projection, (Gemma) post-norm, residual ----
            let bo = layer.bo.as_ref();
            Self::linear(
                m,
                pool,
                (&mut s.act, st, &mut s.unpacked, upc),
                n,
                &mut s.out,
                &layer.wo,
                &s.att,
                bo,
                &pos_in,
            );
            per_token(pool, n, e, &mut s.out, &mut s.x, &|out, x| {
                if let Some(pn) = &layer.post_attn_norm {
                    ops::rmsnorm(out, pn, hp.norm_eps);
                }
                ops::add(x, out);
            });

            // ---- feed-forward (the last layer: only the output rows, moved to the front) ----
            let (nt, ffn_pos): (usize, &(dyn Fn(usize) -> (usize, usize) + Sync)) =
                if il + 1 == n_layer {
                    if n_out == 0 {
                        break;
                    }
                    s.x.copy_within(logits_from * e..n * e, 0);
                    (n_out, &out_pos)
                } else {
                    (n, &pos_in)
                };
            per_token(pool, nt, e, &mut s.xb, &mut s.x, &|xb, x| {
                norm(xb, x, &layer.ffn_norm, layer.ffn_norm_b.as_ref())
            });
            let nf = hp.n_ff;
            let (up, up_b) = (&layer.ffn_up, layer.ffn_up_b.as_ref());
            if let Some(gate) = &layer.ffn_gate {
                Self::linear(
                    m,
                    pool,
                    (&mut s.act, st, &mut s.unpacked, upc),
                    nt,
                    &mut s.hb,
                    gate,
                    &s.xb,
                    None,
                    ffn_pos,
                );
                Self::linear(
                    m,
                    pool,
                    (&mut s.act, st, &mut s.unpacked, upc),
                    nt,
                    &mut s.hb2,
                    up,
                    &s.xb,
                    up_b,
                    ffn_pos,
                );
                // The activation, token rows split over the threads (element-wise: the same
                // values on any thread).
                let gelu = hp.arch == Arch::Gemma3;
                per_token(pool, nt, nf, &mut s.hb, &mut s.hb2, &|g, u| {
                    if gelu {
                        ops::geglu(g, u);
                    } else {
                        ops::swiglu(g, u);
                    }
                });
            } else {
                Self::linear(
                    m,
                    pool,
                    (&mut s.act, st, &mut s.unpacked, upc),
                    nt,
                    &mut s.hb,
                    up,
                    &s.xb,
                    up_b,
                    ffn_pos,
                );
                s.hb[..nt * nf].iter_mut().for_each(|v| *v = ops::gelu(*v));
            }
            let (down, down_b) = (&layer.ffn_down, layer.ffn_down_b.as_ref());
            Self::linear(
                m,
                pool,
                (&mut s.act, st, &mut s.unpacked, upc),
                nt,
                &mut s.out,
                down,
                &s.hb,
                down_b,
                ffn_pos,
            );
            per_token(pool, nt, e, &mut s.out, &mut s.x, &|out, x| {
                if let Some(pn) = &layer.post_ffn_norm {
                    ops::rmsnorm(out, pn, hp.norm_eps);
                }
                ops::add(x, out);
            });
        }
        self.n_past += n;
        if n_out == 0 {
            return;
        }

        // ---- final norm and logits of the output rows (now rows 0..n_out of x) ----
        for i in 0..n_out {
            let r = i * e..(i + 1) * e;
            norm(
                &mut s.xb[r.clone()],
                &s.x[r],
                &m.output_norm,
                m.output_norm_b.as_ref(),
            );
        }
        let out = &m.output;
        Self::linear(
            m,
            pool,
            (&mut s.act, st, &mut s.unpacked, upc),
            n_out,
            &mut s.logits,
            out,
            &s.xb,
            None,
            &out_pos,
        );
        if hp.final_logit_softcap > 0.0 {
            // ggml_scale by 1/c, tanh, ggml_scale by c.
            let (c, inv) = (hp.final_logit_softcap, 1.0 / hp.final_logit_softcap);
            s.logits[..n_out * hp.n_vocab]
                .iter_mut()
                .for_each(|v| *v = (*v * inv).tanh() * c);
        }
    }
}

/// llama.cpp's default physical batch (`n_ubatch`): it evaluates a longer prompt in slices of
/// this many tokens, and the slice size is what picks its matmul kernels.
const UBATCH: usize = 512;

/// Token `i` of `n` evaluated together: its index in llama.cpp's slice of [`UBATCH`] tokens
/// and the slice's length.
fn ubatch_pos(i: usize, n: usize) -> (usize, usize) {
    let start = i / UBATCH * UBATCH;
    (i - start, (n - start).min(UBATCH))
}

/// `f(t, a_t)` for the token rows `t < n` of `a` (`stride` values each), the rows split over
/// the pool's threads: for the per-token steps between the matrix products, which give the
/// same values on any thread.
fn per_row(
    pool: &mut ThreadPool,
    n: usize,
    stride: usize,
    a: &mut [f32],
    f: &(dyn Fn(usize, &mut [f32]) + Sync),
) {
    assert!(a.len() >= n * stride);
    let pa = SharedMut(a.as_mut_ptr());
    pool.run(n, &|t| {
        // SAFETY: chunk t takes row t of `a` (inside it, asserted above; `a` is exclusively
        // borrowed), disjoint from every other chunk's row.
        f(t, unsafe {
            std::slice::from_raw_parts_mut(pa.at(t * stride), stride)
        });
    });
}

/// [`per_row`] over the rows of two buffers at once: `f(a_t, b_t)` (norms, residual adds,
/// the gated activation).
fn per_token(
    pool: &mut ThreadPool,
    n: usize,
    stride: usize,
    a: &mut [f32],
    b: &mut [f32],
    f: &(dyn Fn(&mut [f32], &mut [f32]) + Sync),
) {
    assert!(b.len() >= n * stride);
    let pb = SharedMut(b.as_mut_ptr());
    per_row(pool, n, stride, a, &|t, ra| {
        // SAFETY: as in `per_row`, for `b` (a distinct exclusive borrow, asserted long enough).
        f(ra, unsafe {
            std::slice::from_raw_parts_mut(pb.at(t * stride), stride)
        });
    });
}

/// The kernel llama.cpp (x86, AVX2) multiplies a weight of type `ty` with `rows` rows by, for a
/// batch of `n_batch` tokens. ggml repacks Q4_0, IQ4_NL and Q4_K weights with a multiple of 8
/// rows (`repack.cpp`; not the token embedding, which also serves as a tied output) and uses
/// its own GEMV/GEMM on them for every batch size; the other K-quants and IQ4_XS go through
/// the tiled matmul from 8 tokens on; F32, F16 and BF16 batches through llamafile's
/// `tinyBLAS` (which needs a multiple of 4 rows); the rest through `vec_dot` (`tinyBLAS`
/// also takes Q8_0/Q4_0/Q5_0 batches, but adds in the order of `vec_dot`).
///
/// For F32 (`ggml-cpu/ggml-cpu.c`, `ggml_compute_forward_mul_mat`): with a contiguous F32
/// `src1` the first `llamafile_sgemm` call is made for every batch; `llamafile/sgemm.cpp`'s
/// `llamafile_sgemm` refuses `n < 2` tokens, and on AVX2 its `case GGML_TYPE_F32` runs
/// `tinyBLAS<8, __m256, __m256, float, float, float>`, whose `matmul` takes a multiple of 4
/// rows (and a row length that is a multiple of 8, which `DotOrder::Llamafile`'s kernels
/// check themselves, falling back to `vec_dot` as llama.cpp does).
///
/// `i_batch` is the token's index in its batch: the repacked GEMM takes the tokens four at a
/// time and leaves the last `n_batch % 4` to the GEMV.
fn dot_order(
    ty: GgmlType,
    rows: usize,
    (i_batch, n_batch): (usize, usize),
    repackable: bool,
) -> DotOrder {
    use GgmlType::*;
    if repackable && rows.is_multiple_of(8) && matches!(ty, Q4_0 | IQ4_NL | Q4_K) {
        if i_batch < n_batch / 4 * 4 {
            DotOrder::RepackedGemm
        } else {
            DotOrder::RepackedGemv
        }
    } else if n_batch >= 8 && matches!(ty, Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS) {
        DotOrder::Tiled
    } else if n_batch >= 2 && rows.is_multiple_of(4) && matches!(ty, F32 | F16 | BF16) {
        DotOrder::Llamafile
    } else {
        DotOrder::VecDot
    }
}

/// The RoPE angles of position `pos` into row `r` of the scratch's tables: those of the
/// full-attention layers (with the model's frequency factors, Llama 3.1 style, if it has
/// them) and those of the sliding-window layers (their own base, no scaling). The forward
/// pass and the K-shift both take their angles from here.
fn rope_tables(m: &Model, pos: usize, s: &mut Scratch, r: usize) {
    let hp = &m.hp;
    let half = hp.n_rot / 2;
    let rows = r * half..(r + 1) * half;
    let (c, sn) = (&mut s.cos[rows.clone()], &mut s.sin[rows.clone()]);
    match &m.rope_freqs {
        Some(ff) => rope_with_factors(pos, hp, ff, c, sn),
        None => ops::rope_angles(pos, hp.n_rot, hp.rope_base, hp.rope_freq_scale, c, sn),
    }
    let (c, sn) = (&mut s.cos_swa[rows.clone()], &mut s.sin_swa[rows]);
    ops::rope_angles(pos, hp.n_rot, hp.rope_base_swa, 1.0, c, sn);
}

/// RoPE angles with per-dimension frequency factors (ggml divides theta by the factor).
fn rope_with_factors(
    pos: usize,
    hp: &crate::model::HParams,
    factors: &[f32],
    cos: &mut [f32],
    sin: &mut [f32],
) {
    let theta_scale = hp.rope_base.powf(-2.0 / hp.n_rot as f32);
    let mut theta = pos as f32;
    for i in 0..cos.len() {
        let t = hp.rope_freq_scale * theta / factors[i];
        cos[i] = t.cos();
        sin[i] = t.sin();
        theta *= theta_scale;
    }
}
