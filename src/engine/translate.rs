//! Block translation: one template per instruction class (see `frontend::classify`).
// `dynasm!` converts register numbers with `.into()` even when they are already `u8`.
#![allow(clippy::useless_conversion)]
// Helper instructions are boxed so that the addresses baked into code stay put.
#![allow(clippy::vec_box)]

use crate::backend::x64::copy::{emit_copy, CopyError, SegEnv};
use crate::backend::x64::{BlockEmitter, ChainSite, FpuPoint, PcMapEntry, Routines, HOST_REG};
use crate::cache::CodeCache;
use crate::cpu::seg::Segment;
use crate::engine::ctx::off;
use crate::exit::Vector;
use crate::frontend::{Class, DecodedBlock};
use alloc::boxed::Box;
use alloc::vec::Vec;
use dynasm::dynasm;
use iced_x86::{Code, ConditionCode, Instruction, OpKind, Register};

macro_rules! asm {
    ($buf:expr; $($t:tt)*) => {
        dynasm!($buf ; .arch x64 ; $($t)*)
    };
}

pub struct BlockCode {
    pub bytes: Vec<u8>,
    pub pc_map: Vec<PcMapEntry>,
    pub sites: Vec<ChainSite>,
    pub fpu_points: Vec<FpuPoint>,
}

fn cc_nibble(c: ConditionCode) -> u8 {
    match c {
        ConditionCode::o => 0,
        ConditionCode::no => 1,
        ConditionCode::b => 2,
        ConditionCode::ae => 3,
        ConditionCode::e => 4,
        ConditionCode::ne => 5,
        ConditionCode::be => 6,
        ConditionCode::a => 7,
        ConditionCode::s => 8,
        ConditionCode::ns => 9,
        ConditionCode::p => 10,
        ConditionCode::np => 11,
        ConditionCode::l => 12,
        ConditionCode::ge => 13,
        ConditionCode::le => 14,
        _ => 15,
    }
}

fn guest_reg_num(r: Register) -> Option<usize> {
    let full = r.full_register32();
    let n = match full {
        Register::EAX => 0,
        Register::ECX => 1,
        Register::EDX => 2,
        Register::EBX => 3,
        Register::ESP => 4,
        Register::EBP => 5,
        Register::ESI => 6,
        Register::EDI => 7,
        _ => return None,
    };
    Some(n)
}

/// Load operand 0 of `g` (a register or memory r/m operand of `size` 2 or 4) into R14D,
/// zero-extended.
fn load_rm_into_r14(
    e: &mut BlockEmitter,
    g: &Instruction,
    segs: &SegEnv,
    word: bool,
) -> Result<(), CopyError> {
    if g.op0_kind() == OpKind::Register {
        let h = HOST_REG[guest_reg_num(g.op0_register()).ok_or(CopyError::Interpret)?];
        if word {
            asm!(e.buf ; movzx r14d, Rw(h));
        } else {
            asm!(e.buf ; mov r14d, Rd(h));
        }
        return Ok(());
    }
    let mut i = *g;
    i.set_code(if word {
        Code::Movzx_r32_rm16
    } else {
        Code::Mov_r32_rm32
    });
    i.set_op0_kind(OpKind::Register);
    i.set_op0_register(Register::R14D);
    i.set_op1_kind(OpKind::Memory);
    emit_copy(e, &i, segs)
}

/// Store R11D (or R11W) to operand 0 of `g` (register or memory).
fn store_r11_to_rm(
    e: &mut BlockEmitter,
    g: &Instruction,
    segs: &SegEnv,
    word: bool,
) -> Result<(), CopyError> {
    if g.op0_kind() == OpKind::Register {
        let h = HOST_REG[guest_reg_num(g.op0_register()).ok_or(CopyError::Interpret)?];
        if word {
            asm!(e.buf ; mov Rw(h), r11w);
        } else {
            asm!(e.buf ; mov Rd(h), r11d);
        }
        return Ok(());
    }
    let mut i = *g;
    i.set_code(if word {
        Code::Mov_rm16_r16
    } else {
        Code::Mov_rm32_r32
    });
    i.set_op0_kind(OpKind::Memory);
    i.set_op1_kind(OpKind::Register);
    i.set_op1_register(if word { Register::R11W } else { Register::R11D });
    emit_copy(e, &i, segs)
}

fn push_r14(e: &mut BlockEmitter, word: bool) {
    if word {
        asm!(e.buf ; gs mov WORD [r12d - 2], r14w ; lea r12d, [r12 - 2]);
    } else {
        asm!(e.buf ; gs mov DWORD [r12d - 4], r14d ; lea r12d, [r12 - 4]);
    }
}

/// Call `func` (an `extern "C" fn(ctx, insn) -> u32` helper) for `g`; the instruction is
/// boxed so that the address baked into the code stays valid until the cache is flushed.
fn call_helper(e: &mut BlockEmitter, g: &Instruction, func: u64, keep: &mut Vec<Box<Instruction>>) {
    let b = Box::new(*g);
    e.helper(g.ip32(), func, &*b as *const Instruction as u64);
    keep.push(b);
}

/// An x87-state helper (FXSAVE, FNSTENV & co.): it may change the pointers in the context.
fn call_x87_helper(
    e: &mut BlockEmitter,
    g: &Instruction,
    func: u64,
    keep: &mut Vec<Box<Instruction>>,
) {
    call_helper(e, g, func, keep);
    e.fpu_ds = None;
}

fn helper_fn() -> u64 {
    crate::interp::interp_helper as *const () as u64
}

/// Emit one instruction; Err means "raise this fault instead" or "interpret".
/// Instructions that raise #NM while CR0.TS is set: x87, MMX, SSE (SDM Vol. 3A 2.5, CR0.TS),
/// and FWAIT (which needs CR0.MP too: set for every guest here).
fn gate_fpu(g: &Instruction, class: Class) -> bool {
    (class == Class::Copy || class == Class::MaskMov)
        && (crate::frontend::is_x87(g)
            || crate::frontend::is_simd(g)
            || g.mnemonic() == iced_x86::Mnemonic::Wait)
}

/// The x87 last-instruction pointers (FIP, FCS|FOP, FDP, FDS) must read as the guest's,
/// but storing them after every x87 instruction would double the cost of x87 code. So a
/// block defers them: each x87 instruction only records what its pointers would be
/// (`FpuPoint`); the stores are emitted before anything that can observe them (a helper
/// call, an exit, the end of the block) and a fault in between installs them from the PC
/// map. FDP is recomputed from the registers, so it is stored early when an instruction is
/// about to change a register its address uses.
fn x87_record(e: &mut BlockEmitter, g: &Instruction, fop: u16, segs: &SegEnv) {
    use iced_x86::Mnemonic as M;
    let m = g.mnemonic();
    if m == M::Fninit {
        e.fpu_pending = 0;
        asm!(e.buf
            ; mov DWORD [r15 + off::FPU_IP], 0
            ; mov DWORD [r15 + off::FPU_CS_OP], 0
            ; mov DWORD [r15 + off::FPU_DS], 0
            ; mov DWORD [r15 + off::FPU_DP], 0
        );
        e.fpu_ds = Some(0);
        return;
    }
    if crate::frontend::is_x87_control(m) {
        return;
    }
    let prev = match e.fpu_pending {
        0 => FpuPoint { ip: None, dp: None },
        k => e.fpu_points[usize::from(k - 1)],
    };
    let cs = u32::from(segs.seg[1].selector);
    let dp = if (0..g.op_count()).any(|k| g.op_kind(k) == OpKind::Memory) {
        let ds = match g.memory_segment() {
            Register::ES => segs.seg[0].selector,
            Register::CS => segs.seg[1].selector,
            Register::SS => segs.seg[2].selector,
            Register::FS => segs.seg[4].selector,
            Register::GS => segs.seg[5].selector,
            _ => segs.seg[3].selector,
        };
        Some((ds, *g))
    } else {
        prev.dp
    };
    e.fpu_points.push(FpuPoint {
        ip: Some((g.ip32(), cs | (u32::from(fop) << 16))),
        dp,
    });
    e.fpu_pending = e.fpu_points.len() as u16;
}

/// Store the deferred x87 pointers now.
fn fpu_flush(e: &mut BlockEmitter) {
    if e.fpu_pending == 0 {
        return;
    }
    let p = e.fpu_points[usize::from(e.fpu_pending - 1)];
    if let Some((ip, cs_op)) = p.ip {
        asm!(e.buf
            ; mov DWORD [r15 + off::FPU_IP], ip as i32
            ; mov DWORD [r15 + off::FPU_CS_OP], cs_op as i32
        );
    }
    if let Some((ds, insn)) = p.dp {
        store_fdp(e, ds, &insn);
    }
    e.fpu_pending = 0;
}

fn store_fdp(e: &mut BlockEmitter, ds: u16, insn: &Instruction) {
    if e.fpu_ds != Some(ds) {
        asm!(e.buf ; mov DWORD [r15 + off::FPU_DS], i32::from(ds));
        e.fpu_ds = Some(ds);
    }
    // FDP is the operand's offset (without the segment base).
    if crate::backend::x64::copy::ea_into_r14(e, insn, 0).is_ok() {
        asm!(e.buf ; mov DWORD [r15 + off::FPU_DP], r14d);
    }
}

/// Before `g` runs: store a deferred FDP whose address registers `g` is about to change.
fn fpu_guard_dp(e: &mut BlockEmitter, g: &Instruction) {
    if e.fpu_pending == 0 {
        return;
    }
    let p = e.fpu_points[usize::from(e.fpu_pending - 1)];
    let Some((ds, insn)) = p.dp else { return };
    let regs = [
        insn.memory_base().full_register32(),
        insn.memory_index().full_register32(),
    ];
    let info = e
        .info
        .get_or_insert_with(iced_x86::InstructionInfoFactory::new);
    let clobbers = info.info(g).used_registers().iter().any(|u| {
        !matches!(
            u.access(),
            iced_x86::OpAccess::Read | iced_x86::OpAccess::CondRead
        ) && u.register() != Register::None
            && regs.contains(&u.register().full_register32())
    });
    if clobbers {
        store_fdp(e, ds, &insn);
        e.fpu_points.push(FpuPoint { ip: p.ip, dp: None });
        e.fpu_pending = e.fpu_points.len() as u16;
    }
}

/// Instructions before which the deferred x87 pointers must be in the context: anything
/// that calls a helper or may leave the block.
fn observes_fpu_pointers(gi: &crate::frontend::GuestInsn) -> bool {
    use iced_x86::Mnemonic as M;
    gi.class.ends_block()
        || matches!(gi.class, Class::Helper | Class::Into)
        || matches!(
            gi.insn.mnemonic(),
            M::Fnstenv | M::Fnsave | M::Fldenv | M::Frstor | M::Fxsave | M::Fxrstor
        )
}

fn emit_insn(
    e: &mut BlockEmitter,
    gi: &crate::frontend::GuestInsn,
    segs: &SegEnv,
    helper_insns: &mut Vec<Box<Instruction>>,
) -> Result<(), CopyError> {
    let g = &gi.insn;
    let class = gi.class;
    if gate_fpu(g, class) && !e.fpu_gated {
        e.fpu_gate();
        e.fpu_gated = true;
    }
    if class == Class::Copy
        && g.mnemonic() == iced_x86::Mnemonic::Rdtsc
        && crate::interp::soft_tsc()
    {
        call_helper(
            e,
            g,
            crate::interp::rdtsc_helper as *const () as u64,
            helper_insns,
        );
        return Ok(());
    }
    if class == Class::Copy && g.mnemonic() == iced_x86::Mnemonic::Fxsave {
        call_x87_helper(
            e,
            g,
            crate::interp::fxsave_helper as *const () as u64,
            helper_insns,
        );
        return Ok(());
    }
    if class == Class::Copy && g.mnemonic() == iced_x86::Mnemonic::Fxrstor {
        emit_copy(e, g, segs)?;
        call_x87_helper(
            e,
            g,
            crate::interp::x87_env_helper as *const () as u64,
            helper_insns,
        );
        return Ok(());
    }
    if class == Class::Copy && crate::frontend::is_x87(g) {
        use iced_x86::Mnemonic as M;
        let m = g.mnemonic();
        let fixup = matches!(m, M::Fnstenv | M::Fnsave | M::Fldenv | M::Frstor);
        if matches!(m, M::Fldenv | M::Frstor) {
            // Read the guest's pointers from the image before the load (faults come first
            // from the copied instruction's own access anyway: the helper only reads).
            emit_copy(e, g, segs)?;
            call_x87_helper(
                e,
                g,
                crate::interp::x87_env_helper as *const () as u64,
                helper_insns,
            );
            return Ok(());
        }
        // The pointers name the last x87 instruction that executed: an instruction that
        // takes a pending #MF (or faults) before executing leaves them alone.
        emit_copy(e, g, segs)?;
        x87_record(e, g, gi.fop, segs);
        if fixup {
            call_x87_helper(
                e,
                g,
                crate::interp::x87_env_helper as *const () as u64,
                helper_insns,
            );
        }
        return Ok(());
    }
    let eip = g.ip32();
    let next = g.next_ip32();
    let word = g.code().op_code().operand_size() == 16;
    match class {
        Class::Copy => emit_copy(e, g, segs)?,
        Class::Nop => {}
        Class::Push => match g.op0_kind() {
            OpKind::Register => {
                let h = HOST_REG[guest_reg_num(g.op0_register()).ok_or(CopyError::Interpret)?];
                if word {
                    asm!(e.buf ; gs mov WORD [r12d - 2], Rw(h) ; lea r12d, [r12 - 2]);
                } else {
                    asm!(e.buf ; gs mov DWORD [r12d - 4], Rd(h) ; lea r12d, [r12 - 4]);
                }
            }
            OpKind::Immediate8to16 | OpKind::Immediate16 => {
                let v = g.immediate(0) as i16;
                asm!(e.buf ; gs mov WORD [r12d - 2], v ; lea r12d, [r12 - 2]);
            }
            OpKind::Immediate8to32 | OpKind::Immediate32 => {
                let v = g.immediate(0) as i32;
                asm!(e.buf ; gs mov DWORD [r12d - 4], v ; lea r12d, [r12 - 4]);
            }
            OpKind::Memory => {
                load_rm_into_r14(e, g, segs, word)?;
                push_r14(e, word);
            }
            _ => return Err(CopyError::Interpret),
        },
        Class::Pop => {
            let sz: i32 = if word { 2 } else { 4 };
            if g.op0_kind() == OpKind::Register {
                let n = guest_reg_num(g.op0_register()).ok_or(CopyError::Interpret)?;
                let h = HOST_REG[n];
                if word {
                    asm!(e.buf ; gs mov r14w, [r12d] ; lea r12d, [r12 + 2] ; mov Rw(h), r14w);
                } else if n == 4 {
                    asm!(e.buf ; gs mov r12d, [r12d]);
                } else {
                    asm!(e.buf ; gs mov Rd(h), [r12d] ; lea r12d, [r12 + 4]);
                }
            } else {
                // POP r/m computes the destination address with ESP already incremented.
                // The value waits in R11: computing that address may need R14 and R13.
                if word {
                    asm!(e.buf ; gs movzx r11d, WORD [r12d]);
                } else {
                    asm!(e.buf ; gs mov r11d, [r12d]);
                }
                asm!(e.buf ; lea r12d, [r12 + sz]);
                e.mark_esp_adj(eip, -(sz as i8));
                store_r11_to_rm(e, g, segs, word)?;
                e.mark(eip);
            }
        }
        Class::CallRel => {
            if word {
                return Err(CopyError::Interpret);
            }
            e.host_call_frame_push(next);
            asm!(e.buf ; gs mov DWORD [r12d - 4], next as i32 ; lea r12d, [r12 - 4]);
            e.call_exit(g.near_branch32(), next);
        }
        Class::CallInd => {
            if word {
                return Err(CopyError::Interpret);
            }
            load_rm_into_r14(e, g, segs, word)?;
            e.host_call_frame_push(next);
            asm!(e.buf ; gs mov DWORD [r12d - 4], next as i32 ; lea r12d, [r12 - 4]);
            e.call_indirect(next);
        }
        Class::JmpRel => e.jmp_exit(g.near_branch32()),
        Class::JmpInd if word => return Err(CopyError::Interpret),
        Class::JmpInd => {
            load_rm_into_r14(e, g, segs, word)?;
            e.indirect();
        }
        Class::Jcc => {
            e.jcc_exit(cc_nibble(g.condition_code()), g.near_branch32());
            e.jmp_exit(next);
        }
        Class::Loop => {
            // 16-bit forms (CX, or IP truncation) are left to the interpreter.
            if word
                || matches!(g.code(), Code::Jcxz_rel8_16 | Code::Jcxz_rel8_32)
                || g.op0_kind() == OpKind::NearBranch16
            {
                return Err(CopyError::Interpret);
            }
            let op: u8 = match g.code() {
                Code::Loopne_rel8_32_ECX => 0xe0,
                Code::Loope_rel8_32_ECX => 0xe1,
                Code::Loop_rel8_32_ECX => 0xe2,
                Code::Jecxz_rel8_32 => 0xe3,
                _ => return Err(CopyError::Interpret),
            };
            // 67-prefixed LOOPcc/JECXZ use ECX and leave the flags alone.
            e.buf.extend(&[0x67, op, 5]);
            e.jmp_exit(next);
            e.jmp_exit(g.near_branch32());
        }
        Class::Ret => {
            if word {
                return Err(CopyError::Interpret);
            }
            let extra = if g.op_count() > 0 {
                i32::from(g.immediate16())
            } else {
                0
            };
            asm!(e.buf ; gs mov r14d, [r12d] ; lea r12d, [r12 + 4 + extra]);
            e.ret();
        }
        Class::Leave => {
            if word {
                return Err(CopyError::Interpret);
            }
            asm!(e.buf ; gs mov r14d, [ebp] ; lea r12d, [rbp + 4] ; mov ebp, r14d);
        }
        Class::Std => asm!(e.buf ; mov BYTE [r15 + off::DF], 1),
        Class::Cld => asm!(e.buf ; mov BYTE [r15 + off::DF], 0),
        Class::SoftInt => e.soft_int(next, g.immediate8(), g.len() as u8),
        Class::Int3 => e.fault(next, Vector::BP as u8, 0),
        Class::Into => {
            asm!(e.buf ; jno >skip);
            e.fault(next, Vector::OF as u8, 0);
            asm!(e.buf ; skip:);
        }
        Class::Helper => {
            call_helper(e, g, helper_fn(), helper_insns);
        }
        Class::MaskMov => {
            // The destination is seg:EDI; rebase EDI onto the window for the one access.
            let sidx = match g.memory_segment() {
                Register::ES => 0,
                Register::CS => 1,
                Register::SS => 2,
                Register::FS => 4,
                Register::GS => 5,
                _ => 3,
            };
            let seg = &segs.seg[sidx];
            if seg.is_null() || seg.limit != 0xffff_ffff || seg.expand_down() {
                return Err(CopyError::Interpret);
            }
            let base = seg.base as i32;
            let host = if g.mnemonic() == iced_x86::Mnemonic::Maskmovq {
                Instruction::with_maskmovq(64, g.op1_register(), g.op2_register(), Register::None)
            } else {
                Instruction::with_maskmovdqu(64, g.op1_register(), g.op2_register(), Register::None)
            }
            .map_err(|_| CopyError::Interpret)?;
            let mut enc = iced_x86::Encoder::new(64);
            let rip = e.at + e.buf.offset().0 as u64;
            enc.encode(&host, rip).map_err(|_| CopyError::Interpret)?;
            let bytes = enc.take_buffer();
            asm!(e.buf
                ; mov r11d, edi
                ; lea r14d, [rdi + base]
                ; mov r13, [r15 + off::MEM_BASE]
                ; lea rdi, [r13 + r14]
            );
            e.mark_edi_in_r11(eip);
            e.buf.extend(&bytes);
            e.mark(eip);
            asm!(e.buf ; mov edi, r11d);
        }
        Class::Privileged => e.fault(eip, Vector::GP as u8, 0),
        Class::Undefined => e.fault(eip, Vector::UD as u8, 0),
    }
    Ok(())
}

/// Translate a decoded block for host address `at`; None if a label could not be laid out.
pub fn translate_block(
    block: &DecodedBlock,
    at: u64,
    routines: &Routines,
    segs: &[Segment; 6],
    cache: &mut CodeCache,
) -> Option<BlockCode> {
    let env = SegEnv { seg: segs };
    let mut e = BlockEmitter::new(at, routines);
    let mut helpers = Vec::new();
    e.entry(block.start);
    let mut ended = false;
    for gi in &block.insns {
        let g = &gi.insn;
        e.mark(g.ip32());
        if observes_fpu_pointers(gi) {
            fpu_flush(&mut e);
        } else {
            fpu_guard_dp(&mut e, g);
        }
        let save = (
            e.buf.bytes.len(),
            e.pc_map.len(),
            e.fpu_pending,
            e.fpu_points.len(),
            e.fpu_gated,
            e.fpu_ds,
        );
        match emit_insn(&mut e, gi, &env, &mut helpers) {
            Ok(()) => {}
            Err(err) => {
                // Undo a partial template, then fall back.
                e.buf.bytes.truncate(save.0);
                e.pc_map.truncate(save.1);
                e.fpu_pending = save.2;
                e.fpu_points.truncate(save.3);
                (e.fpu_gated, e.fpu_ds) = (save.4, save.5);
                // The fallback calls a helper (or raises a fault): pointers first.
                fpu_flush(&mut e);
                match err {
                    CopyError::Fault(v, code) => {
                        e.fault(g.ip32(), v as u8, code);
                        ended = true;
                        break;
                    }
                    CopyError::Interpret => {
                        call_helper(&mut e, g, helper_fn(), &mut helpers);
                        if gi.class.ends_block() {
                            // The interpreter set EIP; go look it up.
                            asm!(e.buf
                                ; mov r14d, DWORD [r15 + off::EIP]
                            );
                            e.indirect();
                            ended = true;
                            break;
                        }
                    }
                }
            }
        }
        if gi.class.ends_block() {
            ended = true;
            break;
        }
    }
    if !ended {
        let last = block.insns.last()?;
        fpu_flush(&mut e);
        e.jmp_exit(last.insn.next_ip32());
    }
    let fpu_points = core::mem::take(&mut e.fpu_points);
    let (bytes, pc_map, sites) = e.finish()?;
    cache.keep_helper_insns(helpers);
    Some(BlockCode {
        bytes,
        pc_map,
        sites,
        fpu_points,
    })
}
