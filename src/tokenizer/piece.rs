//! A token's piece: the bytes it adds to decoded text, borrowed from the tokenizer.
//!
//! Pieces are not stored a second time beside the vocabulary: a SentencePiece piece is the
//! token's text with each `▁` read as a space, rewritten as it is copied out; a byte-level BPE
//! piece is the token's raw bytes, which the BPE index already holds; a byte token's piece is
//! one byte of a static table. (Stored, Gemma 3's pieces took 1.5 MiB of the process.)

/// The bytes of `▁` (U+2581), SentencePiece's space.
const SPM_SPACE: [u8; 3] = [0xE2, 0x96, 0x81];

/// Every byte value once, so a byte token's piece can be a slice.
pub(crate) static BYTE_VALUES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// A token's piece (see [`crate::tokenizer::Tokenizer::token_to_piece`]). Cheap to copy;
/// [`append_to`](Self::append_to) and [`write_to`](Self::write_to) give its bytes without
/// allocating.
#[derive(Clone, Copy, Debug, Default)]
pub struct Piece<'a> {
    bytes: &'a [u8],
    /// Each `▁` in `bytes` stands for a space.
    spm: bool,
}

impl<'a> Piece<'a> {
    /// The piece made of exactly these bytes.
    pub(crate) fn bytes(bytes: &'a [u8]) -> Piece<'a> {
        Piece { bytes, spm: false }
    }

    /// The piece of a SentencePiece text: the text with each `▁` as a space.
    pub(crate) fn spm(text: &'a str) -> Piece<'a> {
        Piece {
            bytes: text.as_bytes(),
            spm: true,
        }
    }

    /// The `▁`s of an SPM piece, as byte offsets into its text.
    fn spaces(&self) -> impl Iterator<Item = usize> + 'a {
        let b = self.bytes;
        let n = if self.spm { b.len() } else { 0 };
        // `▁` is the only character whose UTF-8 contains E2 96 81 (the text is UTF-8, so the
        // lead byte E2 cannot be a continuation of another character).
        (0..n.saturating_sub(2)).filter(move |&i| b[i..i + 3] == SPM_SPACE)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len() - 2 * self.spaces().count()
    }

    /// True for the empty piece.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The first byte, if any.
    pub fn first(&self) -> Option<u8> {
        match self.bytes {
            [] => None,
            [0xE2, 0x96, 0x81, ..] if self.spm => Some(b' '),
            [b, ..] => Some(*b),
        }
    }

    /// The piece without its first byte when that is a space (llama.cpp's lstrip of the space
    /// an SPM prompt got in front).
    pub fn strip_leading_space(self) -> Piece<'a> {
        match self.bytes {
            [0xE2, 0x96, 0x81, rest @ ..] if self.spm => Piece {
                bytes: rest,
                ..self
            },
            [b' ', rest @ ..] => Piece {
                bytes: rest,
                ..self
            },
            _ => self,
        }
    }

    /// Appends the piece's bytes to `out` (no allocation when `out` has room).
    pub fn append_to(&self, out: &mut Vec<u8>) {
        let mut from = 0;
        for i in self.spaces() {
            out.extend_from_slice(&self.bytes[from..i]);
            out.push(b' ');
            from = i + 3;
        }
        out.extend_from_slice(&self.bytes[from..]);
    }

    /// Writes the piece's bytes to the start of `buf` and returns their count, or `None`
    /// (nothing written) when `buf` is shorter than [`len`](Self::len).
    pub fn write_to(&self, buf: &mut [u8]) -> Option<usize> {
        let n = self.len();
        let dst = buf.get_mut(..n)?;
        let (mut from, mut at) = (0, 0);
        for i in self.spaces() {
            let run = &self.bytes[from..i];
            dst[at..at + run.len()].copy_from_slice(run);
            dst[at + run.len()] = b' ';
            at += run.len() + 1;
            from = i + 3;
        }
        dst[at..].copy_from_slice(&self.bytes[from..]);
        Some(n)
    }

    /// The piece's bytes in a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.bytes.len());
        self.append_to(&mut v);
        v
    }
}

impl PartialEq<[u8]> for Piece<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        if !self.spm {
            return self.bytes == other;
        }
        let mut rest = other;
        let mut from = 0;
        for i in self.spaces() {
            let run = &self.bytes[from..i];
            match rest.strip_prefix(run).and_then(|r| r.strip_prefix(b" ")) {
                Some(r) => rest = r,
                None => return false,
            }
            from = i + 3;
        }
        rest == &self.bytes[from..]
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Piece<'_> {
    fn eq(&self, other: &[u8; N]) -> bool {
        *self == other[..]
    }
}

impl PartialEq<&[u8]> for Piece<'_> {
    fn eq(&self, other: &&[u8]) -> bool {
        *self == **other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Piece<'_> {
    fn eq(&self, other: &&[u8; N]) -> bool {
        *self == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spm_pieces_read_each_space_mark_as_a_space() {
        for (text, want) in [
            ("▁the", &b" the"[..]),
            ("▁▁", b"  "),
            ("a▁b▁", b"a b "),
            ("plain", b"plain"),
            ("", b""),
            ("é▁", "é ".as_bytes()),
        ] {
            let p = Piece::spm(text);
            assert_eq!(p.to_vec(), want, "{text}");
            assert_eq!(p.len(), want.len(), "{text}");
            assert!(p == *want, "{text}");
            assert_eq!(p.first(), want.first().copied(), "{text}");
            let mut buf = [0u8; 16];
            assert_eq!(p.write_to(&mut buf), Some(want.len()));
            assert_eq!(&buf[..want.len()], want);
            if !want.is_empty() {
                assert_eq!(p.write_to(&mut buf[..want.len() - 1]), None);
            }
            let stripped = p.strip_leading_space().to_vec();
            assert_eq!(stripped, want.strip_prefix(b" ").unwrap_or(want), "{text}");
        }
        assert!(Piece::spm("▁a") != b" b"[..]);
        assert!(Piece::spm("▁a") != b"_a"[..]);
        assert!(Piece::spm("▁a") != b" a "[..]);
    }

    #[test]
    fn byte_pieces_are_their_bytes() {
        let p = Piece::bytes("▁x".as_bytes());
        assert_eq!(p.len(), 4);
        assert_eq!(p.to_vec(), "▁x".as_bytes());
        assert_eq!(p.first(), Some(0xE2));
        assert_eq!(Piece::bytes(b" y").strip_leading_space().to_vec(), b"y");
        assert_eq!(Piece::bytes(&BYTE_VALUES[200..201]).to_vec(), [200]);
    }
}
