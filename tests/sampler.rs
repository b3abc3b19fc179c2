//! The sampler against hand-built distributions and brute-force references: seeded
//! determinism, greedy ties, the exact sets kept by top-k / top-p / min-p, empirical
//! frequencies, the repetition penalty, log-softmax helpers, and zero allocation after `new`.

use ferrite::sampler::{log_softmax_at, log_softmax_top, log_sum_exp, Sampler, SamplerParams};
use ferrite::Error;

#[path = "util/thread_allocs.rs"]
mod thread_allocs;
use thread_allocs::allocs;

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A tiny deterministic generator for test data (independent of the sampler's).
struct TestRng(u64);

impl TestRng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    fn logits(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Only the stage under test: everything else off, temperature 1.
fn plain() -> SamplerParams {
    SamplerParams {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        repeat_penalty: 1.0,
        repeat_last_n: 64,
        seed: 1234,
    }
}

/// Logits whose softmax is exactly `probs` (up to rounding), placed at the given ids.
fn logits_from_probs(n: usize, placed: &[(u32, f64)]) -> Vec<f32> {
    let mut l = vec![f32::NEG_INFINITY; n];
    for &(id, p) in placed {
        l[id as usize] = p.ln() as f32;
    }
    l
}

/// The 0.5 / 0.2 / 0.15 / 0.1 / 0.05 distribution, scattered over ids so that id order and
/// probability order differ.
fn five() -> Vec<f32> {
    logits_from_probs(5, &[(3, 0.5), (0, 0.2), (4, 0.15), (1, 0.1), (2, 0.05)])
}

fn ids(c: &[(u32, f32)]) -> Vec<u32> {
    c.iter().map(|c| c.0).collect()
}

fn kept(params: SamplerParams, logits: &[f32]) -> Vec<(u32, f32)> {
    let mut s = Sampler::new(params, logits.len()).unwrap();
    s.candidates(logits).to_vec()
}

fn draws(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<u32> {
    (0..n).map(|_| s.sample(logits)).collect()
}

/// Plain argmax, first (lowest id) on ties.
fn reference_argmax(l: &[f32]) -> u32 {
    let mut best = 0;
    for i in 1..l.len() {
        if l[i] > l[best] {
            best = i;
        }
    }
    best as u32
}

// ---------------------------------------------------------------------------------------------
// Parameters.

#[test]
fn defaults_are_llama_cpp_defaults() {
    let p = SamplerParams::default();
    assert_eq!(p.temperature, 0.8);
    assert_eq!(p.top_k, 40);
    assert_eq!(p.top_p, 0.95);
    assert_eq!(p.min_p, 0.05);
    assert_eq!(p.repeat_penalty, 1.0);
    assert_eq!(p.repeat_last_n, 64);
    assert_eq!(SamplerParams::greedy().temperature, 0.0);
}

#[test]
fn invalid_parameters_are_refused_by_name() {
    let cases: Vec<(SamplerParams, &str)> = vec![
        (
            SamplerParams {
                temperature: -0.1,
                ..plain()
            },
            "temperature",
        ),
        (
            SamplerParams {
                temperature: f32::NAN,
                ..plain()
            },
            "temperature",
        ),
        (
            SamplerParams {
                top_p: 0.0,
                ..plain()
            },
            "top_p",
        ),
        (
            SamplerParams {
                top_p: 1.01,
                ..plain()
            },
            "top_p",
        ),
        (
            SamplerParams {
                top_p: f32::NAN,
                ..plain()
            },
            "top_p",
        ),
        (
            SamplerParams {
                min_p: -0.01,
                ..plain()
            },
            "min_p",
        ),
        (
            SamplerParams {
                min_p: 1.5,
                ..plain()
            },
            "min_p",
        ),
        (
            SamplerParams {
                min_p: f32::NAN,
                ..plain()
            },
            "min_p",
        ),
        (
            SamplerParams {
                repeat_penalty: 0.0,
                ..plain()
            },
            "repeat_penalty",
        ),
        (
            SamplerParams {
                repeat_penalty: -1.0,
                ..plain()
            },
            "repeat_penalty",
        ),
        (
            SamplerParams {
                repeat_penalty: f32::NAN,
                ..plain()
            },
            "repeat_penalty",
        ),
        (
            SamplerParams {
                repeat_last_n: usize::MAX,
                ..plain()
            },
            "repeat_last_n",
        ),
    ];
    for (p, name) in cases {
        match Sampler::new(p, 10) {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains(name), "{msg} for {p:?}"),
            other => panic!("{p:?}: expected InvalidArgument naming {name}, got {other:?}"),
        }
    }
    assert!(matches!(
        Sampler::new(plain(), 0),
        Err(Error::InvalidArgument(_))
    ));
    // The boundaries themselves are valid.
    for p in [
        SamplerParams {
            temperature: 0.0,
            top_p: 1.0,
            min_p: 0.0,
            ..plain()
        },
        SamplerParams {
            min_p: 1.0,
            top_p: 1e-6,
            ..plain()
        },
    ] {
        assert!(Sampler::new(p, 10).is_ok(), "{p:?}");
    }
}

#[test]
#[should_panic(expected = "logits")]
fn wrong_logit_count_panics() {
    let mut s = Sampler::new(plain(), 10).unwrap();
    s.sample(&[0.0; 9]);
}

// ---------------------------------------------------------------------------------------------
// Determinism.

#[test]
fn same_seed_same_sequence() {
    let p = SamplerParams {
        repeat_penalty: 1.1,
        seed: 42,
        ..SamplerParams::default()
    };
    let mut a = Sampler::new(p, 500).unwrap();
    let mut b = Sampler::new(p, 500).unwrap();
    let mut data = TestRng(9);
    let mut seq = Vec::new();
    for _ in 0..200 {
        let l = data.logits(500, -2.0, 2.0);
        let (x, y) = (a.sample(&l), b.sample(&l));
        assert_eq!(x, y);
        a.accept(x);
        b.accept(y);
        seq.push(x);
    }
    // Not a degenerate stream: it is actually random.
    seq.sort();
    seq.dedup();
    assert!(seq.len() > 50, "{} distinct ids", seq.len());
}

#[test]
fn different_seeds_different_sequences() {
    let l = TestRng(5).logits(50, 0.0, 0.5); // flat-ish
    let run = |seed| {
        let mut s = Sampler::new(SamplerParams { seed, ..plain() }, 50).unwrap();
        draws(&mut s, &l, 100)
    };
    let base = run(1);
    for seed in [2, 3, 1 << 40, u64::MAX] {
        let other = run(seed);
        let same = base.iter().zip(&other).filter(|(a, b)| a == b).count();
        // Expect about 100/50 = 2 coincidences.
        assert!(same < 20, "seed {seed}: {same} of 100 equal");
    }
    assert_eq!(run(1), base);
}

#[test]
fn set_seed_and_reset_restart_the_stream() {
    let l = TestRng(6).logits(50, 0.0, 1.0);
    let mut fresh7 = Sampler::new(SamplerParams { seed: 7, ..plain() }, 50).unwrap();
    let want7 = draws(&mut fresh7, &l, 50);

    let mut s = Sampler::new(SamplerParams { seed: 1, ..plain() }, 50).unwrap();
    draws(&mut s, &l, 13);
    s.set_seed(7);
    assert_eq!(s.params().seed, 7);
    assert_eq!(draws(&mut s, &l, 50), want7);
    // reset: as freshly built with the current seed.
    s.reset();
    assert_eq!(draws(&mut s, &l, 50), want7);
}

#[test]
fn reset_clears_the_penalty_history() {
    let p = SamplerParams {
        repeat_penalty: 2.0,
        ..SamplerParams::greedy()
    };
    let mut s = Sampler::new(p, 3).unwrap();
    let l = [1.0, 0.8, 0.0];
    s.accept(0);
    assert_eq!(s.sample(&l), 1);
    s.reset();
    assert_eq!(s.sample(&l), 0);
}

// ---------------------------------------------------------------------------------------------
// Greedy.

#[test]
fn temperature_zero_is_argmax() {
    let mut data = TestRng(11);
    let mut s = Sampler::new(SamplerParams::greedy(), 1000).unwrap();
    for _ in 0..50 {
        let l = data.logits(1000, -10.0, 10.0);
        assert_eq!(s.sample(&l), reference_argmax(&l));
    }
    // Greedy ignores top-k / top-p / min-p settings: still the argmax.
    let l = data.logits(1000, -10.0, 10.0);
    let mut t = Sampler::new(
        SamplerParams {
            temperature: 0.0,
            top_k: 1,
            top_p: 0.1,
            min_p: 0.9,
            ..plain()
        },
        1000,
    )
    .unwrap();
    assert_eq!(t.sample(&l), reference_argmax(&l));
}

#[test]
fn temperature_zero_ties_go_to_the_lowest_id() {
    let mut s = Sampler::new(SamplerParams::greedy(), 6).unwrap();
    assert_eq!(s.sample(&[1.0, 3.0, 2.0, 3.0, 3.0, 0.0]), 1);
    assert_eq!(s.sample(&[-5.0, -5.0, -7.0, -5.0, -9.0, -5.0]), 0);
    assert_eq!(s.sample(&[0.0; 6]), 0);
    assert_eq!(s.sample(&[0.0, 0.0, 0.0, 0.0, 4.0, 4.0]), 4);
    // NaN never wins.
    assert_eq!(s.sample(&[f32::NAN, 1.0, 2.0, f32::NAN, 2.0, 0.0]), 2);
    assert_eq!(s.candidates(&[1.0, 3.0, 2.0, 3.0, 3.0, 0.0]), &[(1, 1.0)]);
    // Large vocabulary, tie at the far end and a later equal maximum.
    let mut l = vec![0.0f32; 262_144];
    l[200_000] = 7.5;
    l[262_143] = 7.5;
    let mut s = Sampler::new(SamplerParams::greedy(), l.len()).unwrap();
    assert_eq!(s.sample(&l), 200_000);
}

// ---------------------------------------------------------------------------------------------
// The kept sets.

#[test]
fn top_k_keeps_the_k_largest() {
    let l = five();
    let c = kept(
        SamplerParams {
            top_k: 2,
            ..plain()
        },
        &l,
    );
    assert_eq!(ids(&c), vec![3, 0]);
    // Renormalized over what is kept: 0.5/0.7 and 0.2/0.7.
    assert!((c[0].1 - 0.5 / 0.7).abs() < 1e-5, "{c:?}");
    assert!((c[1].1 - 0.2 / 0.7).abs() < 1e-5, "{c:?}");
    assert_eq!(
        ids(&kept(
            SamplerParams {
                top_k: 1,
                ..plain()
            },
            &l
        )),
        vec![3]
    );
    assert_eq!(
        ids(&kept(
            SamplerParams {
                top_k: 4,
                ..plain()
            },
            &l
        )),
        vec![3, 0, 4, 1]
    );
    // k >= n and k = 0 keep everything.
    assert_eq!(
        kept(
            SamplerParams {
                top_k: 5,
                ..plain()
            },
            &l
        )
        .len(),
        5
    );
    assert_eq!(
        kept(
            SamplerParams {
                top_k: 99,
                ..plain()
            },
            &l
        )
        .len(),
        5
    );
    assert_eq!(kept(plain(), &l).len(), 5);
}

#[test]
fn top_k_ties_keep_the_lower_ids() {
    let l = [1.0, 2.0, 2.0, 2.0, 0.0, 2.0];
    let c = kept(
        SamplerParams {
            top_k: 2,
            ..plain()
        },
        &l,
    );
    assert_eq!(ids(&c), vec![1, 2]);
    // Same on a large vocabulary with many equal values, where selection does the work.
    let mut big = vec![0.0f32; 100_000];
    for i in (50_000..100_000).step_by(7) {
        big[i] = 3.0;
    }
    let c = kept(
        SamplerParams {
            top_k: 5,
            ..plain()
        },
        &big,
    );
    assert_eq!(ids(&c), vec![50_000, 50_007, 50_014, 50_021, 50_028]);
}

#[test]
fn top_k_matches_a_full_sort_on_random_logits() {
    let mut data = TestRng(21);
    for k in [1, 3, 40, 257] {
        let l = data.logits(20_000, -8.0, 8.0);
        let mut order: Vec<u32> = (0..l.len() as u32).collect();
        order.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
        let c = kept(
            SamplerParams {
                top_k: k,
                ..plain()
            },
            &l,
        );
        assert_eq!(ids(&c), order[..k].to_vec(), "k = {k}");
    }
}

#[test]
fn top_p_keeps_the_smallest_prefix_reaching_p() {
    let l = five();
    let tp = |top_p| ids(&kept(SamplerParams { top_p, ..plain() }, &l));
    assert_eq!(tp(0.8), vec![3, 0, 4]); // 0.5 + 0.2 + 0.15 = 0.85 >= 0.8
    assert_eq!(tp(0.3), vec![3]);
    assert_eq!(tp(0.01), vec![3]); // at least one
    assert_eq!(tp(0.6), vec![3, 0]);
    assert_eq!(tp(0.9), vec![3, 0, 4, 1]);
    assert_eq!(tp(0.99), vec![3, 0, 4, 1, 2]);
    let c = kept(
        SamplerParams {
            top_p: 0.8,
            ..plain()
        },
        &l,
    );
    assert!((c[2].1 - 0.15 / 0.85).abs() < 1e-5, "{c:?}");
}

#[test]
fn top_p_after_top_k_uses_the_renormalized_distribution() {
    // Alone, top_p 0.65 needs 0.5 + 0.2. After top_k 2 the first has 0.5/0.7 = 0.714 >= 0.65.
    let l = five();
    assert_eq!(
        ids(&kept(
            SamplerParams {
                top_p: 0.65,
                ..plain()
            },
            &l
        )),
        vec![3, 0]
    );
    let both = SamplerParams {
        top_k: 2,
        top_p: 0.65,
        ..plain()
    };
    assert_eq!(ids(&kept(both, &l)), vec![3]);
}

#[test]
fn top_p_on_a_large_unsorted_vocabulary() {
    // 5000 equal logits: p = 0.5001 needs 2501 tokens (well past the first ranking block),
    // and ties go to the lower ids.
    let l = vec![0.25f32; 5000];
    let c = kept(
        SamplerParams {
            top_p: 0.5001,
            ..plain()
        },
        &l,
    );
    assert_eq!(ids(&c), (0..2501).collect::<Vec<u32>>());

    // Against a brute-force reference on random logits.
    let mut data = TestRng(31);
    for &p in &[0.1f32, 0.5, 0.9, 0.95, 0.999] {
        let l = data.logits(30_000, -3.0, 3.0);
        let mut order: Vec<u32> = (0..l.len() as u32).collect();
        order.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
        let max = l[order[0] as usize] as f64;
        let w: Vec<f64> = l.iter().map(|&x| (x as f64 - max).exp()).collect();
        let sum: f64 = w.iter().sum();
        let mut cum = 0.0;
        let mut n = 0;
        for &id in &order {
            cum += w[id as usize] / sum;
            n += 1;
            if cum >= p as f64 {
                break;
            }
        }
        let c = kept(
            SamplerParams {
                top_p: p,
                ..plain()
            },
            &l,
        );
        assert!(c.len().abs_diff(n) <= 1, "p {p}: kept {} want {n}", c.len());
        let m = c.len().min(n);
        assert_eq!(ids(&c)[..m], order[..m], "p {p}");
        let total: f32 = c.iter().map(|c| c.1).sum();
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }
}

#[test]
fn min_p_keeps_tokens_above_the_fraction_of_the_max() {
    let l = five();
    let mp = |min_p, top_k| {
        ids(&kept(
            SamplerParams {
                min_p,
                top_k,
                ..plain()
            },
            &l,
        ))
    };
    // p >= 0.25 * 0.5 = 0.125: 0.5, 0.2, 0.15. Unsorted (top_k off) and sorted paths agree.
    assert_eq!(mp(0.25, 0), vec![3, 0, 4]);
    assert_eq!(mp(0.25, 5), vec![3, 0, 4]);
    // p >= 0.45: only the max; 1.0: the max alone; 0.05: all of them (0.05 >= 0.025).
    assert_eq!(mp(0.9, 0), vec![3]);
    assert_eq!(mp(1.0, 0), vec![3]);
    assert_eq!(mp(0.05, 0), vec![3, 0, 4, 1, 2]);
    assert_eq!(mp(0.05, 5), vec![3, 0, 4, 1, 2]);
    // p >= 0.35 * 0.5 = 0.175: 0.5, 0.2.
    assert_eq!(mp(0.35, 0), vec![3, 0]);
    assert_eq!(mp(0.35, 3), vec![3, 0]);
}

#[test]
fn min_p_matches_a_brute_force_filter() {
    let mut data = TestRng(41);
    for &m in &[0.01f32, 0.05, 0.3] {
        let l = data.logits(20_000, -6.0, 6.0);
        let max = l.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let mut want: Vec<u32> = (0..l.len() as u32)
            .filter(|&i| (l[i as usize] as f64 - max).exp() >= m as f64 * 1.0 - 1e-12)
            .collect();
        let c = kept(
            SamplerParams {
                min_p: m,
                ..plain()
            },
            &l,
        );
        let mut got = ids(&c);
        got.sort();
        want.sort();
        // Allow a token exactly at the threshold to differ by rounding.
        assert!(
            got.len().abs_diff(want.len()) <= 1,
            "{m}: {} vs {}",
            got.len(),
            want.len()
        );
        let common = got
            .iter()
            .filter(|id| want.binary_search(id).is_ok())
            .count();
        assert!(common + 1 >= want.len(), "{m}");
    }
}

#[test]
fn temperature_reshapes_but_does_not_change_the_kept_set() {
    let l = five();
    for t in [0.3f32, 1.0, 2.5] {
        let c = kept(
            SamplerParams {
                temperature: t,
                top_p: 0.8,
                ..plain()
            },
            &l,
        );
        assert_eq!(ids(&c), vec![3, 0, 4], "T {t}");
        // p_i ∝ p_i^(1/T) over the kept set.
        let w: Vec<f64> = [0.5f64, 0.2, 0.15]
            .iter()
            .map(|p| p.powf(1.0 / t as f64))
            .collect();
        let s: f64 = w.iter().sum();
        for (ci, wi) in c.iter().zip(&w) {
            assert!((ci.1 as f64 - wi / s).abs() < 1e-5, "T {t}: {c:?}");
        }
    }
}

#[test]
fn default_chain_on_a_gemma_sized_vocabulary() {
    // Defaults: top_k 40 -> top_p 0.95 -> min_p 0.05 -> T 0.8. Check against a reference.
    let mut data = TestRng(51);
    let l = data.logits(262_144, -5.0, 15.0);
    let mut order: Vec<u32> = (0..l.len() as u32).collect();
    order.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
    let top: Vec<u32> = order[..40].to_vec();
    let max = l[top[0] as usize] as f64;
    let w: Vec<f64> = top
        .iter()
        .map(|&i| (l[i as usize] as f64 - max).exp())
        .collect();
    let sum: f64 = w.iter().sum();
    let mut n = 0;
    let mut cum = 0.0;
    for wi in &w {
        cum += wi / sum;
        n += 1;
        if cum >= 0.95 {
            break;
        }
    }
    let n = top[..n]
        .iter()
        .take_while(|&&i| (l[i as usize] as f64 - max).exp() >= 0.05)
        .count();
    let c = kept(SamplerParams::default(), &l);
    assert_eq!(ids(&c), top[..n].to_vec());
}

// ---------------------------------------------------------------------------------------------
// Sampling from the distribution.

fn frequencies(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<f64> {
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..n {
        counts[s.sample(logits) as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / n as f64).collect()
}

fn softmax(l: &[f32], t: f32) -> Vec<f64> {
    let max = l.iter().cloned().fold(f32::MIN, f32::max) as f64;
    let w: Vec<f64> = l
        .iter()
        .map(|&x| ((x as f64 - max) / t as f64).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

#[test]
fn empirical_frequencies_match_the_softmax() {
    let l = [1.0f32, 2.0, 0.5, -1.0, 2.5, 0.0, 1.5];
    let n = 200_000;
    for t in [1.0f32, 0.7, 1.8] {
        let mut s = Sampler::new(
            SamplerParams {
                temperature: t,
                seed: 99,
                ..plain()
            },
            l.len(),
        )
        .unwrap();
        let f = frequencies(&mut s, &l, n);
        let want = softmax(&l, t);
        for (i, (fi, wi)) in f.iter().zip(&want).enumerate() {
            // 3.5 standard errors at most ~0.004; allow 0.01.
            assert!((fi - wi).abs() < 0.01, "T {t} id {i}: {fi} vs {wi}");
        }
    }
}

#[test]
fn empirical_frequencies_after_truncation() {
    // top_k 3 on the five-token distribution: 0.5, 0.2, 0.15 renormalized; the others never.
    let l = five();
    let mut s = Sampler::new(
        SamplerParams {
            top_k: 3,
            seed: 3,
            ..plain()
        },
        5,
    )
    .unwrap();
    let f = frequencies(&mut s, &l, 100_000);
    assert_eq!(f[1], 0.0);
    assert_eq!(f[2], 0.0);
    for (id, p) in [(3usize, 0.5 / 0.85), (0, 0.2 / 0.85), (4, 0.15 / 0.85)] {
        assert!((f[id] - p).abs() < 0.01, "id {id}: {} vs {p}", f[id]);
    }
}

#[test]
fn never_samples_a_minus_infinity_or_nan_logit() {
    let l = [f32::NEG_INFINITY, 0.0, f32::NAN, 0.0, f32::NEG_INFINITY];
    let mut s = Sampler::new(plain(), 5).unwrap();
    for _ in 0..2000 {
        let id = s.sample(&l);
        assert!(id == 1 || id == 3, "{id}");
    }
}

// ---------------------------------------------------------------------------------------------
// Repetition penalty.

#[test]
fn repetition_penalty_changes_the_argmax() {
    let p = SamplerParams {
        repeat_penalty: 1.5,
        ..SamplerParams::greedy()
    };
    let mut s = Sampler::new(p, 4).unwrap();
    let l = [2.0f32, 1.9, -1.0, -1.1];
    assert_eq!(s.sample(&l), 0);
    s.accept(0); // 2.0 / 1.5 = 1.33 < 1.9
    assert_eq!(s.sample(&l), 1);
    s.accept(1); // 1.9 / 1.5 = 1.27 < 1.33
    assert_eq!(s.sample(&l), 0);

    // Negative logits are multiplied: -1.0 * 1.5 = -1.5 < -1.2.
    let mut s = Sampler::new(p, 2).unwrap();
    let l = [-1.0f32, -1.2];
    s.accept(0);
    assert_eq!(s.sample(&l), 1);

    // A penalty below 1 boosts a repeated token instead.
    let boost = SamplerParams {
        repeat_penalty: 0.5,
        ..SamplerParams::greedy()
    };
    let mut s = Sampler::new(boost, 2).unwrap();
    s.accept(1);
    assert_eq!(s.sample(&[2.0, 1.2]), 1);
}

#[test]
fn repetition_penalty_applies_once_per_distinct_token() {
    let p = SamplerParams {
        repeat_penalty: 1.5,
        ..SamplerParams::greedy()
    };
    let mut s = Sampler::new(p, 2).unwrap();
    for _ in 0..3 {
        s.accept(0);
    }
    // Once: 2.0 / 1.5 = 1.33 > 1.2. Thrice would be 0.59 < 1.2.
    assert_eq!(s.sample(&[2.0, 1.2]), 0);
}

#[test]
fn repetition_penalty_only_sees_the_last_n_tokens() {
    let p = SamplerParams {
        repeat_penalty: 1.5,
        repeat_last_n: 2,
        ..SamplerParams::greedy()
    };
    let mut s = Sampler::new(p, 8).unwrap();
    let l = [2.0f32, 1.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    s.accept(0);
    assert_eq!(s.sample(&l), 1);
    s.accept(5);
    assert_eq!(s.sample(&l), 1); // 0 still among the last 2
    s.accept(6);
    assert_eq!(s.sample(&l), 0); // 0 has left the window

    // repeat_last_n = 0 disables the penalty.
    let off = SamplerParams {
        repeat_last_n: 0,
        ..p
    };
    let mut s = Sampler::new(off, 8).unwrap();
    s.accept(0);
    assert_eq!(s.sample(&l), 0);
}

#[test]
fn repetition_penalty_shapes_the_probabilities() {
    let p = SamplerParams {
        repeat_penalty: 2.0,
        ..plain()
    };
    let mut s = Sampler::new(p, 3).unwrap();
    s.accept(0);
    s.accept(2);
    let l = [2.0f32, 1.0, -1.0];
    let c = s.candidates(&l).to_vec();
    // Penalized logits: 1.0, 1.0, -2.0.
    let want = softmax(&[1.0, 1.0, -2.0], 1.0);
    assert_eq!(ids(&c), vec![0, 1, 2]);
    for (ci, wi) in c.iter().zip(&want) {
        assert!((ci.1 as f64 - wi).abs() < 1e-6, "{c:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Log-softmax helpers.

fn reference_log_softmax(l: &[f32]) -> Vec<f64> {
    let max = l.iter().cloned().fold(f32::MIN, f32::max) as f64;
    let s: f64 = l.iter().map(|&x| (x as f64 - max).exp()).sum();
    l.iter().map(|&x| x as f64 - max - s.ln()).collect()
}

#[test]
fn log_softmax_at_matches_a_reference() {
    let l = TestRng(61).logits(50_000, -20.0, 20.0);
    let r = reference_log_softmax(&l);
    for id in [0u32, 1, 777, 49_999] {
        let got = log_softmax_at(&l, id) as f64;
        assert!(
            (got - r[id as usize]).abs() < 1e-4,
            "{id}: {got} vs {}",
            r[id as usize]
        );
    }
    // Stable for huge logits.
    let big = [1000.0f32, 999.0, 0.0];
    let lp = log_softmax_at(&big, 0) as f64;
    let want = -(1.0 + (-1.0f64).exp() + (-1000.0f64).exp()).ln();
    assert!((lp - want).abs() < 1e-6, "{lp}");
    assert!((log_sum_exp(&big) - (1000.0 - want)).abs() < 1e-4);
    // Uniform: ln(1/4).
    assert!((log_softmax_at(&[3.0; 4], 2) as f64 - 0.25f64.ln()).abs() < 1e-6);
}

#[test]
fn log_softmax_top_is_descending_with_ties_to_lower_ids() {
    let l = [0.5f32, 2.0, 1.0, 2.0, -1.0, 1.0, 2.0];
    let r = reference_log_softmax(&l);
    let mut out = Vec::new();
    log_softmax_top(&l, 4, &mut out);
    assert_eq!(ids(&out), vec![1, 3, 6, 2]);
    for &(id, lp) in &out {
        assert!((lp as f64 - r[id as usize]).abs() < 1e-6);
    }
    log_softmax_top(&l, 0, &mut out);
    assert!(out.is_empty());
    log_softmax_top(&l, 100, &mut out);
    assert_eq!(ids(&out), vec![1, 3, 6, 2, 5, 0, 4]);
}

#[test]
fn log_softmax_top_small_and_large_k_agree_with_a_sort() {
    let mut l = TestRng(71).logits(20_000, -5.0, 5.0);
    // Some exact ties.
    for i in (0..20_000).step_by(997) {
        l[i] = 4.99;
    }
    let mut order: Vec<u32> = (0..l.len() as u32).collect();
    order.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
    let r = reference_log_softmax(&l);
    let mut out = Vec::new();
    for k in [1usize, 8, 64, 65, 300] {
        log_softmax_top(&l, k, &mut out);
        assert_eq!(ids(&out), order[..k].to_vec(), "k = {k}");
        for &(id, lp) in &out {
            assert!((lp as f64 - r[id as usize]).abs() < 1e-5);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Zero allocation after construction.

#[test]
fn counting_allocator_counts() {
    let before = allocs();
    let v: Vec<u8> = Vec::with_capacity(16);
    drop(v);
    assert!(allocs() > before);
}

#[test]
fn sample_and_accept_do_not_allocate() {
    const N: usize = 262_144;
    let mut data = TestRng(81);
    let steps: Vec<Vec<f32>> = (0..4).map(|_| data.logits(N, -10.0, 10.0)).collect();
    let configs = [
        SamplerParams {
            repeat_penalty: 1.1,
            ..SamplerParams::default()
        },
        // top_k off: the adaptive top-p ranking and the unsorted min-p filter.
        SamplerParams {
            top_k: 0,
            repeat_penalty: 1.3,
            repeat_last_n: 256,
            ..SamplerParams::default()
        },
        SamplerParams {
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..SamplerParams::default()
        },
        SamplerParams {
            repeat_penalty: 1.2,
            ..SamplerParams::greedy()
        },
        SamplerParams::greedy(),
    ];
    for p in configs {
        let mut s = Sampler::new(p, N).unwrap();
        let mut top = Vec::with_capacity(N);
        // Prompt tokens, as a session would accept them.
        for id in 0..10 {
            s.accept(id * 1000);
        }
        let before = allocs();
        for i in 0..12 {
            let l = &steps[i % steps.len()];
            let id = s.sample(l);
            s.accept(id);
            let _ = s.candidates(l).len();
            let _ = log_softmax_at(l, id);
            log_softmax_top(l, 8, &mut top);
            log_softmax_top(l, 100, &mut top);
        }
        // Longer than the ring to exercise wrap-around.
        for id in 0..300 {
            s.accept(id);
        }
        s.set_seed(5);
        s.reset();
        let id = s.sample(&steps[0]);
        s.accept(id);
        assert_eq!(allocs() - before, 0, "allocations with {p:?}");
    }
}

/// Top-k keeps a running selection rather than ranking the whole vocabulary: on logits with
/// many ties (a few distinct values), penalized ids among them, and NaN / infinities, the kept
/// ids are still the first k of a full sort by (penalized value desc, id asc).
#[test]
fn top_k_with_ties_and_penalties_matches_a_full_sort() {
    let mut data = TestRng(77);
    let n = 50_000;
    let mut l: Vec<f32> = (0..n)
        .map(|_| (data.uniform(0.0, 6.0) as i32 - 3) as f32)
        .collect();
    l[11] = f32::NAN;
    l[12] = f32::INFINITY;
    l[13] = f32::NEG_INFINITY;
    // Penalized ids, some repeated (a penalty applies once per distinct id).
    let hist: Vec<u32> = (0..40u32).map(|i| (i * 997 + 12) % 300).collect();
    let penalty = 1.5f32;
    let mut v: Vec<f32> = l
        .iter()
        .map(|&x| {
            if x.is_nan() {
                f32::NEG_INFINITY
            } else {
                x.min(f32::MAX)
            }
        })
        .collect();
    let mut distinct = hist.clone();
    distinct.sort_unstable();
    distinct.dedup();
    for &h in &distinct {
        let x = &mut v[h as usize];
        *x = if *x <= 0.0 {
            *x * penalty
        } else {
            *x / penalty
        }
        .min(f32::MAX);
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| v[b as usize].total_cmp(&v[a as usize]).then(a.cmp(&b)));
    for k in [1, 2, 7, 40, 300, 4000] {
        let mut s = Sampler::new(
            SamplerParams {
                top_k: k,
                repeat_penalty: penalty,
                repeat_last_n: 64,
                ..plain()
            },
            n,
        )
        .unwrap();
        for &h in &hist {
            s.accept(h);
        }
        let c = s.candidates(&l).to_vec();
        assert_eq!(ids(&c), order[..k].to_vec(), "k = {k}");
    }
}
