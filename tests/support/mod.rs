//! Differential testing support shared by `diff_table.rs` and `diff_random.rs`: the case
//! layout, assembling snippets, running a batch natively (the oracle, `xdbt::hosted::oracle`)
//! and translated (`xdbt::hosted::snippet::SnippetRunner`) side by side, and comparing the
//! two results with a readable report (the case's disassembly and a diff of the state).
//!
//! Flags: all of CF PF AF ZF SF OF DF (and AC) are compared, including those the SDM leaves
//! undefined: the oracle is the very CPU the translated code runs on. A test may allow a
//! difference in a flag only where the SDM says the flag is undefined after one of the
//! case's instructions ([`sdm_undefined_flags`]) and a mismatch was actually observed.
#![allow(dead_code)] // Each test crate uses part of this module.

use iced_x86::code_asm::CodeAssembler;
use iced_x86::{
    Code, Decoder, DecoderOptions, Formatter, IcedError, Instruction, IntelFormatter, RflagsBits,
};
use std::fmt::Write as _;
use std::io;
use std::rc::Rc;
use xdbt::hosted::oracle::Oracle;
use xdbt::hosted::snippet::{Region, SnippetCase, SnippetResult, SnippetRunner, COMPARED_FLAGS};
use xdbt::Prot;

/// Where cases put things (all inside the oracle's case range, 0x10000000-0x7fffffff).
pub const CODE: u32 = 0x1000_0000;
/// Code region length (RX).
pub const CODE_LEN: usize = 0x2000;
/// The data region (RW): memory operands point here.
pub const DATA: u32 = 0x2000_0000;
pub const DATA_LEN: usize = 0x2000;
/// The stack region (RW); ESP starts at [`STACK_TOP`].
pub const STACK: u32 = 0x3000_0000;
pub const STACK_LEN: usize = 0x2000;
pub const STACK_TOP: u32 = STACK + 0x1800;
/// Never mapped by any case: loads and stores here raise #PF.
pub const UNMAPPED: u32 = 0x5000_0000;

pub const EAX: usize = 0;
pub const ECX: usize = 1;
pub const EDX: usize = 2;
pub const EBX: usize = 3;
pub const ESP: usize = 4;
pub const EBP: usize = 5;
pub const ESI: usize = 6;
pub const EDI: usize = 7;
pub const REG_NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

pub const CF: u32 = 1 << 0;
pub const PF: u32 = 1 << 2;
pub const AF: u32 = 1 << 4;
pub const ZF: u32 = 1 << 6;
pub const SF: u32 = 1 << 7;
pub const DF: u32 = 1 << 10;
pub const OF: u32 = 1 << 11;
/// The status flags.
pub const STATUS: u32 = CF | PF | AF | ZF | SF | OF;
const FLAG_NAMES: [(u32, &str); 8] = [
    (CF, "CF"),
    (PF, "PF"),
    (AF, "AF"),
    (ZF, "ZF"),
    (SF, "SF"),
    (DF, "DF"),
    (OF, "OF"),
    (1 << 18, "AC"),
];

/// Initial state of a case apart from its code: registers, flags, data and stack contents,
/// extra regions, and where the code goes. Memory contents are shared between setups until
/// changed, so tables of thousands of rows stay small.
#[derive(Clone, Debug)]
pub struct Setup {
    pub regs: [u32; 8],
    pub eflags: u32,
    pub data: Rc<Vec<u8>>,
    pub stack: Rc<Vec<u8>>,
    pub extra: Vec<Region>,
    /// The code starts at `CODE + code_off` (to end it at a page boundary, say).
    pub code_off: u32,
}

thread_local! {
    static DEFAULT_DATA: Rc<Vec<u8>> =
        // Recognisable data: byte i of the data region is i * 7 + 3.
        Rc::new((0..DATA_LEN).map(|i| (i * 7 + 3) as u8).collect());
    static DEFAULT_STACK: Rc<Vec<u8>> = Rc::new(vec![0; STACK_LEN]);
}

impl Default for Setup {
    fn default() -> Self {
        let mut regs = [0; 8];
        regs[ESP] = STACK_TOP;
        Setup {
            regs,
            eflags: 0,
            data: DEFAULT_DATA.with(Rc::clone),
            stack: DEFAULT_STACK.with(Rc::clone),
            extra: Vec::new(),
            code_off: 0,
        }
    }
}

impl Setup {
    pub fn reg(mut self, r: usize, v: u32) -> Self {
        self.regs[r] = v;
        self
    }
    pub fn regs(mut self, v: [u32; 8]) -> Self {
        self.regs = v;
        self
    }
    pub fn flags(mut self, f: u32) -> Self {
        self.eflags = f;
        self
    }
    pub fn data_u32(self, off: usize, v: u32) -> Self {
        self.data_bytes(off, &v.to_le_bytes())
    }
    pub fn data_bytes(mut self, off: usize, b: &[u8]) -> Self {
        Rc::make_mut(&mut self.data)[off..off + b.len()].copy_from_slice(b);
        self
    }
    /// Store a dword on the stack region at absolute address `addr`.
    pub fn stack_u32(mut self, addr: u32, v: u32) -> Self {
        let off = (addr - STACK) as usize;
        Rc::make_mut(&mut self.stack)[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn fill_stack_u32(mut self, v: u32) -> Self {
        for w in Rc::make_mut(&mut self.stack).chunks_mut(4) {
            w.copy_from_slice(&v.to_le_bytes());
        }
        self
    }
    pub fn region(mut self, addr: u32, prot: Prot, data: Vec<u8>) -> Self {
        self.extra.push(Region { addr, prot, data });
        self
    }
    pub fn code_at(mut self, off: u32) -> Self {
        self.code_off = off;
        self
    }
    /// Where the code starts.
    pub fn entry(&self) -> u32 {
        CODE + self.code_off
    }

    /// The case running `code` at [`Setup::entry`] (the code region is padded with `int3`).
    pub fn case(&self, code: &[u8]) -> SnippetCase {
        let off = self.code_off as usize;
        assert!(off + code.len() <= CODE_LEN, "code too long");
        let mut c = vec![0xccu8; CODE_LEN];
        c[off..off + code.len()].copy_from_slice(code);
        let mut regions = vec![
            Region {
                addr: CODE,
                prot: Prot::RX,
                data: c,
            },
            Region {
                addr: DATA,
                prot: Prot::RW,
                data: self.data.to_vec(),
            },
            Region {
                addr: STACK,
                prot: Prot::RW,
                data: self.stack.to_vec(),
            },
        ];
        regions.extend(self.extra.iter().cloned());
        SnippetCase {
            regs: self.regs,
            eflags: self.eflags,
            entry: self.entry(),
            regions,
        }
    }
}

/// Assemble 32-bit code at [`CODE`] and append the final `int3`.
pub fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    asm_at(CODE, f)
}

/// Assemble 32-bit code at `ip` and append the final `int3`.
pub fn asm_at(ip: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).expect("32-bit assembler");
    f(&mut a).expect("assembling a snippet");
    a.int3().expect("int3");
    a.assemble(u64::from(ip)).expect("assembling a snippet")
}

/// Encode instructions at `ip` (branch targets resolved among them) and append `int3`.
pub fn encode(ip: u32, insns: &[Instruction]) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    for i in insns {
        a.add_instruction(*i)?;
    }
    a.int3()?;
    a.assemble(u64::from(ip))
}

/// Decode `code` at `ip` (default decoder options, as the translator decodes).
pub fn decode(code: &[u8], ip: u32) -> Vec<Instruction> {
    let mut d = Decoder::with_ip(32, code, u64::from(ip), DecoderOptions::NONE);
    let mut out = Vec::new();
    while d.can_decode() {
        out.push(d.decode());
    }
    out
}

/// The iced codes of `code`.
pub fn codes(code: &[u8], ip: u32) -> Vec<Code> {
    decode(code, ip).iter().map(|i| i.code()).collect()
}

/// iced's `RflagsBits` as EFLAGS bits.
pub fn rflags_to_eflags(r: u32) -> u32 {
    let map = [
        (RflagsBits::CF, CF),
        (RflagsBits::PF, PF),
        (RflagsBits::AF, AF),
        (RflagsBits::ZF, ZF),
        (RflagsBits::SF, SF),
        (RflagsBits::OF, OF),
        (RflagsBits::DF, DF),
    ];
    map.iter()
        .filter(|(i, _)| r & i != 0)
        .fold(0, |acc, (_, e)| acc | e)
}

/// EFLAGS bits the SDM leaves undefined after any instruction of `code`.
pub fn sdm_undefined_flags(code: &[u8], ip: u32) -> u32 {
    decode(code, ip)
        .iter()
        .fold(0, |acc, i| acc | rflags_to_eflags(i.rflags_undefined()))
}

/// Disassembly of the case's code: from the entry to the last byte that is not the int3
/// padding, with the stop EIPs of both sides marked.
pub fn disassemble(case: &SnippetCase, marks: &[(u32, &str)]) -> String {
    let mut out = String::new();
    let Some(r) = case.regions.iter().find(|r| {
        case.entry >= r.addr && u64::from(case.entry) < u64::from(r.addr) + r.data.len() as u64
    }) else {
        return format!("  (entry {:#010x} is not in any region)\n", case.entry);
    };
    let start = (case.entry - r.addr) as usize;
    let end = r
        .data
        .iter()
        .rposition(|&b| b != 0xcc)
        .map_or(start, |p| p + 2)
        .min(r.data.len());
    let bytes = &r.data[start..end.max(start)];
    let mut d = Decoder::with_ip(32, bytes, u64::from(case.entry), DecoderOptions::NONE);
    let mut f = IntelFormatter::new();
    let mut text = String::new();
    let mut n = 0;
    while d.can_decode() && n < 200 {
        let i = d.decode();
        text.clear();
        f.format(&i, &mut text);
        let off = (i.ip() - u64::from(case.entry)) as usize;
        let hex: String = bytes[off..off + i.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let ip = i.ip() as u32;
        let mark: Vec<&str> = marks.iter().filter(|m| m.0 == ip).map(|m| m.1).collect();
        let mark = if mark.is_empty() {
            String::new()
        } else {
            format!("   <= {}", mark.join(", "))
        };
        let _ = writeln!(out, "  {ip:08x}  {hex:<24} {text}{mark}");
        n += 1;
    }
    out
}

fn flag_string(f: u32) -> String {
    FLAG_NAMES
        .iter()
        .map(|(b, n)| format!("{n}={}", u32::from(f & b != 0)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn stop_string(r: &SnippetResult) -> String {
    let name = match r.stop.vector {
        0 => "#DE",
        1 => "#DB",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        _ => "#?",
    };
    let mut s = format!("{name}({}) err={:#x}", r.stop.vector, r.stop.error_code);
    if r.stop.vector == 14 {
        let _ = write!(s, " cr2={:#010x}", r.stop.cr2);
    }
    s
}

/// Differences in the state after a case, as text lines (empty when equal). Flags in
/// `allowed` may differ.
pub fn diff(
    case: &SnippetCase,
    native: &SnippetResult,
    xl: &SnippetResult,
    allowed: u32,
) -> Vec<String> {
    let mut d = Vec::new();
    for (k, name) in REG_NAMES.iter().enumerate() {
        if native.regs[k] != xl.regs[k] {
            d.push(format!(
                "{name:<7} native {:#010x}  translated {:#010x}",
                native.regs[k], xl.regs[k]
            ));
        }
    }
    if native.eip != xl.eip {
        d.push(format!(
            "eip     native {:#010x}  translated {:#010x}",
            native.eip, xl.eip
        ));
    }
    let mask = COMPARED_FLAGS & !allowed;
    if (native.eflags ^ xl.eflags) & mask != 0 {
        d.push(format!(
            "eflags  native {}\n        transl {}",
            flag_string(native.eflags),
            flag_string(xl.eflags)
        ));
    }
    let (ns, ts) = (native.stop, xl.stop);
    if ns.vector != ts.vector
        || ns.error_code != ts.error_code
        || (ns.vector == 14 && ns.cr2 != ts.cr2)
    {
        d.push(format!(
            "stop    native {}  translated {}",
            stop_string(native),
            stop_string(xl)
        ));
    }
    if native.regions.len() != xl.regions.len() {
        d.push(format!(
            "regions native {} translated {}",
            native.regions.len(),
            xl.regions.len()
        ));
        return d;
    }
    for ((r, n), t) in case.regions.iter().zip(&native.regions).zip(&xl.regions) {
        if n == t {
            continue;
        }
        if n.len() != t.len() {
            d.push(format!(
                "region {:#010x}: lengths differ {} vs {}",
                r.addr,
                n.len(),
                t.len()
            ));
            continue;
        }
        let mut ranges = Vec::new();
        let mut k = 0;
        while k < n.len() {
            if n[k] == t[k] {
                k += 1;
                continue;
            }
            let s = k;
            while k < n.len() && (n[k] != t[k] || (k + 1 < n.len() && n[k + 1] != t[k + 1])) {
                k += 1;
            }
            ranges.push(s..k);
        }
        for rg in ranges.iter().take(8) {
            let show = rg.start..rg.end.min(rg.start + 16);
            let hex = |b: &[u8]| {
                b.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            d.push(format!(
                "mem {:#010x} (+{}): native [{}]  translated [{}]  initial [{}]",
                r.addr + rg.start as u32,
                rg.len(),
                hex(&n[show.clone()]),
                hex(&t[show.clone()]),
                hex(&r.data[show])
            ));
        }
        if ranges.len() > 8 {
            d.push(format!(
                "mem ... {} more differing ranges in {:#010x}",
                ranges.len() - 8,
                r.addr
            ));
        }
    }
    d
}

/// Compare the two sides of a case; all compared flags must match.
pub fn compare(
    case: &SnippetCase,
    native: &SnippetResult,
    translated: &SnippetResult,
) -> Result<(), String> {
    compare_allowing(case, native, translated, 0)
}

/// Compare the two sides of a case; flags in `allowed` may differ (only flags the SDM
/// leaves undefined after one of the case's instructions; see [`sdm_undefined_flags`]).
pub fn compare_allowing(
    case: &SnippetCase,
    native: &SnippetResult,
    translated: &SnippetResult,
    allowed: u32,
) -> Result<(), String> {
    let d = diff(case, native, translated, allowed);
    if d.is_empty() {
        return Ok(());
    }
    Err(report(case, native, translated, &d))
}

/// The full mismatch report for a case.
pub fn report(
    case: &SnippetCase,
    native: &SnippetResult,
    xl: &SnippetResult,
    d: &[String],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mismatch: entry {:#010x}, initial eflags {:#x} ({})",
        case.entry,
        case.eflags,
        flag_string(case.eflags)
    );
    let regs: Vec<String> = REG_NAMES
        .iter()
        .zip(case.regs)
        .map(|(n, v)| format!("{n}={v:#010x}"))
        .collect();
    let _ = writeln!(s, "  initial {}", regs.join(" "));
    s.push_str(&disassemble(
        case,
        &[(native.eip, "native stop"), (xl.eip, "translated stop")],
    ));
    let _ = writeln!(
        s,
        "  native stop: {} at eip {:#010x}",
        stop_string(native),
        native.eip
    );
    for line in d {
        let _ = writeln!(s, "  {line}");
    }
    s
}

/// Both sides: the oracle process and the translator.
pub struct Sides {
    pub oracle: Oracle,
    pub xl: SnippetRunner,
}

/// The outcome of one case on both sides.
pub struct Outcome {
    pub native: io::Result<SnippetResult>,
    pub translated: SnippetResult,
}

impl Outcome {
    /// Compare, allowing the flags in `allowed` to differ.
    pub fn check(&self, case: &SnippetCase, allowed: u32) -> Result<(), String> {
        match &self.native {
            Ok(n) => compare_allowing(case, n, &self.translated, allowed),
            Err(e) => Err(format!(
                "native run failed: {e}\n{}",
                disassemble(case, &[(self.translated.eip, "translated stop")])
            )),
        }
    }
}

impl Sides {
    pub fn new() -> Sides {
        let oracle = Oracle::new().unwrap_or_else(|e| panic!("native oracle: {e}"));
        let xl = SnippetRunner::new().unwrap_or_else(|e| panic!("snippet runner: {e}"));
        Sides { oracle, xl }
    }

    /// Run a batch on both sides; the native side runs in its own process (and a thread
    /// here) while this thread runs the translator.
    pub fn run(&mut self, cases: &[SnippetCase]) -> Vec<Outcome> {
        let oracle = &mut self.oracle;
        let xl = &mut self.xl;
        let (native, translated) = std::thread::scope(|s| {
            let n = s.spawn(|| oracle.run_many(cases));
            let t: Vec<SnippetResult> = cases.iter().map(|c| xl.run(c)).collect();
            (n.join(), t)
        });
        let native = match native {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("native oracle failed: {e}"),
            Err(_) => panic!("native oracle thread panicked"),
        };
        native
            .into_iter()
            .zip(translated)
            .map(|(native, translated)| Outcome { native, translated })
            .collect()
    }
}

/// A small deterministic PRNG (xorshift64*), so that seeds replay everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.u32()) * u64::from(n)) >> 32) as u32
    }
    pub fn chance(&mut self, num: u32, den: u32) -> bool {
        self.below(den) < num
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u32) as usize]
    }
    /// A register value biased towards edge cases.
    pub fn value(&mut self) -> u32 {
        const EDGES: [u32; 16] = [
            0,
            1,
            2,
            0x7f,
            0x80,
            0xff,
            0x100,
            0x7fff,
            0x8000,
            0xffff,
            0x1_0000,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0xffff_fffe,
            0x8000_0001,
        ];
        match self.below(8) {
            0..=2 => *self.pick(&EDGES),
            3 => self.below(64),
            4 => self.u32() & 0xff,
            _ => self.u32(),
        }
    }
    /// Random initial status flags and, with `df`, sometimes DF.
    pub fn flags(&mut self, df: bool) -> u32 {
        let mut f = self.u32() & STATUS;
        if df && self.chance(1, 4) {
            f |= DF;
        }
        f
    }
}
