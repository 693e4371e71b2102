//! The "copy" class: a guest instruction that means the same in 64-bit mode is re-encoded
//! for the host (with iced's encoder) after its registers and memory operand are rewritten
//! to the register convention and the guest window.
// `dynasm!` converts register numbers with `.into()` even when they are already `u8`.
#![allow(clippy::useless_conversion)]

use super::BlockEmitter;
use crate::cpu::seg::Segment;
use crate::exit::Vector;
use iced_x86::{Code, Encoder, Instruction, InstructionInfoFactory, OpAccess, OpKind, Register};

/// What the copy path needs to know about segments at translation time.
pub struct SegEnv<'a> {
    /// ES CS SS DS FS GS caches.
    pub seg: &'a [Segment; 6],
}

/// Why an instruction could not be copied; the caller raises the returned exception or falls
/// back to the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyError {
    /// Architectural fault known at translation time (null segment, write to code segment).
    Fault(Vector, u32),
    /// Not expressible here; run it in the interpreter.
    Interpret,
}

fn map_reg(r: Register) -> Register {
    match r {
        Register::ESP => Register::R12D,
        Register::SP => Register::R12W,
        _ => r,
    }
}

fn is_high8(r: Register) -> bool {
    matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
}

fn needs_rex(r: Register) -> bool {
    r != Register::None && r.number() >= 8 && !is_high8(r) && r.size() != 0 && {
        // Numbers 8..15 of the GPR families (R8..R15 and their sub-registers).
        let full = r.full_register();
        (Register::R8..=Register::R15).contains(&full)
    }
}

/// Host forms for guest codes that are not encodable (or mean something else) in 64-bit mode.
fn host_form(i: &mut Instruction) {
    let c = match i.code() {
        // Opcode 0x82 (an alias of 0x80) is invalid in 64-bit mode.
        Code::Add_rm8_imm8_82 => Code::Add_rm8_imm8,
        Code::Or_rm8_imm8_82 => Code::Or_rm8_imm8,
        Code::Adc_rm8_imm8_82 => Code::Adc_rm8_imm8,
        Code::Sbb_rm8_imm8_82 => Code::Sbb_rm8_imm8,
        Code::And_rm8_imm8_82 => Code::And_rm8_imm8,
        Code::Sub_rm8_imm8_82 => Code::Sub_rm8_imm8,
        Code::Xor_rm8_imm8_82 => Code::Xor_rm8_imm8,
        Code::Cmp_rm8_imm8_82 => Code::Cmp_rm8_imm8,
        Code::Inc_r16 => Code::Inc_rm16,
        Code::Inc_r32 => Code::Inc_rm32,
        Code::Dec_r16 => Code::Dec_rm16,
        Code::Dec_r32 => Code::Dec_rm32,
        Code::Mov_AL_moffs8 => Code::Mov_r8_rm8,
        Code::Mov_AX_moffs16 => Code::Mov_r16_rm16,
        Code::Mov_EAX_moffs32 => Code::Mov_r32_rm32,
        Code::Mov_moffs8_AL => Code::Mov_rm8_r8,
        Code::Mov_moffs16_AX => Code::Mov_rm16_r16,
        Code::Mov_moffs32_EAX => Code::Mov_rm32_r32,
        Code::Tzcnt_r16_rm16 => Code::Bsf_r16_rm16,
        Code::Tzcnt_r32_rm32 => Code::Bsf_r32_rm32,
        Code::Lzcnt_r16_rm16 => Code::Bsr_r16_rm16,
        Code::Lzcnt_r32_rm32 => Code::Bsr_r32_rm32,
        _ => return,
    };
    let moffs = matches!(
        i.code(),
        Code::Mov_AL_moffs8
            | Code::Mov_AX_moffs16
            | Code::Mov_EAX_moffs32
            | Code::Mov_moffs8_AL
            | Code::Mov_moffs16_AX
            | Code::Mov_moffs32_EAX
    );
    let was = *i;
    i.set_code(c);
    if moffs {
        // moffs forms have one register operand (the accumulator) and one memory operand.
        let (reg, mem_first) = if was.op0_kind() == OpKind::Memory {
            (was.op1_register(), true)
        } else {
            (was.op0_register(), false)
        };
        if mem_first {
            i.set_op0_kind(OpKind::Memory);
            i.set_op1_kind(OpKind::Register);
            i.set_op1_register(reg);
        } else {
            i.set_op0_kind(OpKind::Register);
            i.set_op0_register(reg);
            i.set_op1_kind(OpKind::Memory);
        }
        i.set_memory_base(Register::None);
        i.set_memory_index(Register::None);
        i.set_memory_displ_size(4);
    }
    if matches!(
        was.code(),
        Code::Tzcnt_r16_rm16 | Code::Tzcnt_r32_rm32 | Code::Lzcnt_r16_rm16 | Code::Lzcnt_r32_rm32
    ) {
        i.set_has_repe_prefix(false);
    }
}

/// 16-bit addressing (a 0x67 prefix in 32-bit code), which 64-bit mode cannot express.
pub fn is_16bit_addressing(i: &Instruction) -> bool {
    matches!(
        i.memory_base(),
        Register::BX | Register::BP | Register::SI | Register::DI
    ) || matches!(i.memory_index(), Register::SI | Register::DI)
        || (i.memory_base() == Register::None
            && i.memory_index() == Register::None
            && i.memory_displ_size() == 2)
}

fn encode(e: &mut BlockEmitter, i: &Instruction) -> Result<(), CopyError> {
    let rip = e.at + e.buf.offset().0 as u64;
    let enc = e.encoder.get_or_insert_with(|| Encoder::new(64));
    enc.encode(i, rip).map_err(|_| CopyError::Interpret)?;
    let bytes = enc.take_buffer();
    e.buf.extend(&bytes);
    // Hand the allocation back for the next instruction.
    let mut bytes = bytes;
    bytes.clear();
    enc.set_buffer(bytes);
    Ok(())
}

/// `lea r14d, [guest ea + seg_base]` for a 32-bit-addressed memory operand.
pub fn ea_into_r14(e: &mut BlockEmitter, g: &Instruction, seg_base: u32) -> Result<(), CopyError> {
    let base = map_reg(g.memory_base());
    let index = map_reg(g.memory_index());
    if is_16bit_addressing(g) {
        // EA = (base + index + disp) mod 64 KiB, then the segment base: all flag-free.
        let r16 = |r: Register| -> u8 {
            match r {
                Register::BX => 3,
                Register::BP => 5,
                Register::SI => 6,
                Register::DI => 7,
                _ => 0xff,
            }
        };
        let disp = g.memory_displacement32() as u16;
        // mov r14d, disp16
        e.buf.extend(&[0x41, 0xbe]);
        e.buf.push_u32(u32::from(disp));
        for r in [g.memory_base(), g.memory_index()] {
            if r == Register::None {
                continue;
            }
            let n = r16(r);
            if n == 0xff {
                return Err(CopyError::Interpret);
            }
            // movzx r13d, r16 ; lea r14d, [r14 + r13]
            e.buf.extend(&[0x44, 0x0f, 0xb7, 0xe8 | n]);
            e.buf.extend(&[0x47, 0x8d, 0x34, 0x2e]);
        }
        // movzx r14d, r14w ; lea r14d, [r14 + seg_base]
        e.buf.extend(&[0x45, 0x0f, 0xb7, 0xf6]);
        e.buf.extend(&[0x45, 0x8d, 0xb6]);
        e.buf.push_u32(seg_base);
        return Ok(());
    }
    if base == Register::None && index == Register::None {
        let a = g.memory_displacement32().wrapping_add(seg_base);
        let i = Instruction::with2(Code::Mov_r32_imm32, Register::R14D, a)
            .map_err(|_| CopyError::Interpret)?;
        return encode(e, &i);
    }
    if matches!(
        base,
        Register::None
            | Register::R12D
            | Register::EAX
            | Register::ECX
            | Register::EDX
            | Register::EBX
            | Register::EBP
            | Register::ESI
            | Register::EDI
    ) && matches!(
        index,
        Register::None
            | Register::R12D
            | Register::EAX
            | Register::ECX
            | Register::EDX
            | Register::EBX
            | Register::EBP
            | Register::ESI
            | Register::EDI
    ) {
        let mut lea = Instruction::default();
        lea.set_code(Code::Lea_r32_m);
        lea.set_op0_kind(OpKind::Register);
        lea.set_op0_register(Register::R14D);
        lea.set_op1_kind(OpKind::Memory);
        lea.set_memory_base(base);
        lea.set_memory_index(index);
        lea.set_memory_index_scale(g.memory_index_scale());
        lea.set_memory_displacement32(g.memory_displacement32().wrapping_add(seg_base));
        lea.set_memory_displ_size(4);
        return encode(e, &lea);
    }
    Err(CopyError::Interpret)
}

/// Re-encode `g` (a `Class::Copy` instruction) for the host.
pub fn emit_copy(e: &mut BlockEmitter, g: &Instruction, env: &SegEnv) -> Result<(), CopyError> {
    let mut i = *g;
    host_form(&mut i);
    let mem_op = (0..i.op_count()).find(|&k| i.op_kind(k) == OpKind::Memory);
    let is_lea = i.code() == Code::Lea_r32_m || i.code() == Code::Lea_r16_m;

    for k in 0..i.op_count() {
        if i.op_kind(k) == OpKind::Register {
            i.set_op_register(k, map_reg(i.op_register(k)));
        }
    }
    let high8 =
        (0..i.op_count()).any(|k| i.op_kind(k) == OpKind::Register && is_high8(i.op_register(k)));

    if is_lea
        && (is_16bit_addressing(g)
            || (g.memory_base() == Register::None && g.memory_index() == Register::None))
    {
        // No 64-bit LEA computes a 16-bit or absolute address: compute it, then move it.
        ea_into_r14(e, g, 0)?;
        let dst = i.op0_register();
        let (code, src) = if dst.size() == 2 {
            (Code::Mov_r16_rm16, Register::R14W)
        } else {
            (Code::Mov_r32_rm32, Register::R14D)
        };
        let mv = Instruction::with2(code, dst, src).map_err(|_| CopyError::Interpret)?;
        return encode(e, &mv);
    }
    let Some(_) = mem_op.filter(|_| !is_lea) else {
        if is_lea {
            i.set_memory_base(map_reg(i.memory_base()));
            i.set_memory_index(map_reg(i.memory_index()));
        }
        let rex = (0..i.op_count())
            .any(|k| i.op_kind(k) == OpKind::Register && needs_rex(i.op_register(k)));
        if high8 && rex {
            // e.g. movzx esp, ah: run it on EBP with guest ESP swapped in.
            for k in 0..i.op_count() {
                if i.op_kind(k) == OpKind::Register && i.op_register(k) == Register::R12D {
                    i.set_op_register(k, Register::EBP);
                }
            }
            e.buf.extend(&[0x49, 0x87, 0xec]); // xchg r12, rbp
            encode(e, &i)?;
            e.buf.extend(&[0x49, 0x87, 0xec]);
            return Ok(());
        }
        return encode(e, &i);
    };

    // Which segment, and is the access allowed at all?
    let sreg = i.memory_segment();
    let sidx = match sreg {
        Register::ES => 0,
        Register::CS => 1,
        Register::SS => 2,
        Register::DS => 3,
        Register::FS => 4,
        Register::GS => 5,
        _ => return Err(CopyError::Interpret),
    };
    let seg = &env.seg[sidx];
    let info = e.info.get_or_insert_with(InstructionInfoFactory::new);
    let writes = info.info(g).used_memory().iter().any(|m| {
        matches!(
            m.access(),
            OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite | OpAccess::ReadCondWrite
        )
    });
    let ss_fault = if sidx == 2 { Vector::SS } else { Vector::GP };
    if seg.is_null() && sidx != 1 {
        return Err(CopyError::Fault(Vector::GP, 0));
    }
    if writes && !seg.writable() || !writes && !seg.readable() {
        return Err(CopyError::Fault(ss_fault, 0));
    }
    let checked = seg.limit != 0xffff_ffff || seg.expand_down();

    let base = map_reg(i.memory_base());
    let index = map_reg(i.memory_index());
    let absolute = base == Register::None && index == Register::None;
    let direct = !checked
        && seg.base == 0
        && !absolute
        && !is_16bit_addressing(&i)
        && !(high8 && (needs_rex(base) || needs_rex(index)));
    i.set_segment_prefix(Register::GS);
    if direct {
        i.set_memory_base(base);
        i.set_memory_index(index);
        return encode(e, &i);
    }
    if checked {
        ea_into_r14(e, g, 0)?;
        let size = (g.memory_size().size() as u32).max(1);
        limit_check(e, seg, size, g.ip32(), ss_fault);
        if seg.base != 0 {
            // lea r14d, [r14 + base]
            e.buf.extend(&[0x45, 0x8d, 0xb6]);
            e.buf.push_u32(seg.base);
        }
    } else {
        ea_into_r14(e, g, seg.base)?;
    }
    i.set_memory_index(Register::None);
    i.set_memory_index_scale(1);
    i.set_memory_displacement64(0);
    i.set_memory_displ_size(0);
    if high8 {
        // R14 would need a REX prefix, which makes AH..BH unencodable: use RBP instead,
        // with guest EBP parked in R14 for the duration of the access.
        e.buf.extend(&[0x49, 0x87, 0xee]); // xchg r14, rbp
        e.mark_ebp_in_r14(g.ip32());
        i.set_memory_base(Register::RBP);
        encode(e, &i)?;
        e.buf.extend(&[0x49, 0x87, 0xee]);
        e.mark(g.ip32());
        return Ok(());
    }
    i.set_memory_base(Register::R14);
    encode(e, &i)
}

/// Check the offset in R14D against a segment limit for an access of `size` bytes (SDM Vol.
/// 3A 5.3), raising `fault`(0) at `eip` when it fails. The compares need the flags, so the
/// guest's are kept on the host stack meanwhile; only segments that are not flat pay this.
fn limit_check(e: &mut BlockEmitter, seg: &Segment, size: u32, eip: u32, fault: Vector) {
    use dynasm::dynasm;
    let upper: u32 = if seg.big() { 0xffff_ffff } else { 0xffff };
    let (lo_ok, hi): (Option<u32>, u32) = if seg.expand_down() {
        // Valid offsets are limit+1 ..= upper.
        (Some(seg.limit), upper.saturating_sub(size - 1))
    } else {
        (None, seg.limit.saturating_sub(size - 1))
    };
    let too_small = !seg.expand_down() && seg.limit < size - 1;
    dynasm!(e.buf ; .arch x64 ; pushfq);
    if too_small {
        dynasm!(e.buf ; .arch x64 ; jmp >bad);
    }
    if let Some(lo) = lo_ok {
        dynasm!(e.buf ; .arch x64 ; cmp r14d, lo as i32 ; jbe >bad);
    }
    dynasm!(e.buf
        ; .arch x64
        ; cmp r14d, hi as i32
        ; ja >bad
        ; popfq
        ; jmp >ok
        ; bad:
        ; popfq
    );
    e.fault(eip, fault as u8, 0);
    dynasm!(e.buf ; .arch x64 ; ok:);
}
