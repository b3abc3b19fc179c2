//! Codepoint classes and the GPT-2 byte-to-unicode mapping, as llama.cpp's `src/unicode.cpp`
//! defines them.
//!
//! The classes come from llama.cpp's own tables (see `unicode_data.rs`), not from Rust's
//! `char` methods, so a letter or a number here is exactly what it is to llama.cpp's
//! pre-tokenizers (the Unicode versions of the two differ).

use std::sync::OnceLock;

use super::unicode_data::{RANGES, WHITESPACE};

/// Flag bits, the same values as llama.cpp's `unicode_cpt_flags`.
pub(crate) const UNDEFINED: u16 = 0x0001;
pub(crate) const NUMBER: u16 = 0x0002; // \p{N}
pub(crate) const LETTER: u16 = 0x0004; // \p{L}
#[allow(dead_code)]
pub(crate) const SEPARATOR: u16 = 0x0008; // \p{Z}
pub(crate) const MARK: u16 = 0x0010; // \p{M}
pub(crate) const PUNCTUATION: u16 = 0x0020; // \p{P}
pub(crate) const SYMBOL: u16 = 0x0040; // \p{S}
#[allow(dead_code)]
pub(crate) const CONTROL: u16 = 0x0080; // \p{C}
pub(crate) const CATEGORIES: u16 = 0x00FF;
pub(crate) const WHITESPACE_FLAG: u16 = 0x0100; // \s

/// Codepoints per block of the two-level lookup table.
const BLOCK: usize = 256;
const N_CODEPOINTS: usize = 0x11_0000;

/// A two-level table: `blocks[index[cp / 256]][cp % 256]` is the codepoint's flags. The 4352
/// blocks of the Unicode range collapse to a few hundred distinct ones.
struct FlagTable {
    index: Vec<u16>,
    blocks: Vec<[u16; BLOCK]>,
}

fn table() -> &'static FlagTable {
    static TABLE: OnceLock<FlagTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut index = Vec::with_capacity(N_CODEPOINTS / BLOCK);
        let mut blocks: Vec<[u16; BLOCK]> = Vec::new();
        let mut seen: std::collections::HashMap<[u16; BLOCK], u16> = Default::default();
        let mut r = 0usize; // current range
        for b in 0..N_CODEPOINTS / BLOCK {
            let mut block = [0u16; BLOCK];
            for (i, slot) in block.iter_mut().enumerate() {
                let cp = (b * BLOCK + i) as u32;
                while r + 1 < RANGES.len() && RANGES[r + 1].0 <= cp {
                    r += 1;
                }
                *slot = RANGES[r].1;
            }
            for &w in WHITESPACE.iter() {
                if w as usize / BLOCK == b {
                    block[w as usize % BLOCK] |= WHITESPACE_FLAG;
                }
            }
            let id = *seen.entry(block).or_insert_with(|| {
                blocks.push(block);
                (blocks.len() - 1) as u16
            });
            index.push(id);
        }
        FlagTable { index, blocks }
    })
}

/// The flags of a codepoint (llama.cpp's `unicode_cpt_flags_from_cpt`).
#[inline]
pub(crate) fn flags(cp: u32) -> u16 {
    let cp = cp as usize;
    if cp >= N_CODEPOINTS {
        return UNDEFINED;
    }
    let t = table();
    t.blocks[t.index[cp / BLOCK] as usize][cp % BLOCK]
}

/// `\s` as the regex engines llama.cpp falls back to (std::regex in the C locale) see it after
/// llama.cpp has replaced every non-ASCII whitespace codepoint by `\x0B`: the six ASCII
/// whitespace characters and every non-ASCII White_Space codepoint.
#[inline]
pub(crate) fn is_regex_space(cp: u32) -> bool {
    if cp < 0x80 {
        matches!(cp, 0x20 | 0x09..=0x0D)
    } else {
        flags(cp) & WHITESPACE_FLAG != 0
    }
}

/// The category a codepoint stands for in llama.cpp's "collapsed" text, on which regexes
/// that use `\p{..}` run through std::regex: ASCII stays itself (so `\p{L}` is `[A-Za-z]`,
/// `\p{N}` is `[0-9]`, and `\p{P}`/`\p{S}` are fixed ASCII lists), non-ASCII whitespace
/// becomes `\s`, and every other non-ASCII codepoint becomes one byte per category.
#[inline]
pub(crate) fn collapsed_category(cp: u32) -> u16 {
    if cp < 0x80 {
        let c = cp as u8;
        return match c {
            b'0'..=b'9' => NUMBER,
            b'A'..=b'Z' | b'a'..=b'z' => LETTER,
            // !-#  %-*  ,-/  :-;  ?-@  [-]  _  {  }
            b'!'..=b'#'
            | b'%'..=b'*'
            | b','..=b'/'
            | b':'..=b';'
            | b'?'..=b'@'
            | b'['..=b']'
            | b'_'
            | b'{'
            | b'}' => PUNCTUATION,
            // $ + <-> ^ ` | ~
            b'$' | b'+' | b'<'..=b'>' | b'^' | b'`' | b'|' | b'~' => SYMBOL,
            _ => 0,
        };
    }
    let f = flags(cp);
    if f & WHITESPACE_FLAG != 0 {
        return 0;
    }
    match f & CATEGORIES {
        NUMBER | LETTER | PUNCTUATION | MARK | SYMBOL => f & CATEGORIES,
        _ => 0,
    }
}

/// The GPT-2 byte-to-unicode table: printable Latin-1 bytes map to themselves, the other 68
/// bytes to U+0100.. in byte order.
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut assigned = [false; 256];
    for b in (0x21..=0x7E).chain(0xA1..=0xAC).chain(0xAE..=0xFF) {
        map[b] = char::from_u32(b as u32).unwrap_or('\0');
        assigned[b] = true;
    }
    let mut n = 0u32;
    for b in 0..256 {
        if !assigned[b] {
            map[b] = char::from_u32(256 + n).unwrap_or('\0');
            n += 1;
        }
    }
    map
}

/// The inverse of [`byte_to_char_table`]: the byte a codepoint stands for, if any.
#[inline]
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(cp as u8),
        0x100..=0x143 => {
            // The 68 unmapped bytes in order: 0x00-0x20, 0x7F-0xA0, 0xAD.
            let k = cp - 0x100;
            Some(match k {
                0..=0x20 => k as u8,
                0x21..=0x42 => (0x7F + (k - 0x21)) as u8,
                _ => 0xAD,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_round_trips() {
        let t = byte_to_char_table();
        let mut seen = std::collections::HashSet::new();
        for (b, &c) in t.iter().enumerate() {
            assert_eq!(char_to_byte(c), Some(b as u8), "byte {b:#x}");
            assert!(seen.insert(c));
        }
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(char_to_byte('a'), Some(b'a'));
        assert_eq!(char_to_byte('€'), None);
    }

    #[test]
    fn flags_match_llama_cpp_tables() {
        assert_eq!(flags('a' as u32), LETTER);
        assert_eq!(flags('7' as u32), NUMBER);
        assert_eq!(flags(' ' as u32), SEPARATOR | WHITESPACE_FLAG);
        assert_eq!(flags('\n' as u32), CONTROL | WHITESPACE_FLAG);
        assert_eq!(flags('!' as u32), PUNCTUATION);
        assert_eq!(flags('$' as u32), SYMBOL);
        assert_eq!(flags(0x301), MARK);
        assert_eq!(flags(0x4E2D), LETTER); // 中
        assert_eq!(flags(0x3000), SEPARATOR | WHITESPACE_FLAG);
        // Every codepoint has some category (zero flags mean "outside the text" to the
        // splitters).
        for (i, r) in RANGES.iter().enumerate() {
            if (r.0 as usize) < N_CODEPOINTS {
                assert_ne!(r.1, 0, "range {i}");
            }
        }
    }

    #[test]
    fn collapsed_categories() {
        assert_eq!(collapsed_category('`' as u32), SYMBOL);
        assert_eq!(collapsed_category('_' as u32), PUNCTUATION);
        assert_eq!(collapsed_category(' ' as u32), 0);
        assert_eq!(collapsed_category(0xA0), 0);
        assert_eq!(collapsed_category('é' as u32), LETTER);
        assert_eq!(collapsed_category('¼' as u32), NUMBER);
        assert!(is_regex_space(0x0B));
        assert!(is_regex_space(0x2003));
        assert!(!is_regex_space(0x1C));
    }
}
