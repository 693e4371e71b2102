//! Far control transfers that a PV kernel executes natively on Xen, in ring 1: `iret`,
//! far `jmp`/`call` and far `ret` (SDM Vol. 2: IRET, JMP, CALL, RET; protected mode, no
//! gates, no task switches). The translator raises #UD for them; the PV layer runs them here
//! with the architectural checks, so a kernel returning to user mode with `iret` (or
//! reloading CS with `ljmp` after set_gdt) behaves as on hardware.
//!
//! Xen runs PV guests with IOPL 0, so an `iret` at ring 1 never changes IF or IOPL: the
//! guest's event mask is untouched (that is what HYPERVISOR_iret is for). Call gates and
//! task gates are not supported: they raise #GP(selector) as a descriptor of the wrong type
//! would.

use crate::cpu::seg::{SegReg, Segment, ATTR_CODE, ATTR_PRESENT, ATTR_S};
use crate::cpu::{GuestCpu, ESP};
use crate::exit::Fault;
use crate::mmu::{Access, GuestAddr, GuestMemory};
use iced_x86::{Code, Decoder, DecoderOptions, OpKind};

/// EFLAGS bits `iret` may change at CPL > 0 with IOPL < CPL: CF PF AF ZF SF TF DF OF NT RF AC
/// ID (IF, IOPL and VM keep their values).
const IRET_MASK: u32 = 0x0025_4dd5;

fn gp(sel: u16) -> Fault {
    Fault::gp(u32::from(sel & !3))
}

fn np(sel: u16) -> Fault {
    Fault::np(u32::from(sel & !3))
}

/// The code segment for a far transfer to `sel` landing at privilege `rpl`.
fn code_segment(
    sel: u16,
    cpl: u8,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Result<Segment, Fault> {
    if sel & !3 == 0 {
        return Err(gp(0));
    }
    let s = selectors(sel).ok_or(gp(sel))?;
    let rpl = (sel & 3) as u8;
    let dpl = s.dpl();
    let conforming = s.attr & 0x4 != 0;
    if s.attr & ATTR_S == 0 || s.attr & ATTR_CODE == 0 || rpl < cpl {
        return Err(gp(sel));
    }
    if (conforming && dpl > rpl) || (!conforming && dpl != rpl) {
        return Err(gp(sel));
    }
    if s.attr & ATTR_PRESENT == 0 {
        return Err(np(sel));
    }
    Ok(s)
}

fn stack_segment(
    sel: u16,
    rpl: u8,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Result<Segment, Fault> {
    let s = selectors(sel).ok_or(gp(sel))?;
    let writable_data = s.attr & ATTR_S != 0 && s.attr & ATTR_CODE == 0 && s.attr & 0x2 != 0;
    if sel & !3 == 0 || (sel & 3) as u8 != rpl || s.dpl() != rpl || !writable_data {
        return Err(gp(sel));
    }
    if s.attr & ATTR_PRESENT == 0 {
        return Err(Fault::ss(u32::from(sel & !3)));
    }
    Ok(s)
}

struct Stack<'a> {
    mem: &'a mut dyn GuestMemory,
    base: u32,
    sp: u32,
    size: u32,
}

impl Stack<'_> {
    fn pop(&mut self) -> Result<u32, Fault> {
        let a = GuestAddr(self.base.wrapping_add(self.sp));
        let v = if self.size == 4 {
            self.mem.read_u32(a)?
        } else {
            let mut b = [0u8; 2];
            self.mem.read(a, &mut b, Access::Read)?;
            u32::from(u16::from_le_bytes(b))
        };
        self.sp = self.sp.wrapping_add(self.size);
        Ok(v)
    }

    fn push(&mut self, v: u32) -> Result<(), Fault> {
        self.sp = self.sp.wrapping_sub(self.size);
        let a = GuestAddr(self.base.wrapping_add(self.sp));
        if self.size == 4 {
            self.mem.write_u32(a, v)
        } else {
            self.mem.write(a, &(v as u16).to_le_bytes())
        }
    }
}

/// Outcome of `emulate`: the instruction ran (the segment registers may have changed, so
/// translations that baked them in must go), or it raised a fault.
pub type FarResult = Result<(), Fault>;

/// If the instruction at CS:EIP is a far transfer, run it. `None`: not one of ours.
pub fn emulate(
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    selectors: &dyn Fn(u16) -> Option<Segment>,
) -> Option<FarResult> {
    let cs_base = cpu.seg(SegReg::Cs).base;
    let mut bytes = [0u8; 15];
    let mut n = 0;
    while n < bytes.len() {
        let a = GuestAddr(cs_base.wrapping_add(cpu.eip).wrapping_add(n as u32));
        if mem.read(a, &mut bytes[n..n + 1], Access::Fetch).is_err() {
            break;
        }
        n += 1;
    }
    let insn = Decoder::with_ip(32, &bytes[..n], u64::from(cpu.eip), DecoderOptions::NONE).decode();
    if insn.is_invalid() {
        return None;
    }
    let next = cpu.eip.wrapping_add(insn.len() as u32);
    let r = match insn.code() {
        Code::Iretd => far_return(cpu, mem, selectors, 4, 0, true),
        Code::Iretw => far_return(cpu, mem, selectors, 2, 0, true),
        Code::Retfd | Code::Retfd_imm16 => {
            far_return(cpu, mem, selectors, 4, insn.immediate16(), false)
        }
        Code::Retfw | Code::Retfw_imm16 => {
            far_return(cpu, mem, selectors, 2, insn.immediate16(), false)
        }
        Code::Jmp_ptr1632 | Code::Jmp_ptr1616 => far_jump(
            cpu,
            mem,
            selectors,
            insn.far_branch_selector(),
            insn.far_branch32(),
            None,
        ),
        Code::Call_ptr1632 | Code::Call_ptr1616 => {
            let size = if insn.code() == Code::Call_ptr1632 {
                4
            } else {
                2
            };
            far_jump(
                cpu,
                mem,
                selectors,
                insn.far_branch_selector(),
                insn.far_branch32(),
                Some((size, next)),
            )
        }
        Code::Jmp_m1632 | Code::Jmp_m1616 | Code::Call_m1632 | Code::Call_m1616 => {
            if insn.op0_kind() != OpKind::Memory {
                return None;
            }
            let wide = matches!(insn.code(), Code::Jmp_m1632 | Code::Call_m1632);
            let ea = match effective_address(cpu, &insn) {
                Some(a) => a,
                None => return Some(Err(gp(0))),
            };
            let r = (|| {
                let off = if wide {
                    mem.read_u32(GuestAddr(ea))?
                } else {
                    let mut b = [0u8; 2];
                    mem.read(GuestAddr(ea), &mut b, Access::Read)?;
                    u32::from(u16::from_le_bytes(b))
                };
                let mut b = [0u8; 2];
                let at = ea.wrapping_add(if wide { 4 } else { 2 });
                mem.read(GuestAddr(at), &mut b, Access::Read)?;
                Ok::<_, Fault>((u16::from_le_bytes(b), off))
            })();
            match r {
                Ok((sel, off)) => {
                    let call = matches!(insn.code(), Code::Call_m1632 | Code::Call_m1616)
                        .then_some((if wide { 4 } else { 2 }, next));
                    far_jump(cpu, mem, selectors, sel, off, call)
                }
                Err(f) => Err(f),
            }
        }
        _ => return None,
    };
    Some(r)
}

/// The linear address of a memory operand (segment base included).
fn effective_address(cpu: &GuestCpu, insn: &iced_x86::Instruction) -> Option<u32> {
    use iced_x86::Register as R;
    let reg = |r: R| -> Option<u32> {
        Some(match r {
            R::None => 0,
            R::EAX => cpu.gpr[0],
            R::ECX => cpu.gpr[1],
            R::EDX => cpu.gpr[2],
            R::EBX => cpu.gpr[3],
            R::ESP => cpu.gpr[4],
            R::EBP => cpu.gpr[5],
            R::ESI => cpu.gpr[6],
            R::EDI => cpu.gpr[7],
            _ => return None,
        })
    };
    let base = reg(insn.memory_base())?;
    let index = reg(insn.memory_index())?;
    let off = base
        .wrapping_add(index.wrapping_mul(insn.memory_index_scale()))
        .wrapping_add(insn.memory_displacement32());
    let seg = match insn.memory_segment() {
        R::ES => SegReg::Es,
        R::CS => SegReg::Cs,
        R::SS => SegReg::Ss,
        R::FS => SegReg::Fs,
        R::GS => SegReg::Gs,
        _ => SegReg::Ds,
    };
    Some(cpu.seg(seg).base.wrapping_add(off))
}

/// `iret` (with EFLAGS on the stack) and far `ret imm16`: the same return, to the same or
/// an outer ring.
fn far_return(
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    selectors: &dyn Fn(u16) -> Option<Segment>,
    size: u32,
    imm: u16,
    iret: bool,
) -> FarResult {
    if iret && cpu.eflags & (1 << 14) != 0 {
        // NT: a task return, which PV guests cannot do.
        return Err(Fault::gp(0));
    }
    let mut st = Stack {
        base: cpu.seg(SegReg::Ss).base,
        sp: cpu.gpr[ESP],
        size,
        mem,
    };
    let eip = st.pop()?;
    let cs = st.pop()? as u16;
    let fl = if iret { Some(st.pop()?) } else { None };
    let new_cpl = (cs & 3) as u8;
    let code = code_segment(cs, cpu.cpl, selectors)?;
    st.sp = st.sp.wrapping_add(u32::from(imm));
    let mut ss = None;
    if new_cpl > cpu.cpl {
        let esp = st.pop()?;
        let ss_sel = st.pop()? as u16;
        ss = Some((
            stack_segment(ss_sel, new_cpl, selectors)?,
            esp.wrapping_add(u32::from(imm)),
        ));
    }
    if eip > code.limit {
        return Err(Fault::gp(0));
    }
    if let Some(fl) = fl {
        let mask = if size == 4 {
            IRET_MASK
        } else {
            IRET_MASK & 0xffff
        };
        cpu.eflags = (cpu.eflags & !mask) | (fl & mask) | 0x2;
    }
    finish(cpu, code, new_cpl, eip, ss, st.sp);
    Ok(())
}

fn far_jump(
    cpu: &mut GuestCpu,
    mem: &mut dyn GuestMemory,
    selectors: &dyn Fn(u16) -> Option<Segment>,
    sel: u16,
    off: u32,
    call: Option<(u32, u32)>,
) -> FarResult {
    // A far jump or call without a gate stays at the current privilege level.
    let target = (sel & !3) | u16::from(cpu.cpl);
    let code = code_segment(target, cpu.cpl, selectors)?;
    if off > code.limit {
        return Err(Fault::gp(0));
    }
    let mut sp = cpu.gpr[ESP];
    if let Some((size, ret)) = call {
        let mut st = Stack {
            base: cpu.seg(SegReg::Ss).base,
            sp,
            size,
            mem,
        };
        st.push(u32::from(cpu.seg(SegReg::Cs).selector))?;
        st.push(ret)?;
        sp = st.sp;
    }
    let cpl = cpu.cpl;
    finish(cpu, code, cpl, off, None, sp);
    Ok(())
}

fn finish(
    cpu: &mut GuestCpu,
    mut code: Segment,
    new_cpl: u8,
    eip: u32,
    ss: Option<(Segment, u32)>,
    sp: u32,
) {
    code.selector = (code.selector & !3) | u16::from(new_cpl);
    *cpu.seg_mut(SegReg::Cs) = code;
    cpu.eip = eip;
    match ss {
        Some((s, esp)) => {
            *cpu.seg_mut(SegReg::Ss) = s;
            cpu.gpr[ESP] = esp;
        }
        None => cpu.gpr[ESP] = sp,
    }
    if new_cpl > cpu.cpl {
        // Data segments the outer ring may not use are nulled (SDM IRET/RET, step
        // RETURN-TO-OUTER-PRIVILEGE-LEVEL).
        for r in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
            let s = cpu.seg(r);
            let conforming_code = s.attr & ATTR_CODE != 0 && s.attr & 0x4 != 0;
            if s.selector & !3 != 0 && !conforming_code && s.dpl() < new_cpl {
                *cpu.seg_mut(r) = Segment::default();
            }
        }
    }
    cpu.cpl = new_cpl;
}
