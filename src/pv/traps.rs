//! Delivering exceptions to a PV32 guest kernel: the bounce frame Xen builds
//! (`compat_create_bounce_frame`, xen/arch/x86/x86_64/compat/entry.S; pv32-abi.md section 3).
//!
//! From ring 1 the frame goes on the current stack; from ring 2/3 on `kernel_ss:kernel_sp`
//! with SS and ESP of the interrupted context first. Then EFLAGS (IF = !upcall mask, as the
//! guest sees it), CS with the saved upcall mask in bits 16-23, EIP, and the error code for
//! the vectors that have one. The handler runs with TF, NT, RF and VM clear; a trap-table
//! entry with flag bit 2 (or an event callback) also masks event upcalls.

use super::hypercall::PvDomain;
use crate::cpu::seg::{SegReg, Segment};
use crate::cpu::{GuestCpu, ESP};
use crate::exit::Vector;
use crate::mmu::{GuestAddr, GuestMemory};

/// Why a bounce could not be delivered: Xen crashes the domain in these cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BounceError {
    /// No trap-table entry (or a null CS) for the vector.
    NoHandler(u8),
    /// Writing the frame faulted.
    FrameFault,
}

/// Xen's flat ring-1 and ring-3 code and data descriptors, in its reserved GDT entries
/// (FIRST_RESERVED_GDT_ENTRY 7168): (selector, descriptor).
pub const FLAT_DESCRIPTORS: [(u16, u64); 4] = [
    (
        hypercall_abi::arch_x86_32::FLAT_RING1_CS,
        0x00cf_bb00_0000_ffff,
    ),
    (
        hypercall_abi::arch_x86_32::FLAT_RING1_DS,
        0x00cf_b300_0000_ffff,
    ),
    (
        hypercall_abi::arch_x86_32::FLAT_RING3_CS,
        0x00cf_fb00_0000_ffff,
    ),
    (
        hypercall_abi::arch_x86_32::FLAT_RING3_DS,
        0x00cf_f300_0000_ffff,
    ),
];

/// Put Xen's flat descriptors into `gdt`, growing it to hold them.
pub fn install_flat_descriptors(gdt: &mut alloc::vec::Vec<u64>) {
    for (sel, d) in FLAT_DESCRIPTORS {
        let i = usize::from(sel >> 3);
        if gdt.len() <= i {
            gdt.resize(i + 1, 0);
        }
        gdt[i] = d;
    }
}

/// The state a PV32 vCPU starts in, as Xen starts it: ring 1 with the flat ring-1 selectors,
/// the toolstack's general registers (EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI), EIP and
/// EFLAGS (bit 1 always set).
pub fn start_ring1(cpu: &mut GuestCpu, gpr: [u32; 8], eip: u32, eflags: u32) {
    use hypercall_abi::arch_x86_32::{FLAT_RING1_CS, FLAT_RING1_DS};
    cpu.cpl = 1;
    *cpu.seg_mut(SegReg::Cs) = Segment::flat(FLAT_RING1_CS, true, 1);
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        *cpu.seg_mut(s) = Segment::flat(FLAT_RING1_DS, false, 1);
    }
    cpu.gpr = gpr;
    cpu.eip = eip;
    cpu.eflags = eflags | 0x2;
}

/// `vcpu_info` fields (xen.h): evtchn_upcall_mask at byte 1, arch.cr2 at byte 8 of vCPU 0's
/// slot, at the start of shared_info.
pub const VCPU_INFO_UPCALL_MASK: u32 = 1;
pub const VCPU_INFO_CR2: u32 = 8;

/// The user-mode bit of a #PF error code.
const PFEC_USER_MODE: u32 = 1 << 2;

/// Deliver `vector` (with `error` if the vector has one) to the guest's handler.
/// `shared_info` is where vCPU 0's vcpu_info is reachable in guest memory, if mapped.
pub fn bounce(
    dom: &mut PvDomain,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    vector: u8,
    error: Option<u32>,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Result<(), BounceError> {
    let &(_, flags, cs, eip) = dom
        .trap_table
        .iter()
        .find(|t| t.0 == vector)
        .ok_or(BounceError::NoHandler(vector))?;
    if cs & !3 == 0 {
        return Err(BounceError::NoHandler(vector));
    }
    // Xen re-sets the #PF error code's user bit for the guest: clear in guest kernel mode
    // (ring 1), set in user mode (pv_inject_event, xen/arch/x86/pv/traps.c).
    let error = match error {
        Some(e) if vector == Vector::PF as u8 => {
            Some((e & !PFEC_USER_MODE) | if cpu.cpl == 3 { PFEC_USER_MODE } else { 0 })
        }
        e => e,
    };
    bounce_to(dom, cpu, mem, cs, eip, error, flags & 4 != 0, selectors).map_err(|e| match e {
        BounceError::NoHandler(_) => BounceError::NoHandler(vector),
        e => e,
    })
}

/// The event upcall: a bounce frame with no error code to the event callback, with
/// upcalls masked (Xen's TBF_INTERRUPT).
pub fn bounce_event(
    dom: &mut PvDomain,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Result<(), BounceError> {
    let (cs, eip) = dom.event_callback;
    let cs = cs as u16;
    if cs & !3 == 0 || eip == 0 {
        return Err(BounceError::NoHandler(0xff));
    }
    let cs = if cs & 3 == 0 { cs | 1 } else { cs };
    bounce_to(dom, cpu, mem, cs, eip, None, true, selectors)
}

/// Whether the bytes at EIP are a SYSENTER (`0F 34`, prefixes ignored as the CPU ignores
/// them; with LOCK it is #UD).
pub fn is_sysenter(code: &[u8]) -> bool {
    let mut dec = iced_x86::Decoder::with_ip(32, code, 0, iced_x86::DecoderOptions::NONE);
    let insn = dec.decode();
    insn.code() == iced_x86::Code::Sysenter && !insn.has_lock_prefix()
}

/// SYSENTER from the guest, as a 64-bit Xen 4.17 on an Intel host runs it (xen/arch/x86/
/// x86_64/entry.S sysenter_entry, then compat/entry.S compat_sysenter; the CPU clears IF,
/// VM and RF). The CPU saves neither EIP nor ESP, so the frame Xen bounces with holds
/// EIP 0, CS 3 (the null ring-3 selector sysenter_entry pushes), EFLAGS with IF set again,
/// ESP 0 and SS FLAT_COMPAT_USER_SS (0xe033); general registers are passed unchanged.
/// - With a CALLBACKTYPE_sysenter callback (a non-zero address), the handler is its
///   `cs:eip`, with event upcalls masked if it was registered with CALLBACKF_mask_events;
///   a null selector is replaced by the #GP trap-table entry's CS.
/// - Without one (sysenter_gpf), it is #GP with error code 0 to the #GP trap-table entry,
///   from that same frame (EIP 0), masking upcalls if that entry's flag bit 2 says so.
///
/// A null handler selector crashes the domain (compat_bounce_null_selector), and so does
/// the frame at ESP 0 from ring 1 (it lands in the hypervisor area). On AMD (not modelled)
/// the CPU raises #UD for SYSENTER in compatibility mode, and the guest gets that instead.
pub fn sysenter(
    dom: &mut PvDomain,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Result<(), BounceError> {
    let gp = dom
        .trap_table
        .iter()
        .find(|t| t.0 == Vector::GP as u8)
        .map(|&(_, flags, cs, eip)| (flags, cs, eip));
    let (gp_flags, gp_cs, gp_eip) = gp.unwrap_or((0, 0, 0));
    let (cs, eip, error, mask) = match dom.sysenter_callback {
        (cs, eip, mask) if eip != 0 => {
            let cs = cs as u16;
            (if cs & !3 == 0 { gp_cs } else { cs }, eip, None, mask)
        }
        _ => (gp_cs, gp_eip, Some(0), gp_flags & 4 != 0),
    };
    if cs & !3 == 0 {
        return Err(BounceError::NoHandler(Vector::GP as u8));
    }
    cpu.eip = 0;
    cpu.gpr[ESP] = 0;
    cpu.seg_mut(SegReg::Cs).selector = 3;
    cpu.seg_mut(SegReg::Ss).selector = hypercall_abi::arch_x86_32::FLAT_RING3_SS;
    cpu.eflags = (cpu.eflags & !((1 << 16) | (1 << 17))) | (1 << 9);
    bounce_to(dom, cpu, mem, cs, eip, error, mask, selectors)
}

/// Build the frame and enter the handler at `cs:eip`.
#[allow(clippy::too_many_arguments)]
fn bounce_to(
    dom: &mut PvDomain,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    cs: u16,
    eip: u32,
    error: Option<u32>,
    mask_events: bool,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Result<(), BounceError> {
    let vector = 0xff;
    let saved_mask = u32::from(dom.upcall_mask);
    let mut esp = cpu.gpr[ESP];
    let mut frame: alloc::vec::Vec<u32> = alloc::vec::Vec::new();
    let from_user = cpu.cpl > 1;
    if from_user {
        frame.push(u32::from(cpu.seg(SegReg::Ss).selector));
        frame.push(esp);
        esp = dom.kernel_sp;
    }
    // The guest never sees real IF: it is the inverse of its upcall mask.
    let mut eflags = cpu.eflags & !(1 << 9);
    if saved_mask == 0 {
        eflags |= 1 << 9;
    }
    frame.push(eflags);
    frame.push(u32::from(cpu.seg(SegReg::Cs).selector) | (saved_mask << 16));
    frame.push(cpu.eip);
    if let Some(e) = error {
        frame.push(e);
    }
    // Write from the lowest address up: the frame is pushed in the order above.
    let base = esp.wrapping_sub(4 * frame.len() as u32);
    for (k, v) in frame.iter().rev().enumerate() {
        mem.write_u32(GuestAddr(base.wrapping_add(4 * k as u32)), *v)
            .map_err(|_| BounceError::FrameFault)?;
    }
    if from_user {
        let ss = (dom.kernel_ss & 0xffff) as u16;
        *cpu.seg_mut(SegReg::Ss) = selectors(ss).ok_or(BounceError::FrameFault)?;
    }
    cpu.gpr[ESP] = base;
    *cpu.seg_mut(SegReg::Cs) = selectors(cs).ok_or(BounceError::NoHandler(vector))?;
    cpu.cpl = (cs & 3) as u8;
    cpu.eip = eip;
    // TF, NT, RF, VM cleared for the handler.
    cpu.eflags &= !((1 << 8) | (1 << 14) | (1 << 16) | (1 << 17));
    if mask_events {
        dom.upcall_mask = 1;
    }
    Ok(())
}

/// Vectors whose exceptions push an error code.
pub fn has_error_code(v: u8) -> bool {
    Vector::from_u8(v).is_some_and(|v| v.has_error_code())
}

/// HYPERVISOR_iret (xen/arch/x86/pv/iret.c, compat_iret): the guest's stack holds EAX, EIP,
/// CS, EFLAGS and, returning to ring 2/3, ESP and SS. The upcall mask becomes !EFLAGS.IF.
pub fn hypervisor_iret(
    dom: &mut PvDomain,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Result<(), BounceError> {
    let sp = cpu.gpr[ESP];
    let rd = |k: u32| {
        mem.read_u32(GuestAddr(sp.wrapping_add(4 * k)))
            .map_err(|_| BounceError::FrameFault)
    };
    let (eax, eip, cs, eflags) = (rd(0)?, rd(1)?, rd(2)?, rd(3)?);
    let cs = (cs & 0xffff) as u16;
    // Ring 0 is Xen's: the RPL is raised to 1 as Xen does.
    let cs = if cs & 3 == 0 { cs | 1 } else { cs };
    let seg_cs = selectors(cs).ok_or(BounceError::FrameFault)?;
    let mut new_sp = sp.wrapping_add(16);
    if cs & 3 > 1 {
        let esp = rd(4)?;
        let ss = (rd(5)? & 0xffff) as u16;
        *cpu.seg_mut(SegReg::Ss) = selectors(ss).ok_or(BounceError::FrameFault)?;
        new_sp = esp;
    }
    cpu.gpr[crate::cpu::EAX] = eax;
    cpu.gpr[ESP] = new_sp;
    cpu.eip = eip;
    *cpu.seg_mut(SegReg::Cs) = seg_cs;
    cpu.cpl = (cs & 3) as u8;
    // IOPL and IF are virtual: keep the guest's view (IF=1 always), VM/RF cleared.
    let keep = 0x0000_0200 | 0x0000_3000;
    cpu.eflags = (eflags & !keep & !((1 << 16) | (1 << 17))) | (cpu.eflags & keep) | 0x2;
    dom.upcall_mask = u8::from(eflags & (1 << 9) == 0);
    Ok(())
}
