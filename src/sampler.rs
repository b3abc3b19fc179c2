//! Token sampling: greedy, repetition penalty, top-k, top-p, min-p, temperature, and a seeded
//! draw from the resulting distribution; plus the log-softmax helpers behind `--logprobs`.
//!
//! The chain follows llama.cpp's default order (`common/common.h`, `src/llama-sampler.cpp`):
//!
//! ```text
//! logits -> penalties -> top-k -> top-p -> min-p -> temperature -> softmax -> seeded draw
//! ```
//!
//! - penalties: every *distinct* token among the last `repeat_last_n` accepted tokens has its
//!   logit divided by `repeat_penalty` when positive, multiplied by it otherwise.
//! - top-k: the `k` largest logits (ties: the lower id first).
//! - top-p: the softmax (temperature 1) of what top-k kept, sorted; the shortest prefix whose
//!   cumulative probability reaches `top_p` (at least one token).
//! - min-p: tokens with `p >= min_p * p_max`, i.e. `logit - max_logit >= ln(min_p)`.
//! - temperature divides the logits of what is left; `temperature <= 0` is greedy instead: the
//!   argmax of the penalized logits, ties to the lowest id, and no random number is drawn.
//!
//! Because top-p and min-p come before temperature, the kept set does not depend on the
//! temperature, exactly as in llama.cpp.
//!
//! Memory: [`Sampler::new`] allocates every buffer (a `(id, logit)` candidate array of
//! `n_vocab` entries, a `n_vocab` byte mark array when penalties are on, a ring of
//! `repeat_last_n` ids). [`Sampler::sample`], [`Sampler::accept`], [`Sampler::candidates`],
//! [`Sampler::reset`] and [`Sampler::set_seed`] never touch the heap.
//!
//! Randomness: xoshiro256** seeded through splitmix64 (no `rand` dependency). A non-greedy
//! [`Sampler::sample`] draws exactly one 64-bit number, whatever the number of candidates (as
//! llama.cpp's `dist` sampler does), so the random stream does not depend on the logits.

use std::cmp::Ordering;

use crate::{Error, Result};

/// The largest accepted `repeat_last_n`: the history ring is allocated up front, so an absurd
/// value (say `usize::MAX`) must be refused rather than attempted.
pub const MAX_REPEAT_LAST_N: usize = 1 << 20;

/// Sampling parameters. The defaults are llama.cpp's (`common_params_sampling`), except the seed,
/// which is a fixed value here: a caller that wants a random seed picks one itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerParams {
    /// Divides the logits before the final softmax. `<= 0` (i.e. `0`) means greedy.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; `0` = off.
    pub top_k: usize,
    /// Nucleus sampling threshold in `(0, 1]`; `1.0` = off.
    pub top_p: f32,
    /// Keep tokens with probability `>= min_p * p_max`; in `[0, 1]`, `0` = off.
    pub min_p: f32,
    /// Repetition penalty `> 0`; `1.0` = off.
    pub repeat_penalty: f32,
    /// How many of the most recently accepted tokens the penalty looks at; `0` = off.
    pub repeat_last_n: usize,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerParams {
    /// The defaults with `temperature = 0`: always the argmax (ties to the lowest id).
    pub fn greedy() -> Self {
        SamplerParams {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Check every parameter; the error names the one at fault.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidArgument(format!("sampler: {what}")));
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return bad(format!("temperature must be a finite number >= 0, got {t}"));
        }
        let p = self.top_p;
        if !(p > 0.0 && p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {p}"));
        }
        let m = self.min_p;
        if !(0.0..=1.0).contains(&m) {
            return bad(format!("min_p must be in [0, 1], got {m}"));
        }
        let r = self.repeat_penalty;
        if !(r.is_finite() && r > 0.0) {
            return bad(format!(
                "repeat_penalty must be a finite number > 0, got {r}"
            ));
        }
        if self.repeat_last_n > MAX_REPEAT_LAST_N {
            return bad(format!(
                "repeat_last_n must be at most {MAX_REPEAT_LAST_N}, got {}",
                self.repeat_last_n
            ));
        }
        Ok(())
    }

    fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    fn penalties_on(&self) -> bool {
        self.repeat_last_n > 0 && self.repeat_penalty != 1.0
    }
}

/// xoshiro256** (Blackman and Vigna), state filled by splitmix64 from a 64-bit seed.
#[derive(Debug, Clone)]
struct Rng {
    s: [u64; 4],
}

/// One step of splitmix64: advances `state` and returns the next output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64) -> Self {
        let mut sm = seed;
        // splitmix64 never yields four zeros in a row, so the state is never all-zero.
        Rng {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Descending logit, ties to the lower id: the order of every sorted candidate list here.
/// Logits are NaN-free by construction (see [`sanitize`]), so `partial_cmp` is total.
fn by_logit_desc(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// NaN becomes `-inf` (never chosen), `+inf` becomes `f32::MAX` (so `l - max` stays finite).
fn sanitize(l: f32) -> f32 {
    if l.is_nan() {
        f32::NEG_INFINITY
    } else {
        l.min(f32::MAX)
    }
}

/// The repetition penalty of a (sanitized) logit: divided when positive, multiplied when not.
fn penalize(l: f32, penalty: f32) -> f32 {
    if l <= 0.0 { l * penalty } else { l / penalty }.min(f32::MAX)
}

/// The id of the largest value, ties to the first seen (the lowest id); NaN never wins.
fn argmax(it: impl Iterator<Item = (u32, f32)>) -> u32 {
    let mut best = 0u32;
    let mut best_l = f32::NEG_INFINITY;
    for (id, l) in it {
        // Strict: an equal later logit does not displace the lower id.
        if l > best_l {
            best_l = l;
            best = id;
        }
    }
    best
}

/// A seeded sampler for one generation stream. See the [module docs](self) for the chain.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplerParams,
    n_vocab: usize,
    rng: Rng,
    /// `(id, value)` candidates, capacity `n_vocab`. `value` is the (penalized) logit while
    /// truncating, and the probability weight once the distribution has been computed.
    cand: Vec<(u32, f32)>,
    /// Whether `cand` is in [`by_logit_desc`] order.
    sorted: bool,
    /// Ring of the last `repeat_last_n` accepted ids: `hist.len()` grows to its capacity, then
    /// `head` is the slot of the oldest entry (the next one overwritten).
    hist: Vec<u32>,
    head: usize,
    /// `n_vocab` flags (empty when penalties are off) used to penalize each id only once.
    seen: Vec<bool>,
}

impl Sampler {
    /// Validate `params` and allocate every buffer for a vocabulary of `n_vocab` tokens.
    pub fn new(params: SamplerParams, n_vocab: usize) -> Result<Sampler> {
        params.validate()?;
        if n_vocab == 0 || n_vocab > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "sampler: n_vocab must be in 1..={}, got {n_vocab}",
                u32::MAX
            )));
        }
        let seen = if params.penalties_on() {
            vec![false; n_vocab]
        } else {
            Vec::new()
        };
        Ok(Sampler {
            params,
            n_vocab,
            rng: Rng::new(params.seed),
            cand: Vec::with_capacity(Self::cand_capacity(&params, n_vocab)),
            sorted: false,
            hist: Vec::with_capacity(params.repeat_last_n),
            head: 0,
            seen,
        })
    }

    /// Room `cand` needs: one for greedy, `2 * top_k` when top-k keeps fewer than the
    /// vocabulary (the running selection of [`Self::top_k`]), else the vocabulary.
    fn cand_capacity(params: &SamplerParams, n_vocab: usize) -> usize {
        let k = params.top_k;
        if params.is_greedy() {
            1
        } else if k > 0 && k < n_vocab {
            2 * k
        } else {
            n_vocab
        }
    }

    /// The parameters this sampler was built with (the seed reflects [`Sampler::set_seed`]).
    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// The vocabulary size: the length `sample` expects of its logits.
    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Record a token for the repetition penalty: the prompt's tokens as well as the generated
    /// ones, as llama.cpp does. Keeps only the last `repeat_last_n`; never allocates.
    pub fn accept(&mut self, id: u32) {
        let cap = self.params.repeat_last_n;
        if cap == 0 {
            return;
        }
        if self.hist.len() < cap {
            // Within the capacity reserved by `new`: no reallocation.
            self.hist.push(id);
        } else {
            self.hist[self.head] = id;
            self.head = (self.head + 1) % cap;
        }
    }

    /// Back to the state of a freshly built sampler (as llama.cpp's `llama_sampler_reset`):
    /// the history is cleared and the generator reseeded with the current seed.
    pub fn reset(&mut self) {
        self.hist.clear();
        self.head = 0;
        self.rng = Rng::new(self.params.seed);
    }

    /// Reseed the generator (the history is kept).
    pub fn set_seed(&mut self, seed: u64) {
        self.params.seed = seed;
        self.rng = Rng::new(seed);
    }

    /// Choose the next token from `logits` (one per vocabulary entry). Does not record it:
    /// call [`Sampler::accept`] with the chosen id. No heap allocation.
    ///
    /// # Panics
    /// If `logits.len() != n_vocab`.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        self.check_len(logits);
        if self.params.is_greedy() {
            return self.greedy(logits);
        }
        self.truncate(logits);
        let sum = self.weights();
        // Exactly one draw per call, whatever the candidate count.
        let target = self.rng.next_f64() * sum;
        // `run` ends at exactly `sum` (same additions in the same order) and `target < sum`,
        // so the strict comparison always fires, and never on a zero-weight candidate.
        let mut run = 0.0f64;
        let mut last_positive = self.cand[0].0;
        for &(id, w) in &self.cand {
            if w > 0.0 {
                run += w as f64;
                last_positive = id;
                if run > target {
                    return id;
                }
            }
        }
        last_positive
    }

    /// Inspection: the candidates that survive the chain for these logits with their final
    /// sampling probabilities (after temperature, summing to 1), most likely first (ties to the
    /// lower id). Greedy gives the argmax alone with probability 1. Draws no random number and
    /// records nothing; no heap allocation.
    ///
    /// # Panics
    /// If `logits.len() != n_vocab`.
    pub fn candidates(&mut self, logits: &[f32]) -> &[(u32, f32)] {
        self.check_len(logits);
        if self.params.is_greedy() {
            let id = self.greedy(logits);
            self.cand.clear();
            self.cand.push((id, 1.0));
            return &self.cand;
        }
        self.truncate(logits);
        let sum = self.weights();
        for c in &mut self.cand {
            c.1 = (c.1 as f64 / sum) as f32;
        }
        if !self.sorted {
            self.cand.sort_unstable_by(by_logit_desc);
            self.sorted = true;
        }
        &self.cand
    }

    fn check_len(&self, logits: &[f32]) {
        assert_eq!(
            logits.len(),
            self.n_vocab,
            "sampler: got {} logits for a vocabulary of {}",
            logits.len(),
            self.n_vocab
        );
    }

    /// Load `cand` with `(id, logit)` in id order and apply the repetition penalty.
    fn fill(&mut self, logits: &[f32]) {
        self.cand.clear();
        // A `TrustedLen` iterator within the reserved capacity: no reallocation.
        self.cand.extend(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as u32, sanitize(l))),
        );
        self.sorted = false;
        if !self.params.penalties_on() {
            return;
        }
        // `cand[id]` holds token `id` here. Penalize each distinct id once, then clear the marks.
        for &id in &self.hist {
            let i = id as usize;
            if i < self.n_vocab && !self.seen[i] {
                self.seen[i] = true;
                self.cand[i].1 = penalize(self.cand[i].1, self.params.repeat_penalty);
            }
        }
        self.mark_seen(false);
    }

    /// Sets (or clears) the `seen` flag of every id in the history (penalties on only).
    fn mark_seen(&mut self, on: bool) {
        for &id in &self.hist {
            if let Some(s) = self.seen.get_mut(id as usize) {
                *s = on;
            }
        }
    }

    /// The value sampling ranks token `i` by: its logit, sanitized, penalized when the
    /// history marks it (`seen` is set by [`Self::mark_seen`] when penalties are on).
    #[inline]
    fn value(&self, i: usize, l: f32) -> f32 {
        let l = sanitize(l);
        if self.seen.get(i).copied().unwrap_or(false) {
            penalize(l, self.params.repeat_penalty)
        } else {
            l
        }
    }

    /// Argmax of the penalized logits, ties to the lowest id.
    fn greedy(&mut self, logits: &[f32]) -> u32 {
        if self.params.penalties_on() {
            self.mark_seen(true);
            let id = argmax(
                logits
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (i as u32, self.value(i, l))),
            );
            self.mark_seen(false);
            id
        } else {
            argmax(logits.iter().enumerate().map(|(i, &l)| (i as u32, l)))
        }
    }

    /// Leaves the `k` best `(id, value)` in `cand`, sorted, without a vocabulary-sized array:
    /// a running selection in a buffer of `2k` that, when full, keeps its `k` best and from
    /// then on admits only candidates better than the worst of those. The order is total
    /// (ties to the lower id), so the set is the one a full sort would give.
    fn top_k(&mut self, logits: &[f32], k: usize) {
        debug_assert!(k > 0 && self.cand.capacity() >= 2 * k);
        self.mark_seen(true);
        self.cand.clear();
        let mut worst: Option<(u32, f32)> = None;
        for (i, &l) in logits.iter().enumerate() {
            let c = (i as u32, self.value(i, l));
            let better = |w: &(u32, f32)| by_logit_desc(&c, w) == Ordering::Less;
            if worst.as_ref().is_some_and(|w| !better(w)) {
                continue;
            }
            if self.cand.len() == 2 * k {
                self.cand.select_nth_unstable_by(k - 1, by_logit_desc);
                self.cand.truncate(k);
                worst = Some(self.cand[k - 1]);
                if !better(&self.cand[k - 1]) {
                    continue;
                }
            }
            self.cand.push(c);
        }
        self.mark_seen(false);
        if self.cand.len() > k {
            self.cand.select_nth_unstable_by(k - 1, by_logit_desc);
            self.cand.truncate(k);
        }
        self.cand.sort_unstable_by(by_logit_desc);
        self.sorted = true;
    }

    /// Penalties, top-k, top-p, min-p: leaves the kept `(id, logit)` set in `cand`.
    fn truncate(&mut self, logits: &[f32]) {
        let k = self.params.top_k;
        if k > 0 && k < logits.len() {
            self.top_k(logits, k);
        } else {
            self.fill(logits);
        }
        if self.params.top_p < 1.0 {
            self.top_p();
        }
        if self.params.min_p > 0.0 {
            self.min_p();
        }
    }

    fn max_logit(&self) -> f32 {
        if self.sorted {
            self.cand[0].1
        } else {
            self.cand.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.1))
        }
    }

    /// Keep the shortest most-likely prefix whose probability mass reaches `top_p`.
    fn top_p(&mut self) {
        let max = self.max_logit();
        if max == f32::NEG_INFINITY {
            return; // no finite logit: nothing to rank
        }
        // Unnormalized weights: compare the running sum with `top_p * sum` (no division).
        let w = |l: f32| (l - max).exp() as f64;
        let sum: f64 = self.cand.iter().map(|c| w(c.1)).sum();
        let target = self.params.top_p as f64 * sum;
        let n = self.cand.len();
        let mut cum = 0.0f64;
        if self.sorted {
            for i in 0..n {
                cum += w(self.cand[i].1);
                if cum >= target {
                    self.cand.truncate(i + 1);
                    return;
                }
            }
            return;
        }
        // Unsorted (top-k off): usually a few hundred tokens carry the mass, so rank the
        // candidates in growing blocks (as llama.cpp's adaptive sort) instead of sorting all.
        // Invariant: `cand[..done]` holds the `done` most likely, sorted.
        let mut done = 0;
        let mut m = n.min(256);
        loop {
            let rest = &mut self.cand[done..];
            let want = m - done;
            if want < rest.len() {
                rest.select_nth_unstable_by(want - 1, by_logit_desc);
            }
            rest[..want].sort_unstable_by(by_logit_desc);
            for i in done..m {
                cum += w(self.cand[i].1);
                if cum >= target {
                    self.cand.truncate(i + 1);
                    self.sorted = true;
                    return;
                }
            }
            done = m;
            if m == n {
                self.sorted = true;
                return;
            }
            m = n.min(m.saturating_mul(8));
        }
    }

    /// Keep tokens with `p >= min_p * p_max`, i.e. `logit - max >= ln(min_p)`.
    fn min_p(&mut self) {
        let max = self.max_logit();
        if max == f32::NEG_INFINITY {
            return;
        }
        let ln_p = self.params.min_p.ln();
        if self.sorted {
            // The first (the max) always stays.
            let keep = 1 + self.cand[1..]
                .iter()
                .take_while(|c| c.1 - max >= ln_p)
                .count();
            self.cand.truncate(keep);
        } else {
            self.cand.retain(|c| c.1 - max >= ln_p);
        }
    }

    /// Replace each kept logit by its unnormalized probability `exp((l - max) / T)` and return
    /// the sum (f64). With no finite logit left, all weights are 1 (uniform).
    fn weights(&mut self) -> f64 {
        let max = self.max_logit();
        let t = self.params.temperature;
        let mut sum = 0.0f64;
        for c in &mut self.cand {
            c.1 = if max == f32::NEG_INFINITY {
                1.0
            } else {
                // Temperature applied after the shift: the same softmax as `l / T`, but
                // `(l - max) / T <= 0` cannot overflow for a small T.
                ((c.1 - max) / t).exp()
            };
            sum += c.1 as f64;
        }
        sum
    }
}

/// `log(sum(exp(logits)))`, computed stably (shifted by the max, exp-sum accumulated in f64).
/// NaN logits count as `-inf`; with no finite logit the result is `-inf`.
pub fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits
        .iter()
        .fold(f32::NEG_INFINITY, |m, &l| m.max(sanitize(l)));
    if max == f32::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = logits
        .iter()
        .map(|&l| (sanitize(l) - max).exp() as f64)
        .sum();
    max as f64 + sum.ln()
}

/// The log-softmax of the raw `logits` at `id`: `logits[id] - log_sum_exp(logits)`.
///
/// # Panics
/// If `id` is out of range.
pub fn log_softmax_at(logits: &[f32], id: u32) -> f32 {
    let l = sanitize(logits[id as usize]) as f64;
    let lse = log_sum_exp(logits);
    if lse == f64::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    (l - lse) as f32
}

/// The `k` most likely ids with their log-softmax over the raw `logits`, in descending order
/// (ties to the lower id), written into `out` (cleared first). Returns the log-sum-exp.
///
/// Allocation: none when `out` has capacity for `k` entries (or `logits.len()` entries when
/// `k > 64`, where a partial selection over the whole vocabulary is used).
pub fn log_softmax_top(logits: &[f32], k: usize, out: &mut Vec<(u32, f32)>) -> f64 {
    out.clear();
    let lse = log_sum_exp(logits);
    let k = k.min(logits.len());
    if k == 0 {
        return lse;
    }
    if k <= 64 {
        // One pass keeping a sorted list of at most k. Strict comparisons: an equal logit seen
        // later (a higher id) never displaces or precedes an earlier one.
        for (i, &l) in logits.iter().enumerate() {
            let l = sanitize(l);
            if out.len() == k && l <= out[k - 1].1 {
                continue;
            }
            let pos = out.partition_point(|c| c.1 >= l);
            if out.len() == k {
                out.pop();
            }
            out.insert(pos, (i as u32, l));
        }
    } else {
        out.extend(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as u32, sanitize(l))),
        );
        if k < out.len() {
            out.select_nth_unstable_by(k - 1, by_logit_desc);
            out.truncate(k);
        }
        out.sort_unstable_by(by_logit_desc);
    }
    for c in out.iter_mut() {
        c.1 = if lse == f64::NEG_INFINITY {
            f32::NEG_INFINITY
        } else {
            (c.1 as f64 - lse) as f32
        };
    }
    lse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_value() {
        // splitmix64 from state 0: first output, from the reference implementation.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn xoshiro_first_output_from_known_state() {
        // With s = [1, 2, 3, 4]: rotl(2 * 5, 7) * 9 = 11520.
        let mut r = Rng { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 11520);
        assert_ne!(r.next_u64(), 11520);
    }

    #[test]
    fn next_f64_is_in_unit_interval_and_spread() {
        let mut r = Rng::new(7);
        let mut lo = 0;
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            if x < 0.5 {
                lo += 1;
            }
        }
        assert!((4_700..5_300).contains(&lo), "{lo}");
    }

    #[test]
    fn history_ring_keeps_last_n() {
        let p = SamplerParams {
            repeat_last_n: 3,
            repeat_penalty: 2.0,
            ..SamplerParams::default()
        };
        let mut s = Sampler::new(p, 10).unwrap();
        for id in [1, 2, 3, 4, 5] {
            s.accept(id);
        }
        let mut h: Vec<u32> = s.hist.clone();
        h.sort();
        assert_eq!(h, vec![3, 4, 5]);
        s.reset();
        assert!(s.hist.is_empty());
    }

    #[test]
    fn sanitize_maps_nan_and_inf() {
        assert_eq!(sanitize(f32::NAN), f32::NEG_INFINITY);
        assert_eq!(sanitize(f32::INFINITY), f32::MAX);
        assert_eq!(sanitize(1.5), 1.5);
    }
}
