//! Block translation: one template per instruction class (see `frontend::classify`).
// `dynasm!` converts register numbers with `.into()` even when they are already `u8`.
#![allow(clippy::useless_conversion)]
// Helper instructions are boxed so that the addresses baked into code stay put.
#![allow(clippy::vec_box)]

use crate::backend::x64::copy::{emit_copy, CopyError, SegEnv};
use crate::backend::x64::{BlockEmitter, ChainSite, PcMapEntry, Routines, HOST_REG};
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

fn helper_fn() -> u64 {
    crate::interp::interp_helper as *const () as u64
}

/// Emit one instruction; Err means "raise this fault instead" or "interpret".
/// Instructions that raise #NM while CR0.TS is set: x87, MMX, SSE (SDM Vol. 3A 2.5, CR0.TS),
/// and FWAIT (which needs CR0.MP too: set for every guest here).
fn gate_fpu(g: &Instruction, class: Class) -> bool {
    (class == Class::Copy || class == Class::MaskMov)
        && (crate::frontend::x87(g)
            || crate::frontend::simd(g)
            || g.mnemonic() == iced_x86::Mnemonic::Wait)
}

/// x87 bookkeeping around a copied x87 instruction: record the guest's last-instruction
/// pointers, and after FNSTENV/FNSAVE (before FLDENV/FRSTOR) exchange them with the image
/// in guest memory through a helper.
fn x87_pointers(e: &mut BlockEmitter, g: &Instruction, fop: u16, segs: &SegEnv) {
    use iced_x86::Mnemonic as M;
    let m = g.mnemonic();
    if m == M::Fninit {
        asm!(e.buf
            ; mov DWORD [r15 + off::FPU_IP], 0
            ; mov DWORD [r15 + off::FPU_CS_OP], 0
            ; mov DWORD [r15 + off::FPU_DS], 0
            ; mov DWORD [r15 + off::FPU_DP], 0
        );
    } else if !crate::frontend::is_x87_control(m) {
        let cs = i32::from(segs.seg[1].selector);
        asm!(e.buf
            ; mov DWORD [r15 + off::FPU_IP], g.ip32() as i32
            ; mov DWORD [r15 + off::FPU_CS_OP], cs | (i32::from(fop) << 16)
        );
        if (0..g.op_count()).any(|k| g.op_kind(k) == OpKind::Memory) {
            let ds = match g.memory_segment() {
                Register::ES => segs.seg[0].selector,
                Register::CS => segs.seg[1].selector,
                Register::SS => segs.seg[2].selector,
                Register::FS => segs.seg[4].selector,
                Register::GS => segs.seg[5].selector,
                _ => segs.seg[3].selector,
            };
            asm!(e.buf ; mov DWORD [r15 + off::FPU_DS], i32::from(ds));
            // FDP is the operand's offset (without the segment base).
            if crate::backend::x64::copy::ea_into_r14(e, g, 0).is_ok() {
                asm!(e.buf ; mov DWORD [r15 + off::FPU_DP], r14d);
            }
        }
    }
}

fn emit_insn(
    e: &mut BlockEmitter,
    gi: &crate::frontend::GuestInsn,
    segs: &SegEnv,
    helper_insns: &mut Vec<Box<Instruction>>,
) -> Result<(), CopyError> {
    let g = &gi.insn;
    let class = gi.class;
    if gate_fpu(g, class) {
        e.fpu_gate();
    }
    if class == Class::Copy && g.mnemonic() == iced_x86::Mnemonic::Fxsave {
        let b = Box::new(*g);
        e.helper(
            g.ip32(),
            crate::interp::fxsave_helper as *const () as u64,
            &*b as *const Instruction as u64,
        );
        helper_insns.push(b);
        return Ok(());
    }
    if class == Class::Copy && g.mnemonic() == iced_x86::Mnemonic::Fxrstor {
        emit_copy(e, g, segs)?;
        let b = Box::new(*g);
        e.helper(
            g.ip32(),
            crate::interp::x87_env_helper as *const () as u64,
            &*b as *const Instruction as u64,
        );
        helper_insns.push(b);
        return Ok(());
    }
    if class == Class::Copy && crate::frontend::x87(g) {
        use iced_x86::Mnemonic as M;
        let m = g.mnemonic();
        let fixup = matches!(m, M::Fnstenv | M::Fnsave | M::Fldenv | M::Frstor);
        if matches!(m, M::Fldenv | M::Frstor) {
            // Read the guest's pointers from the image before the load (faults come first
            // from the copied instruction's own access anyway: the helper only reads).
            emit_copy(e, g, segs)?;
            let b = Box::new(*g);
            e.helper(
                g.ip32(),
                crate::interp::x87_env_helper as *const () as u64,
                &*b as *const Instruction as u64,
            );
            helper_insns.push(b);
            return Ok(());
        }
        // The pointers name the last x87 instruction that executed: an instruction that
        // takes a pending #MF (or faults) before executing leaves them alone.
        emit_copy(e, g, segs)?;
        x87_pointers(e, g, gi.fop, segs);
        if fixup {
            let b = Box::new(*g);
            e.helper(
                g.ip32(),
                crate::interp::x87_env_helper as *const () as u64,
                &*b as *const Instruction as u64,
            );
            helper_insns.push(b);
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
            let b = Box::new(*g);
            let p = &*b as *const Instruction as u64;
            helper_insns.push(b);
            e.helper(eip, helper_fn(), p);
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
        let save = (e.buf.bytes.len(), e.pc_map.len());
        match emit_insn(&mut e, gi, &env, &mut helpers) {
            Ok(()) => {}
            Err(err) => {
                // Undo a partial template, then fall back.
                e.buf.bytes.truncate(save.0);
                e.pc_map.truncate(save.1);
                match err {
                    CopyError::Fault(v, code) => {
                        e.fault(g.ip32(), v as u8, code);
                        ended = true;
                        break;
                    }
                    CopyError::Interpret => {
                        let b = Box::new(*g);
                        let p = &*b as *const Instruction as u64;
                        helpers.push(b);
                        e.helper(g.ip32(), helper_fn(), p);
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
        e.jmp_exit(last.insn.next_ip32());
    }
    let (bytes, pc_map, sites) = e.finish()?;
    cache.keep_helper_insns(helpers);
    Some(BlockCode {
        bytes,
        pc_map,
        sites,
    })
}
