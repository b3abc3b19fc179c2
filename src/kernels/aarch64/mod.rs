//! aarch64 kernels: NEON (every aarch64 CPU, e.g. the Pi 4) with `vmull`/`vpadal` integer
//! dot products, and the same kernels with the dot-product extension's `sdot` (Pi 5), chosen
//! at run time.

pub mod neon;
