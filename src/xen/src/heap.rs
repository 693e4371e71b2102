//! The Rust global allocator over Xen's heap (`xen/common/xmalloc_tlsf.c`).
//!
//! `_xmalloc` takes any power-of-two alignment (it over-allocates by the alignment), which
//! is what `Layout` guarantees, so layouts map one to one.

use crate::ffi;
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_ulong;

pub struct XenHeap;

// `usize` and `c_ulong` are both 64 bits on x86-64: the casts below are lossless.
const _: () = assert!(core::mem::size_of::<usize>() == core::mem::size_of::<c_ulong>());

// SAFETY: Xen's heap returns NULL or a block of at least `size` bytes aligned to `align`,
// which stays valid until `xfree`; Rust only frees what it allocated here.
unsafe impl GlobalAlloc for XenHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `layout.align()` is a power of two, as `_xmalloc` requires.
        unsafe { ffi::_xmalloc(layout.size() as c_ulong, layout.align() as c_ulong).cast() }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { ffi::_xzalloc(layout.size() as c_ulong, layout.align() as c_ulong).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned and does not use it again.
        unsafe { ffi::xfree(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; `_xrealloc` keeps the
        // contents up to the smaller size and the alignment asked for, and frees the old
        // block only on success.
        unsafe { ffi::_xrealloc(ptr.cast(), new_size as c_ulong, layout.align() as c_ulong).cast() }
    }
}
