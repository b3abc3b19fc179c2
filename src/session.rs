//! A session: one conversation's KV cache and every scratch buffer, allocated once in
//! [`Session::new`]; and the forward pass, which reads top to bottom in [`Session::forward`].
//!
//! After `new`, evaluating a token allocates nothing: all buffers below are sized from the
//! model's dimensions and the context length.

use crate::kernels::{self, AlignedBuf};
use crate::kv_cache::{KvCache, KvType, LayerShape};
use crate::model::{Arch, Model, RopeStyle, Weight};
use crate::ops;
use crate::quant::{DotOrder, GgmlType};
use crate::{Error, Result};

/// How a session is set up.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Context length in tokens; 0 means min(n_ctx_train, 4096).
    pub n_ctx: usize,
    /// Storage type of the KV cache.
    pub kv_type: KvType,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            n_ctx: 0,
            kv_type: KvType::F16,
        }
    }
}

/// The default context length when none is asked for.
pub const DEFAULT_CTX: usize = 4096;

/// Scratch buffers of the forward pass (shapes in the comments).
struct Scratch {
    /// Residual stream `[n_embd]`.
    x: Vec<f32>,
    /// Normalized input of a sub-layer `[n_embd]`.
    xb: Vec<f32>,
    /// q, k and v of the current token, in that order `[q_dim + k_dim + v_dim]`.
    qkv: Vec<f32>,
    /// Attention output, all heads `[n_head * head_dim_v]`.
    att: Vec<f32>,
    /// Attention scores of one head over the visible positions `[max slots]`.
    scores: Vec<f32>,
    /// FMA lanes of the attention output of one head `[head_dim_v * 32]` (see
    /// [`crate::kv_cache::reduce_v_lanes`]).
    vacc: Vec<f32>,
    /// Sub-layer output before the residual add `[n_embd]`.
    out: Vec<f32>,
    /// FFN hidden (gate) and up projections `[n_ff]`.
    hb: Vec<f32>,
    hb2: Vec<f32>,
    /// Quantized activations for the current matvec.
    act: AlignedBuf,
    /// RoPE angles for the current position: full-attention and sliding-window layers.
    cos: Vec<f32>,
    sin: Vec<f32>,
    cos_swa: Vec<f32>,
    sin_swa: Vec<f32>,
    /// Logits of the last evaluated token `[n_vocab]`.
    logits: Vec<f32>,
}

/// One conversation with a model: KV cache, scratch, position.
pub struct Session<'m> {
    model: &'m Model,
    n_ctx: usize,
    n_past: usize,
    kv: KvCache,
    s: Scratch,
    /// Whether `s.logits` holds the logits of the last token evaluated.
    has_logits: bool,
}

impl<'m> Session<'m> {
    /// Allocates the KV cache and scratch for `cfg.n_ctx` tokens.
    pub fn new(model: &'m Model, cfg: &SessionConfig) -> Result<Session<'m>> {
        let hp = &model.hp;
        let n_ctx = if cfg.n_ctx == 0 {
            hp.n_ctx_train.min(DEFAULT_CTX)
        } else {
            cfg.n_ctx
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
        let shapes = Self::layer_shapes(model, n_ctx);
        let kv = KvCache::new(cfg.kv_type, &shapes, (hp.head_dim, hp.head_dim_v))?;
        let q_dim = hp.n_head * hp.head_dim;
        let kv_dim = hp.n_head_kv * (hp.head_dim + hp.head_dim_v);
        let att_dim = hp.n_head * hp.head_dim_v;
        let widest = hp.n_embd.max(hp.n_ff).max(att_dim);
        let half_rot = hp.n_rot / 2;
        let s = Scratch {
            x: vec![0.0; hp.n_embd],
            xb: vec![0.0; hp.n_embd],
            qkv: vec![0.0; q_dim + kv_dim],
            att: vec![0.0; att_dim],
            scores: vec![0.0; shapes.iter().map(|s| s.slots).max().unwrap_or(1)],
            vacc: vec![0.0; hp.head_dim_v * 32],
            out: vec![0.0; hp.n_embd],
            hb: vec![0.0; hp.n_ff],
            hb2: vec![0.0; hp.n_ff],
            act: AlignedBuf::new(4 * widest),
            cos: vec![0.0; half_rot],
            sin: vec![0.0; half_rot],
            cos_swa: vec![0.0; half_rot],
            sin_swa: vec![0.0; half_rot],
            logits: vec![0.0; hp.n_vocab],
        };
        Ok(Session {
            model,
            n_ctx,
            n_past: 0,
            kv,
            s,
            has_logits: false,
        })
    }

    /// The cache shape of every layer for a context of `n_ctx`: sliding-window layers keep
    /// only their window.
    pub fn layer_shapes(model: &Model, n_ctx: usize) -> Vec<LayerShape> {
        let hp = &model.hp;
        (0..hp.n_layer)
            .map(|il| LayerShape {
                slots: if hp.swa_layers[il] {
                    n_ctx.min(hp.sliding_window)
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
    /// Forgets the conversation (the cache is overwritten as new tokens come).
    pub fn reset(&mut self) {
        self.n_past = 0;
        self.has_logits = false;
    }
    /// The KV cache storage type.
    pub fn kv_type(&self) -> KvType {
        self.kv.ty
    }

    /// Logits of the last evaluated token.
    pub fn logits(&self) -> Option<&[f32]> {
        self.has_logits.then_some(&self.s.logits[..])
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

    /// Evaluates `tokens` (appending them to the conversation) and returns the logits of the
    /// last one. Fails without changing anything when they do not fit in the context.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        self.check(tokens)?;
        if tokens.is_empty() {
            return Err(Error::InvalidArgument("no tokens to evaluate".into()));
        }
        for (i, &t) in tokens.iter().enumerate() {
            self.forward(t, i + 1 == tokens.len(), ubatch_pos(i, tokens.len()));
        }
        Ok(&self.s.logits)
    }

    /// Evaluates tokens without computing logits (perplexity's unscored half, chat history).
    pub fn prefill_no_logits(&mut self, tokens: &[u32]) -> Result<()> {
        self.check(tokens)?;
        for (i, &t) in tokens.iter().enumerate() {
            self.forward(t, false, ubatch_pos(i, tokens.len()));
        }
        Ok(())
    }

    /// Evaluates one token and returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<&[f32]> {
        self.prefill(std::slice::from_ref(&token))
    }

    /// `out = w . x` (+ bias), quantizing `x` for the weight's format. `batch_pos` is the
    /// token's index in its batch and the batch size (see [`Self::forward`]).
    fn linear(
        model: &Model,
        act: &mut AlignedBuf,
        out: &mut [f32],
        w: &Weight,
        x: &[f32],
        b: Option<&Vec<f32>>,
        batch_pos: (usize, usize),
    ) {
        let a = kernels::quantize_for(w.ty, x, act);
        // ggml does not repack the token embedding, also when it doubles as the output.
        let repackable = w.offset != model.tok_embd.offset;
        let order = dot_order(w.ty, out.len(), batch_pos, repackable);
        kernels::matvec_order(out, w.ty, w.data(&model.file), a, order);
        if let Some(b) = b {
            ops::add(out, b);
        }
    }

    /// The forward pass for one token at position `n_past`. Checked by the caller: the
    /// position is inside the context and the token inside the vocabulary.
    ///
    /// `batch_pos` is the token's index among the tokens evaluated together with it and their
    /// number (the prompt's length; 1 for a decoded token). llama.cpp runs different kernels in the two cases (for a batch
    /// llamafile's `tinyBLAS` and ggml's tiled K-quant matmul, for one token `vec_dot`), whose
    /// f32 sums are ordered differently; we follow whichever llama.cpp would use, as the
    /// small differences grow into visible ones through the 8-bit activation quantization
    /// (see [`crate::quant::lanes`]).
    fn forward(&mut self, token: u32, want_logits: bool, batch_pos: (usize, usize)) {
        let batch = batch_pos.1 > 1;
        // The logits are computed for this token alone (llama.cpp's output rows).
        let out_pos = if want_logits { (0, 1) } else { batch_pos };
        let m = self.model;
        let hp = &m.hp;
        let pos = self.n_past;
        let s = &mut self.s;
        let (e, hd, hdv) = (hp.n_embd, hp.head_dim, hp.head_dim_v);
        let (n_head, n_kv) = (hp.n_head, hp.n_head_kv);
        let q_dim = n_head * hd;
        let k_dim = n_kv * hd;
        let group = n_head / n_kv;

        // Token embedding (dequantized from the mapping), scaled for Gemma, plus GPT-2's
        // learned position embedding.
        let row = m.tok_embd.row(&m.file, token as usize);
        crate::quant::dequantize_row(m.tok_embd.ty, row, &mut s.x).expect("embedding row");
        if hp.arch == Arch::Gemma3 {
            ops::scale(&mut s.x, (e as f32).sqrt());
        }
        if let Some(pe) = &m.pos_embd {
            crate::quant::dequantize_row(pe.ty, pe.row(&m.file, pos), &mut s.xb)
                .expect("position row");
            ops::add(&mut s.x, &s.xb);
        }

        // RoPE angles of this position, for both kinds of layer.
        if hp.rope_style != RopeStyle::None {
            match &m.rope_freqs {
                // Llama 3.1 style: theta_i / factor_i.
                Some(ff) => rope_with_factors(
                    pos,
                    hp.n_rot,
                    hp.rope_base,
                    hp.rope_freq_scale,
                    ff,
                    &mut s.cos,
                    &mut s.sin,
                ),
                None => ops::rope_angles(
                    pos,
                    hp.n_rot,
                    hp.rope_base,
                    hp.rope_freq_scale,
                    &mut s.cos,
                    &mut s.sin,
                ),
            }
            ops::rope_angles(
                pos,
                hp.n_rot,
                hp.rope_base_swa,
                1.0,
                &mut s.cos_swa,
                &mut s.sin_swa,
            );
        }

        for (il, layer) in m.layers.iter().enumerate() {
            let swa = hp.swa_layers[il];
            // ---- attention ----
            match &layer.attn_norm_b {
                Some(b) => ops::layernorm_into(&mut s.xb, &s.x, &layer.attn_norm, b, hp.norm_eps),
                None => ops::rmsnorm_into(&mut s.xb, &s.x, &layer.attn_norm, hp.norm_eps),
            }
            {
                let (q, kv) = s.qkv.split_at_mut(q_dim);
                let (k, v) = kv.split_at_mut(k_dim);
                if let Some(w) = &layer.wqkv {
                    Self::linear(
                        m,
                        &mut s.act,
                        &mut s.qkv,
                        w,
                        &s.xb,
                        layer.bqkv.as_ref(),
                        batch_pos,
                    );
                } else {
                    let (wq, wk, wv) = (layer.wq.as_ref(), layer.wk.as_ref(), layer.wv.as_ref());
                    let (wq, wk, wv) = (wq.expect("wq"), wk.expect("wk"), wv.expect("wv"));
                    Self::linear(m, &mut s.act, q, wq, &s.xb, layer.bq.as_ref(), batch_pos);
                    Self::linear(m, &mut s.act, k, wk, &s.xb, layer.bk.as_ref(), batch_pos);
                    Self::linear(m, &mut s.act, v, wv, &s.xb, layer.bv.as_ref(), batch_pos);
                }
            }
            let (q, kv) = s.qkv.split_at_mut(q_dim);
            let (k, v) = kv.split_at_mut(k_dim);
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                q.chunks_exact_mut(hd)
                    .for_each(|h| ops::rmsnorm(h, qn, hp.norm_eps));
                k.chunks_exact_mut(hd)
                    .for_each(|h| ops::rmsnorm(h, kn, hp.norm_eps));
            }
            if hp.rope_style != RopeStyle::None {
                let neox = hp.rope_style == RopeStyle::Neox;
                let (c, sn) = if swa {
                    (&s.cos_swa, &s.sin_swa)
                } else {
                    (&s.cos, &s.sin)
                };
                q.chunks_exact_mut(hd)
                    .for_each(|h| ops::rope_head(h, c, sn, neox));
                k.chunks_exact_mut(hd)
                    .for_each(|h| ops::rope_head(h, c, sn, neox));
            }

            // Store k and v at this position's slot, then attend over the visible positions.
            let lc = &mut self.kv.layers[il];
            let slot = lc.slot(pos);
            lc.k.write(slot * lc.k_stride, k);
            lc.v.write(slot * lc.v_stride, v);
            let first = if swa {
                (pos + 1).saturating_sub(hp.sliding_window)
            } else {
                0
            };
            let n_vis = pos + 1 - first;
            // Where the attention scale goes matters with an f16 cache, since the query is
            // rounded to f16 after it: llama.cpp's Gemma 3 graph scales the query (ggml_scale,
            // then kq_scale 1), the other architectures scale the scores in the softmax.
            let kq_scale = if hp.arch == Arch::Gemma3 {
                ops::scale(q, hp.attn_scale);
                1.0
            } else {
                hp.attn_scale
            };
            lc.k.round_operand(q);
            for h in 0..n_head {
                let kvh = h / group;
                let qh = &q[h * hd..(h + 1) * hd];
                let scores = &mut s.scores[..n_vis];
                for (i, sc) in scores.iter_mut().enumerate() {
                    let sl = lc.slot(first + i);
                    *sc = lc.k.dot_ggml(sl * lc.k_stride + kvh * hd, qh, batch) * kq_scale;
                }
                // The KV cell of position p is p in llama.cpp's cache (a single sequence,
                // shorter than its sliding window's ring).
                ops::softmax_cells(scores, first);
                lc.v.round_operand(scores);
                let out = &mut s.att[h * hdv..(h + 1) * hdv];
                s.vacc.fill(0.0);
                let mut lanes_used = true;
                for (i, &p) in scores.iter().enumerate() {
                    let sl = lc.slot(first + i);
                    let lane = crate::kv_cache::v_lane(first + i, batch);
                    lanes_used &=
                        lc.v.fma_lanes(sl * lc.v_stride + kvh * hdv, p, lane, &mut s.vacc);
                }
                if lanes_used {
                    crate::kv_cache::reduce_v_lanes(&s.vacc, batch, out);
                } else {
                    out.fill(0.0);
                    for (i, &p) in scores.iter().enumerate() {
                        let sl = lc.slot(first + i);
                        lc.v.axpy(sl * lc.v_stride + kvh * hdv, p, out);
                    }
                }
            }
            Self::linear(
                m,
                &mut s.act,
                &mut s.out,
                &layer.wo,
                &s.att,
                layer.bo.as_ref(),
                batch_pos,
            );
            if let Some(pn) = &layer.post_attn_norm {
                ops::rmsnorm(&mut s.out, pn, hp.norm_eps);
            }
            ops::add(&mut s.x, &s.out);

            // ---- feed-forward ----
            // llama.cpp keeps only the rows whose logits are wanted after the last layer's
            // attention (get_rows on inp_out_ids), so from there on it multiplies one token.
            let ffn_pos = if il + 1 == m.layers.len() {
                out_pos
            } else {
                batch_pos
            };
            match &layer.ffn_norm_b {
                Some(b) => ops::layernorm_into(&mut s.xb, &s.x, &layer.ffn_norm, b, hp.norm_eps),
                None => ops::rmsnorm_into(&mut s.xb, &s.x, &layer.ffn_norm, hp.norm_eps),
            }
            if let Some(gate) = &layer.ffn_gate {
                Self::linear(m, &mut s.act, &mut s.hb, gate, &s.xb, None, ffn_pos);
                Self::linear(
                    m,
                    &mut s.act,
                    &mut s.hb2,
                    &layer.ffn_up,
                    &s.xb,
                    layer.ffn_up_b.as_ref(),
                    ffn_pos,
                );
                if hp.arch == Arch::Gemma3 {
                    ops::gated(&mut s.hb, &s.hb2, ops::gelu);
                } else {
                    ops::swiglu(&mut s.hb, &s.hb2);
                }
            } else {
                Self::linear(
                    m,
                    &mut s.act,
                    &mut s.hb,
                    &layer.ffn_up,
                    &s.xb,
                    layer.ffn_up_b.as_ref(),
                    ffn_pos,
                );
                s.hb.iter_mut().for_each(|v| *v = ops::gelu(*v));
            }
            Self::linear(
                m,
                &mut s.act,
                &mut s.out,
                &layer.ffn_down,
                &s.hb,
                layer.ffn_down_b.as_ref(),
                ffn_pos,
            );
            if let Some(pn) = &layer.post_ffn_norm {
                ops::rmsnorm(&mut s.out, pn, hp.norm_eps);
            }
            ops::add(&mut s.x, &s.out);
        }

        self.n_past += 1;
        self.has_logits = want_logits;
        if !want_logits {
            return;
        }
        match &m.output_norm_b {
            Some(b) => ops::layernorm_into(&mut s.xb, &s.x, &m.output_norm, b, hp.norm_eps),
            None => ops::rmsnorm_into(&mut s.xb, &s.x, &m.output_norm, hp.norm_eps),
        }
        Self::linear(
            m,
            &mut s.act,
            &mut s.logits,
            &m.output,
            &s.xb,
            None,
            out_pos,
        );
        if hp.final_logit_softcap > 0.0 {
            let c = hp.final_logit_softcap;
            // ggml_scale by 1/c, tanh, ggml_scale by c.
            let inv = 1.0 / c;
            s.logits.iter_mut().for_each(|v| *v = (*v * inv).tanh() * c);
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

/// The kernel llama.cpp (x86, AVX2) multiplies a weight of type `ty` with `rows` rows by, for a
/// batch of `n_batch` tokens. ggml repacks Q4_0, IQ4_NL and Q4_K weights with a multiple of 8
/// rows (`repack.cpp`; not the token embedding, which also serves as a tied output) and uses
/// its own GEMV/GEMM on them for every batch size; the other K-quants and IQ4_XS go through
/// the tiled matmul from 8 tokens on; F16 and BF16 batches through llamafile's `tinyBLAS`
/// (which needs a multiple of 4 rows); the rest through `vec_dot` (`tinyBLAS` also takes
/// Q8_0/Q4_0/Q5_0 batches, but adds in the order of `vec_dot`).
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
    if repackable && rows % 8 == 0 && matches!(ty, Q4_0 | IQ4_NL | Q4_K) {
        if i_batch < n_batch / 4 * 4 {
            DotOrder::RepackedGemm
        } else {
            DotOrder::RepackedGemv
        }
    } else if n_batch >= 8 && matches!(ty, Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS) {
        DotOrder::Tiled
    } else if n_batch >= 2 && rows % 4 == 0 && matches!(ty, F16 | BF16) {
        DotOrder::Llamafile
    } else {
        DotOrder::VecDot
    }
}

/// RoPE angles with per-dimension frequency factors (ggml divides theta by the factor).
fn rope_with_factors(
    pos: usize,
    n_rot: usize,
    base: f32,
    freq_scale: f32,
    factors: &[f32],
    cos: &mut [f32],
    sin: &mut [f32],
) {
    let theta_scale = base.powf(-2.0 / n_rot as f32);
    let mut theta = pos as f32;
    for i in 0..cos.len() {
        let t = freq_scale * theta / factors[i];
        cos[i] = t.cos();
        sin[i] = t.sin();
        theta *= theta_scale;
    }
}
