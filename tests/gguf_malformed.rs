//! Malformed GGUF files: each is refused with an error that names the problem, with no panic,
//! no allocation sized by the bad value (a counting allocator records the largest single
//! allocation) and in well under a second.

mod util;

#[path = "util/gguf_builder.rs"]
mod builder;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use builder::{temp_file, tiny_llama, tiny_llama_with, Builder};
use ferrite::gguf::GgufFile;
use ferrite::Model;

/// Records the largest single allocation, to show no bad length is ever used as a size.
struct MaxAlloc;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for MaxAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LARGEST.fetch_max(n, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: MaxAlloc = MaxAlloc;

/// Loads `bytes` as a model and returns the error message, checking time and allocations.
fn refuse(tag: &str, bytes: &[u8]) -> String {
    let p = temp_file(tag, bytes);
    let t = Instant::now();
    let r = std::panic::catch_unwind(|| Model::load(&p).map(|_| ()));
    let dt = t.elapsed();
    std::fs::remove_file(&p).ok();
    let r = r.unwrap_or_else(|_| panic!("{tag}: the loader panicked"));
    let e = r
        .err()
        .unwrap_or_else(|| panic!("{tag}: a malformed file was accepted"));
    assert!(dt < Duration::from_millis(500), "{tag}: took {dt:?}");
    // The in-memory parser (the fuzz target's entry point) refuses it with the same message.
    let mem = std::panic::catch_unwind(|| {
        GgufFile::from_bytes(&p, bytes).and_then(|f| Model::from_gguf(f).map(|_| ()))
    })
    .unwrap_or_else(|_| panic!("{tag}: the in-memory loader panicked"));
    let mem = mem
        .err()
        .unwrap_or_else(|| panic!("{tag}: accepted from memory"));
    assert_eq!(mem.to_string(), e.to_string(), "{tag}");
    e.to_string()
}

fn refuse_with(tag: &str, bytes: &[u8], needle: &str) {
    let before = LARGEST.load(Ordering::Relaxed);
    let msg = refuse(tag, bytes);
    assert!(
        msg.contains(needle),
        "{tag}: error {msg:?} should mention {needle:?}"
    );
    // No allocation larger than 16 MiB (or than any earlier one) happened during the attempt.
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= before.max(16 << 20),
        "{tag}: allocated {largest} bytes at once"
    );
}

#[test]
fn the_valid_base_file_loads() {
    let p = temp_file("valid", &tiny_llama());
    let m = Model::load(&p).expect("the unmodified tiny model must load");
    assert_eq!(m.hp.n_embd, 32);
    assert_eq!(m.file.tensors().len(), 11);
    std::fs::remove_file(&p).ok();
}

#[test]
fn truncated_at_every_byte_of_the_header_and_many_points_after() {
    let full = tiny_llama();
    // Every cut inside the header/metadata/tensor index, then every 97th byte of the data.
    let header_end = full.len() - 4 * (32 * 10 + 32 * 3 + 32 * 32 * 4 + 32 * 64 * 3);
    let mut cuts: Vec<usize> = (0..header_end + 64).collect();
    cuts.extend((header_end..full.len()).step_by(97));
    for cut in cuts {
        let msg = refuse(&format!("cut{cut}"), &full[..cut]);
        assert!(
            msg.contains("malformed GGUF") || msg.contains("too short"),
            "cut at {cut}: {msg}"
        );
    }
}

#[test]
fn real_files_truncated_are_refused() {
    let synth = util::shared_dir().join("synth");
    for name in ["tiny-llama-Q4_K_M.gguf", "tiny-gemma3-Q8_0.gguf"] {
        let full = std::fs::read(synth.join(name)).unwrap();
        for i in 1..40 {
            let cut = full.len() * i / 40;
            refuse(&format!("{name}-{i}"), &full[..cut]);
        }
    }
}

#[test]
fn bad_magic_and_version() {
    let mut b = Builder::default();
    b.magic = *b"GGML";
    refuse_with("magic", &b.build(), "bad magic");
    refuse_with("empty", &[], "too short");
    refuse_with(
        "text",
        b"hello, this is not a model at all, just some text\n",
        "bad magic",
    );
    for v in [0u32, 1, 4, u32::MAX] {
        let mut b = Builder::default();
        b.version = v;
        refuse_with(&format!("v{v}"), &b.build(), "version");
    }
}

#[test]
fn huge_counts_and_lengths() {
    let mut b = Builder::default();
    b.n_tensors_override = Some(u64::MAX);
    refuse_with("n_tensors", &b.build(), "tensor count");
    let mut b = Builder::default();
    b.n_kv_override = Some(1 << 40);
    refuse_with("n_kv", &b.build(), "metadata count");

    // A string whose length field claims 2^60 bytes.
    let mut b = Builder::default();
    b.kv_raw("general.name", 8, &(1u64 << 60).to_le_bytes());
    refuse_with("strlen", &b.build(), "string length");
    // A key whose length is huge.
    let mut bytes = Builder::default().build()[..24].to_vec();
    bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    refuse_with("keylen", &bytes, "string length");
    // Arrays claiming 2^50 elements, of numbers and of strings.
    for et in [4u32, 8] {
        let mut v = et.to_le_bytes().to_vec();
        v.extend_from_slice(&(1u64 << 50).to_le_bytes());
        let mut b = Builder::default();
        b.kv_raw("tokenizer.ggml.tokens", 9, &v);
        refuse_with(&format!("arr{et}"), &b.build(), "array length");
    }
    // A huge dimension and a dimension count of 5.
    let mut b = Builder::default();
    b.tensor_raw("t", &[u64::MAX], 0, 0);
    refuse_with("dim", &b.build(), "dimension 0");
    let mut b = Builder::default();
    b.tensor_raw("t", &[1, 1, 1, 1, 1], 0, 0);
    refuse_with("ndims", &b.build(), "dimensions");
    // Unknown metadata value type.
    let mut b = Builder::default();
    b.kv_raw("x", 77, &[]);
    refuse_with("kvtype", &b.build(), "unknown metadata type");
}

#[test]
fn overflowing_shapes() {
    let mut b = Builder::default();
    b.tensor_raw("t", &[1 << 32, 1 << 32], 0, 0);
    refuse_with("overflow", &b.build(), "overflows");
    let mut b = Builder::default();
    b.tensor_raw("t", &[1 << 21, 1 << 21, 1 << 21], 0, 0);
    refuse_with("overflow3", &b.build(), "overflows");
    // Fits as a count but not as bytes: 2^62 f32 values.
    let mut b = Builder::default();
    b.tensor_raw("t", &[1 << 31, 1 << 31], 0, 0);
    refuse_with("bytes", &b.build(), "overflows");
}

#[test]
fn tensor_offsets_out_of_the_file_or_misaligned() {
    let mut b = Builder::default();
    b.tensor_f32_fill("a", &[8]);
    b.tensor_raw("b", &[8], 0, 1 << 40);
    refuse_with("oob", &b.build(), "outside");
    let mut b = Builder::default();
    b.tensor_f32_fill("a", &[8]);
    b.tensor_raw("b", &[8], 0, u64::MAX - 31);
    refuse_with("oob-wrap", &b.build(), "outside");
    let mut b = Builder::default();
    b.tensor_f32_fill("a", &[64]);
    b.tensor_raw("b", &[8], 0, 4);
    refuse_with("misaligned", &b.build(), "alignment");
    let mut b = Builder::default();
    b.u32("general.alignment", 3);
    refuse_with("alignment", &b.build(), "power of two");
}

#[test]
fn unknown_and_unsupported_types() {
    let mut b = Builder::default();
    b.tensor_f32_fill("a", &[256]);
    b.tensor_raw("weird", &[256], 99, 0);
    refuse_with("unknown", &b.build(), "unknown type id 99");
    let mut b = Builder::default();
    b.tensor_f32_fill("a", &[256]);
    b.tensor_raw("blk.0.attn_q.weight", &[256], 16, 0);
    let msg = refuse("iq2xxs", &b.build());
    assert!(
        msg.contains("blk.0.attn_q.weight") && msg.contains("IQ2_XXS"),
        "{msg}"
    );
    // A row length that is not a multiple of the block size (Q4_0 blocks hold 32).
    let mut b = Builder::default();
    b.tensor_f32_fill("a", &[256]);
    b.tensor_raw("q", &[33, 2], 2, 0);
    refuse_with("rowlen", &b.build(), "multiple of the Q4_0 block size");
}

#[test]
fn duplicate_names() {
    let mut b = Builder::default();
    b.tensor_f32_fill("a", &[8]);
    b.tensor_f32_fill("a", &[8]);
    refuse_with("duptensor", &b.build(), "duplicate tensor name 'a'");
    let mut b = Builder::default();
    b.u32("k", 1).u32("k", 2);
    refuse_with("dupkey", &b.build(), "duplicate metadata key 'k'");
}

#[test]
fn missing_tensors_and_hyperparameters() {
    let bytes = tiny_llama_with(
        &[],
        |_| {},
        |t| t.retain(|(n, _)| n != "blk.0.ffn_up.weight"),
    );
    refuse_with("notensor", &bytes, "missing tensor 'blk.0.ffn_up.weight'");
    let bytes = tiny_llama_with(&[], |_| {}, |t| t.retain(|(n, _)| n != "token_embd.weight"));
    refuse_with("noembd", &bytes, "token_embd.weight");
    for key in [
        "llama.block_count",
        "llama.embedding_length",
        "llama.attention.head_count",
        "llama.attention.layer_norm_rms_epsilon",
        "general.architecture",
    ] {
        let bytes = tiny_llama_with(&[key], |_| {}, |_| {});
        refuse_with(key, &bytes, key);
    }
    // A hyperparameter of the wrong type names the key and the expected type.
    let bytes = tiny_llama_with(
        &["llama.block_count"],
        |b| {
            b.str("llama.block_count", "one");
        },
        |_| {},
    );
    refuse_with("wrongtype", &bytes, "'llama.block_count': expected");
    let bytes = tiny_llama_with(
        &["general.architecture"],
        |b| {
            b.str("general.architecture", "mamba");
        },
        |_| {},
    );
    refuse_with("arch", &bytes, "unsupported architecture 'mamba'");
}

#[test]
fn hyperparameters_that_contradict_the_shapes() {
    // The file says 48 wide but the tensors are 32 wide.
    let bytes = tiny_llama_with(
        &["llama.embedding_length"],
        |b| {
            b.u32("llama.embedding_length", 48);
        },
        |_| {},
    );
    refuse_with("embd", &bytes, "token_embd.weight");
    // A layer tensor with the wrong shape.
    let bytes = tiny_llama_with(
        &[],
        |_| {},
        |t| {
            for (n, d) in t.iter_mut() {
                if n == "blk.0.ffn_down.weight" {
                    *d = vec![32, 64];
                }
            }
        },
    );
    refuse_with("shape", &bytes, "blk.0.ffn_down.weight");
    // More layers claimed than present.
    let bytes = tiny_llama_with(
        &["llama.block_count"],
        |b| {
            b.u32("llama.block_count", 2);
        },
        |_| {},
    );
    refuse_with("layers", &bytes, "blk.1.");
    // Zero and non-divisible head counts.
    let bytes = tiny_llama_with(
        &["llama.attention.head_count_kv"],
        |b| {
            b.u32("llama.attention.head_count_kv", 0);
        },
        |_| {},
    );
    refuse_with("kv0", &bytes, "head_count_kv");
    let bytes = tiny_llama_with(
        &["llama.attention.head_count_kv"],
        |b| {
            b.u32("llama.attention.head_count_kv", 3);
        },
        |_| {},
    );
    refuse_with("kv3", &bytes, "head_count_kv");
}

#[test]
fn directories_and_missing_files() {
    let e = GgufFile::open(std::env::temp_dir())
        .unwrap_err()
        .to_string();
    assert!(e.contains("directory"), "{e}");
    let e = GgufFile::open("/nonexistent/model.gguf")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/model.gguf"), "{e}");
}
