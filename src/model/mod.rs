//! Models: hyperparameters, weights borrowed from the mapping, and the forward pass
//! (in [`crate::session`]).
//!
//! A [`Model`] owns the mapped file and, for each weight, where its bytes are; it is read-only
//! after loading and can be shared by any number of sessions on any number of threads.

pub mod hparams;

use std::path::Path;

pub use hparams::{Arch, HParams, RopeStyle};

use crate::gguf::{GgufFile, TensorInfo};
use crate::quant::GgmlType;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};

/// A 2-D weight matrix in the mapping: `rows` rows of `cols` values of type `ty`.
#[derive(Clone, Copy, Debug)]
pub struct Weight {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// Absolute offset of the data in the file.
    pub offset: usize,
    pub row_bytes: usize,
}

impl Weight {
    /// The weight's bytes in `file` (the file it was loaded from).
    #[inline]
    pub fn data<'a>(&self, file: &'a GgufFile) -> &'a [u8] {
        file.range(self.offset, self.rows * self.row_bytes)
            .expect("weight range checked at load")
    }
    /// The bytes of row `r`.
    #[inline]
    pub fn row<'a>(&self, file: &'a GgufFile, r: usize) -> &'a [u8] {
        file.range(self.offset + r * self.row_bytes, self.row_bytes)
            .expect("weight range checked at load")
    }
}

/// The weights of one decoder layer. Optional entries exist only in some architectures.
#[derive(Debug)]
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub attn_norm_b: Option<Vec<f32>>,
    /// Separate projections (all but GPT-2) or the fused `wqkv` (GPT-2).
    pub wq: Option<Weight>,
    pub wk: Option<Weight>,
    pub wv: Option<Weight>,
    pub wqkv: Option<Weight>,
    pub bq: Option<Vec<f32>>,
    pub bk: Option<Vec<f32>>,
    pub bv: Option<Vec<f32>>,
    pub bqkv: Option<Vec<f32>>,
    /// Per-head RMSNorm of q and k (Qwen3, Gemma 3), `head_dim` weights shared by all heads.
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub wo: Weight,
    pub bo: Option<Vec<f32>>,
    /// Gemma 3's norm of the attention output before the residual add.
    pub post_attn_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub ffn_norm_b: Option<Vec<f32>>,
    /// Gated FFNs (SwiGLU, GeGLU) have a gate; GPT-2's plain MLP has none.
    pub ffn_gate: Option<Weight>,
    pub ffn_up: Weight,
    pub ffn_down: Weight,
    pub ffn_up_b: Option<Vec<f32>>,
    pub ffn_down_b: Option<Vec<f32>>,
    /// Gemma 3's norm of the FFN output before the residual add.
    pub post_ffn_norm: Option<Vec<f32>>,
}

/// A loaded model: the mapped file, its hyperparameters and where each weight lies.
pub struct Model {
    pub file: GgufFile,
    pub hp: HParams,
    pub tok_embd: Weight,
    /// GPT-2's learned position embeddings (`n_ctx_train` rows of `n_embd`).
    pub pos_embd: Option<Weight>,
    pub output_norm: Vec<f32>,
    pub output_norm_b: Option<Vec<f32>>,
    /// The output projection; the token embedding when the file ties them.
    pub output: Weight,
    /// Llama 3.1-style per-dimension RoPE frequency factors (`rope_freqs.weight`).
    pub rope_freqs: Option<Vec<f32>>,
    pub layers: Vec<Layer>,
    /// The tokenizer from `tokenizer.ggml.*`; `None` when the file has no vocabulary.
    tokenizer: Option<Tokenizer>,
}

/// Looks up tensors by name and checks their shapes, naming the tensor in every error.
struct Loader<'a> {
    f: &'a GgufFile,
}

impl Loader<'_> {
    fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.f.tensor(name)
    }

    fn opt_weight(&self, name: &str, cols: usize, rows: usize) -> Result<Option<Weight>> {
        let Some(t) = self.info(name) else {
            return Ok(None);
        };
        if t.dims != [cols, rows] {
            return Err(Error::BadTensor {
                tensor: name.to_string(),
                what: format!(
                    "shape {:?} does not match the hyperparameters (expected [{cols}, {rows}])",
                    t.dims
                ),
            });
        }
        if t.ty.vec_dot_type().row_bytes(cols).is_none() {
            return Err(Error::BadTensor {
                tensor: name.to_string(),
                what: format!(
                    "row length {cols} is not a multiple of the {} activation block",
                    t.ty.vec_dot_type()
                ),
            });
        }
        Ok(Some(Weight {
            ty: t.ty,
            rows,
            cols,
            offset: t.offset,
            row_bytes: t.n_bytes / rows,
        }))
    }

    fn weight(&self, name: &str, cols: usize, rows: usize) -> Result<Weight> {
        self.opt_weight(name, cols, rows)?
            .ok_or_else(|| Error::MissingTensor {
                tensor: name.to_string(),
            })
    }

    fn opt_vector(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>> {
        let Some(t) = self.info(name) else {
            return Ok(None);
        };
        if t.dims != [len] {
            return Err(Error::BadTensor {
                tensor: name.to_string(),
                what: format!(
                    "shape {:?} does not match the hyperparameters (expected [{len}])",
                    t.dims
                ),
            });
        }
        let mut v = vec![0f32; len];
        crate::quant::dequantize_row(t.ty, self.f.tensor_data(t), &mut v).map_err(|_| {
            Error::BadTensor {
                tensor: name.to_string(),
                what: format!("cannot read a {} vector", t.ty),
            }
        })?;
        Ok(Some(v))
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        self.opt_vector(name, len)?
            .ok_or_else(|| Error::MissingTensor {
                tensor: name.to_string(),
            })
    }
}

impl Model {
    /// The model's tokenizer, or an error when the file carries no vocabulary.
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer.as_ref().ok_or_else(|| {
            Error::Tokenizer(format!(
                "{} has no vocabulary (tokenizer.ggml.model is missing)",
                self.file.path().display()
            ))
        })
    }

    /// Maps `path`, reads the hyperparameters and finds every weight the architecture needs,
    /// checking each shape against the hyperparameters.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let file = GgufFile::open(path)?;
        Self::from_gguf(file)
    }

    /// As [`load`](Self::load), for an already opened file.
    pub fn from_gguf(file: GgufFile) -> Result<Model> {
        let hp = HParams::from_gguf(&file)?;
        let l = Loader { f: &file };
        let e = hp.n_embd;
        let (hd, hdv) = (hp.head_dim, hp.head_dim_v);
        let q_dim = hp.n_head * hd;
        let k_dim = hp.n_head_kv * hd;
        let v_dim = hp.n_head_kv * hdv;
        let o_dim = hp.n_head * hdv;

        let tok_embd = l.weight("token_embd.weight", e, hp.n_vocab)?;
        let output = l
            .opt_weight("output.weight", e, hp.n_vocab)?
            .unwrap_or(tok_embd);
        let output_norm = l.vector("output_norm.weight", e)?;
        let gpt2 = hp.arch == Arch::Gpt2;
        let output_norm_b = if gpt2 {
            Some(l.vector("output_norm.bias", e)?)
        } else {
            None
        };
        let pos_embd = if gpt2 {
            Some(l.weight("position_embd.weight", e, hp.n_ctx_train)?)
        } else {
            None
        };
        let rope_freqs = l.opt_vector("rope_freqs.weight", hp.n_rot / 2)?;

        let mut layers = Vec::with_capacity(hp.n_layer);
        for i in 0..hp.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            let has_qk_norm = matches!(hp.arch, Arch::Qwen3 | Arch::Gemma3);
            let gemma = hp.arch == Arch::Gemma3;
            let layer = Layer {
                attn_norm: l.vector(&n("attn_norm.weight"), e)?,
                attn_norm_b: if gpt2 {
                    Some(l.vector(&n("attn_norm.bias"), e)?)
                } else {
                    None
                },
                wq: (!gpt2)
                    .then(|| l.weight(&n("attn_q.weight"), e, q_dim))
                    .transpose()?,
                wk: (!gpt2)
                    .then(|| l.weight(&n("attn_k.weight"), e, k_dim))
                    .transpose()?,
                wv: (!gpt2)
                    .then(|| l.weight(&n("attn_v.weight"), e, v_dim))
                    .transpose()?,
                wqkv: gpt2
                    .then(|| l.weight(&n("attn_qkv.weight"), e, q_dim + k_dim + v_dim))
                    .transpose()?,
                bq: l.opt_vector(&n("attn_q.bias"), q_dim)?,
                bk: l.opt_vector(&n("attn_k.bias"), k_dim)?,
                bv: l.opt_vector(&n("attn_v.bias"), v_dim)?,
                bqkv: l.opt_vector(&n("attn_qkv.bias"), q_dim + k_dim + v_dim)?,
                q_norm: has_qk_norm
                    .then(|| l.vector(&n("attn_q_norm.weight"), hd))
                    .transpose()?,
                k_norm: has_qk_norm
                    .then(|| l.vector(&n("attn_k_norm.weight"), hd))
                    .transpose()?,
                wo: l.weight(&n("attn_output.weight"), o_dim, e)?,
                bo: l.opt_vector(&n("attn_output.bias"), e)?,
                post_attn_norm: gemma
                    .then(|| l.vector(&n("post_attention_norm.weight"), e))
                    .transpose()?,
                ffn_norm: l.vector(&n("ffn_norm.weight"), e)?,
                ffn_norm_b: if gpt2 {
                    Some(l.vector(&n("ffn_norm.bias"), e)?)
                } else {
                    None
                },
                ffn_gate: (!gpt2)
                    .then(|| l.weight(&n("ffn_gate.weight"), e, hp.n_ff))
                    .transpose()?,
                ffn_up: l.weight(&n("ffn_up.weight"), e, hp.n_ff)?,
                ffn_down: l.weight(&n("ffn_down.weight"), hp.n_ff, e)?,
                ffn_up_b: l.opt_vector(&n("ffn_up.bias"), hp.n_ff)?,
                ffn_down_b: l.opt_vector(&n("ffn_down.bias"), e)?,
                post_ffn_norm: gemma
                    .then(|| l.vector(&n("post_ffw_norm.weight"), e))
                    .transpose()?,
            };
            layers.push(layer);
        }
        let tokenizer = match file.get("tokenizer.ggml.model") {
            Some(_) => Some(Tokenizer::from_gguf(&file)?),
            None => None,
        };
        // Everything needed from the header is copied out now; its pages need not stay.
        file.release_header_pages();
        if let Some(t) = &tokenizer {
            if t.n_vocab() > hp.n_vocab {
                return Err(Error::Model(format!(
                    "the vocabulary has {} tokens but token_embd.weight has {} rows",
                    t.n_vocab(),
                    hp.n_vocab
                )));
            }
        }
        Ok(Model {
            tokenizer,
            hp,
            tok_embd,
            pos_embd,
            output_norm,
            output_norm_b,
            output,
            rope_freqs,
            layers,
            file,
        })
    }
}
