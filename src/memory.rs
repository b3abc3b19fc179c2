//! The memory a session needs, known before anything large is allocated, and a budget check.
//!
//! A process running one session holds:
//! - the mapped file: every page of it is read (the header and vocabulary when the model is
//!   loaded, every weight by the first token: the output matrix, often the token embedding
//!   itself, is read whole for each token), so all of it ends up resident;
//! - the model's own heap: f32 copies of the small vectors (norms, biases), and the tokenizer's
//!   tables;
//! - the KV cache ([`KvCache::bytes_needed`]: full-attention layers one slot per context
//!   position, sliding-window layers a ring of `window + MAX_BATCH - 1` slots);
//! - the session's scratch (activations of a batch of [`crate::session::MAX_BATCH`] tokens,
//!   one row of logits (perplexity grows it to [`crate::session::LOGITS_BATCH`]), the shift's ring scratch, ...);
//! - a fixed overhead: the program's code and libraries, thread stacks, allocator metadata.
//!
//! [`crate::Session::new`] commits (touches) every buffer it allocates, so the resident size
//! of a running session is this estimate from its first token on, not only once its context
//! has filled. `tests/memory.rs` checks the total against the measured peak RSS of
//! `ferrite run` on Gemma 3 270M (within 10 %).

use std::fmt;

use crate::gguf::GgufFile;
use crate::kv_cache::{KvCache, KvType};
use crate::model::HParams;
use crate::session::{Session, SessionConfig};
use crate::{Error, Model, Result};

/// Code and libraries (ferrite, libc, libm: about 4 MiB resident on x86-64 Linux), stacks,
/// the file's index and allocator slack. The scratch part counts buffers for a full 64-token
/// batch that a short prompt never writes, so the total stays 1-2 % above `ferrite run`'s
/// peak RSS on Gemma 3 270M at 4k and 32k context with f16 and q8_0 caches (an estimate that
/// errs on the safe side for `--max-memory`).
pub const OVERHEAD_BYTES: u64 = 3 << 20;
/// Per worker thread: its stack's touched pages and bookkeeping.
pub const PER_THREAD_BYTES: u64 = 64 << 10;

/// What a session of a model needs, by part, in bytes. Build it with [`Self::for_file`]
/// (from the parsed header only: nothing of the model is loaded) or [`Self::for_model`].
#[derive(Clone, Debug)]
pub struct MemoryEstimate {
    /// The context length the figures are for (0 in the configuration resolved).
    pub n_ctx: usize,
    pub kv_type: KvType,
    /// Worker threads (0 in the configuration resolved).
    pub n_threads: usize,
    /// The mapped file (header, metadata and tensor data), all of it resident once running.
    pub weights: u64,
    /// f32 copies of the model's vectors (norm weights, biases).
    pub model_heap: u64,
    /// The tokenizer's tables (an estimate from the vocabulary's size; 0 without one).
    pub tokenizer: u64,
    /// The KV cache.
    pub kv_cache: u64,
    /// The session's other buffers.
    pub scratch: u64,
    /// Fixed process overhead ([`OVERHEAD_BYTES`] plus [`PER_THREAD_BYTES`] a thread).
    pub overhead: u64,
    /// Full-attention and sliding-window layers, and the ring length of the latter.
    pub full_layers: usize,
    pub swa_layers: usize,
    pub swa_slots: usize,
    /// [`SessionConfig::full_swa_cache`] (a testing aid).
    full_swa: bool,
    hp: HParams,
}

impl MemoryEstimate {
    /// The estimate for a session configured by `cfg` on the model in `file`, from its header
    /// alone (hyperparameters, tensor table, vocabulary size).
    pub fn for_file(file: &GgufFile, cfg: &SessionConfig) -> Result<MemoryEstimate> {
        let hp = HParams::from_gguf(file)?;
        Self::compute(file, hp, cfg)
    }

    /// As [`Self::for_file`], for a loaded model.
    pub fn for_model(model: &Model, cfg: &SessionConfig) -> Result<MemoryEstimate> {
        Self::compute(&model.file, model.hp.clone(), cfg)
    }

    fn compute(file: &GgufFile, hp: HParams, cfg: &SessionConfig) -> Result<MemoryEstimate> {
        let n_ctx = Session::resolve_ctx(&hp, cfg.n_ctx)?;
        let n_threads = Session::resolve_threads(cfg.n_threads)?;
        let model_heap = file
            .tensors()
            .iter()
            .filter(|t| t.dims.len() == 1)
            .map(|t| 4 * t.n_elements() as u64)
            .sum();
        let mut e = MemoryEstimate {
            n_ctx,
            kv_type: cfg.kv_type,
            n_threads,
            weights: file.bytes().len() as u64,
            model_heap,
            tokenizer: tokenizer_bytes(file),
            kv_cache: 0,
            scratch: 0,
            overhead: OVERHEAD_BYTES + PER_THREAD_BYTES * n_threads as u64,
            full_layers: 0,
            swa_layers: 0,
            swa_slots: 0,
            full_swa: cfg.full_swa_cache,
            hp,
        };
        e.set_session(n_ctx, cfg.kv_type);
        Ok(e)
    }

    /// Fills the parts that depend on the context and the cache type, from the cache shapes
    /// and scratch sizes [`Session::new`] allocates.
    fn set_session(&mut self, n_ctx: usize, kv_type: KvType) {
        let shapes = Session::shapes_for(&self.hp, n_ctx, self.full_swa);
        self.n_ctx = n_ctx;
        self.kv_type = kv_type;
        self.kv_cache = KvCache::bytes_needed(kv_type, &shapes) as u64;
        self.scratch =
            Session::scratch_bytes(&self.hp, &shapes, n_ctx, self.n_threads, kv_type) as u64;
        let swa = |i: &usize| self.hp.swa_layers[*i];
        self.swa_layers = (0..shapes.len()).filter(swa).count();
        self.full_layers = shapes.len() - self.swa_layers;
        self.swa_slots = (0..shapes.len()).find(swa).map_or(0, |i| shapes[i].slots);
    }

    /// The same model, threads and cache layout with another context and cache type.
    pub fn with_session(&self, n_ctx: usize, kv_type: KvType) -> MemoryEstimate {
        let mut e = self.clone();
        e.set_session(n_ctx, kv_type);
        e
    }

    /// Everything: the figure a budget is compared with.
    pub fn total(&self) -> u64 {
        self.weights
            + self.model_heap
            + self.tokenizer
            + self.kv_cache
            + self.scratch
            + self.overhead
    }

    /// The parts that do not depend on the context: weights, model heap, tokenizer, overhead.
    pub fn fixed(&self) -> u64 {
        self.weights + self.model_heap + self.tokenizer + self.overhead
    }

    /// The largest context (a multiple of 256 when above 256) whose session with `kv_type`
    /// fits in `budget`, if any.
    pub fn max_ctx_within(&self, budget: u64, kv_type: KvType) -> Option<usize> {
        let fits = |n: usize| self.with_session(n, kv_type).total() <= budget;
        if !fits(1) {
            return None;
        }
        let (mut lo, mut hi) = (1usize, self.n_ctx.max(1));
        if fits(hi) {
            return Some(hi);
        }
        // fits(lo) and !fits(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(if lo > 256 { lo / 256 * 256 } else { lo })
    }

    /// `Ok` when the total fits in `budget` bytes (0 = no limit); otherwise an error giving
    /// the figures and what would fit: a smaller context, a q8_0 cache.
    pub fn check(&self, budget: u64) -> Result<()> {
        self.check_with(
            budget,
            "the budget (--max-memory) is",
            "or raise the budget",
        )
    }

    /// Without a budget: `Ok` when the session's own memory (KV cache and scratch, allocated
    /// by `Session::new`) fits in the RAM the OS says is available (`MemAvailable`), so an
    /// impossible context is an error naming the figures instead of a kill by the OOM killer.
    /// The weights are not counted against it: they are file pages the OS can drop and re-read.
    pub fn check_available(&self) -> Result<()> {
        match mem_available() {
            Some(avail) => self.check_ram(avail),
            None => Ok(()),
        }
    }

    /// [`check_available`](Self::check_available) with `avail` bytes of available RAM.
    pub fn check_ram(&self, avail: u64) -> Result<()> {
        let own = self.kv_cache + self.scratch;
        if own <= avail {
            return Ok(());
        }
        let budget = self.total() - own + avail;
        self.check_with(
            budget,
            &format!("only {} of RAM is available, so the budget is", mib(avail)),
            "or free memory",
        )
    }

    fn check_with(&self, budget: u64, budget_is: &str, raise: &str) -> Result<()> {
        if budget == 0 || self.total() <= budget {
            return Ok(());
        }
        let mut fix = Vec::new();
        match self.max_ctx_within(budget, self.kv_type) {
            Some(n) => fix.push(format!("a smaller context (-c {n} fits)")),
            None => fix.push(format!(
                "a smaller model: this one needs {} before any context",
                mib(self.fixed() + self.with_session(1, self.kv_type).scratch)
            )),
        }
        if self.kv_type != KvType::Q8_0
            && KvType::Q8_0.fits_heads(self.hp.head_dim, self.hp.head_dim_v)
        {
            let q8 = self.with_session(self.n_ctx, KvType::Q8_0);
            if q8.total() <= budget {
                fix.push(format!(
                    "--kv-type q8_0 (needs {} at -c {})",
                    mib(q8.total()),
                    self.n_ctx
                ));
            } else if let Some(n) = self.max_ctx_within(budget, KvType::Q8_0) {
                fix.push(format!("--kv-type q8_0 with -c {n}"));
            }
        }
        Err(Error::InvalidArgument(format!(
            "not enough memory: the session needs {} but {budget_is} {} \
             (weights {} mapped, KV cache {} for {} tokens of {}, scratch {}, tokenizer {}, \
             other {}); use {}, {raise}",
            mib(self.total()),
            mib(budget),
            mib(self.weights),
            mib(self.kv_cache),
            self.n_ctx,
            self.kv_type.name(),
            mib(self.scratch),
            mib(self.tokenizer),
            mib(self.model_heap + self.overhead),
            fix.join(" or ")
        )))
    }

    /// The figures as a JSON-ready list of (name, bytes).
    pub fn parts(&self) -> [(&'static str, u64); 7] {
        [
            ("weights", self.weights),
            ("kv_cache", self.kv_cache),
            ("scratch", self.scratch),
            ("tokenizer", self.tokenizer),
            ("model_heap", self.model_heap),
            ("overhead", self.overhead),
            ("total", self.total()),
        ]
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kv_shape = if self.swa_layers > 0 {
            format!(
                "{} full layers x {} + {} sliding-window layers x {} slots",
                self.full_layers, self.n_ctx, self.swa_layers, self.swa_slots
            )
        } else {
            format!("{} layers x {} positions", self.full_layers, self.n_ctx)
        };
        writeln!(
            f,
            "memory estimate: -c {}, --kv-type {}, {} threads",
            self.n_ctx,
            self.kv_type.name(),
            self.n_threads
        )?;
        writeln!(f, "  weights (mapped)  {:>12}", mib(self.weights))?;
        writeln!(
            f,
            "  KV cache          {:>12}  ({kv_shape})",
            mib(self.kv_cache)
        )?;
        writeln!(f, "  scratch           {:>12}", mib(self.scratch))?;
        writeln!(f, "  tokenizer         {:>12}", mib(self.tokenizer))?;
        writeln!(f, "  model vectors     {:>12}", mib(self.model_heap))?;
        writeln!(f, "  process overhead  {:>12}", mib(self.overhead))?;
        write!(f, "  total             {:>12}", mib(self.total()))
    }
}

/// `bytes` in MiB with one decimal, e.g. `"291.3 MiB"`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// The tokenizer's heap, estimated from the vocabulary's size in the file: per token
/// `TOK_BYTES` of tables (the index, offsets, attributes, scores), 1.35 bytes per byte of
/// token text (the texts and the special-token matcher; pieces are read off them); for
/// BPE vocabularies, per token `BPE_TOK_BYTES` more (the raw-byte index and the merge
/// symbols) and the merge map (a hash table of 16-byte entries and a control byte, a power
/// of two of buckets at most 7/8 full). Fitted on the vocabularies of `../shared/vocab` and
/// Gemma 3 (measured with a counting allocator: within +0 %..+1.3 %; `tests/memory.rs` checks
/// 25 %).
/// Reads only the index, not the strings (whose pages would otherwise stay resident).
pub fn tokenizer_bytes(file: &GgufFile) -> u64 {
    const TOK_BYTES: u64 = 14;
    const BPE_TOK_BYTES: u64 = 16;
    let Ok(model) = file.get_str("tokenizer.ggml.model") else {
        return 0;
    };
    // (count, bytes of text) of a string array.
    let strings = |key: &str| -> (u64, u64) {
        match file.get_array(key).map(|a| (a.len(), a.text_bytes())) {
            Ok((n, Some(text))) => (n as u64, text as u64),
            _ => (0, 0),
        }
    };
    let (n, text) = strings("tokenizer.ggml.tokens");
    let (n_merges, _) = strings("tokenizer.ggml.merges");
    let spm = TOK_BYTES * n + 27 * text / 20;
    if model != "gpt2" {
        return spm;
    }
    let buckets = if n_merges == 0 {
        0
    } else {
        (n_merges * 8).div_ceil(7).max(4).next_power_of_two()
    };
    spm + BPE_TOK_BYTES * n + 17 * buckets
}

/// Parses a size: bytes (`1048576`), or a number with a binary suffix `K`, `M`, `G`, `T`
/// (optionally followed by `B` or `iB`, any case): `512M`, `1.5G`, `64KiB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid size '{s}' (expected bytes or a number with K, M, G or T, e.g. 512M, 1.5G)"
        ))
    };
    let lower = t.to_ascii_lowercase();
    let body = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, mult) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 1u64 << 10),
        Some('m') => (&body[..body.len() - 1], 1 << 20),
        Some('g') => (&body[..body.len() - 1], 1 << 30),
        Some('t') => (&body[..body.len() - 1], 1 << 40),
        _ => (body, 1),
    };
    let num = num.trim();
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(bad);
    }
    let x: f64 = num.parse().map_err(|_| bad())?;
    let v = x * mult as f64;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as u64)
}

/// A figure from `/proc/self/status` in bytes (Linux); `None` elsewhere.
fn proc_status(field: &str) -> Option<u64> {
    proc_kb("/proc/self/status", field)
}

/// The value of the line `field` (e.g. `"VmHWM:"`, `"MemAvailable:"`) of a `/proc` file in
/// kB, in bytes.
fn proc_kb(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The RAM the OS can give without swapping (`MemAvailable` in `/proc/meminfo`), in bytes;
/// `None` where unknown.
pub fn mem_available() -> Option<u64> {
    proc_kb("/proc/meminfo", "MemAvailable:")
}

/// This process's peak resident set (`VmHWM`), in bytes; `None` where unknown.
pub fn peak_rss() -> Option<u64> {
    proc_status("VmHWM:")
}

/// This process's resident set now (`VmRSS`), in bytes; `None` where unknown.
pub fn current_rss() -> Option<u64> {
    proc_status("VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("512mb").unwrap(), 512 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
        for bad in [
            "",
            "M",
            "abc",
            "-1G",
            "1.2.3M",
            "1X",
            "99999999999999999999T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
