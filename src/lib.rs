//! # ferrite
//!
//! A quantized LLM runtime for edge devices. ferrite memory-maps a GGUF file (no copy), checks
//! every tensor against the file before use, and runs the decoder of the common small-model
//! families with integer dot products over the quantized blocks.
//!
//! Where to find things:
//! - [`gguf`]: the file: mmap, header, metadata, tensor index, validation, typed getters.
//! - [`quant`]: one module per block format: layout, scalar dequantize, scalar dot product.
//! - [`tokenizer`]: SentencePiece-style and byte-level BPE tokenizers from GGUF metadata.
//! - [`model`]: hyperparameters and the forward pass.
//! - [`session`]: KV cache and scratch, allocated once; decode and prefill; context shift.
//! - [`memory`]: what a session needs, before it is allocated, and the `--max-memory` check.
//! - `chat` (feature `chat`, part of the CLI): chat templates, Jinja and built-in.
//! - [`sampler`]: greedy, temperature, top-k, top-p, min-p, repetition penalty.
//!
//! ## A session cannot outlive its model
//!
//! A [`Session`] borrows its [`Model`] (`Session<'m>`), so the compiler refuses to drop or move
//! the model while a session still uses it. (C has no such check: there
//! `ferrite_model_free` refuses to free a model with live sessions, and using any handle after
//! freeing it is undefined behaviour; see `include/ferrite.h`.)
//!
//! ```compile_fail,E0505
//! use ferrite::{Model, Session, SessionConfig};
//! # fn main() -> ferrite::Result<()> {
//! let model = Model::load("model.gguf")?;
//! let mut session = Session::new(&model, &SessionConfig::default())?;
//! drop(model); // error[E0505]: cannot move out of `model` because it is borrowed
//! session.decode(1)?;
//! # Ok(())
//! # }
//! ```
//!
//! Freeing in the right order compiles:
//!
//! ```no_run
//! use ferrite::{Model, Session, SessionConfig};
//! # fn main() -> ferrite::Result<()> {
//! let model = Model::load("model.gguf")?;
//! let mut session = Session::new(&model, &SessionConfig::default())?;
//! session.decode(1)?;
//! drop(session);
//! drop(model);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "chat")]
pub mod chat;
pub mod error;
pub mod ffi;
pub mod gguf;
pub mod kernels;
pub mod kv_cache;
pub mod memory;
pub mod model;
pub mod ops;
pub mod quant;
pub mod sampler;
pub mod session;
pub mod threadpool;
pub mod tokenizer;

pub use error::{Error, Result};
pub use kv_cache::KvType;
pub use memory::MemoryEstimate;
pub use model::Model;
pub use session::{Session, SessionConfig};

/// Where the default model lives: `$FERRITE_MODEL` if set, else
/// `${FERRITE_MODEL_DIR:-~/.cache/ferrite/models}/gemma-3-270m-q4_k_m.gguf`
/// (where `tools/fetch-model.sh` installs it).
pub fn default_model_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("FERRITE_MODEL") {
        return p.into();
    }
    let dir = match std::env::var_os("FERRITE_MODEL_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into()))
            .join(".cache/ferrite/models"),
    };
    dir.join("gemma-3-270m-q4_k_m.gguf")
}
