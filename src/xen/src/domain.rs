//! Translated domains: the translator's per-domain state (the core's PV state, statistics
//! for the `X` debug key) and the vCPU entry point Xen's run loop calls (`xdbt_vcpu_run`),
//! which runs the guest's translated code (`crate::vcpu`).
//!
//! Xen owns the domain (`xen/arch/x86/xdbt.c`): it allocates this state when
//! `XEN_DOMCTL_set_address_size 32` makes a domain translated and frees it with the domain.
//! Reads of guest frames go through Xen (`xdbt_host_read_frame`), which checks that the
//! frame belongs to the domain.

use crate::print::xen_println;
use crate::vcpu::{self, Turn, Vcpu, XDBT_EXIT_CRASH};
use alloc::alloc::{alloc_zeroed, dealloc};
use core::alloc::Layout;
use core::ffi::{c_int, c_uint, c_void};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use xdbt::pv::hypercall::PvDomain;

/// Why a vCPU left translated code, counted per domain.
#[derive(Clone, Copy)]
#[repr(usize)]
pub enum ExitKind {
    /// A hypercall served by the core's PV layer.
    Hypercall,
    /// A hypercall not served inside Xen yet (-ENOSYS).
    Unserved,
    /// Translated code stopped for Xen (softirqs pending: timers, the scheduler).
    Stopped,
    /// A guest exception bounced to its handler, or a HYPERVISOR_iret served.
    Trap,
    /// A guest fault with no usable handler (or a refused HYPERVISOR_iret frame): the
    /// domain is crashed.
    GuestFault,
    /// Anything else the vCPU cannot do in Xen yet (the domain is crashed).
    Other,
}

impl ExitKind {
    const ALL: [ExitKind; 6] = [
        ExitKind::Hypercall,
        ExitKind::Unserved,
        ExitKind::Stopped,
        ExitKind::Trap,
        ExitKind::GuestFault,
        ExitKind::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            ExitKind::Hypercall => "hypercall",
            ExitKind::Unserved => "unserved-hypercall",
            ExitKind::Stopped => "stopped",
            ExitKind::Trap => "trap",
            ExitKind::GuestFault => "guest-fault",
            ExitKind::Other => "other",
        }
    }
}

/// Counters, read by the debug key on any CPU while a vCPU updates them: atomics.
#[derive(Default)]
pub struct Stats {
    runs: AtomicU64,
    blocks: AtomicU64,
    guest_insns: AtomicU64,
    host_bytes: AtomicU64,
    host_faults: AtomicU64,
    exits: [AtomicU64; ExitKind::ALL.len()],
    last_eip: AtomicU32,
}

/// The translator's state of one translated domain.
pub struct Domain {
    domid: u32,
    stats: Stats,
    /// The core's PV state of the domain (trap table, callbacks, shutdown code), created
    /// when its first vCPU first runs; shared by its vCPUs.
    pv: spin::Mutex<Option<PvDomain>>,
}

/// Allocate the state of translated domain `domid`; NULL when out of memory (Xen then
/// refuses to make the domain translated).
#[no_mangle]
pub extern "C" fn xdbt_domain_new(domid: c_uint) -> *mut c_void {
    let layout = Layout::new::<Domain>();
    // SAFETY: `Domain` is not zero-sized, so `layout` is valid for the allocator.
    let p = unsafe { alloc_zeroed(layout) }.cast::<Domain>();
    if p.is_null() {
        return p.cast();
    }
    // SAFETY: `p` is a fresh, aligned block of `size_of::<Domain>()` bytes.
    unsafe {
        p.write(Domain {
            domid,
            stats: Stats::default(),
            pv: spin::Mutex::new(None),
        })
    };
    p.cast()
}

/// Free what `xdbt_domain_new` returned (NULL is ignored).
///
/// # Safety
/// `core` is NULL or a pointer from `xdbt_domain_new` not freed yet, which no CPU uses any
/// more (Xen calls this from the domain's final destruction, after an RCU grace period).
#[no_mangle]
pub unsafe extern "C" fn xdbt_domain_free(core: *mut c_void) {
    if core.is_null() {
        return;
    }
    let p = core.cast::<Domain>();
    // SAFETY: by the contract above, `p` holds a live `Domain` allocated with this layout
    // and nobody else refers to it.
    unsafe {
        p.drop_in_place();
        dealloc(p.cast(), Layout::new::<Domain>());
    }
}

/// Print the statistics of one translated domain (the `X` debug key).
///
/// # Safety
/// `core` is a live pointer from `xdbt_domain_new` (Xen holds the domain list's RCU lock).
#[no_mangle]
pub unsafe extern "C" fn xdbt_domain_dump(core: *mut c_void, domid: c_uint) {
    // SAFETY: by the contract above; only shared access to atomics.
    let dom = unsafe { &*core.cast::<Domain>() };
    let s = &dom.stats;
    xen_println!(
        "xdbt: d{domid}: runs {} blocks {} guest-insns {} host-bytes {} host-faults {} \
         last-eip {:#010x}",
        s.runs.load(Relaxed),
        s.blocks.load(Relaxed),
        s.guest_insns.load(Relaxed),
        s.host_bytes.load(Relaxed),
        s.host_faults.load(Relaxed),
        s.last_eip.load(Relaxed)
    );
    let mut line = crate::print::Line::<256>::new();
    let _ = write!(line, "xdbt: d{} exits:", dom.domid);
    for k in ExitKind::ALL {
        let _ = write!(line, " {} {}", k.name(), s.exits[k as usize].load(Relaxed));
    }
    crate::print::printk_cstr(&mut line);
}

/// The guest state a vCPU starts from (`struct xdbt_regs`, asm/xdbt.h).
#[repr(C)]
pub struct Regs {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
    pub esp: u32,
    pub eip: u32,
    pub eflags: u32,
    /// In the 32-bit PV ("extended") format: frame number rotated left by 12.
    pub cr3: u32,
    pub vm_assist: u32,
}

/// Run the current vCPU of the translated domain `d` until it needs Xen: returns an
/// `XDBT_EXIT_*` code (asm/xdbt.h); for `XDBT_EXIT_SHUTDOWN`, `*arg` is the reason.
///
/// The first call builds the vCPU's engine in the memory Xen set up (`info`) and stores
/// it in `*vcore`; later calls continue from the vCPU's saved state.
///
/// # Safety
/// `core` is the domain's live state from `xdbt_domain_new`; `d` is the domain, passed back
/// to Xen; `vcore` points to the vCPU's slot (NULL until the first call), owned by this
/// vCPU; `info` and `arg` are valid. Xen calls this on the vCPU itself, on its page tables
/// (the window) with the GS base at the window and the vCPU's FPU loaded.
#[no_mangle]
pub unsafe extern "C" fn xdbt_vcpu_run(
    core: *mut c_void,
    d: *const c_void,
    vcore: *mut *mut c_void,
    info: *const vcpu::RunInfo,
    arg: *mut u32,
) -> c_int {
    // SAFETY: by the contract above.
    let (dom, info, slot, arg) =
        unsafe { (&*core.cast::<Domain>(), &*info, &mut *vcore, &mut *arg) };
    let s = &dom.stats;
    let domid = dom.domid;
    let vcpu_id = info.vcpu_id;
    s.runs.fetch_add(1, Relaxed);
    if slot.is_null() {
        // The first run: build the engine, and report the first block (the check that the
        // guest's code is reachable through its page tables).
        let v = Vcpu::new(d, info);
        match crate::selftest::translate_once(
            v.guest_memory(),
            info.regs.eip,
            xdbt::frontend::MAX_BLOCK_INSNS,
        ) {
            Ok(t) => xen_println!(
                "xdbt: d{domid}v{vcpu_id}: translated {} instructions at EIP {:#010x} \
                 ({} bytes of x86-64, ESP {:#010x}, CR3 frame {:#x})",
                t.guest_insns,
                info.regs.eip,
                t.host_bytes,
                info.regs.esp,
                v.l3_mfn()
            ),
            Err(e) => {
                xen_println!(
                    "xdbt: d{domid}v{vcpu_id}: cannot translate the guest's code at EIP \
                     {:#010x} ({e}, CR3 frame {:#x}): crashing the domain",
                    info.regs.eip,
                    v.l3_mfn()
                );
                s.exits[ExitKind::Other as usize].fetch_add(1, Relaxed);
                return XDBT_EXIT_CRASH;
            }
        }
        xen_println!(
            "xdbt: d{domid}v{vcpu_id}: running translated code (window at {:#x}, code cache \
             {} KiB at {:#x})",
            info.window_base,
            info.code_size >> 10,
            info.code_rx
        );
        *slot = alloc::boxed::Box::into_raw(v).cast();
    }
    // SAFETY: `*slot` holds this vCPU's state (set above or by an earlier call), used by
    // this vCPU only; the fault hook reads it only while we are inside `run`.
    let v = unsafe { &mut *slot.cast::<Vcpu>() };
    let mut pv = dom.pv.lock();
    let pv = pv.get_or_insert_with(|| {
        let mut p = PvDomain::new(domid as u16, 0, info.nr_vcpus);
        p.vm_assist = info.regs.vm_assist;
        p
    });
    pv.cur = vcpu_id as usize;
    let before = v.stats().clone();
    let (code, turn) = v.run(pv, arg);
    let after = v.stats();
    s.blocks
        .fetch_add(after.blocks_translated - before.blocks_translated, Relaxed);
    s.guest_insns.fetch_add(
        after.guest_insns_translated - before.guest_insns_translated,
        Relaxed,
    );
    s.host_bytes
        .fetch_add(after.host_bytes - before.host_bytes, Relaxed);
    s.host_faults
        .fetch_add(after.host_faults - before.host_faults, Relaxed);
    s.last_eip.store(v.eip(), Relaxed);
    let kind = match turn {
        Turn::Hypercall => ExitKind::Hypercall,
        Turn::Unserved(nr) => {
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: hypercall {nr} is not served inside Xen yet: -ENOSYS"
            );
            ExitKind::Unserved
        }
        Turn::Stopped => ExitKind::Stopped,
        Turn::Trap => ExitKind::Trap,
        Turn::GuestFault(f, e) => {
            let (vec, ec, cr2) = vcpu::describe(&f);
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: guest fault {vec} (error code {ec:#x}, CR2 \
                 {cr2:#010x}) at EIP {:#010x} with no usable handler ({e:?}): crashing the \
                 domain",
                v.eip()
            );
            ExitKind::GuestFault
        }
        Turn::IretFailed(e) => {
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: HYPERVISOR_iret at EIP {:#010x} refused ({e:?}): \
                 crashing the domain",
                v.eip()
            );
            ExitKind::GuestFault
        }
        Turn::UpcallFailed(e) => {
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: event upcall at EIP {:#010x} not deliverable \
                 ({e:?}): crashing the domain",
                v.eip()
            );
            ExitKind::GuestFault
        }
        Turn::Other => {
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: cannot continue at EIP {:#010x} inside Xen yet: \
                 crashing the domain",
                v.eip()
            );
            ExitKind::Other
        }
    };
    s.exits[kind as usize].fetch_add(1, Relaxed);
    if code == vcpu::XDBT_EXIT_SHUTDOWN {
        xen_println!(
            "xdbt: d{domid}v{vcpu_id}: SCHEDOP_shutdown reason {} after {} blocks",
            *arg,
            after.blocks_translated
        );
    }
    code
}
