//! The block of memory translated code works on: the guest CPU plus the translator's
//! private fields. Translated code holds its address in a pinned host register and reaches
//! every field at a fixed offset, so the layout is `#[repr(C)]` and the offsets are named
//! once here.

use crate::cpu::GuestCpu;
use core::mem::offset_of;

/// One entry of the indirect-branch translation cache (guest EIP -> host code).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IbtcEntry {
    pub guest: u32,
    pub _pad: u32,
    pub host: u64,
}

pub const IBTC_ENTRIES: usize = 1 << 16;

/// Why translated code returned to the run loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitKind {
    /// A direct branch to a block not chained yet; `chain_site` is the stub to patch.
    Chain = 1,
    /// An indirect branch missed the IBTC, or a block asked for a lookup.
    Lookup = 2,
    /// An exception; `fault_*` hold it, the CPU state is at the faulting instruction.
    Fault = 3,
    /// `int n`: `exit_arg` = vector | len << 8; EIP is past the instruction.
    SoftInt = 4,
    /// A write hit a page with translated code: restart the instruction with the page open.
    Smc = 5,
    /// The poll page was closed: someone asked the vCPU to stop.
    Stopped = 6,
    /// The host's fault handler stopped translated code; `host_fault` says what happened.
    HostFault = 8,
}

/// Where the host's fault handler leaves what it saw (the hosted signal handler, or a Xen
/// fault hook) before resuming at `Routines::exit_saved`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HostFault {
    pub host_pc: u64,
    pub addr: u64,
    pub trapno: u32,
    pub err: u32,
    /// Host R14 at the fault (guest EBP during a high-byte-register swap).
    pub r14: u64,
    /// Host R11 at the fault (guest EDI during MASKMOVQ/MASKMOVDQU).
    pub r11: u64,
}

#[repr(C, align(64))]
pub struct JitContext {
    pub cpu: GuestCpu,
    /// Host RSP of the run loop's frame, restored by every exit; helpers run below it.
    pub host_rsp: u64,
    /// Top of the stack translated code runs on. Guest calls push host return frames
    /// there, so that guest `ret` becomes a host `ret` the return predictor gets right.
    pub jit_stack_top: u64,

    /// The guest's arithmetic flags in RFLAGS form, moved between host RFLAGS and here.
    pub host_flags: u64,
    pub exit_kind: u32,
    pub exit_arg: u32,
    pub chain_site: u64,
    pub fault_vector: u32,
    pub fault_error: u32,
    pub fault_cr2: u32,
    /// The x87 last-instruction pointers as the guest must see them (the host unit records
    /// host addresses): FIP, FCS | FOP << 16, FDS, in the layout of the 32-bit FNSTENV image
    /// at offsets 12, 16 and 24.
    pub fpu_ip: u32,
    pub fpu_cs_op: u32,
    pub fpu_ds: u32,
    /// FDP: the offset of the last x87 memory operand (the host unit's copy is not kept
    /// across host context switches on some CPUs).
    pub fpu_dp: u32,
    /// The host's MXCSR while translated code runs with the guest's.
    pub host_mxcsr: u32,
    /// Host address of guest linear address 0 (for the few templates that cannot use GS).
    pub mem_base: u64,
    /// Guest DF while translated code runs (a byte so that `std`/`cld` stay flag-free).
    pub df: u8,
    pub _pad: [u8; 3],
    /// Opaque pointers for helpers: the memory and descriptor source of this run.
    pub mem: *mut (),
    pub env: *mut (),
    pub host_fault: HostFault,
    pub ibtc: [IbtcEntry; IBTC_ENTRIES],
}

fn gpr(i: usize) -> i32 {
    (offset_of!(JitContext, cpu) + offset_of!(GuestCpu, gpr) + 4 * i) as i32
}

/// Field offsets used by the templates.
pub mod off {
    use super::*;
    pub fn gpr_off(i: usize) -> i32 {
        gpr(i)
    }
    pub const EIP: i32 = (offset_of!(JitContext, cpu) + offset_of!(GuestCpu, eip)) as i32;
    pub const HOST_RSP: i32 = offset_of!(JitContext, host_rsp) as i32;
    pub const JIT_STACK_TOP: i32 = offset_of!(JitContext, jit_stack_top) as i32;

    pub const HOST_FLAGS: i32 = offset_of!(JitContext, host_flags) as i32;
    pub const EXIT_KIND: i32 = offset_of!(JitContext, exit_kind) as i32;
    pub const EXIT_ARG: i32 = offset_of!(JitContext, exit_arg) as i32;
    pub const CHAIN_SITE: i32 = offset_of!(JitContext, chain_site) as i32;
    pub const FAULT_VECTOR: i32 = offset_of!(JitContext, fault_vector) as i32;
    pub const FAULT_ERROR: i32 = offset_of!(JitContext, fault_error) as i32;
    pub const FAULT_CR2: i32 = offset_of!(JitContext, fault_cr2) as i32;
    pub const DF: i32 = offset_of!(JitContext, df) as i32;
    pub const HOST_MXCSR: i32 = offset_of!(JitContext, host_mxcsr) as i32;
    pub const MEM_BASE: i32 = offset_of!(JitContext, mem_base) as i32;
    /// FXSAVE image of the guest: MXCSR and XMM0-7 live here between runs of translated code.
    pub const FX: i32 = (offset_of!(JitContext, cpu) + offset_of!(GuestCpu, fx)) as i32;
    pub const MXCSR: i32 = FX + 24;
    pub fn xmm(i: usize) -> i32 {
        FX + 160 + 16 * i as i32
    }
    pub const FPU_IP: i32 = offset_of!(JitContext, fpu_ip) as i32;
    pub const FPU_CS_OP: i32 = offset_of!(JitContext, fpu_cs_op) as i32;
    pub const FPU_DS: i32 = offset_of!(JitContext, fpu_ds) as i32;
    pub const FPU_DP: i32 = offset_of!(JitContext, fpu_dp) as i32;
    pub const IBTC: i32 = offset_of!(JitContext, ibtc) as i32;
}
