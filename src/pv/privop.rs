//! Privileged-instruction emulation for a PV32 guest, the way Xen 4.17 does it for a domU.
//!
//! The translator raises #GP(0) for every privileged instruction at CPL > 0 (frontend class
//! `Privileged`); the run loop hands that #GP to [`emulate_gp`], which mirrors
//! `pv_emulate_privileged_op` (xen/arch/x86/pv/emul-priv-op.c): its `validate()` hook lists
//! the only instructions Xen emulates, and x86_emulate's own checks decide between emulation
//! and an exception. Everything else gets the original #GP(0). [`emulate_ud`] mirrors
//! `emulate_forced_invalid_op` (pv/emul-inv-op.c): `ud2; .ascii "xen"; cpuid` only.
//!
//! The emulator sees "ring 0" whenever the guest is in kernel mode (ring 1): Xen's
//! `read_segment()` fakes a DPL of 0 for SS in guest kernel mode, so x86_emulate's
//! `mode_ring0()` is true for the PV kernel and false for ring 2/3.
//!
//! The model of the machine behind the emulation (what `read_cr0()`, `read_efer()` and the
//! vendor checks on `boot_cpu_data` see) is a 64-bit Xen on an Intel host; the guest's CPU
//! policy is the translator's own (`crate::interp::cpuid`: no DE, XSAVE, FSGSBASE, RDTSCP,
//! long mode; vendor "XdbtIA32Xlat", neither Intel nor AMD for `cp->x86_vendor` checks).

use crate::cpu::seg::{SegReg, Segment};
use crate::cpu::{GuestCpu, EAX, ECX, EDI, EDX, ESI};
use crate::exit::{Fault, Vector, PFEC_USER, PFEC_WRITE};
use crate::mmu::{Access, GuestAddr, GuestMemory};
use hypercall_abi::errno::{EFAULT, EINVAL, ENODEV, EPERM};
use iced_x86::{Code, Decoder, DecoderError, DecoderOptions, Instruction, OpKind, Register};

const EFLAGS_TF: u32 = 1 << 8;
const EFLAGS_DF: u32 = 1 << 10;
const EFLAGS_RF: u32 = 1 << 16;

/// CR0 as Xen's own `read_cr0()` returns it on x86_64 (PE MP ET NE WP AM PG); the guest sees
/// this with TS replaced by its virtual TS (emul-priv-op.c read_cr).
pub const XEN_CR0: u32 = 0x8005_0033;
const CR0_TS: u32 = 1 << 3;

pub const CR4_TSD: u32 = 1 << 2;
const CR4_DE: u32 = 1 << 3;
/// PV_CR4_GUEST_VISIBLE_MASK (asm/pv/domain.h) of Xen's `mmu_cr4_features`: PAE, MCE,
/// OSFXSR, OSXMMEXCPT are always on in a 64-bit Xen.
const CR4_VISIBLE: u32 = (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10);

/// Debug register constants (asm/debugreg.h).
pub const DR_STEP: u32 = 0x4000;
pub const DR_STATUS_RESERVED_ONE: u32 = 0xffff_0ff0;
const DR_STATUS_KEEP: u32 = 0xffff_efff; // ~DR_STATUS_RESERVED_ZERO
pub const DR_CONTROL_RESERVED_ONE: u32 = 0x400;
const DR_CONTROL_KEEP: u32 = 0xffff_27ff; // ~DR_CONTROL_RESERVED_ZERO
const DR_GENERAL_DETECT: u32 = 0x2000;
const DR7_ACTIVE_MASK: u32 = 0xff;
const DR_IO: u32 = 2;

/// MSR values a domU reads (emul-priv-op.c read_msr, msr.c guest_rdmsr).
const MSR_IA32_TSC: u32 = 0x10;
const MSR_APIC_BASE: u32 = 0x1b;
const MSR_INTEL_PLATFORM_INFO: u32 = 0xce;
const MSR_INTEL_MISC_FEATURES_ENABLES: u32 = 0x140;
const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
const MSR_IA32_CR_PAT: u32 = 0x277;
const MSR_IA32_PERF_CAPABILITIES: u32 = 0x345;
const MSR_EFER: u32 = 0xc000_0080;
const MSR_IA32_MCG_EXT_CTL: u32 = 0x4d0;
/// XEN_MSR_PAT (asm/processor.h).
pub const XEN_MSR_PAT: u64 = 0x0501_0007_0406;
/// guest_efer(): the host EFER (SCE LME LMA NXE) without LME/LMA for a 32-bit guest and
/// without SCE on an Intel host.
pub const GUEST_EFER: u64 = 1 << 11;
/// guest_misc_enable() of an Intel host's MISC_ENABLE with only FAST_STRING set: PERF_AVAIL
/// and MONITOR cleared, BTS_UNAVAIL, PEBS_UNAVAIL and XTPR_DISABLE set.
pub const GUEST_MISC_ENABLE: u64 = 1 | (1 << 11) | (1 << 12) | (1 << 23);

/// Xen's hypervisor CPUID leaves (public/arch-x86/cpuid.h).
pub const XEN_CPUID_BASE: u32 = 0x4000_0000;
const XEN_CPUID_MAX_NUM_LEAVES: u32 = 5;
const XEN_CPUID_SIGNATURE: [u32; 3] = [0x566e_6558, 0x6558_4d4d, 0x4d4d_566e];
const XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD: u32 = 1;
const XEN_VERSION: u32 = (4 << 16) | 17;
const CPUID1_ECX_HYPERVISOR: u32 = 1 << 31;

/// Per-vCPU state behind the emulation (Xen's `v->arch.pv.*`, `v->arch.dr*`) and the
/// domain's latched ports (`d->arch.pci_cf8`, `d->arch.cmos_idx`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivState {
    /// Virtual IOPL (0-3) from PHYSDEVOP_set_iopl.
    pub iopl: u8,
    /// Guest-linear address of the I/O bitmap and the number of ports it covers
    /// (PHYSDEVOP_set_iobitmap); ports at or beyond `iobmp_limit` are denied.
    pub iobmp: u32,
    pub iobmp_limit: u32,
    /// Virtual debug registers.
    pub dr: [u32; 4],
    pub dr6: u32,
    pub dr7: u32,
    /// Virtual CR4 as the guest reads it (`pv_fixup_guest_cr4`).
    pub cr4: u32,
    /// The last dword written to port 0xcf8.
    pub pci_cf8: u32,
    /// The last byte written to port 0x70.
    pub cmos_idx: u8,
}

impl Default for PrivState {
    fn default() -> Self {
        Self {
            iopl: 0,
            iobmp: 0,
            iobmp_limit: 0,
            dr: [0; 4],
            // X86_DR6_DEFAULT / X86_DR7_DEFAULT at vCPU creation.
            dr6: DR_STATUS_RESERVED_ONE,
            dr7: DR_CONTROL_RESERVED_ONE,
            // pv_vcpu_initialise: ctrlreg[4] = pv_fixup_guest_cr4(v, 0).
            cr4: fixup_guest_cr4(0),
            pci_cf8: 0,
            cmos_idx: 0,
        }
    }
}

impl PrivState {
    /// CR4.TSD as the guest set it: RDTSC at ring 2/3 must then raise #GP(0)
    /// (`pv_make_cr4` puts TSD into the real CR4).
    pub fn tsd(&self) -> bool {
        self.cr4 & CR4_TSD != 0
    }
}

/// pv_fixup_guest_cr4 (pv/domain.c): the guest may own TSD, DE, FSGSBASE, OSXSAVE where its
/// CPU policy has the feature (only TSC here, so only TSD), and sees Xen's visible bits.
fn fixup_guest_cr4(val: u32) -> u32 {
    (val & CR4_TSD) | CR4_VISIBLE
}

/// What the host provides to the emulation.
pub trait PrivEnv {
    /// MFN of the vCPU's current top-level (L3) page table: what a CR3 read reports.
    fn cr3_mfn(&self) -> u32;
    /// `do_fpu_taskswitch(ts)`: set or clear the virtual CR0.TS (CLTS, MOV to CR0).
    fn fpu_taskswitch(&mut self, ts: bool);
    /// The guest's TSC (RDTSC, RDMSR 0x10).
    fn tsc(&mut self) -> u64;
    /// TSC frequency in kHz (CPUID 0x40000003).
    fn tsc_khz(&self) -> u32;
    /// One past the highest MFN the domain can be given (CPUID 0x40000005).
    fn upper_mfn_bound(&self) -> u32;
    /// VMASST_TYPE_architectural_iopl is enabled: the kernel counts as ring 0 for IOPL.
    fn architectural_iopl(&self) -> bool;
    /// Read `size` (1, 2, 4) bytes from a port the guest may access; `None` when nothing
    /// backs the port, which reads as all ones (guest_io_read).
    fn io_read(&mut self, port: u16, size: u8) -> Option<u32>;
    /// Write to a port the guest may access; writes to unbacked ports are dropped.
    fn io_write(&mut self, port: u16, size: u8, value: u32);
}

/// What the caller does after [`emulate_gp`] / [`emulate_ud`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivOutcome {
    /// Emulated: registers and EIP are updated; resume the guest.
    Done,
    /// Deliver this exception with the CPU state as left (EIP at the instruction for a
    /// fault, after it for the single-step #DB). For #PF, `cpu.cr2` is already set.
    Fault(Fault),
    /// MOV to CR3: switch to the page directory at `mfn` (Xen's `new_guest_cr3`). EIP is
    /// not advanced: on success set `cpu.eip = next_eip` (and, if EFLAGS.TF is set, deliver
    /// #DB after setting DR_STEP in DR6); if the frame is not a valid L3 table, deliver
    /// the original #GP(0) instead, as Xen does.
    NewCr3 { mfn: u32, next_eip: u32 },
    /// Not something Xen emulates: deliver the original exception unchanged.
    NotEmulated,
}

/// Kernel mode of a PV32 vCPU is ring 1 (`guest_kernel_mode`); ring 0 never reaches here.
fn kernel(cpu: &GuestCpu) -> bool {
    cpu.cpl <= 1
}

fn pf(cpu: &mut GuestCpu, addr: u32, ec: u32) -> PrivOutcome {
    // pv_inject_event: the user bit of the error code follows the guest's mode, and the
    // virtual CR2 is set.
    let ec = (ec & !PFEC_USER) | if kernel(cpu) { 0 } else { PFEC_USER };
    cpu.cr2 = addr;
    PrivOutcome::Fault(Fault::pf(addr, ec))
}

/// Finish an emulated instruction: EIP to `next`, RF cleared, and a single-step #DB if TF
/// was set (x86_emulate complete_insn + pv_emulate_privileged_op's bpmatch handling).
fn complete(state: &mut PrivState, cpu: &mut GuestCpu, next: u32) -> PrivOutcome {
    cpu.eip = next;
    cpu.eflags &= !EFLAGS_RF;
    if cpu.eflags & EFLAGS_TF != 0 {
        state.dr6 |= DR_STEP | DR_STATUS_RESERVED_ONE;
        return PrivOutcome::Fault(Fault::new(Vector::DB));
    }
    PrivOutcome::Done
}

/// Fetch the instruction at CS:EIP and decode it. Each byte is checked against the CS limit
/// (#GP(0)) and read with the guest's permissions (#PF, error code 0 plus the user bit, at
/// the first unreadable byte: insn_fetch() reports no PFEC_insn_fetch).
fn fetch(cpu: &mut GuestCpu, mem: &dyn GuestMemory) -> Result<Instruction, PrivOutcome> {
    let cs: Segment = *cpu.seg(SegReg::Cs);
    let mut buf = [0u8; 15];
    let mut n = 0;
    let mut stop = None;
    for i in 0..15u64 {
        let off = u64::from(cpu.eip) + i;
        if off > u64::from(cs.limit) {
            stop = Some(PrivOutcome::Fault(Fault::gp(0)));
            break;
        }
        let lin = cs.base.wrapping_add(off as u32);
        let mut b = [0u8];
        if mem.read(GuestAddr(lin), &mut b, Access::Read).is_err() {
            stop = Some(pf(cpu, lin, 0));
            break;
        }
        buf[n] = b[0];
        n += 1;
    }
    let bits = if cs.big() { 32 } else { 16 };
    let mut dec = Decoder::with_ip(bits, &buf[..n], u64::from(cpu.eip), DecoderOptions::NONE);
    let insn = dec.decode();
    if insn.is_invalid() {
        return Err(match (dec.last_error(), stop) {
            (DecoderError::NoMoreBytes, Some(s)) => s,
            _ => PrivOutcome::NotEmulated,
        });
    }
    Ok(insn)
}

fn gpr_index(r: Register) -> Option<usize> {
    let k = (r as usize).checked_sub(Register::EAX as usize)?;
    (k < 8).then_some(k)
}

/// Emulate the instruction that raised #GP(0) at CS:EIP, as `pv_emulate_privileged_op`
/// would. Call only for #GP with error code 0 (do_general_protection).
pub fn emulate_gp(
    state: &mut PrivState,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    env: &mut dyn PrivEnv,
) -> PrivOutcome {
    // pv_emulate_privileged_op: CS must be a present code segment.
    let cs = *cpu.seg(SegReg::Cs);
    if !cs.present() || !cs.is_code() {
        return PrivOutcome::NotEmulated;
    }
    let insn = match fetch(cpu, mem) {
        Ok(i) => i,
        Err(o) => return o,
    };
    let next = insn.next_ip32();
    let ring0 = kernel(cpu);
    let gp = PrivOutcome::Fault(Fault::gp(0));
    match insn.code() {
        // validate(): CLI/STI only with sufficient virtual IOPL, and then they do nothing
        // (X86EMUL_DONE: "too dangerous to allow").
        Code::Cli | Code::Sti => {
            if iopl_ok(state, cpu, env) {
                complete(state, cpu, next)
            } else {
                PrivOutcome::NotEmulated
            }
        }
        Code::In_AL_imm8
        | Code::In_AX_imm8
        | Code::In_EAX_imm8
        | Code::In_AL_DX
        | Code::In_AX_DX
        | Code::In_EAX_DX
        | Code::Out_imm8_AL
        | Code::Out_imm8_AX
        | Code::Out_imm8_EAX
        | Code::Out_DX_AL
        | Code::Out_DX_AX
        | Code::Out_DX_EAX => port_io(state, cpu, mem, env, &insn, next),
        Code::Insb_m8_DX
        | Code::Insw_m16_DX
        | Code::Insd_m32_DX
        | Code::Outsb_DX_m8
        | Code::Outsw_DX_m16
        | Code::Outsd_DX_m32 => string_io(state, cpu, mem, env, &insn, next),
        Code::Clts => {
            if !ring0 {
                return gp;
            }
            env.fpu_taskswitch(false);
            complete(state, cpu, next)
        }
        // cache_op(): ignored for a domain without cache-flush permission. INVD is not in
        // validate()'s list: the #GP is delivered.
        Code::Wbinvd => {
            if !ring0 {
                return gp;
            }
            complete(state, cpu, next)
        }
        Code::Mov_r32_cr | Code::Mov_cr_r32 | Code::Mov_r32_dr | Code::Mov_dr_r32 => {
            if !ring0 {
                return gp;
            }
            mov_cr_dr(state, cpu, env, &insn, next)
        }
        Code::Rdmsr => {
            if !ring0 {
                return gp;
            }
            match read_msr(env, cpu.gpr[ECX]) {
                Some(v) => {
                    cpu.gpr[EAX] = v as u32;
                    cpu.gpr[EDX] = (v >> 32) as u32;
                    complete(state, cpu, next)
                }
                None => gp,
            }
        }
        Code::Wrmsr => {
            if !ring0 {
                return gp;
            }
            let v = (u64::from(cpu.gpr[EDX]) << 32) | u64::from(cpu.gpr[EAX]);
            if write_msr(cpu.gpr[ECX], v) {
                complete(state, cpu, next)
            } else {
                gp
            }
        }
        Code::Rdtsc => {
            if !ring0 && state.tsd() {
                return gp;
            }
            let t = env.tsc();
            cpu.gpr[EAX] = t as u32;
            cpu.gpr[EDX] = (t >> 32) as u32;
            complete(state, cpu, next)
        }
        // RDTSCP reads MSR_TSC_AUX first, which guest_rdmsr refuses (#GP) without RDTSCP or
        // RDPID in the policy.
        Code::Rdtscp => gp,
        // XSETBV: #UD unless the guest's CR4.OSXSAVE is set, which it never is here.
        Code::Xsetbv => PrivOutcome::Fault(Fault::ud()),
        Code::Cpuid => {
            // CPUID faulting cannot be enabled (MISC_FEATURES_ENABLES write refused).
            let r = pv_cpuid(env, cpu.gpr[EAX], cpu.gpr[ECX]);
            cpu.gpr[EAX] = r[0];
            cpu.gpr[crate::cpu::EBX] = r[1];
            cpu.gpr[ECX] = r[2];
            cpu.gpr[EDX] = r[3];
            complete(state, cpu, next)
        }
        // HLT, LMSW, INVLPG, INVD, L[GIL]DT, LTR, RDPMC, ...: not in validate().
        _ => PrivOutcome::NotEmulated,
    }
}

/// The forced-emulation prefix `ud2; .ascii "xen"; cpuid` (emulate_forced_invalid_op):
/// CPUID is emulated and EIP advances by 7; any other #UD is delivered as is. The bytes are
/// read at EIP as a linear address (Xen ignores the CS base here); an unreadable byte gives
/// #PF with error code 0 (plus the user bit) at the first byte not read.
pub fn emulate_ud(
    state: &mut PrivState,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    env: &mut dyn PrivEnv,
) -> PrivOutcome {
    let eip = cpu.eip;
    let read = |at: u32, buf: &mut [u8]| -> Result<(), u32> {
        for (k, b) in buf.iter_mut().enumerate() {
            let a = at.wrapping_add(k as u32);
            let mut x = [0u8];
            mem.read(GuestAddr(a), &mut x, Access::Read)
                .map_err(|_| a)?;
            *b = x[0];
        }
        Ok(())
    };
    let mut sig = [0u8; 5];
    if let Err(a) = read(eip, &mut sig) {
        return pf(cpu, a, 0);
    }
    if &sig != b"\x0f\x0bxen" {
        return PrivOutcome::NotEmulated;
    }
    let mut op = [0u8; 2];
    if let Err(a) = read(eip.wrapping_add(5), &mut op) {
        return pf(cpu, a, 0);
    }
    if op != [0x0f, 0xa2] {
        return PrivOutcome::NotEmulated;
    }
    let r = pv_cpuid(env, cpu.gpr[EAX], cpu.gpr[ECX]);
    cpu.gpr[EAX] = r[0];
    cpu.gpr[crate::cpu::EBX] = r[1];
    cpu.gpr[ECX] = r[2];
    cpu.gpr[EDX] = r[3];
    // pv_emul_instruction_done: RF cleared, single-step #DB if TF.
    complete(state, cpu, eip.wrapping_add(7))
}

/// CPUID as a PV guest sees it (guest_cpuid): the translator's policy with the hypervisor
/// bit (cpu-policy.c sets X86_FEATURE_HYPERVISOR for every guest), and Xen's leaves
/// 0x40000000-0x40000005 (traps.c cpuid_hypervisor_leaves).
pub fn pv_cpuid(env: &dyn PrivEnv, leaf: u32, sub: u32) -> [u32; 4] {
    match leaf {
        0x4000_0000..=0x4000_01ff => xen_leaves(env, leaf - XEN_CPUID_BASE, sub),
        _ => {
            let mut r = crate::interp::cpuid(leaf, sub);
            if leaf == 1 {
                r[2] |= CPUID1_ECX_HYPERVISOR;
            }
            r
        }
    }
}

fn xen_leaves(env: &dyn PrivEnv, idx: u32, sub: u32) -> [u32; 4] {
    match idx {
        0 => [
            XEN_CPUID_BASE + XEN_CPUID_MAX_NUM_LEAVES,
            XEN_CPUID_SIGNATURE[0],
            XEN_CPUID_SIGNATURE[1],
            XEN_CPUID_SIGNATURE[2],
        ],
        1 => [XEN_VERSION, 0, 0, 0],
        // One hypercall page, MSR base 0x40000000, PV feature: mmu_pt_update_preserve_ad.
        2 => [
            1,
            XEN_CPUID_BASE,
            XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD,
            0,
        ],
        3 => {
            let khz = env.tsc_khz();
            match sub {
                // No vtsc, host TSC safe, RDTSCP not offered; tsc_mode 0 (default), kHz,
                // incarnation 0.
                0 => [1 << 1, 0, khz, 0],
                1 => {
                    let (mul, shift) = time_scale(u64::from(khz) * 1000);
                    [0, 0, mul, shift as i8 as i32 as u32]
                }
                2 => [khz, 0, 0, 0],
                _ => [0; 4],
            }
        }
        // Leaf 4 is HVM-only.
        5 if sub == 0 => {
            let bound = env.upper_mfn_bound();
            let fls = 32 - bound.leading_zeros();
            [0, fls + 12, 0, 0]
        }
        _ => [0; 4],
    }
}

/// set_time_scale (xen/arch/x86/time.c): the (mul_frac, shift) turning TSC ticks into ns.
fn time_scale(ticks_per_sec: u64) -> (u32, i32) {
    const NS: u64 = 1_000_000_000;
    if ticks_per_sec == 0 {
        return (0, 0);
    }
    let mut tps64 = ticks_per_sec;
    let mut shift = 0i32;
    while tps64 > NS * 2 {
        tps64 >>= 1;
        shift -= 1;
    }
    let mut tps32 = tps64 as u32;
    while tps32 <= NS as u32 {
        tps32 <<= 1;
        shift += 1;
    }
    ((((NS) << 32) / u64::from(tps32)) as u32, shift)
}

/// iopl_ok: the kernel counts as ring 1 (ring 0 with VMASST architectural_iopl), user as 3.
fn iopl_ok(state: &PrivState, cpu: &GuestCpu, env: &dyn PrivEnv) -> bool {
    let cpl = if kernel(cpu) {
        u8::from(!env.architectural_iopl())
    } else {
        3
    };
    cpl <= state.iopl
}

/// guest_io_okay: IOPL, else the guest's I/O bitmap (a set bit denies; unreadable bitmap
/// bytes read as 0xff).
fn io_okay(
    state: &PrivState,
    cpu: &GuestCpu,
    mem: &dyn GuestMemory,
    env: &dyn PrivEnv,
    port: u32,
    bytes: u32,
) -> bool {
    if iopl_ok(state, cpu, env) {
        return true;
    }
    if port + bytes <= state.iobmp_limit {
        let at = state.iobmp.wrapping_add(port >> 3);
        let (b0, b1) = match mem.read_u8(GuestAddr(at)) {
            Ok(b0) => (
                b0,
                mem.read_u8(GuestAddr(at.wrapping_add(1))).unwrap_or(0xff),
            ),
            Err(_) => (0xff, 0xff),
        };
        let mask = u32::from(u16::from_le_bytes([b0, b1]));
        return mask & (((1u32 << bytes) - 1) << (port & 7)) == 0;
    }
    false
}

fn size_mask(bytes: u32) -> u32 {
    if bytes >= 4 {
        !0
    } else {
        (1u32 << (bytes * 8)) - 1
    }
}

/// Ports Xen handles itself for a domU instead of passing them to hardware.
fn special_port(port: u32) -> bool {
    port == 0x70 || port == 0x71 || (0xcf8..=0xcff).contains(&port)
}

/// guest_io_read for a domU (no ports granted by the administrator): the 0xcf8 latch,
/// PCI config data and the RTC data port read as all ones, port 0x70 returns the latched
/// index; anything else is the host backend's or all ones.
fn io_read(state: &PrivState, env: &mut dyn PrivEnv, port: u32, bytes: u32) -> u32 {
    if port == 0xcf8 && bytes == 4 {
        return state.pci_cf8;
    }
    if !(port..port + bytes).any(special_port) {
        return env.io_read(port as u16, bytes as u8).unwrap_or(!0) & size_mask(bytes);
    }
    let (mut data, mut shift, mut port, mut left) = (0u32, 0u32, port, bytes);
    while left != 0 {
        let mut size = 1;
        let sub = if (port & 0xfffc) == 0xcfc {
            size = left.min(4 - (port & 3));
            if size == 3 {
                size = 2;
            }
            // pci_cfg_ok() is false for a non-hardware domain.
            !0
        } else if port == 0x70 {
            u32::from(state.cmos_idx)
        } else if port == 0x71 || port == 0xcf8 {
            !0
        } else {
            env.io_read(port as u16, 1).unwrap_or(!0)
        };
        data |= (sub & size_mask(size)) << shift;
        shift += size * 8;
        port += size;
        left -= size;
    }
    data & size_mask(bytes)
}

/// guest_io_write for a domU, the counterpart of [`io_read`].
fn io_write(state: &mut PrivState, env: &mut dyn PrivEnv, port: u32, bytes: u32, val: u32) {
    if port == 0xcf8 && bytes == 4 {
        state.pci_cf8 = val;
        return;
    }
    if !(port..port + bytes).any(special_port) {
        env.io_write(port as u16, bytes as u8, val & size_mask(bytes));
        return;
    }
    let (mut data, mut port, mut left) = (val, port, bytes);
    while left != 0 {
        let mut size = 1;
        if (port & 0xfffc) == 0xcfc {
            size = left.min(4 - (port & 3));
            if size == 3 {
                size = 2;
            }
        } else if port == 0x70 {
            state.cmos_idx = data as u8;
        } else if port == 0x71 || port == 0xcf8 {
            // No RTC access for a domU; 0xcf8 latches only whole dwords.
        } else {
            env.io_write(port as u16, 1, data & 0xff);
        }
        port += size;
        left -= size;
        data = data.checked_shr(size * 8).unwrap_or(0);
    }
}

fn port_io(
    state: &mut PrivState,
    cpu: &mut GuestCpu,
    mem: &dyn GuestMemory,
    env: &mut dyn PrivEnv,
    insn: &Instruction,
    next: u32,
) -> PrivOutcome {
    let (port, bytes, is_in) = match insn.code() {
        Code::In_AL_imm8 => (u32::from(insn.immediate8()), 1, true),
        Code::In_AX_imm8 => (u32::from(insn.immediate8()), 2, true),
        Code::In_EAX_imm8 => (u32::from(insn.immediate8()), 4, true),
        Code::Out_imm8_AL => (u32::from(insn.immediate8()), 1, false),
        Code::Out_imm8_AX => (u32::from(insn.immediate8()), 2, false),
        Code::Out_imm8_EAX => (u32::from(insn.immediate8()), 4, false),
        Code::In_AL_DX => (cpu.gpr[EDX] & 0xffff, 1, true),
        Code::In_AX_DX => (cpu.gpr[EDX] & 0xffff, 2, true),
        Code::In_EAX_DX => (cpu.gpr[EDX] & 0xffff, 4, true),
        Code::Out_DX_AL => (cpu.gpr[EDX] & 0xffff, 1, false),
        Code::Out_DX_AX => (cpu.gpr[EDX] & 0xffff, 2, false),
        _ => (cpu.gpr[EDX] & 0xffff, 4, false),
    };
    // read_io/write_io: X86EMUL_UNHANDLEABLE (the original #GP) without permission.
    if !io_okay(state, cpu, mem, env, port, bytes) {
        return PrivOutcome::NotEmulated;
    }
    if is_in {
        let v = io_read(state, env, port, bytes);
        let m = size_mask(bytes);
        cpu.gpr[EAX] = (cpu.gpr[EAX] & !m) | (v & m);
    } else {
        let v = cpu.gpr[EAX];
        io_write(state, env, port, bytes, v & size_mask(bytes));
    }
    complete(state, cpu, next)
}

/// INS/OUTS with or without REP (x86_emulate + rep_ins/rep_outs).
fn string_io(
    state: &mut PrivState,
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    env: &mut dyn PrivEnv,
    insn: &Instruction,
    next: u32,
) -> PrivOutcome {
    let is_in = matches!(
        insn.code(),
        Code::Insb_m8_DX | Code::Insw_m16_DX | Code::Insd_m32_DX
    );
    let bytes: u32 = match insn.code() {
        Code::Insb_m8_DX | Code::Outsb_DX_m8 => 1,
        Code::Insw_m16_DX | Code::Outsw_DX_m16 => 2,
        _ => 4,
    };
    let mem_kind = if is_in {
        insn.op0_kind()
    } else {
        insn.op1_kind()
    };
    let addr32 = matches!(mem_kind, OpKind::MemoryESEDI | OpKind::MemorySegESI);
    let amask: u32 = if addr32 { !0 } else { 0xffff };
    let rep = insn.has_rep_prefix() || insn.has_repne_prefix();
    let port = cpu.gpr[EDX] & 0xffff;
    let count = if rep { cpu.gpr[ECX] & amask } else { 1 };
    // get_rep_prefix: a zero count completes before any permission check.
    if count == 0 {
        return complete(state, cpu, next);
    }
    if !io_okay(state, cpu, mem, env, port, bytes) {
        return PrivOutcome::NotEmulated;
    }
    let seg_reg = if is_in {
        SegReg::Es
    } else {
        match insn.memory_segment() {
            Register::ES => SegReg::Es,
            Register::CS => SegReg::Cs,
            Register::SS => SegReg::Ss,
            Register::FS => SegReg::Fs,
            Register::GS => SegReg::Gs,
            _ => SegReg::Ds,
        }
    };
    let seg = *cpu.seg(seg_reg);
    let seg_fault = if seg_reg == SegReg::Ss {
        Fault::ss(0)
    } else {
        Fault::gp(0)
    };
    if !seg.present() {
        return PrivOutcome::NotEmulated;
    }
    let s_bit = seg.attr & crate::cpu::seg::ATTR_S != 0;
    if is_in && (!s_bit || seg.is_code() || !seg.writable()) {
        return PrivOutcome::Fault(Fault::gp(0));
    }
    if !is_in && (!s_bit || (seg.is_code() && !seg.readable())) {
        return PrivOutcome::Fault(seg_fault);
    }
    let idx = if is_in { EDI } else { ESI };
    let step = if cpu.eflags & EFLAGS_DF != 0 {
        bytes.wrapping_neg()
    } else {
        bytes
    };
    let mut done = 0u32;
    let mut fault = None;
    while done < count {
        let off = cpu.gpr[idx] & amask;
        // pv_emul_virt_to_linear: the limit check of a 32-bit (or 16-bit) segment.
        if seg.limit < bytes - 1 || off > seg.limit - (bytes - 1) {
            fault = Some(PrivOutcome::Fault(seg_fault));
            break;
        }
        let lin = seg.base.wrapping_add(off);
        if is_in {
            let v = io_read(state, env, port, bytes);
            if let Err(f) = mem.write(GuestAddr(lin), &v.to_le_bytes()[..bytes as usize]) {
                fault = Some(pf(cpu, f.cr2, PFEC_WRITE));
                break;
            }
        } else {
            let mut b = [0u8; 4];
            if let Err(f) = mem.read(GuestAddr(lin), &mut b[..bytes as usize], Access::Read) {
                fault = Some(pf(cpu, f.cr2, 0));
                break;
            }
            io_write(state, env, port, bytes, u32::from_le_bytes(b));
        }
        done += 1;
        let r = cpu.gpr[idx];
        cpu.gpr[idx] = (r & !amask) | (r.wrapping_add(step) & amask);
    }
    match fault {
        Some(f) => {
            // put_rep_prefix: completed iterations are committed and the instruction
            // restarts; a non-REP instruction leaves no trace.
            if rep {
                let c = cpu.gpr[ECX];
                cpu.gpr[ECX] = (c & !amask) | (c.wrapping_sub(done) & amask);
            }
            f
        }
        None => {
            if rep {
                let c = cpu.gpr[ECX];
                cpu.gpr[ECX] = (c & !amask) | (c.wrapping_sub(done) & amask);
            }
            complete(state, cpu, next)
        }
    }
}

fn mov_cr_dr(
    state: &mut PrivState,
    cpu: &mut GuestCpu,
    env: &mut dyn PrivEnv,
    insn: &Instruction,
    next: u32,
) -> PrivOutcome {
    let to_ctl = matches!(insn.code(), Code::Mov_cr_r32 | Code::Mov_dr_r32);
    let (ctl, gpr) = if to_ctl {
        (insn.op0_register(), insn.op1_register())
    } else {
        (insn.op1_register(), insn.op0_register())
    };
    let Some(g) = gpr_index(gpr) else {
        return PrivOutcome::NotEmulated;
    };
    let is_dr = matches!(insn.code(), Code::Mov_r32_dr | Code::Mov_dr_r32);
    if is_dr {
        let n = (ctl as u32).wrapping_sub(Register::DR0 as u32);
        if to_ctl {
            // x86emul_write_dr: -ENODEV is #UD, any other refusal #GP(0).
            match set_debugreg(state, n, cpu.gpr[g]) {
                Ok(()) => {}
                Err(e) if e == -ENODEV => return PrivOutcome::Fault(Fault::ud()),
                Err(_) => return PrivOutcome::Fault(Fault::gp(0)),
            }
        } else {
            match get_debugreg(state, n) {
                Ok(v) => cpu.gpr[g] = v,
                Err(_) => return PrivOutcome::Fault(Fault::ud()),
            }
        }
        return complete(state, cpu, next);
    }
    let n = (ctl as u32).wrapping_sub(Register::CR0 as u32);
    if to_ctl {
        let v = cpu.gpr[g];
        match n {
            // write_cr: only TS may change; anything else is refused with the #GP.
            0 => {
                if (v ^ XEN_CR0) & !CR0_TS != 0 {
                    return PrivOutcome::NotEmulated;
                }
                env.fpu_taskswitch(v & CR0_TS != 0);
            }
            2 => cpu.cr2 = v,
            // compat_cr3_to_pfn; new_guest_cr3 is the caller's.
            3 => {
                return PrivOutcome::NewCr3 {
                    mfn: v.rotate_right(12),
                    next_eip: next,
                }
            }
            4 => state.cr4 = fixup_guest_cr4(v),
            _ => return PrivOutcome::NotEmulated,
        }
    } else {
        let v = match n {
            0 => (XEN_CR0 & !CR0_TS) | (cpu.cr0 & CR0_TS),
            2 => cpu.cr2,
            // compat_pfn_to_cr3.
            3 => {
                let mfn = env.cr3_mfn();
                mfn.rotate_left(12)
            }
            4 => state.cr4,
            _ => return PrivOutcome::NotEmulated,
        };
        cpu.gpr[g] = v;
    }
    complete(state, cpu, next)
}

/// Intel vPMU MSRs: with vPMU off (Xen's default) vpmu_do_msr reads 0 and drops writes.
fn intel_vpmu_msr(msr: u32) -> bool {
    matches!(msr, 0xc1..=0xc8 | 0x186..=0x189 | 0x309..=0x30b | 0x38d..=0x390)
}

/// Machine-check MSRs (vmce): read as 0 and writes accepted here (see the module report).
fn vmce_msr(msr: u32) -> bool {
    matches!(msr, 0x179..=0x17b | 0x280..=0x29f | 0x400..=0x47f)
}

/// RDMSR for a domU: `Some(value)`, or `None` for #GP(0) (guest_rdmsr + read_msr).
pub fn read_msr(env: &mut dyn PrivEnv, msr: u32) -> Option<u64> {
    Some(match msr {
        MSR_IA32_TSC => env.tsc(),
        // "Linux PV guests will attempt to read APIC_BASE": ENABLE | default base | BSP.
        MSR_APIC_BASE => 0xfee0_0000 | (1 << 11) | (1 << 8),
        MSR_EFER => GUEST_EFER,
        MSR_IA32_CR_PAT => XEN_MSR_PAT,
        // platform_info.raw: no CPUID faulting offered; MISC_FEATURES_ENABLES stays 0.
        MSR_INTEL_PLATFORM_INFO | MSR_INTEL_MISC_FEATURES_ENABLES => 0,
        MSR_IA32_MISC_ENABLE => GUEST_MISC_ENABLE,
        MSR_IA32_PERF_CAPABILITIES => 0,
        m if intel_vpmu_msr(m) || vmce_msr(m) => 0,
        // FS/GS bases need long mode; vendor MSRs need an Intel/AMD policy; the Xen range
        // (hypercall page MSR) is write-only; msr_relaxed is off: everything else faults.
        _ => return None,
    })
}

/// WRMSR for a domU: true if accepted (possibly ignored), false for #GP(0).
pub fn write_msr(msr: u32, val: u64) -> bool {
    match msr {
        // "Linux depends on being able to write back the current value."
        MSR_EFER => val == GUEST_EFER,
        // Only CPUID faulting is writable, and it is not offered.
        MSR_INTEL_MISC_FEATURES_ENABLES => val == 0,
        // Writes that differ are logged and ignored ("Domain attempted WRMSR").
        MSR_IA32_MISC_ENABLE => true,
        // MPERF/APERF, THERM_CONTROL, ENERGY_PERF_BIAS: ignored unless cpufreq controller.
        0xe7 | 0xe8 | 0x19a | 0x1b0 => true,
        MSR_IA32_MCG_EXT_CTL => false,
        m if intel_vpmu_msr(m) || vmce_msr(m) => true,
        _ => false,
    }
}

/// HYPERVISOR_set_debugreg / MOV to DRn (misc-hypercalls.c set_debugreg): `Err(-ENODEV)`
/// for a bad register (#UD from MOV), `Err(-EPERM)` for a refused value (#GP).
pub fn set_debugreg(state: &mut PrivState, reg: u32, value: u32) -> Result<(), i32> {
    let de = state.cr4 & CR4_DE != 0;
    match reg {
        // breakpoint_addr_ok: every 32-bit address is below Xen's range.
        0..=3 => state.dr[reg as usize] = value,
        4 | 6 => {
            if reg == 4 && de {
                return Err(-ENODEV);
            }
            state.dr6 = (value & DR_STATUS_KEEP) | DR_STATUS_RESERVED_ONE;
        }
        5 | 7 => {
            if reg == 5 && de {
                return Err(-ENODEV);
            }
            let value = (value & DR_CONTROL_KEEP) | DR_CONTROL_RESERVED_ONE;
            if value & DR_GENERAL_DETECT != 0 {
                return Err(-EPERM);
            }
            if value & DR7_ACTIVE_MASK != 0 {
                // I/O breakpoints need CR4.DE, which this policy never allows.
                for i in (16..32).step_by(4) {
                    if (value >> i) & 3 == DR_IO && !de {
                        return Err(-EPERM);
                    }
                }
            }
            state.dr7 = value;
        }
        _ => return Err(-ENODEV),
    }
    Ok(())
}

/// HYPERVISOR_get_debugreg / MOV from DRn (x86emul_read_dr).
pub fn get_debugreg(state: &PrivState, reg: u32) -> Result<u32, i32> {
    let de = state.cr4 & CR4_DE != 0;
    match reg {
        0..=3 => Ok(state.dr[reg as usize]),
        4 | 6 if !(reg == 4 && de) => Ok(state.dr6),
        5 | 7 if !(reg == 5 && de) => Ok(state.dr7),
        _ => Err(-ENODEV),
    }
}

/// PHYSDEVOP_set_iopl: `struct physdev_set_iopl { uint32_t iopl; }` at `arg`.
pub fn physdev_set_iopl(state: &mut PrivState, mem: &dyn GuestMemory, arg: u32) -> i32 {
    let Ok(iopl) = mem.read_u32(GuestAddr(arg)) else {
        return -EFAULT;
    };
    if iopl > 3 {
        return -EINVAL;
    }
    state.iopl = iopl as u8;
    0
}

/// PHYSDEVOP_set_iobitmap (compat layout): `{ uint32_t bitmap; uint32_t nr_ports; }`. The
/// 8 KiB bitmap must lie below HYPERVISOR_COMPAT_VIRT_START (compat_handle_okay) and cover
/// at most 65536 ports.
pub fn physdev_set_iobitmap(state: &mut PrivState, mem: &dyn GuestMemory, arg: u32) -> i32 {
    let (Ok(bitmap), Ok(nr_ports)) = (
        mem.read_u32(GuestAddr(arg)),
        mem.read_u32(GuestAddr(arg.wrapping_add(4))),
    ) else {
        return -EFAULT;
    };
    const IOBMP_BYTES: u64 = 8192;
    let end = u64::from(bitmap) + IOBMP_BYTES - 1;
    if end >= u64::from(hypercall_abi::arch_x86_32::HYPERVISOR_COMPAT_VIRT_START)
        || nr_ports > 65536
    {
        return -EINVAL;
    }
    state.iobmp = bitmap;
    state.iobmp_limit = nr_ports;
    0
}

#[cfg(test)]
mod tests;
