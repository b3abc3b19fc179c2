//! The C API (`include/ferrite.h`, generated from this file by cbindgen; `libferrite.a`).
//!
//! It follows `llama.h`: opaque handles ([`ferrite_model`], [`ferrite_session`]), parameter
//! structs passed by value and filled by `*_default_params()`, a status code from every
//! function that can fail ([`ferrite_status`]), and a thread-local message for the last
//! failure ([`ferrite_last_error`]). Text and token arrays go into caller-provided buffers
//! (`capacity` in, `*n_out` out; too small gives [`ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL`]
//! with `*n_out` set to the size needed).
//!
//! Rules every entry point keeps:
//! - No panic crosses the boundary: each body runs under [`std::panic::catch_unwind`]; a panic
//!   (a bug in ferrite) becomes `FERRITE_ERR_INTERNAL` with the panic message.
//! - A NULL handle, string or output pointer is answered with `FERRITE_ERR_INVALID_ARGUMENT` and
//!   a message naming the argument; text that is not UTF-8 is refused the same way, with the
//!   offset of the first bad byte.
//! - Each function's documentation says what remains after an error.
//!
//! Ownership: a session borrows its model. The Rust [`Session`] carries that borrow as a
//! lifetime; here the session holds a `Session<'static>` made from a raw pointer to the model,
//! and the model counts its live sessions so that [`ferrite_model_free`] refuses to free a model
//! that still has sessions (instead of leaving them dangling). Using any handle after it was
//! freed is undefined behaviour, as in llama.h.
//!
//! Threads: a model may be shared by any number of threads (it is read-only); a session must be
//! used by one thread at a time. The last-error message is per thread.
//!
//! Enumerations that the caller passes *in* (the KV cache type inside the session params) are
//! plain `int32_t` fields on the Rust side: a C enum may hold any integer, and reading an
//! out-of-range value into a Rust enum would be undefined behaviour. They are checked instead.

#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sampler::{Sampler, SamplerParams, MAX_REPEAT_LAST_N};
use crate::tokenizer::StreamDecoder;
use crate::{Error, KvType, Model, Session, SessionConfig};

// ---------------------------------------------------------------------------------------------
// Status codes, constants, parameter structs
// ---------------------------------------------------------------------------------------------

/// The result of every function that can fail. `FERRITE_OK` is 0; every other value is an
/// error whose message `ferrite_last_error` returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ferrite_status {
    /// Success.
    FERRITE_OK = 0,
    /// An argument is NULL, out of range, or text that is not UTF-8; the message names it.
    FERRITE_ERR_INVALID_ARGUMENT = 1,
    /// The operating system refused to open or map a file.
    FERRITE_ERR_IO = 2,
    /// The model file is malformed: not GGUF, truncated, missing or misshapen tensors or keys.
    FERRITE_ERR_FORMAT = 3,
    /// The file is well formed but uses an architecture or tensor type ferrite does not run.
    FERRITE_ERR_UNSUPPORTED = 4,
    /// Tokenizer problems: the model has no vocabulary, or the text cannot be tokenized.
    FERRITE_ERR_TOKENIZER = 5,
    /// The tokens do not fit in the session's context; nothing was evaluated.
    FERRITE_ERR_CONTEXT_FULL = 6,
    /// The caller's buffer is too small; `*n_out` holds the size needed.
    FERRITE_ERR_BUFFER_TOO_SMALL = 7,
    /// No logits: nothing was evaluated since the session was created or reset.
    FERRITE_ERR_NO_LOGITS = 8,
    /// A bug in ferrite (a caught panic). Free the handle involved; do not use it further.
    FERRITE_ERR_INTERNAL = 9,
}

use ferrite_status::*;

/// The storage type of the KV cache, for `ferrite_session_params.kv_type`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ferrite_kv_type {
    /// 2 bytes per value (the default, as llama.cpp).
    FERRITE_KV_F16 = 0,
    /// 34 bytes per 32 values: half the memory of f16, slightly less precise.
    FERRITE_KV_Q8_0 = 1,
    /// 4 bytes per value: exact.
    FERRITE_KV_F32 = 2,
}

/// "No token": returned by `ferrite_token_bos` / `ferrite_token_eos` when the model has
/// none, and passed to the generation callback with the final flushed text.
// The cast makes cbindgen write `(int32_t)-1`, which (unlike a bare `-1`) is safe in any
// expression the macro lands in, e.g. `x-FERRITE_TOKEN_NONE`.
#[allow(clippy::unnecessary_cast)]
pub const FERRITE_TOKEN_NONE: i32 = -1 as i32;

/// `ferrite_session_params.seed` value meaning "seed from the clock".
pub const FERRITE_SEED_RANDOM: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// How a model is loaded. Get the defaults from `ferrite_model_default_params` and change
/// fields, so that code keeps compiling when fields are added.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ferrite_model_params {
    /// Refuse (with `FERRITE_ERR_TOKENIZER`) a file that carries no vocabulary. Default: true.
    /// Without a vocabulary only token-id functions (`ferrite_eval`, `ferrite_sample`, ...)
    /// work.
    pub require_tokenizer: bool,
}

/// How a session is set up: context, threads, KV cache and the sampler. Get the defaults from
/// `ferrite_session_default_params` and change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ferrite_session_params {
    /// Context length in tokens; 0 (the default) means min(training context, 4096).
    pub n_ctx: u32,
    /// Threads for the matrix products (1..=256); 0 (the default) means one per core.
    pub n_threads: u32,
    /// One of `ferrite_kv_type` (an `int32_t` so that any value can be checked). Default f16.
    pub kv_type: i32,
    /// Seed of the sampler's random generator; `FERRITE_SEED_RANDOM` (the default) means from
    /// the clock.
    pub seed: u64,
    /// Temperature; 0 is greedy (the argmax, ties to the lowest id). Default 0.8.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 = off. Default 40.
    pub top_k: u32,
    /// Nucleus sampling threshold in (0, 1]; 1 = off. Default 0.95.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one, in [0, 1]; 0 = off.
    /// Default 0.05.
    pub min_p: f32,
    /// Repetition penalty > 0 over the last `repeat_last_n` accepted tokens; 1 = off (default).
    pub repeat_penalty: f32,
    /// How many accepted tokens the repetition penalty looks at; 0 = off. Default 64.
    pub repeat_last_n: u32,
    /// Memory budget in bytes for the process running this session; 0 (the default) = no
    /// limit. `ferrite_session_new` refuses with `FERRITE_ERR_INVALID_ARGUMENT` when the
    /// estimate (mapped weights, KV cache, scratch, tokenizer, overhead) exceeds it; the
    /// message gives the figures and what would fit (a smaller `n_ctx`, a q8_0 cache).
    pub max_memory: u64,
}

/// Receives generated text from `ferrite_generate`.
///
/// Called once per generated token, in order, with the text that became complete with it:
/// `text[0..len]` is whole UTF-8 (possibly empty when the token ends inside a character, whose
/// bytes then come with a later token) and is also NUL-terminated for convenience (`len` counts
/// the bytes; the text itself could contain a NUL if the model generates one). `token` is the
/// generated id. If text is still held when generation ends (an incomplete character), one
/// more call passes it, as U+FFFD, with `token = FERRITE_TOKEN_NONE`. `text` is valid only
/// during the call. Return 0 to continue, nonzero to stop after this token.
pub type ferrite_piece_callback = Option<
    unsafe extern "C" fn(
        text: *const c_char,
        len: usize,
        token: i32,
        user_data: *mut c_void,
    ) -> i32,
>;

// ---------------------------------------------------------------------------------------------
// Handles
// ---------------------------------------------------------------------------------------------

/// A loaded model (opaque): the mapped file, hyperparameters and tokenizer. Read-only once
/// loaded, so any number of threads may use it at once. Free it with `ferrite_model_free`
/// after every session created from it.
pub struct ferrite_model {
    model: Model,
    /// Sessions created from this model and not yet freed.
    sessions: AtomicUsize,
}

/// One conversation with a model (opaque): KV cache, scratch buffers, worker threads and the
/// sampler, all allocated by `ferrite_session_new`. Use it from one thread at a time (any
/// thread); free it with `ferrite_session_free` before its model.
pub struct ferrite_session {
    /// Borrows `*model` for a lifetime the compiler cannot see: valid because the model refuses
    /// to be freed while `model.sessions > 0`, and this session decrements it only when freed.
    sess: Session<'static>,
    model: &'static ferrite_model,
    sampler: Sampler,
    /// Streaming detokenizer of `ferrite_generate` (None when the model has no vocabulary).
    dec: Option<StreamDecoder>,
    /// The NUL-terminated copy of a piece handed to the callback; capacity reserved up front.
    piece: Vec<u8>,
    /// The prompt's ids in `ferrite_generate`.
    ids: Vec<u32>,
}

// ---------------------------------------------------------------------------------------------
// Errors and the panic guard
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// The last failure's message on this thread, NUL-terminated.
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new(vec![0]);
}

/// A failure on its way to the caller: a status and its message.
struct Failure {
    status: ferrite_status,
    msg: String,
}

type FfiResult<T> = std::result::Result<T, Failure>;

fn fail(status: ferrite_status, msg: impl Into<String>) -> Failure {
    Failure {
        status,
        msg: msg.into(),
    }
}

fn invalid(msg: impl Into<String>) -> Failure {
    fail(FERRITE_ERR_INVALID_ARGUMENT, msg)
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = match &e {
            Error::Io { .. } => FERRITE_ERR_IO,
            Error::Format { .. }
            | Error::MissingKey { .. }
            | Error::WrongType { .. }
            | Error::MissingTensor { .. }
            | Error::BadTensor { .. }
            | Error::Model(_) => FERRITE_ERR_FORMAT,
            Error::UnsupportedType { .. } | Error::UnsupportedArch { .. } => {
                FERRITE_ERR_UNSUPPORTED
            }
            Error::Tokenizer(_) => FERRITE_ERR_TOKENIZER,
            Error::ContextFull { needed, capacity } => {
                // The crate's message suggests the CLI's `-c`; say what a C caller can do.
                return fail(
                    FERRITE_ERR_CONTEXT_FULL,
                    format!(
                        "context full: {needed} tokens needed but the session holds {capacity} \
                         (create the session with a larger n_ctx)"
                    ),
                );
            }
            Error::InvalidArgument(_) => FERRITE_ERR_INVALID_ARGUMENT,
        };
        fail(status, e.to_string())
    }
}

fn set_last_error(msg: &str) {
    // `try_with`: during thread teardown the slot may be gone; the status still reports.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut buf) = slot.try_borrow_mut() {
            buf.clear();
            // A C string cannot hold NUL: show any (from a token's text, say) as '?'.
            buf.extend(msg.bytes().map(|b| if b == 0 { b'?' } else { b }));
            buf.push(0);
        }
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "unknown panic payload"
    }
}

/// Runs `f`, turning an error into its status (recording the message) and a panic into
/// `FERRITE_ERR_INTERNAL`. The closure is asserted unwind-safe: after a panic the handles it
/// touched are documented as unusable except for freeing.
fn guard(f: impl FnOnce() -> FfiResult<()>) -> ferrite_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => FERRITE_OK,
        Ok(Err(e)) => {
            set_last_error(&e.msg);
            e.status
        }
        Err(p) => {
            set_last_error(&format!(
                "internal error (a bug in ferrite, please report it): {}",
                panic_message(&*p)
            ));
            FERRITE_ERR_INTERNAL
        }
    }
}

/// [`guard`] for functions that return a value: `fallback` on error or panic.
fn guard_value<T>(fallback: T, f: impl FnOnce() -> FfiResult<T>) -> T {
    let mut out = None;
    let st = guard(|| {
        out = Some(f()?);
        Ok(())
    });
    match (st, out) {
        (FERRITE_OK, Some(v)) => v,
        _ => fallback,
    }
}

// ---------------------------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------------------------

/// A shared reference from a handle, or an error naming the argument when it is NULL.
///
/// # Safety
/// `p` is NULL or points to a live `T` that is not mutated during the returned borrow.
unsafe fn handle<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller guarantees `p` is NULL or valid; `as_ref` handles NULL.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// A unique reference from a handle, or an error naming the argument when it is NULL.
///
/// # Safety
/// `p` is NULL or points to a live `T` not otherwise referenced during the returned borrow.
unsafe fn handle_mut<'a, T>(p: *mut T, name: &str) -> FfiResult<&'a mut T> {
    // SAFETY: the caller guarantees `p` is NULL or valid and unaliased; `as_mut` handles NULL.
    unsafe { p.as_mut() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// An output location, checked for NULL.
fn out_ptr<T>(p: *mut T, name: &str) -> FfiResult<*mut T> {
    if p.is_null() {
        Err(invalid(format!("{name} is NULL")))
    } else {
        Ok(p)
    }
}

/// The bytes of a NUL-terminated string (without the NUL).
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string that stays unchanged during the borrow.
unsafe fn c_bytes<'a>(s: *const c_char, name: &str) -> FfiResult<&'a [u8]> {
    if s.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    Ok(unsafe { CStr::from_ptr(s) }.to_bytes())
}

/// A NUL-terminated string as UTF-8 text, refusing invalid UTF-8 with the offset of the first
/// bad byte.
///
/// # Safety
/// As [`c_bytes`].
unsafe fn c_str<'a>(s: *const c_char, name: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    let b = unsafe { c_bytes(s, name) }?;
    std::str::from_utf8(b).map_err(|e| {
        invalid(format!(
            "{name} is not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// A token id from C: non-negative and inside the vocabulary.
fn token_arg(id: i32, n_vocab: usize, name: &str) -> FfiResult<u32> {
    match u32::try_from(id) {
        Ok(t) if (t as usize) < n_vocab => Ok(t),
        _ => Err(invalid(format!(
            "{name} {id} is out of range (vocabulary has {n_vocab} tokens)"
        ))),
    }
}

/// A token id for C (every id is below `n_vocab`, which the loader keeps far below 2^31).
fn token_to_c(id: u32) -> FfiResult<i32> {
    i32::try_from(id).map_err(|_| fail(FERRITE_ERR_INTERNAL, format!("token id {id} > INT32_MAX")))
}

/// Copies `src` into the caller's buffer of `capacity` elements and sets `*n_out = src.len()`;
/// when it does not fit, writes nothing and reports the size needed.
///
/// # Safety
/// As [`write_out`].
unsafe fn copy_out<T: Copy>(
    src: &[T],
    dst: *mut T,
    capacity: usize,
    n_out: *mut usize,
    what: &str,
) -> FfiResult<()> {
    // SAFETY: the caller's contract is `write_out`'s.
    unsafe {
        write_out(src.len(), dst, capacity, n_out, what, |d| {
            d.copy_from_slice(src)
        })
    }
}

/// Sets `*n_out = len` and, when `len` elements fit the caller's buffer of `capacity`, has
/// `fill` write exactly them (a slice of `len`); otherwise writes nothing and reports the
/// size needed.
///
/// # Safety
/// `dst` is NULL (only allowed with `capacity == 0`) or valid for `capacity` writes of `T`;
/// `n_out` is valid for one write.
unsafe fn write_out<T>(
    len: usize,
    dst: *mut T,
    capacity: usize,
    n_out: *mut usize,
    what: &str,
    fill: impl FnOnce(&mut [T]),
) -> FfiResult<()> {
    // SAFETY: `n_out` is valid for a write (checked non-NULL by the callers).
    unsafe { n_out.write(len) };
    if len > capacity {
        return Err(fail(
            FERRITE_ERR_BUFFER_TOO_SMALL,
            format!("{what}: buffer of {capacity} elements is too small, {len} needed"),
        ));
    }
    if len > 0 {
        // SAFETY: `len <= capacity`, and `dst` is valid for `capacity` writes; it is non-NULL
        // here because callers refuse NULL with a non-zero capacity and `len > 0` so
        // `capacity > 0`. The caller's buffer cannot overlap our own data.
        fill(unsafe { std::slice::from_raw_parts_mut(dst, len) });
    }
    Ok(())
}

/// Checks a caller buffer: NULL is only allowed with a zero capacity (a size query).
fn buffer_arg<T>(p: *mut T, capacity: usize, name: &str) -> FfiResult<()> {
    if p.is_null() && capacity > 0 {
        Err(invalid(format!(
            "{name} is NULL but capacity is {capacity}"
        )))
    } else {
        Ok(())
    }
}

fn kv_type_arg(v: i32) -> FfiResult<KvType> {
    match v {
        x if x == ferrite_kv_type::FERRITE_KV_F16 as i32 => Ok(KvType::F16),
        x if x == ferrite_kv_type::FERRITE_KV_Q8_0 as i32 => Ok(KvType::Q8_0),
        x if x == ferrite_kv_type::FERRITE_KV_F32 as i32 => Ok(KvType::F32),
        _ => Err(invalid(format!(
            "params.kv_type {v} is not a ferrite_kv_type (FERRITE_KV_F16, FERRITE_KV_Q8_0 or FERRITE_KV_F32)"
        ))),
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Library
// ---------------------------------------------------------------------------------------------

/// The message of the last failed call on this thread (an empty string if none failed yet).
///
/// Like `errno`, it is not cleared by successful calls: read it right after a call returned an
/// error status. The pointer stays valid until the next ferrite call on this thread. Never NULL.
#[no_mangle]
pub extern "C" fn ferrite_last_error() -> *const c_char {
    static EMPTY: &[u8] = b"\0";
    let p = catch_unwind(|| {
        LAST_ERROR
            .try_with(|slot| slot.borrow().as_ptr() as *const c_char)
            .unwrap_or(EMPTY.as_ptr() as *const c_char)
    });
    // The buffer lives in the thread-local slot: it is only replaced by a later failing call.
    p.unwrap_or(EMPTY.as_ptr() as *const c_char)
}

/// The name of a status code, e.g. `"FERRITE_ERR_IO"`; `"FERRITE_UNKNOWN_STATUS"` for a value
/// that is not one. A static string, never NULL.
#[no_mangle]
pub extern "C" fn ferrite_status_name(status: i32) -> *const c_char {
    const NAMES: [&CStr; 10] = [
        c"FERRITE_OK",
        c"FERRITE_ERR_INVALID_ARGUMENT",
        c"FERRITE_ERR_IO",
        c"FERRITE_ERR_FORMAT",
        c"FERRITE_ERR_UNSUPPORTED",
        c"FERRITE_ERR_TOKENIZER",
        c"FERRITE_ERR_CONTEXT_FULL",
        c"FERRITE_ERR_BUFFER_TOO_SMALL",
        c"FERRITE_ERR_NO_LOGITS",
        c"FERRITE_ERR_INTERNAL",
    ];
    let unknown = c"FERRITE_UNKNOWN_STATUS".as_ptr();
    guard_value(unknown, || {
        Ok(usize::try_from(status)
            .ok()
            .and_then(|i| NAMES.get(i))
            .map_or(unknown, |n| n.as_ptr()))
    })
}

/// The library version, e.g. `"0.1.0"`. A static string, never NULL.
#[no_mangle]
pub extern "C" fn ferrite_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    guard_value(V.as_ptr(), || Ok(V.as_ptr()))
}

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// The default model parameters.
#[no_mangle]
pub extern "C" fn ferrite_model_default_params() -> ferrite_model_params {
    let p = ferrite_model_params {
        require_tokenizer: true,
    };
    guard_value(p, || Ok(p))
}

/// Loads a GGUF model: maps the file at the NUL-terminated `path` (bytes as given, no UTF-8
/// needed on Unix) and checks every tensor against it.
///
/// On success `*model_out` receives a handle to free with `ferrite_model_free`. On error
/// `*model_out` is set to NULL (when `model_out` itself is not NULL) and nothing is allocated.
/// Errors: `FERRITE_ERR_INVALID_ARGUMENT` (NULL or empty `path`, NULL `model_out`),
/// `FERRITE_ERR_IO` (cannot open or map), `FERRITE_ERR_FORMAT`, `FERRITE_ERR_UNSUPPORTED`,
/// `FERRITE_ERR_TOKENIZER` (no vocabulary while `params.require_tokenizer`).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `model_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ferrite_model_load(
    path: *const c_char,
    params: ferrite_model_params,
    model_out: *mut *mut ferrite_model,
) -> ferrite_status {
    guard(|| {
        let model_out = out_ptr(model_out, "model_out")?;
        // SAFETY: `model_out` is non-NULL and valid for a write by the caller's contract.
        unsafe { model_out.write(std::ptr::null_mut()) };
        // SAFETY: `path` is NULL or NUL-terminated by the caller's contract.
        let bytes = unsafe { c_bytes(path, "path") }?;
        if bytes.is_empty() {
            return Err(invalid("path is empty"));
        }
        let path = path_from_bytes(bytes)?;
        let model = Model::load(&path)?;
        if params.require_tokenizer {
            model.tokenizer()?;
        }
        let b = Box::new(ferrite_model {
            model,
            sessions: AtomicUsize::new(0),
        });
        // SAFETY: `model_out` was checked non-NULL and is valid for a write (caller's contract).
        unsafe { model_out.write(Box::into_raw(b)) };
        Ok(())
    })
}

#[cfg(unix)]
fn path_from_bytes(b: &[u8]) -> FfiResult<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(b)))
}

#[cfg(not(unix))]
fn path_from_bytes(b: &[u8]) -> FfiResult<PathBuf> {
    std::str::from_utf8(b).map(PathBuf::from).map_err(|e| {
        invalid(format!(
            "path is not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Frees a model. NULL is a no-op returning `FERRITE_OK`.
///
/// Returns `FERRITE_ERR_INVALID_ARGUMENT` and frees nothing while sessions created from the
/// model are still alive: free them first. After `FERRITE_OK` the handle is gone.
///
/// # Safety
/// `model` is NULL or a handle from `ferrite_model_load` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ferrite_model_free(model: *mut ferrite_model) -> ferrite_status {
    guard(|| {
        if model.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle by the caller's contract.
        let live = unsafe { &*model }.sessions.load(Ordering::Acquire);
        if live > 0 {
            return Err(invalid(format!(
                "model still has {live} live session(s): free them before the model"
            )));
        }
        // SAFETY: the pointer came from `Box::into_raw` in `ferrite_model_load`, no session
        // borrows it (count is 0), and the caller gives up the handle.
        drop(unsafe { Box::from_raw(model) });
        Ok(())
    })
}

/// Vocabulary size (the length of the logits); 0 if `model` is NULL.
///
/// # Safety
/// `model` is NULL or a live model handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_n_vocab(model: *const ferrite_model) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live by the caller's contract.
        Ok(unsafe { handle(model, "model") }?.model.hp.n_vocab)
    })
}

/// The context length the model was trained with; 0 if `model` is NULL.
///
/// # Safety
/// `model` is NULL or a live model handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_n_ctx_train(model: *const ferrite_model) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live by the caller's contract.
        Ok(unsafe { handle(model, "model") }?.model.hp.n_ctx_train)
    })
}

/// The beginning-of-sequence token, or `FERRITE_TOKEN_NONE` if the model has none (or no
/// vocabulary, or `model` is NULL).
///
/// # Safety
/// `model` is NULL or a live model handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_token_bos(model: *const ferrite_model) -> i32 {
    guard_value(FERRITE_TOKEN_NONE, || {
        // SAFETY: NULL or live by the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        m.model
            .tokenizer()?
            .bos()
            .map_or(Ok(FERRITE_TOKEN_NONE), token_to_c)
    })
}

/// The end-of-sequence token, or `FERRITE_TOKEN_NONE` if the model has none (or no
/// vocabulary, or `model` is NULL).
///
/// # Safety
/// `model` is NULL or a live model handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_token_eos(model: *const ferrite_model) -> i32 {
    guard_value(FERRITE_TOKEN_NONE, || {
        // SAFETY: NULL or live by the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        m.model
            .tokenizer()?
            .eos()
            .map_or(Ok(FERRITE_TOKEN_NONE), token_to_c)
    })
}

/// True if `token` ends a generation (EOS, and e.g. Gemma's `<end_of_turn>`). False for other
/// tokens, ids out of range, a NULL `model` or a model without vocabulary.
///
/// # Safety
/// `model` is NULL or a live model handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_token_is_eog(model: *const ferrite_model, token: i32) -> bool {
    guard_value(false, || {
        // SAFETY: NULL or live by the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        let tok = m.model.tokenizer()?;
        Ok(u32::try_from(token).is_ok_and(|t| tok.is_eog(t)))
    })
}

/// Text to token ids, into the caller's `tokens` buffer of `capacity` entries; `*n_out`
/// receives the number of ids.
///
/// `add_special`: add BOS (and EOS) when the model asks for them, as llama.cpp's
/// `add_special`. `parse_special`: special-token text such as `<start_of_turn>` becomes its id.
/// `text` is NUL-terminated UTF-8.
///
/// Errors: `FERRITE_ERR_BUFFER_TOO_SMALL` with `*n_out` = the number of ids needed and nothing
/// written (`tokens` may be NULL with `capacity` 0 to ask for the size);
/// `FERRITE_ERR_INVALID_ARGUMENT` (NULL arguments, invalid UTF-8; `*n_out` is then 0 when
/// `n_out` is not NULL); `FERRITE_ERR_TOKENIZER` (no vocabulary). The model is never changed.
///
/// # Safety
/// `model` is NULL or live; `text` is NULL or NUL-terminated; `tokens` is NULL or valid for
/// `capacity` writes; `n_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ferrite_tokenize(
    model: *const ferrite_model,
    text: *const c_char,
    add_special: bool,
    parse_special: bool,
    tokens: *mut i32,
    capacity: usize,
    n_out: *mut usize,
) -> ferrite_status {
    guard(|| {
        let n_out = out_ptr(n_out, "n_out")?;
        // SAFETY: non-NULL and valid for a write by the caller's contract.
        unsafe { n_out.write(0) };
        // SAFETY: NULL or live by the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        // SAFETY: NULL or NUL-terminated by the caller's contract.
        let text = unsafe { c_str(text, "text") }?;
        buffer_arg(tokens, capacity, "tokens")?;
        let tok = m.model.tokenizer()?;
        let ids = tok.encode(text, add_special, parse_special)?;
        let ids: Vec<i32> = ids.into_iter().map(token_to_c).collect::<FfiResult<_>>()?;
        // SAFETY: `tokens` is NULL only with capacity 0 (checked) or valid for `capacity`
        // writes, and `n_out` is valid, by the caller's contract.
        unsafe { copy_out(&ids, tokens, capacity, n_out, "tokenize") }
    })
}

/// The text of one token, into the caller's `buf` of `capacity` bytes; `*n_out` receives its
/// length. The bytes are *not* NUL-terminated, and a piece may be part of a UTF-8 character
/// (byte tokens): concatenate pieces before treating them as text, or use
/// `ferrite_generate`, which streams whole characters. Control tokens (BOS, EOS, ...) give
/// their text only when `special` is true, an empty piece otherwise.
///
/// Errors: `FERRITE_ERR_BUFFER_TOO_SMALL` with `*n_out` = the length and nothing written
/// (`buf` may be NULL with `capacity` 0 to ask for the length); `FERRITE_ERR_INVALID_ARGUMENT`
/// (NULL arguments, id out of range; `*n_out` is then 0 when `n_out` is not NULL);
/// `FERRITE_ERR_TOKENIZER` (no vocabulary).
///
/// # Safety
/// `model` is NULL or live; `buf` is NULL or valid for `capacity` writes; `n_out` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ferrite_token_to_piece(
    model: *const ferrite_model,
    token: i32,
    special: bool,
    buf: *mut c_char,
    capacity: usize,
    n_out: *mut usize,
) -> ferrite_status {
    guard(|| {
        let n_out = out_ptr(n_out, "n_out")?;
        // SAFETY: non-NULL and valid for a write by the caller's contract.
        unsafe { n_out.write(0) };
        // SAFETY: NULL or live by the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        buffer_arg(buf, capacity, "buf")?;
        let tok = m.model.tokenizer()?;
        let id = token_arg(token, tok.n_vocab(), "token")?;
        let piece = tok.token_to_piece(id, special);
        // SAFETY: `c_char` and `u8` have the same size and alignment; `buf` is NULL only with
        // capacity 0 (checked) or valid for `capacity` bytes, by the caller's contract.
        unsafe {
            write_out(
                piece.len(),
                buf.cast::<u8>(),
                capacity,
                n_out,
                "token_to_piece",
                |d| {
                    piece.write_to(d);
                },
            )
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

/// The default session parameters (the CLI's defaults): context min(training, 4096), one
/// thread per core, f16 KV cache, seed from the clock, temperature 0.8, top_k 40, top_p 0.95,
/// min_p 0.05, repeat_penalty 1 (off), repeat_last_n 64, max_memory 0 (no limit).
#[no_mangle]
pub extern "C" fn ferrite_session_default_params() -> ferrite_session_params {
    let s = SamplerParams::default();
    let p = ferrite_session_params {
        n_ctx: 0,
        n_threads: 0,
        kv_type: ferrite_kv_type::FERRITE_KV_F16 as i32,
        seed: FERRITE_SEED_RANDOM,
        temperature: s.temperature,
        top_k: s.top_k as u32,
        top_p: s.top_p,
        min_p: s.min_p,
        repeat_penalty: s.repeat_penalty,
        repeat_last_n: s.repeat_last_n as u32,
        max_memory: 0,
    };
    // Nothing here can panic; the guard keeps the rule "every entry point" without exception.
    guard_value(p, || Ok(p))
}

/// Creates a session on `model`: allocates the KV cache and every buffer for `params.n_ctx`
/// tokens and starts the worker threads. Evaluating tokens afterwards allocates nothing.
///
/// On success `*session_out` receives a handle to free with `ferrite_session_free`, which
/// must happen before the model is freed. On error `*session_out` is NULL (when `session_out`
/// is not NULL) and nothing is allocated. Errors: `FERRITE_ERR_INVALID_ARGUMENT` (NULL
/// arguments, a parameter out of range: the message names it; the session would exceed
/// `params.max_memory`: the message gives the figures).
///
/// # Safety
/// `model` is NULL or live; `session_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ferrite_session_new(
    model: *const ferrite_model,
    params: ferrite_session_params,
    session_out: *mut *mut ferrite_session,
) -> ferrite_status {
    guard(|| {
        let session_out = out_ptr(session_out, "session_out")?;
        // SAFETY: non-NULL and valid for a write by the caller's contract.
        unsafe { session_out.write(std::ptr::null_mut()) };
        // SAFETY: NULL or live by the caller's contract. The model stays alive as long as the
        // session: `ferrite_model_free` refuses while `sessions > 0`, and the count is only
        // decremented by `ferrite_session_free`, which drops the borrow. Hence the unbounded
        // ('static) lifetime given to the reference here is never outlived in practice.
        let m: &'static ferrite_model = unsafe { handle(model, "model") }?;
        let kv_type = kv_type_arg(params.kv_type)?;
        if params.repeat_last_n as usize > MAX_REPEAT_LAST_N {
            return Err(invalid(format!(
                "params.repeat_last_n must be at most {MAX_REPEAT_LAST_N}, got {}",
                params.repeat_last_n
            )));
        }
        let sp = SamplerParams {
            temperature: params.temperature,
            top_k: params.top_k as usize,
            top_p: params.top_p,
            min_p: params.min_p,
            repeat_penalty: params.repeat_penalty,
            repeat_last_n: params.repeat_last_n as usize,
            seed: match params.seed {
                FERRITE_SEED_RANDOM => clock_seed(),
                s => s,
            },
        };
        let sampler = Sampler::new(sp, m.model.hp.n_vocab)?;
        let cfg = SessionConfig {
            n_ctx: params.n_ctx as usize,
            kv_type,
            n_threads: params.n_threads as usize,
            max_memory: params.max_memory,
            ..SessionConfig::default()
        };
        let sess = Session::new(&m.model, &cfg)?;
        let tok = m.model.tokenizer().ok();
        let dec = tok.map(StreamDecoder::new);
        // Held tail + one piece, each byte possibly a 3-byte U+FFFD, plus the NUL.
        let piece_cap = tok.map_or(0, |t| 3 * (t.max_piece_len() + 4) + 1);
        let s = Box::new(ferrite_session {
            sess,
            model: m,
            sampler,
            dec,
            piece: Vec::with_capacity(piece_cap),
            ids: Vec::new(),
        });
        m.sessions.fetch_add(1, Ordering::AcqRel);
        // SAFETY: `session_out` was checked non-NULL and is valid for a write (caller's
        // contract).
        unsafe { session_out.write(Box::into_raw(s)) };
        Ok(())
    })
}

/// Frees a session (joins its worker threads). NULL is a no-op.
///
/// # Safety
/// `session` is NULL or a handle from `ferrite_session_new` not yet freed, whose model is
/// still alive (guaranteed if the model was freed with `ferrite_model_free`, which refuses
/// while sessions live).
#[no_mangle]
pub unsafe extern "C" fn ferrite_session_free(session: *mut ferrite_session) {
    guard(|| {
        if session.is_null() {
            return Ok(());
        }
        // SAFETY: the pointer came from `Box::into_raw` in `ferrite_session_new` and the caller
        // gives up the handle.
        let s = unsafe { Box::from_raw(session) };
        let model = s.model;
        drop(s);
        // Only now may the model be freed: the session and its borrow are gone.
        model.sessions.fetch_sub(1, Ordering::AcqRel);
        Ok(())
    });
}

/// Forgets the conversation: position back to 0, no logits, the sampler's history cleared
/// and its generator reseeded with the session's seed. Returns `FERRITE_ERR_INVALID_ARGUMENT`
/// if `session` is NULL.
///
/// # Safety
/// `session` is NULL or a live session handle, not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn ferrite_session_reset(session: *mut ferrite_session) -> ferrite_status {
    guard(|| {
        // SAFETY: NULL or live and unaliased by the caller's contract.
        let s = unsafe { handle_mut(session, "session") }?;
        s.sess.reset();
        s.sampler.reset();
        if let Some(d) = &mut s.dec {
            d.reset();
        }
        Ok(())
    })
}

/// Removes positions `[n_keep, n_keep + n_discard)` from the conversation: the cached entries
/// of the later positions move down by `n_discard` (their keys re-rotated to the new
/// positions, as llama.cpp's `llama_memory_seq_rm` + `llama_memory_seq_add`), so
/// `ferrite_n_past` drops by `n_discard` and generation continues. Use it when the context is
/// full (keep the first tokens, drop the oldest half of the rest) or to drop old turns.
/// Allocates nothing; the logits and the sampler's history are left as they are.
///
/// Errors: `FERRITE_ERR_INVALID_ARGUMENT` (NULL `session`, `n_keep + n_discard` beyond
/// `ferrite_n_past`), the session then unchanged.
///
/// # Safety
/// `session` is NULL or a live session handle, not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn ferrite_session_shift(
    session: *mut ferrite_session,
    n_keep: u32,
    n_discard: u32,
) -> ferrite_status {
    guard(|| {
        // SAFETY: NULL or live and unaliased by the caller's contract.
        let s = unsafe { handle_mut(session, "session") }?;
        s.sess.shift(n_keep as usize, n_discard as usize)?;
        Ok(())
    })
}

/// The session's context length in tokens; 0 if `session` is NULL.
///
/// # Safety
/// `session` is NULL or a live session handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_n_ctx(session: *const ferrite_session) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live by the caller's contract.
        Ok(unsafe { handle(session, "session") }?.sess.n_ctx())
    })
}

/// Tokens evaluated so far (the position of the next token); 0 if `session` is NULL.
///
/// # Safety
/// `session` is NULL or a live session handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_n_past(session: *const ferrite_session) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live by the caller's contract.
        Ok(unsafe { handle(session, "session") }?.sess.n_past())
    })
}

/// The session's model handle; NULL if `session` is NULL.
///
/// # Safety
/// `session` is NULL or a live session handle.
#[no_mangle]
pub unsafe extern "C" fn ferrite_session_model(
    session: *const ferrite_session,
) -> *const ferrite_model {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live by the caller's contract.
        Ok(unsafe { handle(session, "session") }?.model as *const ferrite_model)
    })
}

/// Evaluates `n_tokens` tokens (appending them to the conversation, in batches); afterwards
/// `ferrite_get_logits` gives the logits that follow the last one. Does not record the tokens
/// for the repetition penalty: see `ferrite_accept`.
///
/// Errors leave the session unchanged (position, cache and logits as before):
/// `FERRITE_ERR_CONTEXT_FULL` when `n_past + n_tokens > n_ctx`; `FERRITE_ERR_INVALID_ARGUMENT`
/// for NULL arguments, `n_tokens == 0` or an id out of range.
///
/// # Safety
/// `session` is NULL or live and unaliased; `tokens` is NULL or valid for `n_tokens` reads.
#[no_mangle]
pub unsafe extern "C" fn ferrite_eval(
    session: *mut ferrite_session,
    tokens: *const i32,
    n_tokens: usize,
) -> ferrite_status {
    guard(|| {
        // SAFETY: NULL or live and unaliased by the caller's contract.
        let s = unsafe { handle_mut(session, "session") }?;
        if tokens.is_null() {
            return Err(invalid("tokens is NULL"));
        }
        if n_tokens == 0 {
            return Err(invalid("n_tokens is 0: nothing to evaluate"));
        }
        // Checked before the slice is built, which bounds its length by the context (<= 2^24).
        let needed = s.sess.n_past().saturating_add(n_tokens);
        if needed > s.sess.n_ctx() {
            return Err(Error::ContextFull {
                needed,
                capacity: s.sess.n_ctx(),
            }
            .into());
        }
        // SAFETY: non-NULL and valid for `n_tokens` reads by the caller's contract.
        let ids = unsafe { std::slice::from_raw_parts(tokens, n_tokens) };
        let n_vocab = s.model.model.hp.n_vocab;
        // (The message is only formatted on error: evaluating allocates nothing.)
        if let Some(i) = ids.iter().position(|&t| t < 0 || t as usize >= n_vocab) {
            token_arg(ids[i], n_vocab, &format!("tokens[{i}] ="))?;
        }
        // SAFETY: `i32` and `u32` have the same size and alignment, every bit pattern is a
        // valid `u32`, and all values were just checked to be non-negative.
        let ids = unsafe { std::slice::from_raw_parts(tokens.cast::<u32>(), n_tokens) };
        s.sess.prefill(ids)?;
        Ok(())
    })
}

/// The logits that follow the last evaluated token: `*logits_out` points to `*n_vocab_out`
/// floats owned by the session, valid until the next call that changes the session
/// (`ferrite_eval`, `ferrite_generate`, `ferrite_session_reset`, `ferrite_session_free`).
///
/// Errors: `FERRITE_ERR_NO_LOGITS` when nothing was evaluated since creation or reset;
/// `FERRITE_ERR_INVALID_ARGUMENT` for NULL arguments. On error `*logits_out` is NULL and
/// `*n_vocab_out` 0 (where those pointers are not NULL).
///
/// # Safety
/// `session` is NULL or live; `logits_out` and `n_vocab_out` are NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ferrite_get_logits(
    session: *const ferrite_session,
    logits_out: *mut *const f32,
    n_vocab_out: *mut usize,
) -> ferrite_status {
    guard(|| {
        let logits_out = out_ptr(logits_out, "logits_out")?;
        // SAFETY: non-NULL and valid for a write by the caller's contract.
        unsafe { logits_out.write(std::ptr::null()) };
        let n_vocab_out = out_ptr(n_vocab_out, "n_vocab_out")?;
        // SAFETY: `n_vocab_out` was checked non-NULL and is valid for a write (caller's
        // contract).
        unsafe { n_vocab_out.write(0) };
        // SAFETY: NULL or live by the caller's contract.
        let s = unsafe { handle(session, "session") }?;
        let logits = s.sess.logits().ok_or_else(no_logits)?;
        // SAFETY: both output pointers were checked non-NULL and are valid for a write.
        unsafe {
            logits_out.write(logits.as_ptr());
            n_vocab_out.write(logits.len());
        }
        Ok(())
    })
}

fn no_logits() -> Failure {
    fail(
        FERRITE_ERR_NO_LOGITS,
        "no logits: evaluate tokens first (nothing was evaluated since the session was created or reset)",
    )
}

/// Chooses the next token from the current logits with the session's sampler (the chain of
/// its params: penalties, top-k, top-p, min-p, temperature; greedy at temperature 0). Does not
/// record it: call `ferrite_accept` with it, then `ferrite_eval` it to continue.
///
/// Errors: `FERRITE_ERR_NO_LOGITS`; `FERRITE_ERR_INVALID_ARGUMENT` for NULL arguments. On error
/// `*token_out` is `FERRITE_TOKEN_NONE` (when not NULL) and the sampler is unchanged.
///
/// # Safety
/// `session` is NULL or live and unaliased; `token_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ferrite_sample(
    session: *mut ferrite_session,
    token_out: *mut i32,
) -> ferrite_status {
    guard(|| {
        let token_out = out_ptr(token_out, "token_out")?;
        // SAFETY: non-NULL and valid for a write by the caller's contract.
        unsafe { token_out.write(FERRITE_TOKEN_NONE) };
        // SAFETY: NULL or live and unaliased by the caller's contract.
        let s = unsafe { handle_mut(session, "session") }?;
        let logits = s.sess.logits().ok_or_else(no_logits)?;
        let id = token_to_c(s.sampler.sample(logits))?;
        // SAFETY: `token_out` was checked non-NULL and is valid for a write (caller's contract).
        unsafe { token_out.write(id) };
        Ok(())
    })
}

/// Records a token for the repetition penalty (the prompt's tokens as well as the generated
/// ones, as llama.cpp does). Errors (`FERRITE_ERR_INVALID_ARGUMENT`: NULL session, id out of
/// range) leave the sampler unchanged.
///
/// # Safety
/// `session` is NULL or live and unaliased.
#[no_mangle]
pub unsafe extern "C" fn ferrite_accept(
    session: *mut ferrite_session,
    token: i32,
) -> ferrite_status {
    guard(|| {
        // SAFETY: NULL or live and unaliased by the caller's contract.
        let s = unsafe { handle_mut(session, "session") }?;
        let id = token_arg(token, s.model.model.hp.n_vocab, "token")?;
        s.sampler.accept(id);
        Ok(())
    })
}

/// Generates text: tokenizes the NUL-terminated UTF-8 `prompt` (BOS added when the session is
/// empty and the model asks for it; special-token text parsed), evaluates it after whatever
/// the session holds, then samples up to `max_tokens` tokens with the session's sampler,
/// streaming each token's text to `callback` (see `ferrite_piece_callback`; NULL to only
/// count). Stops at an end-of-generation token (not passed on, not counted), after
/// `max_tokens`, or when the callback returns nonzero. The prompt and generated tokens are
/// recorded for the repetition penalty.
///
/// `*n_generated` (if not NULL) receives the number of tokens passed to the callback, also on
/// error. On return the session holds the prompt and the generated tokens, except that the
/// last generated token was only sampled, not evaluated, when generation stopped at
/// `max_tokens`, by the callback or at a full context (`ferrite_eval` it to continue the
/// conversation from there; `ferrite_n_past` tells). After an end-of-generation token every
/// generated token has been evaluated (the end-of-generation token itself has not).
///
/// Errors: `FERRITE_ERR_INVALID_ARGUMENT` (NULL session or prompt, invalid UTF-8, an empty
/// prompt) and `FERRITE_ERR_CONTEXT_FULL` for a prompt that does not fit leave the session
/// unchanged. `FERRITE_ERR_CONTEXT_FULL` after some tokens were generated means the context
/// filled up: the tokens so far were delivered and the session is full (reset it).
///
/// # Safety
/// `session` is NULL or live and unaliased; `prompt` is NULL or NUL-terminated; `callback` is
/// NULL or a function safe to call with `user_data`; `n_generated` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn ferrite_generate(
    session: *mut ferrite_session,
    prompt: *const c_char,
    max_tokens: usize,
    callback: ferrite_piece_callback,
    user_data: *mut c_void,
    n_generated: *mut usize,
) -> ferrite_status {
    guard(|| {
        let set_count = |n: usize| {
            if !n_generated.is_null() {
                // SAFETY: non-NULL and valid for a write by the caller's contract.
                unsafe { n_generated.write(n) };
            }
        };
        set_count(0);
        // SAFETY: NULL or live and unaliased by the caller's contract.
        let s = unsafe { handle_mut(session, "session") }?;
        // SAFETY: NULL or NUL-terminated by the caller's contract.
        let text = unsafe { c_str(prompt, "prompt") }?;
        let model: &'static ferrite_model = s.model;
        let tok = model.model.tokenizer()?;
        let add_special = s.sess.n_past() == 0 && tok.add_bos_default();
        tok.encode_into(text, add_special, true, &mut s.ids)?;
        if s.ids.is_empty() {
            return Err(invalid("prompt is empty (and no BOS token is added)"));
        }
        // Fails before changing anything when the prompt does not fit.
        s.sess.prefill(&s.ids)?;
        for &t in &s.ids {
            s.sampler.accept(t);
        }
        let dec = s
            .dec
            .as_mut()
            .expect("a stream decoder exists when the model has a tokenizer");
        dec.reset();
        let emit = |piece: &mut Vec<u8>, text: &str, token: i32| -> i32 {
            piece.clear();
            piece.extend_from_slice(text.as_bytes());
            piece.push(0);
            match callback {
                // SAFETY: the caller guarantees `callback` may be called with `user_data`;
                // `piece` is valid and NUL-terminated for the duration of the call.
                Some(cb) => unsafe { cb(piece.as_ptr().cast(), text.len(), token, user_data) },
                None => 0,
            }
        };
        let mut n_gen = 0usize;
        let outcome = loop {
            if n_gen >= max_tokens {
                break Ok(());
            }
            let logits = s.sess.logits().ok_or_else(no_logits)?;
            let id = s.sampler.sample(logits);
            if tok.is_eog(id) {
                break Ok(());
            }
            s.sampler.accept(id);
            n_gen += 1;
            set_count(n_gen);
            let text = dec.push(tok, id);
            if emit(&mut s.piece, text, token_to_c(id)?) != 0 {
                // The caller asked to stop: no further call, not even for held bytes.
                return Ok(());
            }
            if n_gen >= max_tokens {
                break Ok(());
            }
            if let Err(e) = s.sess.decode(id) {
                // The context is full (or a bug): deliver what is held, then report.
                break Err(Failure::from(e));
            }
        };
        let tail = dec.finish();
        if !tail.is_empty() {
            emit(&mut s.piece, tail, FERRITE_TOKEN_NONE);
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: never NULL and NUL-terminated.
        unsafe { CStr::from_ptr(ferrite_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let st = guard(|| panic!("kaboom {}", 42));
        assert_eq!(st, FERRITE_ERR_INTERNAL);
        assert!(last_error().contains("internal error"), "{}", last_error());
        assert!(last_error().contains("kaboom 42"), "{}", last_error());
        assert_eq!(guard_value(7, || -> FfiResult<i32> { panic!("static") }), 7);
        assert!(last_error().contains("static"));
    }

    #[test]
    fn errors_map_to_status_codes() {
        let st = guard(|| {
            Err(Error::ContextFull {
                needed: 10,
                capacity: 8,
            }
            .into())
        });
        assert_eq!(st, FERRITE_ERR_CONTEXT_FULL);
        assert!(last_error().contains("larger n_ctx"), "{}", last_error());
        let st = guard(|| Err(Error::Tokenizer("x".into()).into()));
        assert_eq!(st, FERRITE_ERR_TOKENIZER);
        let st = guard(|| {
            Err(Error::UnsupportedArch {
                arch: "a".into(),
                supported: "b".into(),
            }
            .into())
        });
        assert_eq!(st, FERRITE_ERR_UNSUPPORTED);
        // A NUL inside a message cannot cut the C string short.
        let st = guard(|| Err(invalid("a\0b")));
        assert_eq!(st, FERRITE_ERR_INVALID_ARGUMENT);
        assert_eq!(last_error(), "a?b");
    }

    #[test]
    fn kv_type_values_are_checked() {
        assert_eq!(kv_type_arg(0).ok(), Some(KvType::F16));
        assert_eq!(kv_type_arg(1).ok(), Some(KvType::Q8_0));
        assert_eq!(kv_type_arg(2).ok(), Some(KvType::F32));
        assert!(kv_type_arg(3).is_err());
        assert!(kv_type_arg(-1).is_err());
    }
}
