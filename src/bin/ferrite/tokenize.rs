//! `ferrite tokenize -m MODEL [--no-bos] [--no-special] [--json] (TEXT | -f FILE)`.
//!
//! Prints the token ids of a text as llama.cpp would give them for a prompt: BOS added when
//! the model asks for it and special-token text (e.g. `<start_of_turn>`) parsed, unless
//! `--no-bos` / `--no-special`. Plain output is the ids on one line separated by spaces;
//! `--json` prints `{"ids":[...],"pieces":[...]}` where each piece is the token's text
//! (control tokens as written; a piece that is not whole UTF-8 on its own, such as one byte of
//! a multi-byte character, shows U+FFFD for the partial bytes).

use std::path::PathBuf;

use ferrite::gguf::GgufFile;
use ferrite::tokenizer::Tokenizer;
use ferrite::Error;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "file"])))]
pub struct TokenizeArgs {
    /// The GGUF model (default: the installed default model, see `tools/fetch-model.sh`).
    #[arg(short = 'm', long = "model", value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Do not add BOS (or EOS) even when the model asks for it.
    #[arg(long)]
    pub no_bos: bool,
    /// Treat special-token text such as `<start_of_turn>` as plain text.
    #[arg(long)]
    pub no_special: bool,
    /// Print `{"ids":[...],"pieces":[...]}`.
    #[arg(long)]
    pub json: bool,
    /// Read the text from FILE (UTF-8) instead of the command line.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The text to tokenize.
    #[arg(value_name = "TEXT", value_parser = crate::common::Utf8Text)]
    pub text: Option<String>,
}

/// Reads a text file, refusing invalid UTF-8 with the offset of the first bad byte.
fn read_text(path: &PathBuf) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| Error::Io {
        path: path.clone(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not valid UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ),
    })
}

pub fn run(args: &TokenizeArgs) -> Result<(), Error> {
    let text = match (&args.file, &args.text) {
        (Some(path), _) => read_text(path)?,
        (None, Some(t)) => t.clone(),
        (None, None) => return Err(Error::InvalidArgument("no TEXT and no -f FILE".into())),
    };
    let model = match &args.model {
        Some(m) => m.clone(),
        None => {
            let p = ferrite::default_model_path();
            if !p.is_file() {
                return Err(Error::InvalidArgument(format!(
                    "no -m MODEL given and the default model {} is not installed (run tools/fetch-model.sh)",
                    p.display()
                )));
            }
            p
        }
    };
    let file = GgufFile::open(&model)?;
    let tok = Tokenizer::from_gguf(&file)?;
    let ids = tok.encode(&text, !args.no_bos, !args.no_special)?;

    let mut out = String::new();
    if args.json {
        let pieces: Vec<String> = ids
            .iter()
            .map(|&id| String::from_utf8_lossy(&tok.token_to_piece(id, true).to_vec()).into_owned())
            .collect();
        out.push_str(&serde_json::json!({ "ids": ids, "pieces": pieces }).to_string());
    } else {
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&id.to_string());
        }
    }
    out.push('\n');
    // `ferrite tokenize ... | head`: the reader went away; not an error.
    crate::common::write_stdout(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}
