//! A compact hash table from token text (bytes) to token id.
//!
//! The merge loops look up a candidate string for every adjacent pair of symbols, and most
//! candidates are not tokens. With a general-purpose map each lookup chases pointers (control
//! bytes, bucket, boxed key): two or three cache misses in a table of 262k entries. Here the
//! slots are 12 bytes in one array (open addressing, linear probing, at most half full) and
//! hold the key's length and 16 hash bits, so a miss usually costs one cache line and a hit
//! one more to compare the bytes in the arena.

use std::hash::Hasher;

use super::FxHasher;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Bits 48..64 of the hash; with `len` a cheap filter before comparing bytes.
    tag: u16,
    /// Key length, `u16::MAX` for longer keys (then the arena is compared regardless).
    len: u16,
    /// Token id + 1; 0 marks an empty slot.
    id1: u32,
    /// Offset of the key in the arena.
    off: u32,
}

pub(crate) struct TokenTable {
    slots: Vec<Slot>,
    shift: u32,
    used: usize,
    arena: Vec<u8>,
}

#[inline]
fn hash(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
}

impl TokenTable {
    /// A table for up to `n` keys.
    pub(crate) fn with_capacity(n: usize) -> TokenTable {
        let size = (2 * n.max(4)).next_power_of_two();
        TokenTable {
            slots: vec![Slot::default(); size],
            shift: 64 - size.trailing_zeros(),
            used: 0,
            arena: Vec::new(),
        }
    }

    /// Finds the slot of `key`: `Ok(index)` when present, `Err(index)` of the empty slot.
    #[inline]
    fn find(&self, key: &[u8], h: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let tag = (h >> 32) as u16;
        let len = key.len().min(u16::MAX as usize) as u16;
        let mut i = (h >> self.shift) as usize;
        loop {
            let s = &self.slots[i];
            if s.id1 == 0 {
                return Err(i);
            }
            if s.tag == tag && s.len == len && self.key_eq(s, key) {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn key_eq(&self, s: &Slot, key: &[u8]) -> bool {
        if s.len != u16::MAX {
            self.arena.get(s.off as usize..s.off as usize + key.len()) == Some(key)
        } else {
            // Long keys are stored with a 4-byte length prefix.
            let o = s.off as usize;
            let n = u32::from_le_bytes([
                self.arena[o],
                self.arena[o + 1],
                self.arena[o + 2],
                self.arena[o + 3],
            ]) as usize;
            n == key.len() && &self.arena[o + 4..o + 4 + n] == key
        }
    }

    /// Maps `key` to `id`, replacing an earlier id of the same key (the last one wins, as in
    /// llama.cpp's `token_to_id`). Returns false when the table is full or the arena exceeds
    /// 4 GiB (the caller sized it, so this does not happen for a vocabulary).
    pub(crate) fn insert(&mut self, key: &[u8], id: u32) -> bool {
        if (self.used + 1) * 2 > self.slots.len() {
            return false;
        }
        let h = hash(key);
        match self.find(key, h) {
            Ok(i) => self.slots[i].id1 = id + 1,
            Err(i) => {
                let off = self.arena.len();
                let long = key.len() >= u16::MAX as usize;
                if long {
                    self.arena
                        .extend_from_slice(&(key.len() as u32).to_le_bytes());
                }
                self.arena.extend_from_slice(key);
                if self.arena.len() > u32::MAX as usize {
                    return false;
                }
                self.slots[i] = Slot {
                    tag: (h >> 32) as u16,
                    len: if long { u16::MAX } else { key.len() as u16 },
                    id1: id + 1,
                    off: off as u32,
                };
                self.used += 1;
            }
        }
        true
    }

    /// The id of `key`, if present.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        self.find(key, hash(key))
            .ok()
            .map(|i| self.slots[i].id1 - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_duplicates_and_long_keys() {
        let long = vec![b'x'; 70_000];
        let mut t = TokenTable::with_capacity(5);
        assert!(t.insert(b"a", 0));
        assert!(t.insert(b"ab", 1));
        assert!(t.insert(&long, 2));
        assert!(t.insert(b"a", 3)); // the last id wins
        assert_eq!(t.get(b"a"), Some(3));
        assert_eq!(t.get(b"ab"), Some(1));
        assert_eq!(t.get(&long), Some(2));
        assert_eq!(t.get(&long[1..]), None);
        assert_eq!(t.get(b""), None);
        assert_eq!(t.get(b"b"), None);
        let mut big = TokenTable::with_capacity(10_000);
        for i in 0..10_000u32 {
            assert!(big.insert(format!("tok{i}").as_bytes(), i));
        }
        for i in 0..10_000u32 {
            assert_eq!(big.get(format!("tok{i}").as_bytes()), Some(i));
        }
        assert_eq!(big.get(b"tok10000"), None);
    }
}
