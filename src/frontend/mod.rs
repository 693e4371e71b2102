//! Frontend: fetch guest code through the guest MMU, decode it (this is the only module that
//! uses `iced_x86::Decoder`) and classify each instruction into how the backend handles it.
//!
//! The classification table (`classify`) is the translator's claim of coverage: every iced
//! `Code` it does not name falls to `Class::Undefined` and raises #UD in the guest.

use crate::exit::{Fault, Vector};
use crate::mmu::{Access, GuestAddr, GuestMemory, PAGE_SIZE};
use alloc::vec::Vec;
use iced_x86::{Code, Decoder, DecoderOptions, Instruction, Mnemonic};

/// Longest block in guest instructions.
pub const MAX_BLOCK_INSNS: usize = 64;

/// How the backend treats one guest instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Re-encoded for the host with registers and memory operands rewritten.
    Copy,
    /// No architectural effect (multi-byte NOPs, PAUSE, prefetch hints).
    Nop,
    Push,
    Pop,
    CallRel,
    CallInd,
    JmpRel,
    JmpInd,
    Jcc,
    /// LOOP/LOOPE/LOOPNE/JECXZ/JCXZ.
    Loop,
    Ret,
    Leave,
    Std,
    Cld,
    /// `int n`.
    SoftInt,
    Int3,
    Into,
    /// Executed by the Rust helper in `interp`.
    Helper,
    /// MASKMOVQ / MASKMOVDQU (implicit DS:EDI destination).
    MaskMov,
    /// Privileged at any CPL > 0 here: #GP(0) (the PV layer emulates it from there).
    Privileged,
    /// Raises #UD (UD0/UD1/UD2, invalid encodings, unimplemented extensions).
    Undefined,
}

impl Class {
    /// Ends the block: control leaves the straight-line path.
    pub fn ends_block(self) -> bool {
        matches!(
            self,
            Class::CallRel
                | Class::CallInd
                | Class::JmpRel
                | Class::JmpInd
                | Class::Jcc
                | Class::Loop
                | Class::Ret
                | Class::SoftInt
                | Class::Int3
                | Class::Privileged
                | Class::Undefined
        )
    }
}

/// The classification table: iced mnemonic (and a few codes) -> handling.
pub fn classify(i: &Instruction) -> Class {
    use Mnemonic as M;
    if i.code() == Code::INVALID {
        return Class::Undefined;
    }
    let m = i.mnemonic();
    if is_x87(i) {
        return Class::Copy;
    }
    if is_simd(i) {
        return match m {
            // Their memory operand is DS:EDI, which GS cannot reach: a template rebases EDI.
            Mnemonic::Maskmovq | Mnemonic::Maskmovdqu => Class::MaskMov,
            _ => Class::Copy,
        };
    }
    let c = match m {
        M::Add
        | M::Or
        | M::Adc
        | M::Sbb
        | M::And
        | M::Sub
        | M::Xor
        | M::Cmp
        | M::Test
        | M::Inc
        | M::Dec
        | M::Neg
        | M::Not
        | M::Mul
        | M::Imul
        | M::Div
        | M::Idiv
        | M::Mov
        | M::Movzx
        | M::Movsx
        | M::Lea
        | M::Xchg
        | M::Cmpxchg
        | M::Xadd
        | M::Cmpxchg8b
        | M::Bswap
        | M::Bt
        | M::Bts
        | M::Btr
        | M::Btc
        | M::Bsf
        | M::Bsr
        | M::Shl
        | M::Sal
        | M::Shr
        | M::Sar
        | M::Rol
        | M::Ror
        | M::Rcl
        | M::Rcr
        | M::Shld
        | M::Shrd
        | M::Cbw
        | M::Cwde
        | M::Cwd
        | M::Cdq
        | M::Clc
        | M::Stc
        | M::Cmc
        | M::Lahf
        | M::Sahf
        | M::Rdtsc
        | M::Xlatb => Class::Copy,
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => Class::Copy,
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => Class::Copy,
        // Without BMI1/ABM in our CPUID, F3-prefixed BSF/BSR are plain BSF/BSR (see
        // `host_form`); POPCNT is not advertised either and stays undefined.
        M::Tzcnt | M::Lzcnt => Class::Copy,
        // 0F 0D with a register operand is #UD; with memory it is a prefetch hint.
        M::Reservednop
            if matches!(
                i.code(),
                Code::Reservednop_rm16_r16_0F0D | Code::Reservednop_rm32_r32_0F0D
            ) && i.op0_kind() == iced_x86::OpKind::Register =>
        {
            Class::Undefined
        }
        // FWAIT: raises a pending unmasked x87 exception (#MF), else nothing.
        M::Wait => Class::Copy,
        // Hint NOPs: CET markers, prefetches, cache hints, the reserved-NOP space (0F 18-1F).
        M::Nop
        | M::Pause
        | M::Endbr32
        | M::Endbr64
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Prefetch
        | M::Prefetchw
        | M::Prefetchwt1
        | M::Cldemote
        | M::Reservednop => Class::Nop,
        M::Push => match i.code() {
            Code::Pushw_ES
            | Code::Pushd_ES
            | Code::Pushw_CS
            | Code::Pushd_CS
            | Code::Pushw_SS
            | Code::Pushd_SS
            | Code::Pushw_DS
            | Code::Pushd_DS
            | Code::Pushw_FS
            | Code::Pushd_FS
            | Code::Pushw_GS
            | Code::Pushd_GS => Class::Helper,
            _ => Class::Push,
        },
        M::Pop => match i.code() {
            Code::Popw_ES
            | Code::Popd_ES
            | Code::Popw_SS
            | Code::Popd_SS
            | Code::Popw_DS
            | Code::Popd_DS
            | Code::Popw_FS
            | Code::Popd_FS
            | Code::Popw_GS
            | Code::Popd_GS => Class::Helper,
            _ => Class::Pop,
        },
        M::Call => match i.code() {
            Code::Call_rel32_32 | Code::Call_rel16 => Class::CallRel,
            Code::Call_rm32 | Code::Call_rm16 => Class::CallInd,
            _ => Class::Undefined,
        },
        M::Jmp => match i.code() {
            Code::Jmp_rel8_32 | Code::Jmp_rel32_32 | Code::Jmp_rel8_16 | Code::Jmp_rel16 => {
                Class::JmpRel
            }
            Code::Jmp_rm32 | Code::Jmp_rm16 => Class::JmpInd,
            _ => Class::Undefined,
        },
        M::Jo
        | M::Jno
        | M::Jb
        | M::Jae
        | M::Je
        | M::Jne
        | M::Jbe
        | M::Ja
        | M::Js
        | M::Jns
        | M::Jp
        | M::Jnp
        | M::Jl
        | M::Jge
        | M::Jle
        | M::Jg => Class::Jcc,
        M::Loop | M::Loope | M::Loopne | M::Jecxz | M::Jcxz => Class::Loop,
        M::Ret => Class::Ret,
        M::Leave => Class::Leave,
        M::Std => Class::Std,
        M::Cld => Class::Cld,
        M::Int => Class::SoftInt,
        M::Int3 => Class::Int3,
        M::Into => Class::Into,
        // MOVSD/CMPSD are also SSE2 mnemonics: only the string forms are string operations.
        M::Movsd if i.code() != Code::Movsd_m32_m32 => Class::Undefined,
        M::Cmpsd if i.code() != Code::Cmpsd_m32_m32 => Class::Undefined,
        _ if is_string_op(m) => Class::Helper,
        M::Aaa
        | M::Aas
        | M::Daa
        | M::Das
        | M::Aam
        | M::Aad
        | M::Pushad
        | M::Popad
        | M::Pusha
        | M::Popa
        | M::Pushfd
        | M::Popfd
        | M::Pushf
        | M::Popf
        | M::Enter
        | M::Cpuid
        | M::Bound
        | M::Salc
        | M::Arpl
        | M::Lar
        | M::Lsl
        | M::Verr
        | M::Verw
        | M::Lds
        | M::Les
        | M::Lfs
        | M::Lgs
        | M::Lss => Class::Helper,
        M::Hlt
        | M::Cli
        | M::Sti
        | M::In
        | M::Out
        | M::Insb
        | M::Insw
        | M::Insd
        | M::Outsb
        | M::Outsw
        | M::Outsd
        | M::Lgdt
        | M::Lidt
        | M::Lldt
        | M::Ltr
        | M::Lmsw
        | M::Clts
        | M::Invd
        | M::Wbinvd
        | M::Invlpg
        | M::Rdmsr
        | M::Wrmsr
        | M::Rdpmc => Class::Privileged,
        _ if i.code() == Code::Mov_Sreg_rm16 || i.code() == Code::Mov_Sreg_r32m16 => Class::Helper,
        _ if i.code() == Code::Mov_rm16_Sreg || i.code() == Code::Mov_r32m16_Sreg => Class::Helper,
        _ => Class::Undefined,
    };
    // Moves to/from control and debug registers are privileged.
    if m == M::Mov {
        // MOV to/from test registers only existed on the 386/486.
        if let Code::Mov_r32_tr | Code::Mov_tr_r32 = i.code() {
            return Class::Undefined;
        }
        if let Code::Mov_r32_cr | Code::Mov_cr_r32 | Code::Mov_r32_dr | Code::Mov_dr_r32 = i.code()
        {
            return Class::Privileged;
        }
        if let Code::Mov_Sreg_rm16
        | Code::Mov_Sreg_r32m16
        | Code::Mov_rm16_Sreg
        | Code::Mov_r32m16_Sreg = i.code()
        {
            return Class::Helper;
        }
    }
    c
}

/// x87 instructions of the 387 and P6 (FCMOVcc/FCOMI) sets run on the host's x87 unit with
/// the guest's register stack loaded (the host is the same ISA, so results are bit-exact).
/// FISTTP (SSE3) and FXSAVE/FXRSTOR (FXSR) wait for the SIMD work.
pub fn is_x87(i: &Instruction) -> bool {
    use iced_x86::CpuidFeature as F;
    let f = i.cpuid_features();
    !f.is_empty()
        && f.iter()
            .any(|x| matches!(x, F::FPU | F::FPU287 | F::FPU387))
        && f.iter()
            .all(|x| matches!(x, F::FPU | F::FPU287 | F::FPU387 | F::CMOV | F::SSE3))
}

/// MOVS/STOS/LODS/CMPS/SCAS in their byte, word and dword forms.
pub fn is_string_op(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Movsb
            | M::Movsw
            | M::Movsd
            | M::Stosb
            | M::Stosw
            | M::Stosd
            | M::Lodsb
            | M::Lodsw
            | M::Lodsd
            | M::Cmpsb
            | M::Cmpsw
            | M::Cmpsd
            | M::Scasb
            | M::Scasw
            | M::Scasd
    )
}

/// MMX, SSE, SSE2, SSE3 and SSSE3 (and FXSAVE/FXRSTOR) run on the host's units with the
/// guest's XMM0-7/MXCSR loaded: the host is the same ISA, so results are bit-exact.
pub fn is_simd(i: &Instruction) -> bool {
    use iced_x86::CpuidFeature as F;
    let f = i.cpuid_features();
    !f.is_empty()
        && f.iter()
            .all(|x| matches!(x, F::MMX | F::SSE | F::SSE2 | F::SSE3 | F::SSSE3 | F::FXSR))
}

/// Every iced `Code` the translator claims to implement (decodable in 32-bit mode and not
/// classified `Undefined`). Tests measure their coverage against this list.
pub fn claimed_codes() -> Vec<Code> {
    let mut out = Vec::new();
    for c in Code::values() {
        if c == Code::INVALID {
            continue;
        }
        let mut i = Instruction::default();
        i.set_code(c);
        // Mnemonic-level classification does not depend on operands except for the codes
        // named explicitly in `classify`.
        if classify(&i) != Class::Undefined && decodable_in_32bit(c) {
            out.push(c);
        }
    }
    out
}

/// Codes the default 32-bit decoder can produce: legacy encodings, not the FWAIT-prefixed
/// pseudo-forms (FSTENV & co. decode as FWAIT + FNSTENV) and not the forms only early CPUs
/// had (POP CS, the 486-A CMPXCHG, MOV to/from test registers).
fn decodable_in_32bit(c: Code) -> bool {
    let op = c.op_code();
    let early_only = {
        let mut i = Instruction::default();
        i.set_code(c);
        i.cpuid_features()
            .iter()
            .any(|f| alloc::format!("{f:?}").ends_with("ONLY"))
    };
    op.mode32() && op.encoding() == iced_x86::EncodingKind::Legacy && !op.fwait() && !early_only
}

/// A decoded instruction and its classification.
#[derive(Clone, Copy, Debug)]
pub struct GuestInsn {
    pub insn: Instruction,
    pub class: Class,
    /// For x87 instructions, the FOP the FPU records: the low 3 bits of the escape opcode
    /// and the ModRM byte (SDM Vol. 1, 8.1.9).
    pub fop: u16,
}

/// x87 control instructions do not update the last-instruction pointers (SDM Vol. 1, 8.1.8).
pub fn is_x87_control(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Fninit
            | M::Fnclex
            | M::Fldcw
            | M::Fnstcw
            | M::Fnstsw
            | M::Fnstenv
            | M::Fldenv
            | M::Fnsave
            | M::Frstor
            | M::Wait
            // The 8087/287 leftovers are no-ops on a 387 and later, pointers untouched.
            | M::Fneni
            | M::Fndisi
            | M::Fnsetpm
    )
}

fn fop_of(bytes: &[u8]) -> u16 {
    let mut k = 0;
    while k < bytes.len()
        && matches!(
            bytes[k],
            0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65
        )
    {
        k += 1;
    }
    match (bytes.get(k), bytes.get(k + 1)) {
        (Some(&op @ 0xd8..=0xdf), Some(&modrm)) => (u16::from(op & 7) << 8) | u16::from(modrm),
        _ => 0,
    }
}

/// A decoded block: straight-line guest code ending at a control transfer, a page boundary
/// or `MAX_BLOCK_INSNS`.
pub struct DecodedBlock {
    pub start: u32,
    pub insns: Vec<GuestInsn>,
    /// Guest pages the block's bytes come from (one or two).
    pub pages: [Option<u32>; 2],
}

/// Fetch up to 16 bytes at `eip`, stopping at the first byte that cannot be fetched.
fn fetch(mem: &dyn GuestMemory, eip: u32, buf: &mut [u8; 16]) -> (usize, Option<Fault>) {
    let mut n = 0;
    while n < 16 {
        let a = eip.wrapping_add(n as u32);
        // Fetch to the end of the page in one go.
        let room = (PAGE_SIZE - (a % PAGE_SIZE)) as usize;
        let take = room.min(16 - n);
        match mem.read(GuestAddr(a), &mut buf[n..n + take], Access::Fetch) {
            Ok(()) => n += take,
            Err(f) => return (n, Some(f)),
        }
    }
    (n, None)
}

/// Decode the block at `eip`. A fetch fault on the first instruction is returned as the
/// error; a later one ends the block before the instruction it hits.
pub fn decode_block(mem: &dyn GuestMemory, eip: u32, max: usize) -> Result<DecodedBlock, Fault> {
    let mut insns = Vec::new();
    let first_page = eip >> 12;
    let mut pages = [Some(first_page), None];
    let mut pc = eip;
    loop {
        let mut buf = [0u8; 16];
        let (n, fault) = fetch(mem, pc, &mut buf);
        let mut dec = Decoder::with_ip(32, &buf[..n], u64::from(pc), DecoderOptions::NONE);
        let insn = dec.decode();
        if insn.is_invalid() && dec.last_error() == iced_x86::DecoderError::NoMoreBytes {
            // The instruction runs into bytes we may not fetch.
            let f = fault.unwrap_or(Fault::new(Vector::UD));
            if insns.is_empty() {
                return Err(f);
            }
            break;
        }
        let len = insn.len() as u32;
        let last_page = pc.wrapping_add(len - 1) >> 12;
        if last_page != first_page {
            pages[1] = Some(last_page);
        }
        let class = classify(&insn);
        let fop = fop_of(&buf[..(len as usize).min(n)]);
        insns.push(GuestInsn { insn, class, fop });
        pc = pc.wrapping_add(len);
        if class.ends_block() || insns.len() >= max || pc >> 12 != first_page {
            break;
        }
    }
    Ok(DecodedBlock {
        start: eip,
        insns,
        pages,
    })
}
