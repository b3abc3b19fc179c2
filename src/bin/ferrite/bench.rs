//! `ferrite bench`: prefill and decode speed, measured like `llama-bench` so the two tables
//! compare line by line. `ppP` evaluates P prompt tokens into an empty cache; `tgN` decodes N
//! tokens one at a time; with `-d D` (llama-bench's `--n-depth`) each run first fills the cache
//! with D prompt tokens, untimed (`pp512 @ d2048`: the speed at a long context, where
//! attention weighs more). Each test runs once as a warm-up, then `-r` times; the table gives
//! the mean and standard deviation of tokens/s for each thread count.

use std::time::Instant;

use ferrite::{Error, Session, SessionConfig};
use serde_json::json;

use crate::common::{parse_kv, ModelArgs};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt tokens of the prefill test (0 = skip).
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    pub n_prompt: usize,
    /// Generated tokens of the decode test (0 = skip).
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    pub n_gen: usize,
    /// Tokens in the cache before each test (prefilled, not timed), as llama-bench's `-d`.
    #[arg(short = 'd', long = "n-depth", default_value_t = 0)]
    pub n_depth: usize,
    /// Thread counts to test, comma separated.
    #[arg(short = 't', long = "threads", value_delimiter = ',',
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Vec<u32>,
    /// Repetitions of each test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub reps: u32,
    /// KV cache storage: f16, q8_0 or f32.
    #[arg(long = "kv-type", default_value = "f16", value_parser = parse_kv)]
    pub kv_type: ferrite::KvType,
    /// Print a JSON list instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A tiny deterministic generator for the benchmark's token ids (like llama-bench's rand()).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as u32
    }
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
    } else {
        0.0
    };
    (m, var.sqrt())
}

pub fn run(args: &BenchArgs) -> Result<(), Error> {
    // -t, -r and --kv-type are checked by clap (usage errors, exit status 2).
    let threads: Vec<usize> = if args.threads.is_empty() {
        vec![std::thread::available_parallelism().map_or(1, |n| n.get())]
    } else {
        args.threads.iter().map(|&t| t as usize).collect()
    };
    let kv_type = args.kv_type;
    let (model, _) = args.model.load()?;
    let n_vocab = model.hp.n_vocab;
    let bos = model.tokenizer().ok().and_then(|t| t.bos());
    let size: usize = model.file.tensors().iter().map(|t| t.n_bytes).sum();
    let params: usize = model.file.tensors().iter().map(|t| t.n_elements()).sum();
    let name = model
        .file
        .get_opt_str("general.name")
        .ok()
        .flatten()
        .unwrap_or(model.hp.arch.name())
        .to_string();
    let mut results = Vec::new();
    if !args.json {
        println!(
            "| model                  |       size |     params | threads |  test |              t/s |"
        );
        println!(
            "| ---------------------- | ---------: | ---------: | ------: | ----: | ---------------: |"
        );
    }
    for &t in &threads {
        let cfg = SessionConfig {
            n_ctx: (args.n_depth + args.n_prompt + args.n_gen).max(1),
            kv_type,
            n_threads: t,
            ..SessionConfig::default()
        };
        let mut sess = Session::new(&model, &cfg)?;
        let mut rng = Lcg(42);
        let mut tests = Vec::new();
        if args.n_prompt > 0 {
            tests.push(("pp", args.n_prompt));
        }
        if args.n_gen > 0 {
            tests.push(("tg", args.n_gen));
        }
        for (kind, n) in tests {
            let mut speeds = Vec::new();
            for rep in 0..=args.reps {
                sess.reset();
                if args.n_depth > 0 {
                    let toks: Vec<u32> = (0..args.n_depth).map(|_| rng.next(n_vocab)).collect();
                    sess.prefill(&toks)?;
                }
                let start = Instant::now();
                if kind == "pp" {
                    let toks: Vec<u32> = (0..n).map(|_| rng.next(n_vocab)).collect();
                    let start = Instant::now();
                    sess.prefill(&toks)?;
                    let dt = start.elapsed().as_secs_f64();
                    if rep > 0 {
                        speeds.push(n as f64 / dt);
                    }
                    continue;
                }
                let mut tok = match args.n_depth {
                    0 => bos.unwrap_or_else(|| rng.next(n_vocab)),
                    _ => rng.next(n_vocab),
                };
                for _ in 0..n {
                    sess.decode(tok)?;
                    tok = rng.next(n_vocab);
                }
                let dt = start.elapsed().as_secs_f64();
                if rep > 0 {
                    speeds.push(n as f64 / dt);
                }
            }
            let (m, sd) = mean_sd(&speeds);
            let test = match args.n_depth {
                0 => format!("{kind}{n}"),
                d => format!("{kind}{n} @ d{d}"),
            };
            if !args.json {
                println!(
                    "| {:<22} | {:>6.2} MiB | {:>8.2} M | {:>7} | {:>5} | {:>8.2} ± {:>5.2} |",
                    name.chars().take(22).collect::<String>(),
                    size as f64 / (1 << 20) as f64,
                    params as f64 / 1e6,
                    t,
                    test,
                    m,
                    sd
                );
            }
            results.push(json!({"test": test, "threads": t, "tok_s": m, "stdev": sd}));
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(results));
    }
    Ok(())
}
