//! Byte-level BPE (`tokenizer.ggml.model = gpt2`), llama.cpp's `llm_tokenizer_bpe_session`.
//!
//! llama.cpp maps every byte of a word to a printable codepoint (GPT-2's byte-to-unicode
//! table), then merges adjacent symbols, lowest merge rank first (leftmost first among equal
//! ranks), where the merge table is keyed by the two symbols' texts. Here the vocabulary and
//! the merges are mapped back to raw bytes once at load and every distinct byte string gets an
//! integer id, so the merge loop compares and looks up integers only; the results are the same
//! because the byte mapping is a bijection.

use std::collections::{BinaryHeap, HashMap};

use super::table::TokenTable;
use super::texts::ByteStrings;
use super::unicode::{byte_to_char_table, char_to_byte};
use super::FastMap;

/// The merge data of a byte-level BPE vocabulary.
pub(crate) struct BpeModel {
    /// Raw bytes of a token's text -> the token id (the last token wins on duplicates, as in
    /// llama.cpp's `token_to_id`). Tokens whose text has codepoints outside the byte mapping
    /// (added tokens written in plain UTF-8) cannot come out of the merges and are absent.
    bytes_to_id: TokenTable<ByteStrings>,
    /// Symbol ids: `0..n_vocab` are the tokens; strings that occur in merges but are no token
    /// get ids from `n_vocab` on.
    n_vocab: u32,
    /// `(left << 32 | right)` -> (rank, merged symbol).
    merges: FastMap<u64, (u32, u32)>,
    /// The symbol of each single byte.
    byte_symbol: [u32; 256],
    /// The token of the one-byte text `b` (`b` printable ASCII), used when a merged symbol is
    /// no token (llama.cpp looks up each byte of the mapped text on its own).
    ascii_token: [Option<u32>; 128],
    /// Symbol id -> its raw bytes: `(offset, len)` into `sym_bytes`, for symbols that are not
    /// tokens only (index `id - n_vocab`).
    extra_sym: Vec<(u32, u32)>,
    sym_bytes: Vec<u8>,
}

/// Decodes a byte-level token text to raw bytes, or `None` when a codepoint is not one of the
/// 256 of the byte mapping.
fn unmap(text: &str) -> Option<Vec<u8>> {
    text.chars().map(char_to_byte).collect()
}

impl BpeModel {
    pub(crate) fn new(tokens: &super::TokenTexts, merges: &[String]) -> BpeModel {
        let n_vocab = tokens.len() as u32;
        // Each token's raw bytes (empty for a token outside the byte mapping, which is left
        // out of the index).
        let mut raw = ByteStrings::with_capacity(tokens.len(), 0);
        let mut mapped = vec![false; tokens.len()];
        for (i, t) in tokens.iter().enumerate() {
            let b = unmap(t);
            mapped[i] = b.is_some();
            // The texts passed the same 4 GiB check and unmapped bytes are no longer.
            let pushed = raw.push(b.as_deref().unwrap_or(&[]));
            assert!(pushed, "raw token bytes are no longer than the texts");
        }
        raw.shrink_to_fit();
        let bytes_to_id = TokenTable::build(raw, |id| mapped[id as usize]);
        let mut ascii_token = [None; 128];
        for (b, slot) in ascii_token.iter_mut().enumerate() {
            if (0x21..0x7F).contains(&b) {
                *slot = bytes_to_id.get(&[b as u8]);
            }
        }
        let mut model = BpeModel {
            bytes_to_id,
            n_vocab,
            merges: FastMap::default(),
            byte_symbol: [0; 256],
            ascii_token,
            extra_sym: Vec::new(),
            sym_bytes: Vec::new(),
        };
        // Strings that are not tokens: interned as extra symbols.
        let mut extra: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut intern = |m: &mut BpeModel, b: &[u8]| -> u32 {
            if let Some(id) = m.bytes_to_id.get(b) {
                return id;
            }
            if let Some(&id) = extra.get(b) {
                return id;
            }
            let id = m.n_vocab + m.extra_sym.len() as u32;
            m.extra_sym.push((m.sym_bytes.len() as u32, b.len() as u32));
            m.sym_bytes.extend_from_slice(b);
            extra.insert(b.to_vec(), id);
            id
        };
        for b in 0..=255u8 {
            model.byte_symbol[b as usize] = intern(&mut model, &[b]);
        }
        model.merges.reserve(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            // llama.cpp splits at the first space after the first byte.
            let Some(pos) = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
                continue;
            };
            let (Some(l), Some(r)) = (unmap(&m[..pos]), unmap(&m[pos + 1..])) else {
                // A side outside the byte mapping can never be a symbol.
                continue;
            };
            if l.is_empty() || r.is_empty() {
                continue;
            }
            let li = intern(&mut model, &l);
            let ri = intern(&mut model, &r);
            let mut joined = l;
            joined.extend_from_slice(&r);
            let ji = intern(&mut model, &joined);
            // The first occurrence of a pair keeps its rank (llama.cpp's `emplace`).
            model
                .merges
                .entry((li as u64) << 32 | ri as u64)
                .or_insert((rank as u32, ji));
        }
        model
    }

    /// The token whose raw bytes are `word`, if any.
    #[inline]
    pub(crate) fn token_of(&self, word: &[u8]) -> Option<u32> {
        self.bytes_to_id.get(word)
    }

    /// The raw bytes of token `id` (empty for a token outside the byte mapping or an id out
    /// of range).
    pub(crate) fn raw_bytes(&self, id: u32) -> &[u8] {
        self.bytes_to_id.keys().get(id as usize).unwrap_or(&[])
    }

    /// The raw bytes of a symbol that is no token (`id >= n_vocab`).
    fn extra_bytes(&self, id: u32) -> &[u8] {
        let (o, l) = self.extra_sym[(id - self.n_vocab) as usize];
        &self.sym_bytes[o as usize..(o + l) as usize]
    }

    /// Merges one pre-tokenized word (raw bytes) and appends its tokens to `out`.
    pub(crate) fn encode_word(
        &self,
        word: &[u8],
        ignore_merges: bool,
        s: &mut BpeScratch,
        out: &mut Vec<u32>,
    ) {
        if word.is_empty() {
            return;
        }
        if ignore_merges {
            if let Some(id) = self.token_of(word) {
                out.push(id);
                return;
            }
        }
        if word.len() == 1 {
            self.emit(self.byte_symbol[word[0] as usize], out);
            return;
        }
        let syms = &mut s.syms;
        syms.clear();
        let n = word.len();
        for (i, &b) in word.iter().enumerate() {
            syms.push(Sym {
                id: self.byte_symbol[b as usize],
                prev: i as i32 - 1,
                next: if i + 1 == n { -1 } else { i as i32 + 1 },
                alive: true,
            });
        }
        let heap = &mut s.heap;
        heap.clear();
        for i in 1..n {
            self.push_pair(syms, heap, i as i32 - 1, i as i32);
        }
        while let Some(Pair {
            left,
            right,
            l_id,
            r_id,
            merged,
            ..
        }) = heap.pop()
        {
            let (l, r) = (left as usize, right as usize);
            if !syms[l].alive || !syms[r].alive || syms[l].id != l_id || syms[r].id != r_id {
                continue; // outdated
            }
            syms[l].id = merged;
            syms[r].alive = false;
            let next = syms[r].next;
            syms[l].next = next;
            if next >= 0 {
                syms[next as usize].prev = left;
            }
            let prev = syms[l].prev;
            self.push_pair(syms, heap, prev, left);
            self.push_pair(syms, heap, left, next);
        }
        let mut i = 0i32;
        while i >= 0 {
            let sym = &syms[i as usize];
            self.emit(sym.id, out);
            i = sym.next;
        }
    }

    #[inline]
    fn push_pair(&self, syms: &[Sym], heap: &mut BinaryHeap<Pair>, left: i32, right: i32) {
        if left < 0 || right < 0 {
            return;
        }
        let (l_id, r_id) = (syms[left as usize].id, syms[right as usize].id);
        if let Some(&(rank, merged)) = self.merges.get(&((l_id as u64) << 32 | r_id as u64)) {
            heap.push(Pair {
                rank,
                left,
                right,
                l_id,
                r_id,
                merged,
            });
        }
    }

    /// Appends the token of a final symbol; a symbol that is no token falls back to the
    /// tokens of its single (printable ASCII) bytes, others are dropped, as in llama.cpp.
    #[inline]
    fn emit(&self, id: u32, out: &mut Vec<u32>) {
        if id < self.n_vocab {
            out.push(id);
            return;
        }
        for &b in self.extra_bytes(id) {
            if let Some(Some(t)) = self.ascii_token.get(b as usize) {
                out.push(*t);
            }
        }
    }
}

/// The GPT-2 byte mapping of a raw byte string (for tests and diagnostics).
#[allow(dead_code)]
pub(crate) fn map_bytes(b: &[u8]) -> String {
    let t = byte_to_char_table();
    b.iter().map(|&x| t[x as usize]).collect()
}

#[derive(Clone, Copy)]
pub(crate) struct Sym {
    id: u32,
    prev: i32,
    next: i32,
    alive: bool,
}

/// A candidate merge. The heap pops the lowest rank first, then the leftmost.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair {
    rank: u32,
    left: i32,
    right: i32,
    l_id: u32,
    r_id: u32,
    merged: u32,
}

impl Ord for Pair {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.rank.cmp(&self.rank).then(o.left.cmp(&self.left))
    }
}
impl PartialOrd for Pair {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Reusable buffers of one BPE encoding.
#[derive(Default)]
pub(crate) struct BpeScratch {
    syms: Vec<Sym>,
    heap: BinaryHeap<Pair>,
}

impl BpeScratch {
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
