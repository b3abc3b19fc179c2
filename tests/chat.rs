//! The conversation kept in the KV cache (`ferrite::chat::Conversation`): each turn prefills
//! only its new text, the cache always holds exactly the text the template defines, replies
//! equal a plain greedy run on the rendered prompt, and a full context drops the oldest turns
//! (keeping the system prompt) instead of failing.

mod util;

use ferrite::chat::{Builtin, ChatTemplate, Conversation, Message, ReplyStop};
use ferrite::sampler::{Sampler, SamplerParams};
use ferrite::{Model, Session, SessionConfig};

fn synth(name: &str) -> Model {
    Model::load(util::shared_dir().join("synth").join(name)).unwrap()
}

fn conversation<'m>(
    model: &'m Model,
    n_ctx: usize,
    template: ChatTemplate,
    system: Option<&str>,
    max_reply: usize,
) -> Conversation<'m> {
    let cfg = SessionConfig {
        n_ctx,
        n_threads: 2,
        ..SessionConfig::default()
    };
    let session = Session::new(model, &cfg).unwrap();
    let sampler = Sampler::new(SamplerParams::greedy(), model.hp.n_vocab).unwrap();
    Conversation::new(session, template, sampler, system, Some(max_reply)).unwrap()
}

/// After every turn: the cache holds the rendered conversation up to the reply's start plus
/// the reply's generated text, token for token; the counts add up.
#[test]
fn three_turns_on_gemma_keep_the_cache_exact() {
    let model = Model::load(util::gemma_path()).unwrap();
    let tok = model.tokenizer().unwrap();
    let template = ChatTemplate::for_model(&model).unwrap();
    assert_eq!(
        template.name(),
        "gemma",
        "Gemma 3 270M has no template: built-in"
    );
    let mut conv = conversation(&model, 1024, template.clone(), Some("Answer briefly."), 24);
    let users = [
        "What is the capital of France?",
        "And of Germany?",
        "Name a famous painter.",
    ];
    let mut n_past = 0;
    for (k, u) in users.iter().enumerate() {
        let before = conv.messages().to_vec();
        let mut streamed = String::new();
        let r = conv
            .turn(u, |p| {
                streamed.push_str(p);
                true
            })
            .unwrap();
        assert!(r.reply_tokens > 0, "turn {k}: no reply");
        assert_eq!(streamed, r.reply, "turn {k}: streamed text = reply");
        assert_eq!(r.dropped_turns, 0);
        // The accounting: what was there, minus what was taken back, plus prompt and reply.
        assert_eq!(
            conv.session().n_past(),
            n_past - r.rewound_tokens + r.prompt_tokens + r.reply_tokens,
            "turn {k}"
        );
        n_past = conv.session().n_past();
        // The text in the cache is the template's rendering with the reply appended.
        let mut with_user = before.clone();
        with_user.push(Message::new("user", u));
        let expected = template.render(&with_user, true).unwrap() + &r.reply;
        assert_eq!(
            String::from_utf8_lossy(conv.cached_text()),
            expected,
            "turn {k}"
        );
        if k == 0 {
            // The whole first rendering was prefilled (with BOS), and the reply is what a
            // plain greedy run on the same text gives.
            let prompt = template.render(&with_user, true).unwrap();
            let ids = tok.encode(&prompt, true, true).unwrap();
            assert_eq!(r.prompt_tokens, ids.len());
            assert_eq!(r.rewound_tokens, 0);
            let want = util::greedy(&model, &prompt, 24, 4096, 1);
            assert_eq!(tok.decode(&want), r.reply.as_bytes());
        } else {
            // Later turns read only their own text: far fewer tokens than the conversation.
            assert!(r.prompt_tokens < n_past / 2, "turn {k}: {r:?}");
        }
    }
    assert_eq!(conv.n_turns(), 3);
    conv.reset();
    assert_eq!(conv.n_turns(), 0);
    assert_eq!(conv.messages().len(), 1, "the system prompt stays");
}

/// A small context: turns keep coming, the oldest are dropped, the system prompt stays, the
/// cache never overflows; a message too long for the context is refused and changes nothing.
#[test]
fn full_context_drops_the_oldest_turns() {
    let model = synth("tiny-gemma3-Q8_0.gguf");
    let template = ChatTemplate::Builtin(Builtin::Gemma);
    let n_ctx = 160;
    let mut conv = conversation(&model, n_ctx, template.clone(), Some("sys"), 20);
    let mut dropped = 0;
    for k in 0..12 {
        let r = conv.turn(&format!("time {k}"), |_| true).unwrap();
        assert!(r.reply_tokens > 0);
        assert!(conv.session().n_past() <= n_ctx);
        dropped += r.dropped_turns;
        assert_eq!(conv.messages()[0], Message::new("system", "sys"));
        // The model saw exactly the template's text of what is left.
        let msgs = conv.messages();
        let mut expected = template.render(&msgs[..msgs.len() - 1], true).unwrap();
        if r.stop != Some(ReplyStop::Context) {
            expected.push_str(&r.reply);
            assert_eq!(String::from_utf8_lossy(conv.cached_text()), expected);
        }
    }
    assert!(
        dropped > 0,
        "12 turns of ~40 tokens must overflow a 160-token context"
    );
    assert!(conv.n_turns() < 12);

    let turns = conv.n_turns();
    let msgs = conv.messages().to_vec();
    let long = "word ".repeat(200);
    let e = conv.turn(&long, |_| true).unwrap_err().to_string();
    assert!(e.contains("context holds 160"), "{e}");
    assert_eq!(conv.n_turns(), turns);
    assert_eq!(conv.messages(), &msgs[..]);
    // ... and the conversation goes on.
    conv.turn("the world", |_| true).unwrap();
}

/// Stopping from the callback keeps the partial reply; the next turn starts cleanly.
#[test]
fn interrupted_reply_is_kept() {
    let model = synth("tiny-llama-Q8_0.gguf");
    let template = ChatTemplate::Builtin(Builtin::ChatMl);
    let mut conv = conversation(&model, 256, template, None, 50);
    let mut pieces = 0;
    let r = conv
        .turn("the world of time", |_| {
            pieces += 1;
            pieces < 3
        })
        .unwrap();
    assert_eq!(r.stop, Some(ReplyStop::Interrupted));
    assert!(r.reply_tokens >= 3 && r.reply_tokens < 50, "{r:?}");
    assert_eq!(conv.messages().last().unwrap().content, r.reply);
    let r2 = conv.turn("and life", |_| true).unwrap();
    assert!(r2.reply_tokens > 0);
}

/// A model's Jinja template (Qwen2's, from its vocabulary file) renders like transformers.
#[test]
fn jinja_template_from_a_vocab_file() {
    let f = ferrite::gguf::GgufFile::open(util::shared_dir().join("vocab/ggml-vocab-qwen2.gguf"))
        .unwrap();
    let src = f.get_str("tokenizer.chat_template").unwrap();
    let t = ChatTemplate::jinja(src, "", "<|endoftext|>").unwrap();
    let out = t
        .render(
            &[
                Message::new("user", "Hi"),
                Message::new("assistant", "Hello"),
            ],
            true,
        )
        .unwrap();
    assert_eq!(
        out,
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n"
    );
}
