//! Request bodies: one msgpack map with any of `id`, `b`, `vec`, `k`, `metric`.

use edgehost_sdk::msgpack::{Decoder, Value};
use edgehost_sdk::scratch::Scratch;
use edgehost_sdk::vector::Metric;
use edgehost_sdk::{Error, Result};

/// Most results a query may ask for.
pub const MAX_K: usize = 64;

/// The fields of a request (absent ones are `None` or defaults).
pub struct Request<'a> {
    /// `id`: the vector's id.
    pub id: Option<&'a str>,
    /// `b`: a second id (compare).
    pub other: Option<&'a str>,
    /// `vec`: `dim` floats, as an array of numbers or a float32 `bin`.
    pub vec: Option<&'a [f32]>,
    /// `k`: results wanted (1..=64, default 5).
    pub k: usize,
    /// `metric`: "cosine" (default), "dot" or "l2".
    pub metric: Metric,
}

const fn bad(reason: &'static str) -> Error {
    Error::Reject { status: 400, reason }
}

fn read_vec<'s>(d: &mut Decoder<'_>, s: &'s Scratch, dim: usize) -> Result<&'s [f32]> {
    let v = s.slice::<f32>(dim)?;
    match d.next()? {
        Value::Array(n) if n == dim => {
            for x in v.iter_mut() {
                *x = d.float()? as f32;
            }
        }
        Value::Bin(b) if b.len() == dim * 4 => {
            for (x, c) in v.iter_mut().zip(b.chunks_exact(4)) {
                *x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        _ => return Err(bad("vec must hold exactly dim floats")),
    }
    Ok(v)
}

impl<'a> Request<'a> {
    /// Parses `input`; vectors are copied into `s`.
    pub fn parse(input: &'a [u8], s: &'a Scratch, dim: usize) -> Result<Request<'a>> {
        let mut r = Request { id: None, other: None, vec: None, k: 5, metric: Metric::Cosine };
        let mut d = Decoder::new(input);
        let pairs = d.map().map_err(|_| bad("body must be a msgpack map"))?;
        for _ in 0..pairs {
            match d.str()? {
                "id" => r.id = Some(d.str()?),
                "b" => r.other = Some(d.str()?),
                "vec" => r.vec = Some(read_vec(&mut d, s, dim)?),
                "k" => {
                    let k = d.int()?;
                    if !(1..=MAX_K as i64).contains(&k) {
                        return Err(bad("k must be 1..64"));
                    }
                    r.k = k as usize;
                }
                "metric" => {
                    r.metric = match d.str()? {
                        "cosine" => Metric::Cosine,
                        "dot" => Metric::Dot,
                        "l2" => Metric::L2Sq,
                        _ => return Err(bad("metric must be cosine, dot or l2")),
                    }
                }
                _ => d.skip()?,
            }
        }
        Ok(r)
    }
}
