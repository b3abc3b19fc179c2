//! The `ferrite` command-line tool. One file per subcommand; this file only parses the command
//! line and maps errors to exit codes (0 ok, 1 runtime error, 2 usage error; see INTERFACE.md).

mod bench;
mod chat;
mod common;
mod inspect;
mod perplexity;
mod run;
mod tokenize;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferrite",
    version,
    about = "A quantized LLM runtime for edge devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand takes negative numbers as values, so `-n -3` is reported as a bad value
/// of `-n` rather than as an unknown flag `-3`.
#[derive(Subcommand)]
enum Command {
    /// Print a model's architecture, hyperparameters, tensors and metadata.
    #[command(allow_negative_numbers = true)]
    Inspect(inspect::InspectArgs),
    /// Print the token ids of a text.
    #[command(allow_negative_numbers = true)]
    Tokenize(tokenize::TokenizeArgs),
    /// Generate text from a prompt.
    #[command(allow_negative_numbers = true)]
    Run(run::RunArgs),
    /// Chat with the model (a REPL on a terminal, line by line through a pipe).
    #[command(allow_negative_numbers = true)]
    Chat(chat::ChatArgs),
    /// Measure perplexity on a text file, chunked as llama-perplexity does.
    #[command(allow_negative_numbers = true)]
    Perplexity(perplexity::PerplexityArgs),
    /// Measure prefill and decode speed, as llama-bench does.
    #[command(allow_negative_numbers = true)]
    Bench(bench::BenchArgs),
}

/// No panic message ever reaches the user. `run` and `tokenize` handle write errors on stdout
/// themselves (`common::write_stdout`); for the `println!`s of the other commands, a failed
/// write panics and lands here: a closed stdout (`ferrite inspect ... | head`) ends the command
/// quietly with status 0, any other write failure (a full disk) is an `error:` line naming
/// stdout with status 1, and any other panic (a bug) is reported as one `error:` line.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Some(why) = msg.strip_prefix("failed printing to stdout: ") {
            if why.contains("Broken pipe") {
                std::process::exit(0);
            }
            eprintln!("error: <stdout>: {why}");
            std::process::exit(1);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error (a bug in ferrite, please report it): {msg}{at}");
        std::process::exit(1);
    }));
}

fn main() {
    install_panic_hook();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Tokenize(a) => tokenize::run(a),
        Command::Run(a) => run::run(a),
        Command::Chat(a) => chat::run(a),
        Command::Perplexity(a) => perplexity::run(a),
        Command::Bench(a) => bench::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
