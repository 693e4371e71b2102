//! The Xen functions the glue calls, as declared in Xen 4.17's headers:
//! `xen/include/xen/lib.h` (printk, panic), `xen/include/xen/xmalloc.h` (the heap) and
//! `xen/include/xen/version.h`. Xen is C; these are resolved when `xen-syms` is linked.

use core::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

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
    /// `int xdbt_host_read_frame(const struct domain *d, uint64_t mfn, unsigned int
    /// offset, void *buf, unsigned int len)` (`xen/arch/x86/xdbt.c`): copy `len` bytes at
    /// `offset` in machine frame `mfn` to `buf`; 0, or -errno when the frame is not `d`'s or
    /// the range leaves the frame.
    pub fn xdbt_host_read_frame(
        d: *const c_void,
        mfn: u64,
        offset: c_uint,
        buf: *mut c_void,
        len: c_uint,
    ) -> c_int;
    /// `int xdbt_host_write_frame(const struct domain *d, uint64_t mfn, unsigned int
    /// offset, const void *buf, unsigned int len)`: copy `len` bytes from `buf` to `offset`
    /// in frame `mfn`, which must be `d`'s and may be written (not a page or descriptor
    /// table); 0 or -errno.
    pub fn xdbt_host_write_frame(
        d: *const c_void,
        mfn: u64,
        offset: c_uint,
        buf: *const c_void,
        len: c_uint,
    ) -> c_int;
    /// `void xdbt_host_console(const struct domain *d, const char *line)`: one line the
    /// guest wrote with HYPERVISOR_console_io, printed with the domain's prefix.
    pub fn xdbt_host_console(d: *const c_void, line: *const c_char);
    /// `void xdbt_host_protect(struct vcpu *v, uint32_t la, bool writable)`: write-protect
    /// (or make writable again, if the guest may write it) guest page `la` in the window.
    pub fn xdbt_host_protect(v: *mut c_void, la: u32, writable: bool);
    /// `s_time_t get_s_time(void)`: Xen's system time in nanoseconds.
    pub fn get_s_time() -> i64;
    /// `long xdbt_host_hypercall(unsigned int op, unsigned long *args)`: hypercall `op`
    /// served by Xen's own handler for the current (translated) vCPU, with `args` (5) in
    /// the native layout; pointers must be window addresses. -ENOSYS for a hypercall the
    /// glue does not pass on. Xen may rewrite `args` (continuations).
    pub fn xdbt_host_hypercall(op: c_uint, args: *mut c_ulong) -> c_long;
    /// `long xdbt_host_pt_update(uint64_t ptr, uint64_t val)`: MMU_NORMAL_PT_UPDATE of the
    /// page-table entry at machine address `ptr`, validated by Xen; 0 or -errno.
    pub fn xdbt_host_pt_update(ptr: u64, val: u64) -> c_long;
    /// `int xdbt_host_window_sync(struct vcpu *v)`: mirror the guest's page tables into
    /// the vCPU's window again (all of it); 0 or -errno.
    pub fn xdbt_host_window_sync(v: *mut c_void) -> c_int;
    /// `void *xdbt_host_xlat(void)`: the current vCPU's argument translation area (8 KiB),
    /// where 32-bit arguments are rebuilt in the native layout for Xen's handlers.
    pub fn xdbt_host_xlat() -> *mut u8;
    /// `int xdbt_host_new_baseptr(struct vcpu *v, uint64_t mfn)`: MMUEXT_NEW_BASEPTR: PAE
    /// L3 `mfn` becomes the vCPU's page-table base (type-checked by Xen) and the window
    /// mirrors it; 0 or -errno (-ERESTART: call again).
    pub fn xdbt_host_new_baseptr(v: *mut c_void, mfn: u64) -> c_int;
    /// `uint64_t xdbt_host_rdtsc(void)`: the TSC the current translated vCPU's guest reads:
    /// Xen's virtual TSC (`pv_soft_rdtsc()`) when the domain has one, else the CPU's.
    pub fn xdbt_host_rdtsc() -> u64;
}
