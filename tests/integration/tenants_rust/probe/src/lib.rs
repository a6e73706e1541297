//! Exercises the Rust SDK end to end for tests/integration/test_rust_sdk.py.
#![no_std]

use core::fmt::Write;

use edgehost_sdk::host::{self, Level};
use edgehost_sdk::msgpack::{Decoder, Encoder, Sink, StrMap, Value};
use edgehost_sdk::scratch::frame;
use edgehost_sdk::text::LineBuf;
use edgehost_sdk::{configure, handler, json, kernel, respond, respond_with, Error, Result};

static mut CONFIGURED: u32 = 0;

configure!(|| -> Result<()> {
    // SAFETY: one thread per instance.
    unsafe { CONFIGURED += 1 };
    Ok(())
});

/// Re-encodes one msgpack value (and its children) from `d` into `e`.
fn copy<S: Sink>(d: &mut Decoder<'_>, e: &mut Encoder<'_, S>, depth: u32) -> Result<()> {
    if depth > 64 {
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
            (0..n).try_for_each(|_| copy(d, e, depth + 1))
        }
        Value::Map(n) => {
            e.map(n)?;
            (0..2 * n).try_for_each(|_| copy(d, e, depth + 1))
        }
    }
}

// msgpack in -> the same value re-encoded by the SDK's encoder.
handler!(echo_msgpack, |input: &[u8]| -> Result<()> {
    respond_with(|w| {
        let mut d = Decoder::new(input);
        copy(&mut d, &mut Encoder::new(w), 0)?;
        if d.is_done() {
            Ok(())
        } else {
            Err(Error::Decode { offset: d.position() })
        }
    })
});

// -> msgpack [method, path, query, x-probe header or nil, headers map]
handler!(request, |_i: &[u8]| -> Result<()> {
    frame(|s| {
        let (mut m, mut p, mut q, mut h) = ([0u8; 16], [0u8; 256], [0u8; 256], [0u8; 64]);
        let method = host::request_method(&mut m)?;
        let path = host::request_path(&mut p)?;
        let query = host::request_query(&mut q)?;
        let header = host::request_header("X-Probe", &mut h);
        let headers = host::request_headers_in(s)?;
        respond_with(|w| {
            let mut e = Encoder::new(w);
            e.array(5)?;
            e.bin(method)?;
            e.bin(path)?;
            e.bin(query)?;
            match header {
                Ok(v) => e.bin(v)?,
                Err(Error::NotFound) => e.nil()?,
                Err(err) => return Err(err),
            }
            let pairs = StrMap::new(headers)?;
            e.map(pairs.remaining())?;
            for pair in pairs {
                let (name, value) = pair?;
                e.str(name)?;
                e.str(value)?;
            }
            Ok(())
        })
    })
});

// The body through request_body in 7-byte pieces; must equal the input.
handler!(body_pieces, |input: &[u8]| -> Result<()> {
    frame(|s| {
        let out = s.bytes(input.len())?;
        let mut piece = [0u8; 7];
        let mut at = 0;
        while at < input.len() {
            let left = host::request_body(&mut piece, at)?;
            let n = left.min(piece.len());
            out[at..at + n].copy_from_slice(&piece[..n]);
            at += n;
        }
        respond(out)
    })
});

// -> "greeting|answer|configured-count"; TooSmall for a short buffer.
handler!(config, |_i: &[u8]| -> Result<()> {
    let mut buf = [0u8; 32];
    let greeting = host::config_str("greeting", &mut buf)?;
    let mut tiny = [0u8; 2];
    let short =
        matches!(host::config_get("greeting", &mut tiny), Err(Error::TooSmall { needed: 9 }));
    let missing = host::config_int("nope") == Err(Error::NotFound)
        && host::config_int("greeting") == Err(Error::Decode { offset: 0 });
    let answer = host::config_int("answer")?;
    // SAFETY: one thread per instance.
    let configured = unsafe { CONFIGURED };
    respond_with(|w| {
        write!(w, "{}|{}|{}|{}|{}", greeting, answer, configured, short, missing)
            .map_err(|_| Error::OutOfMemory)
    })
});

// kv: put body under "k", read back at any size, delete twice.
handler!(kv_roundtrip, |input: &[u8]| -> Result<()> {
    host::kv_put(b"k", input)?;
    frame(|s| {
        let back = host::kv_get_in(s, b"k")?;
        let same = back == input;
        host::kv_delete(b"k")?;
        let gone = host::kv_delete(b"k") == Err(Error::NotFound);
        respond_with(|w| {
            write!(w, "{}|{}|{}", back.len(), same, gone).map_err(|_| Error::OutOfMemory)
        })
    })
});

// crc32c three ways: import, kernel, and the kernel in two pieces.
handler!(crc, |input: &[u8]| -> Result<()> {
    kernel::nop()?;
    let a = host::crc32c(input, 0);
    let b = kernel::crc32c(input, 0)?;
    let (x, y) = input.split_at(input.len() / 2);
    let c = kernel::crc32c(y, kernel::crc32c(x, 0)?)?;
    respond_with(|w| write!(w, "{:08x}|{:08x}|{:08x}", a, b, c).map_err(|_| Error::OutOfMemory))
});

// Nested scratch frames, the inner one large enough to need new chunks:
// the outer frame's data must survive. -> "ok|<inner bytes>"
handler!(scratch, |input: &[u8]| -> Result<()> {
    frame(|outer| {
        let keep = outer.copy(input)?;
        let inner_len = frame(|inner| -> Result<usize> {
            let big = inner.bytes(3 << 20)?;
            big.iter_mut().for_each(|b| *b = 0xAA);
            let more = inner.slice::<u64>(1000)?;
            more[999] = 7;
            Ok(big.len() + more.len() * 8)
        })?;
        let again = outer.bytes(input.len())?;
        let intact = keep == input && again.iter().all(|&b| b == 0);
        respond_with(|w| write!(w, "{}|{}", intact, inner_len).map_err(|_| Error::OutOfMemory))
    })
});

// Random bytes, clocks and a log line: -> 32 random bytes; status from clocks.
handler!(entropy, |_i: &[u8]| -> Result<()> {
    let mut r = [0u8; 32];
    host::random_fill(&mut r);
    let t0 = host::monotonic_ns();
    let t1 = host::monotonic_ns();
    let wall = host::wall_ns();
    host::log(Level::Warn, "entropy served");
    if t1 < t0 || wall < 1_600_000_000_000_000_000 {
        return Err(Error::Invalid);
    }
    respond(&r)
});

// An error from a handler: 404 with the text, status = ERR_NOT_FOUND.
handler!(fails, |_i: &[u8]| -> Result<()> { Err(Error::NotFound) });

// Rejection: 422 with the reason, status 0.
handler!(rejects, |_i: &[u8]| -> Result<()> {
    Err(Error::Reject { status: 422, reason: "no thanks" })
});

// JSON document -> "<tokens>" or the kernel error as 400.
handler!(json_validate, |input: &[u8]| -> Result<()> {
    frame(|s| {
        let tokens = json::validate(s, input, 0)?;
        respond_with(|w| write!(w, "{}", tokens).map_err(|_| Error::OutOfMemory))
    })
});

handler!(json_minify, |input: &[u8]| -> Result<()> { frame(|s| respond(json::minify(s, input)?)) });

// "<pointer>\n<document>" -> msgpack [type name, text, offset, int or float or nil]
handler!(json_pointer, |input: &[u8]| -> Result<()> {
    let nl = input.iter().position(|&b| b == b'\n').ok_or(Error::Invalid)?;
    let ptr = core::str::from_utf8(&input[..nl]).map_err(|_| Error::Invalid)?;
    frame(|s| {
        let v = json::pointer(s, &input[nl + 1..], ptr)?;
        respond_with(|w| {
            let mut e = Encoder::new(w);
            e.array(4)?;
            let mut name = LineBuf::<16>::new();
            let _ = write!(name, "{:?}", v.kind);
            e.str(name.as_str())?;
            e.bin(v.text)?;
            e.uint(v.offset as u64)?;
            match (v.int(), v.uint(), v.float()) {
                (Some(i), _, _) => e.int(i),
                (None, Some(u), _) => e.uint(u),
                (None, None, Some(f)) => e.f64(f),
                _ => e.nil(),
            }
        })
    })
});
