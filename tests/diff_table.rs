//! Instruction tests as data, with the host CPU as the oracle (cf. icicle's `x86.ins`, Xen's
//! `tools/tests/x86_emulator`, QEMU's `tests/tcg/i386/test-i386.c`).
//!
//! Each family is a table of rows: code (assembled with iced's `code_asm`, or generated for
//! every operand form of the family's mnemonics by [`sweep`]) and an initial state. Every row
//! runs natively ([`xdbt::hosted::oracle`]) and translated
//! ([`xdbt::hosted::snippet::SnippetRunner`]) and the results must be equal, so rows need no
//! expected values; a few carry hand-typed ones ([`Expect`]) as a check of the oracle itself.
//!
//! `coverage` prints which of the codes the translator claims
//! (`xdbt::frontend::claimed_codes`) the tables exercise, and asserts at least 95%. The
//! x87/MMX/SSE codes are counted by `diff_fp.rs` instead (`support::is_fp_code`).

mod support;

use iced_x86::code_asm::*;
use iced_x86::{
    Code, CpuidFeature, Encoder, EncodingKind, Instruction, MemoryOperand, Mnemonic,
    OpCodeOperandKind as K, Register,
};
use std::collections::BTreeSet;
use support::*;
use xdbt::hosted::snippet::{SnippetCase, SnippetResult};

type Asm = CodeAssembler;
type AsmResult = Result<(), IcedError>;

/// A hand-typed expectation about the native result (a sanity check of the oracle).
#[derive(Clone, Debug)]
enum Expect {
    Reg(usize, u32),
    Eip(u32),
    /// Vector and error code.
    Stop(u8, u32),
    Cr2(u32),
    /// (mask, value) of EFLAGS.
    Flags(u32, u32),
    /// Bytes at an address of the data or stack region.
    Mem(u32, Vec<u8>),
}

#[derive(Clone, Debug)]
struct Row {
    code: Vec<u8>,
    /// Bytes run natively instead of `code` (same length), where the host CPU implements
    /// more than the translator's virtual CPUID admits (TZCNT/LZCNT without BMI1/ABM).
    native_code: Option<Vec<u8>>,
    setup: Setup,
    /// EFLAGS bits allowed to differ: only SDM-undefined ones, and only where observed.
    allow: u32,
    /// Registers not compared (bit per register): CPUID and RDTSC results are virtual.
    ignore_regs: u8,
    expect: Vec<Expect>,
}

impl Row {
    fn new(code: Vec<u8>, setup: Setup) -> Row {
        Row {
            code,
            native_code: None,
            setup,
            allow: 0,
            ignore_regs: 0,
            expect: Vec::new(),
        }
    }
    fn expect(mut self, e: Expect) -> Row {
        self.expect.push(e);
        self
    }
    fn ignore(mut self, regs: &[usize]) -> Row {
        for r in regs {
            self.ignore_regs |= 1 << r;
        }
        self
    }
}

/// Every combination of codes and setups.
fn cross(codes: &[Vec<u8>], setups: &[Setup]) -> Vec<Row> {
    let mut rows = Vec::with_capacity(codes.len() * setups.len());
    for c in codes {
        for s in setups {
            rows.push(Row::new(c.clone(), s.clone()));
        }
    }
    rows
}

fn check_expect(e: &Expect, n: &SnippetResult) -> Result<(), String> {
    let ok = match e {
        Expect::Reg(r, v) => n.regs[*r] == *v,
        Expect::Eip(v) => n.eip == *v,
        Expect::Stop(v, err) => n.stop.vector == *v && n.stop.error_code == *err,
        Expect::Cr2(v) => n.stop.cr2 == *v,
        Expect::Flags(m, v) => n.eflags & m == *v,
        Expect::Mem(a, bytes) => {
            let (base, r) = if *a >= STACK { (STACK, 2) } else { (DATA, 1) };
            let off = (a - base) as usize;
            n.regions[r][off..off + bytes.len()] == bytes[..]
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "native result does not meet hand-typed {e:x?}: regs {:x?} eip {:#x} eflags {:#x} stop {:x?}",
            n.regs, n.eip, n.eflags, n.stop
        ))
    }
}

fn native_case(row: &Row, case: &SnippetCase) -> SnippetCase {
    let mut c = case.clone();
    if let Some(nc) = &row.native_code {
        assert_eq!(nc.len(), row.code.len(), "native_code must keep the length");
        let off = row.setup.code_off as usize;
        c.regions[0].data[off..off + nc.len()].copy_from_slice(nc);
    }
    c
}

/// Run the rows of a family on both sides and fail with a report of the mismatches.
fn run_rows(family: &str, rows: Vec<Row>) {
    for r in &rows {
        let undef = sdm_undefined_flags(&r.code, r.setup.entry());
        assert_eq!(
            r.allow & !undef,
            0,
            "{family}: a row masks flags the SDM defines"
        );
    }
    let mut sides = Sides::new();
    let mut failures = Vec::new();
    let mut expect_failures = Vec::new();
    let mut masked = 0usize;
    let mut summary = Vec::new();
    for chunk in rows.chunks(2048) {
        let cases: Vec<SnippetCase> = chunk.iter().map(|r| r.setup.case(&r.code)).collect();
        let native: Vec<SnippetCase> = chunk
            .iter()
            .zip(&cases)
            .map(|(r, c)| native_case(r, c))
            .collect();
        let needs_native_copy = chunk.iter().any(|r| r.native_code.is_some());
        let outcomes = if needs_native_copy {
            run_split(&mut sides, &native, &cases)
        } else {
            sides.run(&cases)
        };
        for ((row, case), mut out) in chunk.iter().zip(&cases).zip(outcomes) {
            if let Ok(n) = &out.native {
                for e in &row.expect {
                    if let Err(msg) = check_expect(e, n) {
                        expect_failures.push(format!("{msg}\n{}", disassemble(case, &[])));
                    }
                }
                for k in 0..8 {
                    if row.ignore_regs & (1 << k) != 0 {
                        out.translated.regs[k] = n.regs[k];
                    }
                }
                if row.allow != 0
                    && diff(case, n, &out.translated, 0).len()
                        != diff(case, n, &out.translated, row.allow).len()
                {
                    masked += 1;
                }
            }
            if let Err(report) = out.check(case, row.allow) {
                summary.push(summary_line(row, &out, case));
                failures.push(report);
            }
        }
    }
    println!(
        "{family}: {} rows, {} mismatches, {} passing only thanks to SDM-undefined flag masks",
        rows.len(),
        failures.len(),
        masked
    );
    assert!(
        expect_failures.is_empty(),
        "{family}: oracle sanity checks failed:\n{}",
        expect_failures.join("\n")
    );
    if !failures.is_empty() {
        // XDBT_TABLE_SHOW=<text>: show the mismatches whose summary line contains <text>.
        let filter = std::env::var("XDBT_TABLE_SHOW").unwrap_or_default();
        let shown: Vec<&String> = failures
            .iter()
            .zip(&summary)
            .filter(|(_, s)| s.contains(&filter))
            .map(|(f, _)| f)
            .take(12)
            .collect();
        // Mismatches grouped by code and by what differs.
        let mut groups = std::collections::BTreeMap::new();
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
}

/// One line for grouping mismatches: the row's instructions (without the x87 prologue and
/// epilogue) and which parts of the state differ.
fn summary_line(row: &Row, out: &Outcome, case: &SnippetCase) -> String {
    let mut f = iced_x86::IntelFormatter::new();
    let mut text = Vec::new();
    for i in decode(&row.code, row.setup.entry()) {
        let x87_frame = (0..i.op_count()).any(|k| i.op_kind(k) == iced_x86::OpKind::Memory)
            && i.memory_base() == Register::None
            && (DATA + 0x1800..DATA + 0x2000).contains(&i.memory_displacement32());
        if matches!(i.code(), Code::Int3 | Code::Fninit) || x87_frame {
            continue;
        }
        let mut t = String::new();
        iced_x86::Formatter::format(&mut f, &i, &mut t);
        text.push(t);
    }
    let what = match &out.native {
        Ok(n) => {
            let d = diff(case, n, &out.translated, row.allow);
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

/// Like [`Sides::run`] with different bytes natively.
/// The code region of the native results is patched back to the translated bytes.
fn run_split(
    sides: &mut Sides,
    native: &[SnippetCase],
    translated: &[SnippetCase],
) -> Vec<Outcome> {
    let n = sides
        .oracle
        .run_many(native)
        .unwrap_or_else(|e| panic!("native oracle failed: {e}"));
    n.into_iter()
        .zip(native.iter().zip(translated))
        .map(|(mut res, (nc, tc))| {
            if let Ok(r) = &mut res {
                // Keep what the case itself changed in its code region (nothing, normally).
                for ((b, orig_n), orig_t) in r.regions[0]
                    .iter_mut()
                    .zip(&nc.regions[0].data)
                    .zip(&tc.regions[0].data)
                {
                    if *b == *orig_n {
                        *b = *orig_t;
                    }
                }
            }
            Outcome {
                native: res,
                translated: sides.xl.run(tc),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Generated operand forms.

/// IA-32 integer instructions: legacy encoding, valid in 32-bit mode, no x87/MMX/SSE/3DNow.
fn is_integer_legacy_32(c: Code) -> bool {
    let op = c.op_code();
    if c == Code::INVALID
        || !op.is_instruction()
        || !op.mode32()
        || op.encoding() != EncodingKind::Legacy
    {
        return false;
    }
    const EXCLUDED: [&str; 16] = [
        "FPU",
        "MMX",
        "SSE",
        "SSSE3",
        "AVX",
        "D3NOW",
        "AES",
        "PCLMUL",
        "SHA",
        "GFNI",
        "KNC",
        "FMA",
        "F16C",
        "XOP",
        "AMX",
        "CYRIX_D3NOW",
    ];
    let bad_feature = c.cpuid_features().iter().any(|f| {
        let n = format!("{f:?}");
        EXCLUDED.iter().any(|p| n.contains(p))
    });
    let bad_op = op.op_kinds().iter().any(|k| {
        matches!(
            k,
            K::mm_or_mem
                | K::xmm_or_mem
                | K::ymm_or_mem
                | K::zmm_or_mem
                | K::mm_reg
                | K::mm_rm
                | K::xmm_reg
                | K::xmm_rm
                | K::xmm_vvvv
                | K::st0
                | K::sti_opcode
                | K::bnd_reg
                | K::bnd_or_mem_mpx
                | K::k_reg
                | K::k_rm
                | K::tmm_reg
        )
    });
    !bad_feature && !bad_op
}

#[derive(Clone, Copy, Debug)]
enum Op {
    R(Register),
    I(u32),
    S(i32),
    M(MemoryOperand),
    B(u64),
}

fn make(code: Code, ops: &[Op]) -> Option<Instruction> {
    use Op::*;
    let r = match *ops {
        [] => Ok(Instruction::with(code)),
        [B(t)] => Instruction::with_branch(code, t),
        [R(a)] => Instruction::with1(code, a),
        [I(a)] => Instruction::with1(code, a),
        [S(a)] => Instruction::with1(code, a),
        [M(a)] => Instruction::with1(code, a),
        [R(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), I(b)] => Instruction::with2(code, a, b),
        [R(a), S(b)] => Instruction::with2(code, a, b),
        [R(a), M(b)] => Instruction::with2(code, a, b),
        [M(a), R(b)] => Instruction::with2(code, a, b),
        [M(a), I(b)] => Instruction::with2(code, a, b),
        [M(a), S(b)] => Instruction::with2(code, a, b),
        [I(a), R(b)] => Instruction::with2(code, a, b),
        [I(a), I(b)] => Instruction::with2(code, a, b),
        [R(a), R(b), I(c)] => Instruction::with3(code, a, b, c),
        [R(a), R(b), S(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), I(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), S(c)] => Instruction::with3(code, a, b, c),
        [M(a), R(b), I(c)] => Instruction::with3(code, a, b, c),
        [R(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        [M(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        _ => return None,
    };
    r.ok()
}

/// Encode one instruction at `ip` (no int3 appended).
fn encode1(i: &Instruction, ip: u32) -> Option<Vec<u8>> {
    let mut e = Encoder::new(32);
    e.encode(i, u64::from(ip)).ok()?;
    Some(e.take_buffer())
}

const R32: [Register; 7] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::EBP,
    Register::ESI,
    Register::EDI,
];
const R16: [Register; 7] = [
    Register::AX,
    Register::CX,
    Register::DX,
    Register::BX,
    Register::BP,
    Register::SI,
    Register::DI,
];
const R8: [Register; 8] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::AH,
    Register::CH,
    Register::DH,
    Register::BH,
];

fn reg_index(r: Register) -> usize {
    R32.iter()
        .position(|x| *x == r.full_register32())
        .map_or(ESP, |p| [EAX, ECX, EDX, EBX, EBP, ESI, EDI][p])
}

/// Where branch targets of generated forms go: the `int3` padding.
const TARGET: u32 = CODE + 0x40;

/// One generated instruction with the register and memory values it needs.
struct Form {
    bytes: Vec<u8>,
    /// Registers forced to a value (memory bases, indirect branch targets).
    fix_regs: Vec<(usize, u32)>,
    /// Data-region dwords forced to a value (indirect branch targets in memory).
    fix_data: Vec<(usize, u32)>,
}

/// Build the `variant`th form of `code` from its operand kinds: variant 0 uses registers for
/// r/m operands, 1 a `[base+disp8]` memory operand, 2 `[base+index*scale+disp32]`; register
/// choices and immediates differ between variants.
fn build_form(code: Code, variant: usize, rng: &mut Rng) -> Option<Form> {
    let kinds = code.op_code().op_kinds();
    let has_rm = kinds
        .iter()
        .any(|k| matches!(k, K::r8_or_mem | K::r16_or_mem | K::r32_or_mem));
    let use_mem = variant > 0 && has_rm;
    let mnem = code.mnemonic();
    let mut next = variant * 3;
    let mut ops = Vec::new();
    let mut used = Vec::new();
    let mut mem_at = None;
    let mut reg = |list: &[Register], used: &mut Vec<Register>| {
        let r = list[next % list.len()];
        next += 1;
        used.push(r.full_register32());
        r
    };
    for (n, k) in kinds.iter().enumerate() {
        let o = match k {
            K::r8_or_mem | K::r16_or_mem | K::r32_or_mem if use_mem => {
                mem_at = Some(n);
                Op::M(MemoryOperand::default())
            }
            K::mem => {
                mem_at = Some(n);
                Op::M(MemoryOperand::default())
            }
            K::mem_offs => Op::M(MemoryOperand::with_displ(
                u64::from(DATA + 0x124 + variant as u32 * 0x10),
                4,
            )),
            K::r8_or_mem | K::r8_reg | K::r8_opcode => Op::R(reg(&R8, &mut used)),
            K::r16_or_mem | K::r16_reg | K::r16_opcode | K::r16_rm | K::r16_reg_mem => {
                Op::R(reg(&R16, &mut used))
            }
            K::r32_or_mem | K::r32_reg | K::r32_opcode | K::r32_rm | K::r32_reg_mem => {
                Op::R(reg(&R32, &mut used))
            }
            K::seg_reg => {
                let writes = n == 0 && mnem == Mnemonic::Mov;
                let list: &[Register] = if writes {
                    &[
                        Register::DS,
                        Register::ES,
                        Register::FS,
                        Register::GS,
                        Register::SS,
                    ]
                } else {
                    &[
                        Register::CS,
                        Register::SS,
                        Register::DS,
                        Register::ES,
                        Register::FS,
                        Register::GS,
                    ]
                };
                Op::R(list[variant % list.len()])
            }
            K::cr_reg => Op::R([Register::CR0, Register::CR2, Register::CR3][variant % 3]),
            K::dr_reg => Op::R([Register::DR0, Register::DR7, Register::DR6][variant % 3]),
            K::tr_reg => Op::R(Register::TR6),
            K::st0 => Op::R(Register::ST0),
            K::sti_opcode => Op::R([Register::ST1, Register::ST2, Register::ST3][variant % 3]),
            K::al => Op::R(Register::AL),
            K::cl => Op::R(Register::CL),
            K::ax => Op::R(Register::AX),
            K::dx => Op::R(Register::DX),
            K::eax => Op::R(Register::EAX),
            K::es => Op::R(Register::ES),
            K::cs => Op::R(Register::CS),
            K::ss => Op::R(Register::SS),
            K::ds => Op::R(Register::DS),
            K::fs => Op::R(Register::FS),
            K::gs => Op::R(Register::GS),
            K::imm8 if matches!(mnem, Mnemonic::Enter) => Op::I([0, 1, 2][variant % 3]),
            K::imm16 if matches!(mnem, Mnemonic::Enter) => Op::I([0, 8, 0x24][variant % 3]),
            K::imm8 => {
                Op::I(*rng.pick(&[0, 1, 2, 7, 8, 15, 16, 31, 32, 33, 0x7f, 0x80, 0xff, 0x5a]))
            }
            K::imm8_const_1 => Op::I(1),
            K::imm8sex16 | K::imm8sex32 => Op::S(*rng.pick(&[0, 1, -1, 0x7f, -0x80, 0x33, -2])),
            K::imm16 => Op::I(*rng.pick(&[0, 1, 4, 0x7fff, 0x8000, 0xffff, 0x1234])),
            K::imm32 => {
                Op::I(*rng.pick(&[0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1234_5678]))
            }
            K::br32_1 | K::br32_4 => Op::B(u64::from(TARGET)),
            // 16-bit operand size: the target is truncated to 16 bits (an unmapped page).
            K::br16_1 | K::br16_2 => Op::B(0x40),
            K::None => continue,
            _ => return None,
        };
        ops.push(o);
    }
    if use_mem && mem_at.is_none() {
        return None;
    }
    let mut fix_regs = Vec::new();
    let mut fix_data = Vec::new();
    if let Some(n) = mem_at {
        let free: Vec<Register> = [
            Register::EBX,
            Register::ESI,
            Register::EDI,
            Register::EBP,
            Register::EDX,
        ]
        .into_iter()
        .filter(|r| !used.contains(r))
        .collect();
        let base = free[variant % free.len()];
        let (m, ea) = if variant < 2 {
            let disp = (rng.below(0x80) as i64) - 0x40;
            fix_regs.push((reg_index(base), DATA + 0x1000));
            (
                MemoryOperand::with_base_displ_size(base, disp, 1),
                (DATA + 0x1000).wrapping_add(disp as u32),
            )
        } else {
            let index = free[(variant + 1) % free.len()];
            if index == base {
                return None;
            }
            let scale = [1u32, 2, 4, 8][rng.below(4) as usize];
            let iv = rng.below(0x40);
            fix_regs.push((reg_index(base), DATA + 0x800));
            fix_regs.push((reg_index(index), iv));
            (
                MemoryOperand::with_base_index_scale_displ_size(base, index, scale, 0x100, 4),
                DATA + 0x900 + iv * scale,
            )
        };
        ops[n] = Op::M(m);
        if matches!(mnem, Mnemonic::Call | Mnemonic::Jmp) {
            fix_data.push(((ea - DATA) as usize, TARGET));
        }
    }
    // Indirect branches through a register go to the int3 padding too.
    if matches!(mnem, Mnemonic::Call | Mnemonic::Jmp) && mem_at.is_none() {
        if let Some(Op::R(r)) = ops.first() {
            if r.size() == 4 {
                fix_regs.push((reg_index(*r), TARGET));
            }
        }
    }
    // Enter and leave use EBP as a frame pointer: keep it in the stack region.
    if matches!(mnem, Mnemonic::Enter | Mnemonic::Leave) {
        fix_regs.push((EBP, STACK_TOP + 0x40));
    }
    let insn = make(code, &ops)?;
    let bytes = encode1(&insn, CODE)?;
    // Keep only what decodes back to the same code with the default options.
    let back = decode(&bytes, CODE);
    if back.len() != 1 || back[0].code() != code {
        return None;
    }
    Some(Form {
        bytes,
        fix_regs,
        fix_data,
    })
}

/// Rows for every operand form of every integer code of `mnemonics`, each run with
/// `inputs` random register/flag states.
fn sweep(mnemonics: &[Mnemonic], seed: u64, inputs: usize) -> Vec<Row> {
    let codes: Vec<Code> = Code::values()
        .filter(|c| is_integer_legacy_32(*c) && mnemonics.contains(&c.mnemonic()))
        .collect();
    sweep_codes(&codes, seed, inputs, &[], &[], |s, _| s)
}

/// Rows for every operand form of `codes`, each run with `inputs` random register/flag
/// states, wrapped in `prologue` and `epilogue` bytes; `adjust` may change each setup.
fn sweep_codes(
    codes: &[Code],
    seed: u64,
    inputs: usize,
    prologue: &[u8],
    epilogue: &[u8],
    adjust: impl Fn(Setup, &mut Rng) -> Setup,
) -> Vec<Row> {
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    let base = Setup::default().fill_stack_u32(TARGET);
    let mut seen = BTreeSet::new();
    for &code in codes {
        // Far branches are not part of the Linux user-mode ISA the tables cover.
        let name = format!("{code:?}");
        let far_mem = ["m1616", "m1632", "m1664"].iter().any(|m| name.contains(m));
        if code
            .op_code()
            .op_kinds()
            .iter()
            .any(|k| matches!(k, K::farbr2_2 | K::farbr4_2))
            || matches!(code.mnemonic(), Mnemonic::Call | Mnemonic::Jmp) && far_mem
        {
            continue;
        }
        for variant in 0..3 {
            let Some(form) = build_form(code, variant, &mut rng) else {
                continue;
            };
            if !seen.insert(form.bytes.clone()) {
                continue;
            }
            let mut setup = base.clone();
            for (off, v) in &form.fix_data {
                setup = setup.data_u32(*off, *v);
            }
            for _ in 0..inputs {
                let mut s = setup.clone();
                for k in [EAX, ECX, EDX, EBX, EBP, ESI, EDI] {
                    s.regs[k] = rng.value();
                }
                for (k, v) in &form.fix_regs {
                    s.regs[*k] = *v;
                }
                s.eflags = rng.flags(false);
                let s = adjust(s, &mut rng);
                let mut code_bytes = prologue.to_vec();
                code_bytes.extend_from_slice(&form.bytes);
                code_bytes.extend_from_slice(epilogue);
                code_bytes.push(0xcc);
                let mut row = Row::new(code_bytes, s);
                if matches!(code.mnemonic(), Mnemonic::Tzcnt | Mnemonic::Lzcnt) {
                    row.native_code = Some(bsf_for_tzcnt(&row.code));
                }
                rows.push(row);
            }
        }
    }
    rows
}

/// The translator's virtual CPU has no BMI1/ABM, so F3 0F BC/BD is BSF/BSR for the guest,
/// while this host runs TZCNT/LZCNT: natively run `nop` + the bytes without the F3.
fn bsf_for_tzcnt(code: &[u8]) -> Vec<u8> {
    let p = code.iter().position(|&b| b == 0xf3).expect("F3 prefix");
    let mut v = vec![0x90];
    v.extend(
        code.iter()
            .enumerate()
            .filter(|(i, _)| *i != p)
            .map(|(_, b)| *b),
    );
    v
}

// ---------------------------------------------------------------------------------------
// Helpers for hand-written tables.

fn a(f: impl FnOnce(&mut Asm) -> AsmResult) -> Vec<u8> {
    asm(f)
}

fn with_regs(vals: &[(usize, u32)]) -> Setup {
    let mut s = Setup::default();
    for (r, v) in vals {
        s.regs[*r] = *v;
    }
    s
}

/// Find the code of `mnemonic` with exactly these operand kinds.
fn code_of(m: Mnemonic, kinds: &[K]) -> Code {
    Code::values()
        .find(|c| c.mnemonic() == m && c.op_code().op_kinds() == kinds && is_integer_legacy_32(*c))
        .unwrap_or_else(|| panic!("no code {m:?} {kinds:?}"))
}

fn enc(insns: &[Instruction]) -> Vec<u8> {
    encode(CODE, insns).expect("encoding")
}

macro_rules! i2 {
    ($code:expr, $a:expr, $b:expr) => {
        Instruction::with2($code, $a, $b).expect("instruction")
    };
}

// ---------------------------------------------------------------------------------------
// Families.

fn family_alu() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(
        &[
            M::Add,
            M::Or,
            M::Adc,
            M::Sbb,
            M::And,
            M::Sub,
            M::Xor,
            M::Cmp,
            M::Test,
            M::Inc,
            M::Dec,
            M::Neg,
            M::Not,
            M::Mov,
            M::Movzx,
            M::Movsx,
        ],
        1,
        6,
    );
    let ops: [fn(&mut Asm) -> AsmResult; 9] = [
        |a| a.add(eax, ebx),
        |a| a.adc(eax, ebx),
        |a| a.sub(eax, ebx),
        |a| a.sbb(eax, ebx),
        |a| a.cmp(eax, ebx),
        |a| a.and(eax, ebx),
        |a| a.or(eax, ebx),
        |a| a.xor(eax, ebx),
        |a| a.test(eax, ebx),
    ];
    let ops8h: [fn(&mut Asm) -> AsmResult; 5] = [
        |a| a.add(ah, bh),
        |a| a.adc(ch, dl),
        |a| a.sub(dh, ah),
        |a| a.sbb(bh, ch),
        |a| a.cmp(ah, al),
    ];
    let ops16: [fn(&mut Asm) -> AsmResult; 4] = [
        |a| a.add(ax, bx),
        |a| a.adc(ax, bx),
        |a| a.sub(ax, bx),
        |a| a.sbb(ax, bx),
    ];
    let pairs: [(u32, u32); 12] = [
        (0, 0),
        (1, 1),
        (0x7fff_ffff, 1),
        (0x8000_0000, 0x8000_0000),
        (0xffff_ffff, 1),
        (0x80, 0x80),
        (0x7f, 1),
        (0xff, 1),
        (0x8000, 0x8000),
        (0x7fff, 1),
        (0xffff, 1),
        (0x1234_5678, 0x9abc_def0),
    ];
    let mut setups = Vec::new();
    for (x, y) in pairs {
        for f in [0, CF] {
            // Both bytes of the 16-bit halves carry the pattern for the high-byte forms.
            let rep = |v: u32| v | (v << 8) & 0xff00;
            setups.push(
                with_regs(&[(EAX, rep(x)), (EBX, rep(y)), (ECX, rep(y)), (EDX, rep(x))]).flags(f),
            );
        }
    }
    let codes: Vec<Vec<u8>> = ops
        .iter()
        .chain(ops8h.iter())
        .chain(ops16.iter())
        .map(|f| a(*f))
        .collect();
    rows.extend(cross(&codes, &setups));
    // inc/dec keep CF; 8-bit high registers and memory.
    let misc: Vec<Vec<u8>> = vec![
        a(|a| a.inc(eax)),
        a(|a| a.dec(eax)),
        a(|a| a.inc(ah)),
        a(|a| a.dec(bh)),
        a(|a| a.inc(si)),
        a(|a| a.neg(eax)),
        a(|a| a.neg(cx)),
        a(|a| a.not(dh)),
        a(|a| a.mov(byte_ptr(ebx + 1), ah)),
        a(|a| a.mov(ch, byte_ptr(ebx + 3))),
        a(|a| a.movzx(eax, bh)),
        a(|a| a.movsx(ecx, dh)),
        a(|a| a.movsx(edx, word_ptr(ebx + 0x7f))),
        a(|a| a.add(dword_ptr(ebx + 0x1ffc), eax)),
        a(|a| a.adc(word_ptr(ebx + 0x1fff - 1), ax)),
        a(|a| a.sub(byte_ptr(ebx + ecx * 4 + 2), 0x80)),
        a(|a| a.xor(eax, dword_ptr(ebx + 3))),
        a(|a| a.inc(dword_ptr(ebx + 0x10))),
        a(|a| a.neg(byte_ptr(ebx + 0x11))),
    ];
    let mut setups = Vec::new();
    for v in [
        0,
        1,
        0x7f,
        0x80,
        0xff,
        0x7fff,
        0x8000,
        0xffff,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
    ] {
        for f in [0, STATUS] {
            setups.push(
                with_regs(&[(EAX, v), (ECX, 1), (EDX, v ^ 0x5a5a), (EBX, DATA), (ESI, v)]).flags(f),
            );
        }
    }
    rows.extend(cross(&misc, &setups));
    // Hand-typed sanity: 0x7fffffff + 1 overflows into the sign.
    rows.push(
        Row::new(
            a(|a| a.add(eax, ebx)),
            with_regs(&[(EAX, 0x7fff_ffff), (EBX, 1)]),
        )
        .expect(Expect::Reg(EAX, 0x8000_0000))
        .expect(Expect::Flags(OF | SF | ZF | CF, OF | SF))
        .expect(Expect::Eip(CODE + 3))
        .expect(Expect::Stop(3, 0)),
    );
    rows.push(
        Row::new(a(|a| a.mov(eax, 5)), Setup::default())
            .expect(Expect::Reg(EAX, 5))
            .expect(Expect::Eip(CODE + 6)),
    );
    rows
}

fn family_shift() -> Vec<Row> {
    use Mnemonic as M;
    let mnems = [
        M::Rol,
        M::Ror,
        M::Rcl,
        M::Rcr,
        M::Shl,
        M::Shr,
        M::Sar,
        M::Sal,
    ];
    let mut rows = sweep(
        &[
            M::Rol,
            M::Ror,
            M::Rcl,
            M::Rcr,
            M::Shl,
            M::Sal,
            M::Shr,
            M::Sar,
            M::Shld,
            M::Shrd,
        ],
        2,
        6,
    );
    let counts = [0u32, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 255];
    let regs = [
        (Register::EAX, K::r32_or_mem),
        (Register::AX, K::r16_or_mem),
        (Register::AL, K::r8_or_mem),
        (Register::AH, K::r8_or_mem),
    ];
    let mut codes = Vec::new();
    for m in mnems {
        for (r, k) in regs {
            codes.push(enc(&[i2!(code_of(m, &[k, K::imm8_const_1]), r, 1u32)]));
            for c in counts {
                codes.push(enc(&[i2!(code_of(m, &[k, K::imm8]), r, c)]));
            }
            codes.push(enc(&[i2!(code_of(m, &[k, K::cl]), r, Register::CL)]));
        }
    }
    let mut setups = Vec::new();
    for v in [0x8000_0001u32, 0x1234_5678, 0x4000_0080] {
        for f in [0, CF | OF] {
            for c in [0u32, 1, 7, 8, 9, 16, 17, 31, 32, 33] {
                setups.push(with_regs(&[(EAX, v), (ECX, c)]).flags(f));
            }
        }
    }
    // Immediate forms do not read ECX: run them with fewer setups.
    let (cl_codes, imm_codes): (Vec<Vec<u8>>, Vec<Vec<u8>>) = codes
        .into_iter()
        .partition(|c| decode(c, CODE)[0].op1_kind() == iced_x86::OpKind::Register);
    rows.extend(cross(&cl_codes, &setups));
    let few: Vec<Setup> = setups
        .iter()
        .filter(|s| s.regs[ECX] == 0)
        .cloned()
        .collect();
    rows.extend(cross(&imm_codes, &few));
    // Memory operands and double shifts.
    let more = vec![
        a(|a| a.shl(dword_ptr(ebx + 4), cl)),
        a(|a| a.rcr(word_ptr(ebx + 6), cl)),
        a(|a| a.sar(byte_ptr(ebx + 7), 1)),
        a(|a| a.rol(dword_ptr(ebx + 0x1ffe), 3)),
        a(|a| a.shld(eax, edx, cl)),
        a(|a| a.shrd(eax, edx, cl)),
        a(|a| a.shld(ax, dx, cl)),
        a(|a| a.shrd(ax, dx, cl)),
        a(|a| a.shld(dword_ptr(ebx + 8), edx, cl)),
        a(|a| a.shrd(word_ptr(ebx + 8), dx, cl)),
        a(|a| a.shld(eax, edx, 0)),
        a(|a| a.shld(eax, edx, 1)),
        a(|a| a.shrd(eax, edx, 31)),
        a(|a| a.shld(ax, dx, 15)),
        a(|a| a.shrd(ax, dx, 17)),
        a(|a| a.shld(eax, edx, 33)),
    ];
    let mut setups = Vec::new();
    for c in [0u32, 1, 2, 15, 16, 17, 31, 32, 33] {
        for f in [0, STATUS] {
            setups.push(
                with_regs(&[
                    (EAX, 0x8123_4567),
                    (EDX, 0xfedc_ba98),
                    (ECX, c),
                    (EBX, DATA),
                ])
                .flags(f),
            );
        }
    }
    rows.extend(cross(&more, &setups));
    rows
}

fn family_muldiv() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(&[M::Mul, M::Imul, M::Div, M::Idiv], 3, 8);
    let codes = vec![
        a(|a| a.mul(ecx)),
        a(|a| a.imul(ecx)),
        a(|a| a.div(ecx)),
        a(|a| a.idiv(ecx)),
        a(|a| a.mul(cx)),
        a(|a| a.imul(cx)),
        a(|a| a.div(cx)),
        a(|a| a.idiv(cx)),
        a(|a| a.mul(cl)),
        a(|a| a.imul(ch)),
        a(|a| a.div(cl)),
        a(|a| a.idiv(ch)),
        a(|a| a.div(dword_ptr(ebx + 0x20))),
        a(|a| a.idiv(word_ptr(ebx + 0x20))),
        a(|a| a.imul_2(eax, ecx)),
        a(|a| a.imul_3(eax, ecx, -3)),
        a(|a| a.imul_3(ax, cx, 0x7fff)),
        a(|a| a.imul_3(edx, dword_ptr(ebx + 0x20), 0x1000_0001)),
    ];
    let triples: [(u32, u32, u32); 14] = [
        (0, 0, 0), // #DE: divide by zero
        (1, 0, 1),
        (0, 1, 1),                               // quotient overflow for div r32
        (0x8000_0000, 0xffff_ffff, 0xffff_ffff), // INT_MIN / -1
        (0x8000, 0xffff, 0xffff),
        (0xff80, 0, 0xffff_ffff),
        (0x1234_5678, 0, 0x10),
        (0xffff_ffff, 0xffff_ffff, 0xffff_ffff),
        (0x7fff_ffff, 0, 2),
        (100, 0, 7),
        (0xffff_ff9c, 0xffff_ffff, 7), // -100 / 7
        (0x0123, 0, 0x0202),
        (0x8000_0000, 0, 0x8000_0000),
        (0xdead_beef, 0x1234, 0x1_0000),
    ];
    let mut setups = Vec::new();
    for (va, vd, src) in triples {
        for f in [0, STATUS] {
            setups.push(
                with_regs(&[(EAX, va), (EDX, vd), (ECX, src), (EBX, DATA)])
                    .data_u32(0x20, src)
                    .flags(f),
            );
        }
    }
    rows.extend(cross(&codes, &setups));
    rows.push(
        Row::new(a(|a| a.div(ecx)), with_regs(&[(EAX, 7), (ECX, 0)]))
            .expect(Expect::Stop(0, 0))
            .expect(Expect::Eip(CODE)),
    );
    rows
}

fn family_bits() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(
        &[
            M::Bt,
            M::Bts,
            M::Btr,
            M::Btc,
            M::Bsf,
            M::Bsr,
            M::Tzcnt,
            M::Lzcnt,
            M::Bswap,
        ],
        4,
        6,
    );
    let bt: [fn(&mut Asm) -> AsmResult; 16] = [
        |a| a.bt(dword_ptr(ebx), ecx),
        |a| a.bts(dword_ptr(ebx), ecx),
        |a| a.btr(dword_ptr(ebx), ecx),
        |a| a.btc(dword_ptr(ebx), ecx),
        |a| a.bt(word_ptr(ebx), cx),
        |a| a.bts(word_ptr(ebx), cx),
        |a| a.btr(word_ptr(ebx), cx),
        |a| a.btc(word_ptr(ebx), cx),
        |a| a.bt(eax, ecx),
        |a| a.bts(eax, ecx),
        |a| a.btr(ax, cx),
        |a| a.btc(ax, cx),
        |a| a.bt(dword_ptr(ebx), 33),
        |a| a.bts(word_ptr(ebx), 17),
        |a| a.btr(eax, 63),
        |a| a.btc(dword_ptr(ebx + 3), 255),
    ];
    let codes: Vec<Vec<u8>> = bt.iter().map(|f| a(*f)).collect();
    let mut setups = Vec::new();
    for off in [
        -0x7fffi32, -1000, -33, -17, -1, 0, 1, 15, 16, 31, 32, 33, 100, 1000, 0x7fff,
    ] {
        for f in [0, STATUS] {
            setups.push(
                with_regs(&[(EAX, 0x5555_aaaa), (ECX, off as u32), (EBX, DATA + 0x1000)]).flags(f),
            );
        }
    }
    rows.extend(cross(&codes, &setups));
    let scan: [fn(&mut Asm) -> AsmResult; 8] = [
        |a| a.bsf(eax, ecx),
        |a| a.bsr(eax, ecx),
        |a| a.bsf(ax, cx),
        |a| a.bsr(ax, cx),
        |a| a.bsf(eax, dword_ptr(ebx)),
        |a| a.bsr(dx, word_ptr(ebx)),
        |a| a.bswap(eax),
        |a| a.bswap(esi),
    ];
    let codes: Vec<Vec<u8>> = scan.iter().map(|f| a(*f)).collect();
    let mut setups = Vec::new();
    for v in [
        0u32,
        1,
        0x8000_0000,
        0x0001_0000,
        0x8000,
        0x1234_5678,
        0xffff_ffff,
    ] {
        for f in [0, STATUS] {
            setups.push(
                with_regs(&[
                    (EAX, 0xdead_beef),
                    (EDX, 0xdead_beef),
                    (ECX, v),
                    (ESI, v),
                    (EBX, DATA),
                ])
                .data_u32(0, v)
                .flags(f),
            );
        }
    }
    rows.extend(cross(&codes, &setups));
    // bswap of a 16-bit register (66 0F C8): undefined in the SDM; the CPU decides.
    rows.extend(cross(&[vec![0x66, 0x0f, 0xc8, 0xcc]], &setups));
    rows
}

fn family_bcd() -> Vec<Row> {
    let mut rows = Vec::new();
    let codes = vec![
        a(|a| a.daa()),
        a(|a| a.das()),
        a(|a| a.aaa()),
        a(|a| a.aas()),
    ];
    let mut setups = Vec::new();
    for low in 0..=255u32 {
        for f in [0, AF, CF, AF | CF] {
            setups.push(
                with_regs(&[(EAX, 0x1200 | low)]).flags(f | ((low & 1) * (SF | ZF | OF | PF))),
            );
        }
    }
    // Observed: the translator's BCD helpers compute the flags the SDM leaves undefined
    // (DAA/DAS: OF; AAA/AAS: OF SF ZF PF; AAD/AAM: OF AF CF) differently from this CPU.
    let undefined = |mut r: Row| {
        r.allow = sdm_undefined_flags(&r.code, CODE);
        r
    };
    rows.extend(cross(&codes, &setups).into_iter().map(undefined));
    let codes = vec![
        a(|a| a.aam(10)),
        a(|a| a.aam(16)),
        a(|a| a.aam(1)),
        a(|a| a.aam(255)),
        a(|a| a.aam(0)),
        a(|a| a.aad(10)),
        a(|a| a.aad(0)),
        a(|a| a.aad(7)),
        a(|a| a.aad(255)),
        a(|a| a.salc()),
    ];
    let mut rng = Rng::new(5);
    let mut setups = Vec::new();
    for k in 0..48u32 {
        let v = if k < 16 {
            [
                0, 1, 9, 10, 99, 0xff, 0x100, 0x909, 0xffff, 0x7f, 0x80, 0x8080, 0x0a0a, 0x1234,
                0xff00, 0x00ff,
            ][k as usize]
        } else {
            rng.u32()
        };
        setups.push(with_regs(&[(EAX, v)]).flags(rng.flags(false)));
    }
    rows.extend(cross(&codes, &setups).into_iter().map(undefined));
    rows.push(
        Row::new(a(|a| a.aam(0)), Setup::default())
            .expect(Expect::Stop(0, 0))
            .expect(Expect::Eip(CODE)),
    );
    rows.push(
        Row::new(a(|a| a.aam(10)), with_regs(&[(EAX, 0x1263)])).expect(Expect::Reg(EAX, 0x0909)),
    );
    rows
}

fn family_string() -> Vec<Row> {
    let mut rows = Vec::new();
    type F = fn(&mut Asm) -> AsmResult;
    let plain: [F; 15] = [
        |a| a.movsb(),
        |a| a.movsw(),
        |a| a.movsd(),
        |a| a.stosb(),
        |a| a.stosw(),
        |a| a.stosd(),
        |a| a.lodsb(),
        |a| a.lodsw(),
        |a| a.lodsd(),
        |a| a.cmpsb(),
        |a| a.cmpsw(),
        |a| a.cmpsd(),
        |a| a.scasb(),
        |a| a.scasw(),
        |a| a.scasd(),
    ];
    let mut codes = Vec::new();
    for (k, f) in plain.iter().enumerate() {
        codes.push(a(*f));
        if k < 9 {
            codes.push(a(|x| f(x.rep())));
        } else {
            codes.push(a(|x| f(x.repe())));
            codes.push(a(|x| f(x.repne())));
        }
    }
    // Segment override on the source, and 16-bit addressing (SI/DI/CX; lands in page 0).
    codes.push(vec![0x26, 0xa5, 0xcc]); // movsd es:[esi] -> es:[edi]
    codes.push(vec![0x64, 0xac, 0xcc]); // lodsb fs:[esi]: FS is null -> #GP(0)
    codes.push(vec![0x67, 0xf3, 0xa4, 0xcc]); // rep movsb with CX/SI/DI
    codes.push(vec![0xf2, 0xa5, 0xcc]); // repne movsd: F2 acts as rep
    let mut setups = Vec::new();
    for count in [0u32, 1, 3, 9] {
        for df in [0, DF] {
            for same in [true, false] {
                // ESI/EDI point at equal or different data; DF=1 starts high.
                let (src, dst) = if df == 0 {
                    (DATA + 0x100, DATA + 0x400)
                } else {
                    (DATA + 0x13c, DATA + 0x43c)
                };
                let mut s = with_regs(&[(EAX, 0x0000_0103), (ECX, count), (ESI, src), (EDI, dst)])
                    .flags(df | CF);
                if same {
                    let bytes: Vec<u8> = s.data[0x100..0x140].to_vec();
                    s = s.data_bytes(0x400, &bytes);
                    // ... except near the end, so repe cmps stops there.
                    s = s.data_bytes(0x406, &[0xee]).data_bytes(0x436, &[0xee]);
                }
                setups.push(s);
            }
        }
    }
    rows.extend(cross(&codes, &setups));
    // rep movsd into an unmapped page: #PF midway, with ECX/ESI/EDI of the faulting step.
    let rep_movsd = a(|a| a.rep().movsd());
    rows.push(
        Row::new(
            rep_movsd.clone(),
            with_regs(&[(ECX, 10), (ESI, DATA), (EDI, DATA + DATA_LEN as u32 - 8)]),
        )
        .expect(Expect::Stop(14, 6))
        .expect(Expect::Cr2(DATA + DATA_LEN as u32))
        .expect(Expect::Reg(ECX, 8))
        .expect(Expect::Eip(CODE)),
    );
    rows.push(Row::new(
        rep_movsd.clone(),
        with_regs(&[(ECX, 10), (ESI, DATA + DATA_LEN as u32 - 12), (EDI, DATA)]),
    ));
    rows.push(Row::new(
        rep_movsd.clone(),
        with_regs(&[(ECX, 10), (ESI, DATA + 0x20), (EDI, DATA + 0x1a)]).flags(DF),
    ));
    rows.push(Row::new(
        rep_movsd,
        with_regs(&[(ECX, 4), (ESI, DATA + 0x40), (EDI, DATA + 2)]).flags(DF),
    ));
    // rep stosb over a page boundary into the (read-only) code page, then lots of bytes.
    rows.push(Row::new(
        a(|a| a.rep().stosb()),
        with_regs(&[(ECX, 5), (EAX, 0x41), (EDI, DATA - 2)]),
    ));
    rows.push(Row::new(
        a(|a| a.rep().stosd()),
        with_regs(&[(ECX, 0x300), (EAX, 0x4142_4344), (EDI, DATA + 0x10)]),
    ));
    // repne scasb finding the byte / running out.
    rows.push(Row::new(
        a(|a| a.repne().scasb()),
        with_regs(&[(ECX, 0x100), (EAX, 0x3a), (EDI, DATA)]),
    ));
    rows.push(Row::new(
        a(|a| a.repe().cmpsd()),
        with_regs(&[(ECX, 0x20), (ESI, DATA), (EDI, DATA)]),
    ));
    // xlat.
    let xl = vec![
        a(|a| a.xlatb()),
        vec![0x26, 0xd7, 0xcc], // es: xlat
        vec![0x64, 0xd7, 0xcc], // fs: xlat -> #GP(0), FS is null
        vec![0x67, 0xd7, 0xcc], // xlat [bx+al]: page 0
    ];
    let mut setups = Vec::new();
    for low in [0u32, 1, 0x7f, 0x80, 0xff] {
        setups.push(with_regs(&[(EAX, 0xabcd_ef00 | low), (EBX, DATA + 0x10)]));
    }
    rows.extend(cross(&xl, &setups));
    rows
}

fn family_xchg() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(&[M::Xchg, M::Xadd, M::Cmpxchg, M::Cmpxchg8b], 6, 6);
    let codes = vec![
        a(|a| a.xchg(eax, ecx)),
        a(|a| a.xchg(ah, cl)),
        a(|a| a.xchg(dword_ptr(ebx), ecx)),
        a(|a| a.lock().xchg(word_ptr(ebx + 1), cx)),
        a(|a| a.xadd(eax, ecx)),
        a(|a| a.xadd(dword_ptr(ebx), ecx)),
        a(|a| a.lock().xadd(byte_ptr(ebx + 3), ch)),
        a(|a| a.cmpxchg(ecx, edx)),
        a(|a| a.cmpxchg(dword_ptr(ebx), edx)),
        a(|a| a.lock().cmpxchg(dword_ptr(ebx), edx)),
        a(|a| a.lock().cmpxchg(word_ptr(ebx + 2), dx)),
        a(|a| a.cmpxchg(byte_ptr(ebx + 1), dh)),
        a(|a| a.cmpxchg8b(qword_ptr(ebx))),
        a(|a| a.lock().cmpxchg8b(qword_ptr(ebx + 4))),
        vec![0x0f, 0xc7, 0xc8, 0xcc], // cmpxchg8b with a register operand: #UD
        vec![0xf0, 0x01, 0xc8, 0xcc], // lock add eax, ecx: #UD
        vec![0xf0, 0x89, 0x03, 0xcc], // lock mov [ebx], eax: #UD
        a(|a| a.lock().add(dword_ptr(ebx + 0x1ffe), eax)), // locked, crossing into unmapped
        a(|a| a.lock().inc(dword_ptr(ebx))),
        a(|a| a.lock().not(byte_ptr(ebx))),
        a(|a| a.lock().bts(dword_ptr(ebx), ecx)),
    ];
    let mut setups = Vec::new();
    for eq in [true, false] {
        let m0 = 0x0706_0504u32;
        let (eax_v, edx_v) = if eq {
            (m0, 0x0b0a_0908)
        } else {
            (0x1111_1111, 0x2222_2222)
        };
        for f in [0, STATUS] {
            setups.push(
                with_regs(&[(EAX, eax_v), (EDX, edx_v), (ECX, 0x8765_4321), (EBX, DATA)])
                    .data_u32(0, m0)
                    .data_u32(4, 0x0b0a_0908)
                    .data_u32(8, 0x0f0e_0d0c)
                    .flags(f),
            );
        }
    }
    // cmpxchg8b equal case for [ebx+4].
    setups.push(
        with_regs(&[
            (EAX, 0x0b0a_0908),
            (EDX, 0x0f0e_0d0c),
            (ECX, 1),
            (EBX, DATA),
        ])
        .data_u32(4, 0x0b0a_0908)
        .data_u32(8, 0x0f0e_0d0c),
    );
    rows.extend(cross(&codes, &setups));
    rows
}

fn family_cond() -> Vec<Row> {
    let mut rows = Vec::new();
    let cmov = [
        Code::Cmovo_r32_rm32,
        Code::Cmovno_r32_rm32,
        Code::Cmovb_r32_rm32,
        Code::Cmovae_r32_rm32,
        Code::Cmove_r32_rm32,
        Code::Cmovne_r32_rm32,
        Code::Cmovbe_r32_rm32,
        Code::Cmova_r32_rm32,
        Code::Cmovs_r32_rm32,
        Code::Cmovns_r32_rm32,
        Code::Cmovp_r32_rm32,
        Code::Cmovnp_r32_rm32,
        Code::Cmovl_r32_rm32,
        Code::Cmovge_r32_rm32,
        Code::Cmovle_r32_rm32,
        Code::Cmovg_r32_rm32,
    ];
    let cmov16 = [
        Code::Cmovo_r16_rm16,
        Code::Cmovno_r16_rm16,
        Code::Cmovb_r16_rm16,
        Code::Cmovae_r16_rm16,
        Code::Cmove_r16_rm16,
        Code::Cmovne_r16_rm16,
        Code::Cmovbe_r16_rm16,
        Code::Cmova_r16_rm16,
        Code::Cmovs_r16_rm16,
        Code::Cmovns_r16_rm16,
        Code::Cmovp_r16_rm16,
        Code::Cmovnp_r16_rm16,
        Code::Cmovl_r16_rm16,
        Code::Cmovge_r16_rm16,
        Code::Cmovle_r16_rm16,
        Code::Cmovg_r16_rm16,
    ];
    let setcc = [
        Code::Seto_rm8,
        Code::Setno_rm8,
        Code::Setb_rm8,
        Code::Setae_rm8,
        Code::Sete_rm8,
        Code::Setne_rm8,
        Code::Setbe_rm8,
        Code::Seta_rm8,
        Code::Sets_rm8,
        Code::Setns_rm8,
        Code::Setp_rm8,
        Code::Setnp_rm8,
        Code::Setl_rm8,
        Code::Setge_rm8,
        Code::Setle_rm8,
        Code::Setg_rm8,
    ];
    let mut codes = Vec::new();
    for k in 0..16 {
        codes.push(enc(&[i2!(cmov[k], Register::EAX, Register::ECX)]));
        codes.push(enc(&[i2!(
            cmov[k],
            Register::EDX,
            MemoryOperand::with_base_displ(Register::EBX, 8)
        )]));
        codes.push(enc(&[i2!(cmov16[k], Register::AX, Register::CX)]));
        // A false condition still reads memory: #PF from the unmapped page either way.
        codes.push(enc(&[i2!(
            cmov[k],
            Register::EAX,
            MemoryOperand::with_displ(u64::from(UNMAPPED), 4)
        )]));
        codes.push(enc(&[
            Instruction::with1(setcc[k], Register::AH).expect("setcc")
        ]));
        codes.push(enc(&[Instruction::with1(
            setcc[k],
            MemoryOperand::with_base_displ(Register::EBX, 1),
        )
        .expect("setcc")]));
    }
    let mut setups = Vec::new();
    // Every combination of the flags the conditions read.
    for bits in 0..32u32 {
        let f = [CF, PF, ZF, SF, OF]
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .fold(0, |acc, (_, b)| acc | b);
        setups.push(
            with_regs(&[
                (EAX, 0x1111_1111),
                (ECX, 0x2222_2222),
                (EDX, 0x3333_3333),
                (EBX, DATA),
            ])
            .flags(f),
        );
    }
    rows.extend(cross(&codes, &setups));
    rows
}

fn family_stack() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(
        &[
            M::Push,
            M::Pop,
            M::Pusha,
            M::Pushad,
            M::Popa,
            M::Popad,
            M::Pushf,
            M::Pushfd,
            M::Popf,
            M::Popfd,
            M::Enter,
            M::Leave,
        ],
        7,
        4,
    );
    let s = || {
        with_regs(&[
            (EAX, 0x1234_5678),
            (EBX, DATA),
            (ECX, 0x8765_4321),
            (EBP, STACK_TOP + 0x20),
        ])
        .stack_u32(STACK_TOP, 0xaabb_ccdd)
        .stack_u32(STACK_TOP + 4, 0x1122_3344)
        .stack_u32(STACK_TOP + 8, 0x5566_7788)
    };
    let codes = vec![
        a(|a| a.push(esp)),
        a(|a| a.pop(esp)),
        a(|a| a.pop(dword_ptr(esp + 4))),
        a(|a| a.pop(dword_ptr(esp))),
        a(|a| a.push(dword_ptr(esp))),
        a(|a| a.push(dword_ptr(esp + 4))),
        a(|a| a.push(dword_ptr(ebx + 0x10))),
        a(|a| a.push(word_ptr(ebx + 0x10))),
        a(|a| a.push(sp)),
        a(|a| a.pop(sp)),
        a(|a| a.push(0x7f)),
        a(|a| a.push(-1)),
        a(|a| a.push(0x1234_5678)),
        vec![0x66, 0x6a, 0x80, 0xcc],       // pushw -0x80
        vec![0x66, 0x68, 0x34, 0x12, 0xcc], // pushw 0x1234
        a(|a| a.pushad()),
        a(|a| a.pusha()),
        a(|a| a.popad()),
        a(|a| a.popa()),
        a(|a| a.pushfd()),
        a(|a| a.pushf()),
        a(|a| {
            a.lea(esp, dword_ptr(esp - 0x1800))
                .and_then(|_| a.push(eax))
        }), // ESP at the region start: #PF
    ];
    rows.extend(codes.iter().map(|c| Row::new(c.clone(), s())));
    rows.push(
        Row::new(a(|a| a.push(esp)), s())
            .expect(Expect::Mem(STACK_TOP - 4, STACK_TOP.to_le_bytes().to_vec())),
    );
    // ESP at the very bottom of the stack region: the push faults, ESP unchanged.
    rows.push(
        Row::new(a(|a| a.push(eax)), with_regs(&[(ESP, STACK)]))
            .expect(Expect::Stop(14, 6))
            .expect(Expect::Reg(ESP, STACK)),
    );
    rows.push(Row::new(
        a(|a| a.pop(eax)),
        with_regs(&[(ESP, STACK + STACK_LEN as u32 - 2)]),
    ));
    rows.push(Row::new(
        a(|a| a.popad()),
        with_regs(&[(ESP, STACK + STACK_LEN as u32 - 16)]),
    ));
    // popf/popfd: status flags, DF, AC, NT, ID; IOPL and IF are ignored at CPL 3.
    for v in [
        0u32,
        0xffff_feff,
        0x0004_0cd5,
        0x0020_0000,
        0x0000_3200,
        0x0000_4000,
        0x0000_0cd5,
    ] {
        let v = v & !0x100; // never TF
        rows.push(Row::new(
            a(|a| a.popfd().and_then(|_| a.pushfd())),
            with_regs(&[]).stack_u32(STACK_TOP, v),
        ));
        rows.push(Row::new(
            a(|a| a.popf().and_then(|_| a.pushf())),
            with_regs(&[]).stack_u32(STACK_TOP, v),
        ));
    }
    // enter/leave with nesting levels (EBP chain in the stack region).
    let mut chain = with_regs(&[(EBP, STACK_TOP + 0x100), (EAX, 0xaaaa_aaaa)]);
    for k in 0..40u32 {
        chain = chain.stack_u32(STACK_TOP + 0x100 - 4 * (k + 1), 0xf000_0000 + k);
    }
    for (size, level) in [
        (0u32, 0u32),
        (8, 0),
        (0, 1),
        (4, 1),
        (0x10, 2),
        (8, 3),
        (0, 31),
        (4, 32),
        (0x100, 5),
    ] {
        rows.push(Row::new(
            enc(&[i2!(Code::Enterd_imm16_imm8, size, level)]),
            chain.clone(),
        ));
        rows.push(Row::new(
            enc(&[i2!(Code::Enterw_imm16_imm8, size, level)]),
            chain.clone(),
        ));
        rows.push(Row::new(
            enc(&[
                i2!(Code::Enterd_imm16_imm8, size, level),
                Instruction::with(Code::Leaved),
            ]),
            chain.clone(),
        ));
    }
    rows.push(Row::new(
        a(|a| a.leave()),
        with_regs(&[(EBP, STACK_TOP + 8)]).stack_u32(STACK_TOP + 8, 0x1234),
    ));
    rows.push(Row::new(
        vec![0x66, 0xc9, 0xcc],
        with_regs(&[(EBP, STACK_TOP + 8)]).stack_u32(STACK_TOP + 8, 0x1234),
    ));
    // EBP pointing at an unmapped page: leave faults.
    rows.push(Row::new(a(|a| a.leave()), with_regs(&[(EBP, UNMAPPED)])));
    rows
}

fn family_control() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(
        &[
            M::Jo,
            M::Jno,
            M::Jb,
            M::Jae,
            M::Je,
            M::Jne,
            M::Jbe,
            M::Ja,
            M::Js,
            M::Jns,
            M::Jp,
            M::Jnp,
            M::Jl,
            M::Jge,
            M::Jle,
            M::Jg,
            M::Jmp,
            M::Call,
            M::Ret,
            M::Loop,
            M::Loope,
            M::Loopne,
            M::Jecxz,
            M::Jcxz,
        ],
        8,
        4,
    );
    // Every condition, short and near, taken and not taken (per flags).
    let mut codes = Vec::new();
    for cc in 0..16u8 {
        codes.push(vec![0x70 + cc, 0x10, 0xcc]);
        codes.push(vec![0x0f, 0x80 + cc, 0x00, 0x01, 0x00, 0x00, 0xcc]);
    }
    let mut setups = Vec::new();
    for bits in 0..32u32 {
        let f = [CF, PF, ZF, SF, OF]
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .fold(0, |acc, (_, b)| acc | b);
        setups.push(Setup::default().flags(f));
    }
    rows.extend(cross(&codes, &setups));
    // Backwards: the code starts at CODE+1, and the taken branch lands on the int3 padding
    // at CODE.
    let back: Vec<Setup> = setups.iter().map(|s| s.clone().code_at(1)).collect();
    let codes: Vec<Vec<u8>> = (0..16u8).map(|cc| vec![0x70 + cc, 0xfd, 0xcc]).collect();
    rows.extend(cross(&codes, &back));
    // Loops and jecxz: taken and not taken; loope/loopne by ZF; 16-bit address size (CX).
    let loops = vec![
        vec![0xe2, 0x10, 0xcc],
        vec![0xe1, 0x10, 0xcc],
        vec![0xe0, 0x10, 0xcc],
        vec![0xe3, 0x10, 0xcc],
        vec![0x67, 0xe2, 0x10, 0xcc],
        vec![0x67, 0xe3, 0x10, 0xcc],
        vec![0x66, 0xe2, 0x10, 0xcc], // 16-bit operand size: IP truncated when taken
    ];
    let mut setups = Vec::new();
    for count in [0u32, 1, 2, 0x1_0000, 0x1_0001, 0xffff_ffff] {
        for f in [0, ZF] {
            setups.push(with_regs(&[(ECX, count)]).flags(f));
        }
    }
    rows.extend(cross(&loops, &setups));
    // A bounded counted loop: mov ecx, 5; L: inc eax; loop L.
    rows.push(
        Row::new(
            a(|a| {
                let mut l = a.create_label();
                a.mov(ecx, 5)?;
                a.set_label(&mut l)?;
                a.inc(eax)?;
                a.loop_(l)
            }),
            Setup::default(),
        )
        .expect(Expect::Reg(EAX, 5)),
    );
    // Calls and returns.
    let target = CODE + 0x40;
    let st = || {
        with_regs(&[(EAX, target), (ECX, 0x0040), (EBX, DATA)])
            .data_u32(0x10, target)
            .stack_u32(STACK_TOP, target)
            .stack_u32(STACK_TOP + 4, 0x1111)
    };
    let codes = vec![
        a(|a| a.call(u64::from(target))),
        a(|a| a.call(eax)),
        a(|a| a.call(dword_ptr(ebx + 0x10))),
        a(|a| a.jmp(eax)),
        a(|a| a.jmp(dword_ptr(ebx + 0x10))),
        a(|a| a.jmp(u64::from(target))),
        a(|a| a.ret()),
        a(|a| a.ret_1(8)),
        a(|a| a.ret_1(0xffff)),
        vec![0x66, 0xc3, 0xcc],             // retw: 16-bit IP
        vec![0x66, 0xc2, 0x04, 0x00, 0xcc], // retw 4
        vec![0x66, 0xff, 0xd1, 0xcc],       // call cx
        vec![0x66, 0xff, 0xe1, 0xcc],       // jmp cx
        vec![0x66, 0xe8, 0x00, 0x00, 0xcc], // call rel16
        vec![0x66, 0xe9, 0x00, 0x00, 0xcc], // jmp rel16
        a(|a| a.call(edx)),                 // EDX=0: #PF at 0 after the push
        vec![0xff, 0xd4, 0xcc],             // call esp: jump into the (non-executable) stack
        vec![0xff, 0x14, 0x25, 0x00, 0x00, 0x00, 0x50, 0xcc], // call [0x50000000]: #PF on the load
    ];
    rows.extend(codes.iter().map(|c| Row::new(c.clone(), st())));
    rows.push(
        Row::new(a(|a| a.call(u64::from(target))), st())
            .expect(Expect::Eip(target + 1))
            .expect(Expect::Mem(
                STACK_TOP - 4,
                (CODE + 5).to_le_bytes().to_vec(),
            )),
    );
    // Jump to a non-executable data page: #PF with the fetch bit.
    rows.push(
        Row::new(a(|a| a.jmp(eax)), with_regs(&[(EAX, DATA)]))
            .expect(Expect::Eip(DATA))
            .expect(Expect::Cr2(DATA)),
    );
    rows
}

fn family_misc() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(
        &[
            M::Cbw,
            M::Cwde,
            M::Cwd,
            M::Cdq,
            M::Lahf,
            M::Sahf,
            M::Clc,
            M::Stc,
            M::Cmc,
            M::Cld,
            M::Std,
            M::Salc,
            M::Nop,
            M::Pause,
            M::Lea,
            M::Arpl,
            M::Bound,
            M::Reservednop,
            M::Prefetchnta,
            M::Prefetcht0,
            M::Prefetcht1,
            M::Prefetcht2,
            M::Endbr32,
            M::Endbr64,
        ],
        9,
        6,
    );
    // Hints and reserved NOPs never fault, even on unmapped memory.
    let hints = vec![
        vec![0x0f, 0x18, 0x05, 0x00, 0x00, 0x00, 0x50, 0xcc], // prefetchnta [UNMAPPED]
        vec![0x0f, 0x18, 0x0d, 0x00, 0x00, 0x00, 0x50, 0xcc], // prefetcht0 [UNMAPPED]
        vec![0x0f, 0x18, 0x15, 0x00, 0x00, 0x00, 0x50, 0xcc], // prefetcht1 [UNMAPPED]
        vec![0x0f, 0x18, 0x1d, 0x00, 0x00, 0x00, 0x50, 0xcc], // prefetcht2 [UNMAPPED]
        vec![0x0f, 0x0d, 0x0d, 0x00, 0x00, 0x00, 0x50, 0xcc], // 0F 0D /1 [UNMAPPED]
        vec![0x0f, 0x0d, 0x05, 0x00, 0x00, 0x00, 0x50, 0xcc], // prefetch (0F 0D /0)
        vec![0x0f, 0x0d, 0x15, 0x00, 0x00, 0x00, 0x50, 0xcc], // prefetchwt1 (0F 0D /2)
        vec![0x0f, 0x0d, 0x1d, 0x00, 0x00, 0x00, 0x50, 0xcc], // 0F 0D /3
        vec![0x0f, 0x0d, 0x25, 0x00, 0x00, 0x00, 0x50, 0xcc], // 0F 0D /4
        vec![0x0f, 0x0d, 0x2d, 0x00, 0x00, 0x00, 0x50, 0xcc], // 0F 0D /5
        vec![0x0f, 0x0d, 0x35, 0x00, 0x00, 0x00, 0x50, 0xcc], // 0F 0D /6
        vec![0x0f, 0x0d, 0x3d, 0x00, 0x00, 0x00, 0x50, 0xcc], // 0F 0D /7
        vec![0x0f, 0x1f, 0x05, 0x00, 0x00, 0x00, 0x50, 0xcc], // nop dword [UNMAPPED]
        vec![0x0f, 0x1c, 0x05, 0x00, 0x00, 0x00, 0x50, 0xcc], // reserved nop [UNMAPPED]
        vec![0xf3, 0x0f, 0x1e, 0xfb, 0xcc],                   // endbr32
    ];
    rows.extend(cross(&hints, &[Setup::default().flags(STATUS)]));
    // Descriptor queries against the GDT a 32-bit process sees on x86-64 Linux (the
    // machine's GDT copies it): user code/data (0x23, 0x2b, 0x33), kernel code/data and the
    // TSS (DPL 0: refused at CPL 3), RPL above DPL, the null selector, an LDT selector (no
    // LDT), beyond the table. 0x78-0x7f (CPUNODE) is left out: its limit is the CPU number.
    let sels: [u32; 14] = [
        0, 3, 0x23, 0x20, 0x2b, 0x2f, 0x33, 0x10, 0x18, 0x40, 0x2c, 0x4f, 0xfff8, 0x1234,
    ];
    let dq = vec![
        vec![0x0f, 0x02, 0xc1, 0xcc],       // lar eax, ecx
        vec![0x0f, 0x03, 0xc1, 0xcc],       // lsl eax, ecx
        vec![0x66, 0x0f, 0x02, 0xc1, 0xcc], // lar ax, cx
        vec![0x66, 0x0f, 0x03, 0xc1, 0xcc], // lsl ax, cx
        vec![0x0f, 0x00, 0xe1, 0xcc],       // verr cx
        vec![0x0f, 0x00, 0xe9, 0xcc],       // verw cx
        vec![0x0f, 0x02, 0x03, 0xcc],       // lar eax, [ebx]
        vec![0x0f, 0x00, 0x23, 0xcc],       // verr [ebx]
        vec![0x66, 0x0f, 0x00, 0xe1, 0xcc], // verr cx (16-bit operand size)
        vec![0x66, 0x0f, 0x00, 0xe9, 0xcc], // verw cx (16-bit operand size)
    ];
    for code in &dq {
        for &sel in &sels {
            for flags in [0, ZF] {
                rows.push(Row::new(
                    code.clone(),
                    Setup::default()
                        .reg(ECX, sel | 0xabcd_0000)
                        .reg(EAX, 0x1111_2222)
                        .reg(EBX, DATA + 0x40)
                        .data_u32(0x40, sel)
                        .flags(flags),
                ));
            }
        }
    }
    let codes = vec![
        a(|a| a.cbw()),
        a(|a| a.cwde()),
        a(|a| a.cwd()),
        a(|a| a.cdq()),
        a(|a| a.lahf()),
        a(|a| a.sahf()),
        a(|a| a.std().and_then(|_| a.cmc())),
        a(|a| a.cld()),
    ];
    let mut setups = Vec::new();
    for v in [
        0u32,
        0x7f,
        0x80,
        0x7fff,
        0x8000,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0xd5d5,
    ] {
        for f in [0, STATUS | DF] {
            setups.push(with_regs(&[(EAX, v), (EDX, 0x5555_5555)]).flags(f));
        }
    }
    rows.extend(cross(&codes, &setups));
    // lea: every addressing form, including 32-bit wraparound and 16-bit addressing.
    let lea = vec![
        a(|a| a.lea(eax, dword_ptr(0x1234_5678u32))),
        a(|a| a.lea(eax, dword_ptr(ebx))),
        a(|a| a.lea(eax, dword_ptr(ebx + 0x7f))),
        a(|a| a.lea(eax, dword_ptr(ebx - 0x80))),
        a(|a| a.lea(eax, dword_ptr(ebx + 0x1234_5678))),
        a(|a| a.lea(eax, dword_ptr(ebx + ecx))),
        a(|a| a.lea(eax, dword_ptr(ebx + ecx * 2 + 1))),
        a(|a| a.lea(eax, dword_ptr(ebx + ecx * 4 - 0x1000))),
        a(|a| a.lea(eax, dword_ptr(ecx * 8 + 0x10))),
        a(|a| a.lea(eax, dword_ptr(esp + 4))),
        a(|a| a.lea(eax, dword_ptr(esp + ecx * 2))),
        a(|a| a.lea(eax, dword_ptr(ebp))),
        a(|a| a.lea(eax, dword_ptr(ebp + esi))),
        a(|a| a.lea(ax, dword_ptr(ebx + ecx * 8 + 0x7fff_ffff))),
        vec![0x67, 0x8d, 0x00, 0xcc],             // lea eax, [bx+si]
        vec![0x67, 0x8d, 0x43, 0x80, 0xcc],       // lea eax, [bp+di-0x80]
        vec![0x67, 0x8d, 0x06, 0x34, 0x12, 0xcc], // lea eax, [0x1234]
        vec![0x67, 0x8d, 0x87, 0xff, 0xff, 0xcc], // lea eax, [bx-1]
        vec![0x66, 0x67, 0x8d, 0x02, 0xcc],       // lea ax, [bp+si]
    ];
    let mut setups = Vec::new();
    for (b, c) in [
        (0u32, 0u32),
        (0xffff_fff0, 0x20),
        (0x8000_0000, 0x8000_0000),
        (0x1234_ffff, 0xffff_0001),
    ] {
        setups.push(with_regs(&[
            (EBX, b),
            (ECX, c),
            (EBP, b ^ 0x5555),
            (ESI, c ^ 0xaaaa),
            (EDI, 0xfffe),
        ]));
    }
    rows.extend(cross(&lea, &setups));
    // Memory accesses whose effective address wraps past 4 GiB into the data region.
    let wrap = vec![
        a(|a| a.mov(eax, dword_ptr(ebx + ecx))),
        a(|a| a.mov(dword_ptr(ebx + ecx * 4 + 0x10), eax)),
        a(|a| a.add(dword_ptr(ebx + 0x7000_0000), eax)),
    ];
    let s = with_regs(&[
        (EAX, 0x1357_9bdf),
        (EBX, 0xf000_0000),
        (ECX, DATA + 0x1000_0000 + 0x40),
    ]);
    rows.extend(cross(
        &wrap,
        &[
            s,
            with_regs(&[(EAX, 1), (EBX, DATA + 0x9000_0000), (ECX, 0x4000_0000)]),
        ],
    ));
    // cpuid and rdtsc are virtualised: only EIP, flags and the stop are compared.
    rows.push(Row::new(a(|a| a.cpuid()), with_regs(&[(EAX, 0)])).ignore(&[EAX, EBX, ECX, EDX]));
    rows.push(Row::new(a(|a| a.cpuid()), with_regs(&[(EAX, 1)])).ignore(&[EAX, EBX, ECX, EDX]));
    rows.push(Row::new(a(|a| a.rdtsc()), Setup::default()).ignore(&[EAX, EDX]));
    rows
}

fn family_faults() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(
        &[
            M::Hlt,
            M::Cli,
            M::Sti,
            M::In,
            M::Out,
            M::Lgdt,
            M::Lidt,
            M::Lldt,
            M::Ltr,
            M::Lmsw,
            M::Clts,
            M::Invd,
            M::Wbinvd,
            M::Invlpg,
            M::Rdmsr,
            M::Wrmsr,
            M::Rdpmc,
            M::Int3,
            M::Into,
            M::Ud2,
        ],
        12,
        2,
    );
    // int3 (both encodings), into, bound, ud2, int n.
    rows.push(
        Row::new(a(|a| a.int3()), Setup::default())
            .expect(Expect::Stop(3, 0))
            .expect(Expect::Eip(CODE + 1)),
    );
    rows.push(Row::new(vec![0xcd, 0x03, 0xcc], Setup::default()).expect(Expect::Eip(CODE + 2)));
    rows.push(Row::new(a(|a| a.into()), Setup::default()));
    rows.push(
        Row::new(a(|a| a.into()), Setup::default().flags(OF))
            .expect(Expect::Stop(4, 0))
            .expect(Expect::Eip(CODE + 1)),
    );
    rows.push(Row::new(vec![0xcd, 0x04, 0xcc], Setup::default()));
    rows.push(
        Row::new(a(|a| a.ud2()), Setup::default())
            .expect(Expect::Stop(6, 0))
            .expect(Expect::Eip(CODE)),
    );
    for n in [
        0u8, 1, 2, 5, 6, 7, 8, 0x0d, 0x0e, 0x10, 0x20, 0x21, 0x2e, 0x7f, 0x81, 0xf0, 0xff,
    ] {
        let mut r = Row::new(vec![0xcd, n, 0xcc], Setup::default());
        if n == 0x21 {
            // #GP with the IDT bit and the vector (0x21 << 3 | 2): not an available gate.
            r = r.expect(Expect::Stop(13, 0x10a)).expect(Expect::Eip(CODE));
        }
        rows.push(r);
    }
    let bound_setups: Vec<Setup> = [
        (5u32, 10u32, 7u32),
        (5, 10, 4),
        (5, 10, 11),
        (5, 10, 5),
        (5, 10, 10),
        (0xffff_fff0, 0x10, 0),
    ]
    .iter()
    .map(|&(lo, hi, v)| {
        with_regs(&[(EAX, v), (EBX, DATA)])
            .data_u32(0x10, lo)
            .data_u32(0x14, hi)
            .data_bytes(0x20, &(lo as u16).to_le_bytes())
            .data_bytes(0x22, &(hi as u16).to_le_bytes())
    })
    .collect();
    let bound = vec![
        a(|a| a.bound(eax, qword_ptr(ebx + 0x10))),
        a(|a| a.bound(ax, dword_ptr(ebx + 0x20))),
    ];
    rows.extend(cross(&bound, &bound_setups));
    rows.push(
        Row::new(bound[0].clone(), bound_setups[2].clone())
            .expect(Expect::Stop(5, 0))
            .expect(Expect::Eip(CODE)),
    );
    rows.push(Row::new(vec![0x62, 0xc1, 0xcc], Setup::default())); // bound with a register: #UD
                                                                   // Privileged instructions at CPL 3: #GP(0).
    let priv_codes = vec![
        a(|a| a.hlt()),
        a(|a| a.cli()),
        a(|a| a.sti()),
        a(|a| a.in_(al, 0x60)),
        a(|a| a.in_(eax, dx)),
        a(|a| a.out(0x80, al)),
        a(|a| a.out(dx, ax)),
        a(|a| a.insb()),
        a(|a| a.insw()),
        a(|a| a.insd()),
        a(|a| a.rep().outsb()),
        a(|a| a.outsw()),
        a(|a| a.outsd()),
        vec![0x0f, 0x06, 0xcc],       // clts
        vec![0x0f, 0x09, 0xcc],       // wbinvd
        vec![0x0f, 0x08, 0xcc],       // invd
        vec![0x0f, 0x30, 0xcc],       // wrmsr
        vec![0x0f, 0x32, 0xcc],       // rdmsr
        vec![0x0f, 0x33, 0xcc],       // rdpmc
        vec![0x0f, 0x20, 0xc0, 0xcc], // mov eax, cr0
        vec![0x0f, 0x22, 0xd8, 0xcc], // mov cr3, eax
        vec![0x0f, 0x21, 0xf8, 0xcc], // mov eax, dr7
        vec![0x0f, 0x01, 0x13, 0xcc], // lgdt [ebx]
        vec![0x0f, 0x01, 0x1b, 0xcc], // lidt [ebx]
        vec![0x0f, 0x00, 0xd0, 0xcc], // lldt ax
        vec![0x0f, 0x00, 0xd8, 0xcc], // ltr ax
        vec![0x0f, 0x01, 0xf0, 0xcc], // lmsw ax
        vec![0x0f, 0x01, 0x3b, 0xcc], // invlpg [ebx]
    ];
    let s = with_regs(&[(EBX, DATA), (EDX, 0x60), (ECX, 0), (ESI, DATA), (EDI, DATA)]);
    rows.extend(cross(&priv_codes, &[s]));
    rows.push(
        Row::new(a(|a| a.hlt()), Setup::default())
            .expect(Expect::Stop(13, 0))
            .expect(Expect::Eip(CODE)),
    );
    // Invalid opcodes.
    for b in [
        vec![0x0f, 0xff, 0xcc],
        vec![0x0f, 0x0b, 0xcc],
        vec![0x0f, 0xb9, 0xc0, 0xcc],
        vec![0xd6, 0xcc],
        vec![0x0f, 0x04, 0xcc],
    ] {
        rows.push(Row::new(b, Setup::default()));
    }
    // Page-boundary crossings into unmapped pages, and wraparound at 4 GiB.
    let end = DATA + DATA_LEN as u32;
    let cross_codes = vec![
        a(|a| a.mov(eax, dword_ptr(end - 2))),
        a(|a| a.mov(dword_ptr(end - 1), eax)),
        a(|a| a.mov(word_ptr(end - 1), ax)),
        a(|a| a.add(dword_ptr(end - 3), eax)),
        a(|a| a.movsx(eax, word_ptr(end - 1))),
        a(|a| a.push(dword_ptr(end - 2))),
        a(|a| a.mov(eax, dword_ptr(DATA - 2))), // the code region before it is readable
        a(|a| a.mov(dword_ptr(DATA - 2), eax)), // ... but not writable
        a(|a| a.mov(eax, dword_ptr(0xffff_ffffu32))),
        a(|a| a.mov(dword_ptr(0xffff_fffeu32), eax)),
        a(|a| a.mov(al, byte_ptr(0xffff_ffffu32))),
        a(|a| a.mov(eax, dword_ptr(ebx + 0x10))),
    ];
    let s = with_regs(&[(EAX, 0x4433_2211), (EBX, 0xffff_fff8)]);
    rows.extend(cross(&cross_codes, &[s]));
    rows.push(
        Row::new(a(|a| a.mov(eax, dword_ptr(end - 2))), Setup::default())
            .expect(Expect::Stop(14, 4))
            .expect(Expect::Cr2(end)),
    );
    rows.push(
        Row::new(a(|a| a.mov(dword_ptr(end - 1), eax)), Setup::default())
            .expect(Expect::Stop(14, 6))
            .expect(Expect::Mem(end - 1, vec![((end - 1 - DATA) * 7 + 3) as u8])),
    );
    // An instruction straddling the end of the code region: fetch #PF.
    let tail = CODE_LEN as u32;
    rows.push(
        Row::new(vec![0xb8, 1, 2], Setup::default().code_at(tail - 3))
            .expect(Expect::Cr2(CODE + tail)),
    );
    rows.push(Row::new(
        vec![0x90, 0x90, 0x90],
        Setup::default().code_at(tail - 3),
    ));
    rows.push(Row::new(vec![0x0f], Setup::default().code_at(tail - 1)));
    // Code in a write-only-looking (RW, not X) region.
    rows.push(Row::new(
        a(|a| a.jmp(u64::from(DATA + 0x10))),
        Setup::default(),
    ));
    rows
}

fn family_segments() -> Vec<Row> {
    use Mnemonic as M;
    let mut rows = sweep(&[M::Lds, M::Les, M::Lfs, M::Lgs, M::Lss], 10, 3);
    // Selectors: null, null with RPL, the user data and code selectors, the 64-bit user code
    // selector, TLS slots, LDT selectors, past the GDT, kernel selectors.
    // (Not 0x63: GDT entry 12 holds the oracle runner's own TLS, which a case does not have.)
    let sels: [u32; 13] = [
        0, 3, 0x2b, 0x2a, 0x23, 0x33, 0x6b, 0x7b, 0x4, 0x7, 0x1234, 0xfff8, 0x10,
    ];
    let codes = vec![
        a(|a| a.mov(ds, ax)),
        a(|a| a.mov(es, ax)),
        a(|a| a.mov(fs, ax)),
        a(|a| a.mov(gs, ax)),
        a(|a| a.mov(ss, ax)),
        a(|a| a.mov(ds, word_ptr(ebx))),
        a(|a| a.mov(ds, ax).and_then(|_| a.mov(ecx, dword_ptr(ebx)))),
        a(|a| a.mov(es, ax).and_then(|_| a.stosb())),
        a(|a| a.mov(fs, ax).and_then(|_| a.mov(ecx, dword_ptr(ebx).fs()))),
        a(|a| a.mov(ds, ax).and_then(|_| a.push(dword_ptr(ebx)))),
        a(|a| a.push(eax).and_then(|_| a.pop(ds))),
        a(|a| a.push(eax).and_then(|_| a.pop(ss))),
        a(|a| a.push(eax).and_then(|_| a.pop(gs))),
        a(|a| a.lds(ecx, fword_ptr(ebx))),
        a(|a| a.les(cx, dword_ptr(ebx + 2))),
        a(|a| a.lfs(ecx, fword_ptr(ebx))),
        a(|a| a.lgs(ecx, fword_ptr(ebx))),
        a(|a| a.lss(ecx, fword_ptr(ebx))),
    ];
    let mut setups = Vec::new();
    for s in sels {
        setups.push(
            with_regs(&[(EAX, 0xabcd_0000 | s), (EBX, DATA), (EDI, DATA + 0x100)])
                .data_u32(0, (s << 16) | 0x0020)
                .data_u32(4, s),
        );
    }
    rows.extend(cross(&codes, &setups));
    // Reading segment registers.
    let reads = vec![
        a(|a| a.mov(ax, cs)),
        a(|a| a.mov(eax, ds)),
        a(|a| a.mov(word_ptr(ebx), ss)),
        a(|a| a.mov(eax, fs)),
        a(|a| a.mov(eax, gs)),
        a(|a| a.push(cs)),
        a(|a| a.push(ds)),
        a(|a| a.push(fs)),
        vec![0x66, 0x0e, 0xcc], // pushw cs
        vec![0x8e, 0xc8, 0xcc], // mov cs, ax: #UD
        vec![0x8e, 0xf0, 0xcc], // mov sreg 6: #UD
    ];
    let s = with_regs(&[(EAX, 0xffff_ffff), (EBX, DATA)]).fill_stack_u32(0xeeee_eeee);
    rows.extend(cross(&reads, &[s]));
    rows.push(
        // The error code is the selector without its RPL: 0x1234 has TI set (an LDT selector).
        Row::new(a(|a| a.mov(ds, ax)), with_regs(&[(EAX, 0x1237)]))
            .expect(Expect::Stop(13, 0x1234))
            .expect(Expect::Eip(CODE)),
    );
    rows
}

/// x87 codes (387 and P6 FCMOV/FCOMI), run on a stack of four loaded values; the status
/// word, control word and the whole register stack are stored afterwards so that they are
/// compared. Each row starts with FNINIT, so no x87 state leaks between cases.
fn family_x87() -> Vec<Row> {
    let x87: Vec<Code> = Code::values()
        .filter(|c| {
            let op = c.op_code();
            op.is_instruction()
                && op.mode32()
                && op.encoding() == EncodingKind::Legacy
                && c.cpuid_features()
                    .iter()
                    .any(|f| matches!(f, CpuidFeature::FPU | CpuidFeature::FPU387))
                && c.cpuid_features().iter().all(|f| {
                    matches!(
                        f,
                        CpuidFeature::FPU
                            | CpuidFeature::FPU287
                            | CpuidFeature::FPU387
                            | CpuidFeature::CMOV
                    )
                })
        })
        .collect();
    const VALUES: u32 = DATA + 0x1800;
    const OUT: u32 = DATA + 0x1900;
    let raw = |f: &dyn Fn(&mut Asm) -> AsmResult| -> Vec<u8> {
        let mut a = CodeAssembler::new(32).expect("assembler");
        f(&mut a).expect("x87 prologue");
        a.assemble(u64::from(CODE)).expect("x87 prologue")
    };
    let prologue = raw(&|a| {
        a.fninit()?;
        a.fld(qword_ptr(VALUES))?;
        a.fld(qword_ptr(VALUES + 8))?;
        a.fld(qword_ptr(VALUES + 16))?;
        a.fld(dword_ptr(VALUES + 24))
    });
    let epilogue = raw(&|a| {
        a.fnstsw(word_ptr(OUT + 4))?;
        a.fnstcw(word_ptr(OUT))?;
        for k in 0..8 {
            a.fstp(qword_ptr(OUT + 8 + 8 * k))?;
        }
        a.fnstsw(word_ptr(OUT + 2))
    });
    let sets: [[f64; 4]; 4] = [
        [1.5, -2.25, 1e10, 3.0],
        [0.0, -0.0, f64::INFINITY, f64::NAN],
        [1e-310, -1e308, std::f64::consts::PI, 2.0],
        [1.0, 10.0, 0.5, -100.0],
    ];
    let adjust = |s: Setup, rng: &mut Rng| {
        let set = rng.pick(&sets);
        let mut s = s
            .data_bytes(0x1800, &set[0].to_le_bytes())
            .data_bytes(0x1808, &set[1].to_le_bytes())
            .data_bytes(0x1810, &set[2].to_le_bytes())
            .data_bytes(0x1818, &(set[3] as f32).to_le_bytes());
        // Memory operands of the instruction (around DATA+0x1000 and DATA+0x900) hold
        // floating-point values too, sometimes.
        if rng.chance(1, 2) {
            for off in (0x8c0..0xa00).chain(0xfc0..0x1040).step_by(8) {
                s = s.data_bytes(off, &set[(off / 8) % 4].to_le_bytes());
            }
        }
        s
    };
    let mut rows = sweep_codes(&x87, 11, 4, &prologue, &epilogue, adjust);
    // FNSTSW AX (a 287 addition, everywhere in compiled code) and the 287-only FSETPM (a
    // no-op since the 387).
    let mut tail = prologue.clone();
    tail.extend_from_slice(&[0xdf, 0xe0]); // fnstsw ax
    tail.extend_from_slice(&epilogue);
    tail.push(0xcc);
    rows.push(Row::new(tail, Setup::default()));
    rows
}

/// Every table, for the coverage count.
type Family = (&'static str, fn() -> Vec<Row>);

fn all_families() -> Vec<Family> {
    vec![
        ("alu", family_alu),
        ("shift", family_shift),
        ("muldiv", family_muldiv),
        ("bits", family_bits),
        ("bcd", family_bcd),
        ("string", family_string),
        ("xchg", family_xchg),
        ("cond", family_cond),
        ("stack", family_stack),
        ("control", family_control),
        ("misc", family_misc),
        ("faults", family_faults),
        ("segments", family_segments),
        ("x87", family_x87),
    ]
}

#[test]
fn alu() {
    run_rows("alu", family_alu());
}
#[test]
fn shift() {
    run_rows("shift", family_shift());
}
#[test]
fn muldiv() {
    run_rows("muldiv", family_muldiv());
}
#[test]
fn bits() {
    run_rows("bits", family_bits());
}
#[test]
fn bcd() {
    run_rows("bcd", family_bcd());
}
#[test]
fn string() {
    run_rows("string", family_string());
}
#[test]
fn xchg() {
    run_rows("xchg", family_xchg());
}
#[test]
fn cond() {
    run_rows("cond", family_cond());
}
#[test]
fn stack() {
    run_rows("stack", family_stack());
}
#[test]
fn control() {
    run_rows("control", family_control());
}
#[test]
fn misc() {
    run_rows("misc", family_misc());
}
#[test]
fn faults() {
    run_rows("faults", family_faults());
}
#[test]
fn segments() {
    run_rows("segments", family_segments());
}

#[test]
fn x87() {
    run_rows("x87", family_x87());
}

#[test]
fn coverage() {
    let mut exercised = BTreeSet::new();
    let mut rows = 0;
    for (_, f) in all_families() {
        for r in f() {
            rows += 1;
            let entry = r.setup.entry();
            for i in decode(&r.code, entry) {
                exercised.insert(i.code());
            }
        }
    }
    let claimed: BTreeSet<Code> = xdbt::frontend::claimed_codes()
        .into_iter()
        .filter(|c| !is_fp_code(*c))
        .collect();
    let covered: Vec<&Code> = claimed.intersection(&exercised).collect();
    let all32 = Code::values().filter(|c| is_integer_legacy_32(*c)).count();
    let pct = 100.0 * covered.len() as f64 / claimed.len().max(1) as f64;
    println!(
        "coverage: covered={} claimed={} ({pct:.1}%) all32={all32} (rows={rows})",
        covered.len(),
        claimed.len()
    );
    let missing: Vec<String> = claimed
        .difference(&exercised)
        .map(|c| format!("{c:?}"))
        .collect();
    println!(
        "claimed but not covered ({}): {}",
        missing.len(),
        missing.join(" ")
    );
    assert!(pct >= 95.0, "coverage {pct:.1}% < 95% of the claimed codes");
}

/// What Linux reports for each kind of fault, natively (vector, error code, CR2 and EIP, as
/// the oracle sees them in the signal's ucontext). Printed for reference and checked, as a
/// sanity check of the oracle itself.
#[test]
fn linux_fault_reports() {
    let s = Setup::default;
    let end = DATA + DATA_LEN as u32;
    // (what, code, setup, vector, error code, cr2, eip offset from CODE)
    type Entry = (&'static str, Vec<u8>, Setup, u8, u32, u32, u32);
    let table: Vec<Entry> = vec![
        ("int3", a(|a| a.int3()), s(), 3, 0, 0, 1),
        ("into with OF=1", a(|a| a.into()), s().flags(OF), 4, 0, 0, 1),
        (
            "bound out of range",
            a(|a| a.bound(eax, qword_ptr(ebx))),
            with_regs(&[(EAX, 9), (EBX, DATA)])
                .data_u32(0, 1)
                .data_u32(4, 2),
            5,
            0,
            0,
            0,
        ),
        ("ud2", a(|a| a.ud2()), s(), 6, 0, 0, 0),
        ("div by 0", a(|a| a.div(ecx)), s(), 0, 0, 0, 0),
        (
            "int 0x21 (DPL0 gate)",
            vec![0xcd, 0x21, 0xcc],
            s(),
            13,
            0x21 << 3 | 2,
            0,
            0,
        ),
        (
            "int 0x04 (DPL3 gate)",
            vec![0xcd, 0x04, 0xcc],
            s(),
            4,
            0,
            0,
            2,
        ),
        ("hlt", a(|a| a.hlt()), s(), 13, 0, 0, 0),
        ("cli", a(|a| a.cli()), s(), 13, 0, 0, 0),
        ("in al, dx", a(|a| a.in_(al, dx)), s(), 13, 0, 0, 0),
        (
            "mov ds, 0x1237",
            a(|a| a.mov(ds, ax)),
            with_regs(&[(EAX, 0x1237)]),
            13,
            0x1234,
            0,
            0,
        ),
        ("mov ss, 0", a(|a| a.mov(ss, ax)), s(), 13, 0, 0, 0),
        (
            "null DS access",
            a(|a| a.mov(ds, ax).and_then(|_| a.mov(eax, dword_ptr(ebx)))),
            with_regs(&[(EBX, DATA)]),
            13,
            0,
            0,
            3,
        ),
        (
            "read unmapped",
            a(|a| a.mov(eax, dword_ptr(UNMAPPED))),
            s(),
            14,
            4,
            UNMAPPED,
            0,
        ),
        (
            "write unmapped",
            a(|a| a.mov(dword_ptr(UNMAPPED), eax)),
            s(),
            14,
            6,
            UNMAPPED,
            0,
        ),
        (
            "write read-only",
            a(|a| a.mov(dword_ptr(CODE + 0x100), eax)),
            s(),
            14,
            7,
            CODE + 0x100,
            0,
        ),
        (
            "fetch unmapped",
            a(|a| a.jmp(u64::from(UNMAPPED))),
            s(),
            14,
            0x14,
            UNMAPPED,
            UNMAPPED - CODE,
        ),
        (
            "fetch non-executable",
            a(|a| a.jmp(u64::from(DATA))),
            s(),
            14,
            0x15,
            DATA,
            DATA - CODE,
        ),
        (
            "read crossing into unmapped",
            a(|a| a.mov(eax, dword_ptr(end - 2))),
            s(),
            14,
            4,
            end,
            0,
        ),
        (
            "read wrapping at 4 GiB",
            a(|a| a.mov(eax, dword_ptr(0xffff_ffffu32))),
            s(),
            13,
            0,
            0,
            0,
        ),
        (
            "byte read at 0xffffffff",
            a(|a| a.mov(al, byte_ptr(0xffff_ffffu32))),
            s(),
            14,
            4,
            0xffff_ffff,
            0,
        ),
        (
            "read of a PROT_NONE page",
            a(|a| a.mov(eax, dword_ptr(UNMAPPED + 8))),
            s().region(UNMAPPED, xdbt::Prot::empty(), vec![0; 4096]),
            14,
            4,
            UNMAPPED + 8,
            0,
        ),
        (
            "push with ESP at an unmapped page",
            a(|a| a.push(eax)),
            with_regs(&[(ESP, STACK)]),
            14,
            6,
            STACK - 4,
            0,
        ),
        (
            "lock add with a register",
            vec![0xf0, 0x01, 0xc8, 0xcc],
            s(),
            6,
            0,
            0,
            0,
        ),
        (
            "fwait with an unmasked x87 fault",
            a(|a| {
                a.fninit()?;
                a.fldz()?;
                a.fldcw(word_ptr(DATA))?;
                a.fdiv_2(st0, st0)?;
                a.wait()
            }),
            s().data_bytes(0, &[0x40, 0x03]),
            16,
            0,
            0,
            0xc,
        ),
    ];
    let cases: Vec<SnippetCase> = table.iter().map(|t| t.2.case(&t.1)).collect();
    let mut oracle = xdbt::hosted::oracle::Oracle::new().expect("oracle");
    let results = oracle.run_many(&cases).expect("oracle");
    let mut bad = Vec::new();
    for (t, r) in table.iter().zip(results) {
        let r = r.expect("native run");
        println!(
            "{:<30} vector {:>2} error code {:#06x} cr2 {:#010x} eip {:#010x}",
            t.0, r.stop.vector, r.stop.error_code, r.stop.cr2, r.eip
        );
        if (r.stop.vector, r.stop.error_code, r.stop.cr2, r.eip)
            != (t.3, t.4, t.5, CODE.wrapping_add(t.6))
        {
            bad.push(t.0);
        }
    }
    assert!(
        bad.is_empty(),
        "Linux reports differently than expected for: {bad:?}"
    );
}
