//! The vector store in the tenant's kv: row-major shards of `shard_rows`
//! vectors ("s/<shard>"), the id of each row ("r/<row>"), the row of each id
//! ("k/<id>") and the row count ("count"). Deleting moves the last row into
//! the hole, so rows stay dense and every shard but the last is full.

use core::fmt::Write;

use edgehost_sdk::host;
use edgehost_sdk::scratch::Scratch;
use edgehost_sdk::text::LineBuf;
use edgehost_sdk::vector;
use edgehost_sdk::{Error, Result};

/// Longest id accepted (kv keys are "k/" + id).
pub const MAX_ID: usize = 200;

/// The store's shape, from the manifest's `[config]`.
#[derive(Clone, Copy)]
pub struct Store {
    /// Floats per vector.
    pub dim: usize,
    /// Vectors per shard.
    pub shard_rows: usize,
}

type Key = LineBuf<256>;

fn key(prefix: &str, n: usize) -> Key {
    let mut k = Key::new();
    let _ = write!(k, "{}{}", prefix, n);
    k
}

fn id_key(id: &str) -> Result<Key> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(Error::Reject { status: 400, reason: "id must be 1..200 bytes" });
    }
    let mut k = Key::new();
    let _ = write!(k, "k/{}", id);
    Ok(k)
}

fn get_u32(k: &[u8]) -> Result<Option<u32>> {
    let mut buf = [0u8; 4];
    match host::kv_get(k, &mut buf) {
        Ok(v) if v.len() == 4 => Ok(Some(u32::from_le_bytes(buf))),
        Ok(_) => Err(Error::Invalid),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Reads and checks the configuration.
    pub fn from_config() -> Result<Store> {
        let dim = host::config_int("dim")?;
        let shard_rows = match host::config_int("shard_rows") {
            Err(Error::NotFound) => 256,
            r => r?,
        };
        if !(1..=4096).contains(&dim) || !(1..=65536).contains(&shard_rows) {
            return Err(Error::Invalid);
        }
        Ok(Store { dim: dim as usize, shard_rows: shard_rows as usize })
    }

    /// Vectors stored.
    pub fn count(&self) -> Result<usize> {
        Ok(get_u32(b"count")?.unwrap_or(0) as usize)
    }

    fn set_count(&self, n: usize) -> Result<()> {
        host::kv_put(b"count", &(n as u32).to_le_bytes())
    }

    /// Shards holding `count` rows.
    pub fn shards(&self, count: usize) -> usize {
        (count + self.shard_rows - 1) / self.shard_rows
    }

    /// Rows in `shard` when `count` rows are stored.
    pub fn rows_in(&self, shard: usize, count: usize) -> usize {
        count.saturating_sub(shard * self.shard_rows).min(self.shard_rows)
    }

    /// The first `rows` vectors of shard `shard` (rows past the stored ones
    /// are zero). The buffer holds a whole shard: getters copy all or nothing.
    pub fn load<'s>(&self, s: &'s Scratch, shard: usize, rows: usize) -> Result<&'s mut [f32]> {
        let m = s.slice::<f32>(self.shard_rows * self.dim)?;
        match host::kv_get(key("s/", shard).as_bytes(), vector::as_bytes_mut(m)) {
            Ok(_) | Err(Error::NotFound) => Ok(&mut m[..rows * self.dim]),
            Err(e) => Err(e),
        }
    }

    fn save(&self, shard: usize, m: &[f32]) -> Result<()> {
        host::kv_put(key("s/", shard).as_bytes(), vector::as_bytes(m))
    }

    /// The row of `id`, if stored.
    pub fn row_of(&self, id: &str) -> Result<Option<usize>> {
        Ok(get_u32(id_key(id)?.as_bytes())?.map(|r| r as usize))
    }

    /// The id of `row`, in `buf`.
    pub fn id_of<'b>(&self, row: usize, buf: &'b mut [u8; MAX_ID]) -> Result<&'b str> {
        let raw = host::kv_get(key("r/", row).as_bytes(), buf)?;
        core::str::from_utf8(raw).map_err(|_| Error::Invalid)
    }

    /// The vector of `row`, copied into scratch memory.
    pub fn vector<'s>(&self, s: &'s Scratch, row: usize) -> Result<&'s mut [f32]> {
        let shard = row / self.shard_rows;
        let slot = row % self.shard_rows;
        let m = self.load(s, shard, slot + 1)?;
        Ok(&mut m[slot * self.dim..])
    }

    /// Stores `v` under `id` (replacing its vector if present); returns its row.
    pub fn put(&self, s: &Scratch, id: &str, v: &[f32]) -> Result<usize> {
        let (row, new) = match self.row_of(id)? {
            Some(r) => (r, false),
            None => (self.count()?, true),
        };
        let (shard, slot) = (row / self.shard_rows, row % self.shard_rows);
        let rows = if new { slot + 1 } else { self.rows_in(shard, self.count()?) };
        let m = self.load(s, shard, rows)?;
        m[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(v);
        self.save(shard, m)?;
        if new {
            host::kv_put(key("r/", row).as_bytes(), id.as_bytes())?;
            host::kv_put(id_key(id)?.as_bytes(), &(row as u32).to_le_bytes())?;
            self.set_count(row + 1)?;
        }
        Ok(row)
    }

    /// Deletes `id`; the last row moves into its place. Returns the new count.
    pub fn delete(&self, s: &Scratch, id: &str) -> Result<usize> {
        let row = self.row_of(id)?.ok_or(Error::NotFound)?;
        let last = self.count()? - 1;
        let (ls, lslot) = (last / self.shard_rows, last % self.shard_rows);
        let tail = self.load(s, ls, lslot + 1)?;
        if row != last {
            let mut idbuf = [0u8; MAX_ID];
            let moved_id = self.id_of(last, &mut idbuf)?;
            let (rs, rslot) = (row / self.shard_rows, row % self.shard_rows);
            let moved = lslot * self.dim..(lslot + 1) * self.dim;
            let hole = rslot * self.dim..(rslot + 1) * self.dim;
            if rs == ls {
                tail.copy_within(moved, hole.start);
            } else {
                let m = self.load(s, rs, self.shard_rows)?;
                m[hole].copy_from_slice(&tail[moved]);
                self.save(rs, m)?;
            }
            host::kv_put(key("r/", row).as_bytes(), moved_id.as_bytes())?;
            host::kv_put(id_key(moved_id)?.as_bytes(), &(row as u32).to_le_bytes())?;
        }
        if lslot == 0 {
            host::kv_delete(key("s/", ls).as_bytes())?;
        } else {
            self.save(ls, &tail[..lslot * self.dim])?;
        }
        host::kv_delete(key("r/", last).as_bytes())?;
        host::kv_delete(id_key(id)?.as_bytes())?;
        self.set_count(last)?;
        Ok(last)
    }
}
