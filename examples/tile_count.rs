//! Runs one prefill weight tile (`Kernels::matmul_tile`) a given number of times, for
//! counting the instructions a kernel table executes where its speed cannot be timed: the
//! NEON tables under qemu on an x86 host (`tools/neon-count.sh` runs this twice with
//! different repeat counts and reports the difference per call, so loading and setup cancel
//! out). The data are random blocks with small finite scales; the results are not checked
//! here (tests/kernels.rs and the `tile_tests` do that) but summed and printed, so that
//! nothing is optimized away.
//!
//! Usage: `tile_count TABLE FORMAT ORDER ROWS COLS TOKENS REPEATS`, e.g.
//! `tile_count dotprod Q4_K gemm 64 2048 4 3`. TABLE is a kernel table's name (`scalar`,
//! `neon`, `dotprod`, `avx2`, ...), ORDER one of `vecdot`, `tiled`, `gemm`, `gemv`
//! (one token: a decode product).

use ferrite::kernels::{tile_scratch_bytes, AlignedBuf, Kernels};
use ferrite::quant::{DotOrder, GgmlType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 7 {
        eprintln!("usage: tile_count TABLE FORMAT ORDER ROWS COLS TOKENS REPEATS");
        std::process::exit(2);
    }
    let fail = |what: &str| -> ! {
        eprintln!("error: tile_count: {what}");
        std::process::exit(2)
    };
    let table = Kernels::all()
        .into_iter()
        .find(|k| k.name() == args[0])
        .unwrap_or_else(|| fail("no such kernel table on this CPU"));
    let ty: GgmlType = match args[1].as_str() {
        "Q8_0" => GgmlType::Q8_0,
        "Q5_0" => GgmlType::Q5_0,
        "Q4_0" => GgmlType::Q4_0,
        "Q2_K" => GgmlType::Q2_K,
        "Q3_K" => GgmlType::Q3_K,
        "Q4_K" => GgmlType::Q4_K,
        "Q5_K" => GgmlType::Q5_K,
        "Q6_K" => GgmlType::Q6_K,
        "IQ4_NL" => GgmlType::IQ4_NL,
        "IQ4_XS" => GgmlType::IQ4_XS,
        _ => fail("format: one of Q8_0 Q5_0 Q4_0 IQ4_NL IQ4_XS Q2_K Q3_K Q4_K Q5_K Q6_K"),
    };
    let order = match args[2].as_str() {
        "vecdot" => DotOrder::VecDot,
        "tiled" => DotOrder::Tiled,
        "gemm" => DotOrder::RepackedGemm,
        "gemv" => DotOrder::RepackedGemv,
        _ => fail("order: one of vecdot tiled gemm gemv"),
    };
    let num = |i: usize| -> usize { args[i].parse().unwrap_or_else(|_| fail("not a number")) };
    let (rows, cols, n, reps) = (num(3), num(4), num(5), num(6));
    if cols == 0 || cols % ty.block_size() != 0 || rows == 0 || n == 0 {
        fail("ROWS, TOKENS > 0 and COLS a multiple of the block size");
    }

    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Weights: random bytes, then every f16 scale set to a small finite value.
    let row_bytes = ty.row_bytes(cols).expect("row length");
    let mut w = AlignedBuf::new(rows * row_bytes);
    let wb = w.bytes_mut(rows * row_bytes);
    wb.iter_mut().for_each(|b| *b = next() as u8);
    let scale = half::f16::from_f32(0.01).to_le_bytes();
    let scale_offsets: &[usize] = match ty {
        GgmlType::Q8_0 | GgmlType::Q5_0 | GgmlType::Q4_0 | GgmlType::IQ4_NL | GgmlType::IQ4_XS => {
            &[0]
        }
        GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        _ => &[208],
    };
    for block in wb.chunks_exact_mut(ty.type_size()) {
        for &o in scale_offsets {
            block[o..o + 2].copy_from_slice(&scale);
        }
    }
    // Activations: random values quantized by the table's own quantizer.
    let act_ty = ty.vec_dot_type();
    let act_bytes = act_ty.row_bytes(cols).expect("row length");
    let mut acts = AlignedBuf::new(n * act_bytes);
    let mut one = AlignedBuf::new(act_bytes);
    for t in 0..n {
        let x: Vec<f32> = (0..cols)
            .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let a = table.quantize_for(ty, &x, &mut one).to_vec();
        acts.bytes_mut(n * act_bytes)[t * act_bytes..(t + 1) * act_bytes].copy_from_slice(&a);
    }

    let scratch_len = tile_scratch_bytes(rows, act_bytes);
    let mut scratch = AlignedBuf::new(scratch_len);
    let mut out = vec![0f32; n * rows];
    let order_of = |_t: usize| order;
    let mut sum = 0f64;
    for _ in 0..reps {
        // SAFETY: `out` holds `n` rows of `rows` values, written only by this call.
        unsafe {
            table.matmul_tile(
                out.as_mut_ptr(),
                rows,
                ty,
                w.bytes(rows * row_bytes),
                rows,
                acts.bytes(n * act_bytes),
                act_bytes,
                act_bytes,
                n,
                &order_of,
                scratch.bytes_mut(scratch_len),
            )
        };
        sum += out.iter().map(|&v| v as f64).sum::<f64>();
    }
    println!(
        "{} {ty} {:?} {rows}x{cols} n {n} reps {reps}: sum {sum:.6e}",
        table.name(),
        order
    );
}
