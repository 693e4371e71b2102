//! The helper interpreter: guest instructions that are rare or awkward to template (string
//! operations, BCD, PUSHA/POPA, PUSHF/POPF, ENTER, CPUID, segment loads, BOUND, ...) run
//! here, on the spilled guest state, with guest memory reached through `GuestMemory` so
//! that every fault is precise (SDM Vol. 2 for each instruction's operation section).

use crate::cpu::seg::{SegReg, Segment};
use crate::cpu::{Eflags, GuestCpu, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP};
use crate::engine::ctx::{ExitKind, JitContext};
use crate::engine::{sync_in, sync_out, DescriptorFn, HelperEnv};
use crate::exit::{Fault, Vector};
use crate::mmu::{Access, GuestAddr};
use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};

/// What an interpreted instruction did to control flow.
enum Flow {
    Next,
    /// Control goes elsewhere (or translations must be revisited): EIP is set.
    Jump,
}

/// CPUID as advertised: only what the translator implements (Intel-style leaves 0 and 1).
pub fn cpuid(leaf: u32, _sub: u32) -> [u32; 4] {
    const FPU: u32 = 1 << 0;
    const TSC: u32 = 1 << 4;
    const CX8: u32 = 1 << 8;
    const CMOV: u32 = 1 << 15;
    const MMX: u32 = 1 << 23;
    const FXSR: u32 = 1 << 24;
    const SSE: u32 = 1 << 25;
    const SSE2: u32 = 1 << 26;
    const ECX_SSE3: u32 = 1 << 0;
    const ECX_SSSE3: u32 = 1 << 9;
    match leaf {
        // "XdbtIA32Xlat": not a vendor whose quirks software would assume.
        0 => [1, 0x7462_6458, 0x7461_6c58, 0x3233_4149],
        // Family 6, model 0 (a generic i686).
        1 => [
            0x0000_0600,
            0,
            ECX_SSE3 | ECX_SSSE3,
            FPU | TSC | CX8 | CMOV | MMX | FXSR | SSE | SSE2,
        ],
        0x8000_0000 => [0x8000_0000, 0, 0, 0],
        _ => [0; 4],
    }
}

/// Build the segment cache for loading `sel` into `s` at the CPU's CPL (SDM Vol. 3A 5.5-5.6,
/// MOV/POP Sreg): the checks and the fault each failing one raises.
pub fn segment_for_load(
    cpu: &GuestCpu,
    s: SegReg,
    sel: u16,
    desc: DescriptorFn,
) -> Result<Segment, Fault> {
    let cpl = cpu.cpl;
    let rpl = (sel & 3) as u8;
    let err = u32::from(sel & !3);
    if sel & !3 == 0 {
        return match s {
            SegReg::Ss | SegReg::Cs => Err(Fault::gp(0)),
            _ => Ok(Segment {
                selector: sel,
                ..Segment::default()
            }),
        };
    }
    let d = desc(sel).ok_or(Fault::gp(err))?;
    let seg = Segment::from_descriptor(sel, d);
    if seg.attr & crate::cpu::seg::ATTR_S == 0 {
        return Err(Fault::gp(err));
    }
    match s {
        SegReg::Ss => {
            if rpl != cpl || !seg.writable() || seg.dpl() != cpl {
                return Err(Fault::gp(err));
            }
            if !seg.present() {
                return Err(Fault::ss(err));
            }
        }
        _ => {
            if !seg.readable() {
                return Err(Fault::gp(err));
            }
            let conforming_code = seg.is_code() && seg.attr & 0x4 != 0;
            if !conforming_code && (seg.dpl() < cpl || seg.dpl() < rpl) {
                return Err(Fault::gp(err));
            }
            if !seg.present() {
                return Err(Fault::np(err));
            }
        }
    }
    Ok(seg)
}

fn sreg_of(r: Register) -> Option<SegReg> {
    Some(match r {
        Register::ES => SegReg::Es,
        Register::CS => SegReg::Cs,
        Register::SS => SegReg::Ss,
        Register::DS => SegReg::Ds,
        Register::FS => SegReg::Fs,
        Register::GS => SegReg::Gs,
        _ => return None,
    })
}

fn reg_num(r: Register) -> Option<usize> {
    Some(match r.full_register32() {
        Register::EAX => EAX,
        Register::ECX => ECX,
        Register::EDX => EDX,
        Register::EBX => EBX,
        Register::ESP => ESP,
        Register::EBP => EBP,
        Register::ESI => ESI,
        Register::EDI => EDI,
        _ => return None,
    })
}

/// Guest register read/write by iced register (8/16/32-bit forms).
fn get_reg(cpu: &GuestCpu, r: Register) -> u32 {
    let n = reg_num(r).unwrap_or(0);
    let v = cpu.gpr[n];
    match r.size() {
        1 if matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) => {
            let n = reg_num(r).unwrap_or(0);
            (cpu.gpr[n] >> 8) & 0xff
        }
        1 => v & 0xff,
        2 => v & 0xffff,
        _ => v,
    }
}

fn set_reg(cpu: &mut GuestCpu, r: Register, val: u32) {
    let n = reg_num(r).unwrap_or(0);
    let old = cpu.gpr[n];
    cpu.gpr[n] = match r.size() {
        1 if matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) => {
            (old & !0xff00) | ((val & 0xff) << 8)
        }
        1 => (old & !0xff) | (val & 0xff),
        2 => (old & !0xffff) | (val & 0xffff),
        _ => val,
    };
}

struct Ctx<'a> {
    cpu: &'a mut GuestCpu,
    mem: &'a mut dyn crate::mmu::JitMemory,
    desc: DescriptorFn<'a>,
    flush: bool,
}

impl Ctx<'_> {
    /// Linear address of `off` in segment `s` for an access of `len` bytes, with the limit
    /// and type checks of protected mode.
    fn linear(&self, s: SegReg, off: u32, len: u32, write: bool) -> Result<u32, Fault> {
        let seg = self.cpu.seg(s);
        let fault = if s == SegReg::Ss {
            Fault::ss(0)
        } else {
            Fault::gp(0)
        };
        if seg.is_null() && s != SegReg::Cs {
            return Err(fault);
        }
        if write && !seg.writable() || !write && !seg.readable() {
            return Err(fault);
        }
        let last = u64::from(off) + u64::from(len) - 1;
        if seg.expand_down() {
            let upper: u64 = if seg.big() { 0xffff_ffff } else { 0xffff };
            if u64::from(off) <= u64::from(seg.limit) || last > upper {
                return Err(fault);
            }
        } else if seg.limit != 0xffff_ffff && last > u64::from(seg.limit) {
            return Err(fault);
        }
        Ok(seg.base.wrapping_add(off))
    }

    fn read(&self, s: SegReg, off: u32, len: u32) -> Result<u32, Fault> {
        let a = self.linear(s, off, len, false)?;
        let mut b = [0u8; 4];
        self.mem
            .read(GuestAddr(a), &mut b[..len as usize], Access::Read)?;
        Ok(u32::from_le_bytes(b))
    }

    fn write(&mut self, s: SegReg, off: u32, len: u32, v: u32) -> Result<(), Fault> {
        let a = self.linear(s, off, len, true)?;
        self.mem
            .write(GuestAddr(a), &v.to_le_bytes()[..len as usize])
    }

    fn check_write(&self, s: SegReg, off: u32, len: u32) -> Result<(), Fault> {
        let a = self.linear(s, off, len, true)?;
        let mut b = [0u8; 4];
        // Probe: the write permission check is all we need before committing.
        self.mem
            .read(GuestAddr(a), &mut b[..len as usize], Access::Read)?;
        let p = crate::mmu::JitMemory::prot_of(&*self.mem, GuestAddr(a));
        let p2 = crate::mmu::JitMemory::prot_of(&*self.mem, GuestAddr(a.wrapping_add(len - 1)));
        crate::mmu::check(p, a, Access::Write)?;
        crate::mmu::check(p2, a.wrapping_add(len - 1) & !0xfff, Access::Write)?;
        Ok(())
    }

    fn esp(&self) -> u32 {
        self.cpu.gpr[ESP]
    }

    fn push(&mut self, v: u32, len: u32) -> Result<(), Fault> {
        let sp = self.esp().wrapping_sub(len);
        self.write(SegReg::Ss, sp, len, v)?;
        self.cpu.gpr[ESP] = sp;
        Ok(())
    }

    fn pop(&mut self, len: u32) -> Result<u32, Fault> {
        let v = self.read(SegReg::Ss, self.esp(), len)?;
        self.cpu.gpr[ESP] = self.esp().wrapping_add(len);
        Ok(v)
    }

    /// Effective address (offset within the segment) of a memory operand.
    fn ea(&self, i: &Instruction) -> u32 {
        let mut a = i.memory_displacement32();
        if i.memory_base() != Register::None {
            a = a.wrapping_add(get_reg(self.cpu, i.memory_base()));
        }
        if i.memory_index() != Register::None {
            a = a.wrapping_add(
                get_reg(self.cpu, i.memory_index()).wrapping_mul(i.memory_index_scale()),
            );
        }
        if crate::backend::x64::copy::is_16bit_addressing(i) {
            a &= 0xffff;
        }
        a
    }

    fn mem_seg(i: &Instruction) -> SegReg {
        sreg_of(i.memory_segment()).unwrap_or(SegReg::Ds)
    }

    fn load_seg(&mut self, s: SegReg, sel: u16) -> Result<(), Fault> {
        let seg = segment_for_load(self.cpu, s, sel, self.desc)?;
        if *self.cpu.seg(s) != seg {
            *self.cpu.seg_mut(s) = seg;
            self.flush = true;
        }
        Ok(())
    }
}

/// LAR/LSL/VERR/VERW for `sel` at `cpl`: `Some(value)` (the access rights or limit; 0 for
/// VERR/VERW) when ZF is to be set.
fn descriptor_query(m: Mnemonic, sel: u16, cpl: u8, desc: DescriptorFn) -> Option<u32> {
    if sel & !3 == 0 && sel & 4 == 0 {
        return None; // the null selector
    }
    let d = desc(sel)?;
    let hi = (d >> 32) as u32;
    let system = hi & (1 << 12) == 0;
    let ty = (hi >> 8) & 0xf;
    let code = !system && ty & 8 != 0;
    let conforming = code && ty & 4 != 0;
    let dpl = ((hi >> 13) & 3) as u8;
    let rpl = (sel & 3) as u8;
    // Privilege: conforming code is visible from any ring; everything else needs
    // DPL >= CPL and DPL >= RPL.
    if !conforming && (dpl < cpl || dpl < rpl) {
        return None;
    }
    match m {
        Mnemonic::Lar => {
            // System types LAR accepts: TSS (1, 3, 9, 0xB), LDT (2), gates (4, 5, 0xC).
            if system && !matches!(ty, 1 | 2 | 3 | 4 | 5 | 9 | 0xb | 0xc) {
                return None;
            }
            // Bits 19:16 (the limit's top) are "undefined" in the SDM; CPUs return them.
            Some(hi & 0x00ff_ff00)
        }
        Mnemonic::Lsl => {
            if system && !matches!(ty, 1 | 2 | 3 | 9 | 0xb) {
                return None;
            }
            let raw = (d as u32 & 0xffff) | (hi & 0x000f_0000);
            Some(if hi & (1 << 23) != 0 {
                (raw << 12) | 0xfff
            } else {
                raw
            })
        }
        Mnemonic::Verr => {
            // Data segments are readable; code segments when their R bit is set.
            (!system && (!code || ty & 2 != 0)).then_some(0)
        }
        _ => (!system && !code && ty & 2 != 0).then_some(0),
    }
}

/// AMD CPUs push segment registers zero-extended; Intel's write only 16 bits.
fn host_pushes_sreg_zero_extended() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let r = core::arch::x86_64::__cpuid(0);
        r.ebx == 0x6874_7541 // "Auth" of AuthenticAMD
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn parity(v: u32) -> bool {
    (v as u8).count_ones().is_multiple_of(2)
}

/// Flags of `a - b` at operand width `bits` (CMPS/SCAS).
fn sub_flags(a: u32, b: u32, bits: u32) -> u32 {
    let mask = if bits == 32 {
        u32::MAX
    } else {
        (1 << bits) - 1
    };
    let sign = 1u32 << (bits - 1);
    let (a, b) = (a & mask, b & mask);
    let r = a.wrapping_sub(b) & mask;
    let mut f = 0;
    if a < b {
        f |= Eflags::CF.bits();
    }
    if parity(r) {
        f |= Eflags::PF.bits();
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= Eflags::AF.bits();
    }
    if r == 0 {
        f |= Eflags::ZF.bits();
    }
    if r & sign != 0 {
        f |= Eflags::SF.bits();
    }
    if (a ^ b) & (a ^ r) & sign != 0 {
        f |= Eflags::OF.bits();
    }
    f
}

fn set_arith(cpu: &mut GuestCpu, f: u32) {
    cpu.eflags = (cpu.eflags & !Eflags::ARITH.bits()) | (f & Eflags::ARITH.bits());
}

fn szp(v: u32, bits: u32) -> u32 {
    let mask = if bits == 32 {
        u32::MAX
    } else {
        (1 << bits) - 1
    };
    let r = v & mask;
    let mut f = 0;
    if r == 0 {
        f |= Eflags::ZF.bits();
    }
    if r & (1 << (bits - 1)) != 0 {
        f |= Eflags::SF.bits();
    }
    if parity(r) {
        f |= Eflags::PF.bits();
    }
    f
}

fn string_op(c: &mut Ctx, i: &Instruction) -> Result<Flow, Fault> {
    let m = i.mnemonic();
    let size: u32 = match m {
        Mnemonic::Movsb | Mnemonic::Stosb | Mnemonic::Lodsb | Mnemonic::Cmpsb | Mnemonic::Scasb => {
            1
        }
        Mnemonic::Movsw | Mnemonic::Stosw | Mnemonic::Lodsw | Mnemonic::Cmpsw | Mnemonic::Scasw => {
            2
        }
        _ => 4,
    };
    let a16 = matches!(i.op_kind(0), OpKind::MemorySegSI | OpKind::MemoryESDI)
        || matches!(
            i.op_kind(i.op_count().saturating_sub(1)),
            OpKind::MemorySegSI | OpKind::MemoryESDI
        );
    let amask: u32 = if a16 { 0xffff } else { u32::MAX };
    let rep = i.has_rep_prefix() || i.has_repne_prefix();
    let src_seg = sreg_of(i.memory_segment()).unwrap_or(SegReg::Ds);
    let step = if c.cpu.eflags & Eflags::DF.bits() != 0 {
        size.wrapping_neg()
    } else {
        size
    };
    let bits = size * 8;
    let upd = |v: u32, d: u32| (v & !amask) | (v.wrapping_add(d) & amask);
    loop {
        if rep && c.cpu.gpr[ECX] & amask == 0 {
            return Ok(Flow::Next);
        }
        let si = c.cpu.gpr[ESI] & amask;
        let di = c.cpu.gpr[EDI] & amask;
        let mut stop = false;
        match m {
            Mnemonic::Movsb | Mnemonic::Movsw | Mnemonic::Movsd => {
                let v = c.read(src_seg, si, size)?;
                c.write(SegReg::Es, di, size, v)?;
                c.cpu.gpr[ESI] = upd(c.cpu.gpr[ESI], step);
                c.cpu.gpr[EDI] = upd(c.cpu.gpr[EDI], step);
            }
            Mnemonic::Stosb | Mnemonic::Stosw | Mnemonic::Stosd => {
                let v = c.cpu.gpr[EAX];
                c.write(SegReg::Es, di, size, v)?;
                c.cpu.gpr[EDI] = upd(c.cpu.gpr[EDI], step);
            }
            Mnemonic::Lodsb | Mnemonic::Lodsw | Mnemonic::Lodsd => {
                let v = c.read(src_seg, si, size)?;
                let r = match size {
                    1 => Register::AL,
                    2 => Register::AX,
                    _ => Register::EAX,
                };
                set_reg(c.cpu, r, v);
                c.cpu.gpr[ESI] = upd(c.cpu.gpr[ESI], step);
            }
            Mnemonic::Cmpsb | Mnemonic::Cmpsw | Mnemonic::Cmpsd => {
                let a = c.read(src_seg, si, size)?;
                let b = c.read(SegReg::Es, di, size)?;
                let f = sub_flags(a, b, bits);
                set_arith(c.cpu, f);
                c.cpu.gpr[ESI] = upd(c.cpu.gpr[ESI], step);
                c.cpu.gpr[EDI] = upd(c.cpu.gpr[EDI], step);
                stop = rep_stops(i, f);
            }
            _ => {
                let b = c.read(SegReg::Es, di, size)?;
                let f = sub_flags(c.cpu.gpr[EAX], b, bits);
                set_arith(c.cpu, f);
                c.cpu.gpr[EDI] = upd(c.cpu.gpr[EDI], step);
                stop = rep_stops(i, f);
            }
        }
        if !rep {
            return Ok(Flow::Next);
        }
        c.cpu.gpr[ECX] = (c.cpu.gpr[ECX] & !amask) | (c.cpu.gpr[ECX].wrapping_sub(1) & amask);
        if stop || c.mem.has_dirty() {
            // A write to code ends the instruction's run here; EIP stays for the rest.
            if !stop && c.cpu.gpr[ECX] & amask != 0 {
                return Ok(Flow::Jump);
            }
            return Ok(Flow::Next);
        }
    }
}

fn rep_stops(i: &Instruction, f: u32) -> bool {
    let zf = f & Eflags::ZF.bits() != 0;
    (i.has_repe_prefix() && !zf) || (i.has_repne_prefix() && zf)
}

fn exec(c: &mut Ctx, i: &Instruction) -> Result<Flow, Fault> {
    use Mnemonic as M;
    let eip = i.ip32();
    let next = i.next_ip32();
    let osz16 = i.code().op_code().operand_size() == 16;
    let opsz: u32 = if osz16 { 2 } else { 4 };
    let flow = match i.mnemonic() {
        m if crate::frontend::is_string_op(m) => {
            let f = string_op(c, i)?;
            if let Flow::Jump = f {
                c.cpu.eip = eip;
                return Ok(Flow::Jump);
            }
            Flow::Next
        }
        M::Cpuid => {
            let r = cpuid(c.cpu.gpr[EAX], c.cpu.gpr[ECX]);
            c.cpu.gpr[EAX] = r[0];
            c.cpu.gpr[EBX] = r[1];
            c.cpu.gpr[ECX] = r[2];
            c.cpu.gpr[EDX] = r[3];
            Flow::Next
        }
        M::Pushad | M::Pusha => {
            let sp0 = c.esp();
            let vals = [
                c.cpu.gpr[EAX],
                c.cpu.gpr[ECX],
                c.cpu.gpr[EDX],
                c.cpu.gpr[EBX],
                sp0,
                c.cpu.gpr[EBP],
                c.cpu.gpr[ESI],
                c.cpu.gpr[EDI],
            ];
            // Check the whole frame first so a fault leaves ESP untouched.
            c.check_write(SegReg::Ss, sp0.wrapping_sub(8 * opsz), opsz)?;
            c.check_write(SegReg::Ss, sp0.wrapping_sub(opsz), opsz)?;
            for v in vals {
                c.push(v, opsz)?;
            }
            Flow::Next
        }
        M::Popad | M::Popa => {
            let sp0 = c.esp();
            let mut v = [0u32; 8];
            for (k, slot) in v.iter_mut().enumerate() {
                *slot = c.read(SegReg::Ss, sp0.wrapping_add(k as u32 * opsz), opsz)?;
            }
            let regs = if osz16 {
                [
                    Register::DI,
                    Register::SI,
                    Register::BP,
                    Register::SP,
                    Register::BX,
                    Register::DX,
                    Register::CX,
                    Register::AX,
                ]
            } else {
                [
                    Register::EDI,
                    Register::ESI,
                    Register::EBP,
                    Register::ESP,
                    Register::EBX,
                    Register::EDX,
                    Register::ECX,
                    Register::EAX,
                ]
            };
            for (k, r) in regs.iter().enumerate() {
                if k != 3 {
                    set_reg(c.cpu, *r, v[k]);
                }
            }
            c.cpu.gpr[ESP] = sp0.wrapping_add(8 * opsz);
            Flow::Next
        }
        M::Pushfd | M::Pushf => {
            // RF and VM read as 0 in the pushed image.
            let f = c.cpu.eflags & !(Eflags::RF.bits() | Eflags::VM.bits());
            c.push(f, opsz)?;
            Flow::Next
        }
        M::Popfd | M::Popf => {
            let v = c.read(SegReg::Ss, c.esp(), opsz)?;
            let mut writable = Eflags::USER_WRITABLE.bits();
            if c.cpu.cpl == 0 {
                writable |= Eflags::IF.bits() | Eflags::IOPL.bits();
            }
            // TF is not supported by the translator yet: keep it clear (see docs/STATUS.md).
            writable &= !Eflags::TF.bits();
            if osz16 {
                writable &= 0xffff;
            }
            c.cpu.eflags = (c.cpu.eflags & !writable) | (v & writable) | Eflags::FIXED1.bits();
            c.cpu.gpr[ESP] = c.esp().wrapping_add(opsz);
            Flow::Next
        }
        M::Enter => {
            let size = u32::from(i.immediate16());
            let level = u32::from(i.immediate8_2nd()) % 32;
            let sp0 = c.esp();
            let ebp = c.cpu.gpr[EBP];
            let frame = sp0.wrapping_sub(opsz);
            // Probe every write before changing state.
            c.check_write(SegReg::Ss, frame, opsz)?;
            let mut tmp_sp = frame;
            let mut tmp_bp = ebp;
            let mut pushes = alloc::vec::Vec::new();
            if level > 0 {
                for _ in 1..level {
                    tmp_bp = tmp_bp.wrapping_sub(opsz);
                    let v = c.read(SegReg::Ss, tmp_bp, opsz)?;
                    tmp_sp = tmp_sp.wrapping_sub(opsz);
                    c.check_write(SegReg::Ss, tmp_sp, opsz)?;
                    pushes.push((tmp_sp, v));
                }
                tmp_sp = tmp_sp.wrapping_sub(opsz);
                c.check_write(SegReg::Ss, tmp_sp, opsz)?;
                pushes.push((tmp_sp, frame));
            }
            c.write(SegReg::Ss, frame, opsz, ebp)?;
            for (a, v) in pushes {
                c.write(SegReg::Ss, a, opsz, v)?;
            }
            if osz16 {
                set_reg(c.cpu, Register::BP, frame);
                c.cpu.gpr[ESP] = tmp_sp.wrapping_sub(size);
            } else {
                c.cpu.gpr[EBP] = frame;
                c.cpu.gpr[ESP] = tmp_sp.wrapping_sub(size);
            }
            Flow::Next
        }
        M::Leave => {
            // The stack address size (SS.B = 1 here) picks ESP/EBP, the operand size only
            // what is popped into BP or EBP.
            let bp = c.cpu.gpr[EBP];
            let v = c.read(SegReg::Ss, bp, opsz)?;
            c.cpu.gpr[ESP] = bp.wrapping_add(opsz);
            if osz16 {
                set_reg(c.cpu, Register::BP, v);
            } else {
                c.cpu.gpr[EBP] = v;
            }
            Flow::Next
        }
        M::Aaa | M::Aas => {
            let al = c.cpu.gpr[EAX] & 0xff;
            let af = c.cpu.eflags & Eflags::AF.bits() != 0;
            let mut ax = c.cpu.gpr[EAX] & 0xffff;
            let adj = (al & 0xf) > 9 || af;
            if adj {
                if i.mnemonic() == M::Aaa {
                    ax = ax.wrapping_add(0x106) & 0xffff;
                } else {
                    // AX := AX - 6 (the borrow may reach AH); AH := AH - 1.
                    let t = ax.wrapping_sub(6) & 0xffff;
                    ax = (t & 0xff) | ((((t >> 8).wrapping_sub(1)) & 0xff) << 8);
                }
            }
            ax = (ax & 0xff00) | (ax & 0x0f);
            set_reg(c.cpu, Register::AX, ax);
            let mut f = szp(ax & 0xff, 8);
            if adj {
                f |= Eflags::AF.bits() | Eflags::CF.bits();
            }
            set_arith(c.cpu, f);
            Flow::Next
        }
        M::Daa | M::Das => {
            let old_al = c.cpu.gpr[EAX] & 0xff;
            let old_cf = c.cpu.eflags & Eflags::CF.bits() != 0;
            let af = c.cpu.eflags & Eflags::AF.bits() != 0;
            let mut al = old_al;
            let mut f = 0;
            let daa = i.mnemonic() == M::Daa;
            if (al & 0xf) > 9 || af {
                // CF also takes the carry/borrow out of this first adjustment.
                let (v, c) = if daa {
                    (al + 6, al + 6 > 0xff)
                } else {
                    (al.wrapping_sub(6), al < 6)
                };
                al = v & 0xff;
                if c {
                    f |= Eflags::CF.bits();
                }
                f |= Eflags::AF.bits();
            }
            if old_al > 0x99 || old_cf {
                al = if daa {
                    al.wrapping_add(0x60)
                } else {
                    al.wrapping_sub(0x60)
                } & 0xff;
                f |= Eflags::CF.bits();
            }
            set_reg(c.cpu, Register::AL, al);
            f |= szp(al, 8);
            set_arith(c.cpu, f);
            Flow::Next
        }
        M::Aam => {
            let base = u32::from(i.immediate8());
            if base == 0 {
                return Err(Fault::new(Vector::DE));
            }
            let al = c.cpu.gpr[EAX] & 0xff;
            let ax = ((al / base) << 8) | (al % base);
            set_reg(c.cpu, Register::AX, ax);
            set_arith(c.cpu, szp(ax & 0xff, 8));
            Flow::Next
        }
        M::Aad => {
            let base = u32::from(i.immediate8());
            let ax = c.cpu.gpr[EAX];
            let al = ((ax & 0xff) + ((ax >> 8) & 0xff) * base) & 0xff;
            set_reg(c.cpu, Register::AX, al);
            set_arith(c.cpu, szp(al, 8));
            Flow::Next
        }
        M::Xlatb => {
            let base = if crate::backend::x64::copy::is_16bit_addressing(i) {
                c.cpu.gpr[EBX] & 0xffff
            } else {
                c.cpu.gpr[EBX]
            };
            let mut off = base.wrapping_add(c.cpu.gpr[EAX] & 0xff);
            if crate::backend::x64::copy::is_16bit_addressing(i) {
                off &= 0xffff;
            }
            let v = c.read(Ctx::mem_seg(i), off, 1)?;
            set_reg(c.cpu, Register::AL, v);
            Flow::Next
        }
        M::Salc => {
            let v = if c.cpu.eflags & Eflags::CF.bits() != 0 {
                0xff
            } else {
                0
            };
            set_reg(c.cpu, Register::AL, v);
            Flow::Next
        }
        M::Bound => {
            let idx = get_reg(c.cpu, i.op0_register()) as i32;
            let s = Ctx::mem_seg(i);
            let ea = c.ea(i);
            let (lo, hi) = if osz16 {
                (
                    c.read(s, ea, 2)? as u16 as i16 as i32,
                    c.read(s, ea.wrapping_add(2), 2)? as u16 as i16 as i32,
                )
            } else {
                (
                    c.read(s, ea, 4)? as i32,
                    c.read(s, ea.wrapping_add(4), 4)? as i32,
                )
            };
            let idx = if osz16 { idx as u16 as i16 as i32 } else { idx };
            if idx < lo || idx > hi {
                return Err(Fault::new(Vector::BR));
            }
            Flow::Next
        }
        M::Arpl => {
            let src = get_reg(c.cpu, i.op1_register()) & 3;
            let (dst, is_mem) = if i.op0_kind() == OpKind::Memory {
                (c.read(Ctx::mem_seg(i), c.ea(i), 2)?, true)
            } else {
                (get_reg(c.cpu, i.op0_register()), false)
            };
            let mut f = c.cpu.eflags & !Eflags::ZF.bits();
            if dst & 3 < src {
                let nv = (dst & !3) | src;
                if is_mem {
                    let ea = c.ea(i);
                    c.write(Ctx::mem_seg(i), ea, 2, nv)?;
                } else {
                    set_reg(c.cpu, i.op0_register(), nv);
                }
                f |= Eflags::ZF.bits();
            }
            c.cpu.eflags = f;
            Flow::Next
        }
        M::Lar | M::Lsl | M::Verr | M::Verw => {
            // Descriptor queries (SDM Vol. 2: LAR, LSL, VERR/VERW): ZF says whether the
            // selector names a descriptor of a suitable type visible at CPL and RPL; only
            // LAR and LSL write their destination, and only on success.
            let src = if i.mnemonic() == M::Verr || i.mnemonic() == M::Verw {
                0
            } else {
                1
            };
            let sel = if i.op_kind(src) == OpKind::Memory {
                c.read(Ctx::mem_seg(i), c.ea(i), 2)? as u16
            } else {
                get_reg(c.cpu, i.op_register(src)) as u16
            };
            let answer = descriptor_query(i.mnemonic(), sel, c.cpu.cpl, c.desc);
            let mut f = c.cpu.eflags & !Eflags::ZF.bits();
            if let Some(v) = answer {
                f |= Eflags::ZF.bits();
                if src == 1 {
                    let r = i.op0_register();
                    let v = if r.size() == 2 {
                        (get_reg(c.cpu, r) & !0xffff) | (v & 0xffff)
                    } else {
                        v
                    };
                    set_reg(c.cpu, r, v);
                }
            }
            c.cpu.eflags = f;
            Flow::Next
        }
        M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => {
            let s = match i.mnemonic() {
                M::Lds => SegReg::Ds,
                M::Les => SegReg::Es,
                M::Lfs => SegReg::Fs,
                M::Lgs => SegReg::Gs,
                _ => SegReg::Ss,
            };
            let ms = Ctx::mem_seg(i);
            let ea = c.ea(i);
            let offv = c.read(ms, ea, opsz)?;
            let sel = c.read(ms, ea.wrapping_add(opsz), 2)? as u16;
            c.load_seg(s, sel)?;
            set_reg(c.cpu, i.op0_register(), offv);
            c.cpu.eip = next;
            return Ok(Flow::Jump);
        }
        M::Push => {
            let s = sreg_of(i.op0_register()).ok_or(Fault::ud())?;
            let sel = u32::from(c.cpu.seg(s).selector);
            // The SDM allows either a 16-bit store into the slot (Intel) or a zero-extended
            // full-width push (AMD); do what the host CPU, our oracle, does.
            let sp = c.esp().wrapping_sub(opsz);
            c.check_write(SegReg::Ss, sp, opsz)?;
            let width = if host_pushes_sreg_zero_extended() {
                opsz
            } else {
                2
            };
            c.write(SegReg::Ss, sp, width, sel)?;
            c.cpu.gpr[ESP] = sp;
            Flow::Next
        }
        M::Pop => {
            let s = sreg_of(i.op0_register()).ok_or(Fault::ud())?;
            let sel = c.read(SegReg::Ss, c.esp(), opsz)? as u16;
            c.load_seg(s, sel)?;
            c.cpu.gpr[ESP] = c.esp().wrapping_add(opsz);
            c.cpu.eip = next;
            return Ok(Flow::Jump);
        }
        M::Mov => match i.code() {
            Code::Mov_Sreg_rm16 | Code::Mov_Sreg_r32m16 => {
                let s = sreg_of(i.op0_register()).ok_or(Fault::ud())?;
                if s == SegReg::Cs {
                    return Err(Fault::ud());
                }
                let sel = if i.op1_kind() == OpKind::Register {
                    get_reg(c.cpu, i.op1_register()) as u16
                } else {
                    c.read(Ctx::mem_seg(i), c.ea(i), 2)? as u16
                };
                c.load_seg(s, sel)?;
                c.cpu.eip = next;
                return Ok(Flow::Jump);
            }
            Code::Mov_rm16_Sreg | Code::Mov_r32m16_Sreg => {
                let s = sreg_of(i.op1_register()).ok_or(Fault::ud())?;
                let sel = u32::from(c.cpu.seg(s).selector);
                if i.op0_kind() == OpKind::Register {
                    // A 32-bit register destination gets the selector zero-extended.
                    let r = i.op0_register();
                    set_reg(c.cpu, r, sel);
                } else {
                    let ea = c.ea(i);
                    c.write(Ctx::mem_seg(i), ea, 2, sel)?;
                }
                Flow::Next
            }
            _ => return Err(Fault::ud()),
        },
        M::Call | M::Jmp | M::Ret | M::Loop | M::Loope | M::Loopne | M::Jcxz | M::Jecxz => {
            return control16(c, i);
        }
        _ => return Err(Fault::ud()),
    };
    Ok(flow)
}

/// Near control transfers the templates leave out: 16-bit operand or address size forms.
fn control16(c: &mut Ctx, i: &Instruction) -> Result<Flow, Fault> {
    use Mnemonic as M;
    let osz16 = i.code().op_code().operand_size() == 16;
    let opsz: u32 = if osz16 { 2 } else { 4 };
    let ipmask: u32 = if osz16 { 0xffff } else { u32::MAX };
    let next = i.next_ip32();
    let target = match i.mnemonic() {
        M::Call | M::Jmp => {
            let t = match i.op0_kind() {
                OpKind::NearBranch16 | OpKind::NearBranch32 => i.near_branch32(),
                OpKind::Register => get_reg(c.cpu, i.op0_register()),
                OpKind::Memory => c.read(Ctx::mem_seg(i), c.ea(i), opsz)?,
                _ => return Err(Fault::ud()),
            } & ipmask;
            if i.mnemonic() == M::Call {
                c.push(next, opsz)?;
            }
            t
        }
        M::Ret => {
            let t = c.pop(opsz)? & ipmask;
            if i.op_count() > 0 {
                c.cpu.gpr[ESP] = c.esp().wrapping_add(u32::from(i.immediate16()));
            }
            t
        }
        _ => {
            // LOOPcc / JCXZ with CX (address size 16) or ECX.
            let a16 = matches!(
                i.code(),
                Code::Jcxz_rel8_16
                    | Code::Jcxz_rel8_32
                    | Code::Loop_rel8_16_CX
                    | Code::Loop_rel8_32_CX
                    | Code::Loope_rel8_16_CX
                    | Code::Loope_rel8_32_CX
                    | Code::Loopne_rel8_16_CX
                    | Code::Loopne_rel8_32_CX
            );
            let cmask: u32 = if a16 { 0xffff } else { u32::MAX };
            let zf = c.cpu.eflags & Eflags::ZF.bits() != 0;
            let taken = if matches!(i.mnemonic(), M::Jcxz | M::Jecxz) {
                c.cpu.gpr[ECX] & cmask == 0
            } else {
                let cx = c.cpu.gpr[ECX].wrapping_sub(1) & cmask;
                c.cpu.gpr[ECX] = (c.cpu.gpr[ECX] & !cmask) | cx;
                cx != 0
                    && match i.mnemonic() {
                        M::Loope => zf,
                        M::Loopne => !zf,
                        _ => true,
                    }
            };
            if taken {
                i.near_branch32() & ipmask
            } else {
                next
            }
        }
    };
    c.cpu.eip = target;
    Ok(Flow::Jump)
}

/// Leave translated code with `f` raised at `insn` (the helpers' fault exit).
fn raise(ctx: &mut JitContext, insn: &Instruction, f: Fault) -> u32 {
    ctx.cpu.eip = insn.ip32();
    ctx.fault_vector = f.vector as u32;
    ctx.fault_error = f.error_code;
    ctx.fault_cr2 = f.cr2;
    ctx.exit_kind = ExitKind::Fault as u32;
    1
}

/// Called from translated code with the guest state spilled to `ctx.cpu` and EIP at the
/// instruction. Returns 0 to continue in the block, non-zero to leave it (exit kind set).
///
/// # Safety
/// `ctx` is the live context of the running vCPU, with `env` pointing at the run loop's
/// `HelperEnv` for the duration of the call; `insn` points at an instruction kept alive by
/// the code cache.
pub unsafe extern "C" fn interp_helper(ctx: *mut JitContext, insn: *const Instruction) -> u32 {
    // SAFETY: per the contract, both pointers are valid and not aliased during the call
    // (translated code is suspended in the call instruction).
    let (ctx, insn) = unsafe { (&mut *ctx, &*insn) };
    // SAFETY: the run loop stored a pointer to its `&mut HelperEnv` in `env` before entering
    // translated code and clears it after; this helper only runs in between.
    let env: &mut HelperEnv = unsafe { &mut **ctx.env.cast::<&mut HelperEnv>() };
    sync_out(ctx);
    let mut c = Ctx {
        cpu: &mut ctx.cpu,
        mem: &mut *env.mem,
        desc: env.desc,
        flush: false,
    };
    let r = exec(&mut c, insn);
    let flush = c.flush;
    let dirty = c.mem.has_dirty();
    if flush {
        env.flush = true;
    }
    sync_in(ctx);
    match r {
        Ok(Flow::Next) if !flush && !dirty => 0,
        Ok(Flow::Next) => {
            ctx.cpu.eip = insn.next_ip32();
            ctx.exit_kind = ExitKind::Lookup as u32;
            1
        }
        Ok(Flow::Jump) => {
            ctx.exit_kind = ExitKind::Lookup as u32;
            1
        }
        Err(f) => raise(ctx, insn, f),
    }
}

/// After a copied FNSTENV/FNSAVE: put the guest's x87 last-instruction pointers into the
/// saved image (the host unit stored host addresses). After FLDENV/FRSTOR: take them from
/// the loaded image. Image layouts: SDM Vol. 1, figures 8-9 to 8-12.
///
/// # Safety
/// As for `interp_helper`.
pub unsafe extern "C" fn x87_env_helper(ctx: *mut JitContext, insn: *const Instruction) -> u32 {
    // SAFETY: as in `interp_helper`: valid, unaliased pointers for the call's duration.
    let (ctx, insn) = unsafe { (&mut *ctx, &*insn) };
    // SAFETY: as in `interp_helper`.
    let env: &mut HelperEnv = unsafe { &mut **ctx.env.cast::<&mut HelperEnv>() };
    let (ip, cs_op, dp, ds) = (ctx.fpu_ip, ctx.fpu_cs_op, ctx.fpu_dp, ctx.fpu_ds);
    let mut c = Ctx {
        cpu: &mut ctx.cpu,
        mem: &mut *env.mem,
        desc: env.desc,
        flush: false,
    };
    let s = Ctx::mem_seg(insn);
    let ea = c.ea(insn);
    let wide = insn.code().op_code().operand_size() != 16;
    let m = insn.mnemonic();
    let store = matches!(m, Mnemonic::Fnstenv | Mnemonic::Fnsave);
    // (offset, width) of FIP, FCS|FOP, FDP, FDS in the image (SDM Vol. 1 figures 8-9 to
    // 8-12, and FXSAVE's table 10-2 for FXRSTOR, where FOP and FCS are apart).
    let fxr = m == Mnemonic::Fxrstor;
    let lay: [(u32, u32); 4] = if fxr {
        [(8, 4), (12, 2), (16, 4), (20, 2)]
    } else if wide {
        [(12, 4), (16, 4), (20, 4), (24, 4)]
    } else {
        [(6, 2), (8, 2), (10, 2), (12, 2)]
    };
    // The 32-bit image's FDS slot has its reserved upper half set, as FNSTENV writes it.
    let fds = if wide {
        0xffff_0000 | (ds & 0xffff)
    } else {
        ds & 0xffff
    };
    let vals = [ip, cs_op & 0x07ff_ffff, dp, fds];
    let mut loaded = [0u32; 4];
    let mut r: Result<(), Fault> = Ok(());
    for (k, &(o, w)) in lay.iter().enumerate() {
        let a = ea.wrapping_add(o);
        let step = if store {
            c.write(s, a, w, vals[k])
        } else {
            c.read(s, a, w).map(|v| loaded[k] = v)
        };
        if let Err(f) = step {
            r = Err(f);
            break;
        }
    }
    if fxr && r.is_ok() {
        match c.read(s, ea.wrapping_add(6), 2) {
            Ok(fop) => loaded[1] = (loaded[1] & 0xffff) | ((fop & 0x7ff) << 16),
            Err(f) => r = Err(f),
        }
    }
    if r.is_ok() && m == Mnemonic::Fnsave {
        // FNSAVE ends with an FNINIT.
        (ctx.fpu_ip, ctx.fpu_cs_op, ctx.fpu_dp, ctx.fpu_ds) = (0, 0, 0, 0);
    }
    if r.is_ok() && !store {
        ctx.fpu_ip = loaded[0];
        ctx.fpu_cs_op = loaded[1] & 0x07ff_ffff;
        ctx.fpu_dp = loaded[2];
        ctx.fpu_ds = loaded[3] & 0xffff;
    }
    match r {
        Ok(()) => 0,
        Err(f) => raise(ctx, insn, f),
    }
}

/// Where RDTSC reads the time stamp counter when the host is not the guest's own view of it:
/// a function set once by the host (inside Xen: the domain's virtual TSC when Xen emulates
/// one, as a native PV guest's trapping RDTSC would read it). 0: RDTSC runs natively.
static SOFT_TSC: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Make translated RDTSC call `f` instead of running natively (from then on; translations
/// made before keep the native instruction).
pub fn set_soft_tsc(f: fn() -> u64) {
    SOFT_TSC.store(f as usize, core::sync::atomic::Ordering::SeqCst);
}

/// Whether RDTSC is translated into a call of the host's TSC function.
pub fn soft_tsc() -> bool {
    SOFT_TSC.load(core::sync::atomic::Ordering::SeqCst) != 0
}

/// RDTSC through the host's TSC function (`set_soft_tsc`).
///
/// # Safety
/// As for `interp_helper`.
pub unsafe extern "C" fn rdtsc_helper(ctx: *mut JitContext, _insn: *const Instruction) -> u32 {
    // SAFETY: as in `interp_helper`: valid, unaliased for the call's duration.
    let ctx = unsafe { &mut *ctx };
    let f = SOFT_TSC.load(core::sync::atomic::Ordering::SeqCst);
    let t = if f == 0 {
        // SAFETY: RDTSC has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    } else {
        // SAFETY: only `set_soft_tsc` stores here, always a `fn() -> u64`.
        let f: fn() -> u64 = unsafe { core::mem::transmute::<usize, fn() -> u64>(f) };
        f()
    };
    ctx.cpu.gpr[crate::cpu::EAX] = t as u32;
    ctx.cpu.gpr[crate::cpu::EDX] = (t >> 32) as u32;
    0
}

/// Guest FXSAVE: see `backend::x64::guest_fxsave_image`. #GP(0) on a misaligned operand,
/// #PF if any of the 512 bytes cannot be written; 288 bytes are stored.
///
/// # Safety
/// As for `interp_helper`.
pub unsafe extern "C" fn fxsave_helper(ctx: *mut JitContext, insn: *const Instruction) -> u32 {
    // SAFETY: as in `interp_helper`: valid, unaliased pointers for the call's duration.
    let (ctx, insn) = unsafe { (&mut *ctx, &*insn) };
    // SAFETY: as in `interp_helper`.
    let env: &mut HelperEnv = unsafe { &mut **ctx.env.cast::<&mut HelperEnv>() };
    let img = crate::backend::x64::guest_fxsave_image(
        &ctx.cpu.fx,
        [ctx.fpu_ip, ctx.fpu_cs_op, ctx.fpu_dp, ctx.fpu_ds],
    );
    let c = Ctx {
        cpu: &mut ctx.cpu,
        mem: &mut *env.mem,
        desc: env.desc,
        flush: false,
    };
    let s = Ctx::mem_seg(insn);
    let ea = c.ea(insn);
    let r = (|| -> Result<(), Fault> {
        let a = c.linear(s, ea, 512, true)?;
        if a % 16 != 0 {
            return Err(Fault::gp(0));
        }
        // The CPU checks the last byte first (its #PF reports that address).
        for probe in [a.wrapping_add(511), a] {
            let p = crate::mmu::JitMemory::prot_of(&*c.mem, GuestAddr(probe));
            crate::mmu::check(p, probe, Access::Write)?;
        }
        c.mem.write(GuestAddr(a), &img)
    })();
    let dirty = c.mem.has_dirty();
    match r {
        Ok(()) if !dirty => 0,
        Ok(()) => {
            ctx.cpu.eip = insn.next_ip32();
            ctx.exit_kind = ExitKind::Lookup as u32;
            1
        }
        Err(f) => raise(ctx, insn, f),
    }
}
