//! Hyperparameters read from GGUF metadata (`{arch}.*` keys), with llama.cpp's defaults, and
//! checked against each other before any tensor is looked at.

use crate::gguf::GgufFile;
use crate::{Error, Result};

/// The decoder families ferrite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Llama 1/2/3, Mistral, SmolLM: RMSNorm, SwiGLU, adjacent-pair RoPE.
    Llama,
    /// Qwen2: as Llama with biases on q/k/v and NEOX RoPE.
    Qwen2,
    /// Qwen3: as Qwen2 without the biases, with per-head RMSNorm on q and k.
    Qwen3,
    /// Gemma 3: scaled embeddings, q/k norms, sandwich norms, GELU gate, sliding windows.
    Gemma3,
    /// GPT-2: learned positions, LayerNorm with bias, fused QKV, GELU MLP.
    Gpt2,
}

impl Arch {
    /// The architectures ferrite implements, as `general.architecture` names them.
    pub const SUPPORTED: &'static [&'static str] = &["llama", "qwen2", "qwen3", "gemma3", "gpt2"];

    /// Parses `general.architecture`.
    pub fn from_name(name: &str) -> Result<Arch> {
        Ok(match name {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "qwen3" => Arch::Qwen3,
            "gemma3" => Arch::Gemma3,
            "gpt2" => Arch::Gpt2,
            _ => {
                return Err(Error::UnsupportedArch {
                    arch: name.to_string(),
                    supported: Arch::SUPPORTED.join(", "),
                })
            }
        })
    }

    /// The `general.architecture` name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
            Arch::Gpt2 => "gpt2",
        }
    }
}

/// How rotary position embeddings pair up dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (`x[2i]`, `x[2i+1]`): Llama.
    Normal,
    /// Halves (x[i], x[i + n_rot/2]): GPT-NeoX, Qwen2/3, Gemma 3.
    Neox,
    /// No rotary embedding (GPT-2 uses learned positions).
    None,
}

/// The numbers that shape the decoder.
#[derive(Clone, Debug, PartialEq)]
pub struct HParams {
    pub arch: Arch,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Per-head size of keys and queries (`attention.key_length`).
    pub head_dim: usize,
    /// Per-head size of values (`attention.value_length`).
    pub head_dim_v: usize,
    /// RMSNorm epsilon (or LayerNorm epsilon for GPT-2).
    pub norm_eps: f32,
    pub rope_style: RopeStyle,
    /// Dimensions of each head that are rotated (`rope.dimension_count`).
    pub n_rot: usize,
    /// RoPE base of the full-attention layers.
    pub rope_base: f32,
    /// Linear RoPE scale (1/`rope.scaling.factor`) of the full-attention layers.
    pub rope_freq_scale: f32,
    /// RoPE base of the sliding-window layers (Gemma 3: 10 000 unless the file says otherwise).
    pub rope_base_swa: f32,
    /// Sliding window length (Gemma 3), 0 when every layer attends to the whole context.
    pub sliding_window: usize,
    /// Whether layer `il` is a sliding-window layer (same length as `n_layer`).
    pub swa_layers: Vec<bool>,
    /// Scale applied to q before attention.
    pub attn_scale: f32,
    /// Gemma's final logit soft-capping (0 = off).
    pub final_logit_softcap: f32,
}

fn positive(f: &GgufFile, key: &str, v: u32) -> Result<usize> {
    if v == 0 {
        return Err(Error::Model(format!("'{key}' is 0")));
    }
    let _ = f;
    Ok(v as usize)
}

impl HParams {
    /// Reads the hyperparameters of `f`'s architecture. `n_vocab` comes from the token
    /// embedding's shape. Tensor shapes are checked against these values by the model loader.
    pub fn from_gguf(f: &GgufFile) -> Result<HParams> {
        let arch = Arch::from_name(f.architecture()?)?;
        let a = arch.name();
        let key = |k: &str| format!("{a}.{k}");
        let req = |k: &str| -> Result<usize> {
            let full = key(k);
            positive(f, &full, f.get_u32(&full)?)
        };
        let n_embd = req("embedding_length")?;
        let n_layer = req("block_count")?;
        let n_ff = req("feed_forward_length")?;
        let n_head = req("attention.head_count")?;
        let n_ctx_train = req("context_length")?;
        let n_head_kv = match f.get_opt_u32(&key("attention.head_count_kv"))? {
            Some(v) => positive(f, &key("attention.head_count_kv"), v)?,
            None => n_head,
        };
        if n_head % n_head_kv != 0 {
            return Err(Error::Model(format!(
                "attention.head_count {n_head} is not a multiple of head_count_kv {n_head_kv}"
            )));
        }
        if n_layer > 1024 || n_head > 4096 || n_embd > 1 << 20 || n_ff > 1 << 22 {
            return Err(Error::Model(format!(
                "implausible sizes: {n_layer} layers, {n_head} heads, n_embd {n_embd}, n_ff {n_ff}"
            )));
        }
        let head_dim = match f.get_opt_u32(&key("attention.key_length"))? {
            Some(v) => positive(f, &key("attention.key_length"), v)?,
            None => n_embd / n_head,
        };
        let head_dim_v = match f.get_opt_u32(&key("attention.value_length"))? {
            Some(v) => positive(f, &key("attention.value_length"), v)?,
            None => n_embd / n_head,
        };
        if head_dim == 0 || head_dim_v == 0 {
            return Err(Error::Model(format!(
                "n_embd {n_embd} is smaller than the head count {n_head}"
            )));
        }
        let n_rot = f
            .get_opt_u32(&key("rope.dimension_count"))?
            .map(|v| v as usize)
            .unwrap_or(head_dim);
        if n_rot > head_dim || n_rot % 2 != 0 {
            return Err(Error::Model(format!(
                "rope.dimension_count {n_rot} must be even and at most the head size {head_dim}"
            )));
        }
        let norm_eps = if arch == Arch::Gpt2 {
            f.get_f32(&key("attention.layer_norm_epsilon"))?
        } else {
            f.get_f32(&key("attention.layer_norm_rms_epsilon"))?
        };
        if !(norm_eps.is_finite() && norm_eps >= 0.0) {
            return Err(Error::Model(format!(
                "norm epsilon {norm_eps} is not a small positive number"
            )));
        }
        let rope_base = f.get_opt_f32(&key("rope.freq_base"))?.unwrap_or(10_000.0);
        let scale = f
            .get_opt_f32(&key("rope.scaling.factor"))?
            .or(f.get_opt_f32(&key("rope.scale_linear"))?)
            .unwrap_or(0.0);
        let rope_freq_scale = if scale == 0.0 { 1.0 } else { 1.0 / scale };
        if let Some(t) = f.get_opt_str(&key("rope.scaling.type"))? {
            if t != "linear" && t != "none" {
                return Err(Error::Model(format!(
                    "rope.scaling.type '{t}' is not supported (supported: linear, none)"
                )));
            }
        }
        if !(rope_base.is_finite() && rope_base > 0.0 && rope_freq_scale.is_finite()) {
            return Err(Error::Model(format!(
                "rope.freq_base {rope_base} is not positive"
            )));
        }

        let mut sliding_window = 0;
        let mut swa_layers = vec![false; n_layer];
        let mut rope_base_swa = 10_000.0;
        let mut final_logit_softcap = 0.0;
        if arch == Arch::Gemma3 {
            sliding_window = f
                .get_opt_u32(&key("attention.sliding_window"))?
                .unwrap_or(0) as usize;
            if sliding_window > 0 {
                // Every 6th layer is global (llama.cpp's set_swa_pattern(6)): layer il is local
                // when il % 6 < 5.
                let pattern = f
                    .get_opt_u32(&key("attention.sliding_window_pattern"))?
                    .unwrap_or(6) as usize;
                for (il, s) in swa_layers.iter_mut().enumerate() {
                    *s = pattern == 0 || il % pattern < pattern - 1;
                }
                rope_base_swa = f
                    .get_opt_f32(&key("rope.freq_base_swa"))?
                    .unwrap_or(10_000.0);
            }
            final_logit_softcap = f
                .get_opt_f32(&key("final_logit_softcapping"))?
                .unwrap_or(0.0);
        }
        let rope_style = match arch {
            Arch::Llama => RopeStyle::Normal,
            Arch::Qwen2 | Arch::Qwen3 | Arch::Gemma3 => RopeStyle::Neox,
            Arch::Gpt2 => RopeStyle::None,
        };
        let attn_scale = 1.0 / (head_dim as f32).sqrt();

        let embd = f
            .tensor("token_embd.weight")
            .ok_or_else(|| Error::MissingTensor {
                tensor: "token_embd.weight".into(),
            })?;
        if embd.dims.len() != 2 || embd.dims[0] != n_embd {
            return Err(Error::BadTensor {
                tensor: embd.name.clone(),
                what: format!(
                    "shape {:?} does not match {a}.embedding_length {n_embd}",
                    embd.dims
                ),
            });
        }
        let n_vocab = embd.dims[1];

        Ok(HParams {
            arch,
            n_vocab,
            n_ctx_train,
            n_embd,
            n_layer,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            head_dim_v,
            norm_eps,
            rope_style,
            n_rot,
            rope_base,
            rope_freq_scale,
            rope_base_swa,
            sliding_window,
            swa_layers,
            attn_scale,
            final_logit_softcap,
        })
    }
}
