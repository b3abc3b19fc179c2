//! One error type for the whole crate. Every variant names what is at fault (the file, the
//! tensor, the metadata key, the token) so a user can act on the message alone.

use std::path::PathBuf;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in ferrite.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS refused to open or map a file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not a well-formed GGUF file. `what` says what is wrong and where.
    #[error("{path}: malformed GGUF: {what}")]
    Format { path: PathBuf, what: String },

    /// A tensor uses a block format ferrite does not implement.
    #[error("tensor '{tensor}': unsupported tensor type {ty}")]
    UnsupportedType { tensor: String, ty: String },

    /// A metadata key that is needed is absent.
    #[error("missing metadata key '{key}'")]
    MissingKey { key: String },

    /// A metadata key holds a value of another type than the one needed.
    #[error("metadata key '{key}': expected {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },

    /// A tensor that the architecture needs is absent.
    #[error("missing tensor '{tensor}'")]
    MissingTensor { tensor: String },

    /// A tensor exists but its shape or type does not fit the model's hyperparameters.
    #[error("tensor '{tensor}': {what}")]
    BadTensor { tensor: String, what: String },

    /// Hyperparameters that are absent, out of range, or contradict each other.
    #[error("model: {0}")]
    Model(String),

    /// The architecture named in `general.architecture` is not implemented.
    #[error("unsupported architecture '{arch}' (supported: {supported})")]
    UnsupportedArch { arch: String, supported: String },

    /// Tokenizer problems: missing vocabulary, an unknown pre-tokenizer, a bad token id.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The KV cache is full: `needed` positions were asked for, only `capacity` exist.
    #[error(
        "context full: {needed} tokens needed but the context holds {capacity} (use a larger -c)"
    )]
    ContextFull { needed: usize, capacity: usize },

    /// A caller passed an argument that cannot be used (a zero thread count, a bad flag value).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// Shorthand for a [`Error::Format`] error.
    pub fn format(path: &std::path::Path, what: impl Into<String>) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}
