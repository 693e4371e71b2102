//! Hypercall dispatch for PV32 guests: the pv32 column of xen/include/hypercall-defs.c.
//! Arguments in EBX, ECX, EDX, ESI, EDI; the result in EAX; numbers Xen does not know (or
//! that this layer does not implement yet) return -ENOSYS, as Xen does for an unknown one.
//! docs/STATUS.md lists which are implemented.

// Xen's constant names (XENVER_version, SCHEDOP_shutdown, ...) are kept as they are.
#![allow(non_upper_case_globals)]

use super::event::{self, BackendNotify, EventChannels, SharedPage};
use super::mm::{MmHost, PageType, PvMmu, UpdateKind, HYPERVISOR_VIRT_START};
use crate::cpu::{GuestCpu, EAX, EBX, ECX, EDI, EDX, ESI};
use crate::mmu::{Access, GuestAddr, GuestMemory};
use alloc::vec::Vec;
use hypercall_abi::errno::{
    EACCES, EEXIST, EFAULT, EINVAL, ENOENT, ENOSPC, ENOSYS, EOPNOTSUPP, EPERM, ESRCH,
};
use hypercall_abi::xen::Hypercall;

/// Services a PV domain gets from its host (the hosted runner, or Xen): guest memory as the
/// current vCPU sees it, the frames and mappings behind the PV MMU, the shared_info page,
/// time, and the backends at the other end of the console and store channels.
pub trait PvHost: MmHost {
    fn mem(&mut self) -> &mut dyn GuestMemory;
    fn shared(&mut self) -> &mut dyn SharedPage;
    /// Bytes the guest wrote with HYPERVISOR_console_io.
    fn console_write(&mut self, bytes: &[u8]);
    /// Bytes typed at the console for CONSOLEIO_read (up to `max`).
    fn console_read(&mut self, max: usize) -> Vec<u8>;
    /// A send on a channel whose other end is a host backend.
    fn backend_notify(&mut self, n: BackendNotify);
    /// Xen system time: nanoseconds since the domain started.
    fn now_ns(&self) -> u64;
    /// MMU_MACHPHYS_UPDATE: the M2P entry of a frame of the domain.
    fn set_m2p(&mut self, mfn: u32, pfn: u32);
    /// Grant table frames (machine frame numbers the guest may map), at most `max`.
    fn grant_frames(&self) -> (u32, u32);
    fn copy_frame(&mut self, dst: u32, src: u32);
    fn clear_frame(&mut self, mfn: u32);
}

/// Xen's default for a PV vCPU's periodic timer (xen/common/sched/core.c, vcpu_create).
pub const DEFAULT_PERIOD_NS: u64 = 10_000_000;

/// Per-vCPU PV state.
#[derive(Clone, Debug)]
pub struct PvVcpu {
    pub kernel_ss: u32,
    pub kernel_sp: u32,
    /// Virtual CR0.TS (fpu_taskswitch).
    pub fpu_ts: bool,
    /// Absolute system time of the singleshot timer (set_timer_op / VCPUOP).
    pub singleshot: Option<u64>,
    /// Periodic timer period and next expiry.
    pub period_ns: u64,
    pub next_periodic: Option<u64>,
    /// Ports SCHEDOP_poll waits on.
    pub poll_ports: Vec<u32>,
    pub up: bool,
    /// Set by VCPUOP_initialise (vCPU 0: at boot).
    pub initialised: bool,
    /// The registers VCPUOP_initialise gave, for the host to start the vCPU with.
    pub start: Option<StartRegs>,
    pub ldt_base: u32,
    pub ldt_ents: u32,
    /// The LDT's frames, typed as descriptor pages while the LDT is loaded, and whether
    /// they all could be (Xen types them when it maps the LDT: pv_map_ldt_shadow_page).
    pub ldt_frames: Vec<u32>,
    pub ldt_ok: bool,
    /// The GDT's frames and entry count (set_gdt).
    pub gdt_frames: Vec<u32>,
    pub gdt_ents: u32,
    /// Privileged-op state: virtual IOPL and I/O bitmap, debug registers, CR4.
    pub privs: super::privop::PrivState,
}

impl Default for PvVcpu {
    fn default() -> Self {
        PvVcpu {
            kernel_ss: 0,
            kernel_sp: 0,
            fpu_ts: false,
            singleshot: None,
            period_ns: DEFAULT_PERIOD_NS,
            next_periodic: None,
            poll_ports: Vec::new(),
            up: false,
            initialised: false,
            start: None,
            ldt_base: 0,
            ldt_ents: 0,
            ldt_frames: Vec::new(),
            ldt_ok: true,
            gdt_frames: Vec::new(),
            gdt_ents: 0,
            privs: super::privop::PrivState::default(),
        }
    }
}

/// A vCPU's first registers (vcpu_guest_context.user_regs): taken by the host when it
/// starts the vCPU.
#[derive(Clone, Debug, Default)]
pub struct StartRegs {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub gpr: [u32; 8],
    pub eip: u32,
    pub eflags: u32,
    /// CS, SS, DS, ES, FS, GS.
    pub sel: [u16; 6],
}

/// Domain-wide PV state this layer keeps.
pub struct PvDomain {
    pub domid: u16,
    /// Set by SCHEDOP_shutdown: the SHUTDOWN_* reason.
    pub shutdown: Option<u32>,
    /// SCHEDOP_shutdown_code: the reason reported if the domain later shuts down.
    pub shutdown_code: Option<u32>,
    /// The virtual IDT from set_trap_table: (vector, flags, cs, eip).
    pub trap_table: Vec<(u8, u8, u16, u32)>,
    pub kernel_ss: u32,
    pub kernel_sp: u32,
    pub event_callback: (u32, u32),
    pub failsafe_callback: (u32, u32),
    pub syscall_callback: Option<(u32, u32)>,
    /// CALLBACKTYPE_sysenter: cs, eip and CALLBACKF_mask_events (Xen keeps it per vCPU in
    /// arch.pv.sysenter_callback_*; here it is domain-wide like the other callbacks).
    pub sysenter_callback: (u32, u32, bool),
    pub nmi_callback: Option<u32>,
    pub vm_assist: u32,
    /// Virtual CR0.TS (fpu_taskswitch).
    pub fpu_ts: bool,
    /// The current vCPU's event upcall mask, copied to/from its vcpu_info around bounces.
    pub upcall_mask: u8,
    pub hypercalls: u64,
    pub nr_pages: u32,
    pub mmu: PvMmu,
    pub evtchn: EventChannels,
    pub vcpus: Vec<PvVcpu>,
    /// The vCPU whose hypercall is being served.
    pub cur: usize,
    /// The guest's descriptor tables changed: the host reloads them.
    pub descriptors_dirty: bool,
    /// Grant table version (GNTTABOP_set_version) and frames handed out by setup_table.
    pub gnttab_version: u32,
    pub gnttab_frames: u32,
    /// Active grant entries and the maptrack (map_grant_ref / unmap_grant_ref).
    pub grants: super::grant::Grants,
    pub watchdogs: [Option<u64>; 2],
    /// A vCPU was brought up or down: the host starts or parks its thread.
    pub vcpus_changed: bool,
}

impl PvDomain {
    pub fn new(domid: u16, nr_pages: u32, nr_vcpus: u32) -> PvDomain {
        let mut vcpus = alloc::vec![PvVcpu::default(); nr_vcpus.max(1) as usize];
        vcpus[0].up = true;
        vcpus[0].initialised = true;
        PvDomain {
            domid,
            shutdown: None,
            shutdown_code: None,
            trap_table: Vec::new(),
            kernel_ss: 0,
            kernel_sp: 0,
            event_callback: (0, 0),
            failsafe_callback: (0, 0),
            syscall_callback: None,
            sysenter_callback: (0, 0, false),
            nmi_callback: None,
            vm_assist: 0,
            fpu_ts: false,
            upcall_mask: 1,
            hypercalls: 0,
            nr_pages,
            mmu: {
                let mut m = PvMmu::new(nr_pages);
                m.set_vcpus(nr_vcpus.max(1) as usize);
                m
            },
            evtchn: EventChannels::new(domid, nr_vcpus.max(1)),
            vcpus,
            cur: 0,
            descriptors_dirty: false,
            gnttab_version: 1,
            gnttab_frames: 0,
            grants: super::grant::Grants::new(nr_vcpus.max(1) as usize),
            watchdogs: [None; 2],
            vcpus_changed: false,
        }
    }

    /// Serve vCPU `v`: its per-vCPU state becomes the current one (traps, the MMU view).
    pub fn enter(&mut self, v: usize) {
        if v >= self.vcpus.len() {
            return;
        }
        self.cur = v;
        self.mmu.select(v);
        let c = &self.vcpus[v];
        self.kernel_ss = c.kernel_ss;
        self.kernel_sp = c.kernel_sp;
        self.fpu_ts = c.fpu_ts;
    }

    /// Store the current vCPU's state back (the counterpart of `enter`).
    pub fn leave(&mut self) {
        let v = self.cur;
        let c = &mut self.vcpus[v];
        c.kernel_ss = self.kernel_ss;
        c.kernel_sp = self.kernel_sp;
        c.fpu_ts = self.fpu_ts;
    }

    /// The next timer expiry of vCPU `v` (system time, ns).
    /// domain_shutdown (xen/common/domain.c): the reason is a u8, and a code set earlier
    /// with SCHEDOP_shutdown_code wins over it. Returns the reason the domain reports.
    pub fn shutdown_with(&mut self, reason: u32) -> u32 {
        let r = *self.shutdown_code.get_or_insert(reason & 0xff);
        self.shutdown = Some(r);
        r
    }

    pub fn next_deadline(&self, v: usize) -> Option<u64> {
        let c = &self.vcpus[v];
        match (c.singleshot, c.next_periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fire vCPU `v`'s expired timers at `now`; returns whether an upcall became due.
    pub fn fire_timers(&mut self, sh: &mut dyn SharedPage, v: usize, now: u64) -> bool {
        let mut fire = false;
        let c = &mut self.vcpus[v];
        if c.singleshot.is_some_and(|t| t <= now) {
            c.singleshot = None;
            fire = true;
        }
        if let Some(t) = c.next_periodic {
            if t <= now {
                // Missed periods collapse into one event, as Xen's periodic timer does.
                let missed = (now - t) / c.period_ns.max(1);
                c.next_periodic = Some(t + (missed + 1) * c.period_ns.max(1));
                fire = true;
            }
        }
        fire && self
            .evtchn
            .raise_virq(sh, hypercall_abi::xen::VIRQ_TIMER, v as u32)
    }
}

/// What the run loop does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Resume the guest (the result is in EAX).
    Continue,
    /// The domain shut down with this SHUTDOWN_* reason.
    Shutdown(u32),
    /// SCHEDOP_block: sleep until an event is pending (events are enabled now).
    Block,
    /// SCHEDOP_poll: sleep until one of the vCPU's poll ports is pending or `timeout`
    /// (absolute system time, 0 = none) passes.
    Poll { timeout: u64 },
    /// SCHEDOP_yield.
    Yield,
    /// The guest switched page tables or descriptor tables: the host must drop cached
    /// state that depends on them.
    Remapped,
}

/// Xen's version as reported to guests: 4.17.
const XEN_VERSION: u32 = (4 << 16) | 17;

fn write_str(mem: &mut dyn GuestMemory, addr: u32, s: &[u8], size: usize) -> i32 {
    let mut buf = alloc::vec![0u8; size];
    let n = s.len().min(size - 1);
    buf[..n].copy_from_slice(&s[..n]);
    match mem.write(GuestAddr(addr), &buf) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

fn xen_version(cmd: u32, arg: u32, vm_assist: u32, mem: &mut dyn GuestMemory) -> i32 {
    use hypercall_abi::version::*;
    match cmd {
        XENVER_version => XEN_VERSION as i32,
        XENVER_extraversion => write_str(mem, arg, b".5-xdbt", 16),
        XENVER_compile_info => {
            // xen_compile_info: compiler[64], compile_by[16], compile_domain[32], date[32].
            let mut b = alloc::vec![0u8; 144];
            b[..4].copy_from_slice(b"rust");
            b[64..68].copy_from_slice(b"xdbt");
            match mem.write(GuestAddr(arg), &b) {
                Ok(()) => 0,
                Err(_) => -EFAULT,
            }
        }
        XENVER_capabilities => write_str(mem, arg, b"xen-3.0-x86_32p", 1024),
        XENVER_changeset => write_str(mem, arg, b"xdbt", 64),
        XENVER_platform_parameters => {
            let v = hypercall_abi::arch_x86_32::HYPERVISOR_COMPAT_VIRT_START;
            match mem.write_u32(GuestAddr(arg), v) {
                Ok(()) => 0,
                Err(_) => -EFAULT,
            }
        }
        XENVER_get_features => {
            // xen_feature_info { submap_idx, submap }.
            let Ok(idx) = mem.read_u32(GuestAddr(arg)) else {
                return -EFAULT;
            };
            // do_xen_version (xen/common/kernel.c): submap 0 for a PV domU; others -EINVAL.
            let submap = if idx == 0 {
                use hypercall_abi::version::{
                    XENFEAT_direct_mapped, XENFEAT_gnttab_map_avail_bits, XENFEAT_highmem_assist,
                    XENFEAT_memory_op_vnode_supported, XENFEAT_mmu_pt_update_preserve_ad,
                    XENFEAT_pae_pgdir_above_4gb,
                };
                let extcr3 = vm_assist & (1 << hypercall_abi::xen::VMASST_TYPE_pae_extended_cr3);
                (1 << XENFEAT_memory_op_vnode_supported)
                    | if extcr3 != 0 {
                        1 << XENFEAT_pae_pgdir_above_4gb
                    } else {
                        0
                    }
                    | (1 << XENFEAT_mmu_pt_update_preserve_ad)
                    | (1 << XENFEAT_highmem_assist)
                    | (1 << XENFEAT_gnttab_map_avail_bits)
                    | (1 << XENFEAT_direct_mapped)
            } else {
                return -EINVAL;
            };
            match mem.write_u32(GuestAddr(arg.wrapping_add(4)), submap) {
                Ok(()) => 0,
                Err(_) => -EFAULT,
            }
        }
        XENVER_pagesize => 4096,
        XENVER_guest_handle => write_str(mem, arg, &[0u8; 16], 16),
        // The command line is privileged information for a domU.
        _ => -ENOSYS,
    }
}

fn rd32(h: &mut dyn PvHost, a: u32) -> Result<u32, i32> {
    h.mem().read_u32(GuestAddr(a)).map_err(|_| -EFAULT)
}

fn rd64(h: &mut dyn PvHost, a: u32) -> Result<u64, i32> {
    let lo = rd32(h, a)?;
    let hi = rd32(h, a.wrapping_add(4))?;
    Ok(u64::from(lo) | (u64::from(hi) << 32))
}

fn wr32(h: &mut dyn PvHost, a: u32, v: u32) -> Result<(), i32> {
    h.mem().write_u32(GuestAddr(a), v).map_err(|_| -EFAULT)
}

fn wr16(h: &mut dyn PvHost, a: u32, v: u16) -> Result<(), i32> {
    h.mem().write_u16(GuestAddr(a), v).map_err(|_| -EFAULT)
}

fn wr64(h: &mut dyn PvHost, a: u32, v: u64) -> Result<(), i32> {
    wr32(h, a, v as u32)?;
    wr32(h, a.wrapping_add(4), (v >> 32) as u32)
}

fn res(r: Result<i32, i32>) -> i32 {
    r.unwrap_or_else(|e| e)
}

/// Upper bound of entries one mmu_update / mmuext_op / multicall call processes: Xen
/// preempts long batches with a continuation; here the guest's batch is bounded instead,
/// so hostile counts cannot keep the host busy.
pub const MAX_BATCH: u32 = 1 << 16;

/// Run the hypercall in EAX with the guest's arguments; the result goes to EAX.
pub fn dispatch(dom: &mut PvDomain, cpu: &mut GuestCpu, host: &mut dyn PvHost) -> Outcome {
    let nr = cpu.gpr[EAX];
    let args = [EBX, ECX, EDX, ESI, EDI].map(|r| cpu.gpr[r]);
    let (ret, outcome) = call(dom, nr, args, host, true);
    cpu.gpr[EAX] = ret as u32;
    outcome
}

fn call(
    dom: &mut PvDomain,
    nr: u32,
    a: [u32; 5],
    host: &mut dyn PvHost,
    top: bool,
) -> (i32, Outcome) {
    dom.hypercalls += 1;
    let mut outcome = Outcome::Continue;
    let ret: i32 = match Hypercall::try_from(nr) {
        Ok(Hypercall::ConsoleIo) => console_io(a, host),
        Ok(Hypercall::SchedOp) => {
            let (r, o) = sched_op(dom, a[0], a[1], host);
            outcome = o;
            r
        }
        Ok(Hypercall::SchedOpCompat) => {
            // The pre-3.0.2 form: the argument itself is the shutdown reason.
            use hypercall_abi::sched::*;
            match a[0] {
                SCHEDOP_yield => {
                    outcome = Outcome::Yield;
                    0
                }
                SCHEDOP_block => {
                    outcome = Outcome::Block;
                    0
                }
                SCHEDOP_shutdown => {
                    outcome = Outcome::Shutdown(dom.shutdown_with(a[1]));
                    0
                }
                _ => -ENOSYS,
            }
        }
        Ok(Hypercall::XenVersion) => xen_version(a[0], a[1], dom.vm_assist, host.mem()),
        Ok(Hypercall::EventChannelOp) => event_channel_op(dom, a[0], a[1], host),
        Ok(Hypercall::EventChannelOpCompat) => {
            // struct evtchn_op { cmd; union }: the union follows the command word.
            match rd32(host, a[0]) {
                Ok(cmd) => event_channel_op(dom, cmd, a[0].wrapping_add(4), host),
                Err(e) => e,
            }
        }
        Ok(Hypercall::SetTrapTable) => set_trap_table(dom, a[0], host.mem()),
        Ok(Hypercall::StackSwitch) => {
            // Xen checks the selector's RPL (fixup_guest_stack_selector).
            dom.kernel_ss = if a[0] & 3 == 0 { a[0] | 1 } else { a[0] };
            dom.kernel_sp = a[1];
            let v = &mut dom.vcpus[dom.cur];
            v.kernel_ss = dom.kernel_ss;
            v.kernel_sp = a[1];
            0
        }
        Ok(Hypercall::SetCallbacks) => {
            dom.event_callback = (a[0], a[1]);
            dom.failsafe_callback = (a[2], a[3]);
            0
        }
        Ok(Hypercall::CallbackOp) => callback_op(dom, a[0], a[1], host),
        Ok(Hypercall::FpuTaskswitch) => {
            dom.fpu_ts = a[0] != 0;
            dom.vcpus[dom.cur].fpu_ts = dom.fpu_ts;
            0
        }
        Ok(Hypercall::VmAssist) => {
            // PV32_VM_ASSIST_MASK (xen/arch/x86/include/asm/domain.h): types 0-5.
            const VALID: u32 = 0x3f;
            match a[0] {
                0 | 1 if a[1] >= 32 || VALID & (1 << a[1]) == 0 => -EINVAL,
                0 => {
                    dom.vm_assist |= 1 << a[1];
                    0
                }
                1 => {
                    dom.vm_assist &= !(1 << a[1]);
                    0
                }
                _ => -ENOSYS,
            }
        }
        Ok(Hypercall::MmuUpdate) => {
            let (r, o) = mmu_update(dom, a, host);
            outcome = o;
            r
        }
        Ok(Hypercall::MmuextOp) => {
            let (r, o) = mmuext_op(dom, a, host);
            outcome = o;
            r
        }
        Ok(Hypercall::UpdateVaMapping) => {
            let val = u64::from(a[1]) | (u64::from(a[2]) << 32);
            match update_va_mapping(dom, a[0], val, a[3], host) {
                Ok(o) => {
                    outcome = o;
                    0
                }
                Err(e) => e,
            }
        }
        Ok(Hypercall::UpdateVaMappingOtherdomain) => {
            if a[4] as u16 == hypercall_abi::xen::DOMID_SELF || a[4] as u16 == dom.domid {
                let val = u64::from(a[1]) | (u64::from(a[2]) << 32);
                match update_va_mapping(dom, a[0], val, a[3], host) {
                    Ok(o) => {
                        outcome = o;
                        0
                    }
                    Err(e) => e,
                }
            } else {
                -ESRCH
            }
        }
        Ok(Hypercall::SetGdt) => {
            let r = set_gdt(dom, a[0], a[1], host);
            if r == 0 {
                outcome = Outcome::Remapped;
            }
            r
        }
        Ok(Hypercall::UpdateDescriptor) => {
            let pa = u64::from(a[0]) | (u64::from(a[1]) << 32);
            let d = u64::from(a[2]) | (u64::from(a[3]) << 32);
            let r = update_descriptor(dom, pa, d, host);
            if r == 0 {
                outcome = Outcome::Remapped;
            }
            r
        }
        Ok(Hypercall::Multicall) if top => {
            let (r, o) = multicall(dom, a[0], a[1], host);
            outcome = o;
            r
        }
        Ok(Hypercall::SetTimerOp) => {
            // The 64-bit absolute timeout; 0 cancels. A past deadline fires at once.
            let t = u64::from(a[0]) | (u64::from(a[1]) << 32);
            dom.vcpus[dom.cur].singleshot = (t != 0).then_some(t);
            0
        }
        Ok(Hypercall::VcpuOp) => vcpu_op(dom, a[0], a[1], a[2], host),
        Ok(Hypercall::MemoryOp) => memory_op(dom, a[0], a[1], host),
        Ok(Hypercall::GrantTableOp) => grant_table_op(dom, a[0], a[1], a[2], host),
        Ok(Hypercall::PhysdevOp) => physdev_op(dom, a[0], a[1], host),
        Ok(Hypercall::PhysdevOpCompat) => match rd32(host, a[0]) {
            Ok(cmd) => physdev_op(dom, cmd, a[0].wrapping_add(4), host),
            Err(e) => e,
        },
        Ok(Hypercall::SetDebugreg) => {
            super::privop::set_debugreg(&mut dom.vcpus[dom.cur].privs, a[0], a[1])
                .err()
                .unwrap_or(0)
        }
        Ok(Hypercall::GetDebugreg) => {
            match super::privop::get_debugreg(&dom.vcpus[dom.cur].privs, a[0]) {
                Ok(v) => v as i32,
                Err(e) => e,
            }
        }
        Ok(Hypercall::NmiOp) => {
            // XENNMI_register_callback = 0, XENNMI_unregister_callback = 1. compat_nmi_op
            // (xen/arch/x86/pv/callback.c) copies xennmi_callback { handler_address, pad }
            // from the guest (-EFAULT).
            match a[0] {
                0 => match rd32(host, a[1]) {
                    Ok(handler) => {
                        dom.nmi_callback = Some(handler);
                        0
                    }
                    Err(e) => e,
                },
                1 => {
                    dom.nmi_callback = None;
                    0
                }
                _ => -ENOSYS,
            }
        }
        // Privileged for a domU (XSM dummy policy: the hardware domain only).
        Ok(Hypercall::PlatformOp) | Ok(Hypercall::Sysctl) | Ok(Hypercall::Domctl) => -EPERM,
        _ => -ENOSYS,
    };
    (ret, outcome)
}

fn console_io(a: [u32; 5], host: &mut dyn PvHost) -> i32 {
    use hypercall_abi::xen::{CONSOLEIO_read, CONSOLEIO_write};
    match a[0] {
        CONSOLEIO_write => {
            // Xen copies in chunks; a bad buffer ends the write with -EFAULT.
            let mut buf = alloc::vec![0u8; a[1].min(1 << 16) as usize];
            match host.mem().read(GuestAddr(a[2]), &mut buf, Access::Read) {
                Ok(()) => {
                    host.console_write(&buf);
                    0
                }
                Err(_) => -EFAULT,
            }
        }
        CONSOLEIO_read => {
            let got = host.console_read(a[1].min(1 << 16) as usize);
            match host.mem().write(GuestAddr(a[2]), &got) {
                Ok(()) => got.len() as i32,
                Err(_) => -EFAULT,
            }
        }
        // do_console_io (xen/drivers/char/console.c): unknown commands are -ENOSYS.
        _ => -ENOSYS,
    }
}

fn sched_op(dom: &mut PvDomain, cmd: u32, arg: u32, host: &mut dyn PvHost) -> (i32, Outcome) {
    use hypercall_abi::sched::*;
    match cmd {
        SCHEDOP_yield => (0, Outcome::Yield),
        SCHEDOP_block => (0, Outcome::Block),
        SCHEDOP_shutdown => match rd32(host, arg) {
            Ok(reason) => {
                let reason = dom.shutdown_with(reason);
                (0, Outcome::Shutdown(reason))
            }
            Err(e) => (e, Outcome::Continue),
        },
        // The first code set sticks (d->shutdown_code == SHUTDOWN_CODE_INVALID), as a u8.
        SCHEDOP_shutdown_code => match rd32(host, arg) {
            Ok(reason) => {
                dom.shutdown_code.get_or_insert(reason & 0xff);
                (0, Outcome::Continue)
            }
            Err(e) => (e, Outcome::Continue),
        },
        SCHEDOP_poll => {
            // sched_poll { ports handle (4), nr_ports (4), timeout u64 (4-aligned) }.
            let r = (|| {
                let ports = rd32(host, arg)?;
                let n = rd32(host, arg.wrapping_add(4))?;
                let timeout = rd64(host, arg.wrapping_add(8))?;
                // Xen: more ports than the domain has, or any port out of range: -EINVAL.
                if n > 128 {
                    return Err(-EINVAL);
                }
                let mut list = Vec::new();
                for k in 0..n {
                    let p = rd32(host, ports.wrapping_add(4 * k))?;
                    if p >= event::NR_PORTS {
                        return Err(-EINVAL);
                    }
                    list.push(p);
                }
                Ok((list, timeout))
            })();
            match r {
                Ok((list, timeout)) => {
                    if EventChannels::any_pending(host.shared(), &list) {
                        return (0, Outcome::Continue);
                    }
                    dom.vcpus[dom.cur].poll_ports = list;
                    (0, Outcome::Poll { timeout })
                }
                Err(e) => (e, Outcome::Continue),
            }
        }
        // sched_remote_shutdown { domid_t domain_id, reason }: rcu_lock_domain_by_id finds
        // the backends' domain 0 and our own id (not DOMID_SELF), -ESRCH otherwise; XSM
        // (XSM_DM_PRIV) refuses a domU either: -EPERM.
        SCHEDOP_remote_shutdown => {
            let r = (|| {
                let id = rd32(host, arg)? as u16;
                rd32(host, arg.wrapping_add(4))?;
                if id == 0 || id == dom.domid {
                    Err(-EPERM)
                } else {
                    Err(-ESRCH)
                }
            })();
            (res(r), Outcome::Continue)
        }
        SCHEDOP_watchdog => {
            // sched_watchdog { id, timeout }: id 0 allocates, timeout 0 frees.
            let r = (|| {
                let id = rd32(host, arg)?;
                let t = rd32(host, arg.wrapping_add(4))?;
                let now = host.now_ns();
                if id == 0 {
                    let slot = dom
                        .watchdogs
                        .iter()
                        .position(|w| w.is_none())
                        .ok_or(-ENOSPC)?;
                    dom.watchdogs[slot] = Some(now + u64::from(t) * 1_000_000_000);
                    Ok(slot as i32 + 1)
                } else {
                    let w = dom
                        .watchdogs
                        .get_mut(id as usize - 1)
                        .filter(|w| w.is_some())
                        .ok_or(-EINVAL)?;
                    *w = (t != 0).then(|| now + u64::from(t) * 1_000_000_000);
                    Ok(0)
                }
            })();
            (res(r), Outcome::Continue)
        }
        SCHEDOP_pin_override => (-EPERM, Outcome::Continue),
        _ => (-ENOSYS, Outcome::Continue),
    }
}

fn event_channel_op(dom: &mut PvDomain, cmd: u32, arg: u32, host: &mut dyn PvHost) -> i32 {
    use hypercall_abi::event_channel::*;
    let r = (|| -> Result<i32, i32> {
        match cmd {
            EVTCHNOP_alloc_unbound => {
                // { dom u16, remote_dom u16, port u32 out }
                let w = rd32(host, arg)?;
                let p = dom.evtchn.alloc_unbound(w as u16, (w >> 16) as u16)?;
                wr32(host, arg.wrapping_add(4), p)?;
                Ok(0)
            }
            EVTCHNOP_bind_interdomain => {
                // { remote_dom u16, remote_port u32, local_port u32 out }
                let rdom = rd32(host, arg)? as u16;
                let rport = rd32(host, arg.wrapping_add(4))?;
                let p = dom.evtchn.bind_interdomain(host.shared(), rdom, rport)?;
                wr32(host, arg.wrapping_add(8), p)?;
                Ok(0)
            }
            EVTCHNOP_bind_virq => {
                // { virq, vcpu, port out }
                let virq = rd32(host, arg)?;
                let vcpu = rd32(host, arg.wrapping_add(4))?;
                let p = dom.evtchn.bind_virq(virq, vcpu)?;
                wr32(host, arg.wrapping_add(8), p)?;
                Ok(0)
            }
            EVTCHNOP_bind_ipi => {
                let vcpu = rd32(host, arg)?;
                let p = dom.evtchn.bind_ipi(vcpu)?;
                wr32(host, arg.wrapping_add(4), p)?;
                Ok(0)
            }
            EVTCHNOP_bind_pirq => Err(-EPERM),
            EVTCHNOP_close => {
                let p = rd32(host, arg)?;
                dom.evtchn.close(p)?;
                Ok(0)
            }
            EVTCHNOP_send => {
                let p = rd32(host, arg)?;
                if let Some(n) = dom.evtchn.send(host.shared(), p)? {
                    host.backend_notify(n);
                }
                Ok(0)
            }
            EVTCHNOP_status => {
                // { dom u16, port u32, status u32 out, vcpu u32 out, union (8) out }
                let d = rd32(host, arg)? as u16;
                let p = rd32(host, arg.wrapping_add(4))?;
                let (st, vcpu, u0, u1) = dom.evtchn.status(d, p)?;
                wr32(host, arg.wrapping_add(8), st)?;
                wr32(host, arg.wrapping_add(12), vcpu)?;
                if st == EVTCHNSTAT_interdomain || st == EVTCHNSTAT_unbound {
                    wr16(host, arg.wrapping_add(16), u0 as u16)?;
                    if st == EVTCHNSTAT_interdomain {
                        wr32(host, arg.wrapping_add(20), u1)?;
                    }
                } else {
                    wr32(host, arg.wrapping_add(16), u0)?;
                }
                Ok(0)
            }
            EVTCHNOP_bind_vcpu => {
                let p = rd32(host, arg)?;
                let v = rd32(host, arg.wrapping_add(4))?;
                dom.evtchn.bind_vcpu(p, v)?;
                Ok(0)
            }
            EVTCHNOP_unmask => {
                let p = rd32(host, arg)?;
                dom.evtchn.unmask(host.shared(), p)?;
                Ok(0)
            }
            EVTCHNOP_reset => {
                let d = rd32(host, arg)? as u16;
                dom.evtchn.reset(d)?;
                Ok(0)
            }
            // The FIFO ABI is not offered: guests fall back to 2-level.
            EVTCHNOP_init_control | EVTCHNOP_expand_array | EVTCHNOP_set_priority => Err(-ENOSYS),
            _ => Err(-ENOSYS),
        }
    })();
    res(r)
}

fn callback_op(dom: &mut PvDomain, cmd: u32, arg: u32, host: &mut dyn PvHost) -> i32 {
    use hypercall_abi::callback::*;
    // compat_callback_op, compat_register_guest_callback, compat_unregister_guest_callback
    // (xen/arch/x86/pv/callback.c): the argument is copied whole first (-EFAULT), unknown
    // types are the default case (-ENOSYS), unknown commands -EINVAL.
    let r = (|| -> Result<i32, i32> {
        match cmd {
            CALLBACKOP_register => {
                // callback_register { type u16, flags u16, address { cs u32, eip u32 } }
                let w = rd32(host, arg)?;
                let cs = rd32(host, arg.wrapping_add(4))?;
                let eip = rd32(host, arg.wrapping_add(8))?;
                match w as u16 {
                    CALLBACKTYPE_event => dom.event_callback = (cs, eip),
                    CALLBACKTYPE_failsafe => dom.failsafe_callback = (cs, eip),
                    CALLBACKTYPE_syscall32 => dom.syscall_callback = Some((cs, eip)),
                    CALLBACKTYPE_sysenter => {
                        // compat_register_guest_callback: fixup_guest_code_selector gives an
                        // RPL-0 selector RPL 1.
                        let cs = if cs & 3 == 0 { cs | 1 } else { cs };
                        let mask = (w >> 16) as u16 & CALLBACKF_mask_events != 0;
                        dom.sysenter_callback = (cs, eip, mask);
                    }
                    CALLBACKTYPE_nmi => dom.nmi_callback = Some(eip),
                    _ => return Err(-ENOSYS),
                }
                Ok(0)
            }
            // callback_unregister { type u16, _unused u16 }: only the NMI callback can go.
            CALLBACKOP_unregister => match rd32(host, arg)? as u16 {
                CALLBACKTYPE_nmi => {
                    dom.nmi_callback = None;
                    Ok(0)
                }
                // compat_unregister_guest_callback refuses the event, failsafe, syscall32
                // and sysenter callbacks.
                CALLBACKTYPE_event
                | CALLBACKTYPE_failsafe
                | CALLBACKTYPE_syscall32
                | CALLBACKTYPE_sysenter => Err(-EINVAL),
                _ => Err(-ENOSYS),
            },
            _ => Err(-EINVAL),
        }
    })();
    res(r)
}

fn check_foreigndom(dom: &PvDomain, fd: u32) -> Result<(), i32> {
    let d = fd as u16;
    if d == hypercall_abi::xen::DOMID_SELF || d == dom.domid {
        Ok(())
    } else if d >= 0x7ff0 {
        Err(-EPERM)
    } else {
        Err(-ESRCH)
    }
}

/// get_pg_owner (xen/common/page_alloc.c), for mmu_update and mmuext_op's foreigndom, with
/// the only domain there is: DOMID_SELF names it; its own id is refused ("Cannot specify
/// itself as foreign domain", -ESRCH), as is any unknown id. DOMID_XEN exists but XSM
/// refuses it to a domU (-EPERM); DOMID_IO (dom_io) is not modelled and refused with -EPERM.
fn get_pg_owner(fd: u32) -> Result<(), i32> {
    let d = fd as u16;
    if d == hypercall_abi::xen::DOMID_SELF {
        Ok(())
    } else if d == hypercall_abi::xen::DOMID_IO || d == hypercall_abi::xen::DOMID_XEN {
        Err(-EPERM)
    } else {
        Err(-ESRCH)
    }
}

/// The loop mmu_update and mmuext_op share: run `each` on the `count` entries of
/// `entry_size` bytes at `list` (the continuation bit of the count ignored), stop at the
/// first error, and report how many were done at `pdone` (if not NULL).
fn run_batch(
    host: &mut dyn PvHost,
    list: u32,
    count: u32,
    pdone: u32,
    entry_size: u32,
    mut each: impl FnMut(&mut dyn PvHost, u32) -> Result<(), i32>,
) -> i32 {
    let count = count & !0x8000_0000;
    if count > MAX_BATCH {
        return -EINVAL;
    }
    let mut done = 0;
    let mut rc = 0;
    for i in 0..count {
        if let Err(e) = each(host, list.wrapping_add(entry_size * i)) {
            rc = e;
            break;
        }
        done += 1;
    }
    if pdone != 0 {
        if let Err(e) = wr32(host, pdone, done) {
            rc = e;
        }
    }
    rc
}

fn mmu_update(dom: &mut PvDomain, a: [u32; 5], host: &mut dyn PvHost) -> (i32, Outcome) {
    use hypercall_abi::xen::*;
    // do_mmu_update: foreigndom's upper half names the page tables' owner, plus one.
    let pt_dom = a[3] >> 16;
    if pt_dom != 0 && pt_dom - 1 != u32::from(dom.domid) {
        return (-ESRCH, Outcome::Continue);
    }
    if let Err(e) = get_pg_owner(a[3]) {
        return (e, Outcome::Continue);
    }
    let mut outcome = Outcome::Continue;
    let rc = run_batch(host, a[0], a[1], a[2], 16, |host, at| {
        let ptr = rd64(host, at)?;
        let val = rd64(host, at.wrapping_add(8))?;
        // do_mmu_update: the command is ptr & (sizeof(l1_pgentry_t) - 1); 4..7 are
        // unknown (-ENOSYS).
        match ptr & 7 {
            MMU_NORMAL_PT_UPDATE | MMU_PT_UPDATE_NO_TRANSLATE => {
                dom.mmu
                    .update_entry(host, ptr & !7, val, UpdateKind::Normal)?;
            }
            MMU_PT_UPDATE_PRESERVE_AD => {
                dom.mmu
                    .update_entry(host, ptr & !7, val, UpdateKind::PreserveAd)?;
            }
            4..=7 => return Err(-ENOSYS),
            _ => {
                // MMU_MACHPHYS_UPDATE: ptr is the machine address of a frame.
                let mfn = u32::try_from(ptr >> 12).map_err(|_| -EINVAL)?;
                if mfn >= dom.nr_pages {
                    return Err(-EINVAL);
                }
                host.set_m2p(mfn, val as u32);
            }
        }
        outcome = Outcome::Remapped;
        Ok(())
    });
    (rc, outcome)
}

fn mmuext_op(dom: &mut PvDomain, a: [u32; 5], host: &mut dyn PvHost) -> (i32, Outcome) {
    use hypercall_abi::xen::*;
    if let Err(e) = get_pg_owner(a[3]) {
        return (e, Outcome::Continue);
    }
    let mut outcome = Outcome::Continue;
    let rc = run_batch(host, a[0], a[1], a[2], 12, |host, at| {
        let cmd = rd32(host, at)?;
        let arg1 = rd32(host, at.wrapping_add(4))?;
        let arg2 = rd32(host, at.wrapping_add(8))?;
        match cmd {
            MMUEXT_PIN_L1_TABLE => dom.mmu.pin(host, arg1, PageType::L1)?,
            MMUEXT_PIN_L2_TABLE => dom.mmu.pin(host, arg1, PageType::L2)?,
            MMUEXT_PIN_L3_TABLE => dom.mmu.pin(host, arg1, PageType::L3)?,
            // Ignored for a 32-bit guest, as Xen does.
            MMUEXT_PIN_L4_TABLE => {}
            MMUEXT_UNPIN_TABLE => dom.mmu.unpin(host, arg1)?,
            MMUEXT_NEW_BASEPTR => {
                dom.mmu.new_baseptr(host, arg1)?;
                outcome = Outcome::Remapped;
            }
            // Mappings change as soon as the entries do, so there is nothing to flush;
            // a vCPU mask must still be readable.
            MMUEXT_TLB_FLUSH_LOCAL
            | MMUEXT_INVLPG_LOCAL
            | MMUEXT_TLB_FLUSH_ALL
            | MMUEXT_INVLPG_ALL => {}
            MMUEXT_TLB_FLUSH_MULTI | MMUEXT_INVLPG_MULTI => {
                // do_mmuext_op: a vCPU mask vcpumask_to_pcpumask cannot read is -EINVAL.
                rd32(host, arg2).map_err(|_| -EINVAL)?;
            }
            MMUEXT_FLUSH_CACHE => return Err(-EACCES),
            MMUEXT_FLUSH_CACHE_GLOBAL => return Err(-EINVAL),
            MMUEXT_SET_LDT => {
                if arg2 > 8192
                    || (arg2 != 0 && (arg1 & 0xfff != 0 || arg1 >= HYPERVISOR_VIRT_START))
                {
                    return Err(-EINVAL);
                }
                let cur = dom.cur;
                for f in core::mem::take(&mut dom.vcpus[cur].ldt_frames) {
                    dom.mmu.put_seg_desc(host, f);
                }
                // The LDT's pages become descriptor pages while it is loaded, so no
                // writable mapping of them may exist or appear. Xen does this when it
                // first maps them; a page it cannot type makes the LDT's selectors
                // fault, which an empty LDT gives here.
                let mut ok = true;
                for k in 0..(arg2 * 8).div_ceil(4096) {
                    let va = arg1.wrapping_add(k * 4096);
                    let frame = dom
                        .mmu
                        .l1_entry_of(host, va)
                        .filter(|&(_, _, e)| e & 1 != 0)
                        .and_then(|(_, _, e)| u32::try_from((e >> 12) & 0xff_ffff_ffff).ok());
                    match frame {
                        Some(f) if dom.mmu.get_seg_desc(host, f).is_ok() => {
                            dom.vcpus[cur].ldt_frames.push(f)
                        }
                        _ => ok = false,
                    }
                }
                let v = &mut dom.vcpus[cur];
                v.ldt_base = if arg2 == 0 { 0 } else { arg1 };
                v.ldt_ents = arg2;
                v.ldt_ok = ok;
                dom.descriptors_dirty = true;
                outcome = Outcome::Remapped;
            }
            // A 32-bit guest has no separate user page tables.
            MMUEXT_NEW_USER_BASEPTR => return Err(-EINVAL),
            MMUEXT_CLEAR_PAGE => {
                dom.mmu.check_writable(host, arg1)?;
                host.clear_frame(arg1);
            }
            MMUEXT_COPY_PAGE => {
                if arg2 >= dom.nr_pages {
                    return Err(-EINVAL);
                }
                dom.mmu.check_writable(host, arg1)?;
                host.copy_frame(arg1, arg2);
            }
            MMUEXT_MARK_SUPER | MMUEXT_UNMARK_SUPER => return Err(-EOPNOTSUPP),
            _ => return Err(-ENOSYS),
        }
        Ok(())
    });
    (rc, outcome)
}

fn update_va_mapping(
    dom: &mut PvDomain,
    va: u32,
    val: u64,
    flags: u32,
    host: &mut dyn PvHost,
) -> Result<Outcome, i32> {
    dom.mmu.update_va_mapping(host, va, val)?;
    // Flags above the flush type are a pointer to a vCPU mask (UVMF_MULTI).
    if flags & !7 != 0 {
        rd32(host, flags & !7)?;
    }
    Ok(Outcome::Remapped)
}

/// check_descriptor (xen/arch/x86/pv/descriptor-tables.c): code and data segments are
/// allowed with DPL raised to at least 1; of the system descriptors only call gates.
pub fn check_descriptor(d: u64) -> Option<u64> {
    let b = (d >> 32) as u32;
    if b & (1 << 15) == 0 {
        return Some(d); // not present
    }
    if b & (1 << 12) == 0 {
        // System descriptor: a 32-bit call gate to a guest code selector only.
        if (b >> 8) & 0xf != 0xc {
            return None;
        }
        // The target must be a guest (ring 1-3) code selector.
        let sel = (d >> 16) as u16;
        if sel & 3 == 0 {
            return None;
        }
        return Some(d);
    }
    let dpl = (b >> 13) & 3;
    if dpl == 0 {
        return Some(d | (1u64 << 45));
    }
    Some(d)
}

/// FIRST_RESERVED_GDT_ENTRY: entries from here on are Xen's.
pub const FIRST_RESERVED_GDT_ENTRY: u32 = 7168;

fn set_gdt(dom: &mut PvDomain, list: u32, ents: u32, host: &mut dyn PvHost) -> i32 {
    if ents > FIRST_RESERVED_GDT_ENTRY {
        return -EINVAL;
    }
    let nr = ents.div_ceil(512);
    let mut frames = Vec::new();
    for k in 0..nr {
        match rd32(host, list.wrapping_add(4 * k)) {
            Ok(f) => frames.push(f),
            Err(e) => return e,
        }
    }
    let cur = dom.cur;
    install_gdt(dom, cur, frames, ents, host)
}

/// Make `frames` vCPU `v`'s GDT (pv_set_gdt): validate every descriptor, then type the
/// frames as descriptor pages.
fn install_gdt(
    dom: &mut PvDomain,
    v: usize,
    frames: Vec<u32>,
    ents: u32,
    host: &mut dyn PvHost,
) -> i32 {
    if ents > FIRST_RESERVED_GDT_ENTRY || frames.len() < ents.div_ceil(512) as usize {
        return -EINVAL;
    }
    // Validate every descriptor before taking the frames (Xen fixes DPL 0 up in place).
    for (k, &f) in frames.iter().enumerate() {
        if f >= dom.nr_pages {
            return -EINVAL;
        }
        for i in 0..512 {
            if (k as u32) * 512 + i >= ents {
                break;
            }
            let d = host.read_entry(f, i);
            match check_descriptor(d) {
                Some(nd) if nd != d => host.write_entry(f, i, nd),
                Some(_) => {}
                None => return -EINVAL,
            }
        }
    }
    let mut taken = Vec::new();
    for &f in &frames {
        if let Err(e) = dom.mmu.get_seg_desc(host, f) {
            for &t in &taken {
                dom.mmu.put_seg_desc(host, t);
            }
            return e;
        }
        taken.push(f);
    }
    let old = core::mem::take(&mut dom.vcpus[v].gdt_frames);
    for f in old {
        dom.mmu.put_seg_desc(host, f);
    }
    dom.vcpus[v].gdt_frames = frames;
    dom.vcpus[v].gdt_ents = ents;
    dom.descriptors_dirty = true;
    0
}

fn update_descriptor(dom: &mut PvDomain, pa: u64, d: u64, host: &mut dyn PvHost) -> i32 {
    let Ok(mfn) = u32::try_from(pa >> 12) else {
        return -EINVAL;
    };
    if pa & 7 != 0 || mfn >= dom.nr_pages {
        return -EINVAL;
    }
    let Some(d) = check_descriptor(d) else {
        return -EINVAL;
    };
    let idx = ((pa & 0xfff) >> 3) as u32;
    match dom.mmu.page_type(mfn) {
        Some((PageType::SegDesc, n, _)) if n > 0 => {
            host.write_entry(mfn, idx, d);
            dom.descriptors_dirty = true;
            0
        }
        Some((PageType::None | PageType::Writable, _, _)) | Some((_, 0, _)) => {
            host.write_entry(mfn, idx, d);
            // An LDT lives in ordinary pages until it is loaded.
            dom.descriptors_dirty = true;
            0
        }
        _ => -EINVAL,
    }
}

/// The descriptors of vCPU `v`'s GDT (entries below FIRST_RESERVED_GDT_ENTRY).
pub fn guest_gdt(dom: &PvDomain, v: usize, host: &dyn MmHost) -> Vec<u64> {
    let c = &dom.vcpus[v];
    (0..c.gdt_ents)
        .map(|i| {
            c.gdt_frames
                .get((i / 512) as usize)
                .map_or(0, |&f| host.read_entry(f, i % 512))
        })
        .collect()
}

fn multicall(dom: &mut PvDomain, list: u32, n: u32, host: &mut dyn PvHost) -> (i32, Outcome) {
    if n > MAX_BATCH {
        return (-EINVAL, Outcome::Continue);
    }
    let mut outcome = Outcome::Continue;
    for i in 0..n {
        // compat multicall_entry { op, result, args[6] }: 32 bytes.
        let at = list.wrapping_add(32 * i);
        let mut e = [0u32; 8];
        for (k, w) in e.iter_mut().enumerate() {
            match rd32(host, at.wrapping_add(4 * k as u32)) {
                Ok(v) => *w = v,
                Err(err) => return (err, outcome),
            }
        }
        let (r, o) = if e[0] == Hypercall::Multicall as u32 || e[0] == Hypercall::Iret as u32 {
            (-EINVAL, Outcome::Continue)
        } else {
            call(dom, e[0], [e[2], e[3], e[4], e[5], e[6]], host, false)
        };
        if let Err(err) = wr32(host, at.wrapping_add(4), r as u32) {
            return (err, outcome);
        }
        if o != Outcome::Continue {
            outcome = o;
        }
        if matches!(o, Outcome::Shutdown(_)) {
            break;
        }
    }
    (0, outcome)
}

fn vcpu_op(dom: &mut PvDomain, cmd: u32, vcpu: u32, arg: u32, host: &mut dyn PvHost) -> i32 {
    use hypercall_abi::vcpu::*;
    let Some(v) = dom.vcpus.get(vcpu as usize) else {
        return -ENOENT;
    };
    let up = v.up;
    let r = (|| -> Result<i32, i32> {
        match cmd {
            VCPUOP_is_up => Ok(i32::from(up)),
            VCPUOP_set_periodic_timer => {
                let p = rd64(host, arg)?;
                if p < 1_000_000 {
                    return Err(-EINVAL);
                }
                let now = host.now_ns();
                let c = &mut dom.vcpus[vcpu as usize];
                c.period_ns = p;
                c.next_periodic = Some(now + p);
                Ok(0)
            }
            VCPUOP_stop_periodic_timer => {
                dom.vcpus[vcpu as usize].next_periodic = None;
                Ok(0)
            }
            VCPUOP_set_singleshot_timer => {
                if vcpu as usize != dom.cur {
                    return Err(-EINVAL);
                }
                let t = rd64(host, arg)?;
                // The flags are copied with the struct (an unreadable one is -EFAULT), unused.
                rd32(host, arg.wrapping_add(8))?;
                if t < host.now_ns() {
                    // VCPUOP_set_singleshot_timer (xen/common/domain.c, 4.17): an expired
                    // timeout stops the timer and sends the timer event at once, returning
                    // 0; VCPU_SSHOTTMR_future no longer yields -ETIME.
                    dom.vcpus[vcpu as usize].singleshot = None;
                    dom.evtchn
                        .raise_virq(host.shared(), hypercall_abi::xen::VIRQ_TIMER, vcpu);
                    return Ok(0);
                }
                dom.vcpus[vcpu as usize].singleshot = Some(t);
                Ok(0)
            }
            VCPUOP_stop_singleshot_timer => {
                if vcpu as usize != dom.cur {
                    return Err(-EINVAL);
                }
                dom.vcpus[vcpu as usize].singleshot = None;
                Ok(0)
            }
            VCPUOP_get_runstate_info => {
                // vcpu_runstate_info { state i32, state_entry_time u64, time[4] u64 }
                let now = host.now_ns();
                let st = if up { 0 } else { 3 }; // RUNSTATE_running / RUNSTATE_offline
                wr32(host, arg, st)?;
                wr64(host, arg.wrapping_add(4), now)?;
                wr64(host, arg.wrapping_add(12), if up { now } else { 0 })?;
                for k in 1..4 {
                    wr64(host, arg.wrapping_add(12 + 8 * k), 0)?;
                }
                Ok(0)
            }
            // Accepted; the area is not kept up to date yet (docs/STATUS.md).
            VCPUOP_register_runstate_memory_area => Ok(0),
            VCPUOP_register_vcpu_info => Err(-EINVAL),
            VCPUOP_initialise => {
                vcpu_initialise(dom, vcpu as usize, arg, host)?;
                Ok(0)
            }
            VCPUOP_up => {
                // do_vcpu_op: a vCPU must have a context before it can run.
                let c = &mut dom.vcpus[vcpu as usize];
                if !c.initialised {
                    return Err(-EINVAL);
                }
                c.up = true;
                dom.vcpus_changed = true;
                Ok(0)
            }
            VCPUOP_down => {
                dom.vcpus[vcpu as usize].up = false;
                dom.vcpus_changed = true;
                Ok(0)
            }
            VCPUOP_send_nmi => Err(-ENOSYS),
            VCPUOP_get_physid => Err(-EPERM),
            VCPUOP_register_vcpu_time_memory_area => Err(-ENOSYS),
            _ => Err(-ENOSYS),
        }
    })();
    res(r)
}

fn memory_op(dom: &mut PvDomain, cmd: u32, arg: u32, host: &mut dyn PvHost) -> i32 {
    use hypercall_abi::memory::*;
    let r = (|| -> Result<i32, i32> {
        // do_memory_op: the command is cmd & MEMOP_CMD_MASK (low 6 bits), the rest is the
        // continuation's start extent.
        match cmd & 0x3f {
            // The domain runs at its maximum: nothing can be added, and pages released are
            // not taken back (balloon drivers see zero extents done).
            XENMEM_increase_reservation | XENMEM_populate_physmap | XENMEM_decrease_reservation => {
                rd32(host, arg)?;
                Ok(0)
            }
            XENMEM_maximum_ram_page => Ok(dom.nr_pages as i32),
            XENMEM_current_reservation | XENMEM_maximum_reservation => {
                let d = rd32(host, arg)? as u16;
                check_foreigndom(dom, u32::from(d))?;
                Ok(dom.nr_pages as i32)
            }
            XENMEM_maximum_gpfn => {
                let d = rd32(host, arg)? as u16;
                check_foreigndom(dom, u32::from(d))?;
                Ok(dom.nr_pages as i32 - 1)
            }
            XENMEM_machphys_mapping => {
                // { v_start, v_end, max_mfn }
                wr32(host, arg, HYPERVISOR_VIRT_START)?;
                wr32(host, arg.wrapping_add(4), 0xFFE0_0000)?;
                wr32(
                    host,
                    arg.wrapping_add(8),
                    (0xFFE0_0000 - HYPERVISOR_VIRT_START) / 4 - 1,
                )?;
                Ok(0)
            }
            XENMEM_memory_map => {
                // { nr_entries in/out, buffer }: one RAM region, as libxl gives a PV domU.
                let n = rd32(host, arg)?;
                let buf = rd32(host, arg.wrapping_add(4))?;
                if n < 1 {
                    return Err(-EINVAL);
                }
                wr64(host, buf, 0)?;
                wr64(host, buf.wrapping_add(8), u64::from(dom.nr_pages) << 12)?;
                wr32(host, buf.wrapping_add(16), 1)?;
                wr32(host, arg, 1)?;
                Ok(0)
            }
            XENMEM_add_to_physmap | XENMEM_add_to_physmap_batch | XENMEM_remove_from_physmap => {
                // Only for translated (HVM) guests.
                Err(-EACCES)
            }
            XENMEM_machine_memory_map | XENMEM_set_memory_map => Err(-EPERM),
            _ => Err(-ENOSYS),
        }
    })();
    res(r)
}

/// VCPUOP_initialise (arch_set_info_guest for a 32-bit PV vCPU): the registers, GDT,
/// kernel stack, callbacks and page-table base of a vCPU that has never run.
fn vcpu_initialise(
    dom: &mut PvDomain,
    v: usize,
    arg: u32,
    host: &mut dyn PvHost,
) -> Result<(), i32> {
    use core::mem::offset_of;
    use hypercall_abi::arch_x86_32::{CpuUserRegs as R, VcpuGuestContext as C};
    if dom.vcpus[v].initialised {
        return Err(-EEXIST);
    }
    let at = |o: usize| arg.wrapping_add(o as u32);
    let ur = |o: usize| at(offset_of!(C, user_regs) + o);
    let mut regs = StartRegs::default();
    let gpr_offs = [
        offset_of!(R, eax),
        offset_of!(R, ecx),
        offset_of!(R, edx),
        offset_of!(R, ebx),
        offset_of!(R, esp),
        offset_of!(R, ebp),
        offset_of!(R, esi),
        offset_of!(R, edi),
    ];
    for (k, o) in gpr_offs.iter().enumerate() {
        regs.gpr[k] = rd32(host, ur(*o))?;
    }
    regs.eip = rd32(host, ur(offset_of!(R, eip)))?;
    regs.eflags = rd32(host, ur(offset_of!(R, eflags)))?;
    let sel_offs = [
        offset_of!(R, cs),
        offset_of!(R, ss),
        offset_of!(R, ds),
        offset_of!(R, es),
        offset_of!(R, fs),
        offset_of!(R, gs),
    ];
    for (k, o) in sel_offs.iter().enumerate() {
        let s = rd32(host, ur(*o))? as u16;
        // fixup_guest_{code,stack}_selector: ring 0 becomes ring 1.
        regs.sel[k] = if s & !3 != 0 && s & 3 == 0 { s | 1 } else { s };
    }
    let gdt_ents = rd32(host, at(offset_of!(C, gdt_ents)))?;
    if gdt_ents > FIRST_RESERVED_GDT_ENTRY {
        return Err(-EINVAL);
    }
    let mut frames = Vec::new();
    for k in 0..gdt_ents.div_ceil(512) {
        frames.push(rd32(host, at(offset_of!(C, gdt_frames) + 4 * k as usize))?);
    }
    let kernel_ss = rd32(host, at(offset_of!(C, kernel_ss)))?;
    let kernel_sp = rd32(host, at(offset_of!(C, kernel_sp)))?;
    let cr3 = rd32(host, at(offset_of!(C, ctrlreg) + 12))?;
    let ldt_base = rd32(host, at(offset_of!(C, ldt_base)))?;
    let ldt_ents = rd32(host, at(offset_of!(C, ldt_ents)))?;
    if ldt_ents > 8192 || (ldt_ents != 0 && ldt_base & 0xfff != 0) {
        return Err(-EINVAL);
    }
    // xen_cr3_to_pfn for a 32-bit guest: the frame number rotated left by 12.
    let mfn = cr3.rotate_right(12);
    let r = install_gdt(dom, v, frames, gdt_ents, host);
    if r != 0 {
        return Err(r);
    }
    let cur = dom.cur;
    dom.mmu.select(v);
    let based = dom.mmu.new_baseptr(host, mfn);
    dom.mmu.select(cur);
    based?;
    let c = &mut dom.vcpus[v];
    c.kernel_ss = if kernel_ss & 3 == 0 {
        kernel_ss | 1
    } else {
        kernel_ss
    };
    c.kernel_sp = kernel_sp;
    c.ldt_base = ldt_base;
    c.ldt_ents = ldt_ents;
    c.start = Some(regs);
    c.initialised = true;
    Ok(())
}

/// Grant table frames a domain may have (Xen's default `gnttab_max_frames`).
pub const MAX_GRANT_FRAMES: u32 = 64;

/// Where the domain's v1 grant entries are (the host's grant frames; nr_grant_entries
/// counts the frames the table has grown to, at least INITIAL_NR_GRANT_FRAMES = 1).
fn grant_table_of(dom: &PvDomain, host: &dyn PvHost) -> super::grant::Table {
    let (first, max) = host.grant_frames();
    super::grant::Table {
        first_frame: first,
        nr_entries: dom.gnttab_frames.clamp(1, max.max(1)) * super::grant::GRANT_ENTRIES_PER_FRAME,
        domid: dom.domid,
        vcpu: dom.cur,
    }
}

fn grant_table_op(
    dom: &mut PvDomain,
    cmd: u32,
    arg: u32,
    count: u32,
    host: &mut dyn PvHost,
) -> i32 {
    use hypercall_abi::grant_table::*;
    // compat_grant_table_op passes map/unmap (same layout for both ABIs) and any command
    // with continuation bits (GNTTABOP_ARG_MASK) to do_grant_table_op, which refuses a
    // negative count and those bits (except on cache_flush) with -EINVAL.
    if cmd & !0xfff != 0 && cmd & 0xfff != GNTTABOP_cache_flush {
        return -EINVAL;
    }
    if cmd != GNTTABOP_setup_table && (count as i32) < 0 {
        return -EINVAL;
    }
    let r = (|| -> Result<i32, i32> {
        match cmd {
            GNTTABOP_map_grant_ref => {
                // gnttab_map_grant_ref: one map_grant_ref per entry, the whole struct
                // copied back (status, handle, dev_bus_addr) even on failure.
                if count > MAX_BATCH {
                    return Err(-EINVAL);
                }
                for k in 0..count {
                    let at = arg.wrapping_add(32 * k);
                    let host_addr = rd64(host, at)?;
                    let flags = rd32(host, at.wrapping_add(8))?;
                    let gref = rd32(host, at.wrapping_add(12))?;
                    let w = rd32(host, at.wrapping_add(16))?;
                    let mut handle = rd32(host, at.wrapping_add(20))?;
                    let mut dev_bus_addr = rd64(host, at.wrapping_add(24))?;
                    let req = super::grant::MapReq {
                        host_addr,
                        flags,
                        gref,
                        dom: w as u16,
                    };
                    let t = grant_table_of(dom, host);
                    let (st, h, mfn) = dom.grants.map(&mut dom.mmu, host, &t, &req);
                    if st == GNTST_okay {
                        handle = h;
                        dev_bus_addr = u64::from(mfn) << 12;
                    }
                    wr64(host, at, host_addr)?;
                    wr32(host, at.wrapping_add(8), flags)?;
                    wr32(host, at.wrapping_add(12), gref)?;
                    wr32(
                        host,
                        at.wrapping_add(16),
                        (w & 0xffff) | (u32::from(st as u16) << 16),
                    )?;
                    wr32(host, at.wrapping_add(20), handle)?;
                    wr64(host, at.wrapping_add(24), dev_bus_addr)?;
                }
                Ok(0)
            }
            GNTTABOP_unmap_grant_ref => {
                // gnttab_unmap_grant_ref: only the status is copied back.
                if count > MAX_BATCH {
                    return Err(-EINVAL);
                }
                for k in 0..count {
                    let at = arg.wrapping_add(24 * k);
                    let host_addr = rd64(host, at)?;
                    let dev_bus_addr = rd64(host, at.wrapping_add(8))?;
                    let handle = rd32(host, at.wrapping_add(16))?;
                    let t = grant_table_of(dom, host);
                    let st =
                        dom.grants
                            .unmap(&mut dom.mmu, host, &t, host_addr, dev_bus_addr, handle);
                    wr16(host, at.wrapping_add(20), st as u16)?;
                }
                Ok(0)
            }
            GNTTABOP_setup_table => {
                // compat_grant_table_op (xen/common/compat/grant_table.c): one at most.
                if count > 1 {
                    return Err(-EINVAL);
                }
                for k in 0..count {
                    // { dom u16, nr_frames u32, status i16 out, frame_list handle }
                    let at = arg.wrapping_add(16 * k);
                    let d = rd32(host, at)? as u16;
                    let n = rd32(host, at.wrapping_add(4))?;
                    let list = rd32(host, at.wrapping_add(12))?;
                    let (first, max) = host.grant_frames();
                    let status = if check_foreigndom(dom, u32::from(d)).is_err() {
                        GNTST_bad_domain
                    } else if n > max {
                        GNTST_general_error
                    } else {
                        for i in 0..n {
                            wr32(host, list.wrapping_add(4 * i), first + i)?;
                        }
                        dom.gnttab_frames = dom.gnttab_frames.max(n);
                        GNTST_okay
                    };
                    wr16(host, at.wrapping_add(8), status as u16)?;
                }
                Ok(0)
            }
            GNTTABOP_query_size => {
                // gnttab_query_size: exactly one.
                if count != 1 {
                    return Err(-EINVAL);
                }
                for k in 0..count {
                    // { dom u16, nr_frames u32 out, max_nr_frames u32 out, status i16 out }
                    let at = arg.wrapping_add(16 * k);
                    let d = rd32(host, at)? as u16;
                    if check_foreigndom(dom, u32::from(d)).is_err() {
                        wr16(host, at.wrapping_add(12), GNTST_bad_domain as u16)?;
                        continue;
                    }
                    let (_, max) = host.grant_frames();
                    wr32(host, at.wrapping_add(4), dom.gnttab_frames.max(1))?;
                    wr32(host, at.wrapping_add(8), max)?;
                    wr16(host, at.wrapping_add(12), GNTST_okay as u16)?;
                }
                Ok(0)
            }
            GNTTABOP_get_version => {
                let d = rd32(host, arg)? as u16;
                check_foreigndom(dom, u32::from(d))?;
                wr32(host, arg.wrapping_add(4), dom.gnttab_version)?;
                Ok(0)
            }
            GNTTABOP_set_version => {
                // Version 2 is not offered: gnttab_set_version with max_version 1 (Xen
                // booted with gnttab=max-ver:1) answers -ENOSYS for it, -EINVAL for a
                // version that is neither 1 nor 2.
                let v = rd32(host, arg)?;
                if v == 2 {
                    return Err(-ENOSYS);
                }
                if v != 1 {
                    return Err(-EINVAL);
                }
                wr32(host, arg, dom.gnttab_version)?;
                Ok(0)
            }
            _ => Err(-ENOSYS),
        }
    })();
    res(r)
}

fn physdev_op(dom: &mut PvDomain, cmd: u32, arg: u32, host: &mut dyn PvHost) -> i32 {
    use hypercall_abi::physdev::*;
    let st = &mut dom.vcpus[dom.cur].privs;
    match cmd {
        PHYSDEVOP_set_iopl => super::privop::physdev_set_iopl(st, host.mem(), arg),
        PHYSDEVOP_set_iobitmap => super::privop::physdev_set_iobitmap(st, host.mem(), arg),
        // A domU owns no physical interrupts or devices.
        _ => -EPERM,
    }
}

/// HYPERVISOR_set_trap_table: 8-byte `trap_info` entries up to one with address 0; a NULL
/// table clears the virtual IDT.
fn set_trap_table(dom: &mut PvDomain, table: u32, mem: &mut dyn GuestMemory) -> i32 {
    if table == 0 {
        dom.trap_table.clear();
        return 0;
    }
    for k in 0..256u32 {
        let mut e = [0u8; 8];
        if mem
            .read(
                GuestAddr(table.wrapping_add(8 * k)),
                &mut e,
                crate::mmu::Access::Read,
            )
            .is_err()
        {
            return -EFAULT;
        }
        let addr = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        if addr == 0 {
            break;
        }
        // CS RPL is forced to at least 1 (ring 0 is Xen's).
        let cs = u16::from_le_bytes([e[2], e[3]]);
        let cs = if cs & 3 == 0 { cs | 1 } else { cs };
        dom.trap_table.retain(|t| t.0 != e[0]);
        dom.trap_table.push((e[0], e[1], cs, addr));
    }
    0
}
