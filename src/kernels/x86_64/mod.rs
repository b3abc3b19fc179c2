//! x86_64 kernels. Only AVX2 (with FMA and F16C) so far: it is what every x86 laptop of the
//! last decade has; AVX-512 and AVX-VNNI variants would be siblings of `avx2/`.

pub mod avx2;
