//! A compact hash table from token text (bytes) to token id.
//!
//! The merge loops look up a candidate string for every adjacent pair of symbols, and most
//! candidates are not tokens. With a general-purpose map each lookup chases pointers (control
//! bytes, bucket, boxed key): two or three cache misses in a table of 262k entries. Here the
//! slots are 4 bytes in one array (open addressing, linear probing, at most two thirds full,
//! the start slot taken from the hash's high bits by a multiply: any table size works) and
//! hold the id and, in the bits the ids leave free, hash bits (13 of them for 262k tokens),
//! so a miss usually costs one cache line and a hit one more to compare the bytes.
//!
//! The table owns its keys as a [`Keys`] store indexed by token id (the vocabulary's texts,
//! or for byte-level BPE their raw bytes) and keeps no copy of them: for Gemma's 262k tokens
//! that is 1.5 MiB of slots and nothing else, where half-full 12-byte slots with their own key
//! arena took 8.2 MiB (and 8-byte slots with 32 hash bits 3 MiB).

use std::hash::Hasher;

use super::texts::ByteStrings;
use super::FxHasher;

/// Token keys by id.
pub(crate) trait Keys {
    /// Number of ids.
    fn count(&self) -> usize;
    /// The key of `id < count()`.
    fn key(&self, id: u32) -> &[u8];
}

impl Keys for super::TokenTexts {
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn key(&self, id: u32) -> &[u8] {
        self.bytes(id as usize)
    }
}

impl Keys for ByteStrings {
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn key(&self, id: u32) -> &[u8] {
        &self[id as usize]
    }
}

pub(crate) struct TokenTable<K> {
    /// More slots than ids, so a probe always ends at an empty one. A slot holds one more
    /// than the token id in its low `id_bits` bits (0: an empty slot) and, above them, the
    /// top bits of the key's hash: a cheap filter before comparing bytes.
    slots: Vec<u32>,
    /// Bits for an id + 1 (ids below `2^id_bits - 1`).
    id_bits: u32,
    keys: K,
}

#[inline]
fn hash(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
}

impl<K: Keys> TokenTable<K> {
    /// Indexes the keys of the ids `include` accepts. Where two ids have the same key the
    /// last one wins, as in llama.cpp's `token_to_id`. Ids must fit `u32` with one to spare
    /// (the caller refuses larger vocabularies).
    pub(crate) fn build(keys: K, include: impl Fn(u32) -> bool) -> TokenTable<K> {
        let n = keys.count();
        let size = n + n / 2 + 4;
        let mut t = TokenTable {
            slots: vec![0; size],
            id_bits: u32::BITS - (n as u32).leading_zeros(),
            keys,
        };
        for id in 0..n as u32 {
            if include(id) {
                let key = t.keys.key(id);
                let h = hash(key);
                let i = match t.find(key, h) {
                    Ok(i) | Err(i) => i,
                };
                t.slots[i] = t.tag(h) | (id + 1);
            }
        }
        t
    }

    /// The key store.
    pub(crate) fn keys(&self) -> &K {
        &self.keys
    }

    /// The hash bits a slot keeps above the id: the top `32 - id_bits` bits of `h`.
    #[inline]
    fn tag(&self, h: u64) -> u32 {
        match self.id_bits {
            32 => 0,
            b => ((h >> 32) as u32) >> b << b,
        }
    }

    /// The id + 1 in slot `s` (0: empty).
    #[inline]
    fn id1(&self, s: u32) -> u32 {
        match self.id_bits {
            32 => s,
            b => s & ((1 << b) - 1),
        }
    }

    /// Finds the slot of `key`: `Ok(index)` when present, `Err(index)` of the empty slot.
    #[inline]
    fn find(&self, key: &[u8], h: u64) -> Result<usize, usize> {
        let len = self.slots.len();
        let tag = self.tag(h);
        // The high bits of h * len: uniform in 0..len (Lemire's multiply-shift range).
        let mut i = ((h as u128 * len as u128) >> 64) as usize;
        loop {
            let s = self.slots[i];
            let id1 = self.id1(s);
            if id1 == 0 {
                return Err(i);
            }
            if s ^ id1 == tag && self.keys.key(id1 - 1) == key {
                return Ok(i);
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }

    /// The id of `key`, if present.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        self.find(key, hash(key))
            .ok()
            .map(|i| self.id1(self.slots[i]) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_long_keys_and_excluded_ids() {
        let long = vec![b'x'; 70_000];
        let mut keys = ByteStrings::with_capacity(5, 0);
        for k in [&b"a"[..], b"ab", &long, b"a", b"zz"] {
            assert!(keys.push(k));
        }
        let t = TokenTable::build(keys, |id| id != 4);
        assert_eq!(t.get(b"a"), Some(3)); // the last id wins
        assert_eq!(t.get(b"ab"), Some(1));
        assert_eq!(t.get(&long), Some(2));
        assert_eq!(t.get(&long[1..]), None);
        assert_eq!(t.get(b""), None);
        assert_eq!(t.get(b"b"), None);
        assert_eq!(t.get(b"zz"), None); // excluded
        let texts: super::super::TokenTexts = (0..10_000).map(|i| format!("tok{i}")).collect();
        let big = TokenTable::build(texts, |_| true);
        for i in 0..10_000u32 {
            assert_eq!(big.get(format!("tok{i}").as_bytes()), Some(i));
        }
        assert_eq!(big.get(b"tok10000"), None);
        assert_eq!(big.keys().len(), 10_000);
    }
}
