//! Models: hyperparameters, weights borrowed from the mapping, and the forward pass.

pub mod hparams;

pub use hparams::{Arch, HParams, RopeStyle};
