//! `ferrite tokenize -m MODEL [--no-bos] [--no-special] [--json] (TEXT | -f FILE)`.

#[derive(clap::Args)]
pub struct TokenizeArgs {}

pub fn run(args: &TokenizeArgs) -> Result<(), ferrite::Error> {
    let _ = args;
    Ok(())
}
