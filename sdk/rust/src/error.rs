//! The one error type of the SDK: ABI error codes plus what the SDK itself
//! can detect (short buffers, malformed msgpack, kernel failures).

use core::fmt;

use crate::sys;

/// Result with the SDK's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

/// Everything a host call, a kernel or the SDK can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `ERR_NOT_FOUND`: no such key, header or value.
    NotFound,
    /// `ERR_INVALID`: a bad size, key, status or argument.
    Invalid,
    /// `ERR_QUOTA`: a per-tenant budget would be exceeded; nothing changed.
    Quota,
    /// `ERR_DENIED`: the manifest does not allow it (e.g. the kernel).
    Denied,
    /// `ERR_UNAVAILABLE`: the service is not available right now.
    Unavailable,
    /// `ERR_GUEST_FAULT`: the tenant's KVM guest faulted.
    GuestFault,
    /// `ERR_TIMEOUT`: the kernel ran past its deadline.
    Timeout,
    /// A negative import result this SDK version does not know.
    Code(i32),
    /// A value did not fit the buffer; `needed` bytes would.
    TooSmall {
        /// Bytes the value needs.
        needed: usize,
    },
    /// The SDK could not take more linear memory (`memory.grow` failed).
    OutOfMemory,
    /// Malformed or unexpected msgpack (or UTF-8) at byte `offset`.
    Decode {
        /// Byte offset in the decoded buffer.
        offset: usize,
    },
    /// A kernel ran and reported an error status (`KSTATUS_*`).
    Kernel {
        /// The kernel's status code (negative).
        status: i32,
        /// Kernel-specific error kind.
        detail: u32,
        /// Byte offset of a parse error in the kernel's input.
        offset: u64,
    },
    /// The handler rejects the request: the HTTP `status` and a short reason
    /// become the response; the handler itself succeeds (returns 0).
    Reject {
        /// HTTP status, e.g. 400.
        status: u16,
        /// Response body.
        reason: &'static str,
    },
}

impl Error {
    /// Maps a negative import result to an error (`ERR_*` codes).
    pub fn from_code(code: i32) -> Error {
        match code {
            sys::ERR_NOT_FOUND => Error::NotFound,
            sys::ERR_INVALID => Error::Invalid,
            sys::ERR_QUOTA => Error::Quota,
            sys::ERR_DENIED => Error::Denied,
            sys::ERR_UNAVAILABLE => Error::Unavailable,
            sys::ERR_GUEST_FAULT => Error::GuestFault,
            sys::ERR_TIMEOUT => Error::Timeout,
            other => Error::Code(other),
        }
    }

    /// The ABI code of an import error, if this is one.
    pub fn code(&self) -> Option<i32> {
        Some(match *self {
            Error::NotFound => sys::ERR_NOT_FOUND,
            Error::Invalid => sys::ERR_INVALID,
            Error::Quota => sys::ERR_QUOTA,
            Error::Denied => sys::ERR_DENIED,
            Error::Unavailable => sys::ERR_UNAVAILABLE,
            Error::GuestFault => sys::ERR_GUEST_FAULT,
            Error::Timeout => sys::ERR_TIMEOUT,
            Error::Code(c) => c,
            _ => return None,
        })
    }

    /// The HTTP status a handler answers with when it fails with this error.
    pub fn http_status(&self) -> u16 {
        match *self {
            Error::NotFound => 404,
            Error::Invalid | Error::Decode { .. } => 400,
            Error::Kernel { status, .. } if status == sys::KSTATUS_ENOTFOUND => 404,
            Error::Kernel { status, .. }
                if matches!(
                    status,
                    sys::KSTATUS_EPARSE | sys::KSTATUS_EDEPTH | sys::KSTATUS_EINVAL
                ) =>
            {
                400
            }
            Error::Quota | Error::TooSmall { .. } => 413,
            Error::Denied => 403,
            Error::Unavailable => 503,
            Error::Timeout => 504,
            Error::Reject { status, .. } => status,
            _ => 500,
        }
    }
}

/// `Ok(n)` for a non-negative import result, the mapped error otherwise.
pub fn check(rc: i32) -> Result<usize> {
    if rc < 0 {
        Err(Error::from_code(rc))
    } else {
        Ok(rc as usize)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NotFound => f.write_str("not found"),
            Error::Invalid => f.write_str("invalid argument"),
            Error::Quota => f.write_str("quota exceeded"),
            Error::Denied => f.write_str("denied by the manifest"),
            Error::Unavailable => f.write_str("unavailable"),
            Error::GuestFault => f.write_str("kernel guest faulted"),
            Error::Timeout => f.write_str("kernel timed out"),
            Error::Code(c) => write!(f, "host error code {}", c),
            Error::TooSmall { needed } => write!(f, "buffer too small ({} bytes needed)", needed),
            Error::OutOfMemory => f.write_str("out of linear memory"),
            Error::Decode { offset } => write!(f, "malformed msgpack at byte {}", offset),
            Error::Kernel { status, detail, offset } => write!(
                f,
                "kernel error: {} (status {}, detail {}) at byte {}",
                sys::kernel_status_text(status).unwrap_or("unknown status"),
                status,
                detail,
                offset
            ),
            Error::Reject { reason, .. } => f.write_str(reason),
        }
    }
}
