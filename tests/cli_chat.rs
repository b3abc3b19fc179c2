//! `ferrite chat` driven through a pipe, as a script would: replies arrive, `/stats` accounts
//! for every token, the first reply equals `ferrite run` on the rendered prompt, commands and
//! bad input are answered, and a small context drops old turns instead of failing.

mod util;

use std::io::Write;
use std::process::{Command, Stdio};

fn chat(args: &[&str], input: &[u8]) -> (String, String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

/// The number after `key` in `s` (e.g. `"reply "` in `"reply 24 tokens"`).
fn number_after(s: &str, key: &str) -> usize {
    let at = s
        .find(key)
        .unwrap_or_else(|| panic!("'{key}' not in {s:?}"))
        + key.len();
    s[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// One turn's output: the reply before the `/stats` block, and the figures of the block.
struct Turn {
    reply: String,
    context: usize,
    prompt: usize,
    reply_tokens: usize,
    took_back: usize,
}

fn turns(stdout: &str) -> Vec<Turn> {
    let mut v = Vec::new();
    let mut rest = stdout;
    while let Some(at) = rest.find("context: ") {
        let reply = rest[..at].strip_suffix('\n').unwrap().to_string();
        let block_end = rest[at..]
            .find("\n\u{0}")
            .map(|e| at + e)
            .unwrap_or(rest.len());
        let block = &rest[at..block_end];
        // The block is 2-3 lines; the next reply starts after it.
        let lines: Vec<&str> = block.lines().take_while(|l| !l.is_empty()).collect();
        let n_lines = if lines
            .get(2)
            .is_some_and(|l| l.starts_with("cache: took back"))
        {
            3
        } else {
            2
        };
        let block: String = lines[..n_lines].join("\n");
        v.push(Turn {
            reply,
            context: number_after(&block, "context: "),
            prompt: number_after(&block, "prompt "),
            reply_tokens: number_after(&block, "reply "),
            took_back: if block.contains("took back ") {
                number_after(&block, "took back ")
            } else {
                0
            },
        });
        let consumed: usize = lines[..n_lines].iter().map(|l| l.len() + 1).sum();
        rest = &rest[(at + consumed).min(rest.len())..];
    }
    v
}

#[test]
fn three_turns_through_a_pipe() {
    let gemma = util::gemma_path();
    let m = gemma.to_str().unwrap();
    let input = "What is the capital of France?\n/stats\nAnd of Germany?\n/stats\nName a painter.\n/stats\n/quit\nnot read\n";
    let (out, err, code) = chat(
        &["-m", m, "--temp", "0", "-n", "24", "-c", "1024", "-t", "2"],
        input.as_bytes(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let t = turns(&out);
    assert_eq!(t.len(), 3, "three /stats blocks in {out:?}");
    let mut n_past = 0;
    for (k, turn) in t.iter().enumerate() {
        assert!(!turn.reply.trim().is_empty(), "turn {k}: empty reply");
        assert!(turn.reply_tokens > 0 && turn.reply_tokens <= 24);
        // Every token is accounted for: what was there, minus what was taken back, plus the
        // new prompt text and the reply.
        assert_eq!(
            turn.context,
            n_past - turn.took_back + turn.prompt + turn.reply_tokens,
            "turn {k}"
        );
        n_past = turn.context;
    }
    assert!(
        t[1].prompt < 30 && t[2].prompt < 30,
        "later turns read only their new text"
    );

    // The first turn is exactly `ferrite run` on Gemma's rendering of the message: same
    // number of prompt tokens, same greedy text.
    let prompt =
        "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n";
    let j = util::ferrite_json(&[
        "run", "-m", m, "--temp", "0", "-n", "24", "--json", "-p", prompt,
    ]);
    assert_eq!(t[0].prompt, j["prompt_tokens"].as_array().unwrap().len());
    assert_eq!(t[0].reply, j["text"].as_str().unwrap());
    assert!(!out.contains("not read"));
}

#[test]
fn commands_and_bad_input() {
    let m = util::shared_dir().join("synth/tiny-gemma3-Q8_0.gguf");
    let m = m.to_str().unwrap();
    let mut input = b"/help\n/bogus\ntime\n/stats\n/reset\n/stats\n".to_vec();
    input.extend_from_slice(b"bad \xff\xfe bytes\n");
    input.extend_from_slice("word ".repeat(300).as_bytes());
    input.extend_from_slice(b"\nstill here\n/stats\n");
    let (out, err, code) = chat(
        &[
            "-m", m, "--temp", "0", "-n", "8", "-c", "400", "--system", "sys",
        ],
        &input,
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.contains("/reset") && out.contains("/quit"),
        "help: {out}"
    );
    assert!(out.contains("unknown command /bogus"), "{out}");
    assert!(out.contains("(conversation reset)"));
    assert!(out.contains("context: 0/400 tokens"), "after /reset: {out}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert!(
        err.contains("the message needs") && err.contains("context holds 400"),
        "{err}"
    );
    // After the refused message the dialogue went on: the last /stats counts two turns
    // (the invalid-UTF-8 line, replaced, and "still here").
    let last = out.rfind("context: ").unwrap();
    assert!(out[last..].contains("2 turns"), "{}", &out[last..]);
}

#[test]
fn small_context_drops_old_turns() {
    let m = util::shared_dir().join("synth/tiny-gemma3-Q8_0.gguf");
    let m = m.to_str().unwrap();
    let mut input = String::new();
    for k in 0..10 {
        input.push_str(&format!("time {k}\n/stats\n"));
    }
    let (out, err, code) = chat(
        &[
            "-m", m, "--temp", "0", "-n", "16", "-c", "128", "--system", "sys",
        ],
        input.as_bytes(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        err.contains("dropped the") && err.contains("system prompt is kept"),
        "{err}"
    );
    let t = turns(&out);
    assert_eq!(t.len(), 10);
    assert!(t.iter().all(|t| t.context <= 128 && t.reply_tokens > 0));
}

/// Ctrl-C (SIGINT) stops the reply in progress, not the program: the dialogue goes on.
#[test]
fn ctrl_c_stops_the_reply_not_the_program() {
    use std::io::Read;
    // Gemma 3 270M (a base model) answers this by repeating it without end: only Ctrl-C or
    // the context (2048 tokens, ~30 s) can stop the reply.
    let m = util::gemma_path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args([
            "chat",
            "-m",
            m.to_str().unwrap(),
            "--temp",
            "0",
            "-c",
            "2048",
            "-t",
            "2",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin
        .write_all(b"What is the capital of France?\n")
        .unwrap();
    stdin.flush().unwrap();
    // Wait for the reply to start streaming, then interrupt it.
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    stdin.write_all(b"/stats\n/quit\n").unwrap();
    drop(stdin);
    let mut out = String::from_utf8_lossy(&first).into_owned();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    out.push_str(&String::from_utf8_lossy(&rest));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    let t = turns(&out);
    assert_eq!(t.len(), 1, "{out}");
    assert!(err.contains("[stopped]"), "{err}");
    assert!(out.contains("stop: interrupted"), "{out}");
    assert!(t[0].context < 1024, "{out}");
}
