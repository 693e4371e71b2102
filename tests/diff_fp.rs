//! Floating-point and SIMD instruction tests as data, with the host CPU as the oracle (the
//! method of `diff_table.rs`): the x87 (SDM Vol. 1 ch. 8), MMX (ch. 9), SSE/SSE2/SSE3/SSSE3
//! (ch. 10-12) and FXSAVE/FXRSTOR. Every row runs natively and translated and the whole
//! state must be equal, including the x87/MMX/SSE state of the FXSAVE images
//! (`support::diff_fp`: FCW, FSW, FTW, MXCSR, every ST/MM register, empty ones too, and
//! XMM0-7; the x87 pointers where the host stores them).
//!
//! Rows start from an FXSAVE image ([`Setup::fx`]), so edge values need no loading code:
//! the register stack, MMX and XMM registers, FCW, FSW and MXCSR come from the image, and
//! memory operands hold values of the operand's type (see [`fill_mem`]). The tables:
//! - a sweep over every x87/MMX/SSE..SSSE3 code in every operand form (registers and three
//!   addressing modes), with random edge-value states ([`sweep`]);
//! - x87: crosses of [`F80_EDGES`] (NaNs quiet and signalling, denormals, pseudo-denormals,
//!   unnormals, pseudo-NaN/infinity, infinities, signed zeros, largest/smallest) through the
//!   arithmetic, transcendental, compare and store operations under every precision and
//!   rounding control, BCD loads and stores, stack overflow and underflow, and unmasked
//!   exceptions raising #MF at the next waiting instruction;
//! - MMX: the x87 aliasing (TOP, tags, exponents) and EMMS;
//! - SSE: every MXCSR rounding mode with DAZ/FTZ, unmasked exceptions (#XM), LDMXCSR reserved
//!   bits (#GP), aligned forms at misaligned addresses (#GP), page-crossing accesses (#PF),
//!   non-temporal stores, MASKMOVQ/MASKMOVDQU, FXSAVE/FXRSTOR images.
//!
//! `coverage` prints how many of the x87/MMX/SSE..SSSE3 codes the translator claims the
//! tables exercise (and how many 32-bit codes those extensions have) and asserts >= 95%.
//! `XDBT_TABLE_SHOW=<text>` selects the mismatch reports shown by their summary line.

mod support;

use iced_x86::{
    Code, CpuidFeature, Encoder, Instruction, MemoryOperand, MemorySize, Mnemonic,
    OpCodeOperandKind as K, Register,
};
use std::collections::{BTreeMap, BTreeSet};
use support::*;
use xdbt::hosted::snippet::{SnippetCase, SnippetResult};

// ---------------------------------------------------------------------------------------
// Rows and how they run.

/// A hand-typed expectation about the native result (a sanity check of the oracle).
#[derive(Clone, Debug)]
enum Expect {
    /// Vector of the stop.
    Stop(u8),
    /// ST(i) after the case.
    St(usize, F80),
    /// (mask, value) of FSW.
    Fsw(u16, u16),
    Mxcsr(u32),
    /// XMMi after the case.
    Xmm(usize, u128),
    /// Bytes at an address of the data region.
    Mem(u32, Vec<u8>),
}

#[derive(Clone, Debug)]
struct Row {
    code: Vec<u8>,
    setup: Setup,
    check: Check,
    expect: Vec<Expect>,
}

impl Row {
    fn new(code: Vec<u8>, setup: Setup) -> Row {
        Row {
            code,
            setup,
            check: Check {
                empty_st: true,
                ..Check::default()
            },
            expect: Vec::new(),
        }
    }
    fn expect(mut self, e: Expect) -> Row {
        self.expect.push(e);
        self
    }
}

fn check_expect(e: &Expect, n: &SnippetResult) -> bool {
    match e {
        Expect::Stop(v) => n.stop.vector == *v,
        Expect::St(i, v) => fx_st(&n.fx, *i) == *v,
        Expect::Fsw(m, v) => fx_u16(&n.fx, fxo::FSW) & m == *v,
        Expect::Mxcsr(v) => fx_u32(&n.fx, fxo::MXCSR) == *v,
        Expect::Xmm(i, v) => fx_xmm(&n.fx, *i) == *v,
        Expect::Mem(a, bytes) => {
            let off = (a - DATA) as usize;
            n.regions[1][off..off + bytes.len()] == bytes[..]
        }
    }
}

/// One line for grouping mismatches: the row's instructions and what differs.
fn summary_line(row: &Row, out: &Outcome, case: &SnippetCase) -> String {
    let mut f = iced_x86::IntelFormatter::new();
    let mut text = Vec::new();
    for i in decode(&row.code, row.setup.entry()) {
        if i.code() == Code::Int3 {
            break;
        }
        let mut t = String::new();
        iced_x86::Formatter::format(&mut f, &i, &mut t);
        text.push(t);
    }
    let what = match &out.native {
        Ok(n) => {
            let d = diff_with(case, n, &out.translated, &row.check);
            let mut parts: Vec<String> = d
                .iter()
                .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
                .collect();
            parts.dedup();
            if n.stop != out.translated.stop {
                parts.push(format!(
                    "(native v{} / translated v{})",
                    n.stop.vector, out.translated.stop.vector
                ));
            }
            parts.join(",")
        }
        Err(e) => format!("native error: {e}"),
    };
    format!("{} :: {what}", text.join("; "))
}

/// Run the rows of a family on both sides and fail with a report of the mismatches.
fn run_rows(family: &str, rows: Vec<Row>) {
    let mut sides = Sides::new();
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    let mut expect_failures = Vec::new();
    let mut stops: BTreeMap<u8, usize> = BTreeMap::new();
    for chunk in rows.chunks(2048) {
        let cases: Vec<SnippetCase> = chunk.iter().map(|r| r.setup.case(&r.code)).collect();
        let outcomes = sides.run(&cases);
        for ((row, case), out) in chunk.iter().zip(&cases).zip(outcomes) {
            if let Ok(n) = &out.native {
                *stops.entry(n.stop.vector).or_default() += 1;
                for e in &row.expect {
                    if !check_expect(e, n) {
                        expect_failures.push(format!(
                            "native result does not meet hand-typed {e:x?}: stop {:?} fsw {} st0 {} xmm0 {:#x} mxcsr {:#x}\n{}",
                            n.stop,
                            fsw_string(fx_u16(&n.fx, fxo::FSW)),
                            fx_st(&n.fx, 0).describe(),
                            fx_xmm(&n.fx, 0),
                            fx_u32(&n.fx, fxo::MXCSR),
                            disassemble(case, &[])
                        ));
                    }
                }
            }
            if let Err(report) = out.check_with(case, &row.check) {
                summary.push(summary_line(row, &out, case));
                failures.push(report);
            }
        }
    }
    let stops: Vec<String> = stops.iter().map(|(v, n)| format!("#{v}:{n}")).collect();
    println!(
        "{family}: {} rows, {} mismatches; native stops by vector {}",
        rows.len(),
        failures.len(),
        stops.join(" ")
    );
    assert!(
        expect_failures.is_empty(),
        "{family}: oracle sanity checks failed:\n{}",
        expect_failures.join("\n")
    );
    if failures.is_empty() {
        return;
    }
    let filter = std::env::var("XDBT_TABLE_SHOW").unwrap_or_default();
    let shown: Vec<&String> = failures
        .iter()
        .zip(&summary)
        .filter(|(_, s)| s.contains(&filter))
        .map(|(f, _)| f)
        .take(12)
        .collect();
    let mut groups = BTreeMap::new();
    for s in &summary {
        *groups.entry(s.clone()).or_insert(0usize) += 1;
    }
    let groups: Vec<String> = groups
        .iter()
        .map(|(k, n)| format!("  {n:5} x {k}"))
        .collect();
    panic!(
        "{family}: {} of {} rows differ ({} shown; XDBT_TABLE_SHOW=<text> selects by summary):\n{}\nall mismatches by code and difference:\n{}",
        failures.len(),
        rows.len(),
        shown.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        groups.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The codes under test.

fn fp_codes() -> Vec<Code> {
    Code::values().filter(|c| is_fp_code(*c)).collect()
}

fn has_feature(c: Code, f: CpuidFeature) -> bool {
    c.cpuid_features().contains(&f)
}

fn is_x87_code(c: Code) -> bool {
    use CpuidFeature as F;
    c.cpuid_features()
        .iter()
        .any(|x| matches!(x, F::FPU | F::FPU287 | F::FPU387))
}

fn uses_mm(c: Code) -> bool {
    c.op_code()
        .op_kinds()
        .iter()
        .any(|k| matches!(k, K::mm_reg | K::mm_rm | K::mm_or_mem))
}

// ---------------------------------------------------------------------------------------
// Values.

/// Packed BCD operands: valid, the largest, negative zero, sign bytes with junk bits, and
/// invalid digits (A-F nibbles).
const BCD_EDGES: [[u8; 10]; 10] = [
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80],
    [0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0x80],
    [0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0],
    [0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x80],
    [0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0x7f],
    [0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff],
];

/// Bytes of `len` elements of type `el` (of `size` bytes each).
fn lanes(rng: &mut Rng, el: MemorySize, size: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        match el {
            MemorySize::Float32 => out.extend_from_slice(&f32_value(rng).to_le_bytes()),
            MemorySize::Float64 => out.extend_from_slice(&f64_value(rng).to_le_bytes()),
            MemorySize::Float80 => out.extend_from_slice(&f80_value(rng).bytes()),
            MemorySize::Bcd => {
                let b: &[u8; 10] = rng.pick(&BCD_EDGES);
                out.extend_from_slice(b)
            }
            _ => {
                let s = size.clamp(1, 8);
                out.extend_from_slice(&int_value(rng, s).to_le_bytes()[..s]);
            }
        }
    }
    out.truncate(len);
    out
}

/// The 16 bytes of an XMM register for an instruction on `el` elements.
fn xmm_value(rng: &mut Rng, el: MemorySize, size: usize) -> u128 {
    let el = if rng.chance(1, 8) {
        // Now and then the other float type or plain integers.
        *rng.pick(&[MemorySize::Float32, MemorySize::Float64, MemorySize::UInt8])
    } else {
        el
    };
    let b = lanes(rng, el, size, 16);
    let mut a = [0u8; 16];
    a.copy_from_slice(&b);
    u128::from_le_bytes(a)
}

/// A random FP state for a row of `code`: a register stack of a few edge values (or an MMX
/// state for MMX codes, sometimes left by x87 code instead), XMM registers holding `el`
/// elements, random FCW and MXCSR.
fn fp_state(rng: &mut Rng, code: Code, el: MemorySize, el_size: usize) -> Fx {
    let mut fx = Fx::fninit().fcw(fcw_value(rng)).mxcsr(mxcsr_value(rng));
    if uses_mm(code) && rng.chance(3, 4) {
        for i in 0..8 {
            let v = u64::from_le_bytes(lanes(rng, el, el_size, 8).try_into().unwrap_or_default());
            fx = fx.mm(i, v);
        }
    } else {
        let n = *rng.pick(&[0usize, 1, 2, 2, 3, 3, 4, 8]);
        let vals: Vec<F80> = (0..n).map(|_| f80_value(rng)).collect();
        fx = fx.stack(&vals);
        // What the empty registers hold shows in FXSAVE images and in MMX registers.
        for i in n..8 {
            if rng.chance(1, 3) {
                fx = fx.st_empty(i, f80_value(rng));
            }
        }
        if rng.chance(1, 10) {
            // Sticky exception flags and condition codes (ES only where unmasked).
            let flags = rng.below(0x80) as u16 | (rng.below(16) as u16) << 8;
            let fcw = fx_u16(&fx.0, fxo::FCW);
            let pending = flags & !fcw & 0x3f != 0;
            let top = fx_u16(&fx.0, fxo::FSW) & 0x3800;
            let cc = flags & 0x4700;
            let b = if pending { 0x8080 } else { 0 };
            fx = fx.fsw(top | cc | (flags & 0x7f) | b);
        }
    }
    for i in 0..8 {
        fx = fx.xmm(i, xmm_value(rng, el, el_size));
    }
    fx
}

/// The full 16-bit tag word of an image (SDM Vol. 1, 8.1.7): 00 valid, 01 zero, 10 special,
/// 11 empty, for each physical register.
fn full_tag_word(fx: &Fx) -> u16 {
    let top = fx_top(&fx.0);
    let mut tw = 0u16;
    for phys in 0..8 {
        let st = (phys + 8 - top) & 7;
        let tag = if fx.0[fxo::FTW] & (1 << phys) == 0 {
            3
        } else {
            let v = fx_st(&fx.0, st);
            match (v.exp(), v.mant >> 63) {
                (0, _) if v.mant == 0 => 1,
                (0, _) | (0x7fff, _) | (_, 0) => 2,
                _ => 0,
            }
        };
        tw |= tag << (2 * phys);
    }
    tw
}

/// An FNSTENV/FNSAVE image of `fx` (with `regs`: FNSAVE) in the 32-bit (`wide`) or 16-bit
/// protected-mode layout (SDM Vol. 1, figures 8-9 to 8-12).
fn env_image(fx: &Fx, wide: bool, regs: bool, fip: u32, fdp: u32) -> Vec<u8> {
    let fcw = fx_u16(&fx.0, fxo::FCW);
    let fsw = fx_u16(&fx.0, fxo::FSW);
    let tw = full_tag_word(fx);
    let mut b = Vec::new();
    if wide {
        for v in [
            0xffff_0000 | u32::from(fcw),
            0xffff_0000 | u32::from(fsw),
            0xffff_0000 | u32::from(tw),
            fip,
            0x0123_0023,
            fdp,
            0xffff_002b,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    } else {
        for v in [fcw, fsw, tw, fip as u16, 0x23, fdp as u16, 0x2b] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    if regs {
        for i in 0..8 {
            b.extend_from_slice(&fx_st(&fx.0, i).bytes());
        }
    }
    b
}

/// Bytes for a memory operand of type `ms` (the value kind its instruction reads).
fn fill_mem(rng: &mut Rng, ms: MemorySize) -> Vec<u8> {
    let len = ms.size();
    match ms {
        MemorySize::FpuEnv14
        | MemorySize::FpuEnv28
        | MemorySize::FpuState94
        | MemorySize::FpuState108 => {
            if rng.chance(1, 5) {
                return (0..len).map(|_| rng.u32() as u8).collect();
            }
            let fx = fp_state(rng, Code::Fld1, MemorySize::Float64, 8);
            let wide = matches!(ms, MemorySize::FpuEnv28 | MemorySize::FpuState108);
            let regs = matches!(ms, MemorySize::FpuState94 | MemorySize::FpuState108);
            env_image(&fx, wide, regs, DATA + 0x40, CODE + 0x10)
        }
        MemorySize::Fxsave_512Byte => {
            let mut fx = fp_state(rng, Code::Fld1, MemorySize::Float32, 4);
            if rng.chance(1, 8) {
                // Reserved MXCSR bits: FXRSTOR raises #GP.
                fx = fx.mxcsr(0x1f80 | 1 << (16 + rng.below(16)));
            }
            fx.0
        }
        // LDMXCSR: usually valid values.
        MemorySize::UInt32 if rng.chance(3, 4) => mxcsr_value(rng).to_le_bytes().to_vec(),
        _ => {
            let el = ms.element_type();
            let el = if el == MemorySize::Unknown {
                MemorySize::UInt8
            } else {
                el
            };
            lanes(rng, el, el.size(), len.max(1))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Operand forms.

/// Where memory operands point: the data region, 16-byte aligned, with room for a 512-byte
/// FXSAVE image.
const EA: u32 = DATA + 0x1000;

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
    r.ok()
}

/// One instruction of a sweep with the registers its addressing needs.
#[derive(Clone, Debug)]
struct Form {
    bytes: Vec<u8>,
    /// The memory operand's type, if it has one (at [`EA`] + the form's misalignment).
    mem: Option<MemorySize>,
    regs: Vec<(usize, u32)>,
}

const XMM: [Register; 8] = [
    Register::XMM0,
    Register::XMM1,
    Register::XMM2,
    Register::XMM3,
    Register::XMM4,
    Register::XMM5,
    Register::XMM6,
    Register::XMM7,
];
const MM: [Register; 8] = [
    Register::MM0,
    Register::MM1,
    Register::MM2,
    Register::MM3,
    Register::MM4,
    Register::MM5,
    Register::MM6,
    Register::MM7,
];

/// Build the `variant`th form of `code` (0-3): variants 0 and 3 use registers for r/m
/// operands (3: the same register twice where both are XMM or MM), 1 `[ebx+disp8]` and 2
/// `[esi+edi*8+disp32]`; memory-only operands use `[ebx]` in variant 0 and an absolute
/// address in variant 3. The memory operand is at `ea`.
fn build_form(code: Code, variant: usize, imm: u32, ea: u32) -> Option<Form> {
    let kinds = code.op_code().op_kinds();
    let use_mem = variant == 1 || variant == 2;
    let mut regs = Vec::new();
    let mem = |regs: &mut Vec<(usize, u32)>| -> MemoryOperand {
        match variant {
            0 => {
                regs.push((EBX, ea));
                MemoryOperand::with_base(Register::EBX)
            }
            1 => {
                regs.push((EBX, ea.wrapping_sub(0x30)));
                MemoryOperand::with_base_displ(Register::EBX, 0x30)
            }
            2 => {
                regs.push((EDI, 3));
                regs.push((ESI, ea.wrapping_sub(0x100 + 24)));
                MemoryOperand::with_base_index_scale_displ_size(
                    Register::ESI,
                    Register::EDI,
                    8,
                    0x100,
                    4,
                )
            }
            _ => MemoryOperand::with_displ(u64::from(ea), 4),
        }
    };
    if let Code::Maskmovq_rDI_mm_mm | Code::Maskmovdqu_rDI_xmm_xmm = code {
        let (a, b) = [(1, 2), (6, 7), (0, 5), (3, 3)][variant];
        regs.push((EDI, ea));
        let i = if code == Code::Maskmovq_rDI_mm_mm {
            Instruction::with_maskmovq(32, MM[a], MM[b], Register::None)
        } else {
            Instruction::with_maskmovdqu(32, XMM[a], XMM[b], Register::None)
        }
        .ok()?;
        let mut e = Encoder::new(32);
        e.encode(&i, u64::from(CODE)).ok()?;
        return Some(Form {
            bytes: e.take_buffer(),
            mem: Some(i.memory_size()),
            regs,
        });
    }
    let mut ops = Vec::new();
    let mut has_mem = false;
    for (n, k) in kinds.iter().enumerate() {
        let second = n > 0;
        let o = match k {
            K::xmm_or_mem | K::mm_or_mem | K::r32_or_mem if use_mem => {
                has_mem = true;
                Op::M(mem(&mut regs))
            }
            K::mem => {
                has_mem = true;
                Op::M(mem(&mut regs))
            }
            K::xmm_reg if !second => Op::R(XMM[[1, 6, 0, 3][variant]]),
            K::xmm_reg => Op::R(XMM[[2, 7, 5, 3][variant]]),
            K::xmm_rm | K::xmm_or_mem => Op::R(XMM[[2, 7, 5, 3][variant]]),
            K::mm_reg if !second => Op::R(MM[[1, 6, 0, 3][variant]]),
            K::mm_reg => Op::R(MM[[2, 7, 5, 3][variant]]),
            K::mm_rm | K::mm_or_mem => Op::R(MM[[2, 7, 5, 3][variant]]),
            K::r32_reg if !second => {
                Op::R([Register::EAX, Register::EDX, Register::EBP, Register::ECX][variant])
            }
            K::r32_reg | K::r32_rm | K::r32_or_mem => {
                Op::R([Register::ECX, Register::EBP, Register::EAX, Register::EDX][variant])
            }
            K::st0 => Op::R(Register::ST0),
            K::sti_opcode => {
                Op::R([Register::ST1, Register::ST2, Register::ST7, Register::ST0][variant])
            }
            K::ax => Op::R(Register::AX),
            K::imm8 => Op::I(imm & 0xff),
            K::None => continue,
            _ => return None,
        };
        ops.push(o);
    }
    if use_mem && !has_mem {
        return None;
    }
    let insn = make(code, &ops)?;
    let mut e = Encoder::new(32);
    e.encode(&insn, u64::from(CODE)).ok()?;
    let bytes = e.take_buffer();
    let back = decode(&bytes, CODE);
    if back.len() != 1 || back[0].code() != code {
        return None;
    }
    Some(Form {
        bytes,
        mem: has_mem.then(|| insn.memory_size()),
        regs,
    })
}

/// The element type and size of `code`'s operands (from its memory form; x87 register
/// forms work on 80-bit values, the rest on bytes).
fn element_of(code: Code) -> (MemorySize, usize) {
    let ms = (1..3)
        .find_map(|v| build_form(code, v, 0, EA).and_then(|f| f.mem))
        .unwrap_or(MemorySize::Unknown);
    let el = ms.element_type();
    match el {
        MemorySize::Unknown if is_x87_code(code) => (MemorySize::Float80, 10),
        MemorySize::Unknown => (MemorySize::UInt8, 1),
        MemorySize::Float32 | MemorySize::Float64 | MemorySize::Float80 => (el, el.size()),
        _ => (MemorySize::UInt8, el.size().max(1)),
    }
}

/// Immediates for a code's imm8: shift counts, shuffle orders, compare predicates, byte
/// offsets, including out-of-range ones.
const IMM8: [u32; 22] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 0x1b, 0x4e, 0xb1, 0xe4, 0xff,
];

/// A row of `form` with the memory operand (at `ea`) filled and a random state.
fn form_row(code: Code, form: &Form, rng: &mut Rng, ea: u32, tail: &[u8]) -> Row {
    let (el, size) = element_of(code);
    let mut s = Setup::default();
    for k in [EAX, ECX, EDX, EBP] {
        s.regs[k] = rng.value();
    }
    for (k, v) in &form.regs {
        s.regs[*k] = *v;
    }
    s.eflags = rng.flags(false);
    if let Some(ms) = form.mem {
        let bytes = fill_mem(rng, ms);
        let off = (ea - DATA) as usize;
        if off + bytes.len() <= DATA_LEN {
            s = s.data_bytes(off, &bytes);
        }
    }
    s = s.fx(fp_state(rng, code, el, size));
    let mut code_bytes = form.bytes.clone();
    code_bytes.extend_from_slice(tail);
    code_bytes.push(0xcc);
    Row::new(code_bytes, s)
}

/// Rows for every form of every code of `codes`, each with `inputs` random states. x87
/// rows end with FWAIT every other input, so that unmasked exceptions raise #MF.
fn sweep(codes: &[Code], seed: u64, inputs: usize) -> Vec<Row> {
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    for &code in codes {
        let has_imm = code.op_code().op_kinds().contains(&K::imm8);
        let mut seen = BTreeSet::new();
        for variant in 0..4 {
            let Some(form) = build_form(code, variant, 0, EA) else {
                continue;
            };
            if !seen.insert(form.bytes.clone()) {
                continue;
            }
            for k in 0..inputs {
                let form = if has_imm {
                    // Every immediate of the list once when there are enough inputs.
                    let imm = match IMM8.get(k) {
                        Some(v) if inputs >= IMM8.len() => *v,
                        _ => *rng.pick(&IMM8),
                    };
                    match build_form(code, variant, imm, EA) {
                        Some(f) => f,
                        None => continue,
                    }
                } else {
                    form.clone()
                };
                let tail: &[u8] = if is_x87_code(code) && k % 2 == 1 {
                    &[0x9b]
                } else {
                    &[]
                };
                rows.push(form_row(code, &form, &mut rng, EA, tail));
            }
        }
    }
    rows
}

fn codes_with(f: CpuidFeature) -> Vec<Code> {
    fp_codes()
        .into_iter()
        .filter(|c| has_feature(*c, f))
        .collect()
}

fn x87_codes() -> Vec<Code> {
    fp_codes().into_iter().filter(|c| is_x87_code(*c)).collect()
}

// ---------------------------------------------------------------------------------------
// Assembling helpers.

/// `code` bytes + int3.
fn raw(code: &[u8]) -> Vec<u8> {
    let mut v = code.to_vec();
    v.push(0xcc);
    v
}

/// A setup with this FP state.
fn with_fx(fx: Fx) -> Setup {
    Setup::default().fx(fx).reg(EBX, EA)
}

/// The default state with a stack of `vals` (ST(0) first) and control word `fcw`.
fn stack(fcw: u16, vals: &[F80]) -> Fx {
    Fx::fninit().fcw(fcw).stack(vals)
}

/// The 16 control words with all exceptions masked: every precision control (24, reserved,
/// 53, 64 bits) with every rounding control (nearest, down, up, toward zero).
fn all_fcw() -> Vec<u16> {
    (0..16u16)
        .map(|k| 0x007f | (k & 3) << 8 | (k >> 2) << 10)
        .collect()
}

/// The 16 MXCSR settings with all exceptions masked: every rounding control with and
/// without DAZ and FTZ.
fn all_mxcsr() -> Vec<u32> {
    (0..16u32)
        .map(|k| 0x1f80 | (k & 3) << 13 | (k >> 2 & 1) << 6 | (k >> 3) << 15)
        .collect()
}

// ---------------------------------------------------------------------------------------
// x87 families.

/// Every x87 code in every operand form, with random states.
fn family_x87_sweep() -> Vec<Row> {
    sweep(&x87_codes(), 0x87, 10)
}

/// Binary register-stack operations on ST(0) and ST(1), for every pair of edge values,
/// under every precision and rounding control in turn.
fn family_x87_binary_edges() -> Vec<Row> {
    let ops: [[u8; 2]; 18] = [
        [0xd8, 0xc1], // fadd st0, st1
        [0xd8, 0xe1], // fsub st0, st1
        [0xd8, 0xe9], // fsubr st0, st1
        [0xd8, 0xc9], // fmul st0, st1
        [0xd8, 0xf1], // fdiv st0, st1
        [0xd8, 0xf9], // fdivr st0, st1
        [0xd8, 0xd1], // fcom st1
        [0xdd, 0xe1], // fucom st1
        [0xdb, 0xf1], // fcomi st0, st1
        [0xdb, 0xe9], // fucomi st0, st1
        [0xd9, 0xf8], // fprem
        [0xd9, 0xf5], // fprem1
        [0xd9, 0xfd], // fscale
        [0xd9, 0xf3], // fpatan
        [0xd9, 0xf1], // fyl2x
        [0xd9, 0xf9], // fyl2xp1
        [0xde, 0xc1], // faddp st1, st0
        [0xde, 0xf1], // fdivrp st1, st0
    ];
    let fcws = all_fcw();
    let mut rows = Vec::new();
    let mut k = 0;
    for op in &ops {
        for a in &F80_EDGES {
            for b in &F80_EDGES {
                let fcw = fcws[k % fcws.len()];
                k += 1;
                rows.push(Row::new(raw(op), with_fx(stack(fcw, &[*a, *b]))));
            }
        }
    }
    rows
}

/// Unary operations, stores and conversions of every edge value under every precision
/// and rounding control.
fn family_x87_unary_edges() -> Vec<Row> {
    let ops: [&[u8]; 24] = [
        &[0xd9, 0xfa], // fsqrt
        &[0xd9, 0xe1], // fabs
        &[0xd9, 0xe0], // fchs
        &[0xd9, 0xfc], // frndint
        &[0xd9, 0xf4], // fxtract
        &[0xd9, 0xe5], // fxam
        &[0xd9, 0xe4], // ftst
        &[0xd9, 0xfe], // fsin
        &[0xd9, 0xff], // fcos
        &[0xd9, 0xfb], // fsincos
        &[0xd9, 0xf2], // fptan
        &[0xd9, 0xf0], // f2xm1
        &[0xd9, 0xc0], // fld st0
        &[0xd9, 0x13], // fst dword [ebx]
        &[0xdd, 0x13], // fst qword [ebx]
        &[0xdb, 0x3b], // fstp tbyte [ebx]
        &[0xdf, 0x13], // fist word [ebx]
        &[0xdb, 0x13], // fist dword [ebx]
        &[0xdf, 0x3b], // fistp qword [ebx]
        &[0xdf, 0x0b], // fisttp word [ebx]
        &[0xdb, 0x0b], // fisttp dword [ebx]
        &[0xdd, 0x0b], // fisttp qword [ebx]
        &[0xdf, 0x33], // fbstp [ebx]
        &[0xdd, 0xd1], // fst st1
    ];
    let fcws = all_fcw();
    let one = F80::new(0x3fff, 1 << 63);
    let mut rows = Vec::new();
    for op in ops {
        for v in &F80_EDGES {
            for fcw in &fcws {
                rows.push(Row::new(raw(op), with_fx(stack(*fcw, &[*v, one]))));
            }
        }
    }
    // Transcendental arguments out of range (|x| >= 2^63: C2 set, operand unchanged), at
    // multiples of pi, and inside the narrow ranges of F2XM1 and FYL2XP1.
    let args = [
        F80::new(0x403e, 1 << 63),               // 2^63
        F80::new(0x403d, 0xffff_ffff_ffff_ffff), // just below 2^63
        F80::new(0xc03f, 0xc000_0000_0000_0000), // -3 * 2^63
        F80::new(0x4000, 0xc90f_daa2_2168_c235), // pi
        F80::new(0x3fff, 0xc90f_daa2_2168_c235), // pi/2
        F80::new(0xbffe, 0xc90f_daa2_2168_c235), // -pi/4
        F80::new(0x4040, 0xc90f_daa2_2168_c235), // pi * 2^64
        F80::new(0x3ffe, 1 << 63),               // 0.5
        F80::new(0xbffe, 0xffff_ffff_ffff_ffff), // just above -1
        F80::new(0x3fd0, 0x8000_0000_0000_0001), // tiny
        F80::new(0x3ffd, 0x95f6_19b3_3c2e_5d58), // 0.29 (1 - sqrt(2)/2 territory)
    ];
    let trans: [&[u8]; 8] = [
        &[0xd9, 0xfe], // fsin
        &[0xd9, 0xff], // fcos
        &[0xd9, 0xfb], // fsincos
        &[0xd9, 0xf2], // fptan
        &[0xd9, 0xf0], // f2xm1
        &[0xd9, 0xf9], // fyl2xp1
        &[0xd9, 0xf3], // fpatan
        &[0xd9, 0xf1], // fyl2x
    ];
    for op in trans {
        for a in &args {
            for b in [one, F80::new(0xc000, 0xc000_0000_0000_0000), args[3]] {
                for fcw in [0x037f, 0x007f, 0x0b7f, 0x027f] {
                    rows.push(Row::new(raw(op), with_fx(stack(fcw, &[*a, b]))));
                }
            }
        }
    }
    rows
}

/// Loads of every memory format and arithmetic with memory operands, for edge values,
/// onto stacks that are empty, partly full and full (overflow).
fn family_x87_memory_edges() -> Vec<Row> {
    let mut rows = Vec::new();
    let depths: [&[F80]; 3] = [&[], &[F80_EDGES[2], F80_EDGES[4]], &[F80_EDGES[3]; 8]];
    let mut add = |op: &[u8], bytes: Vec<u8>, fcw: u16, stk: &[F80]| {
        rows.push(Row::new(
            raw(op),
            with_fx(stack(fcw, stk)).data_bytes((EA - DATA) as usize, &bytes),
        ));
    };
    for (k, v) in F32_EDGES.iter().enumerate() {
        for d in depths {
            add(&[0xd9, 0x03], v.to_le_bytes().to_vec(), 0x037f, d); // fld dword [ebx]
        }
        add(&[0xd9, 0x03], v.to_le_bytes().to_vec(), 0x037e, depths[2]); // overflow, IE unmasked
        for (j, op) in [
            [0xd8u8, 0x03],
            [0xd8, 0x13],
            [0xd8, 0x33],
            [0xd8, 0x3b],
            [0xd8, 0x23],
        ]
        .iter()
        .enumerate()
        {
            // fadd/fcom/fdiv/fdivr/fsub dword [ebx] with ST0 an edge value.
            let st0 = F80_EDGES[(k * 5 + j * 3) % F80_EDGES.len()];
            add(
                op,
                v.to_le_bytes().to_vec(),
                all_fcw()[(k + j) % 16],
                &[st0],
            );
        }
    }
    for (k, v) in F64_EDGES.iter().enumerate() {
        for d in depths {
            add(&[0xdd, 0x03], v.to_le_bytes().to_vec(), 0x037f, d); // fld qword [ebx]
        }
        for (j, op) in [
            [0xdcu8, 0x03],
            [0xdc, 0x13],
            [0xdc, 0x0b],
            [0xdc, 0x3b],
            [0xdc, 0x1b],
        ]
        .iter()
        .enumerate()
        {
            // fadd/fcom/fmul/fdivr/fcomp qword [ebx].
            let st0 = F80_EDGES[(k * 7 + j) % F80_EDGES.len()];
            add(
                op,
                v.to_le_bytes().to_vec(),
                all_fcw()[(k * 3 + j) % 16],
                &[st0],
            );
        }
    }
    for v in &F80_EDGES {
        for d in depths {
            add(&[0xdb, 0x2b], v.bytes().to_vec(), 0x037f, d); // fld tbyte [ebx]
        }
    }
    for v in INT16_EDGES {
        add(&[0xdf, 0x03], v.to_le_bytes().to_vec(), 0x037f, depths[1]); // fild word
        add(&[0xde, 0x03], v.to_le_bytes().to_vec(), 0x037f, depths[1]); // fiadd word
        add(&[0xde, 0x13], v.to_le_bytes().to_vec(), 0x037f, depths[1]); // ficom word
        add(&[0xde, 0x33], v.to_le_bytes().to_vec(), 0x0b7f, depths[1]); // fidiv word
    }
    for v in INT32_EDGES {
        add(&[0xdb, 0x03], v.to_le_bytes().to_vec(), 0x037f, depths[1]); // fild dword
        add(&[0xda, 0x0b], v.to_le_bytes().to_vec(), 0x077f, depths[1]); // fimul dword
        add(&[0xda, 0x1b], v.to_le_bytes().to_vec(), 0x037f, depths[1]); // ficomp dword
        add(&[0xda, 0x3b], v.to_le_bytes().to_vec(), 0x0f7f, depths[1]); // fidivr dword
    }
    for v in INT64_EDGES {
        for fcw in [0x037f, 0x007f, 0x0c7f] {
            add(&[0xdf, 0x2b], v.to_le_bytes().to_vec(), fcw, depths[1]); // fild qword
        }
    }
    rows
}

/// Packed BCD: FBLD of valid, negative-zero, junk-sign and invalid-digit operands; FBSTP of
/// edge values and values around the 18-digit limit in every rounding mode.
fn family_x87_bcd() -> Vec<Row> {
    let mut rows = Vec::new();
    for b in &BCD_EDGES {
        for d in [&[][..], &[F80_EDGES[2]; 8][..]] {
            rows.push(Row::new(
                raw(&[0xdf, 0x23]), // fbld [ebx]
                with_fx(stack(0x037f, d)).data_bytes((EA - DATA) as usize, b),
            ));
        }
    }
    let near_limit = [
        F80::new(0x403a, 0xde0b_6b3a_763f_fff0), // 1e18 - 1
        F80::new(0x403a, 0xde0b_6b3a_7640_0000), // 1e18
        F80::new(0xc03a, 0xde0b_6b3a_763f_fff8), // -(1e18 - 0.5)
        F80::new(0x403a, 0xde0b_6b3a_763f_fff8), // 1e18 - 0.5
        F80::new(0x3ffe, 1 << 63),               // 0.5
        F80::new(0xbfff, 0xc000_0000_0000_0000), // -1.5
        F80::new(0x4000, 0xa000_0000_0000_0000), // 2.5
        F80::new(0x8000, 0),                     // -0
    ];
    for v in F80_EDGES.iter().chain(&near_limit) {
        for rc in 0..4u16 {
            for masks in [0x3f, 0x3e] {
                rows.push(Row::new(
                    raw(&[0xdf, 0x33, 0x9b]), // fbstp [ebx]; fwait
                    with_fx(stack(0x0340 | masks | rc << 10, &[*v])),
                ));
            }
        }
    }
    rows
}

/// FLDCW with every precision and rounding control, then operations whose results depend
/// on them: arithmetic, square root, constants, rounding to integer, integer stores.
fn family_x87_control() -> Vec<Row> {
    let mut rows = Vec::new();
    let third = F80::new(0x3ffd, 0xaaaa_aaaa_aaaa_aaab);
    let vals = [
        F80::new(0x4000, 0xa000_0000_0000_0000), // 2.5
        F80::new(0xc000, 0xa000_0000_0000_0000), // -2.5
        F80::new(0x3ffe, 0xc000_0000_0000_0000), // 0.75
        third,
        F80::new(0x3fff, 0x8000_0000_0000_0401),
        F80::new(0xbfff, 0xffff_ffff_ffff_ffff),
    ];
    let ops: [&[u8]; 17] = [
        &[0xd8, 0xc1],       // fadd st0, st1
        &[0xd8, 0xf1],       // fdiv st0, st1
        &[0xd8, 0xc9],       // fmul st0, st1
        &[0xd9, 0xfa],       // fsqrt
        &[0xd9, 0xfc],       // frndint
        &[0xd9, 0xeb],       // fldpi
        &[0xd9, 0xea],       // fldl2e
        &[0xd9, 0xe9],       // fldl2t
        &[0xd9, 0xec],       // fldlg2
        &[0xd9, 0xed],       // fldln2
        &[0xd9, 0xe8],       // fld1
        &[0xd9, 0xee],       // fldz
        &[0xdb, 0x53, 0x10], // fist dword [ebx+0x10]
        &[0xdd, 0x53, 0x10], // fst qword [ebx+0x10]
        &[0xd9, 0x53, 0x10], // fst dword [ebx+0x10]
        &[0xdd, 0xd9],       // fstp st1
        &[0xd8, 0xe1],       // fsub st0, st1
    ];
    let mut k = 0usize;
    for fcw in (0..64u16).map(|i| 0x0040 | (i & 0xf) << 8 | 0x3f) {
        // Bits 8-11 are PC and RC; the 287's IC bit 12 too now and then.
        let fcw = if k % 5 == 4 { fcw | 0x1000 } else { fcw };
        for op in ops {
            let a = vals[k % vals.len()];
            let b = vals[(k / vals.len() + 3) % vals.len()];
            k += 1;
            let mut code = vec![0xd9, 0x2b]; // fldcw [ebx]
            code.extend_from_slice(op);
            rows.push(Row::new(
                raw(&code),
                with_fx(stack(0x037f, &[a, b, third]))
                    .data_bytes((EA - DATA) as usize, &fcw.to_le_bytes()),
            ));
        }
    }
    // The control instructions themselves, on random states (pending exceptions too).
    let mut rng = Rng::new(0xc0);
    let ctl: [&[u8]; 22] = [
        &[0xd9, 0x3b],                         // fnstcw [ebx]
        &[0xdd, 0x3b],                         // fnstsw [ebx]
        &[0xdf, 0xe0],                         // fnstsw ax
        &[0xdb, 0xe2],                         // fnclex
        &[0xdb, 0xe3],                         // fninit
        &[0xd9, 0xf7],                         // fincstp
        &[0xd9, 0xf6],                         // fdecstp
        &[0xdd, 0xc2],                         // ffree st2
        &[0xdf, 0xc1],                         // ffreep st1
        &[0xd9, 0xd0],                         // fnop
        &[0x9b],                               // fwait
        &[0xdb, 0xe4],                         // fnsetpm (a no-op since the 387)
        &[0xd9, 0x33],                         // fnstenv [ebx]
        &[0x66, 0xd9, 0x33],                   // fnstenv m14 [ebx]
        &[0xdd, 0x33],                         // fnsave [ebx]
        &[0x66, 0xdd, 0x33],                   // fnsave m94 [ebx]
        &[0xd9, 0x33, 0xd9, 0x23],             // fnstenv; fldenv
        &[0xdd, 0x33, 0xdd, 0x23],             // fnsave; frstor
        &[0x66, 0xdd, 0x33, 0x66, 0xdd, 0x23], // 16-bit fnsave; frstor
        &[0xd9, 0x33, 0x9b],                   // fnstenv (masks everything); fwait
        &[0xdb, 0xe2, 0x9b],                   // fnclex; fwait
        &[0xd9, 0xc9, 0xd9, 0x33],             // fxch st1; fnstenv (pointers of the fxch)
    ];
    for op in ctl {
        for _ in 0..24 {
            let fx = fp_state(&mut rng, Code::Fld1, MemorySize::Float80, 10);
            rows.push(Row::new(raw(op), with_fx(fx)));
        }
    }
    // FLDENV/FRSTOR of images of random states, in both layouts.
    for (op, wide, regs) in [
        (&[0xd9u8, 0x23][..], true, false),
        (&[0x66, 0xd9, 0x23][..], false, false),
        (&[0xdd, 0x23][..], true, true),
        (&[0x66, 0xdd, 0x23][..], false, true),
    ] {
        for _ in 0..24 {
            let fx = fp_state(&mut rng, Code::Fld1, MemorySize::Float80, 10);
            let img = env_image(&fx, wide, regs, rng.u32(), rng.u32());
            let mut code = op.to_vec();
            code.extend_from_slice(&[0xd9, 0x33, 0x9b]); // fnstenv [ebx] (back); fwait
            let before = fp_state(&mut rng, Code::Fld1, MemorySize::Float80, 10);
            rows.push(Row::new(
                raw(&code),
                with_fx(before).data_bytes((EA - DATA) as usize, &img),
            ));
        }
    }
    rows
}

/// Stack overflow (a push onto a full stack) and underflow (an empty source), masked (the
/// QNaN indefinite, C1) and unmasked (no change, #MF at the next waiting instruction).
fn family_x87_stack_faults() -> Vec<Row> {
    let pushes: [&[u8]; 10] = [
        &[0xd9, 0xe8], // fld1
        &[0xd9, 0x03], // fld dword [ebx]
        &[0xdb, 0x03], // fild dword [ebx]
        &[0xd9, 0xc3], // fld st3
        &[0xdf, 0x23], // fbld [ebx]
        &[0xd9, 0xfb], // fsincos
        &[0xd9, 0xf2], // fptan
        &[0xd9, 0xf4], // fxtract
        &[0xd9, 0xf6], // fdecstp (no fault)
        &[0xdb, 0x2b], // fld tbyte [ebx]
    ];
    let sources: [&[u8]; 20] = [
        &[0xd8, 0xc1], // fadd st0, st1
        &[0xdd, 0x13], // fst qword [ebx]
        &[0xdd, 0x1b], // fstp qword [ebx]
        &[0xdb, 0x13], // fist dword [ebx]
        &[0xdf, 0x33], // fbstp [ebx]
        &[0xd9, 0xc9], // fxch st1
        &[0xd8, 0xd1], // fcom st1
        &[0xdb, 0xf1], // fcomi st0, st1
        &[0xda, 0xe9], // fucompp
        &[0xd9, 0xe4], // ftst
        &[0xd9, 0xe5], // fxam (no fault: "empty")
        &[0xd9, 0xfa], // fsqrt
        &[0xd9, 0xe0], // fchs
        &[0xdd, 0xd1], // fst st1
        &[0xda, 0xc1], // fcmovb st0, st1
        &[0xd9, 0xf8], // fprem
        &[0xd9, 0xf3], // fpatan
        &[0xd8, 0x03], // fadd dword [ebx]
        &[0xdd, 0x0b], // fisttp qword [ebx]
        &[0xd9, 0xfd], // fscale
    ];
    let full = [F80_EDGES[4]; 8];
    let one = [F80_EDGES[2]];
    let mut rows = Vec::new();
    for fcw in [0x037f, 0x037e, 0x007e] {
        for tail in [&[][..], &[0x9b][..], &[0xd9, 0xe8][..], &[0xdf, 0xe0][..]] {
            for op in pushes {
                let mut code = op.to_vec();
                code.extend_from_slice(tail);
                rows.push(Row::new(
                    raw(&code),
                    with_fx(stack(fcw, &full)).reg(EAX, 0x1234_5678),
                ));
            }
            for op in sources {
                let mut code = op.to_vec();
                code.extend_from_slice(tail);
                for stk in [&[][..], &one[..]] {
                    rows.push(Row::new(raw(&code), with_fx(stack(fcw, stk)).flags(CF)));
                }
                // ST0 valid, ST1 empty but holding a value; ST2 valid.
                let gap = stack(fcw, &[F80_EDGES[2], F80_EDGES[4], F80_EDGES[6]]).ftw(0);
                let gap = gap.st(0, F80_EDGES[2]).st(2, F80_EDGES[6]);
                rows.push(Row::new(raw(&code), with_fx(gap)));
            }
        }
    }
    rows
}

/// Each exception unmasked on its own, raised by an operation and reported as #MF by the
/// next waiting instruction (or not: FNSTSW, FNCLEX, FNINIT, integer and SSE instructions
/// in between), and states loaded with an exception already pending.
fn family_x87_unmasked() -> Vec<Row> {
    let max = F80::new(0x7ffe, u64::MAX);
    let min = F80::new(0x0001, 1 << 63);
    let one = F80::new(0x3fff, 1 << 63);
    let three = F80::new(0x4000, 0xc000_0000_0000_0000);
    let den = F80::new(0x0000, 0x4000_0000_0000_0000);
    // (exception bit, operation, stack)
    let cases: [(u16, &[u8], [F80; 2]); 7] = [
        (0, &[0xd9, 0xfa], [F80_EDGES[3], one]),  // IE: fsqrt(-1)
        (0, &[0xd8, 0xc1], [F80_EDGES[16], one]), // IE: SNaN + 1
        (1, &[0xd8, 0xc1], [den, one]),           // DE: denormal + 1
        (2, &[0xd8, 0xf1], [one, F80_EDGES[0]]),  // ZE: 1 / 0
        (3, &[0xd8, 0xc9], [max, max]),           // OE: max * max
        (4, &[0xd8, 0xc9], [min, min]),           // UE: min * min
        (5, &[0xd8, 0xf1], [one, three]),         // PE: 1 / 3
    ];
    let tails: [&[u8]; 12] = [
        &[],
        &[0x9b],                   // fwait
        &[0xd9, 0xe8],             // fld1 (waiting)
        &[0xdf, 0xe0],             // fnstsw ax (no #MF)
        &[0xdb, 0xe2, 0x9b],       // fnclex; fwait
        &[0xdb, 0xe3, 0x9b],       // fninit; fwait
        &[0x01, 0xc8, 0x9b],       // add eax, ecx; fwait
        &[0x0f, 0x58, 0xc1, 0x9b], // addps xmm0, xmm1; fwait
        &[0x0f, 0x77],             // emms (an MMX instruction: #MF)
        &[0xdd, 0x33, 0x9b],       // fnsave [ebx]; fwait
        &[0xd9, 0x33, 0x9b],       // fnstenv [ebx]; fwait
        &[0x0f, 0xae, 0x03, 0x9b], // fxsave [ebx]; fwait
    ];
    let mut rows = Vec::new();
    for (bit, op, stk) in cases {
        for tail in tails {
            for fcw in [
                0x037f & !(1 << bit),
                0x0040 | (0x3f & !(1 << bit)),
                0x0f7f & !(1 << bit),
            ] {
                let mut code = op.to_vec();
                code.extend_from_slice(tail);
                rows.push(Row::new(raw(&code), with_fx(stack(fcw, &stk))));
            }
        }
    }
    // Already pending in the loaded state: B and ES with an unmasked flag.
    for tail in tails.iter().chain(
        [
            &[0xd9, 0xd0][..],
            &[0xd9, 0xe5][..],
            &[0x0f, 0x6f, 0xc1][..],
        ]
        .iter(),
    ) {
        for flag in 0..6u16 {
            let fx =
                stack(0x037f & !(1 << flag), &[one, three]).fsw((6 << 11) | 0x8080 | 1 << flag);
            rows.push(Row::new(raw(tail), with_fx(fx)));
        }
    }
    rows
}

/// FCMOVcc and the FCOMI family against every combination of CF, ZF and PF.
fn family_x87_flags() -> Vec<Row> {
    let ops: [[u8; 2]; 12] = [
        [0xda, 0xc1], // fcmovb
        [0xda, 0xc9], // fcmove
        [0xda, 0xd1], // fcmovbe
        [0xda, 0xd9], // fcmovu
        [0xdb, 0xc1], // fcmovnb
        [0xdb, 0xc9], // fcmovne
        [0xdb, 0xd1], // fcmovnbe
        [0xdb, 0xd9], // fcmovnu
        [0xdb, 0xf1], // fcomi
        [0xdb, 0xe9], // fucomi
        [0xdf, 0xf1], // fcomip
        [0xdf, 0xe9], // fucomip
    ];
    let mut rows = Vec::new();
    for op in &ops {
        for f in 0..8u32 {
            let flags = ((f & 1) * CF) | ((f >> 1 & 1) * ZF) | ((f >> 2 & 1) * PF) | OF | SF | AF;
            for stk in [[F80_EDGES[2], F80_EDGES[4]], [F80_EDGES[14], F80_EDGES[2]]] {
                rows.push(Row::new(raw(op), with_fx(stack(0x037f, &stk)).flags(flags)));
            }
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------
// MMX families.

/// Every MMX code in every operand form, with random states.
fn family_mmx_sweep() -> Vec<Row> {
    sweep(&codes_with(CpuidFeature::MMX), 0x33, 10)
}

/// MMX and the x87 register file: MMX instructions set TOP to 0 and tag every register
/// valid, writes set the exponent to all ones, EMMS empties the tags; x87 code after MMX
/// code finds a full stack.
fn family_mmx_aliasing() -> Vec<Row> {
    let seqs: [&[u8]; 16] = [
        &[0x0f, 0x6f, 0x03],                               // movq mm0, [ebx]
        &[0x0f, 0x7e, 0xd8],                               // movd eax, mm3 (a read)
        &[0x0f, 0x6f, 0x03, 0x0f, 0x77],                   // movq mm0, [ebx]; emms
        &[0x0f, 0x77],                                     // emms
        &[0x0f, 0x6f, 0x03, 0xd9, 0xe8],                   // movq; fld1 (stack overflow)
        &[0x0f, 0x6f, 0x03, 0x0f, 0x77, 0xd9, 0xe8],       // movq; emms; fld1
        &[0x0f, 0x6f, 0xd2, 0xdd, 0x1b], // movq mm2, mm2; fstp qword [ebx] (NaN-like)
        &[0x0f, 0x7f, 0x03],             // movq [ebx], mm0 (an x87 value's significand)
        &[0x0f, 0x7f, 0x3b],             // movq [ebx], mm7
        &[0x0f, 0xef, 0xc9, 0xd9, 0xc9], // pxor mm1, mm1; fxch st1
        &[0x0f, 0xfc, 0xc1, 0xdb, 0x2b], // paddb mm0, mm1; fld tbyte [ebx]
        &[0xd9, 0xe8, 0x0f, 0x7e, 0xc0], // fld1; movd eax, mm0
        &[0xd9, 0xe8, 0xd9, 0xee, 0x0f, 0x7f, 0x4b, 0x10], // fld1; fldz; movq [ebx+16], mm1
        &[0x0f, 0x6e, 0xc8, 0xdf, 0xe0], // movd mm1, eax; fnstsw ax
        &[0x0f, 0x6e, 0xc8, 0xd9, 0x33], // movd mm1, eax; fnstenv [ebx]
        &[0x0f, 0x6e, 0xc8, 0x0f, 0xae, 0x03], // movd mm1, eax; fxsave [ebx]
    ];
    let mut rng = Rng::new(0x31);
    let mut rows = Vec::new();
    for seq in seqs {
        for k in 0..12 {
            // x87 states (TOP anywhere, some registers valid) and MMX states.
            let fx = if k % 3 == 2 {
                let mut fx = Fx::fninit();
                for i in 0..8 {
                    fx = fx.mm(i, rng.next_u64());
                }
                fx
            } else {
                let n = [0, 1, 3, 5, 8][k % 5];
                let vals: Vec<F80> = (0..n).map(|_| f80_value(&mut rng)).collect();
                let mut fx = Fx::fninit().stack(&vals);
                for i in n..8 {
                    fx = fx.st_empty(i, f80_value(&mut rng));
                }
                fx
            };
            let data: Vec<u8> = (0..16).map(|_| rng.u32() as u8).collect();
            rows.push(Row::new(
                raw(seq),
                with_fx(fx)
                    .reg(EAX, rng.value())
                    .data_bytes((EA - DATA) as usize, &data),
            ));
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------
// SSE families.

fn family_sse_sweep() -> Vec<Row> {
    sweep(&codes_with(CpuidFeature::SSE), 0x55, 10)
}

fn family_sse2_sweep() -> Vec<Row> {
    sweep(&codes_with(CpuidFeature::SSE2), 0x52, 8)
}

fn family_sse3_sweep() -> Vec<Row> {
    sweep(&codes_with(CpuidFeature::SSE3), 0x53, 16)
}

fn family_ssse3_sweep() -> Vec<Row> {
    sweep(&codes_with(CpuidFeature::SSSE3), 0x5353, 24)
}

/// Codes working on floats or doubles (arithmetic, compares, conversions from and to them)
/// and the integer-to-float conversions.
fn simd_float_codes() -> Vec<Code> {
    fp_codes()
        .into_iter()
        .filter(|c| !is_x87_code(*c))
        .filter(|c| {
            let (el, _) = element_of(*c);
            let name = format!("{c:?}");
            matches!(el, MemorySize::Float32 | MemorySize::Float64) || name.starts_with("Cvt")
        })
        .filter(|c| {
            // Moves and logic do not round.
            !matches!(
                c.mnemonic(),
                Mnemonic::Movaps
                    | Mnemonic::Movapd
                    | Mnemonic::Movups
                    | Mnemonic::Movupd
                    | Mnemonic::Movss
                    | Mnemonic::Movsd
                    | Mnemonic::Movlps
                    | Mnemonic::Movlpd
                    | Mnemonic::Movhps
                    | Mnemonic::Movhpd
                    | Mnemonic::Movntps
                    | Mnemonic::Movntpd
                    | Mnemonic::Andps
                    | Mnemonic::Andpd
                    | Mnemonic::Andnps
                    | Mnemonic::Andnpd
                    | Mnemonic::Orps
                    | Mnemonic::Orpd
                    | Mnemonic::Xorps
                    | Mnemonic::Xorpd
            )
        })
        .collect()
}

/// Float arithmetic, compares and conversions under every MXCSR rounding mode with and
/// without DAZ and FTZ (all exceptions masked), on edge and rounding-sensitive values.
fn family_sse_rounding() -> Vec<Row> {
    let mut rng = Rng::new(0x5e);
    let mut rows = Vec::new();
    for code in simd_float_codes() {
        let (el, size) = element_of(code);
        for variant in [0, 1] {
            let Some(form) = build_form(code, variant, 0, EA) else {
                continue;
            };
            for mx in all_mxcsr() {
                for _ in 0..2 {
                    let mut row = form_row(code, &form, &mut rng, EA, &[]);
                    let mut fx = row.setup.fx.take().unwrap_or_default().mxcsr(mx);
                    for i in 0..8 {
                        fx = fx.xmm(i, xmm_value(&mut rng, el, size));
                    }
                    row.setup = row.setup.fx(fx);
                    rows.push(row);
                }
            }
        }
    }
    rows
}

/// Float operations with exceptions unmasked (each alone, and all): a masked-off exception
/// still sets its flag, an unmasked one raises #XM (vector 19) and leaves the destination
/// alone.
fn family_sse_exceptions() -> Vec<Row> {
    let mut rng = Rng::new(0x19);
    let mut rows = Vec::new();
    for code in simd_float_codes() {
        let (el, size) = element_of(code);
        let Some(form) = build_form(code, 0, 0, EA) else {
            continue;
        };
        for unmask in [0u32, 1, 2, 3, 4, 5, 6] {
            for _ in 0..3 {
                let masks = if unmask == 6 {
                    0
                } else {
                    0x3f & !(1 << unmask)
                };
                let mut row = form_row(code, &form, &mut rng, EA, &[]);
                let mut fx = row
                    .setup
                    .fx
                    .take()
                    .unwrap_or_default()
                    .mxcsr(masks << 7 | rng.below(4) << 13);
                for i in 0..8 {
                    fx = fx.xmm(i, xmm_value(&mut rng, el, size));
                }
                row.setup = row.setup.fx(fx);
                rows.push(row);
            }
        }
    }
    rows
}

/// LDMXCSR of every single bit (reserved ones raise #GP; this AMD host allows bit 17,
/// misaligned-SSE mode), STMXCSR, FXRSTOR with reserved MXCSR bits, and the faults of
/// their memory operands.
fn family_sse_mxcsr() -> Vec<Row> {
    let mut rows = Vec::new();
    let ldst = raw(&[0x0f, 0xae, 0x13, 0x0f, 0xae, 0x5b, 0x10]); // ldmxcsr [ebx]; stmxcsr [ebx+16]
    for bit in 0..32u32 {
        for base in [0x1f80u32, 0] {
            let v = base | 1 << bit;
            rows.push(Row::new(
                ldst.clone(),
                with_fx(Fx::fninit()).data_bytes((EA - DATA) as usize, &v.to_le_bytes()),
            ));
        }
    }
    for v in [0u32, 0xffff, 0x7f80, 0x9fc0, 0x1f80 | 0x3f, 0x2_1f80] {
        rows.push(Row::new(
            ldst.clone(),
            with_fx(Fx::fninit()).data_bytes((EA - DATA) as usize, &v.to_le_bytes()),
        ));
        // Misaligned (allowed) and straddling the end of the data region (#PF).
        rows.push(Row::new(
            raw(&[0x0f, 0xae, 0x53, 0x01]), // ldmxcsr [ebx+1]
            with_fx(Fx::fninit()).data_bytes((EA - DATA + 1) as usize, &v.to_le_bytes()),
        ));
    }
    let end = DATA + DATA_LEN as u32;
    rows.push(Row::new(
        raw(&[0x0f, 0xae, 0x13]),
        with_fx(Fx::fninit()).reg(EBX, end - 2),
    ));
    rows.push(Row::new(
        raw(&[0x0f, 0xae, 0x1b]),
        with_fx(Fx::fninit().mxcsr(0x7fbf)).reg(EBX, end - 2),
    ));
    rows.push(Row::new(
        raw(&[0x0f, 0xae, 0x1b]),
        with_fx(Fx::fninit().mxcsr(0x7fbf)).reg(EBX, CODE),
    ));
    // MXCSR.MM (bit 17, AMD's misaligned-SSE mode, which this host's MXCSR_MASK allows):
    // set by LDMXCSR or in the initial state, then an aligned form at a misaligned address.
    let mm = 0x2_1f80u32;
    rows.push(Row::new(
        raw(&[0x0f, 0xae, 0x13, 0x0f, 0x58, 0x43, 0x21]), // ldmxcsr [ebx]; addps xmm0, [ebx+0x21]
        with_fx(Fx::fninit()).data_bytes((EA - DATA) as usize, &mm.to_le_bytes()),
    ));
    for op in [[0x0f, 0x58, 0x43, 0x21], [0x0f, 0x28, 0x43, 0x21]] {
        // addps xmm0, [ebx+0x21] (allowed misaligned in MM mode); movaps (never).
        rows.push(Row::new(raw(&op), with_fx(Fx::fninit().mxcsr(mm))));
    }
    rows.push(Row::new(
        raw(&[0x0f, 0xae, 0x03]), // fxsave [ebx]: MXCSR and MXCSR_MASK as stored
        with_fx(Fx::fninit().mxcsr(mm)),
    ));
    // FXRSTOR of an image with each MXCSR bit above 15.
    for bit in 16..32u32 {
        let img = Fx::fninit().mxcsr(0x1f80 | 1 << bit).0;
        rows.push(Row::new(
            raw(&[0x0f, 0xae, 0x0b]), // fxrstor [ebx]
            with_fx(Fx::fninit().mxcsr(0x3f80)).data_bytes((EA - DATA) as usize, &img),
        ));
    }
    rows
}

/// Memory operands at misaligned addresses (aligned forms raise #GP(0)) and straddling the
/// end of the data region (#PF, or #GP first), for every form with a memory operand.
fn family_sse_alignment() -> Vec<Row> {
    let mut rng = Rng::new(0xa1);
    let mut rows = Vec::new();
    let end = DATA + DATA_LEN as u32;
    for code in fp_codes() {
        let Some(form) = build_form(code, 1, 0x1b, EA) else {
            continue;
        };
        let Some(ms) = form.mem else {
            continue;
        };
        let size = ms.size() as u32;
        for ea in [EA + 1, EA + 4, EA + 8, end - size / 2, end - 1] {
            let Some(f) = build_form(code, 1, 0x1b, ea) else {
                continue;
            };
            if ea + size.min(16) > end + 16 || size < 8 && ea < end - 8 && ea % 4 == 0 {
                continue;
            }
            let tail: &[u8] = if is_x87_code(code) { &[0x9b] } else { &[] };
            rows.push(form_row(
                code,
                &f,
                &mut rng,
                ea.min(end - size.min(16)),
                tail,
            ));
        }
    }
    rows
}

/// Non-temporal stores, fences and the byte-masked stores MASKMOVQ/MASKMOVDQU (to DS:EDI,
/// misaligned, at the end of the data region with the masked-off bytes past it).
fn family_sse_store_hints() -> Vec<Row> {
    let mut rng = Rng::new(0x77);
    let mut rows = Vec::new();
    let end = DATA + DATA_LEN as u32;
    let masks: [u128; 6] = [
        0,
        u128::MAX,
        0x8080_8080_8080_8080_8080_8080_8080_8080,
        0x0000_0000_0000_0000_0000_0000_0000_0080,
        0x8000_0000_0000_0000_0000_0000_0000_0000,
        0x0080_0000_0000_00ff_0000_0000_0000_0080,
    ];
    for (code, op) in [
        (Code::Maskmovq_rDI_mm_mm, &[0x0f, 0xf7, 0xca][..]), // maskmovq mm1, mm2
        (Code::Maskmovdqu_rDI_xmm_xmm, &[0x66, 0x0f, 0xf7, 0xca][..]), // maskmovdqu xmm1, xmm2
    ] {
        assert_eq!(codes(op, CODE)[0], code);
        for m in masks {
            for edi in [EA, EA + 3, end - 8, end - 16, end - 4, UNMAPPED] {
                let fx = Fx::fninit()
                    .xmm(1, rng.next_u64() as u128 | (rng.next_u64() as u128) << 64)
                    .xmm(2, m)
                    .mm(1, rng.next_u64())
                    .mm(2, m as u64);
                rows.push(Row::new(raw(op), with_fx(fx).reg(EDI, edi)));
            }
        }
    }
    let nt: [&[u8]; 9] = [
        &[0x0f, 0x2b, 0x0b],       // movntps [ebx], xmm1
        &[0x66, 0x0f, 0x2b, 0x0b], // movntpd [ebx], xmm1
        &[0x66, 0x0f, 0xe7, 0x0b], // movntdq [ebx], xmm1
        &[0x0f, 0xe7, 0x0b],       // movntq [ebx], mm1
        &[0x0f, 0xc3, 0x0b],       // movnti [ebx], ecx
        &[0x0f, 0xae, 0xf8],       // sfence
        &[0x0f, 0xae, 0xe8],       // lfence
        &[0x0f, 0xae, 0xf0],       // mfence
        &[0x0f, 0x18, 0x03],       // prefetchnta [ebx]
    ];
    for op in nt {
        for ebx in [EA, EA + 4, EA + 8, end - 8, UNMAPPED] {
            let fx = Fx::fninit()
                .xmm(1, u128::MAX / 3)
                .mm(1, 0x1122_3344_5566_7788);
            rows.push(Row::new(
                raw(op),
                with_fx(fx).reg(EBX, ebx).reg(ECX, 0xdead_beef),
            ));
        }
    }
    rows
}

/// FXSAVE of random states (pending x87 exceptions, whose pointers the host stores, MMX
/// states, every MXCSR), FXRSTOR of random images, then a waiting instruction; misaligned
/// and unmapped operands.
fn family_fxsave() -> Vec<Row> {
    let mut rng = Rng::new(0xf5);
    let mut rows = Vec::new();
    for k in 0..96 {
        let code = if k % 2 == 0 {
            Code::Fld1
        } else {
            Code::Paddb_mm_mmm64
        };
        let fx = fp_state(&mut rng, code, MemorySize::Float32, 4);
        // An x87 operation first, so that the pointers are the guest's.
        let pre: &[u8] = match k % 4 {
            0 => &[0xd9, 0xc9],       // fxch st1
            1 => &[0xdd, 0x43, 0x40], // fld qword [ebx+0x40]
            2 => &[],
            _ => &[0xd8, 0x43, 0x44], // fadd dword [ebx+0x44]
        };
        let mut c = pre.to_vec();
        c.extend_from_slice(&[0x0f, 0xae, 0x83, 0x00, 0x02, 0x00, 0x00]); // fxsave [ebx+0x200]
        let data: Vec<u8> = (0..16).map(|_| rng.u32() as u8).collect();
        rows.push(Row::new(
            raw(&c),
            with_fx(fx).data_bytes((EA - DATA + 0x40) as usize, &data),
        ));
    }
    for _ in 0..96 {
        let before = fp_state(&mut rng, Code::Fld1, MemorySize::Float64, 8);
        let img = fill_mem(&mut rng, MemorySize::Fxsave_512Byte);
        for tail in [&[][..], &[0x9b][..]] {
            let mut c = vec![0x0f, 0xae, 0x0b]; // fxrstor [ebx]
            c.extend_from_slice(tail);
            rows.push(Row::new(
                raw(&c),
                with_fx(before.clone()).data_bytes((EA - DATA) as usize, &img),
            ));
        }
    }
    for ebx in [EA + 8, EA + 1, DATA + DATA_LEN as u32 - 256, UNMAPPED, CODE] {
        for op in [[0x0f, 0xae, 0x03], [0x0f, 0xae, 0x0b]] {
            rows.push(Row::new(
                raw(&op),
                with_fx(Fx::fninit().mxcsr(0x1f81)).reg(EBX, ebx),
            ));
        }
    }
    rows
}

/// The oracle itself, against hand-typed results.
fn family_sanity() -> Vec<Row> {
    let two = F80::new(0x4000, 1 << 63);
    vec![
        // fld1; fld1; faddp
        Row::new(
            raw(&[0xd9, 0xe8, 0xd9, 0xe8, 0xde, 0xc1]),
            with_fx(Fx::fninit()),
        )
        .expect(Expect::St(0, two))
        .expect(Expect::Stop(3)),
        // 1 / 0 with ZE unmasked, then fwait: #MF; ZE, ES and B set.
        Row::new(
            raw(&[0xd8, 0xf1, 0x9b]),
            with_fx(stack(0x037b, &[F80_EDGES[2], F80_EDGES[0]])),
        )
        .expect(Expect::Stop(16))
        .expect(Expect::Fsw(0x80ff, 0x8084)),
        // divps xmm0, xmm1 with 1 / 0 and ZE unmasked: #XM.
        Row::new(
            raw(&[0x0f, 0x5e, 0xc1]),
            with_fx(Fx::fninit().mxcsr(0x1d80).xmm(0, 0x3f80_0000).xmm(1, 0)),
        )
        .expect(Expect::Stop(19))
        .expect(Expect::Xmm(0, 0x3f80_0000)),
        // ldmxcsr with reserved bit 16: #GP(0).
        Row::new(
            raw(&[0x0f, 0xae, 0x13]),
            with_fx(Fx::fninit()).data_bytes((EA - DATA) as usize, &0x1_1f80u32.to_le_bytes()),
        )
        .expect(Expect::Stop(13))
        .expect(Expect::Mxcsr(0x1f80)),
        // movaps xmm0, [ebx+1]: #GP(0).
        Row::new(raw(&[0x0f, 0x28, 0x43, 0x01]), with_fx(Fx::fninit())).expect(Expect::Stop(13)),
        // pshufb xmm0, xmm1 with indexes 15..0 reverses the bytes.
        Row::new(
            raw(&[0x66, 0x0f, 0x38, 0x00, 0xc1]),
            with_fx(
                Fx::fninit()
                    .xmm(0, 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100)
                    .xmm(1, 0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f),
            ),
        )
        .expect(Expect::Xmm(0, 0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f)),
        // fbstp of -12345.5 (round to nearest even): 12346 with the sign byte 0x80.
        Row::new(
            raw(&[0xdf, 0x33]),
            with_fx(stack(0x037f, &[F80::new(0xc00c, 0xc0e6_0000_0000_0000)])),
        )
        .expect(Expect::Mem(
            EA,
            vec![0x46, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0x80],
        )),
    ]
}

// ---------------------------------------------------------------------------------------
// Tests.

type Family = (&'static str, fn() -> Vec<Row>);

fn all_families() -> Vec<Family> {
    vec![
        ("x87_sweep", family_x87_sweep),
        ("x87_binary_edges", family_x87_binary_edges),
        ("x87_unary_edges", family_x87_unary_edges),
        ("x87_memory_edges", family_x87_memory_edges),
        ("x87_bcd", family_x87_bcd),
        ("x87_control", family_x87_control),
        ("x87_stack_faults", family_x87_stack_faults),
        ("x87_unmasked", family_x87_unmasked),
        ("x87_flags", family_x87_flags),
        ("mmx_sweep", family_mmx_sweep),
        ("mmx_aliasing", family_mmx_aliasing),
        ("sse_sweep", family_sse_sweep),
        ("sse2_sweep", family_sse2_sweep),
        ("sse3_sweep", family_sse3_sweep),
        ("ssse3_sweep", family_ssse3_sweep),
        ("sse_rounding", family_sse_rounding),
        ("sse_exceptions", family_sse_exceptions),
        ("sse_mxcsr", family_sse_mxcsr),
        ("sse_alignment", family_sse_alignment),
        ("sse_store_hints", family_sse_store_hints),
        ("fxsave", family_fxsave),
        ("sanity", family_sanity),
    ]
}

macro_rules! family_tests {
    ($($name:ident => $f:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_rows(stringify!($name), $f());
            }
        )*
    };
}

family_tests! {
    x87_sweep => family_x87_sweep,
    x87_binary_edges => family_x87_binary_edges,
    x87_unary_edges => family_x87_unary_edges,
    x87_memory_edges => family_x87_memory_edges,
    x87_bcd => family_x87_bcd,
    x87_control => family_x87_control,
    x87_stack_faults => family_x87_stack_faults,
    x87_unmasked => family_x87_unmasked,
    x87_flags => family_x87_flags,
    mmx_sweep => family_mmx_sweep,
    mmx_aliasing => family_mmx_aliasing,
    sse_sweep => family_sse_sweep,
    sse2_sweep => family_sse2_sweep,
    sse3_sweep => family_sse3_sweep,
    ssse3_sweep => family_ssse3_sweep,
    sse_rounding => family_sse_rounding,
    sse_exceptions => family_sse_exceptions,
    sse_mxcsr => family_sse_mxcsr,
    sse_alignment => family_sse_alignment,
    sse_store_hints => family_sse_store_hints,
    fxsave => family_fxsave,
    sanity => family_sanity,
}

#[test]
fn coverage() {
    let mut exercised = BTreeSet::new();
    let mut rows = 0;
    for (_, f) in all_families() {
        for r in f() {
            rows += 1;
            for i in decode(&r.code, r.setup.entry()) {
                exercised.insert(i.code());
            }
        }
    }
    let all: BTreeSet<Code> = fp_codes().into_iter().collect();
    let claimed: BTreeSet<Code> = xdbt::frontend::claimed_codes()
        .into_iter()
        .filter(|c| all.contains(c))
        .collect();
    let covered = claimed.intersection(&exercised).count();
    let pct = 100.0 * covered as f64 / claimed.len().max(1) as f64;
    let by_feature = |set: &BTreeSet<Code>| -> String {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for c in set {
            let f: Vec<String> = c
                .cpuid_features()
                .iter()
                .map(|f| format!("{f:?}"))
                .collect();
            *m.entry(f.join("+")).or_default() += 1;
        }
        m.iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "fp coverage: covered={covered} claimed={} ({pct:.1}%) all32={} (rows={rows})",
        claimed.len(),
        all.len()
    );
    println!("claimed by feature: {}", by_feature(&claimed));
    let unclaimed: BTreeSet<Code> = all.difference(&claimed).copied().collect();
    println!(
        "valid in 32-bit mode but not claimed ({}): {:?}",
        unclaimed.len(),
        unclaimed
    );
    let missing: Vec<&Code> = claimed.difference(&exercised).collect();
    println!("claimed but not covered ({}): {missing:?}", missing.len());
    assert!(
        pct >= 95.0,
        "coverage {pct:.1}% < 95% of the claimed x87/MMX/SSE codes"
    );
}
