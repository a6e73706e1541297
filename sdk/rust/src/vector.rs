//! The float32 vector kernels (conventions in native_modules/kernels/vector):
//! arrays are float32, lengths must agree, scalar results come back exact.

use crate::error::{Error, Result};
use crate::kernel::{run, Call, Kernel};
use crate::sys;

/// One top-k record: a matrix row and its score (the ABI's layout).
pub type Hit = sys::VecHit;

/// How [`topk`] scores rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Metric {
    /// Squared Euclidean distance, smallest first.
    L2Sq = sys::VEC_METRIC_L2SQ as u64,
    /// Dot product, largest first.
    Dot = sys::VEC_METRIC_DOT as u64,
    /// Cosine similarity, largest first.
    Cosine = sys::VEC_METRIC_COSINE as u64,
}

impl Metric {
    /// Whether a larger score is better.
    pub fn larger_is_better(self) -> bool {
        self != Metric::L2Sq
    }
}

/// The bytes of a float slice (same memory).
pub fn as_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and u8 has alignment 1.
    unsafe { core::slice::from_raw_parts(v.as_ptr() as *const u8, v.len() * 4) }
}

/// The floats stored in `bytes` (little-endian, in place): `Invalid` unless
/// `bytes` is 4-byte aligned and a whole number of floats.
pub fn floats(bytes: &[u8]) -> Result<&[f32]> {
    if bytes.as_ptr() as usize % 4 != 0 || bytes.len() % 4 != 0 {
        return Err(Error::Invalid);
    }
    // SAFETY: aligned, whole floats, and every bit pattern is a valid f32.
    Ok(unsafe { core::slice::from_raw_parts(bytes.as_ptr() as *const f32, bytes.len() / 4) })
}

/// Mutable [`floats`].
pub fn floats_mut(bytes: &mut [u8]) -> Result<&mut [f32]> {
    if bytes.as_ptr() as usize % 4 != 0 || bytes.len() % 4 != 0 {
        return Err(Error::Invalid);
    }
    // SAFETY: as in `floats`.
    Ok(unsafe { core::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut f32, bytes.len() / 4) })
}

/// The bytes of a mutable float slice (same memory).
pub fn as_bytes_mut(v: &mut [f32]) -> &mut [u8] {
    raw_bytes_mut(v)
}

fn raw_bytes_mut<T>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: used only for f32 and Hit, plain data without padding.
    unsafe { core::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, core::mem::size_of_val(v)) }
}

fn scalar(kernel: Kernel, a: &[f32], b: &[f32]) -> Result<f32> {
    run(Call::new(kernel), as_bytes(a), as_bytes(b), &mut [])
        .map(|o| f32::from_bits(o.value as u32))
}

fn same_len(a: &[f32], b: &[f32]) -> Result<()> {
    if a.len() == b.len() {
        Ok(())
    } else {
        Err(Error::Invalid)
    }
}

/// `a . b`.
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32> {
    same_len(a, b)?;
    scalar(Kernel::VecDot, a, b)
}

/// Sum of `a`.
pub fn sum(a: &[f32]) -> Result<f32> {
    scalar(Kernel::VecSum, a, &[])
}

/// `|a|`.
pub fn l2norm(a: &[f32]) -> Result<f32> {
    scalar(Kernel::VecL2Norm, a, &[])
}

/// `|a - b|^2`.
pub fn l2sq(a: &[f32], b: &[f32]) -> Result<f32> {
    same_len(a, b)?;
    scalar(Kernel::VecL2Sq, a, b)
}

/// `a . b / (|a| |b|)` (NaN for a zero vector).
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32> {
    same_len(a, b)?;
    scalar(Kernel::VecCosine, a, b)
}

/// `out = alpha * x + y`.
pub fn axpy(alpha: f32, x: &[f32], y: &[f32], out: &mut [f32]) -> Result<()> {
    same_len(x, y)?;
    same_len(x, out)?;
    let mut call = Call::new(Kernel::VecAxpy);
    call.arg[0] = u64::from(alpha.to_bits());
    run(call, as_bytes(x), as_bytes(y), raw_bytes_mut(out)).map(|_| ())
}

/// `out = m v` for a row-major matrix of `v.len()` columns; returns the rows.
pub fn matvec(m: &[f32], v: &[f32], out: &mut [f32]) -> Result<usize> {
    let o = run(Call::new(Kernel::VecMatvec), as_bytes(m), as_bytes(v), raw_bytes_mut(out))?;
    Ok(o.value as usize)
}

/// The best `out.len()` rows of `m` (row-major, `q.len()` columns) for query
/// `q`, best first; returns the filled prefix of `out`.
pub fn topk<'o>(m: &[f32], q: &[f32], metric: Metric, out: &'o mut [Hit]) -> Result<&'o [Hit]> {
    let mut call = Call::new(Kernel::VecTopk);
    call.arg[0] = out.len() as u64;
    call.arg[1] = metric as u64;
    let o = run(call, as_bytes(m), as_bytes(q), raw_bytes_mut(out))?;
    Ok(&out[..o.value as usize])
}
