//! Chat-template rendering (`ferrite::chat`) with an arbitrary Jinja source and arbitrary
//! messages: compiling and rendering either succeed or return an error, never a panic, a hang
//! (the renderer's fuel bounds loops) or runaway memory (libFuzzer's limit). The built-in
//! templates render the same messages without error.
//!
//! Input: the template source up to the first NUL byte, then the messages separated by NUL
//! bytes, their roles taken in turn from system/user/assistant by the first byte of each (any
//! bytes; invalid UTF-8 is replaced, as the CLI replaces it).
#![no_main]

use ferrite::chat::{Builtin, ChatTemplate, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let source = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let messages: Vec<Message> = parts
        .take(16)
        .map(|p| {
            let role = match p.first().map(|b| b % 3) {
                Some(0) => "system",
                Some(1) => "user",
                _ => "assistant",
            };
            Message::new(
                role,
                &String::from_utf8_lossy(p.get(1..).unwrap_or_default()),
            )
        })
        .collect();
    for b in Builtin::ALL {
        let t = ChatTemplate::Builtin(b);
        let with = t
            .render(&messages, true)
            .expect("built-in templates always render");
        let without = t.render(&messages, false).unwrap();
        assert!(
            with.starts_with(&without),
            "{b:?}: the generation prompt is a suffix"
        );
    }
    if let Ok(t) = ChatTemplate::jinja(&source, "<s>", "</s>") {
        let _ = t.render(&messages, true);
        let _ = t.render(&messages, false);
    }
});
