//! `ferrite inspect MODEL [--json]`: architecture, hyperparameters, parameter count, file
//! type, the tensor table and the metadata (long arrays summarized).

use std::path::PathBuf;

use ferrite::gguf::{GgufFile, MetaValue};
use ferrite::model::HParams;
use serde_json::{json, Value};

use crate::common::{budget_line, estimate_json, RuntimeArgs};

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The GGUF file.
    pub model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The session the memory estimate is for (-c, --kv-type, -t; --max-memory also says
    /// whether it fits).
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Arrays longer than this are shown as their type, length and first elements.
const ARRAY_PREVIEW: usize = 8;

/// llama.cpp's `general.file_type` names (`LLAMA_FTYPE_MOSTLY_*`).
fn file_type_name(ft: u32) -> &'static str {
    match ft {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        25 => "IQ4_NL",
        30 => "IQ4_XS",
        32 => "BF16",
        _ => "other",
    }
}

fn value_json(v: &MetaValue<'_>) -> Value {
    match *v {
        MetaValue::U8(x) => json!(x),
        MetaValue::I8(x) => json!(x),
        MetaValue::U16(x) => json!(x),
        MetaValue::I16(x) => json!(x),
        MetaValue::U32(x) => json!(x),
        MetaValue::I32(x) => json!(x),
        MetaValue::U64(x) => json!(x),
        MetaValue::I64(x) => json!(x),
        MetaValue::F32(x) => json!(x),
        MetaValue::F64(x) => json!(x),
        MetaValue::Bool(x) => json!(x),
        MetaValue::Str(s) => json!(s),
        MetaValue::Array(a) => {
            let items: Vec<Value> = if let Ok(it) = a.strings("") {
                it.take(ARRAY_PREVIEW).map(|s| json!(s)).collect()
            } else if let Ok(it) = a.f32s("") {
                it.take(ARRAY_PREVIEW).map(|x| json!(x)).collect()
            } else if let Ok(it) = a.ints("") {
                it.take(ARRAY_PREVIEW).map(|x| json!(x)).collect()
            } else {
                Vec::new()
            };
            if a.len() <= ARRAY_PREVIEW {
                Value::Array(items)
            } else {
                json!({"type": format!("array of {}", a.elem_type().name()), "len": a.len(), "first": items})
            }
        }
    }
}

fn value_text(v: &MetaValue<'_>) -> String {
    match v {
        MetaValue::Str(s) if s.len() > 120 => {
            let cut: String = s.chars().take(100).collect();
            format!("{:?}... ({} bytes)", cut, s.len())
        }
        MetaValue::Str(s) => format!("{s:?}"),
        MetaValue::Array(a) if a.len() > ARRAY_PREVIEW => format!(
            "[{} x {}] {}...",
            a.len(),
            a.elem_type().name(),
            value_json(v)["first"]
        ),
        _ => value_json(v).to_string(),
    }
}

pub fn run(args: &InspectArgs) -> Result<(), ferrite::Error> {
    let f = GgufFile::open(&args.model)?;
    let n_params: usize = f.tensors().iter().map(|t| t.n_elements()).sum();
    let n_bytes: usize = f.tensors().iter().map(|t| t.n_bytes).sum();
    let ft = f.get_opt_u32("general.file_type").ok().flatten();
    let arch = f.get_opt_str("general.architecture").ok().flatten();
    // Hyperparameters are shown for the architectures ferrite runs; for others, the raw
    // metadata below still tells everything.
    let hp = HParams::from_gguf(&f);
    let estimate = hp
        .as_ref()
        .ok()
        .map(|_| args.runtime.estimate(&f))
        .transpose()?;
    let budget = args.runtime.max_memory;
    if args.json {
        let hp_json = match &hp {
            Ok(h) => json!({
                "n_vocab": h.n_vocab, "n_ctx_train": h.n_ctx_train, "n_embd": h.n_embd,
                "n_layer": h.n_layer, "n_ff": h.n_ff, "n_head": h.n_head,
                "n_head_kv": h.n_head_kv, "head_dim": h.head_dim, "head_dim_v": h.head_dim_v,
                "norm_eps": h.norm_eps, "rope": format!("{:?}", h.rope_style), "n_rot": h.n_rot,
                "rope_base": h.rope_base, "rope_freq_scale": h.rope_freq_scale,
                "rope_base_swa": h.rope_base_swa, "sliding_window": h.sliding_window,
                "n_swa_layers": h.swa_layers.iter().filter(|s| **s).count(),
            }),
            Err(e) => json!({"error": e.to_string()}),
        };
        let tensors: Vec<Value> = f
            .tensors()
            .iter()
            .map(|t| json!({"name": t.name, "type": t.ty.name(), "shape": t.dims, "bytes": t.n_bytes, "offset": t.offset}))
            .collect();
        let mut meta = serde_json::Map::new();
        for (k, v) in f.metadata() {
            meta.insert(k.to_string(), value_json(&v));
        }
        let out = json!({
            "path": f.path(),
            "version": f.version(),
            "architecture": arch,
            "file_type": ft.map(file_type_name),
            "n_params": n_params,
            "tensor_bytes": n_bytes,
            "hparams": hp_json,
            "memory": estimate.as_ref().map(|e| estimate_json(e, budget)),
            "n_tensors": f.tensors().len(),
            "tensors": tensors,
            "metadata": meta,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    println!("file:          {}", f.path().display());
    println!("gguf version:  {}", f.version());
    println!("architecture:  {}", arch.unwrap_or("(none)"));
    if let Some(name) = f.get_opt_str("general.name").ok().flatten() {
        println!("name:          {name}");
    }
    println!(
        "file type:     {}",
        ft.map(|t| format!("{} ({t})", file_type_name(t)))
            .unwrap_or_else(|| "(not stated)".into())
    );
    println!(
        "parameters:    {n_params} ({:.1} M), {:.1} MiB of tensor data",
        n_params as f64 / 1e6,
        n_bytes as f64 / (1 << 20) as f64
    );
    match &hp {
        Ok(h) => {
            println!("hyperparameters:");
            println!(
                "  n_vocab {}  n_ctx_train {}  n_embd {}  n_layer {}  n_ff {}",
                h.n_vocab, h.n_ctx_train, h.n_embd, h.n_layer, h.n_ff
            );
            println!(
                "  n_head {}  n_head_kv {}  head_dim {} (v {})  norm_eps {:e}",
                h.n_head, h.n_head_kv, h.head_dim, h.head_dim_v, h.norm_eps
            );
            println!(
                "  rope {:?}  n_rot {}  base {}  freq_scale {}",
                h.rope_style, h.n_rot, h.rope_base, h.rope_freq_scale
            );
            if h.sliding_window > 0 {
                println!(
                    "  sliding window {} on {} of {} layers (rope base {})",
                    h.sliding_window,
                    h.swa_layers.iter().filter(|s| **s).count(),
                    h.n_layer,
                    h.rope_base_swa
                );
            }
        }
        Err(e) => println!("hyperparameters: not available ({e})"),
    }
    if let Some(e) = &estimate {
        println!("{e}");
        if let Some(b) = budget {
            println!("{}", budget_line(e, b));
        }
    }
    println!("tensors ({}):", f.tensors().len());
    let w = f.tensors().iter().map(|t| t.name.len()).max().unwrap_or(4);
    for t in f.tensors() {
        let shape: Vec<String> = t.dims.iter().map(|d| d.to_string()).collect();
        println!(
            "  {:<w$}  {:<7} {:<20} {:>12} bytes",
            t.name,
            t.ty.name(),
            shape.join(" x "),
            t.n_bytes
        );
    }
    println!("metadata ({}):", f.metadata().count());
    for (k, v) in f.metadata() {
        println!("  {k} = {}", value_text(&v));
    }
    Ok(())
}
