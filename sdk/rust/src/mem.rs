//! Linear memory taken straight from `memory.grow`: no allocator, no libc.
//!
//! [`Region`] is one growable buffer (the host's input buffer behind
//! `edgehost_alloc`, the response body). Growing moves it to fresh pages at
//! the end of memory; the old pages are not reused, which costs at most the
//! final size again because capacity doubles.

use core::arch::wasm32;
use core::cell::UnsafeCell;

/// Bytes per WebAssembly page.
pub const PAGE: usize = 65536;

/// Takes at least `bytes` of fresh, zeroed memory; `(start, capacity)`.
pub fn grow(bytes: usize) -> Option<(*mut u8, usize)> {
    let pages = bytes.max(1).checked_add(PAGE - 1)? / PAGE;
    let old = wasm32::memory_grow(0, pages);
    if old == usize::MAX {
        return None;
    }
    Some(((old * PAGE) as *mut u8, pages * PAGE))
}

/// A value in a `static`: wasm32-unknown-unknown runs one thread per
/// instance, and the SDK never hands out references across calls into user
/// code, so a plain cell is enough.
pub(crate) struct Global<T>(UnsafeCell<T>);

// SAFETY: this target has no threads (no `atomics` feature): one instance,
// one thread.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub(crate) const fn new(v: T) -> Self {
        Global(UnsafeCell::new(v))
    }

    /// Runs `f` on the value. `f` must not reach the same global again.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: single thread, and callers never nest `with` on one global.
        f(unsafe { &mut *self.0.get() })
    }
}

/// One growable byte buffer in linear memory.
pub(crate) struct Region {
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

impl Region {
    pub(crate) const fn new() -> Self {
        Region { ptr: core::ptr::null_mut(), cap: 0, len: 0 }
    }

    /// Makes room for `total` bytes, keeping the first `len`.
    pub(crate) fn reserve(&mut self, total: usize) -> bool {
        if total <= self.cap {
            return true;
        }
        let want = total.max(self.cap.saturating_mul(2));
        let (ptr, cap) = match grow(want) {
            Some(r) => r,
            None => return false,
        };
        if self.len > 0 {
            // SAFETY: both ranges are inside linear memory and disjoint.
            unsafe { core::ptr::copy_nonoverlapping(self.ptr, ptr, self.len) };
        }
        self.ptr = ptr;
        self.cap = cap;
        true
    }

    /// Appends bytes; false when memory cannot grow.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> bool {
        let end = match self.len.checked_add(bytes.len()) {
            Some(e) => e,
            None => return false,
        };
        if !self.reserve(end) {
            return false;
        }
        // SAFETY: reserve made [ptr, ptr+end) ours; bytes cannot overlap it
        // unless the caller passes our own contents, which copy handles.
        unsafe { core::ptr::copy(bytes.as_ptr(), self.ptr.add(self.len), bytes.len()) };
        self.len = end;
        true
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
