//! Random differential testing: seeded random IA-32 integer instruction sequences run
//! natively (the oracle) and translated; the results must be equal.
//!
//! - `XDBT_DIFF_SEED` (default [`DEFAULT_SEED`], printed at start) and `XDBT_DIFF_COUNT`
//!   (default 100000) choose the sequences; sequence `i` depends only on the seed and `i`, and
//!   `XDBT_DIFF_FIRST=i XDBT_DIFF_COUNT=1` replays sequence `i` alone.
//! - Sequences are 1-20 instructions (ALU in every operand form and size, shifts and
//!   rotates, multiply and divide, bit operations, cmov/setcc, xchg/xadd/cmpxchg(8b) with
//!   and without lock, push/pop, lea, movzx/movsx, bswap, shld/shrd, BCD, short string
//!   operations, forward conditional branches, bounded loops, and now and then a deliberate
//!   fault), ending with `int3`.
//! - Memory operands are `[ebp + disp]` (EBP points into the middle of the 2-page data region
//!   and is changed only by small steps) or `[ebp + index*scale + disp]` right after the
//!   index is masked; a few displacements stray past the region to raise #PF. No address
//!   can reach the oracle runner's own memory.
//! - A quarter of the sequences (chosen by the seed and index, apart from the stream that
//!   generates the rest, so the integer-only sequences are those of earlier versions) mix in
//!   x87, MMX, SSE, SSE2, SSE3 and SSSE3 instructions: any code of those extensions in any
//!   operand form ([`Gen::fp_insn`]), valid FLDCW/LDMXCSR settings, FNSTSW AX + SAHF. They
//!   start from a random FXSAVE image (`support::random_fx`: a register stack of edge values
//!   or an MMX state, XMM registers of edge values, random FCW and MXCSR), and the data
//!   around EBP holds edge values of every type (`support::edge_slot`); their memory
//!   operands are 16-byte aligned slots, now and then misaligned (#GP for aligned forms).
//!   The whole x87/MMX/SSE state is compared, empty x87 registers included.
//! - A mismatch is shrunk to a minimal sequence (items deleted one at a time while the
//!   mismatch persists) and reported with its seed and index.

mod support;

use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction, MemoryOperand, OpCodeOperandKind as K, Register};
use std::sync::OnceLock;
use support::*;
use xdbt::hosted::snippet::{Region, SnippetCase};
use xdbt::Prot;

const DEFAULT_SEED: u64 = 0x5eed_1a32_d1ff_0001;
const BATCH: usize = 2000;

/// Initial EBP: the middle of the data region.
const BASE: u32 = DATA + 0x1000;
/// The stack for random sequences: one page, ESP in its middle.
const RSTACK_LEN: usize = 0x1000;
const RSTACK_TOP: u32 = STACK + 0x800;
const RCODE_LEN: usize = 0x1000;

type AsmResult = Result<(), IcedError>;

/// A group of instructions kept together when shrinking (e.g. an index mask and the access
/// it makes safe).
type Group = Vec<Instruction>;

#[derive(Clone, Debug)]
enum Item {
    Plain(Group),
    /// `jcc over; body; over:`
    Skip {
        cc: u8,
        body: Vec<Group>,
    },
    /// `mov ecx, count; top: body; loop/loope/loopne top` (the body never writes ECX).
    Loop {
        kind: u8,
        count: u32,
        body: Vec<Group>,
    },
}

fn item_insns(it: &Item) -> usize {
    match it {
        Item::Plain(g) => g.len(),
        Item::Skip { body, .. } => 1 + body.iter().map(Vec::len).sum::<usize>(),
        Item::Loop { body, .. } => 2 + body.iter().map(Vec::len).sum::<usize>(),
    }
}

const R32W: [AsmRegister32; 6] = [eax, ebx, ecx, edx, esi, edi];
const R32R: [AsmRegister32; 8] = [eax, ebx, ecx, edx, esi, edi, ebp, esp];
const R16W: [AsmRegister16; 6] = [ax, bx, cx, dx, si, di];
const R8W: [AsmRegister8; 8] = [al, bl, cl, dl, ah, bh, ch, dh];

fn jcc(a: &mut CodeAssembler, cc: u8, l: CodeLabel) -> AsmResult {
    match cc & 15 {
        0 => a.jo(l),
        1 => a.jno(l),
        2 => a.jb(l),
        3 => a.jae(l),
        4 => a.je(l),
        5 => a.jne(l),
        6 => a.jbe(l),
        7 => a.ja(l),
        8 => a.js(l),
        9 => a.jns(l),
        10 => a.jp(l),
        11 => a.jnp(l),
        12 => a.jl(l),
        13 => a.jge(l),
        14 => a.jle(l),
        _ => a.jg(l),
    }
}

/// `a` with a LOCK prefix on its next instruction when `lock`.
fn locked(a: &mut CodeAssembler, lock: bool) -> &mut CodeAssembler {
    if lock {
        a.lock()
    } else {
        a
    }
}

/// Encode a sequence at [`CODE`], ending with `int3`.
fn assemble(seq: &[Item]) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).expect("assembler");
    let emit = |a: &mut CodeAssembler| -> AsmResult {
        for it in seq {
            match it {
                Item::Plain(g) => {
                    for i in g {
                        a.add_instruction(*i)?;
                    }
                }
                Item::Skip { cc, body } => {
                    let mut over = a.create_label();
                    jcc(a, *cc, over)?;
                    for i in body.iter().flatten() {
                        a.add_instruction(*i)?;
                    }
                    a.set_label(&mut over)?;
                }
                Item::Loop { kind, count, body } => {
                    a.mov(ecx, *count)?;
                    let mut top = a.create_label();
                    a.set_label(&mut top)?;
                    for i in body.iter().flatten() {
                        a.add_instruction(*i)?;
                    }
                    match kind {
                        0 => a.loop_(top)?,
                        1 => a.loope(top)?,
                        _ => a.loopne(top)?,
                    }
                }
            }
        }
        a.int3()
    };
    emit(&mut a).expect("assembling a random sequence");
    a.assemble(u64::from(CODE))
        .expect("assembling a random sequence")
}

/// The random generator for one sequence.
struct Gen {
    rng: Rng,
    /// Mix x87/MMX/SSE instructions in.
    fp: bool,
}

const XMM_REGS: [Register; 8] = [
    Register::XMM0,
    Register::XMM1,
    Register::XMM2,
    Register::XMM3,
    Register::XMM4,
    Register::XMM5,
    Register::XMM6,
    Register::XMM7,
];
const MM_REGS: [Register; 8] = [
    Register::MM0,
    Register::MM1,
    Register::MM2,
    Register::MM3,
    Register::MM4,
    Register::MM5,
    Register::MM6,
    Register::MM7,
];
const ST_REGS: [Register; 8] = [
    Register::ST0,
    Register::ST1,
    Register::ST2,
    Register::ST3,
    Register::ST4,
    Register::ST5,
    Register::ST6,
    Register::ST7,
];
/// General registers FP instructions may write (never ESP or EBP).
const FP_R32W: [Register; 6] = [
    Register::EAX,
    Register::EBX,
    Register::ECX,
    Register::EDX,
    Register::ESI,
    Register::EDI,
];
const FP_R32R: [Register; 8] = [
    Register::EAX,
    Register::EBX,
    Register::ECX,
    Register::EDX,
    Register::ESI,
    Register::EDI,
    Register::EBP,
    Register::ESP,
];
/// imm8 operands: shift counts, shuffle orders, compare predicates, byte offsets.
const FP_IMM8: [u32; 16] = [
    0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 0x1b, 0x4e, 0xb1, 0xff,
];

/// Every x87/MMX/SSE..SSSE3 code whose operands [`Gen::fp_insn`] can choose (all but
/// MASKMOVQ/MASKMOVDQU, whose EDI destination could reach the oracle runner's memory).
fn fp_pool() -> &'static [Code] {
    static POOL: OnceLock<Vec<Code>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut probe = Gen {
            rng: Rng::new(1),
            fp: true,
        };
        Code::values()
            .filter(|c| is_fp_code(*c))
            .filter(|c| (0..8).any(|_| probe.fp_insn(*c, false).is_some()))
            .collect()
    })
}

macro_rules! alu {
    ($a:expr, $op:expr, $d:expr, $s:expr) => {
        match $op {
            0 => $a.add($d, $s),
            1 => $a.or($d, $s),
            2 => $a.adc($d, $s),
            3 => $a.sbb($d, $s),
            4 => $a.and($d, $s),
            5 => $a.sub($d, $s),
            6 => $a.xor($d, $s),
            _ => $a.cmp($d, $s),
        }
    };
}

macro_rules! shift {
    ($a:expr, $op:expr, $d:expr, $s:expr) => {
        match $op {
            0 => $a.rol($d, $s),
            1 => $a.ror($d, $s),
            2 => $a.rcl($d, $s),
            3 => $a.rcr($d, $s),
            4 => $a.shl($d, $s),
            5 => $a.shr($d, $s),
            _ => $a.sar($d, $s),
        }
    };
}

macro_rules! unary {
    ($a:expr, $op:expr, $d:expr) => {
        match $op {
            0 => $a.inc($d),
            1 => $a.dec($d),
            2 => $a.neg($d),
            3 => $a.not($d),
            4 => $a.mul($d),
            5 => $a.imul($d),
            6 => $a.div($d),
            _ => $a.idiv($d),
        }
    };
}

macro_rules! bitop {
    ($a:expr, $op:expr, $d:expr, $s:expr) => {
        match $op {
            0 => $a.bt($d, $s),
            1 => $a.bts($d, $s),
            2 => $a.btr($d, $s),
            _ => $a.btc($d, $s),
        }
    };
}

macro_rules! cmov {
    ($a:expr, $cc:expr, $d:expr, $s:expr) => {
        match $cc & 15 {
            0 => $a.cmovo($d, $s),
            1 => $a.cmovno($d, $s),
            2 => $a.cmovb($d, $s),
            3 => $a.cmovae($d, $s),
            4 => $a.cmove($d, $s),
            5 => $a.cmovne($d, $s),
            6 => $a.cmovbe($d, $s),
            7 => $a.cmova($d, $s),
            8 => $a.cmovs($d, $s),
            9 => $a.cmovns($d, $s),
            10 => $a.cmovp($d, $s),
            11 => $a.cmovnp($d, $s),
            12 => $a.cmovl($d, $s),
            13 => $a.cmovge($d, $s),
            14 => $a.cmovle($d, $s),
            _ => $a.cmovg($d, $s),
        }
    };
}

macro_rules! setcc {
    ($a:expr, $cc:expr, $d:expr) => {
        match $cc & 15 {
            0 => $a.seto($d),
            1 => $a.setno($d),
            2 => $a.setb($d),
            3 => $a.setae($d),
            4 => $a.sete($d),
            5 => $a.setne($d),
            6 => $a.setbe($d),
            7 => $a.seta($d),
            8 => $a.sets($d),
            9 => $a.setns($d),
            10 => $a.setp($d),
            11 => $a.setnp($d),
            12 => $a.setl($d),
            13 => $a.setge($d),
            14 => $a.setle($d),
            _ => $a.setg($d),
        }
    };
}

impl Gen {
    fn below(&mut self, n: u32) -> u32 {
        self.rng.below(n)
    }
    fn chance(&mut self, num: u32, den: u32) -> bool {
        self.rng.chance(num, den)
    }
    fn imm(&mut self) -> i32 {
        self.rng.value() as i32
    }
    fn imm8(&mut self) -> i32 {
        (self.rng.value() as i8).into()
    }
    /// A writable register (never ESP/EBP; never ECX when `no_ecx`).
    fn r32(&mut self, no_ecx: bool) -> AsmRegister32 {
        loop {
            let r = *self.rng.pick(&R32W);
            if !(no_ecx && r == ecx) {
                return r;
            }
        }
    }
    fn r32_any(&mut self) -> AsmRegister32 {
        *self.rng.pick(&R32R)
    }
    fn r16(&mut self, no_ecx: bool) -> AsmRegister16 {
        loop {
            let r = *self.rng.pick(&R16W);
            if !(no_ecx && r == cx) {
                return r;
            }
        }
    }
    fn r8(&mut self, no_ecx: bool) -> AsmRegister8 {
        loop {
            let r = *self.rng.pick(&R8W);
            if !(no_ecx && (r == cl || r == ch)) {
                return r;
            }
        }
    }
    /// `[ebp + disp]`, mostly inside the data region, sometimes just outside it.
    fn mem(&mut self) -> AsmMemoryOperand {
        let d: i32 = if self.chance(1, 40) {
            // Past either end of the region (unmapped): #PF.
            let past = 0x1000 + self.below(0x400) as i32;
            if self.chance(1, 2) {
                past
            } else {
                -past - 8
            }
        } else if self.chance(1, 8) {
            // Straddling nothing, but misaligned and near the region ends.
            if self.chance(1, 2) {
                0xff8 + self.below(8) as i32 - 8
            } else {
                -0x1000 + self.below(8) as i32
            }
        } else {
            self.below(0x200) as i32 - 0x100
        };
        ebp + d
    }

    /// `[ebp + disp]` for an FP operand: a 16-byte slot of edge values around EBP, now and
    /// then misaligned, rarely past the data region.
    fn fp_mem(&mut self) -> MemoryOperand {
        let d: i32 = if self.chance(1, 60) {
            0x1000 + self.below(0x400) as i32
        } else if self.chance(1, 20) {
            self.below(0x200) as i32 - 0x100
        } else {
            self.below(0x20) as i32 * 16 - 0x100
        };
        MemoryOperand::with_base_displ(Register::EBP, i64::from(d))
    }

    /// `code` with random operands of its kinds (None if it has operands of other kinds or
    /// iced refuses the combination). Written general registers are never ESP/EBP, nor ECX
    /// when `no_ecx`.
    fn fp_insn(&mut self, code: Code, no_ecx: bool) -> Option<Instruction> {
        let mut ops: Vec<Op> = Vec::new();
        for (n, k) in code.op_code().op_kinds().iter().enumerate() {
            let write = n == 0;
            let r32 = |g: &mut Gen| -> Register {
                if write {
                    loop {
                        let r = *g.rng.pick(&FP_R32W);
                        if !(no_ecx && r == Register::ECX) {
                            return r;
                        }
                    }
                } else {
                    *g.rng.pick(&FP_R32R)
                }
            };
            let o = match k {
                K::xmm_reg | K::xmm_rm => Op::R(*self.rng.pick(&XMM_REGS)),
                K::mm_reg | K::mm_rm => Op::R(*self.rng.pick(&MM_REGS)),
                K::xmm_or_mem if self.chance(2, 3) => Op::R(*self.rng.pick(&XMM_REGS)),
                K::mm_or_mem if self.chance(2, 3) => Op::R(*self.rng.pick(&MM_REGS)),
                K::r32_reg | K::r32_rm => Op::R(r32(self)),
                K::r32_or_mem if self.chance(1, 2) => Op::R(r32(self)),
                K::xmm_or_mem | K::mm_or_mem | K::r32_or_mem | K::mem => Op::M(self.fp_mem()),
                K::st0 => Op::R(Register::ST0),
                K::sti_opcode => Op::R(*self.rng.pick(&ST_REGS)),
                K::ax => Op::R(Register::AX),
                K::imm8 => Op::I(*self.rng.pick(&FP_IMM8)),
                K::None => continue,
                _ => return None,
            };
            ops.push(o);
        }
        make(code, &ops)
    }

    /// One x87/MMX/SSE instruction, or a group setting FCW or MXCSR to a valid random value,
    /// or moving x87 condition codes to EFLAGS.
    fn fp_one(&mut self, a: &mut CodeAssembler, no_ecx: bool) -> AsmResult {
        match self.below(20) {
            0 => {
                let d = self.below(0x20) as i32 * 16 - 0x100;
                let v = u32::from(fcw_value(&mut self.rng));
                a.mov(word_ptr(ebp + d), v)?;
                a.fldcw(word_ptr(ebp + d))
            }
            1 => {
                let d = self.below(0x20) as i32 * 16 - 0x100;
                let v = mxcsr_value(&mut self.rng);
                a.mov(dword_ptr(ebp + d), v)?;
                a.ldmxcsr(dword_ptr(ebp + d))
            }
            2 => {
                a.fnstsw(ax)?;
                a.sahf()
            }
            _ => loop {
                let code = *self.rng.pick(fp_pool());
                if let Some(i) = self.fp_insn(code, no_ecx) {
                    return a.add_instruction(i);
                }
            },
        }
    }

    /// One group (1-3 instructions).
    fn group(&mut self, no_ecx: bool) -> Group {
        let mut a = CodeAssembler::new(32).expect("assembler");
        // A kind that cannot be generated here (ECX restrictions) just tries again.
        loop {
            if self.one(&mut a, no_ecx).is_ok() && !a.instructions().is_empty() {
                return a.take_instructions();
            }
            a = CodeAssembler::new(32).expect("assembler");
        }
    }

    fn one(&mut self, a: &mut CodeAssembler, no_ecx: bool) -> AsmResult {
        if self.fp && self.chance(1, 2) {
            return self.fp_one(a, no_ecx);
        }
        let kind = self.below(100);
        match kind {
            // ALU, all sizes and forms.
            0..=24 => {
                let op = self.below(8);
                match self.below(3) {
                    0 => {
                        let d = self.r32(no_ecx);
                        match self.below(5) {
                            0 => {
                                let s = self.r32_any();
                                alu!(a, op, d, s)
                            }
                            1 => {
                                let i = self.imm();
                                alu!(a, op, d, i)
                            }
                            2 => {
                                let i = self.imm8();
                                alu!(a, op, d, i)
                            }
                            3 => {
                                let m = dword_ptr(self.mem());
                                alu!(a, op, d, m)
                            }
                            _ => {
                                let m = dword_ptr(self.mem());
                                if self.chance(1, 2) {
                                    let s = self.r32_any();
                                    let l = self.chance(1, 6) && op != 7;
                                    alu!(locked(a, l), op, m, s)
                                } else {
                                    let i = self.imm();
                                    alu!(a, op, m, i)
                                }
                            }
                        }
                    }
                    1 => {
                        let d = self.r16(no_ecx);
                        match self.below(4) {
                            0 => {
                                let s = *self.rng.pick(&R16W);
                                alu!(a, op, d, s)
                            }
                            1 => {
                                let i = self.imm() & 0xffff;
                                alu!(a, op, d, i)
                            }
                            2 => {
                                let m = word_ptr(self.mem());
                                alu!(a, op, d, m)
                            }
                            _ => {
                                let m = word_ptr(self.mem());
                                let s = *self.rng.pick(&R16W);
                                alu!(a, op, m, s)
                            }
                        }
                    }
                    _ => {
                        let d = self.r8(no_ecx);
                        match self.below(5) {
                            0 => {
                                let s = *self.rng.pick(&R8W);
                                alu!(a, op, d, s)
                            }
                            1 => {
                                let i = self.imm() & 0xff;
                                alu!(a, op, d, i)
                            }
                            2 => {
                                let m = byte_ptr(self.mem());
                                alu!(a, op, d, m)
                            }
                            3 => {
                                let m = byte_ptr(self.mem());
                                let i = self.imm() & 0xff;
                                alu!(a, op, m, i)
                            }
                            _ => {
                                let m = byte_ptr(self.mem());
                                let s = *self.rng.pick(&R8W);
                                alu!(a, op, m, s)
                            }
                        }
                    }
                }
            }
            25..=27 => {
                // test and mov.
                match self.below(6) {
                    0 => {
                        let (d, s) = (self.r32_any(), self.r32_any());
                        a.test(d, s)
                    }
                    1 => {
                        let (m, s) = (dword_ptr(self.mem()), self.r32_any());
                        a.test(m, s)
                    }
                    2 => {
                        let (d, i) = (self.r8(false), self.imm() & 0xff);
                        a.test(d, i)
                    }
                    3 => {
                        let (d, i) = (self.r32(no_ecx), self.imm());
                        a.mov(d, i)
                    }
                    4 => {
                        let (d, m) = (self.r32(no_ecx), dword_ptr(self.mem()));
                        a.mov(d, m)
                    }
                    _ => {
                        let (m, s) = (word_ptr(self.mem()), *self.rng.pick(&R16W));
                        a.mov(m, s)
                    }
                }
            }
            // Shifts and rotates by 1, imm8, CL.
            28..=35 => {
                let op = self.below(7);
                let count = *self.rng.pick(&[0u32, 1, 2, 3, 7, 8, 15, 16, 31, 32, 33]);
                match self.below(6) {
                    0 => {
                        let d = self.r32(no_ecx);
                        shift!(a, op, d, count)
                    }
                    1 => {
                        let d = self.r32(no_ecx);
                        shift!(a, op, d, cl)
                    }
                    2 => {
                        let d = self.r8(no_ecx);
                        shift!(a, op, d, cl)
                    }
                    3 => {
                        let d = self.r16(no_ecx);
                        shift!(a, op, d, count)
                    }
                    4 => {
                        let m = dword_ptr(self.mem());
                        shift!(a, op, m, cl)
                    }
                    _ => {
                        let m = byte_ptr(self.mem());
                        shift!(a, op, m, count)
                    }
                }
            }
            // inc/dec/neg/not/mul/imul/div/idiv (#DE now and then).
            36..=43 => {
                // mul..idiv write EAX/EDX only, so their operand may be any register.
                let op = self.below(8);
                match self.below(4) {
                    0 => {
                        let d = if op >= 4 {
                            self.r32_any()
                        } else {
                            self.r32(no_ecx)
                        };
                        unary!(a, op, d)
                    }
                    1 => {
                        let d = if op >= 4 {
                            *self.rng.pick(&R8W)
                        } else {
                            self.r8(no_ecx)
                        };
                        unary!(a, op, d)
                    }
                    2 => {
                        let d = if op >= 4 {
                            *self.rng.pick(&R16W)
                        } else {
                            self.r16(no_ecx)
                        };
                        unary!(a, op, d)
                    }
                    _ => {
                        let m = if self.chance(1, 2) {
                            dword_ptr(self.mem())
                        } else {
                            byte_ptr(self.mem())
                        };
                        let l = op < 4 && self.chance(1, 5);
                        unary!(locked(a, l), op, m)
                    }
                }
            }
            44..=46 => {
                // Two- and three-operand imul.
                let d = self.r32(no_ecx);
                match self.below(3) {
                    0 => {
                        let s = self.r32_any();
                        a.imul_2(d, s)
                    }
                    1 => {
                        let m = dword_ptr(self.mem());
                        a.imul_2(d, m)
                    }
                    _ => {
                        let (s, i) = (self.r32_any(), self.imm());
                        a.imul_3(d, s, i)
                    }
                }
            }
            // Bit operations; a register bit offset into memory is masked first.
            47..=51 => {
                let op = self.below(4);
                match self.below(5) {
                    0 => {
                        let (d, s) = (self.r32(no_ecx), self.r32_any());
                        bitop!(a, op, d, s)
                    }
                    1 => {
                        let (d, i) = (self.r16(no_ecx), self.imm() & 0xff);
                        bitop!(a, op, d, i)
                    }
                    2 => {
                        let (m, i) = (dword_ptr(self.mem()), self.imm() & 0xff);
                        let l = op > 0 && self.chance(1, 4);
                        bitop!(locked(a, l), op, m, i)
                    }
                    3 => {
                        // Signed offsets of up to +-0x3ff bits.
                        let r = self.r32(no_ecx);
                        a.and(r, 0x7ff)?;
                        a.sub(r, 0x400)?;
                        let m = dword_ptr(self.mem());
                        bitop!(a, op, m, r)
                    }
                    _ => {
                        let d = self.r32(no_ecx);
                        let forward = self.chance(1, 2);
                        if self.chance(1, 2) {
                            let s = self.r32_any();
                            if forward {
                                a.bsf(d, s)
                            } else {
                                a.bsr(d, s)
                            }
                        } else {
                            let m = dword_ptr(self.mem());
                            if forward {
                                a.bsf(d, m)
                            } else {
                                a.bsr(d, m)
                            }
                        }
                    }
                }
            }
            52..=55 => {
                let cc = self.below(16);
                match self.below(4) {
                    0 => {
                        let (d, s) = (self.r32(no_ecx), self.r32_any());
                        cmov!(a, cc, d, s)
                    }
                    1 => {
                        let (d, m) = (self.r32(no_ecx), dword_ptr(self.mem()));
                        cmov!(a, cc, d, m)
                    }
                    2 => {
                        let d = self.r8(no_ecx);
                        setcc!(a, cc, d)
                    }
                    _ => {
                        let m = byte_ptr(self.mem());
                        setcc!(a, cc, m)
                    }
                }
            }
            // xchg/xadd/cmpxchg/cmpxchg8b, locked sometimes.
            56..=60 => {
                let lock = self.chance(1, 3);
                match self.below(6) {
                    0 => {
                        let (d, s) = (self.r32(no_ecx), self.r32(no_ecx));
                        a.xchg(d, s)
                    }
                    1 => {
                        let (m, s) = (dword_ptr(self.mem()), self.r32(no_ecx));
                        locked(a, lock).xchg(m, s)
                    }
                    2 => {
                        let (m, s) = (byte_ptr(self.mem()), self.r8(no_ecx));
                        locked(a, lock).xadd(m, s)
                    }
                    3 => {
                        let (d, s) = (self.r32(no_ecx), self.r32(no_ecx));
                        a.xadd(d, s)
                    }
                    4 => {
                        let m = dword_ptr(self.mem());
                        let s = self.r32_any();
                        if self.chance(1, 2) {
                            // Make the comparison succeed sometimes.
                            a.mov(eax, m)?;
                        }
                        locked(a, lock).cmpxchg(m, s)
                    }
                    _ => {
                        let m = self.mem();
                        if self.chance(1, 2) {
                            // Make the comparison succeed (when EDX is not written here).
                            a.mov(eax, dword_ptr(m))?;
                            a.mov(edx, dword_ptr(m + 4))?;
                        }
                        locked(a, lock).cmpxchg8b(qword_ptr(m))
                    }
                }
            }
            // push/pop.
            61..=66 => match self.below(7) {
                0 => {
                    let r = self.r32_any();
                    a.push(r)
                }
                1 => {
                    let i = self.imm();
                    a.push(i)
                }
                2 => {
                    let m = dword_ptr(self.mem());
                    a.push(m)
                }
                3 => {
                    let r = self.r32(no_ecx);
                    a.pop(r)
                }
                4 => {
                    let m = dword_ptr(self.mem());
                    a.pop(m)
                }
                5 => {
                    let r = self.r16(no_ecx);
                    a.push(r)?;
                    let r = self.r16(no_ecx);
                    a.pop(r)
                }
                _ => {
                    if self.chance(1, 2) {
                        // Flip some status flags (and DF) through the stack: pushfd; xor; popfd.
                        let mask =
                            (self.rng.u32() & STATUS) | if self.chance(1, 4) { DF } else { 0 };
                        a.pushfd()?;
                        a.xor(dword_ptr(esp), mask)?;
                        a.popfd()
                    } else if self.chance(1, 2) {
                        a.pushfd()
                    } else if no_ecx {
                        a.pushad()
                    } else {
                        a.pushad()?;
                        a.popad()
                    }
                }
            },
            // lea, movzx/movsx, bswap, cbw..cdq, lahf/sahf, clc/stc/cmc.
            67..=74 => match self.below(9) {
                0 => {
                    let d = self.r32(no_ecx);
                    let (b, i) = (self.r32_any(), self.r32_any());
                    let s = *self.rng.pick(&[1, 2, 4, 8]);
                    let disp = self.imm();
                    if i == esp {
                        a.lea(d, dword_ptr(b + disp))
                    } else {
                        a.lea(d, dword_ptr(b + i * s + disp))
                    }
                }
                1 => {
                    let (d, s) = (self.r32(no_ecx), *self.rng.pick(&R8W));
                    if self.chance(1, 2) {
                        a.movzx(d, s)
                    } else {
                        a.movsx(d, s)
                    }
                }
                2 => {
                    let d = self.r32(no_ecx);
                    let m = word_ptr(self.mem());
                    if self.chance(1, 2) {
                        a.movzx(d, m)
                    } else {
                        a.movsx(d, m)
                    }
                }
                3 => {
                    let d = self.r32(no_ecx);
                    a.bswap(d)
                }
                4 => match self.below(4) {
                    0 => a.cbw(),
                    1 => a.cwde(),
                    2 => a.cwd(),
                    _ => a.cdq(),
                },
                5 => {
                    if self.chance(1, 2) {
                        a.lahf()
                    } else {
                        a.sahf()
                    }
                }
                6 => match self.below(3) {
                    0 => a.clc(),
                    1 => a.stc(),
                    _ => a.cmc(),
                },
                7 => {
                    // Shift the data pointer a little (still around the data region).
                    let step = self.below(0x100) as i32 - 0x80;
                    a.lea(ebp, dword_ptr(ebp + step))
                }
                _ => {
                    let (m, d) = (dword_ptr(self.mem()), self.r32(no_ecx));
                    a.xchg(m, d)
                }
            },
            // shld/shrd.
            75..=77 => {
                let d = self.r32(no_ecx);
                let s = self.r32_any();
                let count = *self.rng.pick(&[0u32, 1, 4, 16, 31, 32]);
                match self.below(4) {
                    0 => a.shld(d, s, count),
                    1 => a.shrd(d, s, cl),
                    2 => a.shld(dword_ptr(self.mem()), s, cl),
                    _ => {
                        let s16 = *self.rng.pick(&R16W);
                        a.shrd(word_ptr(self.mem()), s16, count)
                    }
                }
            }
            // BCD. The SDM leaves some of their flags undefined and the translator's helpers
            // do not reproduce this CPU there (see the bcd table), so a flag-defining
            // `add edx, 0` follows; the table compares their flags where defined.
            78..=80 => {
                match self.below(6) {
                    0 => a.daa()?,
                    1 => a.das()?,
                    2 => a.aaa()?,
                    3 => a.aas()?,
                    4 => a.aam(*self.rng.pick(&[10, 16, 7, 0]))?,
                    _ => a.aad(*self.rng.pick(&[10, 16, 0]))?,
                }
                a.add(edx, 0)
            }
            // String operations with small counts.
            81..=85 => {
                if no_ecx {
                    // String operations use ECX: not in loop bodies.
                    return Ok(());
                }
                let s = self.below(0x100) as i32;
                let d = self.below(0x100) as i32 + 0x100;
                a.lea(esi, dword_ptr(ebp + s))?;
                a.lea(edi, dword_ptr(ebp + d))?;
                a.mov(ecx, self.below(6))?;
                match self.below(3) {
                    0 => a.cld()?,
                    1 => a.std()?,
                    _ => {}
                }
                let k = self.below(15);
                let rep = self.below(3);
                macro_rules! str_op {
                    ($f:ident) => {{
                        match rep {
                            0 => a.$f(),
                            1 => a.rep().$f(),
                            _ => a.repne().$f(),
                        }
                    }};
                }
                macro_rules! cmp_op {
                    ($f:ident) => {{
                        match rep {
                            0 => a.$f(),
                            1 => a.repe().$f(),
                            _ => a.repne().$f(),
                        }
                    }};
                }
                match k {
                    0 => str_op!(movsb),
                    1 => str_op!(movsw),
                    2 => str_op!(movsd),
                    3 => str_op!(stosb),
                    4 => str_op!(stosw),
                    5 => str_op!(stosd),
                    6 => str_op!(lodsb),
                    7 => str_op!(lodsw),
                    8 => str_op!(lodsd),
                    9 => cmp_op!(cmpsb),
                    10 => cmp_op!(cmpsw),
                    11 => cmp_op!(cmpsd),
                    12 => cmp_op!(scasb),
                    13 => cmp_op!(scasw),
                    _ => cmp_op!(scasd),
                }
            }
            86..=87 => {
                // xlat with EBX pointing at the data.
                let d = self.below(0x100) as i32 - 0x80;
                a.lea(ebx, dword_ptr(ebp + d))?;
                a.xlatb()
            }
            88..=89 => {
                // Deliberate faults.
                match self.below(5) {
                    0 => a.mov(eax, dword_ptr(ebp + 0x3000)),
                    1 => a.ud2(),
                    2 => {
                        a.xor(edx, edx)?;
                        let r = if no_ecx { ebx } else { ecx };
                        a.mov(r, 0)?;
                        a.div(r)
                    }
                    3 => a.into(),
                    _ => a.mov(dword_ptr(ebp - 0x2000), eax),
                }
            }
            _ => {
                // A mov from/to a segment register read back into a GPR.
                match self.below(3) {
                    0 => a.mov(self.r32(no_ecx), ds),
                    1 => a.nop(),
                    _ => a.mov(self.r16(no_ecx), ss),
                }
            }
        }
    }

    /// A whole sequence of 1-20 instructions.
    fn sequence(&mut self) -> Vec<Item> {
        let target = 1 + self.below(20) as usize;
        let mut items: Vec<Item> = Vec::new();
        let mut n = 0;
        while n < target {
            let it = match self.below(20) {
                0..=1 => {
                    let body = (0..1 + self.below(3)).map(|_| self.group(false)).collect();
                    Item::Skip {
                        cc: self.below(16) as u8,
                        body,
                    }
                }
                2 => {
                    let body = (0..1 + self.below(3)).map(|_| self.group(true)).collect();
                    Item::Loop {
                        kind: self.below(3) as u8,
                        count: 1 + self.below(5),
                        body,
                    }
                }
                _ => Item::Plain(self.group(false)),
            };
            if n > 0 && n + item_insns(&it) > 20 {
                break;
            }
            n += item_insns(&it);
            items.push(it);
        }
        items
    }

    /// The initial state: random registers (EBP and ESP fixed), flags and data.
    fn case(&mut self, seq: &[Item]) -> SnippetCase {
        let mut regs = [0u32; 8];
        for r in &mut regs {
            *r = self.rng.value();
        }
        regs[ESP] = RSTACK_TOP;
        regs[EBP] = BASE;
        let eflags = self.rng.flags(true);
        let mut data = vec![0u8; DATA_LEN];
        for w in data.chunks_mut(8) {
            let v = if self.chance(1, 4) {
                u64::from(self.rng.value())
            } else {
                self.rng.next_u64()
            };
            w.copy_from_slice(&v.to_le_bytes());
        }
        let mut stack = vec![0u8; RSTACK_LEN];
        for w in stack.chunks_mut(8) {
            w.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let mut fx = None;
        if self.fp {
            // Edge values of every type where FP operands point.
            let base = (BASE - DATA) as usize;
            for slot in data[base - 0x110..base + 0x110].chunks_mut(16) {
                slot.copy_from_slice(&edge_slot(&mut self.rng));
            }
            fx = Some(random_fx(&mut self.rng).0);
        }
        build_case(seq, regs, eflags, data, stack, fx)
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    R(Register),
    M(MemoryOperand),
    I(u32),
}

fn make(code: Code, ops: &[Op]) -> Option<Instruction> {
    use Op::*;
    let r = match *ops {
        [] => Ok(Instruction::with(code)),
        [R(a)] => Instruction::with1(code, a),
        [M(a)] => Instruction::with1(code, a),
        [R(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), M(b)] => Instruction::with2(code, a, b),
        [M(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), I(b)] => Instruction::with2(code, a, b),
        [R(a), R(b), I(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), I(c)] => Instruction::with3(code, a, b, c),
        _ => return None,
    };
    let i = r.ok()?;
    // Only what encodes and decodes back to the same code.
    let mut e = iced_x86::Encoder::new(32);
    e.encode(&i, u64::from(CODE)).ok()?;
    let back = decode(&e.take_buffer(), CODE);
    (back.len() == 1 && back[0].code() == code).then_some(i)
}

fn build_case(
    seq: &[Item],
    regs: [u32; 8],
    eflags: u32,
    data: Vec<u8>,
    stack: Vec<u8>,
    fx: Option<Vec<u8>>,
) -> SnippetCase {
    let code = assemble(seq);
    assert!(code.len() <= RCODE_LEN);
    let mut c = vec![0xccu8; RCODE_LEN];
    c[..code.len()].copy_from_slice(&code);
    SnippetCase {
        regs,
        eflags,
        entry: CODE,
        regions: vec![
            Region {
                addr: CODE,
                prot: Prot::RX,
                data: c,
            },
            Region {
                addr: DATA,
                prot: Prot::RW,
                data,
            },
            Region {
                addr: STACK,
                prot: Prot::RW,
                data: stack,
            },
        ],
        fx,
    }
}

/// Sequence `index` of `seed`, with its case.
fn generate(seed: u64, index: u64) -> (Vec<Item>, SnippetCase) {
    // Whether x87/SSE code is mixed in comes from its own stream.
    let fp = Rng::new(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ 0xf10a7).chance(1, 4);
    let mut g = Gen {
        rng: Rng::new(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        fp,
    };
    let seq = g.sequence();
    let case = g.case(&seq);
    (seq, case)
}

/// The same initial state with another sequence.
fn with_seq(case: &SnippetCase, seq: &[Item]) -> SnippetCase {
    build_case(
        seq,
        case.regs,
        case.eflags,
        case.regions[1].data.clone(),
        case.regions[2].data.clone(),
        case.fx.clone(),
    )
}

/// What is compared: everything, the contents of empty x87 registers too.
const CHECK: Check = Check {
    allowed_flags: 0,
    empty_st: true,
};

fn mismatch(sides: &mut Sides, case: &SnippetCase) -> Option<String> {
    let out = sides
        .run(std::slice::from_ref(case))
        .pop()
        .expect("one outcome");
    out.check_with(case, &CHECK).err()
}

/// Delete items (and groups inside branch and loop bodies, and the branches and loops
/// themselves) one at a time while the mismatch persists.
fn shrink(sides: &mut Sides, case: &SnippetCase, mut seq: Vec<Item>) -> (Vec<Item>, String) {
    let mut last = mismatch(sides, &with_seq(case, &seq)).unwrap_or_default();
    let mut progress = true;
    while progress {
        progress = false;
        let mut i = 0;
        while i < seq.len() {
            let mut candidates = Vec::new();
            let mut without = seq.clone();
            without.remove(i);
            candidates.push(without);
            match &seq[i] {
                Item::Skip { body, .. } | Item::Loop { body, .. } => {
                    // The body without its branch or loop.
                    let mut flat = seq.clone();
                    flat.splice(i..=i, body.iter().cloned().map(Item::Plain));
                    candidates.push(flat);
                    for k in 0..body.len() {
                        let mut s = seq.clone();
                        if let Item::Skip { body, .. } | Item::Loop { body, .. } = &mut s[i] {
                            body.remove(k);
                        }
                        candidates.push(s);
                    }
                }
                Item::Plain(_) => {}
            }
            let mut taken = false;
            for cand in candidates {
                if let Some(m) = mismatch(sides, &with_seq(case, &cand)) {
                    seq = cand;
                    last = m;
                    taken = true;
                    progress = true;
                    break;
                }
            }
            if !taken {
                i += 1;
            }
        }
    }
    (seq, last)
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = if let Some(h) = v.strip_prefix("0x") {
                u64::from_str_radix(h, 16)
            } else {
                v.parse()
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        }
        Err(_) => default,
    }
}

/// At most this many mismatches are shrunk and reported (the rest are counted), and at most
/// [`SHRUNK_PER_KIND`] of each [`mismatch_kind`].
const MAX_SHRUNK: usize = 100;
const SHRUNK_PER_KIND: usize = 4;

/// A coarse description of what differs: the kind of sequence, the stops, and which parts
/// of the state (general registers, EIP, flags, x87 control, stack, pointers, XMM, memory).
fn mismatch_kind(case: &SnippetCase, out: &Outcome) -> String {
    let fp = if case.fx.is_some() {
        "x87/SSE"
    } else {
        "integer"
    };
    let Ok(n) = &out.native else {
        return format!("{fp} sequence: native error");
    };
    let mut what: Vec<&str> = diff_with(case, n, &out.translated, &CHECK)
        .iter()
        .map(|l| match l.split_whitespace().next().unwrap_or("") {
            w if w.starts_with("st") && w.contains('/') => "st",
            w if w.starts_with("xmm") => "xmm",
            "eax" | "ecx" | "edx" | "ebx" | "esp" | "ebp" | "esi" | "edi" => "gpr",
            "stop" => "",
            "eflags" => "eflags",
            "eip" => "eip",
            "fcw" => "fcw",
            "fsw" => "fsw",
            "ftw" => "ftw",
            "mxcsr" => "mxcsr",
            "fpuptr" => "fpuptr",
            _ => "mem",
        })
        .filter(|w| !w.is_empty())
        .collect();
    what.sort_unstable();
    what.dedup();
    let stop = if n.stop.vector == out.translated.stop.vector {
        String::new()
    } else {
        format!(
            "stop native #{} translated #{}; ",
            n.stop.vector, out.translated.stop.vector
        )
    };
    format!("{fp} sequence: {stop}{}", what.join(","))
}

#[test]
fn random_sequences() {
    let seed = env_u64("XDBT_DIFF_SEED", DEFAULT_SEED);
    let count = env_u64("XDBT_DIFF_COUNT", 100_000);
    let first = env_u64("XDBT_DIFF_FIRST", 0);
    println!(
        "diff_random: XDBT_DIFF_SEED={seed:#x} XDBT_DIFF_FIRST={first} XDBT_DIFF_COUNT={count}"
    );
    let start = std::time::Instant::now();
    let mut sides = Sides::new();
    // Distinct shrunk reproducers (by their instruction codes), with how often each came up.
    let mut reports: Vec<(Vec<iced_x86::Code>, String, usize)> = Vec::new();
    let mut mismatches = 0usize;
    let mut fp_sequences = 0usize;
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    let mut shrunk = 0usize;
    let mut stops = [0usize; 256];
    let mut index = first;
    let end = first + count;
    while index < end {
        let n = (end - index).min(BATCH as u64);
        let batch: Vec<(Vec<Item>, SnippetCase)> =
            (index..index + n).map(|i| generate(seed, i)).collect();
        let cases: Vec<SnippetCase> = batch.iter().map(|(_, c)| c.clone()).collect();
        let outcomes = sides.run(&cases);
        for (k, ((seq, case), out)) in batch.into_iter().zip(outcomes).enumerate() {
            if let Ok(n) = &out.native {
                stops[usize::from(n.stop.vector)] += 1;
            }
            fp_sequences += usize::from(case.fx.is_some());
            if out.check_with(&case, &CHECK).is_ok() {
                continue;
            }
            mismatches += 1;
            let kind = mismatch_kind(&case, &out);
            let seen = kinds.entry(kind).or_default();
            *seen += 1;
            // Shrink the first few of each kind, so that rare kinds get reported too.
            if *seen > SHRUNK_PER_KIND || shrunk == MAX_SHRUNK {
                continue;
            }
            shrunk += 1;
            let i = index + k as u64;
            let (small, report) = shrink(&mut sides, &case, seq);
            let key = codes(&assemble(&small), CODE);
            if let Some(r) = reports.iter_mut().find(|r| r.0 == key) {
                r.2 += 1;
                continue;
            }
            reports.push((
                key,
                format!(
                    "sequence {i} (replay: XDBT_DIFF_SEED={seed:#x} XDBT_DIFF_FIRST={i} XDBT_DIFF_COUNT=1), \
                     shrunk to {} instructions:\n{report}",
                    small.iter().map(item_insns).sum::<usize>()
                ),
                1,
            ));
        }
        index += n;
    }
    let secs = start.elapsed().as_secs_f64();
    let ran = index - first;
    let stop_summary: Vec<String> = stops
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(v, n)| format!("#{v}:{n}"))
        .collect();
    println!(
        "diff_random: {ran} sequences ({fp_sequences} with x87/SSE code) in {secs:.1} s ({:.0}/s), native stops by vector {}, {mismatches} mismatches",
        ran as f64 / secs,
        stop_summary.join(" "),
    );
    let text: Vec<String> = reports
        .iter()
        .map(|(_, r, n)| format!("[{n} of the {shrunk} shrunk mismatches]\n{r}"))
        .collect();
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("  {n:6} x {k}"))
        .collect();
    assert!(
        mismatches == 0,
        "{mismatches} of {ran} sequences differ; {} distinct shrunk reproducers:\n{}\nall mismatches by what differs:\n{}",
        reports.len(),
        text.join("\n"),
        kinds.join("\n")
    );
}
