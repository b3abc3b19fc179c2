//! x86_64 kernels: AVX2 (with FMA and F16C), what every x86 laptop of the last decade has,
//! and AVX-VNNI (`avxvnni/`), the VEX-encoded integer dot product of Intel Alder Lake and
//! later and AMD Zen 5, for the prefill kernels where it pays.

pub mod avx2;
pub mod avxvnni;
