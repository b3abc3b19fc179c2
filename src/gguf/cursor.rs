//! A bounded little-endian reader over the mapped bytes. Every read checks the remaining
//! length first, so a count or length read from the file can never make us read past the end
//! or allocate more than the file could hold.

/// Why a read failed: the file ended `need` bytes short at `at`.
#[derive(Debug)]
pub(crate) struct Eof {
    pub at: usize,
    pub need: usize,
}

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: u64) -> Result<&'a [u8], Eof> {
        let eof = Eof {
            at: self.pos,
            need: usize::try_from(n).unwrap_or(usize::MAX),
        };
        let n = usize::try_from(n).map_err(|_| Eof { ..eof })?;
        if n > self.remaining() {
            return Err(eof);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Eof> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u32(&mut self) -> Result<u32, Eof> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, Eof> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}
