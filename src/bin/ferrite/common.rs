//! Flags and helpers shared by the subcommands that run a model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ferrite::gguf::GgufFile;
use ferrite::sampler::SamplerParams;
use ferrite::{Error, KvType, MemoryEstimate, Model, SessionConfig};

/// `-m MODEL`: optional where a default model is installed.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// The GGUF model (default: the model installed by tools/fetch-model.sh).
    #[arg(short = 'm', long = "model")]
    pub model: Option<PathBuf>,
}

impl ModelArgs {
    /// The model path: `-m`, or the default model when it is installed.
    pub fn path(&self) -> Result<PathBuf, Error> {
        if let Some(p) = &self.model {
            return Ok(p.clone());
        }
        let p = ferrite::default_model_path();
        if p.is_file() {
            Ok(p)
        } else {
            Err(Error::InvalidArgument(format!(
                "no model given and the default model is not installed at {}: pass -m MODEL.gguf or run tools/fetch-model.sh",
                p.display()
            )))
        }
    }

    /// Loads the model, returning it with the load time in milliseconds.
    pub fn load(&self) -> Result<(Model, f64), Error> {
        let t = Instant::now();
        let m = Model::load(self.path()?)?;
        Ok((m, t.elapsed().as_secs_f64() * 1e3))
    }
}

/// Context, threads and cache type.
#[derive(clap::Args, Clone, Debug)]
pub struct RuntimeArgs {
    /// Context length in tokens (default: min(training context, 4096)).
    #[arg(short = 'c', long = "ctx-size", value_parser = clap::value_parser!(u32).range(1..))]
    pub ctx: Option<u32>,
    /// Worker threads (default: the number of cores).
    #[arg(short = 't', long = "threads", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
    /// KV cache storage: f16, q8_0 or f32.
    #[arg(long = "kv-type", default_value = "f16", value_parser = parse_kv)]
    pub kv_type: KvType,
    /// Refuse to start when the estimated memory (mapped weights, KV cache, scratch,
    /// tokenizer, overhead) exceeds SIZE: bytes or K/M/G/T (binary), e.g. 512M, 1.5G.
    #[arg(long = "max-memory", value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
}

pub(crate) fn parse_kv(s: &str) -> Result<KvType, String> {
    KvType::parse(s).map_err(|e| e.to_string())
}

fn parse_size(s: &str) -> Result<u64, String> {
    ferrite::memory::parse_size(s).map_err(|e| e.to_string())
}

impl RuntimeArgs {
    /// The session configuration; it carries `--max-memory`, so `Session::new` refuses a
    /// session over budget.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            n_ctx: self.ctx.unwrap_or(0) as usize,
            kv_type: self.kv_type,
            n_threads: self.threads.unwrap_or(0) as usize,
            max_memory: self.max_memory.unwrap_or(0),
            ..SessionConfig::default()
        }
    }

    /// What a session with these flags needs on the model in `file` (header only).
    pub fn estimate(&self, file: &GgufFile) -> Result<MemoryEstimate, Error> {
        MemoryEstimate::for_file(file, &self.session_config())
    }

    /// Opens the model, checks `--max-memory` against the estimate before anything large is
    /// loaded (the tokenizer) or allocated (the session), then loads it. Returns the model
    /// and the load time in milliseconds.
    pub fn load_model(&self, model: &ModelArgs) -> Result<(Model, f64), Error> {
        let t = Instant::now();
        let file = GgufFile::open(model.path()?)?;
        if let Some(budget) = self.max_memory {
            self.estimate(&file)?.check(budget)?;
        }
        let m = Model::from_gguf(file)?;
        Ok((m, t.elapsed().as_secs_f64() * 1e3))
    }
}

/// The estimate as JSON: every part and the total in bytes, with the configuration, and with
/// a `--max-memory` budget, the budget and whether the estimate fits it.
pub fn estimate_json(e: &MemoryEstimate, budget: Option<u64>) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert("n_ctx".into(), e.n_ctx.into());
    o.insert("kv_type".into(), e.kv_type.name().into());
    o.insert("n_threads".into(), e.n_threads.into());
    for (k, v) in e.parts() {
        o.insert(k.into(), v.into());
    }
    if let Some(b) = budget {
        o.insert("max_memory".into(), b.into());
        o.insert("fits".into(), (e.total() <= b).into());
    }
    serde_json::Value::Object(o)
}

/// The estimate's table line for a `--max-memory` budget.
pub fn budget_line(e: &MemoryEstimate, budget: u64) -> String {
    let verdict = if e.total() <= budget {
        "fits"
    } else {
        "does not fit"
    };
    format!(
        "  budget            {:>12}  ({verdict})",
        ferrite::memory::mib(budget)
    )
}

/// The sampling flags, as llama.cpp names them.
#[derive(clap::Args, Clone, Debug)]
pub struct SamplingArgs {
    /// Temperature; 0 is greedy (the argmax, ties to the lowest id).
    #[arg(long = "temp", default_value_t = 0.8)]
    pub temp: f32,
    /// Keep the K most likely tokens (0 = off).
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches P (1 = off).
    #[arg(long = "top-p", default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than P times the most likely one (0 = off).
    #[arg(long = "min-p", default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalize tokens seen in the last 64 (1 = off).
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Seed of the random generator (default: from the clock; printed on stderr).
    #[arg(long = "seed")]
    pub seed: Option<u64>,
}

impl SamplingArgs {
    pub fn params(&self) -> SamplerParams {
        let greedy = self.temp <= 0.0;
        let seed = self.seed.unwrap_or_else(|| {
            let s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            if !greedy {
                eprintln!("seed: {s}");
            }
            s
        });
        SamplerParams {
            temperature: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            seed,
            ..SamplerParams::default()
        }
    }
}

/// Reads a text file, refusing invalid UTF-8 with the byte offset of the first bad byte.
pub fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        Error::InvalidArgument(format!(
            "{}: not valid UTF-8 (first bad byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Parses a text argument (`-p PROMPT`, `tokenize TEXT`) from the raw OS string, so that bytes
/// that are not UTF-8 give a usage error naming the argument and the offset of the first bad
/// byte (clap's own message names neither).
#[derive(Clone, Copy, Debug)]
pub struct Utf8Text;

impl clap::builder::TypedValueParser for Utf8Text {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        if let Some(s) = value.to_str() {
            return Ok(s.to_string());
        }
        let offset = std::str::from_utf8(value.as_encoded_bytes())
            .err()
            .map_or(0, |e| e.valid_up_to());
        let name = arg.map_or_else(|| "the argument".to_string(), |a| format!("'{a}'"));
        let msg = format!("{name} is not valid UTF-8 (first bad byte at offset {offset})\n");
        Err(clap::Error::raw(clap::error::ErrorKind::InvalidUtf8, msg).with_cmd(cmd))
    }
}

/// Writes requested output to stdout and flushes it. A reader that went away (`ferrite run ...
/// | head -c 10`) is not an error: `Ok(false)` tells the caller to stop quietly. Any other
/// failure (say, a full disk) is an error naming stdout, so it is never reported as success.
pub fn write_stdout(out: &mut impl std::io::Write, bytes: &[u8]) -> Result<bool, Error> {
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(source) => Err(Error::Io {
            path: "<stdout>".into(),
            source,
        }),
    }
}
