//! The VNNI instantiation of the K-quant decode row loop and of the Q4_K, Q5_K and Q6_K
//! products (`avx2/kmatvec.rs`, with this table's target features so that the VNNI integer
//! work of q2_k.rs, q3_k.rs and iq4_xs.rs inlines into it, plus the instance's VNNI feature:
//! `vnni_k_products!` in `x86_64/mod.rs`).

vnni_k_products!();
