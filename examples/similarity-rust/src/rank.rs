//! Merging per-shard top-k lists into one, with the kernel's order: best
//! score first, NaN last, ties by lower row.

use edgehost_sdk::scratch::Scratch;
use edgehost_sdk::vector::{Hit, Metric};
use edgehost_sdk::Result;

/// The best `k` hits seen so far.
pub struct Ranking<'s> {
    best: &'s mut [Hit],
    len: usize,
    metric: Metric,
}

impl<'s> Ranking<'s> {
    /// An empty ranking of at most `k` hits.
    pub fn new(s: &'s Scratch, k: usize, metric: Metric) -> Result<Self> {
        Ok(Ranking { best: s.slice::<Hit>(k)?, len: 0, metric })
    }

    fn better(&self, a: f32, b: f32) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        if self.metric.larger_is_better() {
            a > b
        } else {
            a < b
        }
    }

    /// Offers a hit; rows must come in increasing order among equal scores.
    pub fn offer(&mut self, h: Hit) {
        let k = self.best.len();
        let pos =
            (0..self.len).find(|&i| self.better(h.score, self.best[i].score)).unwrap_or(self.len);
        if pos >= k {
            return;
        }
        let end = self.len.min(k - 1);
        self.best.copy_within(pos..end, pos + 1);
        self.best[pos] = h;
        self.len = (self.len + 1).min(k);
    }

    /// The hits, best first.
    pub fn hits(&self) -> &[Hit] {
        &self.best[..self.len]
    }
}
