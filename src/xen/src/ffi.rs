//! The Xen functions the glue calls, as declared in Xen 4.17's headers:
//! `xen/include/xen/lib.h` (printk, panic), `xen/include/xen/xmalloc.h` (the heap) and
//! `xen/include/xen/version.h`. Xen is C; these are resolved when `xen-syms` is linked.

use core::ffi::{c_char, c_uint, c_ulong, c_void};

extern "C" {
    /// `void printk(const char *format, ...)`: Xen's console and `xl dmesg` ring.
    pub fn printk(format: *const c_char, ...);
    /// `void noreturn panic(const char *format, ...)`.
    pub fn panic(format: *const c_char, ...) -> !;
    /// `void *_xmalloc(unsigned long size, unsigned long align)`: NULL on failure;
    /// `align` must be a power of two.
    pub fn _xmalloc(size: c_ulong, align: c_ulong) -> *mut c_void;
    /// `void *_xzalloc(unsigned long size, unsigned long align)`: as `_xmalloc`, zeroed.
    pub fn _xzalloc(size: c_ulong, align: c_ulong) -> *mut c_void;
    /// `void *_xrealloc(void *ptr, unsigned long size, unsigned long align)`.
    pub fn _xrealloc(ptr: *mut c_void, size: c_ulong, align: c_ulong) -> *mut c_void;
    /// `void xfree(void *)`.
    pub fn xfree(p: *mut c_void);
    /// `unsigned int xen_major_version(void)`.
    pub fn xen_major_version() -> c_uint;
    /// `unsigned int xen_minor_version(void)`.
    pub fn xen_minor_version() -> c_uint;
}
