//! Declaring exports: [`handler!`](crate::handler!) for request handlers,
//! [`configure!`](crate::configure!) for the configure hook, and
//! [`Outcome`], which turns what a handler returns into its status.

use core::fmt::Write;

use crate::error::{Error, Result};
use crate::host::{self, Level};
use crate::response;
use crate::text::LineBuf;

/// What a handler may return: `()`, an `i32` status, or a `Result` of those.
///
/// `Err(e)` answers with `e.http_status()` and the error's text as the body,
/// logs it, and returns a non-zero status (the ABI code for host errors, 1
/// otherwise); [`Error::Reject`] answers the same way but counts as handled
/// (status 0).
pub trait Outcome {
    /// The handler's return value for the host.
    fn finish(self, export: &str) -> i32;
}

impl Outcome for () {
    fn finish(self, _: &str) -> i32 {
        0
    }
}

impl Outcome for i32 {
    fn finish(self, _: &str) -> i32 {
        self
    }
}

impl<T: Outcome> Outcome for Result<T> {
    fn finish(self, export: &str) -> i32 {
        match self {
            Ok(v) => v.finish(export),
            Err(e) => fail(export, e),
        }
    }
}

fn fail(export: &str, e: Error) -> i32 {
    // Best effort: the status and body are what the caller sees.
    let _ = host::set_status(e.http_status());
    let _ = response::respond_with(|w| write!(w, "{}", e).map_err(|_| Error::OutOfMemory));
    if let Error::Reject { .. } = e {
        return 0;
    }
    let mut line = LineBuf::<256>::new();
    let _ = write!(line, "{} failed: {}", export, e);
    host::log(Level::Error, line.as_str());
    e.code().unwrap_or(1)
}

/// The configure hook's return value: 0, or 1 after logging why not.
pub fn configured(r: Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            let mut line = LineBuf::<256>::new();
            let _ = write!(line, "configuration rejected: {}", e);
            host::log(Level::Error, line.as_str());
            1
        }
    }
}

/// The input the host wrote for a handler call.
///
/// # Safety
/// `ptr`/`len` must be the arguments the host passed to the handler.
pub unsafe fn input<'a>(ptr: i32, len: i32) -> &'a [u8] {
    if ptr == 0 || len == 0 {
        return &[];
    }
    core::slice::from_raw_parts(ptr as u32 as usize as *const u8, len as u32 as usize)
}

/// Exports a request handler `name(ptr, len) -> i32` running `body`, a
/// closure from the input bytes to an [`Outcome`]:
///
/// ```ignore
/// edgehost_sdk::handler!(echo, |input: &[u8]| -> edgehost_sdk::Result<()> {
///     edgehost_sdk::respond(input)
/// });
/// ```
#[macro_export]
macro_rules! handler {
    ($name:ident, $body:expr) => {
        #[no_mangle]
        pub extern "C" fn $name(ptr: i32, len: i32) -> i32 {
            // SAFETY: the host wrote `len` input bytes at `ptr` (edgehost_alloc).
            let input: &[u8] = unsafe { $crate::handler::input(ptr, len) };
            $crate::handler::Outcome::finish(($body)(input), stringify!($name))
        }
    };
}

/// Exports the optional `edgehost_configure` hook: `body` is a closure
/// `|| -> Result<()>` run once per new instance; an error rejects the
/// configuration.
#[macro_export]
macro_rules! configure {
    ($body:expr) => {
        #[no_mangle]
        pub extern "C" fn edgehost_configure() -> i32 {
            $crate::handler::configured(($body)())
        }
    };
}
