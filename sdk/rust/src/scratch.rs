//! Scratch memory for one piece of work: [`frame`] opens a frame, its
//! [`Scratch`] hands out zeroed slices, and everything is released together
//! when the frame closes. Frames nest like a stack; memory is kept for reuse.
//!
//! ```ignore
//! edgehost_sdk::scratch::frame(|s| -> Result<()> {
//!     let buf = s.bytes(4096)?;
//!     let n = edgehost_sdk::host::kv_get(b"key", buf)?.len();
//!     Ok(())
//! })
//! ```

use core::marker::PhantomData;

use crate::error::{Error, Result};
use crate::mem::{self, Global};

const MAX_CHUNKS: usize = 32;
const MIN_CHUNK: usize = 64 * 1024;

struct Arena {
    chunks: [(usize, usize); MAX_CHUNKS],
    count: usize,
    cur: usize,
    off: usize,
    depth: u32,
}

static ARENA: Global<Arena> =
    Global::new(Arena { chunks: [(0, 0); MAX_CHUNKS], count: 0, cur: 0, off: 0, depth: 0 });

impl Arena {
    /// `size` bytes aligned to `align` (at most a page). Offsets are taken
    /// from page-aligned chunk bases, so nothing overflows at the 4 GiB end.
    fn alloc(&mut self, size: usize, align: usize) -> Option<*mut u8> {
        for i in self.cur..self.count {
            let (base, cap) = self.chunks[i];
            let used = if i == self.cur { self.off } else { 0 };
            let start = (used + align - 1) & !(align - 1);
            if start <= cap && size <= cap - start {
                self.cur = i;
                self.off = start + size;
                return Some((base + start) as *mut u8);
            }
        }
        if self.count == MAX_CHUNKS {
            return None;
        }
        let total: usize = self.chunks[..self.count].iter().map(|c| c.1).sum();
        let (base, cap) = mem::grow(size.checked_add(align)?.max(total).max(MIN_CHUNK))?;
        self.chunks[self.count] = (base as usize, cap);
        self.count += 1;
        self.cur = self.count - 1;
        self.off = 0;
        self.alloc(size, align)
    }
}

/// Element types a scratch slice may hold: plain numbers, valid when zeroed.
pub trait Plain: Copy + private::Sealed {}

mod private {
    pub trait Sealed {}
}

macro_rules! plain {
    ($($t:ty),*) => { $(impl private::Sealed for $t {} impl Plain for $t {})* };
}
plain!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);
impl private::Sealed for crate::vector::Hit {}
impl Plain for crate::vector::Hit {}

/// An open scratch frame (see [`frame`]). Slices it returns live until the
/// frame closes.
pub struct Scratch {
    depth: u32,
    _not_send: PhantomData<*mut u8>,
}

/// Opens a scratch frame, runs `f` with it, and releases its memory.
pub fn frame<R>(f: impl FnOnce(&Scratch) -> R) -> R {
    let (depth, mark) = ARENA.with(|a| {
        a.depth += 1;
        (a.depth, (a.cur, a.off))
    });
    let s = Scratch { depth, _not_send: PhantomData };
    let r = f(&s);
    ARENA.with(|a| {
        a.depth -= 1;
        a.cur = mark.0;
        a.off = mark.1;
    });
    r
}

impl Scratch {
    /// `n` zeroed elements of `T`, aligned for `T`.
    ///
    /// Panics if called on an outer frame while an inner one is open (its
    /// memory would be released with the inner frame).
    #[allow(clippy::mut_from_ref)] // disjoint slices from one arena, like a bump allocator
    pub fn slice<T: Plain>(&self, n: usize) -> Result<&mut [T]> {
        let size = n.checked_mul(core::mem::size_of::<T>()).ok_or(Error::OutOfMemory)?;
        if size == 0 {
            return Ok(&mut []);
        }
        let ptr = ARENA.with(|a| {
            assert!(a.depth == self.depth, "scratch: allocating from an outer frame");
            a.alloc(size, core::mem::align_of::<T>())
        });
        let ptr = ptr.ok_or(Error::OutOfMemory)?;
        // SAFETY: [ptr, ptr+size) is ours until this frame closes, aligned for
        // T, and zero bytes are a valid T (Plain).
        unsafe {
            core::ptr::write_bytes(ptr, 0, size);
            Ok(core::slice::from_raw_parts_mut(ptr as *mut T, n))
        }
    }

    /// `n` zeroed bytes.
    #[allow(clippy::mut_from_ref)]
    pub fn bytes(&self, n: usize) -> Result<&mut [u8]> {
        self.slice(n)
    }

    /// A copy of `src` in this frame.
    #[allow(clippy::mut_from_ref)]
    pub fn copy<T: Plain>(&self, src: &[T]) -> Result<&mut [T]> {
        let out = self.slice(src.len())?;
        out.copy_from_slice(src);
        Ok(out)
    }
}
