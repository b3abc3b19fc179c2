//! Token texts stored in one string: a 262k-entry vocabulary as one allocation of ~3 MB plus
//! an offset table, instead of 262k small heap strings (which cost ~50 bytes each in
//! allocator overhead and stay in the process's footprint after the load).

use std::ops::Index;

/// Byte strings in one arena, by index: the storage of [`TokenTexts`], of the BPE model's raw
/// token bytes and of its merge symbols.
#[derive(Clone, Debug)]
pub(crate) struct ByteStrings {
    arena: Vec<u8>,
    /// `offs[i]..offs[i + 1]` is string `i`.
    offs: Vec<u32>,
}

impl Default for ByteStrings {
    fn default() -> ByteStrings {
        ByteStrings::with_capacity(0, 0)
    }
}

impl ByteStrings {
    /// An empty list with room for `n` strings of `bytes` bytes in all.
    pub(crate) fn with_capacity(n: usize, bytes: usize) -> ByteStrings {
        let mut offs = Vec::with_capacity(n + 1);
        offs.push(0);
        ByteStrings {
            arena: Vec::with_capacity(bytes),
            offs,
        }
    }

    /// Appends a string; `false` (and nothing appended) when the arena would pass 4 GiB.
    pub(crate) fn push(&mut self, b: &[u8]) -> bool {
        if self.arena.len() + b.len() > u32::MAX as usize {
            return false;
        }
        self.arena.extend_from_slice(b);
        self.offs.push(self.arena.len() as u32);
        true
    }

    /// Number of strings.
    pub(crate) fn len(&self) -> usize {
        self.offs.len() - 1
    }

    /// String `i`, if it exists.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        let (a, b) = (*self.offs.get(i)?, *self.offs.get(i + 1)?);
        self.arena.get(a as usize..b as usize)
    }

    /// Releases spare capacity (after building by pushes).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.offs.shrink_to_fit();
    }
}

impl Index<usize> for ByteStrings {
    type Output = [u8];
    #[inline]
    fn index(&self, i: usize) -> &[u8] {
        &self.arena[self.offs[i] as usize..self.offs[i + 1] as usize]
    }
}

/// An immutable list of strings in one arena.
#[derive(Clone, Debug, Default)]
pub struct TokenTexts {
    /// Invariant: every string is UTF-8 (only `&str`s are pushed).
    bytes: ByteStrings,
}

impl TokenTexts {
    /// An empty list with room for `n` texts of `bytes` bytes in all.
    pub fn with_capacity(n: usize, bytes: usize) -> TokenTexts {
        TokenTexts {
            bytes: ByteStrings::with_capacity(n, bytes),
        }
    }

    /// Appends a text; `false` when the arena would pass 4 GiB.
    pub fn push(&mut self, s: &str) -> bool {
        self.bytes.push(s.as_bytes())
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when there are no texts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Text `i`, if it exists.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.bytes.get(i).map(utf8)
    }

    /// Text `i` as bytes (no UTF-8 view: the tokenizer's index compares bytes).
    #[inline]
    pub(crate) fn bytes(&self, i: usize) -> &[u8] {
        &self.bytes[i]
    }

    /// The texts in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| utf8(&self.bytes[i]))
    }
}

/// A stored text as `str`.
#[inline]
fn utf8(b: &[u8]) -> &str {
    // SAFETY: `TokenTexts` stores only the bytes of `&str`s, each string whole, so every
    // stored string is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(b) }
}

impl Index<usize> for TokenTexts {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        utf8(&self.bytes[i])
    }
}

impl<S: AsRef<str>> FromIterator<S> for TokenTexts {
    fn from_iter<I: IntoIterator<Item = S>>(it: I) -> TokenTexts {
        let it = it.into_iter();
        let mut t = TokenTexts::with_capacity(it.size_hint().0, 0);
        for s in it {
            assert!(t.push(s.as_ref()), "token texts exceed 4 GiB");
        }
        t.bytes.shrink_to_fit();
        t
    }
}

impl From<Vec<String>> for TokenTexts {
    fn from(v: Vec<String>) -> TokenTexts {
        v.iter().collect()
    }
}

impl<'a> IntoIterator for &'a TokenTexts {
    type Item = &'a str;
    type IntoIter = Box<dyn ExactSizeIterator<Item = &'a str> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}
