//! SentencePiece-style BPE (`tokenizer.ggml.model = llama`), llama.cpp's
//! `llm_tokenizer_spm_session`.
//!
//! The text (spaces already escaped to `▁`) starts as one symbol per UTF-8 character. Every
//! adjacent pair whose concatenation is a token is a candidate; the candidate with the highest
//! token score merges first (the leftmost among equal scores), and the pairs around the merged
//! symbol become new candidates. A priority queue over a linked list of symbols makes this
//! O(n log n) in the text length. Symbols that end up being no token are spelled out with the
//! byte tokens `<0xNN>`.
//!
//! llama.cpp runs this over a whole text fragment at once. Here the text is first cut where no
//! token can reach across: before a `▁` whose preceding character never precedes `▁` inside a
//! token. No candidate pair ever spans such a cut, so the merges on each side happen in the
//! same order as in the single run (each side's pairs keep their relative priority), and the
//! result is identical, with small heaps instead of one as large as the text.

use std::collections::BinaryHeap;

use std::hash::Hasher;

use super::table::TokenTable;
use super::FxHasher;
use super::TokenTexts;

/// What the SPM merge needs from the vocabulary.
pub(crate) struct SpmView<'a> {
    pub(crate) text_to_id: &'a TokenTable<TokenTexts>,
    pub(crate) scores: &'a [f32],
    /// The token of each byte (`<0xNN>`, or the one-character text for ASCII), if any.
    pub(crate) byte_token: &'a [Option<u32>; 256],
    pub(crate) unk: Option<u32>,
    /// The characters that occur right before a `▁` inside some token, sorted.
    pub(crate) before_space: &'a [char],
    /// Identifies the tokenizer, so a thread's lookup cache is never used across vocabularies.
    pub(crate) uid: u64,
}

/// A small direct-mapped cache in front of the vocabulary map: the same candidate strings
/// ("▁t" + "he", ...) come up again and again, and the 262k-entry map costs a cache miss or
/// two per lookup. Entries hold the whole key, so a hit is exact.
const CACHE_BITS: u32 = 12;
const CACHE_KEY: usize = 23;

#[derive(Clone, Copy)]
struct CacheEntry {
    /// 0: empty.
    len: u8,
    key: [u8; CACHE_KEY],
    tok: u32,
    score: f32,
}

const EMPTY: CacheEntry = CacheEntry {
    len: 0,
    key: [0; CACHE_KEY],
    tok: NO_TOKEN,
    score: 0.0,
};

/// The token (and score) whose text is `s`, through the cache.
#[inline]
fn lookup(v: &SpmView<'_>, cache: &mut [CacheEntry], s: &str) -> Option<(u32, f32)> {
    let b = s.as_bytes();
    let direct = |s: &str| {
        v.text_to_id
            .get(s.as_bytes())
            .map(|t| (t, v.scores.get(t as usize).copied().unwrap_or(0.0)))
    };
    if b.len() > CACHE_KEY || cache.is_empty() {
        return direct(s);
    }
    // Zero-padded fixed-size keys compare without a memcmp call.
    let mut key = [0u8; CACHE_KEY];
    key[..b.len()].copy_from_slice(b);
    let mut h = FxHasher::default();
    h.write(b);
    let e = &mut cache[(h.finish() >> (64 - CACHE_BITS)) as usize];
    if e.len as usize == b.len() && e.key == key {
        return (e.tok != NO_TOKEN).then_some((e.tok, e.score));
    }
    let r = direct(s);
    e.len = b.len() as u8;
    e.key = key;
    (e.tok, e.score) = r.unwrap_or((NO_TOKEN, 0.0));
    r
}

#[derive(Clone, Copy)]
pub(crate) struct Sym {
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
    /// The token this symbol is, once known (merged symbols always are one).
    tok: u32,
}

const NO_TOKEN: u32 = u32::MAX;

#[derive(Clone, Copy)]
pub(crate) struct Bigram {
    score: f32,
    left: i32,
    right: i32,
    size: u32,
    tok: u32,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Bigram {}
impl Ord for Bigram {
    /// Highest score first, then the leftmost (llama.cpp's `llm_bigram_spm::comparator`).
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score.total_cmp(&o.score).then(o.left.cmp(&self.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Reusable buffers of one SPM encoding.
#[derive(Default)]
pub(crate) struct SpmScratch {
    syms: Vec<Sym>,
    heap: BinaryHeap<Bigram>,
    cache: Vec<CacheEntry>,
    cache_owner: u64,
}

impl SpmScratch {
    /// Drops buffers that grew past `keep` elements.
    pub(crate) fn trim(&mut self, keep: usize) {
        if self.syms.capacity() > keep {
            self.syms = Vec::new();
        }
        if self.heap.capacity() > keep {
            self.heap = BinaryHeap::new();
        }
    }
}

/// Tokenizes `text` (already escaped) and appends the ids to `out`.
pub(crate) fn encode(
    v: &SpmView<'_>,
    text: &str,
    s: &mut SpmScratch,
    out: &mut Vec<u32>,
) -> crate::Result<()> {
    if s.cache.is_empty() || s.cache_owner != v.uid {
        s.cache.clear();
        s.cache.resize(1 << CACHE_BITS, EMPTY);
        s.cache_owner = v.uid;
    }
    let mut start = 0;
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c == '\u{2581}' {
            if let Some(p) = prev {
                if v.before_space.binary_search(&p).is_err() {
                    encode_chunk(v, text, start, i, s, out)?;
                    start = i;
                }
            }
        }
        prev = Some(c);
    }
    encode_chunk(v, text, start, text.len(), s, out)
}

/// The SPM merge over `text[from..to]` (symbols keep offsets into `text`).
fn encode_chunk(
    v: &SpmView<'_>,
    text: &str,
    from: usize,
    to: usize,
    s: &mut SpmScratch,
    out: &mut Vec<u32>,
) -> crate::Result<()> {
    if from >= to {
        return Ok(());
    }
    let syms = &mut s.syms;
    syms.clear();
    let mut offs = from;
    for (i, c) in text[from..to].chars().enumerate() {
        let n = c.len_utf8();
        syms.push(Sym {
            start: offs as u32,
            len: n as u32,
            prev: i as i32 - 1,
            next: i as i32 + 1,
            tok: NO_TOKEN,
        });
        offs += n;
    }
    if let Some(last) = syms.last_mut() {
        last.next = -1;
    }
    let heap = &mut s.heap;
    heap.clear();
    let cache = &mut s.cache;
    for i in 1..syms.len() {
        try_add(v, text, syms, heap, cache, i as i32 - 1, i as i32);
    }
    while let Some(b) = heap.pop() {
        let (l, r) = (b.left as usize, b.right as usize);
        // One of the symbols already merged elsewhere: skip.
        if syms[l].len == 0 || syms[r].len == 0 || syms[l].len + syms[r].len != b.size {
            continue;
        }
        syms[l].len += syms[r].len;
        syms[l].tok = b.tok;
        syms[r].len = 0;
        let next = syms[r].next;
        syms[l].next = next;
        if next >= 0 {
            syms[next as usize].prev = b.left;
        }
        let prev = syms[l].prev;
        try_add(v, text, syms, heap, cache, prev, b.left);
        try_add(v, text, syms, heap, cache, b.left, next);
    }
    let bytes = text.as_bytes();
    let mut i = 0i32;
    while i >= 0 {
        let sym = syms[i as usize];
        let piece = &text[sym.start as usize..(sym.start + sym.len) as usize];
        let tok = if sym.tok != NO_TOKEN {
            Some(sym.tok)
        } else {
            lookup(v, cache, piece).map(|r| r.0)
        };
        match tok {
            Some(t) => out.push(t),
            None => {
                // Spell the symbol out in byte tokens.
                for &b in &bytes[sym.start as usize..(sym.start + sym.len) as usize] {
                    match v.byte_token[b as usize].or(v.unk) {
                        Some(t) => out.push(t),
                        None => {
                            return Err(crate::Error::Tokenizer(format!(
                                "no token for byte 0x{b:02X} (no <0x{b:02X}> token and no unknown token)"
                            )))
                        }
                    }
                }
            }
        }
        i = sym.next;
    }
    Ok(())
}

#[inline]
fn try_add(
    v: &SpmView<'_>,
    text: &str,
    syms: &[Sym],
    heap: &mut BinaryHeap<Bigram>,
    cache: &mut [CacheEntry],
    left: i32,
    right: i32,
) {
    if left < 0 || right < 0 {
        return;
    }
    let (l, r) = (syms[left as usize], syms[right as usize]);
    let size = l.len + r.len;
    let s = &text[l.start as usize..(l.start + size) as usize];
    if let Some((tok, score)) = lookup(v, cache, s) {
        heap.push(Bigram {
            score,
            left,
            right,
            size,
            tok,
        });
    }
}
