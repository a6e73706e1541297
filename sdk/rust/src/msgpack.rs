//! A small msgpack encoder and zero-copy decoder for the ABI's shapes
//! (config values, request headers, tenant payloads). No allocation: the
//! encoder writes into any [`Sink`], the decoder borrows from its input.

use crate::error::{Error, Result};

/// Where encoded bytes go.
pub trait Sink {
    /// Appends `bytes`, or fails (e.g. a full buffer).
    fn put(&mut self, bytes: &[u8]) -> Result<()>;
}

/// A [`Sink`] over a fixed buffer; overflowing it is [`Error::TooSmall`].
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// An empty sink writing into `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceSink { buf, len: 0 }
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self.len + bytes.len();
        if end > self.buf.len() {
            return Err(Error::TooSmall { needed: end });
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Writes msgpack values (smallest encoding for each) into a [`Sink`].
pub struct Encoder<'s, S: Sink> {
    sink: &'s mut S,
}

impl<'s, S: Sink> Encoder<'s, S> {
    /// An encoder appending to `sink`.
    pub fn new(sink: &'s mut S) -> Self {
        Encoder { sink }
    }

    fn tagged(&mut self, tag: u8, be: &[u8]) -> Result<()> {
        self.sink.put(&[tag])?;
        self.sink.put(be)
    }

    fn sized(&mut self, n: usize, fix: Option<(u8, usize)>, tags: [u8; 3]) -> Result<()> {
        match fix {
            Some((base, max)) if n <= max => self.sink.put(&[base | n as u8]),
            _ if n <= 0xff && tags[0] != 0 => self.tagged(tags[0], &[n as u8]),
            _ if n <= 0xffff => self.tagged(tags[1], &(n as u16).to_be_bytes()),
            _ => {
                let n32 = u32::try_from(n).map_err(|_| Error::Invalid)?;
                self.tagged(tags[2], &n32.to_be_bytes())
            }
        }
    }

    /// `nil`.
    pub fn nil(&mut self) -> Result<()> {
        self.sink.put(&[0xc0])
    }

    /// A boolean.
    pub fn bool(&mut self, v: bool) -> Result<()> {
        self.sink.put(&[if v { 0xc3 } else { 0xc2 }])
    }

    /// An unsigned integer.
    pub fn uint(&mut self, v: u64) -> Result<()> {
        if v < 0x80 {
            self.sink.put(&[v as u8])
        } else if v <= 0xff {
            self.tagged(0xcc, &[v as u8])
        } else if v <= 0xffff {
            self.tagged(0xcd, &(v as u16).to_be_bytes())
        } else if v <= 0xffff_ffff {
            self.tagged(0xce, &(v as u32).to_be_bytes())
        } else {
            self.tagged(0xcf, &v.to_be_bytes())
        }
    }

    /// A signed integer.
    pub fn int(&mut self, v: i64) -> Result<()> {
        if v >= 0 {
            self.uint(v as u64)
        } else if v >= -32 {
            self.sink.put(&[v as i8 as u8])
        } else if v >= i64::from(i8::MIN) {
            self.tagged(0xd0, &(v as i8).to_be_bytes())
        } else if v >= i64::from(i16::MIN) {
            self.tagged(0xd1, &(v as i16).to_be_bytes())
        } else if v >= i64::from(i32::MIN) {
            self.tagged(0xd2, &(v as i32).to_be_bytes())
        } else {
            self.tagged(0xd3, &v.to_be_bytes())
        }
    }

    /// A float32.
    pub fn f32(&mut self, v: f32) -> Result<()> {
        self.tagged(0xca, &v.to_bits().to_be_bytes())
    }

    /// A float64.
    pub fn f64(&mut self, v: f64) -> Result<()> {
        self.tagged(0xcb, &v.to_bits().to_be_bytes())
    }

    /// A UTF-8 string.
    pub fn str(&mut self, v: &str) -> Result<()> {
        self.sized(v.len(), Some((0xa0, 31)), [0xd9, 0xda, 0xdb])?;
        self.sink.put(v.as_bytes())
    }

    /// A byte string.
    pub fn bin(&mut self, v: &[u8]) -> Result<()> {
        self.sized(v.len(), None, [0xc4, 0xc5, 0xc6])?;
        self.sink.put(v)
    }

    /// The header of an array of `n` values (write the values next).
    pub fn array(&mut self, n: usize) -> Result<()> {
        self.sized(n, Some((0x90, 15)), [0, 0xdc, 0xdd])
    }

    /// The header of a map of `n` pairs (write key, value, key, value, ...).
    pub fn map(&mut self, n: usize) -> Result<()> {
        self.sized(n, Some((0x80, 15)), [0, 0xde, 0xdf])
    }
}

/// One decoded msgpack item. Arrays and maps give their length; their
/// elements follow in the stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    Uint(u64),
    /// A float32 or float64, widened.
    Float(f64),
    /// A UTF-8 string.
    Str(&'a str),
    /// A byte string.
    Bin(&'a [u8]),
    /// An array header: that many values follow.
    Array(usize),
    /// A map header: that many key/value pairs follow.
    Map(usize),
    /// An extension value (type, data).
    Ext(i8, &'a [u8]),
}

/// Reads msgpack values from a byte slice without copying.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte was consumed.
    pub fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn err(&self) -> Error {
        Error::Decode { offset: self.pos }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Error::Decode { offset: self.pos })?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Decode { offset: self.pos })?;
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn uint_value(v: u64) -> Value<'a> {
        if v <= i64::MAX as u64 {
            Value::Int(v as i64)
        } else {
            Value::Uint(v)
        }
    }

    fn str_of(&mut self, n: usize) -> Result<Value<'a>> {
        let at = self.pos;
        let raw = self.take(n)?;
        core::str::from_utf8(raw).map(Value::Str).map_err(|_| Error::Decode { offset: at })
    }

    /// The next item.
    pub fn next(&mut self) -> Result<Value<'a>> {
        let at = self.pos;
        let tag = self.take(1)?[0];
        let v = match tag {
            0x00..=0x7f => Value::Int(i64::from(tag)),
            0x80..=0x8f => Value::Map(usize::from(tag & 0x0f)),
            0x90..=0x9f => Value::Array(usize::from(tag & 0x0f)),
            0xa0..=0xbf => self.str_of(usize::from(tag & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.be(1 << (tag - 0xc4))? as usize;
                Value::Bin(self.take(n)?)
            }
            0xc7..=0xc9 => {
                let n = self.be(1 << (tag - 0xc7))? as usize;
                let ty = self.take(1)?[0] as i8;
                Value::Ext(ty, self.take(n)?)
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Value::Float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Self::uint_value(self.be(1 << (tag - 0xcc))?),
            0xd0 => Value::Int(i64::from(self.take(1)?[0] as i8)),
            0xd1 => Value::Int(i64::from(self.be(2)? as u16 as i16)),
            0xd2 => Value::Int(i64::from(self.be(4)? as u32 as i32)),
            0xd3 => Value::Int(self.be(8)? as i64),
            0xd4..=0xd8 => {
                let ty = self.take(1)?[0] as i8;
                Value::Ext(ty, self.take(1 << (tag - 0xd4))?)
            }
            0xd9..=0xdb => {
                let n = self.be(1 << (tag - 0xd9))? as usize;
                self.str_of(n)?
            }
            0xdc | 0xdd => Value::Array(self.be(2 << (tag - 0xdc))? as usize),
            0xde | 0xdf => Value::Map(self.be(2 << (tag - 0xde))? as usize),
            0xe0..=0xff => Value::Int(i64::from(tag as i8)),
            _ => return Err(Error::Decode { offset: at }),
        };
        Ok(v)
    }

    /// Skips one whole value, nested arrays and maps included.
    pub fn skip(&mut self) -> Result<()> {
        let mut pending: usize = 1;
        while pending > 0 {
            pending -= 1;
            match self.next()? {
                Value::Array(n) => pending = pending.checked_add(n).ok_or_else(|| self.err())?,
                Value::Map(n) => {
                    let items = n.checked_mul(2).ok_or_else(|| self.err())?;
                    pending = pending.checked_add(items).ok_or_else(|| self.err())?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The next value as a string.
    pub fn str(&mut self) -> Result<&'a str> {
        let at = self.pos;
        match self.next()? {
            Value::Str(s) => Ok(s),
            _ => Err(Error::Decode { offset: at }),
        }
    }

    /// The next value as a byte string (`bin` or `str`).
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let at = self.pos;
        match self.next()? {
            Value::Bin(b) => Ok(b),
            Value::Str(s) => Ok(s.as_bytes()),
            _ => Err(Error::Decode { offset: at }),
        }
    }

    /// The next value as an integer that fits `i64`.
    pub fn int(&mut self) -> Result<i64> {
        let at = self.pos;
        match self.next()? {
            Value::Int(v) => Ok(v),
            _ => Err(Error::Decode { offset: at }),
        }
    }

    /// The next value as a float (integers are converted).
    pub fn float(&mut self) -> Result<f64> {
        let at = self.pos;
        match self.next()? {
            Value::Float(v) => Ok(v),
            Value::Int(v) => Ok(v as f64),
            Value::Uint(v) => Ok(v as f64),
            _ => Err(Error::Decode { offset: at }),
        }
    }

    /// The next value as an array header; its length.
    pub fn array(&mut self) -> Result<usize> {
        let at = self.pos;
        match self.next()? {
            Value::Array(n) => Ok(n),
            _ => Err(Error::Decode { offset: at }),
        }
    }

    /// The next value as a map header; its number of pairs.
    pub fn map(&mut self) -> Result<usize> {
        let at = self.pos;
        match self.next()? {
            Value::Map(n) => Ok(n),
            _ => Err(Error::Decode { offset: at }),
        }
    }

    /// In a map of `pairs` string keys (just read with [`Decoder::map`]),
    /// positions the decoder at the value of `key`; false if it is absent
    /// (the whole map is then consumed).
    pub fn find_key(&mut self, pairs: usize, key: &str) -> Result<bool> {
        for _ in 0..pairs {
            if self.str()? == key {
                return Ok(true);
            }
            self.skip()?;
        }
        Ok(false)
    }
}

/// The pairs of a msgpack map of strings to strings (the ABI's
/// `request_headers` shape), in encoded order.
pub struct StrMap<'a> {
    d: Decoder<'a>,
    left: usize,
}

impl<'a> StrMap<'a> {
    /// Reads the map header of `buf`.
    pub fn new(buf: &'a [u8]) -> Result<Self> {
        let mut d = Decoder::new(buf);
        let left = d.map()?;
        Ok(StrMap { d, left })
    }

    /// Pairs not yet read.
    pub fn remaining(&self) -> usize {
        self.left
    }
}

impl<'a> Iterator for StrMap<'a> {
    type Item = Result<(&'a str, &'a str)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let pair = self.d.str().and_then(|k| Ok((k, self.d.str()?)));
        if pair.is_err() {
            self.left = 0;
        }
        Some(pair)
    }
}
