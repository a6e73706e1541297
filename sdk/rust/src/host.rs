//! Safe wrappers over the host imports: slices in, [`Result`] out.
//!
//! Getters follow the ABI's copy-out rule: they return the value as a slice
//! of `out` when it fits and [`Error::TooSmall`] with the needed size when it
//! does not. The `*_in` variants fetch into a [`Scratch`] frame at any size.

use crate::error::{check, Error, Result};
use crate::msgpack::Decoder;
use crate::scratch::Scratch;
use crate::sys;

/// Log levels of the `log` import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    /// Debugging detail.
    Debug = sys::LOG_DEBUG,
    /// Normal operation.
    Info = sys::LOG_INFO,
    /// Something unexpected but handled.
    Warn = sys::LOG_WARN,
    /// A failed request.
    Error = sys::LOG_ERROR,
    /// The tenant cannot go on (used by the panic handler).
    Fatal = sys::LOG_FATAL,
}

fn len32(s: &[u8]) -> u32 {
    // Linear memory is at most 4 GiB, so a slice length always fits.
    s.len() as u32
}

fn ptr_or_null(s: &[u8]) -> *const u8 {
    if s.is_empty() {
        core::ptr::null()
    } else {
        s.as_ptr()
    }
}

fn out_ptr(s: &mut [u8]) -> *mut u8 {
    if s.is_empty() {
        core::ptr::null_mut()
    } else {
        s.as_mut_ptr()
    }
}

/// The copy-out rule: `rc` is the full length of a value written to `out`.
fn fitted(rc: i32, out: &mut [u8]) -> Result<&mut [u8]> {
    let n = check(rc)?;
    if n > out.len() {
        return Err(Error::TooSmall { needed: n });
    }
    Ok(&mut out[..n])
}

/// Calls `get(out)` with a scratch buffer until the value fits. The buffer
/// is 8-byte aligned, so the value can be viewed as numbers in place.
fn fetch_in<'s>(s: &'s Scratch, mut get: impl FnMut(&mut [u8]) -> i32) -> Result<&'s mut [u8]> {
    let mut cap = 256;
    loop {
        let words = s.slice::<u64>((cap + 7) / 8)?;
        // SAFETY: u64 has no padding and u8 has alignment 1.
        let buf = unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, cap) };
        let n = check(get(buf))?;
        if n <= buf.len() {
            return Ok(&mut buf[..n]);
        }
        cap = n;
    }
}

/// Writes one log line (the host truncates past 512 bytes and rate-limits).
pub fn log(level: Level, msg: &str) {
    // SAFETY: msg is a valid slice of linear memory.
    unsafe { sys::log(level as i32, ptr_or_null(msg.as_bytes()), len32(msg.as_bytes())) }
}

/// Monotonic clock in nanoseconds.
pub fn monotonic_ns() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::time_monotonic_ns() as u64 }
}

/// Wall clock in nanoseconds since the Unix epoch.
pub fn wall_ns() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::time_wall_ns() as u64 }
}

/// Fills `buf` with cryptographic random bytes.
pub fn random_fill(buf: &mut [u8]) {
    let n = len32(buf);
    // SAFETY: buf is a valid, writable slice.
    unsafe { sys::random_fill(out_ptr(buf), n) };
}

/// CRC32C of `data` continuing from `seed` (0 to start), honouring the
/// tenant's isolation.
pub fn crc32c(data: &[u8], seed: u32) -> u32 {
    // SAFETY: data is a valid slice.
    unsafe { sys::crc32c(ptr_or_null(data), len32(data), seed) }
}

/// The manifest's `[config]` value for `key`, msgpack-encoded, in `out`.
pub fn config_get<'o>(key: &str, out: &'o mut [u8]) -> Result<&'o mut [u8]> {
    let k = key.as_bytes();
    let cap = len32(out);
    // SAFETY: key and out are valid slices.
    let rc = unsafe { sys::config_get(ptr_or_null(k), len32(k), out_ptr(out), cap) };
    fitted(rc, out)
}

/// A string config value, decoded in place in `buf`.
pub fn config_str<'o>(key: &str, buf: &'o mut [u8]) -> Result<&'o str> {
    let raw: &'o [u8] = config_get(key, buf)?;
    Decoder::new(raw).str()
}

/// An integer config value (`NotFound`, or `Decode` when it is not an integer).
pub fn config_int(key: &str) -> Result<i64> {
    let mut buf = [0u8; 16]; // any msgpack integer fits in 9 bytes
    match config_get(key, &mut buf) {
        Ok(raw) => Decoder::new(raw).int(),
        Err(Error::TooSmall { .. }) => Err(Error::Decode { offset: 0 }),
        Err(e) => Err(e),
    }
}

/// The kv value for `key`, copied into `out`.
pub fn kv_get<'o>(key: &[u8], out: &'o mut [u8]) -> Result<&'o mut [u8]> {
    let cap = len32(out);
    // SAFETY: key and out are valid slices.
    let rc = unsafe { sys::kv_get(ptr_or_null(key), len32(key), out_ptr(out), cap) };
    fitted(rc, out)
}

/// The kv value for `key` at any size, in scratch memory (8-byte aligned).
pub fn kv_get_in<'s>(s: &'s Scratch, key: &[u8]) -> Result<&'s mut [u8]> {
    fetch_in(s, |out| {
        let cap = len32(out);
        // SAFETY: key and out are valid slices.
        unsafe { sys::kv_get(ptr_or_null(key), len32(key), out_ptr(out), cap) }
    })
}

/// Stores `val` under `key` (`Invalid` for bad sizes, `Quota` over budget).
pub fn kv_put(key: &[u8], val: &[u8]) -> Result<()> {
    // SAFETY: key and val are valid slices.
    check(unsafe { sys::kv_put(ptr_or_null(key), len32(key), ptr_or_null(val), len32(val)) })
        .map(|_| ())
}

/// Deletes `key` (`NotFound` if absent).
pub fn kv_delete(key: &[u8]) -> Result<()> {
    // SAFETY: key is a valid slice.
    check(unsafe { sys::kv_delete(ptr_or_null(key), len32(key)) }).map(|_| ())
}

/// The request method (e.g. `POST`) in `out`.
pub fn request_method(out: &mut [u8]) -> Result<&mut [u8]> {
    let cap = len32(out);
    // SAFETY: out is a valid slice.
    fitted(unsafe { sys::request_method(out_ptr(out), cap) }, out)
}

/// The request path in `out`.
pub fn request_path(out: &mut [u8]) -> Result<&mut [u8]> {
    let cap = len32(out);
    // SAFETY: out is a valid slice.
    fitted(unsafe { sys::request_path(out_ptr(out), cap) }, out)
}

/// The raw query string (no `?`) in `out`.
pub fn request_query(out: &mut [u8]) -> Result<&mut [u8]> {
    let cap = len32(out);
    // SAFETY: out is a valid slice.
    fitted(unsafe { sys::request_query(out_ptr(out), cap) }, out)
}

/// One request header (case-insensitive name) in `out`; `NotFound` if absent.
pub fn request_header<'o>(name: &str, out: &'o mut [u8]) -> Result<&'o mut [u8]> {
    let n = name.as_bytes();
    let cap = len32(out);
    // SAFETY: name and out are valid slices.
    fitted(unsafe { sys::request_header(ptr_or_null(n), len32(n), out_ptr(out), cap) }, out)
}

/// All request headers as a msgpack map (names lower-cased), in scratch memory.
pub fn request_headers_in(s: &Scratch) -> Result<&mut [u8]> {
    fetch_in(s, |out| {
        let cap = len32(out);
        // SAFETY: out is a valid slice.
        unsafe { sys::request_headers(out_ptr(out), cap) }
    })
}

/// Copies the request body from `offset` into `out`; returns the bytes that
/// remain from `offset` (which may exceed `out.len()`).
pub fn request_body(out: &mut [u8], offset: usize) -> Result<usize> {
    let cap = len32(out);
    let off = u32::try_from(offset).map_err(|_| Error::Invalid)?;
    // SAFETY: out is a valid slice.
    check(unsafe { sys::request_body(out_ptr(out), cap, off) })
}

/// Sets the HTTP status (100..=599).
pub fn set_status(status: u16) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { sys::response_set_status(i32::from(status)) }).map(|_| ())
}

/// Adds a response header (`Invalid` for CR/LF/NUL, `Quota` past 4 KiB).
pub fn set_header(name: &str, value: &[u8]) -> Result<()> {
    let n = name.as_bytes();
    // SAFETY: name and value are valid slices.
    check(unsafe {
        sys::response_set_header(ptr_or_null(n), len32(n), ptr_or_null(value), len32(value))
    })
    .map(|_| ())
}
