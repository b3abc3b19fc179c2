//! Token texts stored in one string: a 262k-entry vocabulary as one allocation of ~3 MB plus
//! an offset table, instead of 262k small heap strings (which cost ~50 bytes each in
//! allocator overhead and stay in the process's footprint after the load).

use std::ops::Index;

/// An immutable list of strings in one arena.
#[derive(Clone, Debug, Default)]
pub struct TokenTexts {
    arena: String,
    /// `offs[i]..offs[i + 1]` is text `i`.
    offs: Vec<u32>,
}

impl TokenTexts {
    /// An empty list with room for `n` texts of `bytes` bytes in all.
    pub fn with_capacity(n: usize, bytes: usize) -> TokenTexts {
        let mut offs = Vec::with_capacity(n + 1);
        offs.push(0);
        TokenTexts {
            arena: String::with_capacity(bytes),
            offs,
        }
    }

    /// Appends a text; `false` when the arena would pass 4 GiB.
    pub fn push(&mut self, s: &str) -> bool {
        if self.offs.is_empty() {
            self.offs.push(0);
        }
        if self.arena.len() + s.len() > u32::MAX as usize {
            return false;
        }
        self.arena.push_str(s);
        self.offs.push(self.arena.len() as u32);
        true
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.offs.len().saturating_sub(1)
    }

    /// True when there are no texts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Text `i`, if it exists.
    pub fn get(&self, i: usize) -> Option<&str> {
        let (a, b) = (*self.offs.get(i)?, *self.offs.get(i + 1)?);
        self.arena.get(a as usize..b as usize)
    }

    /// The texts in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.offs
            .windows(2)
            .map(|w| &self.arena[w[0] as usize..w[1] as usize])
    }
}

impl Index<usize> for TokenTexts {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        let (a, b) = (self.offs[i] as usize, self.offs[i + 1] as usize);
        &self.arena[a..b]
    }
}

impl<S: AsRef<str>> FromIterator<S> for TokenTexts {
    fn from_iter<I: IntoIterator<Item = S>>(it: I) -> TokenTexts {
        let it = it.into_iter();
        let mut t = TokenTexts::with_capacity(it.size_hint().0, 0);
        for s in it {
            assert!(t.push(s.as_ref()), "token texts exceed 4 GiB");
        }
        t.arena.shrink_to_fit();
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
