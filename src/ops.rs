//! f32 vector operations of the forward pass, written to follow ggml's CPU reference closely
//! (same accumulation widths, same RoPE angle recurrence) so results agree with llama.cpp to
//! float rounding.

/// RMSNorm in place: `x = x / sqrt(mean(x^2) + eps) * w` (ggml sums squares in f64).
pub fn rmsnorm(x: &mut [f32], w: &[f32], eps: f32) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, &g) in x.iter_mut().zip(w) {
        *v = *v * scale * g;
    }
}

/// RMSNorm from `src` into `dst`.
pub fn rmsnorm_into(dst: &mut [f32], src: &[f32], w: &[f32], eps: f32) {
    dst.copy_from_slice(src);
    rmsnorm(dst, w, eps);
}

/// LayerNorm from `src` into `dst`: `(x - mean) / sqrt(var + eps) * w + b` (ggml's `norm`
/// followed by the weight and bias).
pub fn layernorm_into(dst: &mut [f32], src: &[f32], w: &[f32], b: &[f32], eps: f32) {
    let n = src.len() as f64;
    let mean = (src.iter().map(|&v| v as f64).sum::<f64>() / n) as f32;
    let mut sum2 = 0f64;
    for (d, &s) in dst.iter_mut().zip(src) {
        let y = s - mean;
        *d = y;
        sum2 += (y * y) as f64;
    }
    let scale = 1.0 / ((sum2 / n) as f32 + eps).sqrt();
    for ((d, &g), &bb) in dst.iter_mut().zip(w).zip(b) {
        *d = *d * scale * g + bb;
    }
}

/// `x += y`.
pub fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// `x *= s`.
pub fn scale(x: &mut [f32], s: f32) {
    for a in x.iter_mut() {
        *a *= s;
    }
}

/// Softmax of attention scores in place, as ggml's `ggml_vec_soft_max_f32` on x86 (AVX2):
/// `x[i]` belongs to KV cell `cell0 + i`, and ggml's rows span all cells from 0 (the masked
/// ones give `e^-inf = 0`), so the cells are taken in groups of eight aligned to cell 0: each
/// group's [`expf_ggml`] values are summed in f32 in `hsum8` order and the group sums added in
/// f64. The row length ggml uses is a multiple of 256, so it has no scalar tail. AVX2 version:
/// `kernels::x86_64::avx2::ops::softmax_cells`; NEON: `kernels::aarch64::neon::ops`.
pub fn softmax_cells(x: &mut [f32], cell0: usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::Kernels::get().isa().has_avx2() {
        // SAFETY: the AVX2 table is selected only when the CPU has AVX2, FMA and F16C.
        return unsafe { crate::kernels::x86_64::avx2::ops::softmax_cells(x, cell0) };
    }
    #[cfg(target_arch = "aarch64")]
    if crate::kernels::Kernels::get().isa().has_neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { crate::kernels::aarch64::neon::ops::softmax_cells(x, cell0) };
    }
    softmax_cells_ref(x, cell0)
}

/// The scalar reference of [`softmax_cells`].
pub fn softmax_cells_ref(x: &mut [f32], cell0: usize) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    let mut i = 0;
    while i < x.len() {
        let group_end = ((cell0 + i) / 8 + 1) * 8 - cell0;
        let end = group_end.min(x.len());
        sum += softmax_group(&mut x[i..end], cell0 + i, max);
        i = group_end;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// One group's part of [`softmax_cells`]: `g` holds the cells from `cell` on, all inside one
/// aligned group of eight; each becomes `e^(v - max)`, and the group's sum (its eight lanes,
/// the missing cells 0, reduced by `hsum8`) is returned.
pub(crate) fn softmax_group(g: &mut [f32], cell: usize, max: f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    for (j, v) in g.iter_mut().enumerate() {
        *v = expf_ggml(*v - max);
        lanes[(cell + j) % 8] = *v;
    }
    f64::from(crate::quant::lanes::hsum8(&lanes))
}

/// SiLU: `x * sigmoid(x)` with the C library's `expf` (ggml's `ggml_silu_f32`, which it
/// uses for the elements past the last whole group of eight, see [`swiglu`]).
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// `e^x` as ggml's x86 `ggml_v_expf` (AVX2 + FMA) computes it: a range reduction by `ln 2`
/// and a degree-5 polynomial, with fused multiply-adds in ggml's order. Its error is about
/// 1.5 ulp, so its results differ from the C library's `expf` in the last bit now and then;
/// llama.cpp uses it for the softmax and SiLU, so we do too.
#[inline]
pub fn expf_ggml(x: f32) -> f32 {
    let r = f32::from_bits(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3fb8_aa3b), r); // 0x1.715476p+0 = 1/ln 2
    let n = z - r;
    // b = x - n * ln2_hi - n * ln2_lo (fnmadd twice).
    let b = (-n).mul_add(
        f32::from_bits(0x35bf_be8e),                  // 0x1.7f7d1cp-20
        (-n).mul_add(f32::from_bits(0x3f31_7200), x), // 0x1.62e4p-1
    );
    let e = z.to_bits() << 23;
    let k = f32::from_bits(e.wrapping_add(1.0f32.to_bits()));
    let u = b * b;
    let j = f32::from_bits(0x3c07_2010) // 0x1.0e4020p-7
        .mul_add(b, f32::from_bits(0x3d2b_9f17)) // 0x1.573e2ep-5
        .mul_add(
            u,
            f32::from_bits(0x3e2a_af33).mul_add(b, f32::from_bits(0x3eff_fedb)), // 0x1.555e66p-3, 0x1.fffdb6p-2
        )
        .mul_add(u, f32::from_bits(0x3f7f_fff6) * b); // 0x1.ffffecp-1
    if n.abs() <= 126.0 || n.is_nan() {
        return j.mul_add(k, k);
    }
    // Large |n|: scale in two steps to avoid overflow of the exponent field.
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    if n.abs() > 192.0 {
        s1 * s1
    } else {
        s2.mul_add(j, s2) * s1
    }
}

/// `gate = silu(gate) * up` as ggml's `ggml_vec_swiglu_f32` on x86: groups of eight with
/// `x / (1 + e^-x)` through [`expf_ggml`], the remaining elements with [`silu`]. The groups
/// eight lanes at a time with AVX2, four with NEON (the same operations per element, the same
/// bits).
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "SwiGLU halves of one length");
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::Kernels::get().isa().has_avx2() {
        // SAFETY: the AVX2 tables are selected only when the CPU has AVX2, FMA and F16C.
        return unsafe { crate::kernels::x86_64::avx2::ops::swiglu(gate, up) };
    }
    #[cfg(target_arch = "aarch64")]
    if crate::kernels::Kernels::get().isa().has_neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { crate::kernels::aarch64::neon::ops::swiglu(gate, up) };
    }
    swiglu_ref(gate, up)
}

/// The scalar reference of [`swiglu`].
pub fn swiglu_ref(gate: &mut [f32], up: &[f32]) {
    let whole = gate.len() / 8 * 8;
    for (g, &u) in gate[..whole].iter_mut().zip(up) {
        *g = *g / (1.0 + expf_ggml(0.0 - *g)) * u;
    }
    for (g, &u) in gate[whole..].iter_mut().zip(&up[whole..]) {
        *g = silu(*g) * u;
    }
}

/// GELU, tanh approximation, computed in f32 as ggml's `ggml_gelu_f32` compiled for x86-64
/// with FMA: GCC fuses `1 + a*x*x` into `fma(a*x, x, 1)` (checked against all 65536 entries of
/// ggml's f16 table, which the plain form misses by one).
#[inline]
pub fn gelu_f32(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const COEF_A: f32 = 0.044_715;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (COEF_A * x).mul_add(x, 1.0)).tanh())
}

/// GELU as ggml's CPU backend computes it (`GGML_GELU_FP16`): the input is rounded to f16
/// and the result looked up in an f16 table of `gelu_f32`, with the tails cut at +-10.
/// Following it costs nothing and keeps GPT-2 and Gemma outputs within float noise of
/// llama.cpp (the f16 rounding alone moves log-probabilities by a few hundredths). The table
/// (ggml's `ggml_table_gelu_f16`, 128 KiB) is built once, by [`gelu_table`].
#[inline]
pub fn gelu(x: f32) -> f32 {
    use half::f16;
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        let t = gelu_table()[usize::from(f16::from_f32(x).to_bits())];
        f16::from_bits(t).to_f32()
    }
}

/// `gelu_f32` of every f16 value, rounded to f16 (built on first use; `Session::new` calls it
/// so decoding never does).
pub fn gelu_table() -> &'static [u16; 65536] {
    gelu_table_padded()[..65536]
        .try_into()
        .expect("65536 entries")
}

/// [`gelu_table`] with two more (zero) entries after it, so that a 32-bit gather at any
/// entry stays inside (the AVX2 [`geglu`]).
pub(crate) fn gelu_table_padded() -> &'static [u16; 65538] {
    use half::f16;
    static TABLE: std::sync::OnceLock<Box<[u16; 65538]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0u16; 65538]);
        for (i, v) in t[..65536].iter_mut().enumerate() {
            let x = f16::from_bits(i as u16).to_f32();
            *v = f16::from_f32(gelu_f32(x)).to_bits();
        }
        t
    })
}

/// `gate = gelu(gate) * up` (GeGLU, Gemma's FFN activation), [`gated`] with [`gelu`]; eight
/// values at a time with AVX2 + F16C, four with NEON (the same table lookups, the same bits).
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "GeGLU halves of one length");
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::Kernels::get().isa().has_avx2() {
        // SAFETY: the AVX2 tables are selected only when the CPU has AVX2, FMA and F16C; the
        // halves have one length (asserted).
        return unsafe { crate::kernels::x86_64::avx2::ops::geglu(gate, up, gelu_table_padded()) };
    }
    #[cfg(target_arch = "aarch64")]
    if crate::kernels::Kernels::get().isa().has_neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { crate::kernels::aarch64::neon::ops::geglu(gate, up, gelu_table()) };
    }
    gated(gate, up, gelu)
}

/// Rounds every value to f16 and back (to the nearest, ties to even), eight at a time with
/// F16C, four with NEON (`fcvtn`, `fcvtl`).
pub fn round_to_f16(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::Kernels::get().isa().has_avx2() {
        // SAFETY: as in `geglu`.
        return unsafe { crate::kernels::x86_64::avx2::ops::round_to_f16(x) };
    }
    #[cfg(target_arch = "aarch64")]
    if crate::kernels::Kernels::get().isa().has_neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { crate::kernels::aarch64::neon::ops::round_to_f16(x) };
    }
    round_to_f16_ref(x)
}

/// The scalar reference of [`round_to_f16`].
pub fn round_to_f16_ref(x: &mut [f32]) {
    x.iter_mut()
        .for_each(|v| *v = half::f16::from_f32(*v).to_f32());
}

/// The reference of [`gelu`], computed directly (the table's definition).
pub fn gelu_ref(x: f32) -> f32 {
    use half::f16;
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        f16::from_f32(gelu_f32(f16::from_f32(x).to_f32())).to_f32()
    }
}

/// `gate = act(gate) * up`, the gated FFN activation (SwiGLU or GeGLU).
pub fn gated(gate: &mut [f32], up: &[f32], act: fn(f32) -> f32) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = act(*g) * u;
    }
}

/// Fills `cos`/`sin` (length `n_rot / 2`) with the RoPE angles for position `pos`, using
/// ggml's recurrence `theta_{i+1} = theta_i * base^(-2/n_rot)` in f32 (not `powf` per index),
/// so the angles match llama.cpp's bit for bit in the common case.
pub fn rope_angles(
    pos: usize,
    n_rot: usize,
    base: f32,
    freq_scale: f32,
    cos: &mut [f32],
    sin: &mut [f32],
) {
    let theta_scale = base.powf(-2.0 / n_rot as f32);
    let mut theta = pos as f32;
    for (c, s) in cos.iter_mut().zip(sin.iter_mut()) {
        let t = freq_scale * theta;
        *c = t.cos();
        *s = t.sin();
        theta *= theta_scale;
    }
}

/// Rotates one head in place. `Neox` pairs `x[i]` with `x[i + n_rot/2]`; `Normal` pairs
/// `x[2i]` with `x[2i+1]`. Dimensions past `n_rot` are left as they are. Four pairs at a time
/// with NEON (the same fused and separate operations per pair, the same bits).
pub fn rope_head(x: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::Kernels::get().isa().has_avx2() {
        // SAFETY: the AVX2 tables are selected only when the CPU has AVX2, FMA and F16C.
        return unsafe { crate::kernels::x86_64::avx2::ops::rope_head(x, cos, sin, neox) };
    }
    #[cfg(target_arch = "aarch64")]
    if crate::kernels::Kernels::get().isa().has_neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { crate::kernels::aarch64::neon::ops::rope_head(x, cos, sin, neox) };
    }
    rope_head_body(x, cos, sin, neox)
}

/// The body of [`rope_head`], inlined into the AVX2 + FMA wrapper too, where `mul_add` is one
/// instruction (elsewhere it is a call to `fmaf`): the same operations either way.
#[inline(always)]
pub(crate) fn rope_head_body(x: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) {
    rope_pairs_from(x, cos, sin, neox, 0);
}

/// [`rope_head_body`] for the pairs `from..` only (the NEON version's last pairs).
#[inline(always)]
pub(crate) fn rope_pairs_from(x: &mut [f32], cos: &[f32], sin: &[f32], neox: bool, from: usize) {
    let half = cos.len();
    for i in from..half {
        let (a, b) = if neox {
            (i, i + half)
        } else {
            (2 * i, 2 * i + 1)
        };
        let (x0, x1) = (x[a], x[b]);
        // ggml writes `x0*cos - x1*sin` and `x0*sin + x1*cos`; compiled for x86-64 with FMA
        // (GCC contracts by default) the first product of each is fused with the rounded
        // second, which we follow (measured: bit-equal RoPE output).
        x[a] = x0.mul_add(cos[i], -(x1 * sin[i]));
        x[b] = x0.mul_add(sin[i], x1 * cos[i]);
    }
}

/// Index of the largest value, ties to the lowest index.
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}
