//! Chat templates: how a conversation (system, user and assistant messages) becomes the text a
//! model was trained on.
//!
//! A model's own template, `tokenizer.chat_template` in the GGUF metadata, is a Jinja template
//! written for Hugging Face's `apply_chat_template`; it is rendered with minijinja set up the way
//! transformers sets up Jinja (`trim_blocks`, `lstrip_blocks`, Python string methods such as
//! `.strip()`, `raise_exception`). A model without one (Gemma 3 270M has none) gets a built-in
//! template chosen from its architecture and vocabulary, with the same text as llama.cpp's
//! built-ins: Gemma turns, Llama 3 headers, and ChatML (llama.cpp's fallback) otherwise.
//!
//! Rendering is bounded: a template that loops forever runs out of fuel and is an error, never
//! a hang (the fuzz target `chat_template` feeds arbitrary templates and messages).

use crate::model::Model;
use crate::{Error, Result};

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// The templates ferrite knows without a Jinja source (the text of llama.cpp's built-ins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `<start_of_turn>user\n...<end_of_turn>\n`; the system prompt is merged into the first
    /// user turn (Gemma has no system role); the assistant role is called `model`.
    Gemma,
    /// `<|im_start|>role\n...<|im_end|>\n` (Qwen and many others).
    ChatMl,
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>`.
    Llama3,
}

impl Builtin {
    pub const ALL: [Builtin; 3] = [Builtin::Gemma, Builtin::ChatMl, Builtin::Llama3];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Gemma => "gemma",
            Builtin::ChatMl => "chatml",
            Builtin::Llama3 => "llama3",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    fn render(self, msgs: &[Message], add_generation_prompt: bool) -> String {
        let mut s = String::new();
        match self {
            Builtin::Gemma => {
                let mut system = String::new();
                for m in msgs {
                    if m.role == "system" {
                        system.push_str(m.content.trim());
                        continue;
                    }
                    let role = if m.role == "assistant" {
                        "model"
                    } else {
                        &m.role
                    };
                    s.push_str("<start_of_turn>");
                    s.push_str(role);
                    s.push('\n');
                    if !system.is_empty() && role != "model" {
                        s.push_str(&system);
                        s.push_str("\n\n");
                        system.clear();
                    }
                    s.push_str(m.content.trim());
                    s.push_str("<end_of_turn>\n");
                }
                if add_generation_prompt {
                    s.push_str("<start_of_turn>model\n");
                }
            }
            Builtin::ChatMl => plain_turns(
                &mut s,
                msgs,
                ("<|im_start|>", "\n", "<|im_end|>\n"),
                false,
                add_generation_prompt,
            ),
            Builtin::Llama3 => plain_turns(
                &mut s,
                msgs,
                ("<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>"),
                true,
                add_generation_prompt,
            ),
        }
        s
    }
}

/// The turns of a template that writes each message as `open role after_role content close`
/// (the content trimmed or not), and the generation prompt as `open assistant after_role`.
fn plain_turns(
    s: &mut String,
    msgs: &[Message],
    (open, after_role, close): (&str, &str, &str),
    trim: bool,
    add_generation_prompt: bool,
) {
    for m in msgs {
        s.push_str(open);
        s.push_str(&m.role);
        s.push_str(after_role);
        s.push_str(if trim { m.content.trim() } else { &m.content });
        s.push_str(close);
    }
    if add_generation_prompt {
        s.push_str(open);
        s.push_str("assistant");
        s.push_str(after_role);
    }
}

/// A chat template, ready to render.
#[derive(Clone, Debug)]
pub enum ChatTemplate {
    Builtin(Builtin),
    /// A Jinja source with the special-token texts it may refer to.
    Jinja {
        source: String,
        bos_token: String,
        eos_token: String,
    },
}

/// Instructions a template may execute per render: generous for any real template (the
/// longest ones in the wild use a few thousand for a long conversation), small enough that a
/// runaway loop ends in well under a second.
const FUEL: u64 = 5_000_000;

impl ChatTemplate {
    /// The model's template: `tokenizer.chat_template` when the file has one, else the built-in
    /// for its architecture and vocabulary (as llama.cpp chooses).
    pub fn for_model(model: &Model) -> Result<ChatTemplate> {
        let tok = model.tokenizer()?;
        if let Some(src) = model.file.get_opt_str("tokenizer.chat_template")? {
            return ChatTemplate::jinja_for(model, src);
        }
        let has = |t: &str| tok.text_to_token(t).is_some();
        let arch = model.file.architecture().unwrap_or("");
        Ok(ChatTemplate::Builtin(
            if arch.starts_with("gemma") || has("<start_of_turn>") {
                Builtin::Gemma
            } else if has("<|start_header_id|>") && has("<|eot_id|>") {
                Builtin::Llama3
            } else {
                Builtin::ChatMl
            },
        ))
    }

    /// A Jinja template; checked by rendering a short conversation, so a template that does not
    /// compile or fails on ordinary input is refused here, naming the problem.
    pub fn jinja(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate> {
        let t = ChatTemplate::Jinja {
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        };
        t.render(&[Message::new("user", "Hello")], true)?;
        Ok(t)
    }

    /// A built-in by name (`gemma`, `chatml`, `llama3`), or a Jinja template read from a file.
    pub fn from_arg(arg: &str, model: &Model) -> Result<ChatTemplate> {
        if let Some(b) = Builtin::from_name(arg) {
            return Ok(ChatTemplate::Builtin(b));
        }
        let path = std::path::Path::new(arg);
        if !path.exists() {
            return Err(Error::InvalidArgument(format!(
                "chat template '{arg}' is neither a built-in (gemma, chatml, llama3) nor a file"
            )));
        }
        let src = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        ChatTemplate::jinja_for(model, &src)
    }

    /// [`Self::jinja`] with the model's BOS and EOS texts.
    fn jinja_for(model: &Model, source: &str) -> Result<ChatTemplate> {
        let tok = model.tokenizer()?;
        let text = |id: Option<u32>| id.map_or("", |i| tok.token_text(i));
        ChatTemplate::jinja(source, text(tok.bos()), text(tok.eos()))
    }

    /// A short name for messages: the built-in's name or `jinja`.
    pub fn name(&self) -> &str {
        match self {
            ChatTemplate::Builtin(b) => b.name(),
            ChatTemplate::Jinja { .. } => "jinja (from the model)",
        }
    }

    /// The BOS text a Jinja template writes itself (`{{ bos_token }}`), if any: a rendered
    /// conversation that starts with it must not get a second BOS from the tokenizer.
    pub fn bos_text(&self) -> Option<&str> {
        match self {
            ChatTemplate::Jinja { bos_token, .. } if !bos_token.is_empty() => Some(bos_token),
            _ => None,
        }
    }

    /// Renders `msgs`; with `add_generation_prompt` the text ends where the assistant's reply
    /// begins.
    pub fn render(&self, msgs: &[Message], add_generation_prompt: bool) -> Result<String> {
        match self {
            ChatTemplate::Builtin(b) => Ok(b.render(msgs, add_generation_prompt)),
            ChatTemplate::Jinja {
                source,
                bos_token,
                eos_token,
            } => render_jinja(source, bos_token, eos_token, msgs, add_generation_prompt),
        }
    }
}

fn render_jinja(
    source: &str,
    bos_token: &str,
    eos_token: &str,
    msgs: &[Message],
    add_generation_prompt: bool,
) -> Result<String> {
    use minijinja::{context, Environment, ErrorKind, Value};

    let mut env = Environment::new();
    // As transformers' apply_chat_template: block tags eat their newline and leading blanks.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_fuel(Some(FUEL));
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_function("strftime_now", |fmt: String| strftime_now(&fmt));
    let messages: Vec<Value> = msgs
        .iter()
        .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
        .collect();
    let ctx = context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    };
    env.render_str(source, ctx)
        .map_err(|e| Error::InvalidArgument(format!("chat template: {}", describe(&e))))
}

/// A one-line description of a template error, with the line it happened on.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(d) = e.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(l) = e.line() {
        s.push_str(&format!(" (line {l})"));
    }
    s
}

/// `strftime_now(fmt)` as the Llama 3.1 templates use it (`"%d %b %Y"`): today's UTC date.
/// Supports %d %m %Y %b %B %H %M %S and %%; other directives are kept as written.
fn strftime_now(fmt: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let (h, mi, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[(mo - 1) as usize];
    let mut out = String::new();
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('m') => out.push_str(&format!("{mo:02}")),
            Some('Y') => out.push_str(&y.to_string()),
            Some('b') => out.push_str(&month[..3]),
            Some('B') => out.push_str(month),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{mi:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv() -> Vec<Message> {
        vec![
            Message::new("system", "Be brief."),
            Message::new("user", " Hi "),
            Message::new("assistant", "Hello!"),
            Message::new("user", "Bye"),
        ]
    }

    #[test]
    fn gemma_merges_the_system_prompt_into_the_first_user_turn() {
        let s = Builtin::Gemma.render(&conv(), true);
        assert_eq!(
            s,
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn chatml_and_llama3() {
        let m = &conv()[1..2];
        assert_eq!(
            Builtin::ChatMl.render(m, true),
            "<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            Builtin::Llama3.render(m, false),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        );
        assert_eq!(
            Builtin::Llama3.render(m, true),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            Builtin::ChatMl.render(m, false),
            "<|im_start|>user\n Hi <|im_end|>\n"
        );
    }

    #[test]
    fn jinja_renders_like_transformers() {
        // Block tags on their own lines leave no blank lines (trim_blocks, lstrip_blocks);
        // Python's str.strip() works (pycompat).
        let src = "{{ bos_token }}\n{% for m in messages %}\n  {% if m['role'] == 'user' %}\nU:{{ m['content'].strip() }}\n  {% else %}\nA:{{ m.content }}\n  {% endif %}\n{% endfor %}\n{% if add_generation_prompt %}A:{% endif %}";
        let t = ChatTemplate::jinja(src, "<s>", "</s>").unwrap();
        let out = t.render(&conv()[1..], true).unwrap();
        // Checked against Python jinja2 with the same settings.
        assert_eq!(out, "<s>\nU:Hi\nA:Hello!\nU:Bye\nA:");
    }

    #[test]
    fn jinja_errors_name_the_problem() {
        let e = ChatTemplate::jinja("{% for %}", "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("chat template") && e.contains("syntax"), "{e}");
        let e = ChatTemplate::jinja("{{ raise_exception('no system role') }}", "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no system role"), "{e}");
        // A runaway loop runs out of fuel instead of hanging.
        let e = ChatTemplate::jinja(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fuel"), "{e}");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let s = strftime_now("%d %b %Y%%");
        assert!(s.len() == 12 && s.ends_with('%'), "{s}");
    }
}
