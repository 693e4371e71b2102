//! A translated vCPU inside Xen: the core's engine running the guest's code for real.
//!
//! Xen (`xen/arch/x86/xdbt.c`) gives every translated vCPU, before it first runs:
//! - its own page tables, with the **guest window** at `RunInfo::window_base` (4 GiB, L4
//!   slot 0): guest linear address `a` at `window_base + a`, mapped from the guest's frames
//!   as its PAE page tables say (supervisor, NX, refcounted like the guest's own entries),
//!   and the engine's poll page just below; translated code reaches it as `gs:[a]`, with
//!   the GS base pointed at the window around `xdbt_vcpu_run`;
//! - a **code cache**: the same frames mapped twice, RW (never executed) and RX;
//! - a **stack for translated code** whose top page aliases the top of the running CPU's
//!   Xen stack, so that interrupts and exceptions taken in translated code find Xen's
//!   per-CPU `struct cpu_info`.
//!
//! A fault in translated code reaches Xen's exception handlers, which ask
//! [`xdbt_host_fault`] whether it is ours; if so the guest registers and the fault are left
//! in the engine's context and the handler resumes at the engine's `exit_saved` routine,
//! exactly as the hosted SIGSEGV handler does. Interrupts are Xen's; when one leaves a
//! softirq pending, Xen closes the poll page and translated code stops at the next block.
//!
//! Guest exceptions and `int n` are bounced to the guest's trap-table handler with the core's
//! `xdbt::pv::traps::bounce`, and `HYPERVISOR_iret` is served here before dispatch, as the
//! hosted runner does; a fault with no usable handler crashes the domain (as Xen does).
//!
//! Hypercalls (`int $0x82` from ring 1) go through the core's PV layer
//! (`xdbt::pv::hypercall::dispatch`) for the calls listed in [`SERVED`]; those whose
//! 32-bit arguments have the native layout go to Xen's own handlers
//! ([`Vcpu::xen_hypercall`]: event channels, timers, page-table updates), so dom0's
//! backends and Xen's timers see the domain as any other; the others return -ENOSYS
//! (docs/XEN.md). Event upcalls are delivered from Xen's `vcpu_info` in the domain's real
//! shared_info page, which the core's PV layer reads and writes too.

use crate::ffi;
use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::ffi::{c_int, c_long, c_uint, c_void};
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use xdbt::cache::ExecMemory;
use xdbt::cpu::seg::Segment;
use xdbt::cpu::{EAX, EBP, EBX, ECX, EDI, EDX, ESI};
use xdbt::engine::ctx::{ExitKind as JitExit, JitContext};
use xdbt::engine::{Engine, JitStack};
use xdbt::exit::{PFEC_INSN, PFEC_PRESENT, PFEC_WRITE};
use xdbt::mmu::{Access, GuestAddr, GuestMemory, JitMemory, Prot};
use xdbt::pv::event::{self, BackendNotify, EventChannels, SharedPage};
use xdbt::pv::far;
use xdbt::pv::hypercall::{self, Outcome, PvDomain, PvHost};
use xdbt::pv::mm::{MmHost, PageProt};
use xdbt::pv::traps::{self, BounceError};
use xdbt::{Exit, Fault, Vector};

/// `xdbt_vcpu_run`'s return values (`asm/xdbt.h`).
pub const XDBT_EXIT_CRASH: c_int = 1;
pub const XDBT_EXIT_CONTINUE: c_int = 2;
pub const XDBT_EXIT_SHUTDOWN: c_int = 3;
pub const XDBT_EXIT_YIELD: c_int = 4;
pub const XDBT_EXIT_BLOCK: c_int = 5;

/// Hypercalls served by the core's PV layer inside Xen today, with the sub-commands
/// allowed (None: all). They only touch guest memory through the window's page-table
/// walk and the core's own per-domain state.
pub const SERVED: [(u32, Option<&[u32]>); 12] = [
    (0, None), // set_trap_table
    (3, None), // stack_switch
    (4, None), // set_callbacks
    // sched_op_compat: yield, block, shutdown.
    (6, Some(&[0, 1, 2])),
    (8, None),  // set_debugreg (the translator's view of DR0-7; no breakpoint fires yet)
    (9, None),  // get_debugreg
    (17, None), // xen_version
    (18, None), // console_io
    (21, None), // vm_assist (the PV32 set; the translator's state)
    (28, None), // nmi_op
    // sched_op: yield, block, shutdown, shutdown_code (the others go to Xen).
    (29, Some(&[0, 1, 2, 5])),
    (30, None), // callback_op
];

const ENOSYS: i32 = 38;
const EINVAL: i32 = 22;
/// Hypercalls Xen's own handlers serve (`xdbt_host_hypercall`): their 32-bit argument
/// structures have the native layout.
const HYPERCALL_MMU_UPDATE: u32 = 1;
const HYPERCALL_UPDATE_VA_MAPPING: u32 = 14;
const HYPERCALL_SET_TIMER_OP: u32 = 15;
const HYPERCALL_VCPU_OP: u32 = 24;
const HYPERCALL_EVENT_CHANNEL_OP: u32 = 32;
const HYPERCALL_MEMORY_OP: u32 = 12;
const HYPERCALL_EVENT_CHANNEL_OP_COMPAT: u32 = 16;
const HYPERCALL_MMUEXT_OP: u32 = 26;
const HYPERCALL_SCHED_OP: u32 = 29;
const HYPERCALL_GRANT_TABLE_OP: u32 = 20;
const HYPERCALL_MULTICALL: u32 = 13;
/// Entries one multicall may hold (the core's bound for `xdbt run`).
const MULTICALL_MAX: u32 = hypercall::MAX_BATCH;
const GNTTABOP_SETUP_TABLE: u32 = 2;
/// query_size, set_version, get_version: the same layout for a 32-bit guest.
const GNTTAB_OPS_NATIVE: [u32; 3] = [6, 8, 10];
const SCHEDOP_POLL: u32 = 3;
/// XENMEM_maximum_ram_page, current_reservation, maximum_reservation, maximum_gpfn: a
/// domid_t argument.
const MEMORY_OPS_NATIVE: [u32; 4] = [2, 3, 4, 14];
const MMUEXT_TLB_FLUSH_MULTI: u32 = 8;
const MMUEXT_INVLPG_MULTI: u32 = 9;
const MMUEXT_NEW_BASEPTR: u32 = 5;
const MMUEXT_SET_LDT: u32 = 13;
const MMUEXT_NEW_USER_BASEPTR: u32 = 15;
const EFAULT: i64 = 14;
/// update_va_mapping's flags: flush all vCPUs (else bits 2.. are a vCPU mask's address).
const UVMF_ALL: u32 = 1 << 2;
const ERESTART: i64 = 85;
/// VCPUOP_is_up, set/stop_periodic_timer, set/stop_singleshot_timer, register_vcpu_info:
/// the sub-ops whose arguments have the same layout for a 32-bit guest. (initialise, up,
/// down, the runstate calls and the rest are not passed on.)
const VCPU_OPS_NATIVE: [u32; 6] = [3, 6, 7, 8, 9, 10];
const VCPUOP_GET_RUNSTATE_INFO: u32 = 4;
/// vcpu_info.arch.cr2 (x86_32): where Xen leaves a #PF's address for the guest.
const VI_CR2: u32 = 8;
/// `__HYPERVISOR_iret`: served by the vCPU itself, never dispatched.
const HYPERCALL_IRET: u32 = 23;

/// Segment caches for selectors, from the vCPU's descriptors (Xen's flat selectors).
fn selectors(gdt: &[u64]) -> impl Fn(u16) -> Option<Segment> + '_ {
    move |sel: u16| {
        if sel & 4 != 0 {
            return None;
        }
        let d = *gdt.get(usize::from(sel >> 3))?;
        (d != 0).then(|| Segment::from_descriptor(sel, d))
    }
}

/// What Xen hands `xdbt_vcpu_run` (`struct xdbt_run_info`, asm/xdbt.h).
#[repr(C)]
pub struct RunInfo {
    pub regs: crate::domain::Regs,
    pub vcpu_id: u32,
    pub nr_vcpus: u32,
    /// `struct vcpu *`, passed back to `xdbt_host_protect`.
    pub vcpu: *mut c_void,
    pub window_base: u64,
    pub code_rw: u64,
    pub code_rx: u64,
    pub code_size: u64,
    pub stack_top: u64,
    pub guard_lo: u64,
    pub guard_hi: u64,
    /// The domain's shared_info page (4 KiB, 32-bit layout), mapped by Xen for its
    /// lifetime.
    pub shared_info: *mut u8,
}

/// A fault Xen took in its own context (`struct xdbt_fault`, asm/xdbt.h).
#[repr(C)]
pub struct HostFaultRegs {
    pub rip: u64,
    pub addr: u64,
    pub rflags: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rbx: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub r11: u64,
    pub r14: u64,
    pub r15: u64,
    pub trapnr: u32,
    pub error_code: u32,
}

/// Why the last turn ended, for the domain's statistics.
pub enum Turn {
    Hypercall,
    Unserved(u32),
    Stopped,
    /// A guest exception bounced to its handler, or a HYPERVISOR_iret served.
    Trap,
    /// A guest fault with no usable handler: the domain is crashed.
    GuestFault(Fault, BounceError),
    /// HYPERVISOR_iret with a frame Xen would refuse: the domain is crashed.
    IretFailed(BounceError),
    /// An event upcall that could not be delivered (no usable callback or stack): the
    /// domain is crashed, as Xen does.
    UpcallFailed(BounceError),
    Other,
}

/// The translator's state of one translated vCPU (`xdbt_vcpu::core` in Xen).
pub struct Vcpu {
    engine: Engine,
    mem: XenMem,
    /// The engine's context and code range, for the fault hook (which must not borrow the
    /// engine: it runs while the engine is inside translated code).
    ctx: *mut JitContext,
    code: (u64, u64),
    exit_saved: u64,
    /// Descriptors segment loads see: Xen's flat ring 1 and ring 3 selectors.
    gdt: Vec<u64>,
    /// A console line not finished yet.
    line: Vec<u8>,
    /// The domain's shared_info page: Xen's `vcpu_info` (upcall pending and mask, CR2).
    shared: XenShared,
    vcpu_id: u32,
}

impl Vcpu {
    /// Build the vCPU's engine in the memory Xen set up, with the registers the toolstack
    /// gave (ring 1, flat segments, as Xen starts a PV32 vCPU).
    /// The guest's memory through its page tables (for the first-run self-check).
    pub fn guest_memory(&self) -> &dyn GuestMemory {
        &self.mem
    }

    /// The frame of the vCPU's L3 table.
    pub fn l3_mfn(&self) -> u64 {
        self.mem.l3_mfn
    }

    pub fn new(d: *const c_void, info: &RunInfo) -> Box<Vcpu> {
        let exec = ExecMemory {
            rw: info.code_rw as *mut u8,
            rx: info.code_rx,
            size: info.code_size as usize,
        };
        let stack = JitStack {
            top: info.stack_top,
            guard_lo: info.guard_lo,
            guard_hi: info.guard_hi,
        };
        let mut engine = Engine::new(exec, stack, None);
        let ctx = engine.ctx_ptr();
        let code = engine.code_range();
        let exit_saved = engine.routines().exit_saved;
        let r = &info.regs;
        traps::start_ring1(
            engine.cpu_mut(),
            [r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi],
            r.eip,
            r.eflags,
        );
        engine.cpu_mut().cr3 = r.cr3;
        let mut gdt = Vec::new();
        traps::install_flat_descriptors(&mut gdt);
        Box::new(Vcpu {
            engine,
            mem: XenMem {
                d,
                v: info.vcpu,
                l3_mfn: u64::from(r.cr3.rotate_right(12)),
                base: info.window_base,
                code: BTreeSet::new(),
                dirty: Vec::new(),
            },
            ctx,
            code,
            exit_saved,
            gdt,
            line: Vec::new(),
            shared: XenShared(info.shared_info),
            vcpu_id: info.vcpu_id,
        })
    }

    pub fn stats(&self) -> &xdbt::engine::Stats {
        self.engine.stats()
    }

    pub fn eip(&self) -> u32 {
        self.engine.cpu().eip
    }

    /// Run translated code until something needs Xen: a hypercall the caller serves by
    /// returning (`XDBT_EXIT_*`), a stop request (softirqs), or a guest fault.
    pub fn run(&mut self, pv: &mut PvDomain, arg: &mut u32) -> (c_int, Turn) {
        if let Err(e) = self.upcall(pv) {
            return (XDBT_EXIT_CRASH, Turn::UpcallFailed(e));
        }
        let gdt = &self.gdt;
        let desc = |sel: u16| {
            (sel & 4 == 0)
                .then(|| gdt.get(usize::from(sel >> 3)).copied())
                .flatten()
                .filter(|&d| d != 0)
        };
        let exit = self.engine.run(&mut self.mem, &desc);
        match exit {
            Exit::Stopped => (XDBT_EXIT_CONTINUE, Turn::Stopped),
            Exit::SoftInt { vector: 0x82, .. }
                if self.engine.cpu().cpl == 1 && self.engine.cpu().gpr[EAX] == HYPERCALL_IRET =>
            {
                self.iret(pv)
            }
            Exit::SoftInt { vector: 0x82, .. } if self.engine.cpu().cpl == 1 => {
                self.hypercall(pv, arg)
            }
            Exit::SoftInt { vector, len } => self.soft_int(pv, vector, len),
            Exit::Fault(f) => self.deliver_fault(pv, f),
            _ => (XDBT_EXIT_CRASH, Turn::Other),
        }
    }

    /// An event upcall, if Xen marked one pending in this vCPU's `vcpu_info` and the guest
    /// has not masked it: bounced to the guest's event callback (`pv::traps::bounce_event`),
    /// which masks further upcalls, as Xen does on the way back to a PV vCPU.
    #[inline(never)]
    fn upcall(&mut self, pv: &mut PvDomain) -> Result<(), BounceError> {
        if pv.event_callback.1 == 0 || !EventChannels::upcall_due(&self.shared, self.vcpu_id) {
            return Ok(());
        }
        self.mask_in(pv);
        let mut cpu = self.engine.cpu().clone();
        let sel = selectors(&self.gdt);
        traps::bounce_event(pv, &mut cpu, &mut self.mem, &sel)?;
        drop(sel);
        self.engine.replace_cpu(cpu);
        self.mask_out(pv);
        Ok(())
    }

    /// The core's PV layer keeps the upcall mask in `PvDomain` while it bounces or irets;
    /// the guest and Xen keep it in `vcpu_info`.
    fn mask_in(&self, pv: &mut PvDomain) {
        pv.upcall_mask = self
            .shared
            .load_u8(event::vcpu_info_off(self.vcpu_id) + event::VI_UPCALL_MASK);
    }

    fn mask_out(&mut self, pv: &PvDomain) {
        self.shared.swap_u8(
            event::vcpu_info_off(self.vcpu_id) + event::VI_UPCALL_MASK,
            pv.upcall_mask,
        );
    }

    /// HYPERVISOR_iret: the stub pushed EAX and never returns (served here, as the hosted
    /// runner intercepts it before dispatch).
    #[inline(never)]
    fn iret(&mut self, pv: &mut PvDomain) -> (c_int, Turn) {
        self.mask_in(pv);
        let mut cpu = self.engine.cpu().clone();
        let sel = selectors(&self.gdt);
        let r = traps::hypervisor_iret(pv, &mut cpu, &mut self.mem, &sel);
        drop(sel);
        match r {
            Ok(()) => {
                self.engine.replace_cpu(cpu);
                self.mask_out(pv);
                (XDBT_EXIT_CONTINUE, Turn::Trap)
            }
            Err(e) => (XDBT_EXIT_CRASH, Turn::IretFailed(e)),
        }
    }

    /// `int n` other than a ring-1 hypercall.
    #[inline(never)]
    fn soft_int(&mut self, pv: &mut PvDomain, vector: u8, len: u8) -> (c_int, Turn) {
        // `int n`: delivered if the gate's DPL allows it from this ring, else #GP
        // at the instruction with the IDT error code (do_general_protection).
        let cpl = self.engine.cpu().cpl;
        let dpl = pv
            .trap_table
            .iter()
            .find(|t| t.0 == vector)
            .map(|t| t.1 & 3);
        let (vec, err) = if dpl.is_some_and(|d| d >= cpl) {
            (vector, None)
        } else {
            let c = self.engine.cpu_mut();
            c.eip = c.eip.wrapping_sub(u32::from(len));
            (13, Some((u32::from(vector) << 3) | 2))
        };
        let fault = Fault {
            vector: Vector::from_u8(vec).unwrap_or(Vector::GP),
            error_code: err.unwrap_or(0),
            cr2: self.engine.cpu().cr2,
        };
        match self.bounce(pv, vec, err) {
            Ok(()) => (XDBT_EXIT_CONTINUE, Turn::Trap),
            Err(e) => (XDBT_EXIT_CRASH, Turn::GuestFault(fault, e)),
        }
    }

    /// Bounce `vector` to the guest's trap-table handler (`xdbt::pv::traps::bounce`).
    #[inline(never)]
    fn bounce(
        &mut self,
        pv: &mut PvDomain,
        vector: u8,
        err: Option<u32>,
    ) -> Result<(), BounceError> {
        self.mask_in(pv);
        let mut cpu = self.engine.cpu().clone();
        let sel = selectors(&self.gdt);
        traps::bounce(pv, &mut cpu, &mut self.mem, vector, err, &sel)?;
        drop(sel);
        self.engine.replace_cpu(cpu);
        self.mask_out(pv);
        Ok(())
    }

    /// A guest fault: far transfers a ring-1 kernel runs natively on Xen are emulated
    /// (`xdbt::pv::far`); anything else goes to the guest's handler, as Xen bounces it.
    /// With no usable handler the domain is crashed, as Xen does.
    // Out of line: Xen's stack is 8 KiB, and `xdbt_vcpu_run`'s frame must stay small.
    #[inline(never)]
    fn deliver_fault(&mut self, pv: &mut PvDomain, f: Fault) -> (c_int, Turn) {
        let mut f = f;
        if f.vector == Vector::UD && self.engine.cpu().cpl < 3 {
            let mut cpu = self.engine.cpu().clone();
            let sel = selectors(&self.gdt);
            match far::emulate(&mut cpu, &mut self.mem, &sel) {
                Some(Ok(())) => {
                    self.engine.replace_cpu(cpu);
                    return (XDBT_EXIT_CONTINUE, Turn::Trap);
                }
                Some(Err(fault)) => f = fault,
                None => {}
            }
        }
        let vec = match f.vector {
            Vector::PF => 14,
            v => v as u8,
        };
        if f.vector == Vector::PF {
            self.engine.cpu_mut().cr2 = f.cr2;
            self.shared
                .store_u32(event::vcpu_info_off(self.vcpu_id) + VI_CR2, f.cr2);
        }
        let err = traps::has_error_code(vec).then_some(f.error_code);
        match self.bounce(pv, vec, err) {
            Ok(()) => (XDBT_EXIT_CONTINUE, Turn::Trap),
            Err(e) => (XDBT_EXIT_CRASH, Turn::GuestFault(f, e)),
        }
    }

    // Out of line: Xen's stack is 8 KiB, and `xdbt_vcpu_run`'s frame must stay small.
    #[inline(never)]
    fn hypercall(&mut self, pv: &mut PvDomain, arg: &mut u32) -> (c_int, Turn) {
        let g = self.engine.cpu().gpr;
        if g[EAX] == HYPERCALL_MULTICALL {
            return self.multicall(pv, arg, g[EBX], g[ECX]);
        }
        self.hypercall_one(pv, arg)
    }

    /// multicall: each 32-bit entry ({op, result, args[6]}, 32 bytes) runs as if the guest
    /// had made that hypercall (registers loaded from it), its result stored back, as Xen's
    /// do_multicall does; nested multicall and iret entries get -EINVAL. A shutdown ends the
    /// batch; a yield or block takes effect after it.
    #[inline(never)]
    fn multicall(&mut self, pv: &mut PvDomain, arg: &mut u32, list: u32, n: u32) -> (c_int, Turn) {
        let saved = self.engine.cpu().gpr;
        let mut code = XDBT_EXIT_CONTINUE;
        let mut rc = 0i32;
        for i in 0..n.min(MULTICALL_MAX) {
            let at = list.wrapping_add(i.wrapping_mul(32));
            let mut e = [0u8; 32];
            if self.mem.read(GuestAddr(at), &mut e, Access::Read).is_err() {
                rc = -(EFAULT as i32);
                break;
            }
            let w =
                |k: usize| u32::from_le_bytes([e[4 * k], e[4 * k + 1], e[4 * k + 2], e[4 * k + 3]]);
            let result = if w(0) == HYPERCALL_MULTICALL || w(0) == HYPERCALL_IRET {
                (-EINVAL) as u32
            } else {
                let cpu = self.engine.cpu_mut();
                cpu.gpr[EAX] = w(0);
                for (r, k) in [(EBX, 2), (ECX, 3), (EDX, 4), (ESI, 5), (EDI, 6), (EBP, 7)] {
                    cpu.gpr[r] = w(k);
                }
                let (c, _) = self.hypercall_one(pv, arg);
                if c != XDBT_EXIT_CONTINUE {
                    code = c;
                }
                self.engine.cpu().gpr[EAX]
            };
            if self
                .mem
                .write(GuestAddr(at.wrapping_add(4)), &result.to_le_bytes())
                .is_err()
            {
                rc = -(EFAULT as i32);
                break;
            }
            if code == XDBT_EXIT_SHUTDOWN || code == XDBT_EXIT_CRASH {
                break;
            }
        }
        let cpu = self.engine.cpu_mut();
        cpu.gpr = saved;
        cpu.gpr[EAX] = if n > MULTICALL_MAX {
            (-EINVAL) as u32
        } else {
            rc as u32
        };
        (code, Turn::Hypercall)
    }

    fn hypercall_one(&mut self, pv: &mut PvDomain, arg: &mut u32) -> (c_int, Turn) {
        let cpu = self.engine.cpu_mut();
        let nr = cpu.gpr[EAX];
        let cmd = cpu.gpr[EBX];
        let served = SERVED
            .iter()
            .any(|&(n, cmds)| n == nr && cmds.is_none_or(|c| c.contains(&cmd)));
        if let Some(rc) = self.xen_hypercall(nr) {
            self.engine.cpu_mut().gpr[EAX] = rc as u32;
            return (XDBT_EXIT_CONTINUE, Turn::Hypercall);
        }
        let cpu = self.engine.cpu_mut();
        if !served {
            cpu.gpr[EAX] = (-ENOSYS) as u32;
            return (XDBT_EXIT_CONTINUE, Turn::Unserved(nr));
        }
        let mut host = XenHost {
            mem: &mut self.mem,
            line: &mut self.line,
            shared: &mut self.shared,
        };
        let out = hypercall::dispatch(pv, cpu, &mut host);
        let code = match out {
            Outcome::Shutdown(reason) => {
                *arg = reason;
                XDBT_EXIT_SHUTDOWN
            }
            Outcome::Yield => XDBT_EXIT_YIELD,
            Outcome::Block => XDBT_EXIT_BLOCK,
            Outcome::Continue | Outcome::Remapped | Outcome::Poll { .. } => XDBT_EXIT_CONTINUE,
        };
        (code, Turn::Hypercall)
    }

    /// A hypercall Xen's own handler serves (`xdbt_host_hypercall`), with the guest's
    /// pointers turned into window addresses; None if it is not one of those.
    #[inline(never)]
    fn xen_hypercall(&mut self, nr: u32) -> Option<i64> {
        let g = self.engine.cpu().gpr;
        let (ebx, ecx, edx, esi) = (g[EBX], g[ECX], g[EDX], g[ESI]);
        let win = |p: u32| self.mem.base + u64::from(p);
        let mut a: [u64; 5] = match nr {
            HYPERCALL_EVENT_CHANNEL_OP => [ebx.into(), win(ecx), 0, 0, 0],
            HYPERCALL_EVENT_CHANNEL_OP_COMPAT => [win(ebx), 0, 0, 0, 0],
            HYPERCALL_MEMORY_OP if MEMORY_OPS_NATIVE.contains(&ebx) => {
                [ebx.into(), win(ecx), 0, 0, 0]
            }
            // remote_shutdown, pin_override, watchdog: the same layout for a 32-bit guest.
            HYPERCALL_SCHED_OP if matches!(ebx, 4 | 6 | 7) => [ebx.into(), win(ecx), 0, 0, 0],
            HYPERCALL_SCHED_OP if ebx == SCHEDOP_POLL => match self.sched_poll_args(ecx) {
                Some(native) => [SCHEDOP_POLL.into(), native, 0, 0, 0],
                None => return Some(-EFAULT),
            },
            HYPERCALL_MMUEXT_OP => return Some(self.mmuext_op(ebx, ecx, edx, esi)),
            HYPERCALL_GRANT_TABLE_OP if GNTTAB_OPS_NATIVE.contains(&ebx) => {
                [ebx.into(), win(ecx), edx.into(), 0, 0]
            }
            HYPERCALL_GRANT_TABLE_OP if ebx == GNTTABOP_SETUP_TABLE => {
                return Some(self.gnttab_setup_table(ecx, edx))
            }
            HYPERCALL_SET_TIMER_OP => [(u64::from(ecx) << 32) | u64::from(ebx), 0, 0, 0, 0],
            HYPERCALL_VCPU_OP if ebx == VCPUOP_GET_RUNSTATE_INFO => {
                return Some(self.get_runstate_info(ecx, edx))
            }
            HYPERCALL_VCPU_OP if VCPU_OPS_NATIVE.contains(&ebx) => {
                [ebx.into(), ecx.into(), win(edx), 0, 0]
            }
            HYPERCALL_MMU_UPDATE => {
                let done = if edx == 0 { 0 } else { win(edx) };
                [win(ebx), ecx.into(), done, esi.into(), 0]
            }
            HYPERCALL_UPDATE_VA_MAPPING => {
                let val = (u64::from(edx) << 32) | u64::from(ecx);
                let mut rc = match self.mem.l1e_addr(ebx) {
                    // SAFETY: Xen validates the new entry and the frame of the old one.
                    Some(ptr) => unsafe { ffi::xdbt_host_pt_update(ptr, val) },
                    None => -c_long::from(EINVAL),
                };
                self.remapped();
                // The flush (nothing to do: the window was mirrored again) may name the
                // vCPUs by a mask in guest memory, which Xen reads after the update
                // (__do_update_va_mapping: UVMF_MULTI, the mask's address in the flags).
                let mask = esi & !3;
                if rc == 0 && esi & 3 != 0 && mask != 0 && mask != UVMF_ALL {
                    let mut m = [0u8; 4];
                    if self
                        .mem
                        .read(GuestAddr(mask), &mut m, Access::Read)
                        .is_err()
                    {
                        rc = -EFAULT;
                    }
                }
                return Some(rc);
            }
            _ => return None,
        };
        // SAFETY: `a` holds the five arguments Xen reads (and may rewrite); pointers are
        // window addresses, which Xen's guest accessors check and reach through this
        // vCPU's page tables, as for any PV guest's pointers.
        let rc = unsafe { ffi::xdbt_host_hypercall(nr, a.as_mut_ptr()) };
        if nr == HYPERCALL_MMU_UPDATE {
            self.remapped();
        }
        Some(rc)
    }

    /// SCHEDOP_poll's `struct sched_poll` at `arg`, rebuilt in the argument translation
    /// area with the native layout (the ports handle widens from 4 to 8 bytes); its
    /// address there, or None if the guest's struct cannot be read.
    fn sched_poll_args(&mut self, arg: u32) -> Option<u64> {
        // compat: { uint32_t ports; unsigned int nr_ports; uint64_t timeout; } (16 bytes)
        let mut c = [0u8; 16];
        self.mem.read(GuestAddr(arg), &mut c, Access::Read).ok()?;
        let word = |o: usize| u32::from_le_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]]);
        let mut n = [0u8; 24];
        n[..8].copy_from_slice(&(self.mem.base + u64::from(word(0))).to_le_bytes());
        n[8..12].copy_from_slice(&word(4).to_le_bytes());
        n[16..24].copy_from_slice(&c[8..16]);
        Some(xlat_put(0, &n))
    }

    /// VCPUOP_get_runstate_info: Xen fills the native `struct vcpu_runstate_info` (its
    /// 64-bit fields 8-aligned, 48 bytes) in the translation area; the guest gets the 32-bit
    /// layout (4-aligned, 44 bytes: state, state_entry_time, time[4]).
    fn get_runstate_info(&mut self, vcpu: u32, out: u32) -> i64 {
        let mut a = [
            VCPUOP_GET_RUNSTATE_INFO.into(),
            vcpu.into(),
            xlat_put(0, &[0; 48]),
            0,
            0,
        ];
        // SAFETY: the result goes to the translation area, a range Xen's accessors accept.
        let rc = unsafe { ffi::xdbt_host_hypercall(HYPERCALL_VCPU_OP, a.as_mut_ptr()) };
        if rc != 0 {
            return rc;
        }
        let n = xlat_get::<48>(0);
        let mut c = [0u8; 44];
        c[..4].copy_from_slice(&n[..4]);
        c[4..44].copy_from_slice(&n[8..48]);
        match self.mem.write(GuestAddr(out), &c) {
            Ok(()) => 0,
            Err(_) => -EFAULT,
        }
    }

    /// mmuext_op: each 32-bit entry ({cmd, arg1, arg2}, 12 bytes) is rebuilt as a native
    /// one (24 bytes) and passed to Xen's handler, except NEW_BASEPTR, which moves the
    /// window to the new address space. The count of entries done is written to `pdone`.
    #[inline(never)]
    fn mmuext_op(&mut self, uops: u32, count: u32, pdone: u32, foreigndom: u32) -> i64 {
        let mut rc = 0;
        let mut done = 0u32;
        while done < count {
            let mut e = [0u8; 12];
            let at = uops.wrapping_add(done.wrapping_mul(12));
            if self.mem.read(GuestAddr(at), &mut e, Access::Read).is_err() {
                rc = -EFAULT;
                break;
            }
            let word = |o: usize| u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]);
            let (cmd, arg1, arg2) = (word(0), word(4), word(8));
            let r = match cmd {
                MMUEXT_NEW_BASEPTR => self.new_baseptr(arg1),
                // 64-bit guests only (do_mmuext_op refuses it for a 32-bit domain).
                MMUEXT_NEW_USER_BASEPTR => -i64::from(EINVAL),
                // Translated vCPUs have Xen's flat selectors only: no LDT yet.
                MMUEXT_SET_LDT if arg2 == 0 => 0,
                MMUEXT_SET_LDT => -i64::from(ENOSYS),
                _ => {
                    let arg2 = match cmd {
                        MMUEXT_TLB_FLUSH_MULTI | MMUEXT_INVLPG_MULTI => {
                            self.mem.base + u64::from(arg2)
                        }
                        _ => arg2.into(),
                    };
                    let mut n = [0u8; 24];
                    n[..4].copy_from_slice(&cmd.to_le_bytes());
                    n[8..16].copy_from_slice(&u64::from(arg1).to_le_bytes());
                    n[16..24].copy_from_slice(&arg2.to_le_bytes());
                    let mut a = [xlat_put(0, &n), 1, 0, foreigndom.into(), 0];
                    // SAFETY: `a` holds the arguments Xen reads; the one entry is in the
                    // translation area, a range Xen's guest accessors accept.
                    unsafe { ffi::xdbt_host_hypercall(HYPERCALL_MMUEXT_OP, a.as_mut_ptr()) }
                }
            };
            if r != 0 {
                rc = r;
                break;
            }
            done += 1;
        }
        if pdone != 0
            && self
                .mem
                .write(GuestAddr(pdone), &done.to_le_bytes())
                .is_err()
        {
            rc = -EFAULT;
        }
        rc
    }

    /// GNTTABOP_setup_table: the 32-bit struct (frame_list a 4-byte handle to 32-bit frame
    /// numbers) is rebuilt natively in the translation area, with room for the frames,
    /// and Xen's answer copied back: status, and the frames when it succeeded.
    #[inline(never)]
    fn gnttab_setup_table(&mut self, uop: u32, count: u32) -> i64 {
        const FRAMES_AT: usize = 64;
        const MAX_FRAMES: u32 = ((8192 - FRAMES_AT) / 8) as u32;
        for i in 0..count {
            // compat: { domid_t dom; uint32_t nr_frames; int16_t status; uint32_t frame_list; }
            let at = uop.wrapping_add(i.wrapping_mul(16));
            let mut c = [0u8; 16];
            if self.mem.read(GuestAddr(at), &mut c, Access::Read).is_err() {
                return -EFAULT;
            }
            let nr = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            let list = u32::from_le_bytes([c[12], c[13], c[14], c[15]]);
            let mut n = [0u8; 24];
            n[..2].copy_from_slice(&c[..2]);
            // More frames than fit here: Xen refuses more than the table's maximum anyway,
            // which is far below this.
            n[4..8].copy_from_slice(&nr.min(MAX_FRAMES).to_le_bytes());
            let frames = xlat_put(FRAMES_AT, &[]);
            n[16..24].copy_from_slice(&frames.to_le_bytes());
            let mut a = [GNTTABOP_SETUP_TABLE.into(), xlat_put(0, &n), 1, 0, 0];
            // SAFETY: the struct and its frame list are in the translation area.
            let rc = unsafe { ffi::xdbt_host_hypercall(HYPERCALL_GRANT_TABLE_OP, a.as_mut_ptr()) };
            if rc != 0 {
                return rc;
            }
            let out = xlat_get::<24>(0);
            let status = [out[8], out[9]];
            if self
                .mem
                .write(GuestAddr(at.wrapping_add(8)), &status)
                .is_err()
            {
                return -EFAULT;
            }
            if i16::from_le_bytes(status) == 0 {
                for f in 0..nr.min(MAX_FRAMES) {
                    let mfn = u64::from_le_bytes(xlat_get::<8>(FRAMES_AT + 8 * f as usize));
                    let dst = GuestAddr(list.wrapping_add(4 * f));
                    if self.mem.write(dst, &(mfn as u32).to_le_bytes()).is_err() {
                        return -EFAULT;
                    }
                }
            }
        }
        0
    }

    /// MMUEXT_NEW_BASEPTR: Xen takes the PAE L3's type reference and mirrors the new
    /// address space; the translator then walks it, with no translation kept.
    fn new_baseptr(&mut self, mfn: u32) -> i64 {
        loop {
            // SAFETY: `v` is the running vCPU; Xen checks the frame.
            let rc = unsafe { ffi::xdbt_host_new_baseptr(self.mem.v, mfn.into()) };
            match i64::from(rc) {
                r if r == -ERESTART => continue,
                0 => break,
                r => return r,
            }
        }
        self.mem.l3_mfn = mfn.into();
        // The guest's CR3 in the 32-bit extended format (frame number rotated).
        self.engine.cpu_mut().cr3 = mfn.rotate_left(12);
        self.drop_translations();
        0
    }

    /// The guest's page tables changed: mirror them into the window again, and drop the
    /// translations (code may now be elsewhere; the write protection of code pages went
    /// with the old window entries).
    fn remapped(&mut self) {
        // SAFETY: `v` is the running vCPU Xen passed in RunInfo.
        unsafe { ffi::xdbt_host_window_sync(self.mem.v) };
        self.drop_translations();
    }

    /// The window was mirrored again: no translation may be kept (code may now be
    /// elsewhere), and the code pages' write protection went with the old entries.
    fn drop_translations(&mut self) {
        self.engine.flush();
        self.mem.code.clear();
        self.mem.dirty.clear();
    }

    /// The fault hook: claim a fault in this vCPU's translated code (see the module doc).
    /// Returns where Xen resumes, or 0.
    ///
    /// # Safety
    /// `self.ctx` is the live context of the engine that runs on this CPU right now (Xen
    /// calls this only while the vCPU is in `xdbt_vcpu_run`).
    unsafe fn claim_fault(&self, f: &HostFaultRegs) -> u64 {
        if f.rip < self.code.0 || f.rip >= self.code.1 || f.r15 != self.ctx as u64 {
            return 0;
        }
        // SAFETY: R15 holds this engine's context (checked above): translated code was
        // running on it, so nothing else refers to it until we resume at `exit_saved`.
        let ctx = unsafe { &mut *self.ctx };
        use xdbt::cpu::{EBP, ECX, EDI, EDX, ESI, ESP};
        for (g, v) in [
            (EAX, f.rax),
            (ECX, f.rcx),
            (EDX, f.rdx),
            (EBX, f.rbx),
            (ESP, f.r12),
            (EBP, f.rbp),
            (ESI, f.rsi),
            (EDI, f.rdi),
        ] {
            ctx.cpu.gpr[g] = v as u32;
        }
        ctx.host_flags = f.rflags;
        ctx.host_fault.host_pc = f.rip;
        ctx.host_fault.addr = f.addr;
        ctx.host_fault.trapno = f.trapnr;
        ctx.host_fault.err = f.error_code;
        ctx.host_fault.r14 = f.r14;
        ctx.host_fault.r11 = f.r11;
        ctx.exit_kind = JitExit::HostFault as u32;
        self.exit_saved
    }

    /// The end of a console line: print it through Xen.
    fn flush_line(line: &mut Vec<u8>, d: *const c_void) {
        let mut buf = [0u8; 256];
        let n = line.len().min(buf.len() - 1);
        for (o, &b) in buf.iter_mut().zip(line.iter().take(n)) {
            // As Xen's guest console does: printable ASCII, tabs; the rest as '?'.
            *o = if b == b'\t' || (0x20..0x7f).contains(&b) {
                b
            } else {
                b'?'
            };
        }
        // SAFETY: `buf` is NUL-terminated (n < 256, the rest is zero); `d` is the live
        // domain Xen passed to xdbt_vcpu_run.
        unsafe { ffi::xdbt_host_console(d, buf.as_ptr().cast()) };
        line.clear();
    }
}

/// Claim a fault Xen took in its own context if it hit the current vCPU's translated
/// code (see `xdbt_fault()` in xen/arch/x86/xdbt.c); returns where to resume, or 0.
///
/// # Safety
/// `vcore` is NULL or the current vCPU's state from `xdbt_vcpu_run`, and the vCPU is
/// inside `xdbt_vcpu_run` on this CPU; `f` points to a valid `struct xdbt_fault`.
#[no_mangle]
pub unsafe extern "C" fn xdbt_host_fault(vcore: *mut c_void, f: *const HostFaultRegs) -> u64 {
    if vcore.is_null() {
        return 0;
    }
    // SAFETY: by the contract above. Only shared access: the engine itself is borrowed
    // by the interrupted run loop, and only its context is written, through the raw
    // pointer, as the hosted signal handler does.
    unsafe { (*vcore.cast::<Vcpu>()).claim_fault(&*f) }
}

/// Free the state `xdbt_vcpu_run` created for a vCPU (NULL is ignored).
///
/// # Safety
/// `vcore` is NULL or a pointer `xdbt_vcpu_run` stored, not freed yet, and the vCPU no
/// longer runs (Xen calls this from the vCPU's destruction).
#[no_mangle]
pub unsafe extern "C" fn xdbt_vcpu_free(vcore: *mut c_void) {
    if !vcore.is_null() {
        // SAFETY: by the contract above, the box is ours to drop.
        drop(unsafe { Box::from_raw(vcore.cast::<Vcpu>()) });
    }
}

const PTE_PRESENT: u64 = 1;
const PTE_RW: u64 = 2;
const PTE_PSE: u64 = 1 << 7;
/// Bits 12..51 of a PAE entry: the frame's address.
const PTE_ADDR: u64 = ((1 << 52) - 1) & !0xfff;

/// Guest memory as the translator sees it in Xen: the window for translated code, and a
/// walk of the guest's PAE page tables (machine frames, read through Xen, which checks
/// ownership) for the frontend and the PV layer.
pub struct XenMem {
    d: *const c_void,
    v: *mut c_void,
    l3_mfn: u64,
    base: u64,
    /// Guest pages translated code came from: write-protected in the window.
    code: BTreeSet<u32>,
    /// Code pages written since the engine last looked.
    dirty: Vec<u32>,
}

impl XenMem {
    fn frame_read(&self, mfn: u64, offset: u32, buf: &mut [u8]) -> bool {
        // SAFETY: `d` is the live domain Xen passed to xdbt_vcpu_run; Xen checks that the
        // frame is the domain's and that the range stays inside it, and writes at most
        // `buf.len()` bytes to `buf`.
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

    fn frame_write(&self, mfn: u64, offset: u32, buf: &[u8]) -> bool {
        // SAFETY: as in `frame_read`; Xen reads `buf.len()` bytes from `buf` and also checks
        // that the frame may be written (not a page or descriptor table).
        let rc = unsafe {
            ffi::xdbt_host_write_frame(
                self.d,
                mfn,
                offset,
                buf.as_ptr().cast(),
                buf.len() as c_uint,
            )
        };
        rc == 0
    }

    fn entry(&self, mfn: u64, index: u32) -> Option<u64> {
        let mut e = [0u8; 8];
        self.frame_read(mfn, index * 8, &mut e)
            .then(|| u64::from_le_bytes(e))
            .filter(|e| e & PTE_PRESENT != 0)
    }

    /// The present L2 entry over `la`, if it points to an L1 table (no superpages).
    fn l2e_of(&self, la: u32) -> Option<u64> {
        let l3e = self.entry(self.l3_mfn, la >> 30)?;
        let l2e = self.entry((l3e & PTE_ADDR) >> 12, (la >> 21) & 511)?;
        (l2e & PTE_PSE == 0).then_some(l2e)
    }

    /// The machine frame of linear address `la`, and whether the guest may write it.
    fn walk(&self, la: u32) -> Option<(u64, bool)> {
        let l2e = self.l2e_of(la)?;
        let l1e = self.entry((l2e & PTE_ADDR) >> 12, (la >> 12) & 511)?;
        let rw = l2e & l1e & PTE_RW != 0;
        Some(((l1e & PTE_ADDR) >> 12, rw))
    }

    /// The machine address of the L1 entry that maps `la` (update_va_mapping), if its L2
    /// entry points to an L1 table.
    fn l1e_addr(&self, la: u32) -> Option<u64> {
        let l2e = self.l2e_of(la)?;
        Some((l2e & PTE_ADDR) + u64::from((la >> 12) & 511) * 8)
    }

    /// Apply `f` to each page-sized piece of `[addr, addr + len)`.
    fn pieces(
        &self,
        addr: GuestAddr,
        len: usize,
        mut f: impl FnMut(u32, usize, usize) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        let mut done = 0;
        while done < len {
            let la = addr.0.wrapping_add(done as u32);
            let take = (4096 - (la & 0xfff) as usize).min(len - done);
            f(la, done, take)?;
            done += take;
        }
        Ok(())
    }
}

fn pf(la: u32, ec: u32) -> Fault {
    Fault::pf(la, ec)
}

impl GuestMemory for XenMem {
    fn read(&self, addr: GuestAddr, buf: &mut [u8], acc: Access) -> Result<(), Fault> {
        let insn = if acc == Access::Fetch { PFEC_INSN } else { 0 };
        self.pieces(addr, buf.len(), |la, at, take| {
            let (mfn, _) = self.walk(la).ok_or(pf(la, insn))?;
            if self.frame_read(mfn, la & 0xfff, &mut buf[at..at + take]) {
                Ok(())
            } else {
                Err(pf(la, insn | PFEC_PRESENT))
            }
        })
    }

    fn write(&mut self, addr: GuestAddr, data: &[u8]) -> Result<(), Fault> {
        let mut touched = Vec::new();
        self.pieces(addr, data.len(), |la, at, take| {
            let (mfn, rw) = self.walk(la).ok_or(pf(la, PFEC_WRITE))?;
            if !rw || !self.frame_write(mfn, la & 0xfff, &data[at..at + take]) {
                return Err(pf(la, PFEC_WRITE | PFEC_PRESENT));
            }
            touched.push(la >> 12);
            Ok(())
        })?;
        // Translations of written code pages are stale.
        for p in touched {
            if self.code.contains(&p) {
                self.dirty.push(p);
            }
        }
        Ok(())
    }
}

impl JitMemory for XenMem {
    fn as_guest_memory(&self) -> &dyn GuestMemory {
        self
    }

    fn host_base(&self) -> usize {
        self.base as usize
    }

    fn prot_of(&self, addr: GuestAddr) -> Prot {
        match self.walk(addr.0) {
            Some((_, true)) => Prot::RWX,
            Some((_, false)) => Prot::RX,
            None => Prot::empty(),
        }
    }

    fn mark_code(&mut self, page: u32) {
        if self.code.insert(page) {
            // SAFETY: `v` is the running vCPU Xen passed in RunInfo; Xen only touches the
            // window entry of that page.
            unsafe { ffi::xdbt_host_protect(self.v, page << 12, false) };
        }
    }

    fn code_write_fault(&mut self, page: u32) -> bool {
        if !self.code.remove(&page) {
            return false;
        }
        // SAFETY: as in `mark_code`; Xen restores write access only if the window entry
        // holds a writable type reference (the guest may write the page).
        unsafe { ffi::xdbt_host_protect(self.v, page << 12, true) };
        self.dirty.push(page);
        true
    }

    fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    fn take_dirty(&mut self) -> Vec<u32> {
        core::mem::take(&mut self.dirty)
    }
}

/// The domain's shared_info page, which Xen, the guest (through its mapping in the window)
/// and the core's PV layer all update: accessed atomically.
struct XenShared(*mut u8);

impl XenShared {
    fn word(&self, off: u32) -> &AtomicU32 {
        let o = (off as usize).min(4092) & !3;
        // SAFETY: the pointer is Xen's mapping of the domain's 4 KiB shared_info page,
        // valid while the domain (and so this vCPU) exists; `o` is a 4-aligned offset
        // inside it.
        unsafe { AtomicU32::from_ptr(self.0.add(o).cast()) }
    }
    fn byte(&self, off: u32) -> &AtomicU8 {
        // SAFETY: as in `word`, for one byte inside the page.
        unsafe { AtomicU8::from_ptr(self.0.add((off as usize).min(4095))) }
    }
}

impl SharedPage for XenShared {
    fn load_u32(&self, off: u32) -> u32 {
        self.word(off).load(Ordering::SeqCst)
    }
    fn store_u32(&mut self, off: u32, v: u32) {
        self.word(off).store(v, Ordering::SeqCst)
    }
    fn fetch_or_u32(&mut self, off: u32, bits: u32) -> u32 {
        self.word(off).fetch_or(bits, Ordering::SeqCst)
    }
    fn fetch_and_u32(&mut self, off: u32, bits: u32) -> u32 {
        self.word(off).fetch_and(bits, Ordering::SeqCst)
    }
    fn load_u8(&self, off: u32) -> u8 {
        self.byte(off).load(Ordering::SeqCst)
    }
    fn swap_u8(&mut self, off: u32, v: u8) -> u8 {
        self.byte(off).swap(v, Ordering::SeqCst)
    }
}

/// The core's PV layer's host inside Xen, for the hypercalls in [`SERVED`].
struct XenHost<'a> {
    mem: &'a mut XenMem,
    line: &'a mut Vec<u8>,
    shared: &'a mut XenShared,
}

/// The PV MMU is not the core's inside Xen: Xen validates and type-counts the guest's
/// page tables itself, and no hypercall in [`SERVED`] reaches the core's MMU.
impl MmHost for XenHost<'_> {
    fn nr_ram_frames(&self) -> u32 {
        0
    }
    fn is_shared_frame(&self, _mfn: u32) -> bool {
        false
    }
    fn read_entry(&self, _mfn: u32, _idx: u32) -> u64 {
        0
    }
    fn write_entry(&mut self, _mfn: u32, _idx: u32, _v: u64) {}
    fn map(&mut self, _vcpu: usize, _va: u32, _n: u32, _mfn: u32, _prot: PageProt) {}
    fn unmap(&mut self, _vcpu: usize, _va: u32, _n: u32) {}
}

impl PvHost for XenHost<'_> {
    fn mem(&mut self) -> &mut dyn GuestMemory {
        self.mem
    }
    fn shared(&mut self) -> &mut dyn SharedPage {
        self.shared
    }
    fn console_write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' || self.line.len() >= 255 {
                Vcpu::flush_line(self.line, self.mem.d);
            }
            if b != b'\n' {
                self.line.push(b);
            }
        }
    }
    fn console_read(&mut self, _max: usize) -> Vec<u8> {
        Vec::new()
    }
    fn backend_notify(&mut self, _n: BackendNotify) {}
    fn now_ns(&self) -> u64 {
        // SAFETY: reads Xen's clock; no arguments.
        unsafe { ffi::get_s_time() as u64 }
    }
    fn set_m2p(&mut self, _mfn: u32, _pfn: u32) {}
    fn grant_frames(&self) -> (u32, u32) {
        (0, 0)
    }
    fn copy_frame(&mut self, _dst: u32, _src: u32) {}
    fn clear_frame(&mut self, _mfn: u32) {}
}

/// Copy `bytes` to offset `off` of the vCPU's argument translation area; returns its
/// address there.
fn xlat_put(off: usize, bytes: &[u8]) -> u64 {
    assert!(
        off + bytes.len() <= 8192,
        "beyond the argument translation area"
    );
    // SAFETY: Xen maps the current vCPU's 8 KiB translation area for as long as it runs,
    // nothing else uses it while the vCPU is in the translator, and the range is inside.
    unsafe {
        let p = ffi::xdbt_host_xlat().add(off);
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        p as u64
    }
}

/// `N` bytes from offset `off` of the vCPU's argument translation area.
fn xlat_get<const N: usize>(off: usize) -> [u8; N] {
    assert!(off + N <= 8192, "beyond the argument translation area");
    let mut b = [0u8; N];
    // SAFETY: as in xlat_put; the range is inside the area.
    unsafe { core::ptr::copy_nonoverlapping(ffi::xdbt_host_xlat().add(off), b.as_mut_ptr(), N) };
    b
}

/// A guest fault the vCPU could not deliver, for the report.
pub fn describe(f: &Fault) -> (u8, u32, u32) {
    let v = match f.vector {
        Vector::PF => 14,
        v => v as u8,
    };
    (v, f.error_code, f.cr2)
}
