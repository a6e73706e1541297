//! similarity-rust: a similarity-search tenant. Vectors (float32, `dim` from
//! the config) live in the tenant's kv store (see `store`); queries run on the
//! native vector kernels through the offload import. Requests and responses
//! are msgpack maps.
#![no_std]

mod rank;
mod request;
mod store;

use edgehost_sdk::msgpack::{Encoder, Sink};
use edgehost_sdk::scratch::frame;
use edgehost_sdk::vector::{self, Hit};
use edgehost_sdk::{configure, handler, respond_with, Error, Result};

use rank::Ranking;
use request::Request;
use store::{Store, MAX_ID};

configure!(|| -> Result<()> { Store::from_config().map(|_| ()) });

fn encode_ok<S: Sink>(e: &mut Encoder<'_, S>, id: &str, row: usize, count: usize) -> Result<()> {
    e.map(3)?;
    e.str("id")?;
    e.str(id)?;
    e.str("row")?;
    e.uint(row as u64)?;
    e.str("count")?;
    e.uint(count as u64)
}

// {"id": str, "vec": [dim floats] | bin} -> {"id", "row", "count"}
handler!(put, |input: &[u8]| -> Result<()> {
    let store = Store::from_config()?;
    frame(|s| {
        let req = Request::parse(input, s, store.dim)?;
        let id = req.id.ok_or(Error::Reject { status: 400, reason: "put needs an id" })?;
        let v = req.vec.ok_or(Error::Reject { status: 400, reason: "put needs a vec" })?;
        let row = store.put(s, id, v)?;
        let count = store.count()?;
        respond_with(|w| encode_ok(&mut Encoder::new(w), id, row, count))
    })
});

// {"id": str} -> {"id", "row" (where it was), "count"}; 404 if absent
handler!(delete, |input: &[u8]| -> Result<()> {
    let store = Store::from_config()?;
    frame(|s| {
        let req = Request::parse(input, s, store.dim)?;
        let id = req.id.ok_or(Error::Reject { status: 400, reason: "delete needs an id" })?;
        let row = store.row_of(id)?.ok_or(Error::NotFound)?;
        let count = store.delete(s, id)?;
        respond_with(|w| encode_ok(&mut Encoder::new(w), id, row, count))
    })
});

// {"vec", "k" (default 5, max 64), "metric": "cosine" | "dot" | "l2"}
//   -> [{"id", "score"}, ...] best first
handler!(query, |input: &[u8]| -> Result<()> {
    let store = Store::from_config()?;
    frame(|s| {
        let req = Request::parse(input, s, store.dim)?;
        let q = req.vec.ok_or(Error::Reject { status: 400, reason: "query needs a vec" })?;
        let count = store.count()?;
        let mut ranking = Ranking::new(s, req.k, req.metric)?;
        for shard in 0..store.shards(count) {
            let rows = store.rows_in(shard, count);
            let m = store.load(s, shard, rows)?;
            let hits = s.slice::<Hit>(req.k.min(rows))?;
            for h in vector::topk(m, q, req.metric, hits)? {
                ranking
                    .offer(Hit { row: h.row + (shard * store.shard_rows) as u32, score: h.score });
            }
        }
        respond_with(|w| {
            let mut e = Encoder::new(w);
            e.array(ranking.hits().len())?;
            let mut idbuf = [0u8; MAX_ID];
            for h in ranking.hits() {
                e.map(2)?;
                e.str("id")?;
                e.str(store.id_of(h.row as usize, &mut idbuf)?)?;
                e.str("score")?;
                e.f32(h.score)?;
            }
            Ok(())
        })
    })
});

// {"vec"} -> {id: dot product} for every stored vector (matrix-vector product)
handler!(scores, |input: &[u8]| -> Result<()> {
    let store = Store::from_config()?;
    frame(|s| {
        let req = Request::parse(input, s, store.dim)?;
        let q = req.vec.ok_or(Error::Reject { status: 400, reason: "scores needs a vec" })?;
        let count = store.count()?;
        let all = s.slice::<f32>(count)?;
        for shard in 0..store.shards(count) {
            let rows = store.rows_in(shard, count);
            let m = store.load(s, shard, rows)?;
            let start = shard * store.shard_rows;
            vector::matvec(m, q, &mut all[start..start + rows])?;
        }
        respond_with(|w| {
            let mut e = Encoder::new(w);
            e.map(count)?;
            let mut idbuf = [0u8; MAX_ID];
            for (row, score) in all.iter().enumerate() {
                e.str(store.id_of(row, &mut idbuf)?)?;
                e.f32(*score)?;
            }
            Ok(())
        })
    })
});

// {"id": str, "b": str} -> {"dot", "cosine", "l2sq", "norm_a", "norm_b"} of the two vectors
handler!(compare, |input: &[u8]| -> Result<()> {
    let store = Store::from_config()?;
    frame(|s| {
        let req = Request::parse(input, s, store.dim)?;
        let missing = Error::Reject { status: 400, reason: "compare needs id and b" };
        let (a, b) = (req.id.ok_or(missing)?, req.other.ok_or(missing)?);
        let ra = store.row_of(a)?.ok_or(Error::NotFound)?;
        let rb = store.row_of(b)?.ok_or(Error::NotFound)?;
        let (va, vb) = (store.vector(s, ra)?, store.vector(s, rb)?);
        let rows = [
            ("dot", vector::dot(va, vb)?),
            ("cosine", vector::cosine(va, vb)?),
            ("l2sq", vector::l2sq(va, vb)?),
            ("norm_a", vector::l2norm(va)?),
            ("norm_b", vector::l2norm(vb)?),
        ];
        respond_with(|w| {
            let mut e = Encoder::new(w);
            e.map(rows.len())?;
            for (name, v) in rows {
                e.str(name)?;
                e.f32(v)?;
            }
            Ok(())
        })
    })
});

// -> [dim floats]: the mean of the stored vectors (accumulated with axpy)
handler!(centroid, |_input: &[u8]| -> Result<()> {
    let store = Store::from_config()?;
    frame(|s| {
        let count = store.count()?;
        if count == 0 {
            return Err(Error::Reject { status: 409, reason: "no vectors stored" });
        }
        let alpha = 1.0 / count as f32;
        let (mut acc, mut next) = (s.slice::<f32>(store.dim)?, s.slice::<f32>(store.dim)?);
        for shard in 0..store.shards(count) {
            let m = store.load(s, shard, store.rows_in(shard, count))?;
            for row in m.chunks_exact(store.dim) {
                vector::axpy(alpha, row, acc, next)?;
                core::mem::swap(&mut acc, &mut next);
            }
        }
        respond_with(|w| {
            let mut e = Encoder::new(w);
            e.array(store.dim)?;
            acc.iter().try_for_each(|&v| e.f32(v))
        })
    })
});

// -> {"count", "dim", "shards"}
handler!(stats, |_input: &[u8]| -> Result<()> {
    let store = Store::from_config()?;
    let count = store.count()?;
    respond_with(|w| {
        let mut e = Encoder::new(w);
        e.map(3)?;
        e.str("count")?;
        e.uint(count as u64)?;
        e.str("dim")?;
        e.uint(store.dim as u64)?;
        e.str("shards")?;
        e.uint(store.shards(count) as u64)
    })
});
