//! The JSON kernels (conventions in native_modules/kernels/json/json.h):
//! validation, minification and RFC 6901 pointers. Each needs working memory
//! in its output buffer; these wrappers size it from the kernel's own answer
//! in a [`Scratch`] frame.

use crate::error::{Error, Result};
use crate::kernel::{run, Call, Kernel, Output};
use crate::scratch::Scratch;
use crate::sys;

/// What a JSON pointer found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    /// `null`
    Null,
    /// `false`
    False,
    /// `true`
    True,
    /// A string (its text keeps the quotes and escapes).
    String,
    /// An integer that fits `i64` ([`JsonValue::int`]).
    Int64,
    /// An integer that fits only `u64` ([`JsonValue::uint`]).
    Uint64,
    /// An integer too large for 64 bits (text only).
    BigInt,
    /// A number with a fraction or exponent ([`JsonValue::float`]).
    Double,
    /// An array.
    Array,
    /// An object.
    Object,
    /// A number whose rounding the kernel could not prove: convert the text.
    DoubleText,
}

impl JsonType {
    fn from_detail(d: u32) -> Result<JsonType> {
        Ok(match d {
            sys::JSON_T_NULL => JsonType::Null,
            sys::JSON_T_FALSE => JsonType::False,
            sys::JSON_T_TRUE => JsonType::True,
            sys::JSON_T_STRING => JsonType::String,
            sys::JSON_T_INT64 => JsonType::Int64,
            sys::JSON_T_UINT64 => JsonType::Uint64,
            sys::JSON_T_BIGINT => JsonType::BigInt,
            sys::JSON_T_DOUBLE => JsonType::Double,
            sys::JSON_T_ARRAY => JsonType::Array,
            sys::JSON_T_OBJECT => JsonType::Object,
            sys::JSON_T_DOUBLE_TEXT => JsonType::DoubleText,
            _ => return Err(Error::Invalid),
        })
    }
}

/// A value a pointer selected: its exact text in the document and its type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsonValue<'s> {
    /// The value's JSON text, exactly as in the document.
    pub text: &'s [u8],
    /// Its type.
    pub kind: JsonType,
    /// Its byte offset in the document.
    pub offset: usize,
    bits: u64,
}

impl JsonValue<'_> {
    /// The integer, for [`JsonType::Int64`].
    pub fn int(&self) -> Option<i64> {
        (self.kind == JsonType::Int64).then(|| self.bits as i64)
    }

    /// The integer, for [`JsonType::Uint64`] (and non-negative `Int64`).
    pub fn uint(&self) -> Option<u64> {
        match self.kind {
            JsonType::Uint64 => Some(self.bits),
            JsonType::Int64 => u64::try_from(self.bits as i64).ok(),
            _ => None,
        }
    }

    /// The number as the nearest double, for [`JsonType::Double`] and integers.
    pub fn float(&self) -> Option<f64> {
        match self.kind {
            JsonType::Double => Some(f64::from_bits(self.bits)),
            JsonType::Int64 => Some(self.bits as i64 as f64),
            JsonType::Uint64 => Some(self.bits as f64),
            _ => None,
        }
    }
}

/// Runs a JSON kernel with an output buffer grown to what it asks for:
/// first its working memory, then `extra(scratch)` more for the result.
fn sized<'s>(
    s: &'s Scratch,
    call: Call,
    doc: &[u8],
    ptr: &[u8],
    extra: usize,
) -> Result<(Output, &'s [u8])> {
    let mut cap = 0usize;
    let mut grown = false;
    loop {
        let words = s.slice::<u32>((cap + 3) / 4)?;
        // SAFETY: u32 has no padding; u8 has alignment 1.
        let out = unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, cap) };
        match run(call, doc, ptr, out) {
            Ok(o) => return Ok((o, &out[..o.out_len.min(cap)])),
            Err(Error::TooSmall { needed }) if needed > cap => {
                // The first answer is the working memory alone; add room for
                // the result once, then trust the exact size reported.
                cap = if grown { needed } else { needed.saturating_add(extra) };
                grown = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Validates `doc` (`max_depth` 0 = 1024); returns its structural tokens.
/// Malformed input is [`Error::Kernel`] with the byte offset and kind.
pub fn validate(s: &Scratch, doc: &[u8], max_depth: u32) -> Result<u64> {
    let mut call = Call::new(Kernel::JsonValidate);
    call.arg[0] = u64::from(max_depth);
    sized(s, call, doc, &[], 0).map(|(o, _)| o.value)
}

/// `doc` without whitespace outside strings, in scratch memory.
pub fn minify<'s>(s: &'s Scratch, doc: &[u8]) -> Result<&'s [u8]> {
    sized(s, Call::new(Kernel::JsonMinify), doc, &[], doc.len()).map(|(_, out)| out)
}

/// The value at RFC 6901 `pointer` ("" = the whole document, "/a/0");
/// [`Error::Kernel`] with status `KSTATUS_ENOTFOUND` when nothing is there.
pub fn pointer<'s>(s: &'s Scratch, doc: &[u8], pointer: &str) -> Result<JsonValue<'s>> {
    let call = Call::new(Kernel::JsonPointer);
    // The tape takes 8 bytes per token; a token is at least one byte.
    let extra = doc.len().saturating_mul(8).saturating_add(doc.len());
    let (o, text) = sized(s, call, doc, pointer.as_bytes(), extra)?;
    let kind = JsonType::from_detail(o.detail)?;
    Ok(JsonValue { text, kind, offset: o.offset as usize, bits: o.value })
}
