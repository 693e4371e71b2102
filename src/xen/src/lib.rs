//! xdbt linked into Xen: the glue between the translator core (`xdbt`, no_std + alloc) and
//! the hypervisor it runs in. Built as a staticlib for `x86_64-unknown-none` and linked into
//! `xen-syms` by `xen-patches/` (see docs/XEN.md for the flags and why).
//!
//! The allocator, the panic path, an init call that exercises the core once at boot, and
//! the translator's side of translated PV32 domains (`domain`): per-domain state and
//! statistics, and the vCPU entry point Xen's run loop calls, which runs the guest's
//! translated code inside Xen (`vcpu`; docs/XEN.md).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod domain;
mod ffi;
mod heap;
mod print;
mod selftest;
mod vcpu;

use core::fmt::Write;
use core::panic::PanicInfo;
use print::xen_println;

#[global_allocator]
static HEAP: heap::XenHeap = heap::XenHeap;

/// The core's version (its Cargo.toml, read by build.rs).
const CORE_VERSION: &str = env!("XDBT_CORE_VERSION");

fn guest_rdtsc() -> u64 {
    // SAFETY: called from translated code of the current vCPU (a helper call); Xen reads
    // the current vCPU's domain.
    unsafe { ffi::xdbt_host_rdtsc() }
}

/// Called once from Xen's `__initcall` list (`xen/arch/x86/xdbt.c`) with interrupts on,
/// the heap up and the console live.
#[no_mangle]
pub extern "C" fn xdbt_xen_init() {
    // A guest's RDTSC reads what it would natively: Xen's virtual TSC when Xen emulates one
    // for the domain (a native PV guest's RDTSC then traps), else the CPU's.
    xdbt::interp::set_soft_tsc(guest_rdtsc);
    let claimed = xdbt::frontend::claimed_codes().len();
    // SAFETY: plain getters of constants compiled into Xen.
    let (major, minor) = unsafe { (ffi::xen_major_version(), ffi::xen_minor_version()) };
    match selftest::translate_sample() {
        Ok(t) => xen_println!(
            "xdbt: translator core {CORE_VERSION} linked into Xen {major}.{minor} \
             ({claimed} claimed IA-32 codes; a {}-instruction guest block translated to \
             {} bytes of x86-64)",
            t.guest_insns,
            t.host_bytes
        ),
        Err(e) => xen_println!(
            "xdbt: translator core {CORE_VERSION} linked into Xen {major}.{minor} \
             ({claimed} claimed IA-32 codes; self-test FAILED: {e})"
        ),
    }
}

#[panic_handler]
fn on_panic(info: &PanicInfo<'_>) -> ! {
    let mut line = print::Line::<256>::new();
    let _ = write!(line, "{info}");
    // SAFETY: a literal format with one %s matched by a NUL-terminated string; Xen's panic
    // prints it and never returns.
    unsafe { ffi::panic(c"xdbt: %s\n".as_ptr(), line.as_c_str()) }
}
