//! `ferrite run`: tokenize a prompt, prefill it, sample and stream the continuation.

use std::path::PathBuf;
use std::time::Instant;

use ferrite::gguf::GgufFile;
use ferrite::memory::{mib, peak_rss};
use ferrite::sampler::{log_softmax_at, log_softmax_top, Sampler};
use ferrite::tokenizer::StreamDecoder;
use ferrite::{Error, MemoryEstimate, Session};
use serde_json::json;

use crate::common::{
    budget_line, estimate_json, read_text, write_stdout, ModelArgs, RuntimeArgs, SamplingArgs,
};

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt.
    #[arg(
        short = 'p',
        long = "prompt",
        conflicts_with = "file",
        required_unless_present_any = ["file", "dry_run"],
        value_parser = crate::common::Utf8Text
    )]
    pub prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Number of tokens to generate.
    #[arg(short = 'n', long = "n-predict", default_value_t = 128)]
    pub n_predict: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Print one JSON object when done instead of streaming text.
    #[arg(long)]
    pub json: bool,
    /// Include the K most likely tokens of every step in the JSON output.
    #[arg(long = "logprobs", default_value_t = 0)]
    pub logprobs: usize,
    /// When the context is full, keep the first --keep tokens and discard the oldest half of
    /// the rest (re-using the cache), instead of stopping with `context`.
    #[arg(long = "context-shift")]
    pub context_shift: bool,
    /// Prompt tokens kept by --context-shift besides BOS (as llama.cpp's --keep: BOS is
    /// always kept; -1 keeps the whole prompt).
    #[arg(long = "keep", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-1..))]
    pub keep: i64,
    /// Print the memory estimate (weights, KV cache, scratch, ...) and exit without loading
    /// the tokenizer or generating.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

/// Why generation stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stop {
    Eos,
    Length,
    Context,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::Eos => "eos",
            Stop::Length => "length",
            Stop::Context => "context",
        }
    }
}

/// `--dry-run`: the estimate on stdout (a table, or one JSON object with `--json`).
fn dry_run(args: &RunArgs) -> Result<(), Error> {
    let path = args.model.path()?;
    let file = GgufFile::open(&path)?;
    let e = args.runtime.estimate(&file)?;
    let mut text = String::new();
    if args.json {
        let mut o = estimate_json(&e, args.runtime.max_memory);
        o["model"] = json!(path.display().to_string());
        text += &format!("{o}\n");
    } else {
        text += &format!("{}: {e}\n", path.display());
        if let Some(b) = args.runtime.max_memory {
            text += &budget_line(&e, b);
            text.push('\n');
        }
    }
    write_stdout(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(())
}

/// How many prompt tokens `--context-shift` keeps: llama.cpp's `n_keep` (`--keep N` plus
/// the BOS token when one was added; the whole prompt for -1 or more than the prompt), at
/// most the prompt.
fn tokens_to_keep(keep: i64, prompt_len: usize, bos_added: bool) -> usize {
    if keep < 0 {
        prompt_len
    } else {
        (keep as usize)
            .saturating_add(bos_added as usize)
            .min(prompt_len)
    }
}

pub fn run(args: &RunArgs) -> Result<(), Error> {
    if args.dry_run {
        return dry_run(args);
    }
    let prompt = match (&args.prompt, &args.file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => read_text(f)?,
        (None, None) => unreachable!("clap requires -p or -f"),
    };
    let (model, load_ms) = args.runtime.load_model(&args.model)?;
    let tok = model.tokenizer()?;
    let ids = tok.encode(&prompt, tok.add_bos_default(), true)?;
    if ids.is_empty() {
        return Err(Error::InvalidArgument(
            "the prompt is empty and the model adds no BOS token".into(),
        ));
    }
    let cfg = args.runtime.session_config();
    let estimate = MemoryEstimate::for_model(&model, &cfg)?;
    let mut sess = Session::new(&model, &cfg)?;
    let bos_added = tok.add_bos_default() && tok.bos().is_some_and(|b| ids.first() == Some(&b));
    let n_keep = tokens_to_keep(args.keep, ids.len(), bos_added);
    let mut shifts = 0usize;
    if ids.len() > sess.n_ctx() {
        return Err(Error::InvalidArgument(format!(
            "the prompt is {} tokens but the context holds {} (use a larger -c)",
            ids.len(),
            sess.n_ctx()
        )));
    }
    let mut sampler = Sampler::new(args.sampling.params(), model.hp.n_vocab)?;
    for &t in &ids {
        sampler.accept(t);
    }
    let mut dec = StreamDecoder::new(tok);
    let mut top = Vec::with_capacity(args.logprobs.max(1));
    let mut steps = Vec::new();
    let mut text = String::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    let t0 = Instant::now();
    sess.prefill(&ids)?;
    let prefill_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut n_gen = 0usize;
    let stop = loop {
        if n_gen >= args.n_predict {
            break Stop::Length;
        }
        let logits = sess.logits().expect("logits after prefill or decode");
        let id = sampler.sample(logits);
        if args.json {
            let lp = log_softmax_at(logits, id);
            top.clear();
            if args.logprobs > 0 {
                log_softmax_top(logits, args.logprobs, &mut top);
            }
            steps.push((id, lp, top.clone()));
        }
        if tok.is_eog(id) {
            break Stop::Eos;
        }
        sampler.accept(id);
        n_gen += 1;
        let piece = dec.push(tok, id);
        if args.json {
            text.push_str(piece);
        } else if !piece.is_empty() && !write_stdout(&mut out, piece.as_bytes())? {
            // The reader went away (`| head`): stop generating, quietly.
            return Ok(());
        }
        if n_gen >= args.n_predict {
            break Stop::Length;
        }
        if sess.n_past() >= sess.n_ctx() {
            // llama.cpp's context shift: keep n_keep, drop half of the rest.
            let n_discard = sess.n_past().saturating_sub(n_keep) / 2;
            if !args.context_shift || n_discard == 0 {
                break Stop::Context;
            }
            sess.shift(n_keep, n_discard)?;
            shifts += 1;
        }
        sess.decode(id)?;
    };
    let tail = dec.finish().to_string();
    let decode_s = t1.elapsed().as_secs_f64();
    let decode_tok_s = if n_gen > 1 {
        (n_gen - 1) as f64 / decode_s
    } else {
        0.0
    };
    let prefill_tok_s = ids.len() as f64 / prefill_s.max(1e-9);
    if args.json {
        text.push_str(&tail);
        let tokens: Vec<_> = steps
            .iter()
            .filter(|(id, _, _)| !tok.is_eog(*id))
            .map(|(id, lp, top)| {
                json!({
                    "id": id,
                    "text": String::from_utf8_lossy(&tok.token_to_piece(*id, false).to_vec()).into_owned(),
                    "logprob": lp,
                    "top": top.iter().map(|(i, l)| json!({"id": i, "logprob": l})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let o = json!({
            "prompt_tokens": ids,
            "tokens": tokens,
            "text": text,
            "stop": stop.name(),
            "timings": {
                "load_ms": load_ms,
                "prefill_ms": prefill_s * 1e3,
                "prefill_tok_s": prefill_tok_s,
                "decode_ms": decode_s * 1e3,
                "decode_tok_s": decode_tok_s,
            },
            "context_shifts": shifts,
            "memory": {
                "estimate_bytes": estimate.total(),
                "peak_rss_bytes": peak_rss(),
            }
        });
        write_stdout(&mut out, format!("{o}\n").as_bytes())?;
    } else {
        write_stdout(&mut out, format!("{tail}\n").as_bytes())?;
    }
    let shifted = if shifts > 0 {
        format!(" | context shifts: {shifts}")
    } else {
        String::new()
    };
    let rss = peak_rss().map_or(String::new(), |r| format!(", peak RSS {}", mib(r)));
    eprintln!(
        "\nload {load_ms:.0} ms | prompt {} tokens, {prefill_tok_s:.1} tok/s | generated {n_gen} tokens, {decode_tok_s:.1} tok/s | stop: {}{shifted}\nmemory: estimate {}{rss}",
        ids.len(),
        stop.name(),
        mib(estimate.total()),
    );
    Ok(())
}
