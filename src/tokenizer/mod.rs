//! Tokenizers built from GGUF metadata (`tokenizer.ggml.*`) that give llama.cpp's ids.
//!
//! - [`Tokenizer`]: SentencePiece-style BPE (`tokenizer.ggml.model = llama`, also Gemma's
//!   262k vocabulary) and byte-level BPE (`gpt2`) with the pre-tokenizer named by
//!   `tokenizer.ggml.pre`. Encoding follows llama.cpp's `llama_vocab::impl::tokenize`:
//!   special-token text is cut out first (control tokens only when asked, user-defined tokens
//!   always), then each stretch of plain text goes through the model's algorithm.
//! - [`StreamDecoder`]: detokenizes a stream of ids into text that is always whole UTF-8,
//!   holding an incomplete character back until its remaining bytes arrive.
//!
//! The vocabulary is read into a [`Vocab`] first, so a tokenizer can also be built from memory.
//! Everything llama.cpp derives from the vocabulary at load time (token attributes, the
//! end-of-generation set, the special-token list, the piece of every token) is derived here in
//! the same order and the same way; `llama-vocab.cpp` is the reference for each step.
//!
//! Encoding allocates nothing beyond the output once a thread has encoded a text of similar
//! size before: its working buffers are kept per thread (up to 64K elements each; a larger
//! text, such as a whole file for perplexity, gets buffers that are released afterwards).
//!
//! Where ferrite departs from llama.cpp's code it is for speed, with identical results: the
//! special-token cut uses a trie instead of one search per special token, SentencePiece
//! merging runs on independent chunks with a lookup cache (see `spm.rs`), byte-level BPE
//! merges integer symbol ids instead of strings (`bpe.rs`), and the pre-tokenizer regexes are
//! direct splitters (`pretokenize.rs`).

mod bpe;
mod piece;
mod pretokenize;
mod spm;
mod stream;
mod table;
mod texts;
mod unicode;
mod unicode_data;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub use piece::Piece;
pub use stream::StreamDecoder;
pub use texts::TokenTexts;

use crate::gguf::{GgufFile, MetaValue};
use crate::{Error, Result};
use pretokenize::PreType;
use texts::ByteStrings;

/// Token attributes, llama.cpp's `llama_token_attr` bits.
pub mod attr {
    pub const UNDEFINED: u16 = 0;
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const NORMALIZED: u16 = 1 << 6;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;
    pub const SINGLE_WORD: u16 = 1 << 9;
}

/// A small, fast, non-cryptographic hasher (the Fx hash) for the vocabulary maps.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const FX_K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Special token ids as given by the metadata (`tokenizer.ggml.*_token_id`), before llama.cpp's
/// defaults and auto-detection are applied.
#[derive(Clone, Debug, Default)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

/// A vocabulary as stored in GGUF metadata. [`Tokenizer::from_gguf`] fills one from the file;
/// tests and tools can build one in memory.
#[derive(Clone, Debug, Default)]
pub struct Vocab {
    /// `tokenizer.ggml.model`: `llama` (SentencePiece-style) or `gpt2` (byte-level BPE).
    pub model: String,
    /// `tokenizer.ggml.pre`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`.
    pub tokens: TokenTexts,
    /// `tokenizer.ggml.scores` (empty: all 0).
    pub scores: Vec<f32>,
    /// `tokenizer.ggml.token_type` (empty: all normal).
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`, "left right" per line, by rank.
    pub merges: Vec<String>,
    pub special: SpecialIds,
    /// `tokenizer.ggml.add_bos_token`, `add_eos_token`, `add_space_prefix`.
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
    /// `general.name` and `general.architecture` (llama.cpp sets some token attributes by
    /// model name).
    pub name: Option<String>,
    pub architecture: Option<String>,
}

impl Vocab {
    /// Reads the `tokenizer.ggml.*` metadata of a GGUF file.
    pub fn from_gguf(f: &GgufFile) -> Result<Vocab> {
        const TOKENS: &str = "tokenizer.ggml.tokens";
        const SCORES: &str = "tokenizer.ggml.scores";
        const TYPES: &str = "tokenizer.ggml.token_type";
        const MERGES: &str = "tokenizer.ggml.merges";
        let model = f.get_str("tokenizer.ggml.model")?.to_string();
        let pre = f.get_opt_str("tokenizer.ggml.pre")?.map(str::to_string);
        let array = f.get_array(TOKENS)?;
        let text_bytes = array.text_bytes().unwrap_or(0);
        let mut tokens = TokenTexts::with_capacity(array.len(), text_bytes);
        for t in array.strings(TOKENS)? {
            if !tokens.push(t) {
                return Err(Error::Tokenizer(format!("'{TOKENS}' exceeds 4 GiB")));
            }
        }
        let n = tokens.len();
        let scores: Vec<f32> = match f.get(SCORES) {
            None => Vec::new(),
            Some(MetaValue::Array(a)) => match a.f32s(SCORES) {
                Ok(it) => it.collect(),
                Err(_) => a.ints(SCORES)?.map(|x| x as f32).collect(),
            },
            Some(_) => f.get_array(SCORES).map(|_| Vec::new())?,
        };
        if !scores.is_empty() && scores.len() < n {
            return Err(Error::Tokenizer(format!(
                "'{SCORES}' has {} entries for {n} tokens",
                scores.len()
            )));
        }
        let token_types: Vec<i32> = match f.get(TYPES) {
            None => Vec::new(),
            Some(_) => f
                .get_array(TYPES)?
                .ints(TYPES)?
                .map(|x| x.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
                .collect(),
        };
        if !token_types.is_empty() && token_types.len() < n {
            return Err(Error::Tokenizer(format!(
                "'{TYPES}' has {} entries for {n} tokens",
                token_types.len()
            )));
        }
        let merges: Vec<String> = match f.get(MERGES) {
            None => Vec::new(),
            Some(_) => f
                .get_array(MERGES)?
                .strings(MERGES)?
                .map(str::to_string)
                .collect(),
        };
        // An id key that is absent, of another type or negative counts as absent (llama.cpp
        // warns and keeps its default for a bad id).
        let id = |k: &str| -> Option<u32> {
            f.get(&format!("tokenizer.ggml.{k}"))
                .and_then(|v| v.as_int())
                .and_then(|v| u32::try_from(v).ok())
        };
        let mut special = SpecialIds {
            bos: id("bos_token_id"),
            eos: id("eos_token_id"),
            eot: id("eot_token_id"),
            eom: id("eom_token_id"),
            unk: id("unknown_token_id"),
            sep: id("seperator_token_id"),
            pad: id("padding_token_id"),
            mask: id("mask_token_id"),
            fim_pre: id("fim_pre_token_id"),
            fim_suf: id("fim_suf_token_id"),
            fim_mid: id("fim_mid_token_id"),
            fim_pad: id("fim_pad_token_id"),
            fim_rep: id("fim_rep_token_id"),
            fim_sep: id("fim_sep_token_id"),
        };
        // Deprecated keys, read after the new ones as llama.cpp does.
        if let Some(v) = id("prefix_token_id") {
            special.fim_pre = Some(v);
        }
        if let Some(v) = id("suffix_token_id") {
            special.fim_suf = Some(v);
        }
        if let Some(v) = id("middle_token_id") {
            special.fim_mid = Some(v);
        }
        let flag =
            |k: &str| -> Result<Option<bool>> { f.get_opt_bool(&format!("tokenizer.ggml.{k}")) };
        Ok(Vocab {
            model,
            pre,
            tokens,
            scores,
            token_types,
            merges,
            special,
            add_bos: flag("add_bos_token")?,
            add_eos: flag("add_eos_token")?,
            add_space_prefix: flag("add_space_prefix")?,
            name: f.get_opt_str("general.name")?.map(str::to_string),
            architecture: f.get_opt_str("general.architecture")?.map(str::to_string),
        })
    }
}

enum Model {
    /// SentencePiece-style: scores, byte fallback.
    Spm,
    /// Byte-level BPE with a pre-tokenizer.
    Bpe {
        model: Box<bpe::BpeModel>,
        pre: PreType,
        ignore_merges: bool,
    },
}

/// The special-token texts, for cutting them out of a text: a byte trie over their texts,
/// stored flat (Gemma's 6414 special tokens make 12.9k nodes: 0.2 MiB here, 0.8 MiB as nodes
/// with a vector of children each).
struct SpecialMatcher {
    /// Special token ids in llama.cpp's order (longest text first); `rank` indexes this.
    order: Vec<u32>,
    /// Per node (node 0 is the root): the rank of the special token ending there, or
    /// `u32::MAX`.
    rank: Vec<u32>,
    /// Node `v`'s children are entries `first[v]..first[v + 1]` of `child_byte` (sorted) and
    /// `child_node`.
    first: Vec<u32>,
    child_byte: Vec<u8>,
    child_node: Vec<u32>,
    /// Root children by first byte (0: none).
    root: Box<[u32; 256]>,
}

/// A trie node while the matcher is built.
struct TrieNode {
    children: Vec<(u8, u32)>,
    rank: u32,
}

impl SpecialMatcher {
    /// The child of `node` along byte `b`, if any.
    #[inline]
    fn child(&self, node: usize, b: u8) -> Option<usize> {
        let (lo, hi) = (self.first[node] as usize, self.first[node + 1] as usize);
        let k = self.child_byte[lo..hi].binary_search(&b).ok()?;
        Some(self.child_node[lo + k] as usize)
    }

    fn new(order: Vec<u32>, texts: &TokenTexts) -> SpecialMatcher {
        let mut nodes = vec![TrieNode {
            children: Vec::new(),
            rank: u32::MAX,
        }];
        let mut root = Box::new([0u32; 256]);
        for (rank, &id) in order.iter().enumerate() {
            let text = texts[id as usize].as_bytes();
            let mut node = 0usize;
            for (i, &b) in text.iter().enumerate() {
                let next = if i == 0 {
                    root[b as usize] as usize
                } else {
                    match nodes[node].children.binary_search_by_key(&b, |c| c.0) {
                        Ok(k) => nodes[node].children[k].1 as usize,
                        Err(_) => 0,
                    }
                };
                node = if next != 0 {
                    next
                } else {
                    nodes.push(TrieNode {
                        children: Vec::new(),
                        rank: u32::MAX,
                    });
                    let new = nodes.len() - 1;
                    if i == 0 {
                        root[b as usize] = new as u32;
                    } else {
                        let ch = &mut nodes[node].children;
                        let k = ch.binary_search_by_key(&b, |c| c.0).unwrap_err();
                        ch.insert(k, (b, new as u32));
                    }
                    new
                };
            }
            if nodes[node].rank == u32::MAX {
                nodes[node].rank = rank as u32;
            }
        }
        let edges = nodes.iter().map(|n| n.children.len()).sum();
        let mut m = SpecialMatcher {
            order,
            rank: Vec::with_capacity(nodes.len()),
            first: Vec::with_capacity(nodes.len() + 1),
            child_byte: Vec::with_capacity(edges),
            child_node: Vec::with_capacity(edges),
            root,
        };
        for n in &nodes {
            m.rank.push(n.rank);
            m.first.push(m.child_byte.len() as u32);
            for &(b, v) in &n.children {
                m.child_byte.push(b);
                m.child_node.push(v);
            }
        }
        m.first.push(m.child_byte.len() as u32);
        m
    }
}

/// A piece of the text after special tokens are cut out.
#[derive(Clone, Copy)]
enum Frag {
    Text(u32, u32),
    Token(u32),
}

/// Per-thread working buffers of [`Tokenizer::encode_into`].
#[derive(Default)]
struct Scratch {
    /// Special-token cutting.
    cand_pos: Vec<u32>,
    seen: Vec<bool>,
    claimed: Vec<bool>,
    accepted: Vec<(u32, u32, u32)>,
    frags: Vec<Frag>,
    /// SPM: the escaped text.
    escaped: String,
    spm: spm::SpmScratch,
    /// BPE: codepoints, their byte offsets, the pre-tokenizer's pieces.
    cpts: Vec<u32>,
    offs: Vec<u32>,
    pieces: Vec<(u32, u32)>,
    pieces_tmp: Vec<(u32, u32)>,
    bpe: bpe::BpeScratch,
}

/// Buffers grown past this many elements by a large text are shrunk back afterwards, so a
/// thread that once tokenized a big file does not keep tens of megabytes (prompt-sized texts
/// stay below it and never reallocate).
const SCRATCH_KEEP: usize = 1 << 16;

fn trim_vec<T>(v: &mut Vec<T>) {
    if v.capacity() > SCRATCH_KEEP {
        v.clear();
        v.shrink_to(SCRATCH_KEEP);
    }
}

impl Scratch {
    fn trim(&mut self) {
        trim_vec(&mut self.cand_pos);
        trim_vec(&mut self.seen);
        trim_vec(&mut self.claimed);
        trim_vec(&mut self.accepted);
        trim_vec(&mut self.frags);
        trim_vec(&mut self.cpts);
        trim_vec(&mut self.offs);
        trim_vec(&mut self.pieces);
        trim_vec(&mut self.pieces_tmp);
        if self.escaped.capacity() > SCRATCH_KEEP {
            self.escaped = String::new();
        }
        self.spm.trim(SCRATCH_KEEP);
        self.bpe.trim(SCRATCH_KEEP);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Which rule gives a token's piece (by its attributes, as llama.cpp's `token_to_piece`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PieceKind {
    /// Control, unknown and user-defined tokens: their text.
    Text,
    /// SPM: the text with `▁` as a space; byte-level BPE: the raw bytes.
    Normal,
    /// `<0xNN>`: that byte.
    Byte,
    /// Anything else (unused, undefined): nothing.
    Empty,
}

/// A tokenizer for one vocabulary. Immutable once built; `Send + Sync`.
pub struct Tokenizer {
    model: Model,
    attrs: Vec<u16>,
    scores: Vec<f32>,
    /// The vocabulary's texts and the index from text to id (the table owns the texts).
    text_to_id: table::TokenTable<TokenTexts>,
    /// SPM byte fallback: the token of each byte.
    byte_token: [Option<u32>; 256],
    /// SPM: the characters found right before a `▁` inside a token (see `spm.rs`), sorted.
    before_space: Vec<char>,
    /// Unique per tokenizer built in this process (keys per-thread caches).
    uid: u64,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
    /// End-of-generation ids, sorted.
    eog: Vec<u32>,
    special: SpecialMatcher,
    /// The pieces that are not read off a text or raw bytes (byte-level BPE tokens outside
    /// the byte mapping), and their ids, ascending.
    odd_pieces: ByteStrings,
    odd_piece_ids: Vec<u32>,
    max_piece_len: usize,
}

/// The texts llama.cpp treats as end-of-generation tokens (`special_eog_ids`).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

/// C's `isspace` in the C locale.
#[inline]
fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

impl Tokenizer {
    /// Builds the tokenizer of a GGUF file from its `tokenizer.ggml.*` metadata.
    pub fn from_gguf(f: &GgufFile) -> Result<Tokenizer> {
        // Every error names the file (the CLI, the C API and the library alike).
        let file = f.path().display();
        Vocab::from_gguf(f)
            .and_then(Tokenizer::from_vocab)
            .map_err(|e| match e {
                Error::Tokenizer(msg) => Error::Tokenizer(format!("{file}: {msg}")),
                Error::MissingKey { key } if key == "tokenizer.ggml.model" => Error::Tokenizer(
                    format!("{file} has no vocabulary (tokenizer.ggml.model is missing)"),
                ),
                e @ (Error::Io { .. } | Error::Format { .. }) => e,
                e => Error::Tokenizer(format!("{file}: {e}")),
            })
    }

    /// Builds a tokenizer from a vocabulary, deriving everything llama.cpp derives at load.
    pub fn from_vocab(mut v: Vocab) -> Result<Tokenizer> {
        let n = v.tokens.len();
        if n == 0 {
            return Err(Error::Tokenizer("the vocabulary has no tokens".into()));
        }
        if n >= u32::MAX as usize {
            return Err(Error::Tokenizer(format!(
                "vocabulary too large ({n} tokens)"
            )));
        }
        let is_spm = match v.model.as_str() {
            "llama" => true,
            "gpt2" => false,
            "no_vocab" | "none" => {
                return Err(Error::Tokenizer(
                    "the model has no vocabulary (tokenizer.ggml.model = 'none')".into(),
                ))
            }
            other => {
                return Err(Error::Tokenizer(format!(
                    "unsupported tokenizer model '{other}' in 'tokenizer.ggml.model' (supported: llama, gpt2)"
                )))
            }
        };

        // Per-type defaults (llama_vocab::impl::load).
        let mut bos: Option<u32>;
        let mut eos: Option<u32>;
        let mut unk: Option<u32>;
        let (mut add_bos, mut add_eos, mut add_space_prefix, clean_spaces);
        let mut pre_info = None;
        if is_spm {
            bos = Some(1);
            eos = Some(2);
            unk = Some(0);
            add_space_prefix = true;
            clean_spaces = false;
            add_bos = true;
            add_eos = false;
        } else {
            bos = Some(11);
            eos = Some(11);
            unk = None;
            let info = PreType::from_name(v.pre.as_deref()).ok_or_else(|| {
                Error::Tokenizer(format!(
                    "unknown pre-tokenizer '{}' in 'tokenizer.ggml.pre'",
                    v.pre.as_deref().unwrap_or("")
                ))
            })?;
            add_space_prefix = false;
            clean_spaces = info.clean_spaces;
            add_bos = info.add_bos;
            add_eos = false;
            if info.no_bos {
                bos = None;
            }
            pre_info = Some(info);
        }
        if let Some(b) = v.add_space_prefix {
            add_space_prefix = b;
        }

        // Token texts, scores, attributes.
        // Empty texts get llama.cpp's "[EMPTY_i]" placeholder; the texts are moved, not
        // copied, in the common case that there are none.
        let tokens: TokenTexts = if v.tokens.iter().any(str::is_empty) {
            v.tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if t.is_empty() {
                        format!("[EMPTY_{i}]")
                    } else {
                        t.to_string()
                    }
                })
                .collect()
        } else {
            std::mem::take(&mut v.tokens)
        };
        let text_to_id = table::TokenTable::build(tokens, |_| true);
        let tokens = text_to_id.keys();
        let scores: Vec<f32> = if v.scores.is_empty() {
            vec![0.0; n]
        } else {
            v.scores[..n].to_vec()
        };
        let mut attrs: Vec<u16> = (0..n)
            .map(|i| match v.token_types.get(i) {
                None => attr::NORMAL,
                Some(1) => attr::NORMAL,
                Some(2) => attr::UNKNOWN,
                Some(3) => attr::CONTROL,
                Some(4) => attr::USER_DEFINED,
                Some(5) => attr::UNUSED,
                Some(6) => attr::BYTE,
                Some(_) => attr::UNDEFINED,
            })
            .collect();

        let model = match pre_info {
            None => Model::Spm,
            Some(info) => {
                if v.merges.is_empty() {
                    return Err(Error::Tokenizer(
                        "byte-level BPE vocabulary without 'tokenizer.ggml.merges'".into(),
                    ));
                }
                Model::Bpe {
                    model: Box::new(bpe::BpeModel::new(tokens, &v.merges)),
                    pre: info.pre,
                    ignore_merges: info.ignore_merges,
                }
            }
        };

        // Special ids: defaults out of range are disabled, metadata ids in range win.
        let in_range = |x: Option<u32>| x.filter(|&i| (i as usize) < n);
        let pick = |default: Option<u32>, meta: Option<u32>| in_range(meta).or(in_range(default));
        bos = pick(bos, v.special.bos);
        eos = pick(eos, v.special.eos);
        unk = pick(unk, v.special.unk);
        let mut eot = in_range(v.special.eot);
        let mut eom = in_range(v.special.eom);
        let mut fim_pre = in_range(v.special.fim_pre);
        let mut fim_suf = in_range(v.special.fim_suf);
        let mut fim_mid = in_range(v.special.fim_mid);
        let mut fim_pad = in_range(v.special.fim_pad);
        let mut fim_rep = in_range(v.special.fim_rep);
        let mut fim_sep = in_range(v.special.fim_sep);
        if let Some(b) = v.add_bos {
            add_bos = b;
        }
        if let Some(b) = v.add_eos {
            add_eos = b;
        }

        // Auto-detect special tokens by text; such tokens become control tokens. (llama.cpp
        // walks its hash map here; ids are walked in order, which only matters for a vocabulary
        // with two candidates of one kind.)
        let lists: [(&mut Option<u32>, &[&str]); 8] = [
            (&mut eot, EOT_TEXTS),
            (&mut eom, &["<|eom_id|>"]),
            (&mut fim_pre, FIM_PRE_TEXTS),
            (&mut fim_suf, FIM_SUF_TEXTS),
            (&mut fim_mid, FIM_MID_TEXTS),
            (&mut fim_pad, FIM_PAD_TEXTS),
            (&mut fim_rep, FIM_REP_TEXTS),
            (&mut fim_sep, FIM_SEP_TEXTS),
        ];
        for (slot, texts) in lists {
            if slot.is_none() {
                if let Some(id) = (0..n).find(|&i| texts.contains(&&tokens[i])) {
                    *slot = Some(id as u32);
                    attrs[id] |= attr::CONTROL;
                }
            }
        }
        // Control tokens named "unused" are unused.
        for (a, t) in attrs.iter_mut().zip(tokens) {
            if *a & attr::CONTROL != 0 && t.contains("unused") {
                *a |= attr::UNUSED;
            }
        }
        // The end-of-generation set.
        let mut eog: Vec<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
        for (i, t) in tokens.iter().enumerate() {
            if EOG_TEXTS.contains(&t) {
                eog.push(i as u32);
                attrs[i] |= attr::CONTROL;
            }
        }
        for (i, t) in tokens.iter().enumerate() {
            if matches!(
                t,
                "<|channel|>" | "<|message|>" | "<|start|>" | "<|constrain|>"
            ) {
                attrs[i] = attr::USER_DEFINED; // gpt-oss: always rendered
            }
        }
        eog.extend([eos, eot, eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();
        let has = |eog: &[u32], s: &str| eog.iter().any(|&i| &tokens[i as usize] == s);
        // o200k_harmony / solar-open: "<|end|>" is not end-of-generation there.
        if has(&eog, "<|end|>")
            && ((has(&eog, "<|return|>") && (has(&eog, "<|call|>") || has(&eog, "<|calls|>")))
                || (has(&eog, "<|flush|>") && (has(&eog, "<|call|>") || has(&eog, "<|calls|>"))))
        {
            if let Some(k) = eog.iter().position(|&i| &tokens[i as usize] == "<|end|>") {
                attrs[eog[k] as usize] = attr::USER_DEFINED;
                eog.remove(k);
            }
        }
        // gemma4 / plamo: "</s>" is a normal token there.
        if (has(&eog, "<|tool_response>") || has(&eog, "<|plamo:eos|>")) && has(&eog, "</s>") {
            if let Some(k) = eog.iter().position(|&i| &tokens[i as usize] == "</s>") {
                attrs[eog[k] as usize] = attr::NORMAL;
                eog.remove(k);
            }
        }

        // Special tokens, longest text first (ties by id).
        let mut order: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                attrs[i as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0
            })
            .collect();
        order.sort_by(|&a, &b| {
            tokens[b as usize]
                .len()
                .cmp(&tokens[a as usize].len())
                .then(a.cmp(&b))
        });

        // Pieces are read off the texts (see `piece.rs`); only a byte-level BPE token with a
        // character outside the byte mapping has one of its own (llama.cpp's `[UNK_BYTE_..]`
        // text), kept here by id.
        let mut odd_pieces = ByteStrings::default();
        let mut odd_piece_ids = Vec::new();
        if let Model::Bpe { model, .. } = &model {
            let mut buf = Vec::new();
            for (i, t) in tokens.iter().enumerate() {
                if Self::piece_kind(attrs[i]) == PieceKind::Normal
                    && model.raw_bytes(i as u32).is_empty()
                {
                    buf.clear();
                    decode_byte_level(t, &mut buf);
                    if !odd_pieces.push(&buf) {
                        return Err(Error::Tokenizer("token pieces exceed 4 GiB".into()));
                    }
                    odd_piece_ids.push(i as u32);
                }
            }
            odd_pieces.shrink_to_fit();
            odd_piece_ids.shrink_to_fit();
        }

        // Per-token attributes llama.cpp sets by model name.
        let lname = v.name.as_deref().unwrap_or("").to_lowercase();
        let pre_name = v.pre.as_deref().unwrap_or("");
        let arch = v.architecture.as_deref().unwrap_or("");
        let mut set = |text: &str, bit: u16, on: bool| {
            if let Some(id) = text_to_id.get(text.as_bytes()) {
                if on {
                    attrs[id as usize] |= bit;
                } else {
                    attrs[id as usize] &= !bit;
                }
            }
        };
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"]
            .iter()
            .any(|s| pre_name.contains(s))
            || ["nomic-bert-moe", "jina-bert-v3"]
                .iter()
                .any(|s| arch.contains(s))
        {
            set("<mask>", attr::LSTRIP, true);
        } else if lname.contains("phi-3") || lname.contains("phi3") {
            for &id in &order {
                attrs[id as usize] |= attr::RSTRIP;
            }
            let mut set = |text: &str, bit: u16, on: bool| {
                if let Some(id) = text_to_id.get(text.as_bytes()) {
                    if on {
                        attrs[id as usize] |= bit;
                    } else {
                        attrs[id as usize] &= !bit;
                    }
                }
            };
            set("</s>", attr::RSTRIP, true);
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                set(t, attr::RSTRIP, false);
            }
        } else if lname.contains("modern-bert") {
            set("[MASK]", attr::LSTRIP, true);
        }

        // SPM byte fallback: "<0xNN>", else the one-character text.
        let mut byte_token = [None; 256];
        for (b, slot) in byte_token.iter_mut().enumerate() {
            let hex = format!("<0x{b:02X}>");
            *slot = text_to_id.get(hex.as_bytes()).or_else(|| {
                if b < 0x80 {
                    text_to_id.get(&[b as u8])
                } else {
                    None
                }
            });
        }

        let mut before_space: Vec<char> = Vec::new();
        if is_spm {
            for t in tokens {
                let mut prev = None;
                for c in t.chars() {
                    if let (Some(p), '\u{2581}') = (prev, c) {
                        if !before_space.contains(&p) {
                            before_space.push(p);
                        }
                    }
                    prev = Some(c);
                }
            }
            before_space.sort_unstable();
        }

        let special = SpecialMatcher::new(order, tokens);
        let mut tok = Tokenizer {
            model,
            attrs,
            scores,
            text_to_id,
            byte_token,
            before_space,
            uid: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            bos,
            eos,
            eot,
            unk,
            add_bos,
            add_eos,
            add_space_prefix,
            clean_spaces,
            eog,
            special,
            odd_pieces,
            odd_piece_ids,
            max_piece_len: 0,
        };
        // The longest piece, for callers' buffers, by the one rule that gives pieces.
        tok.max_piece_len = (0..n as u32)
            .map(|id| tok.token_to_piece(id, true).len())
            .max()
            .unwrap_or(0);
        Ok(tok)
    }

    /// The vocabulary's texts.
    fn tokens(&self) -> &TokenTexts {
        self.text_to_id.keys()
    }

    /// Number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        self.tokens().len()
    }
    /// The beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }
    /// The end-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }
    /// The end-of-turn token (given or auto-detected, e.g. `<end_of_turn>`).
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }
    /// The unknown token.
    pub fn unk(&self) -> Option<u32> {
        self.unk
    }
    /// Whether prompts get BOS by default (llama.cpp's `add_bos`, per model type and metadata).
    pub fn add_bos_default(&self) -> bool {
        self.add_bos
    }
    /// Whether llama.cpp appends EOS to prompts for this model (`add_eos_token`).
    pub fn add_eos_default(&self) -> bool {
        self.add_eos
    }
    /// True for every end-of-generation token (eos, eot, eom and the tokens llama.cpp
    /// recognizes by text, e.g. Gemma's `<end_of_turn>`).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }
    /// All end-of-generation tokens, ascending.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }
    /// The vocabulary text of a token (empty for an id out of range).
    pub fn token_text(&self, id: u32) -> &str {
        self.tokens().get(id as usize).unwrap_or("")
    }
    /// The token's attributes ([`attr`] bits; 0 for an id out of range).
    pub fn token_attr(&self, id: u32) -> u16 {
        self.attrs.get(id as usize).copied().unwrap_or(0)
    }
    /// The score of a token (SentencePiece vocabularies).
    pub fn token_score(&self, id: u32) -> f32 {
        self.scores.get(id as usize).copied().unwrap_or(0.0)
    }
    /// The id of the token whose vocabulary text is exactly `text`.
    pub fn text_to_token(&self, text: &str) -> Option<u32> {
        self.text_to_id.get(text.as_bytes())
    }
    /// The longest piece of any token, in bytes.
    pub fn max_piece_len(&self) -> usize {
        self.max_piece_len
    }

    /// The bytes a token stands for (llama.cpp's `token_to_piece` without lstrip): byte-level
    /// BPE text mapped back to bytes, `▁` as a space, `<0xNN>` as its byte. Control and unknown
    /// tokens give their text only when `special` is true, otherwise nothing; user-defined
    /// tokens always give their text. An id out of range gives nothing.
    pub fn token_to_piece(&self, id: u32, special: bool) -> Piece<'_> {
        let i = id as usize;
        let Some(&a) = self.attrs.get(i) else {
            return Piece::default();
        };
        if !special && a & (attr::UNKNOWN | attr::CONTROL) != 0 {
            return Piece::default();
        }
        match &self.model {
            Model::Bpe { model, .. } if Self::piece_kind(a) == PieceKind::Normal => {
                let raw = model.raw_bytes(id);
                if !raw.is_empty() {
                    return Piece::bytes(raw);
                }
                match self.odd_piece_ids.binary_search(&id) {
                    Ok(k) => Piece::bytes(&self.odd_pieces[k]),
                    Err(_) => Piece::default(),
                }
            }
            _ => Self::simple_piece(a, self.tokens().get(i).unwrap_or("")),
        }
    }

    /// Which rule gives the piece of a token with attributes `a`.
    fn piece_kind(a: u16) -> PieceKind {
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            PieceKind::Text
        } else if a & attr::NORMAL != 0 {
            PieceKind::Normal
        } else if a & attr::BYTE != 0 {
            PieceKind::Byte
        } else {
            PieceKind::Empty
        }
    }

    /// The piece of a token of text `t` that is not a normal byte-level BPE token: its text,
    /// the SPM reading of it, the byte of `<0xNN>`, or nothing.
    fn simple_piece(a: u16, t: &str) -> Piece<'_> {
        match Self::piece_kind(a) {
            PieceKind::Text => Piece::bytes(t.as_bytes()),
            PieceKind::Normal => Piece::spm(t),
            PieceKind::Byte => {
                let b = t
                    .get(3..5)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or(0) as usize;
                Piece::bytes(&piece::BYTE_VALUES[b..b + 1])
            }
            PieceKind::Empty => Piece::default(),
        }
    }

    /// Text to token ids. `add_bos` is llama.cpp's `add_special`: it adds BOS when the model
    /// asks for it ([`add_bos_default`](Self::add_bos_default)) and EOS when the model asks for
    /// that; pass `false` to add neither. `parse_special`: special-token text such as
    /// `<start_of_turn>` becomes its id (user-defined tokens are always cut out, as in
    /// llama.cpp).
    pub fn encode(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        self.encode_into(text, add_bos, parse_special, &mut out)?;
        Ok(out)
    }

    /// Like [`encode`](Self::encode), into `out` (cleared first). Reuses per-thread buffers: no
    /// allocation besides growing `out` once warm.
    pub fn encode_into(
        &self,
        text: &str,
        add_bos: bool,
        parse_special: bool,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        out.clear();
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.encode_with(text, add_bos, parse_special, &mut s, out),
            // Re-entered on this thread (cannot happen today): use fresh buffers.
            Err(_) => self.encode_with(text, add_bos, parse_special, &mut Scratch::default(), out),
        })
    }

    fn encode_with(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
        s: &mut Scratch,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let mut frags = std::mem::take(&mut s.frags);
        self.partition(text, parse_special, s, &mut frags);
        let result = self.encode_frags(text, add_special, &frags, s, out);
        s.frags = frags;
        s.trim();
        result
    }

    fn encode_frags(
        &self,
        text: &str,
        add_special: bool,
        frags: &[Frag],
        s: &mut Scratch,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        if add_special && self.add_bos {
            out.push(self.bos.ok_or_else(|| {
                Error::Tokenizer("the model asks for BOS but has no BOS token".into())
            })?);
        }
        match &self.model {
            Model::Spm => {
                let view = spm::SpmView {
                    text_to_id: &self.text_to_id,
                    scores: &self.scores,
                    byte_token: &self.byte_token,
                    unk: self.unk,
                    before_space: &self.before_space,
                    uid: self.uid,
                };
                let mut prev_special = true; // a space prefix before the first text
                for f in frags {
                    match *f {
                        Frag::Text(a, b) => {
                            let esc = &mut s.escaped;
                            esc.clear();
                            if self.add_space_prefix && prev_special {
                                esc.push('\u{2581}');
                            }
                            for (k, part) in text[a as usize..b as usize].split(' ').enumerate() {
                                if k > 0 {
                                    esc.push('\u{2581}');
                                }
                                esc.push_str(part);
                            }
                            spm::encode(&view, esc, &mut s.spm, out)?;
                            prev_special = false;
                        }
                        Frag::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                    }
                }
            }
            Model::Bpe {
                model,
                pre,
                ignore_merges,
            } => {
                for f in frags {
                    match *f {
                        Frag::Text(a, b) => {
                            let t = &text[a as usize..b as usize];
                            s.cpts.clear();
                            s.offs.clear();
                            for (i, c) in t.char_indices() {
                                s.cpts.push(c as u32);
                                s.offs.push(i as u32);
                            }
                            s.offs.push(t.len() as u32);
                            pretokenize::split(*pre, &s.cpts, &mut s.pieces, &mut s.pieces_tmp);
                            let bytes = t.as_bytes();
                            for &(ps, pe) in &s.pieces {
                                let w = &bytes
                                    [s.offs[ps as usize] as usize..s.offs[pe as usize] as usize];
                                model.encode_word(w, *ignore_merges, &mut s.bpe, out);
                            }
                        }
                        Frag::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.push(self.eos.ok_or_else(|| {
                Error::Tokenizer("the model asks for EOS but has no EOS token".into())
            })?);
        }
        Ok(())
    }

    /// Cuts special-token text out of `text` (llama.cpp's `tokenizer_st_partition`).
    ///
    /// llama.cpp takes the special tokens longest first and, for each, splits every remaining
    /// text fragment at the token's leftmost non-overlapping occurrences. That is the same as:
    /// an occurrence of a token is taken when none of its bytes was taken by a token earlier in
    /// that order (or stripped by its lstrip/rstrip), scanning each token's occurrences left to
    /// right. A trie pass finds where any special token starts and which tokens occur at all,
    /// so only those tokens are tried, only at those positions.
    fn partition(&self, text: &str, parse_special: bool, s: &mut Scratch, frags: &mut Vec<Frag>) {
        frags.clear();
        let bytes = text.as_bytes();
        let n = bytes.len();
        if n == 0 {
            return;
        }
        let sm = &self.special;
        let skip = |id: u32| {
            !parse_special && self.attrs[id as usize] & (attr::CONTROL | attr::UNKNOWN) != 0
        };
        // Pass 1: positions where some eligible special token starts; which tokens occur.
        s.cand_pos.clear();
        s.seen.clear();
        s.seen.resize(sm.order.len(), false);
        let mut any = false;
        for i in 0..n {
            let mut node = sm.root[bytes[i] as usize] as usize;
            if node == 0 {
                continue;
            }
            let mut j = i + 1;
            let mut found = false;
            loop {
                let rank = sm.rank[node];
                if rank != u32::MAX && !skip(sm.order[rank as usize]) {
                    s.seen[rank as usize] = true;
                    found = true;
                }
                if j >= n {
                    break;
                }
                match sm.child(node, bytes[j]) {
                    Some(c) => node = c,
                    None => break,
                }
                j += 1;
            }
            if found {
                s.cand_pos.push(i as u32);
                any = true;
            }
        }
        if !any {
            frags.push(Frag::Text(0, n as u32));
            return;
        }
        // Pass 2: take occurrences in llama.cpp's order.
        s.claimed.clear();
        s.claimed.resize(n, false);
        s.accepted.clear();
        for (rank, &id) in sm.order.iter().enumerate() {
            if !s.seen[rank] {
                continue;
            }
            let tok = self.tokens()[id as usize].as_bytes();
            let a = self.attrs[id as usize];
            let mut busy_until = 0usize;
            for &p in &s.cand_pos {
                let p = p as usize;
                if p < busy_until || bytes[p] != tok[0] || !bytes[p..].starts_with(tok) {
                    continue;
                }
                let e = p + tok.len();
                if s.claimed[p..e].iter().any(|&c| c) {
                    continue;
                }
                s.claimed[p..e].iter_mut().for_each(|c| *c = true);
                busy_until = e;
                s.accepted.push((p as u32, e as u32, id));
                if a & attr::LSTRIP != 0 {
                    let mut k = p;
                    while k > 0 && !s.claimed[k - 1] && c_isspace(bytes[k - 1]) {
                        s.claimed[k - 1] = true;
                        k -= 1;
                    }
                }
                if a & attr::RSTRIP != 0 {
                    let mut k = e;
                    while k < n && !s.claimed[k] && c_isspace(bytes[k]) {
                        s.claimed[k] = true;
                        k += 1;
                    }
                    busy_until = k;
                }
            }
        }
        s.accepted.sort_unstable();
        // Fragments: the unclaimed stretch between consecutive tokens is one text fragment.
        let mut cur = 0usize;
        for &(p, e, id) in &s.accepted {
            let (mut a, mut b) = (cur, p as usize);
            while a < b && s.claimed[a] {
                a += 1;
            }
            while b > a && s.claimed[b - 1] {
                b -= 1;
            }
            if b > a {
                frags.push(Frag::Text(a as u32, b as u32));
            }
            frags.push(Frag::Token(id));
            cur = e as usize;
        }
        let (mut a, b) = (cur, n);
        while a < b && s.claimed[a] {
            a += 1;
        }
        if b > a {
            frags.push(Frag::Text(a as u32, b as u32));
        }
    }

    /// Token ids to bytes, as llama.cpp's `common_detokenize(ids, special = false)`: control
    /// tokens are not rendered, the space SentencePiece put before the first word is removed,
    /// and byte-level BPE models that clean up tokenization spaces do so.
    pub fn decode(&self, ids: &[u32]) -> Vec<u8> {
        self.detokenize(ids, false, false)
    }

    /// llama.cpp's `llama_detokenize`: `remove_special` drops a leading BOS and trailing EOS
    /// the model adds; `unparse_special` renders control tokens as their text.
    pub fn detokenize(&self, ids: &[u32], remove_special: bool, unparse_special: bool) -> Vec<u8> {
        let mut ids = ids;
        let mut remove_space = self.add_space_prefix;
        if remove_special && self.add_bos && !ids.is_empty() && Some(ids[0]) == self.bos {
            remove_space = false;
            ids = &ids[1..];
        }
        if remove_special && self.add_eos && !ids.is_empty() && Some(ids[ids.len() - 1]) == self.eos
        {
            ids = &ids[..ids.len() - 1];
        }
        let mut text = Vec::new();
        for &id in ids {
            let mut p = self.token_to_piece(id, unparse_special);
            if remove_space {
                p = p.strip_leading_space();
            }
            remove_space = false;
            p.append_to(&mut text);
        }
        if self.clean_spaces {
            clean_up_spaces(&mut text);
        }
        text
    }
}

/// The words a byte-level BPE pre-tokenizer cuts `text` into before merging. `pre` is a
/// `tokenizer.ggml.pre` value (`None`: the key is absent, llama.cpp's "default"); an unknown
/// name is an error naming it. For inspecting and testing the splitting on its own.
pub fn pre_tokenize<'a>(pre: Option<&str>, text: &'a str) -> Result<Vec<&'a str>> {
    let info = PreType::from_name(pre).ok_or_else(|| {
        Error::Tokenizer(format!(
            "unknown pre-tokenizer '{}' in 'tokenizer.ggml.pre'",
            pre.unwrap_or("")
        ))
    })?;
    let mut cpts = Vec::new();
    let mut offs = Vec::new();
    for (i, c) in text.char_indices() {
        cpts.push(c as u32);
        offs.push(i);
    }
    offs.push(text.len());
    let (mut pieces, mut tmp) = (Vec::new(), Vec::new());
    pretokenize::split(info.pre, &cpts, &mut pieces, &mut tmp);
    Ok(pieces
        .iter()
        .map(|&(a, b)| &text[offs[a as usize]..offs[b as usize]])
        .collect())
}

/// llama.cpp's `llama_decode_text`: byte-level BPE text back to bytes; a codepoint outside the
/// byte mapping is written as `[UNK_BYTE_0x..]` the way llama.cpp writes it.
fn decode_byte_level(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match unicode::char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
}

/// The `clean_spaces` passes of llama.cpp's `detokenize`.
fn clean_up_spaces(text: &mut Vec<u8>) {
    // " ?", " !", " .", " ," -> drop the space
    let total1 = text.len();
    let mut total = usize::from(total1 > 0);
    for i in 1..total1 {
        let x = text[i];
        if text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        text[total] = x;
        total += 1;
    }
    // " ' " -> "'"
    let total2 = total;
    total = usize::from(total2 > 0);
    let mut i = 1;
    while i < total2 {
        let x = text[i];
        if x == b'\'' && i + 1 < total2 && text[i - 1] == b' ' && text[i + 1] == b' ' {
            total -= 1;
            i += 1;
            text[i] = 0; // llama.cpp writes a NUL over the next space (then skips it)
        }
        text[total] = x;
        total += 1;
        i += 1;
    }
    // " 's", " 'm", " 're", " 've" -> drop the space
    let total3 = total;
    total = usize::from(total3 > 0);
    for i in 1..total3 {
        let x = text[i];
        if text[i - 1] == b' ' && x == b'\'' && i + 1 < total3 {
            let x1 = text[i + 1];
            if x1 == b's' || x1 == b'm' {
                total -= 1;
            } else if i + 2 < total3 {
                let x2 = text[i + 2];
                if (x1 == b'r' || x1 == b'v') && x2 == b'e' {
                    total -= 1;
                }
            }
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_spaces_like_llama_cpp() {
        let f = |s: &str| {
            let mut v = s.as_bytes().to_vec();
            clean_up_spaces(&mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(f("Hello , world !"), "Hello, world!");
        assert_eq!(f("it 's a ' b"), "it's a'b");
        assert_eq!(f("we 're 'd"), "we're 'd");
        assert_eq!(f(""), "");
        assert_eq!(f(" "), " ");
    }

    fn tiny_spm() -> Tokenizer {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        let mut types = vec![2, 3, 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
        }
        let normal = ["▁", "a", "b", "▁a", "ab", "▁ab", "c"];
        let mut scores = vec![0.0; tokens.len()];
        for (k, t) in normal.iter().enumerate() {
            tokens.push(t.to_string());
            types.push(1);
            scores.push(-(k as f32));
        }
        Tokenizer::from_vocab(Vocab {
            model: "llama".into(),
            tokens: tokens.into(),
            scores,
            token_types: types,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn spm_merges_by_score_with_byte_fallback() {
        let t = tiny_spm();
        let id = |s: &str| t.text_to_token(s).unwrap();
        assert_eq!(t.encode("ab", false, false).unwrap(), [id("▁ab")]);
        assert_eq!(
            t.encode("ab c", true, false).unwrap(),
            [1, id("▁ab"), id("▁"), id("c")]
        );
        // 'é' is no token: its two UTF-8 bytes.
        assert_eq!(
            t.encode("é", false, false).unwrap(),
            [id("▁"), id("<0xC3>"), id("<0xA9>")]
        );
        assert_eq!(
            t.decode(&t.encode("ab é", false, false).unwrap()),
            b"ab \xc3\xa9"
        );
        // Control text is plain text unless parsed.
        assert_eq!(t.encode("</s>", false, true).unwrap(), [2]);
        assert_ne!(t.encode("</s>", false, false).unwrap(), [2]);
        assert!(t.is_eog(2));
    }
}
