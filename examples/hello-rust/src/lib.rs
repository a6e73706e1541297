//! hello-rust: the smallest useful tenant -- config, kv, log and a response.
#![no_std]

use core::fmt::Write;

use edgehost_sdk::host::{self, Level};
use edgehost_sdk::{handler, respond_with, Error, Result};

/// The visit counter kept in the tenant's kv store (little-endian u32).
fn next_visit() -> Result<u32> {
    let mut buf = [0u8; 4];
    let visits = match host::kv_get(b"visits", &mut buf) {
        Ok(v) if v.len() == 4 => u32::from_le_bytes([v[0], v[1], v[2], v[3]]),
        Ok(_) | Err(Error::NotFound) => 0,
        Err(e) => return Err(e),
    };
    let visits = visits.wrapping_add(1);
    host::kv_put(b"visits", &visits.to_le_bytes())?;
    Ok(visits)
}

// "<greeting>, <body>! (visit N)": greeting from config, N counted in kv.
handler!(hello, |input: &[u8]| -> Result<()> {
    let mut cfg = [0u8; 64];
    let greeting = host::config_str("greeting", &mut cfg).unwrap_or("hello");
    let who = match core::str::from_utf8(input) {
        Ok("") => "world",
        Ok(s) => s,
        Err(_) => return Err(Error::Reject { status: 400, reason: "body is not UTF-8" }),
    };
    let visit = next_visit()?;
    host::log(Level::Info, "hello handled a request");
    host::set_header("content-type", b"text/plain")?;
    respond_with(|w| {
        write!(w, "{}, {}! (visit {})", greeting, who, visit).map_err(|_| Error::OutOfMemory)
    })
});
