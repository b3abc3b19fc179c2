//! Chat: templates ([`template`]) and a conversation kept in a session's KV cache
//! ([`conversation`]). Behind the `chat` feature (on for the CLI, off for libferrite.a).

pub mod conversation;
pub mod template;

pub use conversation::{Conversation, ReplyStop, TurnReport};
pub use template::{Builtin, ChatTemplate, Message};
