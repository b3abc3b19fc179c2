//! `ferrite inspect MODEL [--json]`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The GGUF file.
    pub model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InspectArgs) -> Result<(), ferrite::Error> {
    let _ = args;
    Ok(())
}
