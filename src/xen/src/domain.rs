//! Translated domains: the translator's per-domain state (statistics for the `X` debug
//! key), the vCPU entry point Xen's run loop calls (`xdbt_vcpu_run`), and guest memory
//! read through the guest's PAE page tables.
//!
//! Xen owns the domain (`xen/arch/x86/xdbt.c`): it allocates this state when
//! `XEN_DOMCTL_set_address_size 32` makes a domain translated and frees it with the domain.
//! Reads of guest frames go through Xen (`xdbt_host_read_frame`), which checks that the
//! frame belongs to the domain.

use crate::ffi;
use crate::print::xen_println;
use crate::selftest::{translate_once, TranslateError};
use alloc::alloc::{alloc_zeroed, dealloc};
use core::alloc::Layout;
use core::ffi::{c_int, c_uint, c_void};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use xdbt::mmu::{Access, GuestAddr, GuestMemory};
use xdbt::{Fault, Vector};

/// `xdbt_vcpu_run`'s return values (`asm/xdbt.h`).
pub const XDBT_EXIT_CRASH: c_int = 1;

/// Why a vCPU left the translator, counted per domain.
#[derive(Clone, Copy)]
#[repr(usize)]
pub enum ExitKind {
    /// Translated code cannot run inside Xen yet: the domain is crashed.
    NotRunnable,
    /// The guest's code could not be fetched (not mapped, or not the domain's frame).
    FetchFault,
    /// The block could not be translated.
    Untranslatable,
}

impl ExitKind {
    const ALL: [ExitKind; 3] = [
        ExitKind::NotRunnable,
        ExitKind::FetchFault,
        ExitKind::Untranslatable,
    ];

    fn name(self) -> &'static str {
        match self {
            ExitKind::NotRunnable => "not-runnable-in-xen",
            ExitKind::FetchFault => "fetch-fault",
            ExitKind::Untranslatable => "untranslatable",
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
    exits: [AtomicU64; ExitKind::ALL.len()],
    last_eip: AtomicU32,
}

/// The translator's state of one translated domain.
pub struct Domain {
    domid: u32,
    stats: Stats,
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
        "xdbt: d{domid}: runs {} blocks {} guest-insns {} host-bytes {} code-cache 0 bytes \
         (not executing yet) last-eip {:#010x}",
        s.runs.load(Relaxed),
        s.blocks.load(Relaxed),
        s.guest_insns.load(Relaxed),
        s.host_bytes.load(Relaxed),
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

/// Run vCPU `vcpu_id` of the translated domain `d` from `regs`.
///
/// Today this decodes and translates the guest's first block from its memory (through its
/// page tables), reports it on Xen's console, and asks Xen to crash the domain: running
/// translated code inside Xen is the next step (docs/XEN.md).
///
/// # Safety
/// `core` is the domain's live state from `xdbt_domain_new`; `d` is the domain, passed back
/// to `xdbt_host_read_frame`; `regs` points to a valid `struct xdbt_regs`.
#[no_mangle]
pub unsafe extern "C" fn xdbt_vcpu_run(
    core: *mut c_void,
    d: *const c_void,
    vcpu_id: c_uint,
    regs: *const Regs,
) -> c_int {
    // SAFETY: by the contract above.
    let (dom, regs) = unsafe { (&*core.cast::<Domain>(), &*regs) };
    let s = &dom.stats;
    let domid = dom.domid;
    s.runs.fetch_add(1, Relaxed);
    s.last_eip.store(regs.eip, Relaxed);
    let mem = PaeMemory {
        d,
        l3_mfn: cr3_to_mfn(regs.cr3),
    };
    let kind = match translate_once(&mem, regs.eip, xdbt::frontend::MAX_BLOCK_INSNS) {
        Ok(t) => {
            s.blocks.fetch_add(1, Relaxed);
            s.guest_insns.fetch_add(t.guest_insns as u64, Relaxed);
            s.host_bytes.fetch_add(t.host_bytes as u64, Relaxed);
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: translated {} instructions at EIP {:#010x} \
                 ({} bytes of x86-64, ESP {:#010x}, CR3 frame {:#x})",
                t.guest_insns,
                regs.eip,
                t.host_bytes,
                regs.esp,
                mem.l3_mfn
            );
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: running translated code in Xen is not \
                 implemented yet: crashing the domain"
            );
            ExitKind::NotRunnable
        }
        Err(e @ TranslateError::Fetch(_)) => {
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: cannot fetch the guest's code at EIP {:#010x} \
                 ({e}, CR3 frame {:#x}): crashing the domain",
                regs.eip,
                mem.l3_mfn
            );
            ExitKind::FetchFault
        }
        Err(e @ TranslateError::Layout(_)) => {
            xen_println!(
                "xdbt: d{domid}v{vcpu_id}: cannot translate the block at EIP {:#010x} \
                 ({e}): crashing the domain",
                regs.eip
            );
            ExitKind::Untranslatable
        }
    };
    s.exits[kind as usize].fetch_add(1, Relaxed);
    XDBT_EXIT_CRASH
}

/// The frame number of a 32-bit PV CR3 (`xen_cr3_to_pfn_x86_32`).
fn cr3_to_mfn(cr3: u32) -> u64 {
    u64::from(cr3.rotate_right(12))
}

const PTE_PRESENT: u64 = 1;
const PTE_PSE: u64 = 1 << 7;
/// Bits 12..51 of a PAE entry: the frame's address.
const PTE_ADDR: u64 = ((1 << 52) - 1) & !0xfff;

/// The guest's linear memory through its PAE page tables, whose entries hold machine
/// frames (a PV guest's page tables are machine-addressed). Reads only.
struct PaeMemory {
    d: *const c_void,
    l3_mfn: u64,
}

impl PaeMemory {
    fn frame(&self, mfn: u64, offset: u32, buf: &mut [u8]) -> bool {
        // SAFETY: `d` is the live domain Xen passed to xdbt_vcpu_run; Xen checks that
        // `mfn` is the domain's and that offset + len stays within the frame, and writes
        // at most `buf.len()` bytes to `buf`.
        let rc = unsafe {
            ffi::xdbt_host_read_frame(
                self.d,
                mfn,
                offset,
                buf.as_mut_ptr().cast(),
                buf.len() as c_uint,
            )
        };
        rc == 0
    }

    fn entry(&self, mfn: u64, index: u32) -> Option<u64> {
        let mut e = [0u8; 8];
        self.frame(mfn, index * 8, &mut e)
            .then(|| u64::from_le_bytes(e))
            .filter(|e| e & PTE_PRESENT != 0)
    }

    /// The machine frame and offset of linear address `la`.
    fn walk(&self, la: u32) -> Option<(u64, u32)> {
        let l3e = self.entry(self.l3_mfn, la >> 30)?;
        let l2e = self.entry((l3e & PTE_ADDR) >> 12, (la >> 21) & 511)?;
        if l2e & PTE_PSE != 0 {
            let mfn = ((l2e & PTE_ADDR) >> 12) + u64::from((la >> 12) & 511);
            return Some((mfn, la & 0xfff));
        }
        let l1e = self.entry((l2e & PTE_ADDR) >> 12, (la >> 12) & 511)?;
        Some(((l1e & PTE_ADDR) >> 12, la & 0xfff))
    }
}

impl GuestMemory for PaeMemory {
    fn read(&self, addr: GuestAddr, buf: &mut [u8], acc: Access) -> Result<(), Fault> {
        let mut done = 0;
        while done < buf.len() {
            let la = addr.0.wrapping_add(done as u32);
            let take = (4096 - (la & 0xfff) as usize).min(buf.len() - done);
            let ok = self
                .walk(la)
                .is_some_and(|(mfn, off)| self.frame(mfn, off, &mut buf[done..done + take]));
            if !ok {
                let mut f = Fault::new(Vector::PF);
                f.cr2 = la;
                f.error_code = if acc == Access::Fetch { 0x10 } else { 0 };
                return Err(f);
            }
            done += take;
        }
        Ok(())
    }

    fn write(&mut self, addr: GuestAddr, _data: &[u8]) -> Result<(), Fault> {
        let mut f = Fault::new(Vector::PF);
        f.cr2 = addr.0;
        f.error_code = 0x2;
        Err(f)
    }
}
