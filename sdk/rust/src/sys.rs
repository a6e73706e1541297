//! Raw bindings: the `edgehost` imports of ABI v1 and the ABI's constants.
//!
//! Everything here mirrors `wasm_config/abi.py` one to one (a test,
//! `tests/unit/test_abi_rust.py`, parses this file and compares). Pointers are
//! offsets into this module's linear memory; lengths are `u32`. Prefer the safe
//! wrappers in [`crate::host`], [`crate::kernel`], [`crate::vector`] and
//! [`crate::csv`]; these functions are `unsafe` because the host traps the
//! call when a range falls outside linear memory.

/// The ABI version this crate speaks (the `edgehost_abi_v1` export).
pub const ABI_VERSION: u32 = 1;

/// Import result: no such key, header or value.
pub const ERR_NOT_FOUND: i32 = -1;
/// Import result: a bad size, key, status code or argument.
pub const ERR_INVALID: i32 = -2;
/// Import result: a per-tenant budget (kv bytes, header bytes) would be exceeded.
pub const ERR_QUOTA: i32 = -3;
/// Import result: the manifest does not allow this (e.g. a kernel).
pub const ERR_DENIED: i32 = -4;
/// Import result: the service is not available right now.
pub const ERR_UNAVAILABLE: i32 = -5;
/// Import result: the tenant's KVM guest faulted while running a kernel.
pub const ERR_GUEST_FAULT: i32 = -6;
/// Import result: the kernel ran past its deadline.
pub const ERR_TIMEOUT: i32 = -7;

/// Log level for [`log`]: debug.
pub const LOG_DEBUG: i32 = 0;
/// Log level: info.
pub const LOG_INFO: i32 = 1;
/// Log level: warn.
pub const LOG_WARN: i32 = 2;
/// Log level: error.
pub const LOG_ERROR: i32 = 3;
/// Log level: fatal.
pub const LOG_FATAL: i32 = 4;

/// Kernel id: does nothing (latency probe).
pub const KERNEL_NOP: u32 = 0;
/// Kernel id: CRC32C, `arg[0]` = seed.
pub const KERNEL_CRC32C: u32 = 1;
/// Kernel id: CSV field index.
pub const KERNEL_CSV_INDEX: u32 = 2;
/// Kernel id: CSV unescaped field values.
pub const KERNEL_CSV_FIELDS: u32 = 3;
/// Kernel id: JSON validation.
pub const KERNEL_JSON_VALIDATE: u32 = 4;
/// Kernel id: JSON minification.
pub const KERNEL_JSON_MINIFY: u32 = 5;
/// Kernel id: JSON Pointer (RFC 6901) extraction.
pub const KERNEL_JSON_POINTER: u32 = 6;
/// Kernel id: dot product.
pub const KERNEL_VEC_DOT: u32 = 7;
/// Kernel id: `alpha * x + y`.
pub const KERNEL_VEC_AXPY: u32 = 8;
/// Kernel id: sum of elements.
pub const KERNEL_VEC_SUM: u32 = 9;
/// Kernel id: Euclidean norm.
pub const KERNEL_VEC_L2NORM: u32 = 10;
/// Kernel id: squared Euclidean distance.
pub const KERNEL_VEC_L2SQ: u32 = 11;
/// Kernel id: cosine similarity.
pub const KERNEL_VEC_COSINE: u32 = 12;
/// Kernel id: matrix-vector product.
pub const KERNEL_VEC_MATVEC: u32 = 13;
/// Kernel id: top-k rows of a matrix by a metric.
pub const KERNEL_VEC_TOPK: u32 = 14;
/// Kernel id: STREAM memory bandwidth (benchmarks).
pub const KERNEL_STREAM: u32 = 15;

/// Kernel status ([`OffloadResult::status`]): success.
pub const KSTATUS_OK: i32 = 0;
/// Kernel status: bad arguments (lengths, alignment, flags).
pub const KSTATUS_EINVAL: i32 = -1;
/// Kernel status: `out_cap` too small; `out_len` holds the bytes needed.
pub const KSTATUS_ENOSPC: i32 = -2;
/// Kernel status: malformed input; `err_offset` is the byte offset.
pub const KSTATUS_EPARSE: i32 = -3;
/// Kernel status: unknown kernel or variant.
pub const KSTATUS_ENOTSUP: i32 = -4;
/// Kernel status: nesting deeper than the limit.
pub const KSTATUS_EDEPTH: i32 = -5;
/// Kernel status: e.g. a JSON pointer that names no value.
pub const KSTATUS_ENOTFOUND: i32 = -6;

/// The offload request as laid out in linear memory (64 bytes, little-endian).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OffloadRequest {
    /// Kernel id (`KERNEL_*`).
    pub kernel: u32,
    /// Kernel-specific flags.
    pub flags: u32,
    /// Kernel-specific scalars.
    pub arg: [u64; 4],
    /// Primary input (offset in linear memory).
    pub r#in: u32,
    /// Primary input length in bytes.
    pub in_len: u32,
    /// Secondary input (offset).
    pub in2: u32,
    /// Secondary input length in bytes.
    pub in2_len: u32,
    /// Output buffer (offset).
    pub out: u32,
    /// Output buffer capacity in bytes.
    pub out_cap: u32,
}

/// The offload result the host writes back (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OffloadResult {
    /// Kernel status (`KSTATUS_*`): 0 ok, negative on error.
    pub status: i32,
    /// Kernel-specific error kind.
    pub detail: u32,
    /// Scalar result (crc, count, float bits, ...).
    pub value: u64,
    /// Bytes written to `out` (or needed, with `KSTATUS_ENOSPC`).
    pub out_len: u64,
    /// Byte offset of a parse error.
    pub err_offset: u64,
}

const _: () = assert!(core::mem::size_of::<OffloadRequest>() == 64);
const _: () = assert!(core::mem::size_of::<OffloadResult>() == 32);

#[link(wasm_import_module = "edgehost")]
extern "C" {
    /// Does nothing; the floor of a host call.
    pub fn abi_nop();
    /// `log(level, ptr, len)`: one log line (truncated past 512 bytes).
    pub fn log(level: i32, ptr: *const u8, len: u32);
    /// Monotonic clock in nanoseconds.
    pub fn time_monotonic_ns() -> i64;
    /// Wall clock in nanoseconds since the Unix epoch.
    pub fn time_wall_ns() -> i64;
    /// Fills `[ptr, ptr+len)` with cryptographic random bytes; returns 0.
    pub fn random_fill(ptr: *mut u8, len: u32) -> i32;
    /// CRC32C of `[ptr, ptr+len)` continuing from `seed` (u32 in i32).
    pub fn crc32c(ptr: *const u8, len: u32, seed: u32) -> u32;
    /// The manifest's config value for a key, msgpack-encoded (copy-out rule).
    pub fn config_get(key: *const u8, key_len: u32, out: *mut u8, cap: u32) -> i32;
    /// The tenant kv value for a key (copy-out rule).
    pub fn kv_get(key: *const u8, key_len: u32, out: *mut u8, cap: u32) -> i32;
    /// Stores a kv value; 0, `ERR_INVALID` or `ERR_QUOTA`.
    pub fn kv_put(key: *const u8, key_len: u32, val: *const u8, val_len: u32) -> i32;
    /// Deletes a kv value; 0 or `ERR_NOT_FOUND`.
    pub fn kv_delete(key: *const u8, key_len: u32) -> i32;
    /// The request method (copy-out rule).
    pub fn request_method(out: *mut u8, cap: u32) -> i32;
    /// The request path (copy-out rule).
    pub fn request_path(out: *mut u8, cap: u32) -> i32;
    /// The raw query string without `?` (copy-out rule).
    pub fn request_query(out: *mut u8, cap: u32) -> i32;
    /// One request header, case-insensitive (copy-out rule; `ERR_NOT_FOUND`).
    pub fn request_header(name: *const u8, name_len: u32, out: *mut u8, cap: u32) -> i32;
    /// All request headers as a msgpack map str -> str (copy-out rule).
    pub fn request_headers(out: *mut u8, cap: u32) -> i32;
    /// Copies the body from `offset`; returns the bytes remaining from `offset`.
    pub fn request_body(out: *mut u8, cap: u32, offset: u32) -> i32;
    /// Sets the HTTP status (100..=599, else `ERR_INVALID`).
    pub fn response_set_status(status: i32) -> i32;
    /// Adds a response header (`ERR_INVALID` for CR/LF/NUL, `ERR_QUOTA` past 4 KiB).
    pub fn response_set_header(name: *const u8, name_len: u32, val: *const u8, val_len: u32)
        -> i32;
    /// The response body, read by the host after the handler returns.
    pub fn response_set_body(ptr: *const u8, len: u32) -> i32;
    /// Runs a native kernel: request at `req`, result written at `res`.
    pub fn offload(req: *const OffloadRequest, res: *mut OffloadResult) -> i32;
}
