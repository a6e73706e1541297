//! The response body. The host reads the body after the handler returns, so
//! it lives in one SDK-owned buffer that stays put until the next response:
//! [`respond`] copies into it, [`respond_with`] writes into it directly.

use core::fmt;

use crate::error::{check, Error, Result};
use crate::mem::{Global, Region};
use crate::msgpack::Sink;
use crate::sys;

static BODY: Global<Region> = Global::new(Region::new());

/// Sets the response body to a copy of `body`.
pub fn respond(body: &[u8]) -> Result<()> {
    respond_with(|w| w.push(body))
}

/// Sets the response body to what `f` writes (text with `write!`, msgpack
/// through [`crate::msgpack::Encoder`], raw bytes with [`Body::push`]).
pub fn respond_with(f: impl FnOnce(&mut Body) -> Result<()>) -> Result<()> {
    let mut body = Body { _private: () };
    BODY.with(|r| r.clear());
    f(&mut body)?;
    let (ptr, len) = BODY.with(|r| (r.ptr() as *const u8, r.len() as u32));
    // SAFETY: the body region is ours and stays unchanged until the next response.
    check(unsafe { sys::response_set_body(ptr, len) }).map(|_| ())
}

/// The response body being written (see [`respond_with`]).
pub struct Body {
    _private: (),
}

impl Body {
    /// Appends bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        if BODY.with(|r| r.push(bytes)) {
            Ok(())
        } else {
            Err(Error::OutOfMemory)
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        BODY.with(|r| r.len())
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sink for Body {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.push(bytes)
    }
}

impl fmt::Write for Body {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes()).map_err(|_| fmt::Error)
    }
}
