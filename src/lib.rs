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
//! - [`session`]: KV cache and scratch, allocated once; decode and prefill.
//! - [`sampler`]: greedy, temperature, top-k, top-p, min-p, repetition penalty.

pub mod error;
pub mod gguf;
pub mod model;
pub mod quant;
pub mod sampler;
pub mod tokenizer;

pub use error::{Error, Result};
