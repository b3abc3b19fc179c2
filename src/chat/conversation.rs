//! A conversation that lives in one session's KV cache.
//!
//! Each turn renders the whole conversation with the chat template, compares the text with the
//! text whose tokens are already in the cache, and prefills only the difference: normally just
//! the end of the last reply's turn and the new user message. The cache keeps the reply's
//! tokens exactly as they were generated; where the template renders a reply differently (it
//! trims whitespace, or the model ended its turn with a token the template does not write) the
//! cache is rewound to the last token both agree on, so the model always sees the text the
//! template defines.
//!
//! When a turn does not fit (its prompt plus room for a reply), the oldest turns are dropped,
//! keeping the system prompt, and the conversation is re-read from the start of the cache:
//! re-rendering rather than cutting the cache, because templates such as Gemma's merge the
//! system prompt into the first user turn, so dropping a turn changes the text before it.

use std::time::Instant;

use super::template::{ChatTemplate, Message};
use crate::sampler::Sampler;
use crate::tokenizer::{StreamDecoder, Tokenizer};
use crate::{Error, Result, Session};

/// Why a reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyStop {
    /// The model ended its turn.
    Eos,
    /// The reply reached the per-reply token limit.
    Length,
    /// The context filled up during the reply.
    Context,
    /// The caller asked to stop (Ctrl-C in the REPL).
    Interrupted,
}

impl ReplyStop {
    pub fn name(self) -> &'static str {
        match self {
            ReplyStop::Eos => "eos",
            ReplyStop::Length => "length",
            ReplyStop::Context => "context",
            ReplyStop::Interrupted => "interrupted",
        }
    }
}

/// What one turn did.
#[derive(Clone, Debug, Default)]
pub struct TurnReport {
    /// Tokens prefilled for this turn (the new text only, unless the cache was re-read).
    pub prompt_tokens: usize,
    /// Tokens of the cache taken back because the template renders them differently.
    pub rewound_tokens: usize,
    /// Oldest turns (user message and its reply) dropped to make room.
    pub dropped_turns: usize,
    /// Generated tokens of the reply (the end-of-turn token not counted).
    pub reply_tokens: usize,
    pub prefill_s: f64,
    pub decode_s: f64,
    pub stop: Option<ReplyStop>,
    /// The reply's text.
    pub reply: String,
}

/// One conversation: messages, the session holding their tokens, and a sampler.
pub struct Conversation<'m> {
    tok: &'m Tokenizer,
    template: ChatTemplate,
    session: Session<'m>,
    sampler: Sampler,
    /// The system message, if any, then alternating user and assistant messages.
    messages: Vec<Message>,
    /// The tokens in the cache (`ids.len() == session.n_past()`) ...
    ids: Vec<u32>,
    /// ... the text they stand for ...
    text: Vec<u8>,
    /// ... and the end of each token's text in `text` (a BOS the tokenizer added has none).
    ends: Vec<usize>,
    /// Longest reply; `None`: until the end of the turn or the context.
    max_reply: Option<usize>,
    decoder: StreamDecoder,
}

impl<'m> Conversation<'m> {
    /// A conversation in `session` (which is reset), starting with `system` when given.
    pub fn new(
        mut session: Session<'m>,
        template: ChatTemplate,
        sampler: Sampler,
        system: Option<&str>,
        max_reply: Option<usize>,
    ) -> Result<Conversation<'m>> {
        let tok = session.model().tokenizer()?;
        session.reset();
        let n_ctx = session.n_ctx();
        Ok(Conversation {
            tok,
            template,
            session,
            sampler,
            messages: system
                .map(|s| vec![Message::new("system", s)])
                .unwrap_or_default(),
            ids: Vec::with_capacity(n_ctx),
            text: Vec::new(),
            ends: Vec::with_capacity(n_ctx),
            max_reply,
            decoder: StreamDecoder::new(tok),
        })
    }

    pub fn session(&self) -> &Session<'m> {
        &self.session
    }
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }
    /// Completed user turns in the conversation.
    pub fn n_turns(&self) -> usize {
        self.messages.iter().filter(|m| m.role == "user").count()
    }
    /// The text whose tokens are in the cache (what the model has read and written so far).
    pub fn cached_text(&self) -> &[u8] {
        &self.text
    }

    /// Forgets every turn, keeping the system prompt.
    pub fn reset(&mut self) {
        self.messages.retain(|m| m.role == "system");
        self.forget_cache(0);
        self.sampler.reset();
    }

    /// Tokens kept free for the reply when a new turn is fitted into the context.
    fn reply_room(&self) -> usize {
        let n_ctx = self.session.n_ctx();
        let room = (n_ctx / 4).clamp(1, 256);
        self.max_reply.map_or(room, |m| room.min(m.max(1)))
    }

    /// How many cached tokens `full` agrees with, and where the new text starts: the last
    /// token boundary inside the common prefix that is also a character boundary of `full`.
    fn agreed_prefix(&self, full: &str) -> (usize, usize) {
        let common = self
            .text
            .iter()
            .zip(full.as_bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let mut keep = self.ends.partition_point(|&e| e <= common);
        while keep > 0 && !full.is_char_boundary(self.ends[keep - 1]) {
            keep -= 1;
        }
        let start = if keep == 0 { 0 } else { self.ends[keep - 1] };
        (keep, start)
    }

    /// Drops cached tokens after the first `keep`, rewinding the session (or re-reading the
    /// kept tokens when a sliding-window ring cannot go back that far).
    fn forget_cache(&mut self, keep: usize) {
        if keep >= self.ids.len() {
            return;
        }
        let text_end = if keep == 0 { 0 } else { self.ends[keep - 1] };
        self.ids.truncate(keep);
        self.ends.truncate(keep);
        self.text.truncate(text_end);
        if self.session.rewind(keep).is_err() {
            self.session.reset();
        }
    }

    /// Brings the session up to date with `ids` after a reset that could not rewind.
    fn reread(&mut self) -> Result<usize> {
        let have = self.session.n_past();
        if have < self.ids.len() {
            self.session.prefill_no_logits(&self.ids[have..])?;
        }
        Ok(self.ids.len() - have)
    }

    /// Adds the user's message and generates the reply, calling `on_text` with each piece of
    /// it as it becomes whole UTF-8; `on_text` returns false to stop the reply (which is kept,
    /// as far as it got). A message that cannot fit even with every older turn dropped is
    /// refused with an error and leaves the conversation as it was.
    pub fn turn(
        &mut self,
        user: &str,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<TurnReport> {
        let mut report = TurnReport::default();
        let n_ctx = self.session.n_ctx();
        // Work on a copy: a message that cannot fit leaves the conversation as it was.
        let mut msgs = self.messages.clone();
        msgs.push(Message::new("user", user));
        let (keep, start, full, new_ids, add_bos) = loop {
            let full = self.template.render(&msgs, true)?;
            let (keep, start) = self.agreed_prefix(&full);
            let add_bos = keep == 0
                && self.tok.add_bos_default()
                && !self
                    .template
                    .bos_text()
                    .is_some_and(|b| full.starts_with(b));
            let new_ids = self.tok.encode(&full[start..], add_bos, true)?;
            if keep + new_ids.len() + self.reply_room() <= n_ctx {
                break (keep, start, full, new_ids, add_bos);
            }
            // Drop the oldest turn: the first user message after the system prompt and
            // everything up to the next user message.
            let first = msgs.iter().position(|m| m.role != "system");
            let next_user = first.and_then(|f| {
                msgs[f + 1..]
                    .iter()
                    .position(|m| m.role == "user")
                    .map(|p| f + 1 + p)
            });
            match (first, next_user) {
                (Some(f), Some(n)) if n < msgs.len() => {
                    msgs.drain(f..n);
                    report.dropped_turns += 1;
                }
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "the message needs {} tokens{} but the context holds {n_ctx} with {} kept free for the reply (use a larger -c or a shorter message)",
                        keep + new_ids.len(),
                        if msgs.iter().any(|m| m.role == "system") {
                            " with the system prompt"
                        } else {
                            ""
                        },
                        self.reply_room()
                    )));
                }
            }
        };
        self.messages = msgs;

        // Take back what the template renders differently, then read the new text.
        let t0 = Instant::now();
        report.rewound_tokens = self.ids.len() - keep;
        self.forget_cache(keep);
        report.prompt_tokens = self.reread()? + new_ids.len();
        debug_assert_eq!(self.text.len(), start);
        self.text.extend_from_slice(&full.as_bytes()[start..]);
        let end = self.text.len();
        self.session.prefill(&new_ids)?;
        for &id in &new_ids {
            self.ids.push(id);
            self.ends.push(end);
            self.sampler.accept(id);
        }
        // Every token of the new text ends where the text ends (a rewind takes back the whole
        // segment or none of it), except a BOS the tokenizer added, which stands for no text.
        if add_bos {
            let first = self.ends.len() - new_ids.len();
            self.ends[first] = start;
        }
        report.prefill_s = t0.elapsed().as_secs_f64();

        // Generate the reply.
        let t1 = Instant::now();
        self.decoder.reset();
        // The reply is the text read from here on, and a last token there was no room to read.
        let reply_start = self.text.len();
        let mut unread = crate::tokenizer::Piece::default();
        let stop = loop {
            if self.max_reply.is_some_and(|m| report.reply_tokens >= m) {
                break ReplyStop::Length;
            }
            let logits = self
                .session
                .logits()
                .ok_or_else(|| Error::InvalidArgument("no logits to sample from".into()))?;
            let id = self.sampler.sample(logits);
            if self.tok.is_eog(id) {
                break ReplyStop::Eos;
            }
            self.sampler.accept(id);
            report.reply_tokens += 1;
            let piece = self.tok.token_to_piece(id, true);
            let shown = self.decoder.push(self.tok, id);
            let go_on = shown.is_empty() || on_text(shown);
            if self.session.n_past() >= n_ctx {
                // The token was sampled but there is no room to read it: keep it in the
                // reply text, not in the cache (the next turn re-reads it or drops the turn).
                unread = piece;
                break ReplyStop::Context;
            }
            self.session.decode(id)?;
            self.ids.push(id);
            piece.append_to(&mut self.text);
            self.ends.push(self.text.len());
            if !go_on {
                break ReplyStop::Interrupted;
            }
        };
        let tail = self.decoder.finish();
        if !tail.is_empty() {
            on_text(tail);
        }
        report.decode_s = t1.elapsed().as_secs_f64();
        report.stop = Some(stop);
        let mut reply = self.text[reply_start..].to_vec();
        unread.append_to(&mut reply);
        report.reply = String::from_utf8_lossy(&reply).into_owned();
        self.messages.push(Message::new("assistant", &report.reply));
        Ok(report)
    }
}
