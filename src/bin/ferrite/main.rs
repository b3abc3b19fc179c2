//! The `ferrite` command-line tool. One file per subcommand; this file only parses the command
//! line and maps errors to exit codes (0 ok, 1 runtime error, 2 usage error; see INTERFACE.md).

mod inspect;
mod tokenize;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ferrite", version, about = "A quantized LLM runtime for edge devices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model's architecture, hyperparameters, tensors and metadata.
    Inspect(inspect::InspectArgs),
    /// Print the token ids of a text.
    Tokenize(tokenize::TokenizeArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Tokenize(a) => tokenize::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
