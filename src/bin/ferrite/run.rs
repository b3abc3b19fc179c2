//! `ferrite run`: tokenize a prompt, prefill it, sample and stream the continuation.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use ferrite::sampler::{log_softmax_at, log_softmax_top, Sampler};
use ferrite::tokenizer::StreamDecoder;
use ferrite::{Error, Session};
use serde_json::json;

use crate::common::{read_text, ModelArgs, RuntimeArgs, SamplingArgs};

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt.
    #[arg(
        short = 'p',
        long = "prompt",
        conflicts_with = "file",
        required_unless_present = "file"
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

pub fn run(args: &RunArgs) -> Result<(), Error> {
    let prompt = match (&args.prompt, &args.file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => read_text(f)?,
        (None, None) => unreachable!("clap requires -p or -f"),
    };
    let (model, load_ms) = args.model.load()?;
    let tok = model.tokenizer()?;
    let ids = tok.encode(&prompt, tok.add_bos_default(), true)?;
    if ids.is_empty() {
        return Err(Error::InvalidArgument(
            "the prompt is empty and the model adds no BOS token".into(),
        ));
    }
    let cfg = args.runtime.session_config();
    let mut sess = Session::new(&model, &cfg)?;
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
        } else if !piece.is_empty() {
            out.write_all(piece.as_bytes())
                .and_then(|_| out.flush())
                .ok();
        }
        if n_gen >= args.n_predict {
            break Stop::Length;
        }
        if sess.n_past() >= sess.n_ctx() {
            break Stop::Context;
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
                    "text": String::from_utf8_lossy(tok.token_to_piece(*id, false)),
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
            }
        });
        writeln!(out, "{o}").ok();
    } else {
        out.write_all(tail.as_bytes()).ok();
        writeln!(out).ok();
    }
    eprintln!(
        "\nload {load_ms:.0} ms | prompt {} tokens, {prefill_tok_s:.1} tok/s | generated {n_gen} tokens, {decode_tok_s:.1} tok/s | stop: {}",
        ids.len(),
        stop.name()
    );
    Ok(())
}
