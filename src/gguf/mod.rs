//! GGUF files: memory-mapped, parsed with a bounded cursor, validated before use.
//!
//! API contract (the implementation lands in this module; signatures are fixed):
//! - [`GgufFile::open`] maps the file read-only and parses header, metadata and tensor index.
//! - Typed getters return an error naming the key and the expected type.
//! - [`GgufFile::tensor_data`] is a zero-copy view into the mapping.

use std::path::{Path, PathBuf};

use crate::quant::GgmlType;
use crate::{Error, Result};

/// One tensor of the index: name, type, shape (ggml order: `dims[0]` is the row length) and
/// where its bytes lie in the file.
#[derive(Clone, Debug)]
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

/// A metadata array, read lazily from the mapping (a 262k-entry vocabulary is not copied at
/// load). Its bounds and, for strings, UTF-8 validity were checked when the file was opened.
#[derive(Clone, Copy, Debug)]
pub struct ArrayView<'a> {
    pub(crate) elem: MetaType,
    pub(crate) len: usize,
    /// The encoded elements (for strings: u64 length + bytes, repeated).
    pub(crate) bytes: &'a [u8],
}

/// A parsed GGUF file backed by a read-only memory map.
pub struct GgufFile {
    path: PathBuf,
}

impl GgufFile {
    /// Maps and parses `path`, validating every tensor's range, alignment, size and type.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let _ = path;
        todo!()
    }
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The metadata value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<MetaValue<'_>> {
        let _ = key;
        todo!()
    }
    /// All metadata in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, MetaValue<'_>)> {
        std::iter::empty()
    }
    /// An unsigned integer (any integer type whose value fits a u32).
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        let _ = key;
        Err(Error::MissingKey { key: key.into() })
    }
    /// Like [`get_u32`](Self::get_u32), but `Ok(None)` when the key is absent.
    pub fn get_opt_u32(&self, key: &str) -> Result<Option<u32>> {
        let _ = key;
        todo!()
    }
    /// A float (f32, or f64 narrowed).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        let _ = key;
        todo!()
    }
    /// Like [`get_f32`](Self::get_f32), but `Ok(None)` when the key is absent.
    pub fn get_opt_f32(&self, key: &str) -> Result<Option<f32>> {
        let _ = key;
        todo!()
    }
    /// A boolean.
    pub fn get_opt_bool(&self, key: &str) -> Result<Option<bool>> {
        let _ = key;
        todo!()
    }
    /// A string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let _ = key;
        todo!()
    }
    /// Like [`get_str`](Self::get_str), but `Ok(None)` when the key is absent.
    pub fn get_opt_str(&self, key: &str) -> Result<Option<&str>> {
        let _ = key;
        todo!()
    }
    /// An array of any element type.
    pub fn get_array(&self, key: &str) -> Result<ArrayView<'_>> {
        let _ = key;
        todo!()
    }
    /// The tensor index in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        todo!()
    }
    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        let _ = name;
        todo!()
    }
    /// The tensor's bytes: a zero-copy view into the mapping (range checked at open).
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let _ = t;
        todo!()
    }
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
    /// The elements as strings; error (naming `key`) unless the elements are strings.
    pub fn strings(&self, key: &str) -> Result<impl Iterator<Item = &'a str> + 'a> {
        let _ = key;
        Ok(std::iter::empty())
    }
    /// The elements as f32 (f32 elements only); error naming `key` otherwise.
    pub fn f32s(&self, key: &str) -> Result<impl Iterator<Item = f32> + 'a> {
        let _ = key;
        Ok(std::iter::empty())
    }
    /// The elements as i64 (any integer element type); error naming `key` otherwise.
    pub fn ints(&self, key: &str) -> Result<impl Iterator<Item = i64> + 'a> {
        let _ = key;
        Ok(std::iter::empty())
    }
}
