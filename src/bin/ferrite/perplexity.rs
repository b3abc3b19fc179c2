//! `ferrite perplexity`: the same chunking and scoring as llama.cpp's `llama-perplexity`, so
//! the figures compare one to one.
//!
//! The file is tokenized whole (BOS per the model, special text not parsed); chunk k is tokens
//! `[k*CTX, (k+1)*CTX)` with its first token replaced by BOS when the model adds one; the
//! logits at positions `CTX/2 .. CTX-2` score the tokens that follow them; PPL is exp of the
//! mean negative log-likelihood, with llama.cpp's standard error.

use std::path::PathBuf;
use std::time::Instant;

use ferrite::sampler::log_softmax_at;
use ferrite::{Error, Session, SessionConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::common::{read_text, ModelArgs, RuntimeArgs};

#[derive(clap::Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to score.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PerplexityArgs) -> Result<(), Error> {
    let text = read_text(&args.file)?;
    let (model, _) = args.model.load()?;
    let tok = model.tokenizer()?;
    let add_bos = tok.add_bos_default();
    let tokens = tok.encode(&text, add_bos, false)?;
    let n_ctx = args.runtime.ctx.map(|c| c as usize).unwrap_or(512);
    if tokens.len() < 2 * n_ctx {
        return Err(Error::InvalidArgument(format!(
            "{}: {} tokens, but perplexity at -c {n_ctx} needs at least {} (2 x context)",
            args.file.display(),
            tokens.len(),
            2 * n_ctx
        )));
    }
    if n_ctx < 4 {
        return Err(Error::InvalidArgument(format!(
            "-c {n_ctx} is too small for perplexity (at least 4)"
        )));
    }
    let cfg = SessionConfig {
        n_ctx,
        ..args.runtime.session_config()
    };
    let mut sess = Session::new(&model, &cfg)?;
    let n_chunk = tokens.len() / n_ctx;
    let first = n_ctx / 2;
    let pb = ProgressBar::new(n_chunk as u64);
    pb.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:40} {pos}/{len} chunks {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t = Instant::now();
    let (mut nll, mut nll2, mut count) = (0f64, 0f64, 0usize);
    let mut chunk = vec![0u32; n_ctx];
    for k in 0..n_chunk {
        chunk.copy_from_slice(&tokens[k * n_ctx..(k + 1) * n_ctx]);
        if add_bos {
            if let Some(b) = tok.bos() {
                chunk[0] = b;
            }
        }
        sess.reset();
        // One call per chunk, as llama-perplexity evaluates it: the logits after token j
        // (j >= first) score token j + 1; the last token's logits score nothing.
        sess.eval_scored(&chunk, first, |j, logits| {
            if j + 1 < n_ctx {
                let v = -(log_softmax_at(logits, chunk[j + 1]) as f64);
                nll += v;
                nll2 += v * v;
                count += 1;
            }
        })?;
        pb.set_message(format!("ppl {:.4}", (nll / count as f64).exp()));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mean = nll / count as f64;
    let ppl = mean.exp();
    let var = nll2 / count as f64 - mean * mean;
    let stderr = if var > 0.0 {
        (var / (count - 1) as f64).sqrt() * ppl
    } else {
        0.0
    };
    eprintln!(
        "{n_chunk} chunks of {n_ctx}, {count} tokens scored in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if args.json {
        println!(
            "{}",
            json!({"ppl": ppl, "ppl_stderr": stderr, "chunks": n_chunk, "tokens_scored": count})
        );
    } else {
        println!("PPL = {ppl:.4} +/- {stderr:.5}");
    }
    Ok(())
}
