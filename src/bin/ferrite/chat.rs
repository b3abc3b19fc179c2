//! `ferrite chat`: a conversation with the model.
//!
//! On a terminal: line editing and history (rustyline), a `> ` prompt, replies streamed as they
//! are generated; Ctrl-C stops the current reply (or clears the line at the prompt), Ctrl-D or
//! `/quit` leaves. With stdin not a terminal: one user message per input line, each reply
//! written to stdout followed by a newline, notices on stderr, so a script can drive it.
//! The conversation logic (templates, the cache kept across turns, dropping old turns when the
//! context is full) is in the library: `ferrite::chat`.

use std::io::{BufRead, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferrite::chat::{ChatTemplate, Conversation, ReplyStop, TurnReport};
use ferrite::sampler::Sampler;
use ferrite::{Error, Session};

use crate::common::{write_stdout, ModelArgs, RuntimeArgs, SamplingArgs};

#[derive(clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A system prompt kept at the start of the conversation.
    #[arg(long = "system")]
    pub system: Option<String>,
    /// The chat template: a built-in (gemma, chatml, llama3) or a Jinja file (default: the
    /// model's own, else the built-in for its architecture).
    #[arg(long = "chat-template")]
    pub chat_template: Option<String>,
    /// Longest reply in tokens (default: until the model ends its turn or the context is full).
    #[arg(short = 'n', long = "n-predict", value_parser = clap::value_parser!(u32).range(1..))]
    pub n_predict: Option<u32>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

const HELP: &str = "commands:
  /reset   forget the conversation (the system prompt stays)
  /stats   tokens in the context, turns, speed of the last turn
  /help    this text
  /quit    leave (also Ctrl-D)
Ctrl-C stops the current reply.";

/// Totals over the session, for `/stats`.
#[derive(Default)]
struct Totals {
    replies: usize,
    generated: usize,
    last: Option<TurnReport>,
}

pub fn run(args: &ChatArgs) -> Result<(), Error> {
    // (Refuses a --max-memory budget before reading the vocabulary, as `run` does.)
    let (model, load_ms) = args.runtime.load_model(&args.model)?;
    let template = match &args.chat_template {
        Some(t) => ChatTemplate::from_arg(t, &model)?,
        None => ChatTemplate::for_model(&model)?,
    };
    let session = Session::new(&model, &args.runtime.session_config())?;
    let sampler = Sampler::new(args.sampling.params(), model.hp.n_vocab)?;
    let mut conv = Conversation::new(
        session,
        template,
        sampler,
        args.system.as_deref(),
        args.n_predict.map(|n| n as usize),
    )?;

    // Ctrl-C sets the flag; the reply in progress sees it at its next token.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .map_err(|e| Error::InvalidArgument(format!("cannot handle Ctrl-C: {e}")))?;
    }

    let tty = std::io::stdin().is_terminal();
    if tty {
        eprintln!(
            "ferrite chat: {} ({} template, context {} tokens, loaded in {load_ms:.0} ms). /help for commands.",
            model.file.path().display(),
            conv.template().name(),
            conv.session().n_ctx()
        );
    }
    let mut input = Input::new(tty)?;
    let mut totals = Totals::default();
    while let Some(line) = input.read_line(&interrupted)? {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        let mut out = std::io::stdout().lock();
        // Output errors are the program's errors; a reader that went away (`| head`) ends the
        // dialogue quietly, as it ends `run`.
        let reply = match line.trim() {
            "/quit" | "/exit" => break,
            "/help" => Some(HELP.to_string()),
            "/reset" => {
                conv.reset();
                totals = Totals::default();
                Some("(conversation reset)".to_string())
            }
            "/stats" => Some(stats(&conv, &totals)),
            cmd if cmd.starts_with('/') && !cmd.contains(' ') => {
                Some(format!("unknown command {cmd}; /help lists the commands"))
            }
            _ => None,
        };
        if let Some(text) = reply {
            if !write_stdout(&mut out, format!("{text}\n").as_bytes())? {
                return Ok(());
            }
            continue;
        }
        input.add_history(line);
        interrupted.store(false, Ordering::SeqCst);
        let mut written = Ok(true);
        let result = conv.turn(line, |piece| {
            written = write_stdout(&mut out, piece.as_bytes());
            matches!(written, Ok(true)) && !interrupted.load(Ordering::SeqCst)
        });
        if !(written? && write_stdout(&mut out, b"\n")?) {
            return Ok(());
        }
        drop(out);
        match result {
            Ok(r) => {
                if r.dropped_turns > 0 {
                    eprintln!(
                        "[context full: dropped the {} oldest turn{} (the system prompt is kept) and re-read {} tokens]",
                        r.dropped_turns,
                        if r.dropped_turns == 1 { "" } else { "s" },
                        r.prompt_tokens
                    );
                }
                match r.stop {
                    Some(ReplyStop::Interrupted) => eprintln!("[stopped]"),
                    Some(ReplyStop::Context) => eprintln!(
                        "[context full: reply cut; the oldest turns will be dropped at the next message]"
                    ),
                    Some(ReplyStop::Length) => eprintln!("[reply cut at -n {} tokens]", r.reply_tokens),
                    _ => {}
                }
                totals.replies += 1;
                totals.generated += r.reply_tokens;
                totals.last = Some(r);
            }
            // A message that cannot fit is refused; the conversation goes on.
            Err(e @ Error::InvalidArgument(_)) => eprintln!("error: {e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn rate(tokens: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        tokens as f64 / secs
    } else {
        0.0
    }
}

fn stats(conv: &Conversation, t: &Totals) -> String {
    let s = conv.session();
    let mut text = format!(
        "context: {}/{} tokens ({:.0}%), {} turn{}, {} repl{}, {} tokens generated",
        s.n_past(),
        s.n_ctx(),
        100.0 * s.n_past() as f64 / s.n_ctx() as f64,
        conv.n_turns(),
        if conv.n_turns() == 1 { "" } else { "s" },
        t.replies,
        if t.replies == 1 { "y" } else { "ies" },
        t.generated
    );
    if let Some(r) = &t.last {
        text.push_str(&format!(
            "\nlast turn: prompt {} tokens ({:.1} tok/s), reply {} tokens ({:.1} tok/s), stop: {}",
            r.prompt_tokens,
            rate(r.prompt_tokens, r.prefill_s),
            r.reply_tokens,
            rate(r.reply_tokens, r.decode_s),
            r.stop.map_or("-", |s| s.name())
        ));
        if r.rewound_tokens > 0 {
            let why = if r.dropped_turns > 0 {
                format!(
                    "the {} oldest turn{} dropped",
                    r.dropped_turns,
                    if r.dropped_turns == 1 {
                        " was"
                    } else {
                        "s were"
                    }
                )
            } else {
                "the template renders the last reply differently".to_string()
            };
            text.push_str(&format!(
                "\ncache: took back {} tokens ({why})",
                r.rewound_tokens
            ));
        }
    }
    text
}

/// User input: rustyline on a terminal, plain lines otherwise.
enum Input {
    Tty(Box<rustyline::DefaultEditor>),
    Pipe(std::io::StdinLock<'static>),
}

impl Input {
    fn new(tty: bool) -> Result<Input, Error> {
        if tty {
            let mut ed = rustyline::DefaultEditor::new()
                .map_err(|e| Error::InvalidArgument(format!("cannot set up the terminal: {e}")))?;
            // History from earlier sessions; a missing or unreadable file is no error (nor a
            // directory that cannot be made: the history is then not kept).
            let p = history_path();
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).ok();
            }
            ed.load_history(&p).ok();
            Ok(Input::Tty(Box::new(ed)))
        } else {
            Ok(Input::Pipe(std::io::stdin().lock()))
        }
    }

    /// The next line, or `None` at the end of input.
    fn read_line(&mut self, interrupted: &AtomicBool) -> Result<Option<String>, Error> {
        match self {
            Input::Tty(ed) => loop {
                match ed.readline("> ") {
                    Ok(l) => return Ok(Some(l)),
                    // Ctrl-C at the prompt clears the line, as in a shell.
                    Err(rustyline::error::ReadlineError::Interrupted) => {
                        interrupted.store(false, Ordering::SeqCst);
                        continue;
                    }
                    Err(rustyline::error::ReadlineError::Eof) => return Ok(None),
                    Err(e) => {
                        return Err(Error::InvalidArgument(format!("reading the terminal: {e}")))
                    }
                }
            },
            Input::Pipe(stdin) => {
                let mut buf = Vec::new();
                let n = stdin.read_until(b'\n', &mut buf).map_err(|e| Error::Io {
                    path: "<stdin>".into(),
                    source: e,
                })?;
                if n == 0 {
                    return Ok(None);
                }
                // Invalid UTF-8 from a pipe is replaced (U+FFFD), not fatal: the line is the
                // user's text and the rest of the dialogue should go on.
                let line = match String::from_utf8(buf) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!(
                            "warning: input line is not valid UTF-8 (bad byte at offset {}); invalid bytes replaced by U+FFFD",
                            e.utf8_error().valid_up_to()
                        );
                        String::from_utf8_lossy(e.as_bytes()).into_owned()
                    }
                };
                Ok(Some(line))
            }
        }
    }

    fn add_history(&mut self, line: &str) {
        if let Input::Tty(ed) = self {
            ed.add_history_entry(line).ok();
            ed.save_history(&history_path()).ok();
        }
    }
}

/// Where the REPL keeps its history: beside the default model, `~/.cache/ferrite/`.
fn history_path() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into()))
        .join(".cache/ferrite/chat_history")
}
