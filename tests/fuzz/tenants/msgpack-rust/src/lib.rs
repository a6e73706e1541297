//! Walks ONE msgpack value of the request body with the SDK's `Decoder`
//! and re-encodes it canonically with its `Encoder`, for the differential
//! test against the msgpack package (tests/fuzz/test_msgpack_rust.py).
//! Answers `ok CONSUMED HEX` or `error`, the format of
//! tests/fuzz/msgpack_fuzz.c's replay build.
#![no_std]

use core::fmt::Write;

use edgehost_sdk::msgpack::{Decoder, Encoder, Sink, Value};
use edgehost_sdk::response::respond_with;
use edgehost_sdk::scratch::frame;
use edgehost_sdk::{handler, Error, Result};

const MAX_DEPTH: u32 = 1000;

/// Re-encodes one value (and its children) from `d` into `e`.
fn walk<S: Sink>(d: &mut Decoder<'_>, e: &mut Encoder<'_, S>, depth: u32) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Invalid);
    }
    match d.next()? {
        Value::Nil => e.nil(),
        Value::Bool(b) => e.bool(b),
        Value::Int(i) => e.int(i),
        Value::Uint(u) => e.uint(u),
        Value::Float(f) => e.f64(f),
        Value::Str(s) => e.str(s),
        Value::Bin(b) => e.bin(b),
        Value::Ext(..) => Err(Error::Invalid),
        Value::Array(n) => {
            e.array(n)?;
            (0..n).try_for_each(|_| walk(d, e, depth + 1))
        }
        Value::Map(n) => {
            e.map(n)?;
            let items = n.checked_mul(2).ok_or(Error::Invalid)?;
            (0..items).try_for_each(|_| walk(d, e, depth + 1))
        }
    }
}

handler!(canon, |input: &[u8]| -> Result<()> {
    frame(|s| {
        // float32 -> float64 is the largest growth: 5 -> 9 bytes
        let buf = s.bytes(2 * input.len() + 16)?;
        let mut sink = edgehost_sdk::msgpack::SliceSink::new(buf);
        let mut d = Decoder::new(input);
        let ok = walk(&mut d, &mut Encoder::new(&mut sink), 0).is_ok();
        let used = d.position();
        let canon = sink.written();
        respond_with(|w| {
            if !ok {
                return w.write_str("error").map_err(|_| Error::OutOfMemory);
            }
            write!(w, "ok {} ", used).map_err(|_| Error::OutOfMemory)?;
            canon.iter().try_for_each(|b| write!(w, "{:02x}", b)).map_err(|_| Error::OutOfMemory)
        })
    })
});
