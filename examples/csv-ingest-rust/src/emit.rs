//! Writing one CSV value as JSON or msgpack.

use edgehost_sdk::msgpack::{Encoder, Sink};
use edgehost_sdk::response::Body;
use edgehost_sdk::{Error, Result};

/// Whether `s` is a JSON number (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`).
pub fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if s.first() == Some(&b'-') {
        i += 1;
    }
    if s.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return false;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+') | Some(b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == s.len()
}

fn utf8(v: &[u8]) -> Result<&str> {
    core::str::from_utf8(v).map_err(|_| Error::Reject { status: 400, reason: "CSV is not UTF-8" })
}

/// `v` as a JSON string literal.
pub fn json_str(w: &mut Body, v: &[u8]) -> Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    utf8(v)?;
    w.push(b"\"")?;
    let mut start = 0;
    for (i, &c) in v.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[],
            _ => continue,
        };
        w.push(&v[start..i])?;
        if esc.is_empty() {
            w.push(&[b'\\', b'u', b'0', b'0', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]])?;
        } else {
            w.push(esc)?;
        }
        start = i + 1;
    }
    w.push(&v[start..])?;
    w.push(b"\"")
}

/// A field as a JSON value: number (when allowed and numeric), null (empty
/// unquoted) or string.
pub fn json_value(w: &mut Body, v: &[u8], quoted: bool, numbers: bool) -> Result<()> {
    if !quoted && v.is_empty() {
        w.push(b"null")
    } else if !quoted && numbers && is_json_number(v) {
        w.push(v)
    } else {
        json_str(w, v)
    }
}

/// A field as a msgpack value, with the same rules as [`json_value`].
pub fn msgpack_value<S: Sink>(
    e: &mut Encoder<'_, S>,
    v: &[u8],
    quoted: bool,
    numbers: bool,
) -> Result<()> {
    if !quoted && v.is_empty() {
        return e.nil();
    }
    let text = utf8(v)?;
    if !quoted && numbers && is_json_number(v) {
        if let Ok(i) = text.parse::<i64>() {
            return e.int(i);
        }
        if let Ok(f) = text.parse::<f64>() {
            return e.f64(f);
        }
    }
    e.str(text)
}
