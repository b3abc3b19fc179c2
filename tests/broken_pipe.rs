//! A closed stdout (`ferrite run ... | head -c 10`) ends a command quietly: exit status 0, no
//! panic message, no `error:` line (issue 7, INTERFACE.md). Each case writes more than a pipe
//! holds (64 KiB on Linux), so the write after the reader is gone really fails with EPIPE.

mod util;

use std::io::Read;
use std::process::{Child, Command, Stdio};

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads `n` bytes of stdout (0: none), closes it, and returns the exit code and stderr.
fn close_after(mut child: Child, n: usize) -> (Option<i32>, String, Vec<u8>) {
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0u8; n];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        head,
    )
}

fn quiet(code: Option<i32>, err: &str, what: &str) {
    assert_eq!(code, Some(0), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(!err.contains("error"), "{what}: {err}");
}

#[test]
fn run_streaming_text_stops_quietly_when_the_reader_goes() {
    // tiny-gemma3 has sliding windows only, so a long context costs no memory; 40 000 tokens
    // print about 80 KB.
    let m = util::synth("tiny-gemma3-Q8_0.gguf");
    let child = spawn(&[
        "run", "-m", &m, "-p", "hello", "-n", "40000", "-c", "40960", "--temp", "0", "-t", "1",
    ]);
    let (code, err, head) = close_after(child, 10);
    assert_eq!(head.len(), 10);
    quiet(code, &err, "run");
    // It stopped at the first failed write: the summary line of a completed run (printed after
    // the last token) never came.
    assert!(err.is_empty(), "{err}");
}

#[test]
fn run_json_ends_quietly_when_the_reader_is_gone() {
    // 300 tokens with 20 alternatives each: well over 64 KiB of JSON, written at the end.
    let m = util::synth("tiny-llama-Q8_0.gguf");
    let child = spawn(&[
        "run",
        "-m",
        &m,
        "-p",
        "hello",
        "-n",
        "300",
        "--temp",
        "0",
        "--json",
        "--logprobs",
        "20",
        "-t",
        "1",
    ]);
    let (code, err, _) = close_after(child, 0);
    quiet(code, &err, "run --json");
}

#[test]
fn tokenize_output_to_a_closed_pipe_is_quiet() {
    let text = std::env::temp_dir().join(format!("ferrite-pipe-{}.txt", std::process::id()));
    std::fs::write(&text, "hello world, again and again. ".repeat(8000)).unwrap();
    let m = util::synth("tiny-llama-Q8_0.gguf");
    for json in [false, true] {
        let mut args = vec!["tokenize", "-m", &m, "-f", text.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let (code, err, head) = close_after(spawn(&args), 10);
        quiet(code, &err, &format!("{args:?}"));
        assert!(err.is_empty(), "{err}");
        assert!(head.iter().all(|b| b.is_ascii()), "{head:?}");
    }
    std::fs::remove_file(&text).ok();
}

#[test]
fn inspect_to_a_closed_pipe_is_quiet() {
    // `inspect` prints with println!: a failed write panics and the panic hook ends quietly.
    let (code, err, _) = close_after(
        spawn(&["inspect", util::gemma_path().to_str().unwrap()]),
        10,
    );
    quiet(code, &err, "inspect");
    let (code, err, _) = close_after(
        spawn(&["inspect", "--json", util::gemma_path().to_str().unwrap()]),
        0,
    );
    quiet(code, &err, "inspect --json");
}

#[test]
fn chat_ends_quietly_when_the_reader_goes() {
    // 2000 messages on a pipe, each answered with 5 tokens and a "[reply cut ...]" note on
    // stderr. The reader takes 10 bytes and leaves: chat stops at the next write instead of
    // answering the remaining messages into a closed pipe.
    let m = util::synth("tiny-gemma3-Q8_0.gguf");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args([
            "chat", "-m", &m, "-n", "5", "--temp", "0", "-t", "1", "-c", "4096",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all("hello\n".repeat(2000).as_bytes()).unwrap();
    }
    let (code, err, _) = close_after(child, 10);
    quiet(code, &err, "chat");
    let turns = err.matches("[reply cut").count();
    assert!(turns < 100, "{turns} replies after the reader left");
}
