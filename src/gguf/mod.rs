//! GGUF files: memory-mapped read-only, parsed with a bounded cursor, validated before use.
//!
//! Why not `gguf-rs` (the crate first chosen for this): it reads through `std::io::Read` into
//! owned `String`s and a `BTreeMap` of JSON-like values (so a 262k-entry vocabulary is copied at
//! every load), it allocates buffers sized by lengths read from the file, and it pulls clap,
//! serde_json and a logger into the library. Parsing the mapped bytes directly costs ~400 lines
//! and gives: no copy of arrays (they are read lazily through [`ArrayView`]), every length
//! checked against the bytes that remain before it is used, and allocations bounded by the file
//! size. `gguf-rs` stays as a dev-dependency: a test cross-checks our tensor table against it.
//!
//! Layout of a GGUF file (v2/v3, little-endian):
//! ```text
//! magic "GGUF" | version u32 | n_tensors u64 | n_kv u64
//! n_kv x      { key: string, type: u32, value }
//! n_tensors x { name: string, n_dims: u32, dims: u64 x n_dims, type: u32, offset: u64 }
//! padding to general.alignment (default 32)
//! tensor data: each tensor at data_start + offset (offset a multiple of the alignment)
//! string = u64 length + UTF-8 bytes; array = elem type u32 + u64 count + elements
//! ```

mod cursor;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use cursor::{Cursor, Eof};

use crate::quant::GgmlType;
use crate::{Error, Result};

/// The default data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// ggml's limit on tensor dimensions.
pub const MAX_DIMS: usize = 4;
const MAGIC: &[u8; 4] = b"GGUF";

/// One tensor of the index: name, type, shape and where its bytes lie in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub ty: GgmlType,
    /// ggml order: `dims[0]` is the number of values in a row (the contiguous dimension).
    pub dims: Vec<usize>,
    /// Absolute byte offset of the tensor's data in the file.
    pub offset: usize,
    /// Byte size of the data (`ty.row_bytes(dims[0]) * rows`).
    pub n_bytes: usize,
}

impl TensorInfo {
    /// Number of values.
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product()
    }
    /// Values per row (`dims[0]`).
    pub fn row_len(&self) -> usize {
        self.dims.first().copied().unwrap_or(1)
    }
    /// Number of rows (product of `dims[1..]`).
    pub fn n_rows(&self) -> usize {
        self.dims.iter().skip(1).product()
    }
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.n_bytes / self.n_rows().max(1)
    }
}

/// The type of a metadata value, numbered as in the GGUF spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    Str = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl MetaType {
    fn from_u32(v: u32) -> Option<MetaType> {
        use MetaType::*;
        Some(match v {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => Str,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Encoded size of one value, for the fixed-size types.
    fn fixed_size(self) -> Option<usize> {
        use MetaType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            Str | Array => None,
        }
    }

    /// The name used in error messages and `inspect`.
    pub fn name(self) -> &'static str {
        use MetaType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            Str => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }
}

/// A metadata value borrowed from the mapping.
#[derive(Clone, Copy, Debug)]
pub enum MetaValue<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(&'a str),
    Array(ArrayView<'a>),
}

impl MetaValue<'_> {
    /// The value's type.
    pub fn meta_type(&self) -> MetaType {
        match self {
            MetaValue::U8(_) => MetaType::U8,
            MetaValue::I8(_) => MetaType::I8,
            MetaValue::U16(_) => MetaType::U16,
            MetaValue::I16(_) => MetaType::I16,
            MetaValue::U32(_) => MetaType::U32,
            MetaValue::I32(_) => MetaType::I32,
            MetaValue::U64(_) => MetaType::U64,
            MetaValue::I64(_) => MetaType::I64,
            MetaValue::F32(_) => MetaType::F32,
            MetaValue::F64(_) => MetaType::F64,
            MetaValue::Bool(_) => MetaType::Bool,
            MetaValue::Str(_) => MetaType::Str,
            MetaValue::Array(_) => MetaType::Array,
        }
    }

    /// The value as an integer, for any integer type.
    pub fn as_int(&self) -> Option<i128> {
        Some(match *self {
            MetaValue::U8(v) => v as i128,
            MetaValue::I8(v) => v as i128,
            MetaValue::U16(v) => v as i128,
            MetaValue::I16(v) => v as i128,
            MetaValue::U32(v) => v as i128,
            MetaValue::I32(v) => v as i128,
            MetaValue::U64(v) => v as i128,
            MetaValue::I64(v) => v as i128,
            _ => return None,
        })
    }

    /// A description for error messages: the type, and for arrays the element type.
    fn describe(&self) -> String {
        match self {
            MetaValue::Array(a) => format!("array of {}", a.elem.name()),
            v => v.meta_type().name().to_string(),
        }
    }
}

/// A metadata array, read lazily from the mapping (a 262k-entry vocabulary is not copied at
/// load). Its bounds and, for strings, UTF-8 validity were checked when the file was opened.
#[derive(Clone, Copy, Debug)]
pub struct ArrayView<'a> {
    elem: MetaType,
    len: usize,
    /// The encoded elements (for strings: u64 length + bytes, repeated).
    bytes: &'a [u8],
}

impl<'a> ArrayView<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Element type.
    pub fn elem_type(&self) -> MetaType {
        self.elem
    }
    /// For an array of strings, the bytes of all the strings together (the encoded size
    /// less each string's 8-byte length), known from the index without reading any; `None`
    /// for other element types.
    pub fn text_bytes(&self) -> Option<usize> {
        (self.elem == MetaType::Str).then(|| self.bytes.len().saturating_sub(8 * self.len))
    }

    fn wrong(&self, key: &str, expected: &'static str) -> Error {
        Error::WrongType {
            key: key.to_string(),
            expected,
            found: format!("array of {}", self.elem.name()),
        }
    }

    /// The elements as strings; an error naming `key` unless the elements are strings.
    pub fn strings(&self, key: &str) -> Result<StrIter<'a>> {
        if self.elem != MetaType::Str {
            return Err(self.wrong(key, "array of string"));
        }
        Ok(StrIter {
            cur: Cursor::new(self.bytes),
            left: self.len,
        })
    }

    /// The elements as f32 (f32 or f64 elements); an error naming `key` otherwise.
    pub fn f32s(&self, key: &str) -> Result<impl ExactSizeIterator<Item = f32> + 'a> {
        let size = match self.elem {
            MetaType::F32 => 4,
            MetaType::F64 => 8,
            _ => return Err(self.wrong(key, "array of f32")),
        };
        Ok(self.bytes.chunks_exact(size).map(move |c| {
            if size == 4 {
                f32::from_le_bytes([c[0], c[1], c[2], c[3]])
            } else {
                f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            }
        }))
    }

    /// The elements as i64 (any integer element type; u64 values above i64::MAX saturate);
    /// an error naming `key` otherwise.
    pub fn ints(&self, key: &str) -> Result<impl ExactSizeIterator<Item = i64> + 'a> {
        let elem = self.elem;
        let size = match elem {
            MetaType::U8 | MetaType::I8 => 1,
            MetaType::U16 | MetaType::I16 => 2,
            MetaType::U32 | MetaType::I32 => 4,
            MetaType::U64 | MetaType::I64 => 8,
            _ => return Err(self.wrong(key, "array of integers")),
        };
        Ok(self.bytes.chunks_exact(size).map(move |c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            let u = u64::from_le_bytes(b);
            match elem {
                MetaType::I8 => u as u8 as i8 as i64,
                MetaType::I16 => u as u16 as i16 as i64,
                MetaType::I32 => u as u32 as i32 as i64,
                MetaType::I64 => u as i64,
                _ => i64::try_from(u).unwrap_or(i64::MAX),
            }
        }))
    }
}

/// Iterator over a string array (validated at open, so it yields `&str` without errors).
pub struct StrIter<'a> {
    cur: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for StrIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated when the file was opened; on the impossible failure, end the iteration.
        let n = self.cur.u64().ok()?;
        std::str::from_utf8(self.cur.take(n).ok()?).ok()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for StrIter<'_> {}

/// A metadata value as stored after parsing: scalars and strings by value, arrays as ranges
/// of the mapping (so `GgufFile` owns no borrowed data).
#[derive(Clone, Debug)]
enum RawValue {
    Scalar(MetaType, u64),
    /// A string value, copied out at open (they are short: names, a chat template) so that
    /// reading one later does not fault the header's pages back in.
    Str(Box<str>),
    Array {
        elem: MetaType,
        len: usize,
        start: usize,
        end: usize,
    },
}

/// The backing bytes: a read-only map of the file, or of an anonymous copy of an in-memory
/// image ([`GgufFile::from_bytes`]). (A zero-length file cannot be mapped; it is refused before
/// mapping.)
struct Mapping {
    map: memmap2::Mmap,
    /// For a file: a second map of the tensor data section alone, `(file offset of its first
    /// byte, map)`, from which tensors are read. The header then lives only in `map`, and
    /// giving its pages back ([`GgufFile::release_header_pages`]) cannot be undone by the
    /// tensor reads: with the file cached in 2 MB folios, a tensor read through the one
    /// whole-file map mapped the folio it shares with the header's end again, header bytes
    /// and all (up to 2 MB of RSS).
    data: Option<(usize, memmap2::Mmap)>,
    /// True for a map of a file (whose pages can be dropped and read again), false for the
    /// anonymous copy (whose dropped pages would read back as zeros).
    file_backed: bool,
}

/// Refuses, before anything is mapped, an image too short for the fixed header (magic,
/// version, tensor and metadata counts: 24 bytes; an empty file cannot even be mapped).
fn check_header_room(path: &Path, len: u64) -> Result<()> {
    if len < 24 {
        return Err(Error::format(
            path,
            format!("file is {len} bytes, too short for a GGUF header (24 bytes)"),
        ));
    }
    Ok(())
}

/// A parsed GGUF file backed by a read-only memory map.
pub struct GgufFile {
    path: PathBuf,
    map: Mapping,
    idx: Index,
}

/// Everything parsed out of the header: owned data and ranges into the mapping.
struct Index {
    version: u32,
    alignment: usize,
    data_start: usize,
    kv: Vec<(String, RawValue)>,
    kv_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.idx.version)
            .field("n_kv", &self.idx.kv.len())
            .field("n_tensors", &self.idx.tensors.len())
            .finish()
    }
}

/// Parse state: the file's bytes and path for error messages.
struct Parser<'a> {
    cur: Cursor<'a>,
    path: &'a Path,
}

impl<'a> Parser<'a> {
    fn err(&self, what: impl Into<String>) -> Error {
        Error::format(self.path, what)
    }

    fn eof(&self, e: Eof, reading: &str) -> Error {
        self.err(format!(
            "file ends while reading {reading} (at byte {}, {} more bytes needed, file is {} bytes)",
            e.at,
            e.need,
            e.at + self.cur.remaining()
        ))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.cur.u32().map_err(|e| self.eof(e, what))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.cur.u64().map_err(|e| self.eof(e, what))
    }

    /// A string: u64 length (checked against the bytes that remain), then UTF-8 bytes.
    fn string(&mut self, what: &str) -> Result<(usize, &'a str)> {
        let len = self.u64(what)?;
        if len > self.cur.remaining() as u64 {
            return Err(self.err(format!(
                "{what}: string length {len} exceeds the {} bytes left in the file",
                self.cur.remaining()
            )));
        }
        let start = self.cur.pos();
        let bytes = self.cur.take(len).map_err(|e| self.eof(e, what))?;
        let s = std::str::from_utf8(bytes)
            .map_err(|e| self.err(format!("{what}: invalid UTF-8 at byte {start}: {e}")))?;
        Ok((start, s))
    }

    /// Skips one value of type `ty`, checking it lies inside the file. `key` names it.
    fn value(&mut self, ty: MetaType, key: &str) -> Result<RawValue> {
        if let Some(size) = ty.fixed_size() {
            let b = self
                .cur
                .take(size as u64)
                .map_err(|e| self.eof(e, &format!("the value of '{key}'")))?;
            let mut v = [0u8; 8];
            v[..size].copy_from_slice(b);
            let raw = u64::from_le_bytes(v);
            if ty == MetaType::Bool && raw > 1 {
                return Err(self.err(format!("'{key}': bool value {raw} is neither 0 nor 1")));
            }
            return Ok(RawValue::Scalar(ty, raw));
        }
        match ty {
            MetaType::Str => {
                let (_, s) = self.string(&format!("the value of '{key}'"))?;
                Ok(RawValue::Str(s.into()))
            }
            MetaType::Array => {
                let et = self.u32(&format!("the element type of '{key}'"))?;
                let elem = MetaType::from_u32(et)
                    .ok_or_else(|| self.err(format!("'{key}': unknown array element type {et}")))?;
                if elem == MetaType::Array {
                    return Err(self.err(format!("'{key}': nested arrays are not supported")));
                }
                let n = self.u64(&format!("the length of '{key}'"))?;
                // Every element takes at least one byte (strings at least eight), so a count
                // larger than the bytes left is a lie: refuse it before looking further.
                let min = elem.fixed_size().unwrap_or(8) as u64;
                if n.saturating_mul(min) > self.cur.remaining() as u64 {
                    return Err(self.err(format!(
                        "'{key}': array length {n} does not fit in the {} bytes left in the file",
                        self.cur.remaining()
                    )));
                }
                let start = self.cur.pos();
                if let Some(size) = elem.fixed_size() {
                    self.cur
                        .take(n * size as u64)
                        .map_err(|e| self.eof(e, &format!("the array '{key}'")))?;
                } else {
                    for i in 0..n {
                        self.string(&format!("element {i} of '{key}'"))?;
                    }
                }
                Ok(RawValue::Array {
                    elem,
                    len: n as usize,
                    start,
                    end: self.cur.pos(),
                })
            }
            _ => unreachable!("fixed-size types handled above"),
        }
    }
}

impl GgufFile {
    /// Maps and parses `path`, validating every tensor's range, alignment, size and type.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(Error::format(path, "is a directory, not a GGUF file"));
        }
        check_header_room(path, meta.len())?;
        // SAFETY: the map is read-only and private to this process. If another process
        // truncates the file while it is mapped, reads past the new end raise SIGBUS; this is
        // the documented limit of mmap-based loading (README, "Robustness"). We never write
        // through the map.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let mut f = Self::index(path, map, true)?;
        let start = f.idx.data_start;
        let len = f.map.map.len().saturating_sub(start);
        if len > 0 {
            // SAFETY: as for the whole-file map above (read-only, never written through);
            // `start + len` is the file's length, checked by the parse.
            let data = unsafe {
                memmap2::MmapOptions::new()
                    .offset(start as u64)
                    .len(len)
                    .map(&file)
            }
            .map_err(io)?;
            // Ask for transparent huge pages: a file read in through this map then lands in
            // 2 MB page-cache folios mapped by single page-table entries, which the decode's
            // streaming of every weight per token reads markedly faster than 4 KB pages
            // (fewer TLB misses, prefetchers not stopped every 4 KB). Only a hint: a kernel
            // without THP, or a file already cached in small pages, keeps 4 KB pages.
            #[cfg(target_os = "linux")]
            let _ = data.advise(memmap2::Advice::HugePage);
            f.map.data = Some((start, data));
            // The header map, on the contrary, is read a little at a time after its pages are
            // given back (metadata looked up late): 4 KB pages there, not a 2 MB folio each.
            #[cfg(target_os = "linux")]
            let _ = f.map.map.advise(memmap2::Advice::NoHugePage);
        }
        Ok(f)
    }

    /// Parses an in-memory GGUF image, as [`open`](Self::open) parses a file: the same checks,
    /// the same errors (naming `name` where `open` names the path). The bytes are copied once
    /// into an anonymous read-only mapping, so tensor data is page-aligned exactly as in a
    /// mapped file. For fuzzing and for callers that already hold the file in memory.
    pub fn from_bytes(name: impl AsRef<Path>, bytes: &[u8]) -> Result<GgufFile> {
        let path = name.as_ref();
        check_header_room(path, bytes.len() as u64)?;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut anon = memmap2::MmapMut::map_anon(bytes.len()).map_err(io)?;
        anon.copy_from_slice(bytes);
        let map = anon.make_read_only().map_err(io)?;
        Self::index(path, map, false)
    }

    /// Parses the header of a mapped image and keeps the map.
    fn index(path: &Path, map: memmap2::Mmap, file_backed: bool) -> Result<GgufFile> {
        let idx = Self::parse(path, &map)?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            map: Mapping {
                map,
                data: None,
                file_backed,
            },
            idx,
        })
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Index> {
        let mut p = Parser {
            cur: Cursor::new(bytes),
            path,
        };
        let magic = p.cur.take(4).map_err(|e| p.eof(e, "the magic"))?;
        if magic != MAGIC {
            return Err(p.err(format!(
                "bad magic {:02x?} (expected \"GGUF\"): not a GGUF file",
                magic
            )));
        }
        let version = p.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(p.err(format!(
                "unsupported GGUF version {version} (supported: 2 and 3)"
            )));
        }
        let n_tensors = p.u64("the tensor count")?;
        let n_kv = p.u64("the metadata count")?;
        // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor
        // entry at least 8 + 4 + 8 + 4 + 8: counts beyond what the file could hold are refused
        // here, so nothing below is sized by an unchecked value.
        let left = p.cur.remaining() as u64;
        if n_kv.saturating_mul(13) > left {
            return Err(p.err(format!(
                "metadata count {n_kv} cannot fit in a {} byte file",
                bytes.len()
            )));
        }
        if n_tensors.saturating_mul(32) > left {
            return Err(p.err(format!(
                "tensor count {n_tensors} cannot fit in a {} byte file",
                bytes.len()
            )));
        }

        let mut kv = Vec::with_capacity(n_kv as usize);
        let mut kv_index = HashMap::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let (_, key) = p.string(&format!("metadata key #{i}"))?;
            let t = p.u32(&format!("the type of '{key}'"))?;
            let ty = MetaType::from_u32(t)
                .ok_or_else(|| p.err(format!("'{key}': unknown metadata type {t}")))?;
            let v = p.value(ty, key)?;
            if kv_index.insert(key.to_string(), kv.len()).is_some() {
                return Err(p.err(format!("duplicate metadata key '{key}'")));
            }
            kv.push((key.to_string(), v));
        }

        let mut f = Index {
            version,
            alignment: DEFAULT_ALIGNMENT,
            data_start: 0,
            kv,
            kv_index,
            tensors: Vec::new(),
            tensor_index: HashMap::new(),
        };
        // The alignment must be known before tensor offsets are checked.
        if let Some(idx) = f.kv_index.get("general.alignment") {
            let (_, v) = &f.kv[*idx];
            let a = match *v {
                RawValue::Scalar(MetaType::U32, a) => a,
                _ => {
                    return Err(p.err("metadata key 'general.alignment': expected u32".to_string()))
                }
            };
            if a == 0 || !a.is_power_of_two() || a > 1 << 20 {
                return Err(p.err(format!(
                    "general.alignment = {a}: must be a power of two between 1 and 2^20"
                )));
            }
            f.alignment = a as usize;
        }

        struct Raw<'s> {
            name: &'s str,
            ty: GgmlType,
            dims: Vec<usize>,
            rel: u64,
        }
        let mut raw = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let (_, name) = p.string(&format!("the name of tensor #{i}"))?;
            let n_dims = p.u32(&format!("the dimension count of tensor '{name}'"))? as usize;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(p.err(format!(
                    "tensor '{name}': {n_dims} dimensions (must be 1 to {MAX_DIMS})"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims);
            let mut n_el: u64 = 1;
            for d in 0..n_dims {
                let v = p.u64(&format!("dimension {d} of tensor '{name}'"))?;
                if v == 0 || v > i64::MAX as u64 {
                    return Err(p.err(format!("tensor '{name}': dimension {d} is {v}")));
                }
                n_el = n_el
                    .checked_mul(v)
                    .filter(|n| *n <= i64::MAX as u64)
                    .ok_or_else(|| {
                        p.err(format!(
                            "tensor '{name}': the shape's element count overflows"
                        ))
                    })?;
                dims.push(v as usize);
            }
            let t = p.u32(&format!("the type of tensor '{name}'"))?;
            let ty = GgmlType::from_u32(t)
                .ok_or_else(|| p.err(format!("tensor '{name}': unknown type id {t}")))?;
            let rel = p.u64(&format!("the offset of tensor '{name}'"))?;
            if tensor_index.insert(name.to_string(), i as usize).is_some() {
                return Err(p.err(format!("duplicate tensor name '{name}'")));
            }
            raw.push(Raw {
                name,
                ty,
                dims,
                rel,
            });
        }

        let data_start = p.cur.pos().div_ceil(f.alignment) * f.alignment;
        let file_len = bytes.len();
        let mut tensors = Vec::with_capacity(raw.len());
        for r in raw {
            let name = r.name;
            if !r.ty.is_supported() {
                return Err(Error::UnsupportedType {
                    tensor: name.to_string(),
                    ty: r.ty.name().to_string(),
                });
            }
            let row = r.dims[0];
            if row % r.ty.block_size() != 0 {
                return Err(p.err(format!(
                    "tensor '{name}': row length {row} is not a multiple of the {} block size {}",
                    r.ty,
                    r.ty.block_size()
                )));
            }
            let rows: usize = r.dims[1..].iter().product();
            let n_bytes =
                r.ty.row_bytes(row)
                    .and_then(|b| b.checked_mul(rows))
                    .ok_or_else(|| p.err(format!("tensor '{name}': byte size overflows")))?;
            if r.rel % f.alignment as u64 != 0 {
                return Err(p.err(format!(
                    "tensor '{name}': data offset {} is not a multiple of the alignment {}",
                    r.rel, f.alignment
                )));
            }
            let start = (data_start as u64).checked_add(r.rel);
            let end = start.and_then(|s| s.checked_add(n_bytes as u64));
            match (start, end) {
                (Some(s), Some(e)) if e <= file_len as u64 => tensors.push(TensorInfo {
                    name: name.to_string(),
                    ty: r.ty,
                    dims: r.dims,
                    offset: s as usize,
                    n_bytes,
                }),
                _ => {
                    return Err(p.err(format!(
                        "tensor '{name}': data [{} + {}, {} bytes) lies outside the {file_len} byte file",
                        data_start, r.rel, n_bytes
                    )))
                }
            }
        }

        f.data_start = data_start;
        f.tensors = tensors;
        f.tensor_index = tensor_index;
        Ok(f)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.idx.version
    }
    /// The data alignment in bytes.
    pub fn alignment(&self) -> usize {
        self.idx.alignment
    }
    /// Where the tensor data section starts.
    pub fn data_start(&self) -> usize {
        self.idx.data_start
    }
    /// The whole mapped file. Tensor data is better read with [`Self::range`].
    pub fn bytes(&self) -> &[u8] {
        &self.map.map
    }

    /// The `len` bytes at file offset `offset`, read through the tensor data map when they lie
    /// in the data section (see [`Self::release_header_pages`]); `None` past the file's end.
    #[inline]
    pub fn range(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        match &self.map.data {
            Some((start, data)) if offset >= *start => data.get(offset - start..end - start),
            _ => self.map.map.get(offset..end),
        }
    }

    /// Gives back this process's resident pages of the header (metadata and tensor index,
    /// everything before the first whole page of tensor data), once what is needed from it
    /// has been copied out: for Gemma 3's 262k-token vocabulary that is 6 MiB of the process's
    /// RSS. The mapping stays valid: a later read of metadata (the chat template, `inspect`)
    /// faults the pages in again from the page cache. Does nothing for an in-memory image
    /// ([`Self::from_bytes`]) or off Unix.
    pub fn release_header_pages(&self) {
        #[cfg(unix)]
        if self.map.file_backed {
            // With the tensor data in its own map, nothing reads tensors through the
            // whole-file map: all of it goes. (Without, only whole pages before the data; the
            // kernel rounds the length up to its page size: with larger pages a little tensor
            // data is dropped too and simply read again.)
            const PAGE: usize = 4096;
            let len = match self.map.data {
                Some(_) => self.map.map.len(),
                None => self.idx.data_start.min(self.map.map.len()) / PAGE * PAGE,
            };
            if len > 0 {
                // SAFETY: MADV_DONTNEED on a read-only map of a file only drops our page-table
                // entries; nothing was written through this map (it is never writable), so
                // the next read sees the file's bytes again, as any first read of a mapped
                // file does. The range lies inside the map and starts at its (page-aligned)
                // start. A failure leaves the pages resident, which is harmless.
                let _ = unsafe {
                    self.map
                        .map
                        .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, len)
                };
            }
        }
    }

    fn value<'a>(&'a self, raw: &'a RawValue) -> MetaValue<'a> {
        let b = self.bytes();
        match *raw {
            RawValue::Scalar(t, v) => match t {
                MetaType::U8 => MetaValue::U8(v as u8),
                MetaType::I8 => MetaValue::I8(v as u8 as i8),
                MetaType::U16 => MetaValue::U16(v as u16),
                MetaType::I16 => MetaValue::I16(v as u16 as i16),
                MetaType::U32 => MetaValue::U32(v as u32),
                MetaType::I32 => MetaValue::I32(v as u32 as i32),
                MetaType::U64 => MetaValue::U64(v),
                MetaType::I64 => MetaValue::I64(v as i64),
                MetaType::F32 => MetaValue::F32(f32::from_bits(v as u32)),
                MetaType::F64 => MetaValue::F64(f64::from_bits(v)),
                MetaType::Bool => MetaValue::Bool(v != 0),
                MetaType::Str | MetaType::Array => unreachable!("not scalars"),
            },
            RawValue::Str(ref s) => MetaValue::Str(s),
            RawValue::Array {
                elem,
                len,
                start,
                end,
            } => MetaValue::Array(ArrayView {
                elem,
                len,
                bytes: &b[start..end],
            }),
        }
    }

    /// The metadata value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<MetaValue<'_>> {
        self.idx
            .kv_index
            .get(key)
            .map(|&i| self.value(&self.idx.kv[i].1))
    }

    /// All metadata in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, MetaValue<'_>)> {
        self.idx.kv.iter().map(|(k, v)| (k.as_str(), self.value(v)))
    }

    fn need(&self, key: &str) -> Result<MetaValue<'_>> {
        self.get(key).ok_or_else(|| Error::MissingKey {
            key: key.to_string(),
        })
    }

    fn wrong(key: &str, expected: &'static str, v: &MetaValue<'_>) -> Error {
        Error::WrongType {
            key: key.to_string(),
            expected,
            found: v.describe(),
        }
    }

    /// An unsigned integer (any integer type whose value fits a u32).
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        let v = self.need(key)?;
        v.as_int()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| Self::wrong(key, "an integer in 0..2^32", &v))
    }
    /// Like [`get_u32`](Self::get_u32), but `Ok(None)` when the key is absent.
    pub fn get_opt_u32(&self, key: &str) -> Result<Option<u32>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.get_u32(key).map(Some),
        }
    }
    /// A float (f32, or f64 narrowed).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        match self.need(key)? {
            MetaValue::F32(x) => Ok(x),
            MetaValue::F64(x) => Ok(x as f32),
            v => Err(Self::wrong(key, "f32", &v)),
        }
    }
    /// Like [`get_f32`](Self::get_f32), but `Ok(None)` when the key is absent.
    pub fn get_opt_f32(&self, key: &str) -> Result<Option<f32>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.get_f32(key).map(Some),
        }
    }
    /// A boolean, `Ok(None)` when the key is absent.
    pub fn get_opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaValue::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(Self::wrong(key, "bool", &v)),
        }
    }
    /// A string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.need(key)? {
            MetaValue::Str(s) => Ok(s),
            v => Err(Self::wrong(key, "string", &v)),
        }
    }
    /// Like [`get_str`](Self::get_str), but `Ok(None)` when the key is absent.
    pub fn get_opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.get_str(key).map(Some),
        }
    }
    /// An array of any element type.
    pub fn get_array(&self, key: &str) -> Result<ArrayView<'_>> {
        match self.need(key)? {
            MetaValue::Array(a) => Ok(a),
            v => Err(Self::wrong(key, "array", &v)),
        }
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str> {
        self.get_str("general.architecture")
    }

    /// The tensor index in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.idx.tensors
    }
    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.idx
            .tensor_index
            .get(name)
            .map(|&i| &self.idx.tensors[i])
    }
    /// The tensor's bytes: a zero-copy view into the mapping (range checked at open).
    ///
    /// `t` must come from this file's [`tensors`](Self::tensors); a foreign `TensorInfo`
    /// whose range does not fit yields an empty slice rather than a panic.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        self.range(t.offset, t.n_bytes).unwrap_or(&[])
    }
}
