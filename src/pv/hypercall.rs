//! Hypercall dispatch for PV32 guests: the pv32 column of xen/include/hypercall-defs.c.
//! Arguments in EBX, ECX, EDX, ESI, EDI; the result in EAX; numbers Xen does not know (or
//! that this layer does not implement yet) return -ENOSYS, as Xen does for an unknown one.
//! docs/STATUS.md lists which are implemented.

// Xen's constant names (XENVER_version, SCHEDOP_shutdown, ...) are kept as they are.
#![allow(non_upper_case_globals)]

use crate::cpu::{GuestCpu, EAX, EBX, ECX, EDI, EDX, ESI};
use crate::mmu::{GuestAddr, GuestMemory};
use alloc::vec::Vec;
use hypercall_abi::errno::{EFAULT, EINVAL, ENOSYS};
use hypercall_abi::xen::Hypercall;

/// Services a PV domain gets from its host (the hosted runner, or Xen).
pub trait PvHost {
    /// Bytes the guest wrote with HYPERVISOR_console_io.
    fn console_write(&mut self, bytes: &[u8]);
    /// EVTCHNOP_send on `port`: 0, or a negative Xen errno.
    fn evtchn_send(&mut self, port: u32) -> i32;
}

/// Domain-wide PV state this layer keeps.
#[derive(Default)]
pub struct PvDomain {
    /// Set by SCHEDOP_shutdown: the SHUTDOWN_* reason.
    pub shutdown: Option<u32>,
    /// The virtual IDT from set_trap_table: (vector, flags, cs, eip).
    pub trap_table: Vec<(u8, u8, u16, u32)>,
    pub kernel_ss: u32,
    pub kernel_sp: u32,
    pub event_callback: (u32, u32),
    pub failsafe_callback: (u32, u32),
    pub vm_assist: u32,
    /// Virtual CR0.TS (fpu_taskswitch).
    pub fpu_ts: bool,
    /// vCPU 0's event upcall mask (vcpu_info.evtchn_upcall_mask), 1 at start of day.
    pub upcall_mask: u8,
    pub hypercalls: u64,
}

/// What the run loop does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Resume the guest (the result is in EAX).
    Continue,
    /// The domain shut down with this SHUTDOWN_* reason.
    Shutdown(u32),
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

fn xen_version(cmd: u32, arg: u32, mem: &mut dyn GuestMemory) -> i32 {
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
            let submap = if idx == 0 {
                use hypercall_abi::version::{
                    XENFEAT_gnttab_map_avail_bits, XENFEAT_highmem_assist,
                    XENFEAT_mmu_pt_update_preserve_ad,
                };
                (1 << XENFEAT_mmu_pt_update_preserve_ad)
                    | (1 << XENFEAT_highmem_assist)
                    | (1 << XENFEAT_gnttab_map_avail_bits)
            } else {
                0
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

/// Run the hypercall in EAX with the guest's arguments; the result goes to EAX.
pub fn dispatch(
    dom: &mut PvDomain,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    host: &mut dyn PvHost,
) -> Outcome {
    dom.hypercalls += 1;
    let nr = cpu.gpr[EAX];
    let (a1, a2, a3) = (cpu.gpr[EBX], cpu.gpr[ECX], cpu.gpr[EDX]);
    let _ = (cpu.gpr[ESI], cpu.gpr[EDI]);
    let mut outcome = Outcome::Continue;
    let ret: i32 = match Hypercall::try_from(nr) {
        Ok(Hypercall::ConsoleIo) => {
            use hypercall_abi::xen::{CONSOLEIO_read, CONSOLEIO_write};
            match a1 {
                CONSOLEIO_write => {
                    // Xen copies in chunks; a bad buffer ends the write with -EFAULT.
                    let mut buf = alloc::vec![0u8; a2.min(1 << 16) as usize];
                    match mem.read(GuestAddr(a3), &mut buf, crate::mmu::Access::Read) {
                        Ok(()) => {
                            host.console_write(&buf);
                            0
                        }
                        Err(_) => -EFAULT,
                    }
                }
                CONSOLEIO_read => 0,
                _ => -EINVAL,
            }
        }
        Ok(Hypercall::SchedOp) => {
            use hypercall_abi::sched::*;
            match a1 {
                SCHEDOP_yield | SCHEDOP_block => 0,
                SCHEDOP_shutdown => match mem.read_u32(GuestAddr(a2)) {
                    Ok(reason) => {
                        dom.shutdown = Some(reason);
                        outcome = Outcome::Shutdown(reason);
                        0
                    }
                    Err(_) => -EFAULT,
                },
                _ => -ENOSYS,
            }
        }
        Ok(Hypercall::XenVersion) => xen_version(a1, a2, mem),
        Ok(Hypercall::EventChannelOp) => {
            use hypercall_abi::event_channel::EVTCHNOP_send;
            match a1 {
                // evtchn_send { port }.
                EVTCHNOP_send => match mem.read_u32(GuestAddr(a2)) {
                    Ok(port) => host.evtchn_send(port),
                    Err(_) => -EFAULT,
                },
                _ => -ENOSYS,
            }
        }
        Ok(Hypercall::SetTrapTable) => set_trap_table(dom, a1, mem),
        Ok(Hypercall::StackSwitch) => {
            dom.kernel_ss = a1;
            dom.kernel_sp = a2;
            0
        }
        Ok(Hypercall::SetCallbacks) => {
            dom.event_callback = (a1, a2);
            dom.failsafe_callback = (a3, cpu.gpr[ESI]);
            0
        }
        Ok(Hypercall::FpuTaskswitch) => {
            dom.fpu_ts = a1 != 0;
            0
        }
        Ok(Hypercall::VmAssist) => {
            // VMASST_CMD_enable = 0, disable = 1; types as in xen.h.
            match a1 {
                0 => dom.vm_assist |= 1 << (a2 & 31),
                1 => dom.vm_assist &= !(1 << (a2 & 31)),
                _ => {}
            }
            if a1 > 1 {
                -ENOSYS
            } else {
                0
            }
        }
        _ => -ENOSYS,
    };
    cpu.gpr[EAX] = ret as u32;
    outcome
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
