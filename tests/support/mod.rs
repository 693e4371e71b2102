//! Differential testing support shared by `diff_table.rs` and `diff_random.rs`: the case
//! layout, assembling snippets, running a batch natively (the oracle, `xdbt::hosted::oracle`)
//! and translated (`xdbt::hosted::snippet::SnippetRunner`) side by side, and comparing the
//! two results with a readable report (the case's disassembly and a diff of the state).
//!
//! Flags: all of CF PF AF ZF SF OF DF (and AC) are compared, including those the SDM leaves
//! undefined: the oracle is the very CPU the translated code runs on. A test may allow a
//! difference in a flag only where the SDM says the flag is undefined after one of the
//! case's instructions ([`sdm_undefined_flags`]) and a mismatch was actually observed.
//!
//! x87/MMX/SSE state (the FXSAVE images of [`SnippetResult::fx`]): FCW, FSW, the abridged
//! FTW, MXCSR, XMM0-7 and the 80 bits of every ST/MM register tagged valid (of the empty ones
//! too when [`Check::empty_st`] asks) are compared. The last-instruction pointers need care
//! ([`fp_pointer_notes`]): this host (AMD) stores FOP, FIP and FDP in an FXSAVE/XSAVE image
//! only while an unmasked x87 exception is pending (FSW.ES = 1) and zeros otherwise (FNSTENV
//! and FNSAVE store them always), and the native image is the kernel's XSAVE64 one, whose
//! FCS/FDS bytes are the upper halves of 64-bit FIP/FDP. So FOP/FIP/FDP are compared when
//! the native FSW.ES is set, and FCS/FDS never; otherwise differences in them are shown as
//! notes in a report. Guest-visible pointer values are checked where the guest sees them:
//! in the memory images of FNSTENV/FNSAVE/FXSAVE.
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
    /// Initial x87/MMX/SSE state (`None`: FNINIT, MXCSR 0x1F80, zeroed registers).
    pub fx: Option<Fx>,
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
            fx: None,
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
    pub fn fx(mut self, fx: Fx) -> Self {
        self.fx = Some(fx);
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
            fx: self.fx.as_ref().map(|f| f.0.to_vec()),
        }
    }
}

/// x87 (FWAIT too), MMX, SSE, SSE2, SSE3, SSSE3 and FXSAVE/FXRSTOR codes valid in 32-bit mode that the
/// default decoder produces (no FWAIT pseudo-forms, nothing only early CPUs had).
pub fn is_fp_code(c: Code) -> bool {
    use iced_x86::{CpuidFeature, EncodingKind};
    use CpuidFeature as F;
    let op = c.op_code();
    let f = c.cpuid_features();
    // FWAIT is an x87 instruction whose CPUID feature iced gives as the 8086's.
    c == Code::Wait
        || c != Code::INVALID
            && op.is_instruction()
            && op.mode32()
            && op.encoding() == EncodingKind::Legacy
            && !op.fwait()
            && !f.iter().any(|x| format!("{x:?}").ends_with("ONLY"))
            && f.iter().any(|x| {
                matches!(
                    x,
                    F::FPU
                        | F::FPU287
                        | F::FPU387
                        | F::MMX
                        | F::SSE
                        | F::SSE2
                        | F::SSE3
                        | F::SSSE3
                        | F::FXSR
                )
            })
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

// ---------------------------------------------------------------------------------------
// x87/MMX/SSE state: FXSAVE images, 80-bit values, how they are compared and shown.

/// Offsets in an FXSAVE image (SDM Vol. 1, table 10-2, the 32-bit layout).
pub mod fxo {
    pub const FCW: usize = 0;
    pub const FSW: usize = 2;
    /// The abridged tag byte: bit i set = physical register i valid.
    pub const FTW: usize = 4;
    pub const FOP: usize = 6;
    pub const FIP: usize = 8;
    pub const FCS: usize = 12;
    pub const FDP: usize = 16;
    pub const FDS: usize = 20;
    pub const MXCSR: usize = 24;
    pub const MXCSR_MASK: usize = 28;
    /// ST(i) (MMi when TOP = 0) in 16-byte slots, 80 bits used.
    pub const ST: usize = 32;
    /// XMM0-7, 16 bytes each.
    pub const XMM: usize = 160;
    pub const LEN: usize = 512;
}

pub fn fx_u16(fx: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([fx[off], fx[off + 1]])
}

pub fn fx_u32(fx: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([fx[off], fx[off + 1], fx[off + 2], fx[off + 3]])
}

/// ST(i) of an image.
pub fn fx_st(fx: &[u8], i: usize) -> F80 {
    F80::from_bytes(&fx[fxo::ST + 16 * i..fxo::ST + 16 * i + 10])
}

/// XMMi of an image.
pub fn fx_xmm(fx: &[u8], i: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&fx[fxo::XMM + 16 * i..fxo::XMM + 16 * i + 16]);
    u128::from_le_bytes(b)
}

/// TOP of the image's status word.
pub fn fx_top(fx: &[u8]) -> usize {
    usize::from((fx_u16(fx, fxo::FSW) >> 11) & 7)
}

/// Is ST(i) tagged valid (its physical register, TOP + i)?
pub fn fx_st_valid(fx: &[u8], i: usize) -> bool {
    fx[fxo::FTW] & (1 << ((fx_top(fx) + i) & 7)) != 0
}

/// An 80-bit extended-precision value: the significand with its explicit integer bit J
/// (bit 63) and sign/exponent (SDM Vol. 1, 4.2.2 and 8.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F80 {
    pub se: u16,
    pub mant: u64,
}

impl F80 {
    pub const fn new(se: u16, mant: u64) -> F80 {
        F80 { se, mant }
    }
    pub fn from_bytes(b: &[u8]) -> F80 {
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[..8]);
        F80 {
            mant: u64::from_le_bytes(m),
            se: u16::from_le_bytes([b[8], b[9]]),
        }
    }
    pub fn bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.mant.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }
    /// The exact 80-bit value of a double (NaN payloads and signs kept).
    pub fn from_f64(v: f64) -> F80 {
        let bits = v.to_bits();
        let sign = ((bits >> 48) as u16) & 0x8000;
        let exp = ((bits >> 52) & 0x7ff) as u16;
        let frac = bits & ((1 << 52) - 1);
        match exp {
            0 if frac == 0 => F80::new(sign, 0),
            0 => {
                // Denormal double: normalise.
                let shift = frac.leading_zeros() - 11;
                let e = 1023 - 1 + shift as u16; // 2^-1022 scaled by the shift
                F80::new(sign | (16383 - e), (frac << shift) << 11)
            }
            0x7ff => F80::new(sign | 0x7fff, (1 << 63) | (frac << 11)),
            _ => F80::new(sign | (exp + 16383 - 1023), (1 << 63) | (frac << 11)),
        }
    }
    pub fn negative(self) -> bool {
        self.se & 0x8000 != 0
    }
    pub fn exp(self) -> u16 {
        self.se & 0x7fff
    }
    /// The value's class, including the encodings the 387 and later do not support.
    pub fn class(self) -> &'static str {
        let j = self.mant >> 63 != 0;
        let frac = self.mant << 1;
        match (self.exp(), j) {
            (0, false) if frac == 0 => "zero",
            (0, false) => "denormal",
            (0, true) => "pseudo-denormal",
            (0x7fff, false) if frac == 0 => "pseudo-infinity",
            (0x7fff, false) => "pseudo-NaN",
            (0x7fff, true) if frac == 0 => "infinity",
            (0x7fff, true) if self.mant == 0xc000_0000_0000_0000 && self.negative() => {
                "QNaN indefinite"
            }
            (0x7fff, true) if self.mant >> 62 & 1 != 0 => "QNaN",
            (0x7fff, true) => "SNaN",
            (_, false) => "unnormal",
            (_, true) => "normal",
        }
    }
    /// Approximate decimal value of a finite number.
    fn decimal(self) -> String {
        if self.mant == 0 {
            return if self.negative() { "-0" } else { "+0" }.to_owned();
        }
        let e = i32::from(self.exp().max(1)) - 16383 - 63;
        let sign = if self.negative() { "-" } else { "+" };
        let m = self.mant as f64;
        let mut v = m;
        let mut k = e;
        while k > 0 {
            let s = k.min(512);
            v *= 2f64.powi(s);
            k -= s;
        }
        while k < 0 {
            let s = k.max(-512);
            v *= 2f64.powi(s);
            k -= s;
        }
        if v.is_finite() && v != 0.0 && v.abs() >= f64::MIN_POSITIVE {
            return format!("{sign}{v:e}");
        }
        // Outside the double range: via the decimal logarithm.
        let l = m.log10() + f64::from(e) * std::f64::consts::LOG10_2;
        let ex = l.floor();
        format!("{sign}{:.6}e{}", 10f64.powf(l - ex), ex as i64)
    }
    /// `seee:mmmmmmmmmmmmmmmm (class value)`.
    pub fn describe(self) -> String {
        let what = match self.class() {
            "normal" | "denormal" | "zero" => self.decimal(),
            "pseudo-denormal" | "unnormal" => format!("{} {}", self.class(), self.decimal()),
            "infinity" => (if self.negative() { "-inf" } else { "+inf" }).to_owned(),
            c => format!("{}{c}", if self.negative() { "-" } else { "+" }),
        };
        format!("{:04x}:{:016x} ({what})", self.se, self.mant)
    }
}

/// Edge values of the 80-bit format: signed zeros, infinities, NaNs, the smallest and largest
/// numbers, denormals, and the encodings the 387 and later do not support.
pub const F80_EDGES: [F80; 32] = [
    F80::new(0x0000, 0),                     // +0
    F80::new(0x8000, 0),                     // -0
    F80::new(0x3fff, 0x8000_0000_0000_0000), // 1
    F80::new(0xbfff, 0x8000_0000_0000_0000), // -1
    F80::new(0x4000, 0xc90f_daa2_2168_c235), // pi
    F80::new(0xbffe, 0xc000_0000_0000_0000), // -0.75
    F80::new(0x3fff, 0x8000_0000_0000_0401), // 1 + a bit beyond double precision
    F80::new(0x3fff, 0xffff_ffff_ffff_ffff), // just below 2
    F80::new(0x401d, 0xffff_fffe_0000_0000), // 2^31 - 1 (close to the int32 limit)
    F80::new(0xc01e, 0x8000_0000_8000_0000), // -2^31 - 0.5
    F80::new(0x403a, 0xde0b_6b3a_763f_fff0), // around 1e18 (the BCD limit)
    F80::new(0x403e, 0x8000_0000_0000_0000), // 2^63
    F80::new(0x7fff, 0x8000_0000_0000_0000), // +inf
    F80::new(0xffff, 0x8000_0000_0000_0000), // -inf
    F80::new(0xffff, 0xc000_0000_0000_0000), // QNaN indefinite
    F80::new(0x7fff, 0xc000_0000_0000_1234), // QNaN with payload
    F80::new(0x7fff, 0x8000_0000_0000_0001), // SNaN
    F80::new(0xffff, 0xa000_0000_0000_0000), // -SNaN with a high payload
    F80::new(0x7ffe, 0xffff_ffff_ffff_ffff), // largest
    F80::new(0xfffe, 0xffff_ffff_ffff_ffff), // most negative
    F80::new(0x0001, 0x8000_0000_0000_0000), // smallest normal
    F80::new(0x0000, 0x7fff_ffff_ffff_ffff), // largest denormal
    F80::new(0x8000, 0x0000_0000_0000_0001), // smallest negative denormal
    F80::new(0x0000, 0x8000_0000_0000_0000), // pseudo-denormal
    F80::new(0x8000, 0x8000_0000_0000_0123), // negative pseudo-denormal
    F80::new(0x4000, 0x4000_0000_0000_0000), // unnormal
    F80::new(0x7fff, 0x0000_0000_0000_0000), // pseudo-infinity
    F80::new(0x7fff, 0x4000_0000_0000_0001), // pseudo-NaN
    F80::new(0x4080, 0x8000_0000_0000_0000), // 2^129: overflows float
    F80::new(0x3f6a, 0xc000_0000_0000_0000), // 1.5 * 2^-149: rounds to a float denormal
    F80::new(0x43ff, 0x8000_0000_0000_0000), // 2^1024: overflows double
    F80::new(0x3bcc, 0x8000_0000_0000_0000), // 2^-1075: below the smallest double
];

/// A double's edge values (for SSE2 and the x87's m64 operands).
pub const F64_EDGES: [u64; 20] = [
    0x0000_0000_0000_0000, // +0
    0x8000_0000_0000_0000, // -0
    0x3ff0_0000_0000_0000, // 1
    0xbff8_0000_0000_0000, // -1.5
    0x4009_21fb_5444_2d18, // pi
    0x3ff0_0000_0000_0001, // 1 + ulp
    0x41df_ffff_ffe0_0000, // 2^31 - 1
    0xc1e0_0000_0010_0000, // -2^31 - 0.5
    0x43e0_0000_0000_0000, // 2^63
    0x7ff0_0000_0000_0000, // +inf
    0xfff0_0000_0000_0000, // -inf
    0x7ff8_0000_0000_0000, // QNaN
    0xfff8_0000_0000_0000, // -QNaN (SSE's default NaN)
    0x7ff0_0000_0000_0001, // SNaN
    0xfff4_0000_0000_1234, // -SNaN with payload
    0x7fef_ffff_ffff_ffff, // largest
    0x0010_0000_0000_0000, // smallest normal
    0x000f_ffff_ffff_ffff, // largest denormal
    0x8000_0000_0000_0001, // smallest negative denormal
    0x47f0_0000_0000_0000, // 2^128: overflows float
];

/// A float's edge values (for SSE and the x87's m32 operands).
pub const F32_EDGES: [u32; 20] = [
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x3f80_0000, // 1
    0xbfc0_0000, // -1.5
    0x4049_0fdb, // pi
    0x3f80_0001, // 1 + ulp
    0x4effffff,  // just below 2^31
    0xcf00_0000, // -2^31
    0x3f00_0000, // 0.5
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x7fc0_0000, // QNaN
    0xffc0_0000, // -QNaN (SSE's default NaN)
    0x7f80_0001, // SNaN
    0xffa0_1234, // -SNaN with payload
    0x7f7f_ffff, // largest
    0x0080_0000, // smallest normal
    0x007f_ffff, // largest denormal
    0x8000_0001, // smallest negative denormal
    0x4040_0000, // 3
];

pub const INT16_EDGES: [i16; 10] = [0, 1, -1, 2, 0x7fff, -0x8000, 0x1234, -300, 255, 0x7ffe];
pub const INT32_EDGES: [i32; 10] = [
    0,
    1,
    -1,
    0x7fff_ffff,
    -0x8000_0000,
    0x8000,
    -0x8001,
    0x1234_5678,
    100,
    0x7fff,
];
pub const INT64_EDGES: [i64; 8] = [
    0,
    1,
    -1,
    i64::MAX,
    i64::MIN,
    0x1_0000_0000,
    -0x8000_0001,
    999_999_999_999_999_999,
];

/// A random 80-bit value: mostly an edge value, else a random number of moderate range.
pub fn f80_value(rng: &mut Rng) -> F80 {
    if rng.chance(3, 4) {
        *rng.pick(&F80_EDGES)
    } else {
        let se = (0x3fff - 70 + rng.below(140)) as u16 | if rng.chance(1, 2) { 0x8000 } else { 0 };
        F80::new(se, rng.next_u64() | 1 << 63)
    }
}

pub fn f32_value(rng: &mut Rng) -> u32 {
    if rng.chance(2, 3) {
        *rng.pick(&F32_EDGES)
    } else {
        // Moderate exponents: arithmetic that rounds.
        (rng.u32() & 0x807f_ffff) | ((0x70 + rng.below(0x20)) << 23)
    }
}

pub fn f64_value(rng: &mut Rng) -> u64 {
    if rng.chance(2, 3) {
        *rng.pick(&F64_EDGES)
    } else {
        (rng.next_u64() & 0x800f_ffff_ffff_ffff) | (u64::from(0x3f0 + rng.below(0x20)) << 52)
    }
}

pub fn int_value(rng: &mut Rng, size: usize) -> u64 {
    match rng.below(4) {
        0 => rng.next_u64(),
        1 => match size {
            1 => *rng.pick(&[0u64, 1, 0x7f, 0x80, 0xff, 0xfe, 0x55]),
            2 => *rng.pick(&INT16_EDGES) as u16 as u64,
            4 => *rng.pick(&INT32_EDGES) as u32 as u64,
            _ => *rng.pick(&INT64_EDGES) as u64,
        },
        2 => u64::from(rng.below(0x200)),
        _ => u64::from(rng.value()) | u64::from(rng.value()) << 32,
    }
}

/// A random x87 control word: every precision and rounding control, usually all exceptions
/// masked; now and then some unmasked, the reserved bit 6 or the 287's infinity control.
pub fn fcw_value(rng: &mut Rng) -> u16 {
    let pc = rng.below(4) as u16;
    let rc = rng.below(4) as u16;
    let masks = if rng.chance(1, 6) {
        rng.below(64) as u16
    } else {
        0x3f
    };
    let extra = if rng.chance(1, 8) {
        *rng.pick(&[0x0000u16, 0x1000, 0x0040, 0x1040])
    } else {
        0x0040
    };
    masks | extra | pc << 8 | rc << 10
}

/// A random MXCSR: every rounding mode, DAZ, FTZ, usually all exceptions masked, and
/// sometimes sticky flags already set.
pub fn mxcsr_value(rng: &mut Rng) -> u32 {
    if rng.chance(1, 3) {
        return 0x1f80;
    }
    let rc = rng.below(4) << 13;
    let daz = if rng.chance(1, 3) { 0x40 } else { 0 };
    let ftz = if rng.chance(1, 3) { 0x8000 } else { 0 };
    let masks = if rng.chance(1, 6) {
        rng.below(64) << 7
    } else {
        0x1f80
    };
    let flags = if rng.chance(1, 4) { rng.below(64) } else { 0 };
    rc | daz | ftz | masks | flags
}

/// 16 bytes of edge values of one random type (floats, doubles, an 80-bit value, integers),
/// for the data that random FP code loads.
pub fn edge_slot(rng: &mut Rng) -> [u8; 16] {
    let mut b = [0u8; 16];
    match rng.below(5) {
        0 => {
            for k in 0..4 {
                b[4 * k..4 * k + 4].copy_from_slice(&f32_value(rng).to_le_bytes());
            }
        }
        1 => {
            for k in 0..2 {
                b[8 * k..8 * k + 8].copy_from_slice(&f64_value(rng).to_le_bytes());
            }
        }
        2 => {
            b[..10].copy_from_slice(&f80_value(rng).bytes());
            b[10..12].copy_from_slice(&fcw_value(rng).to_le_bytes());
            b[12..16].copy_from_slice(&mxcsr_value(rng).to_le_bytes());
        }
        3 => {
            for k in 0..2 {
                b[8 * k..8 * k + 8].copy_from_slice(&int_value(rng, 8).to_le_bytes());
            }
        }
        _ => {
            for k in 0..4 {
                b[4 * k..4 * k + 4].copy_from_slice(&(int_value(rng, 4) as u32).to_le_bytes());
            }
        }
    }
    b
}

/// A random x87/MMX/SSE state: a register stack of edge values (or an MMX state), values
/// in the empty registers, XMM registers of edge values, random FCW and MXCSR.
pub fn random_fx(rng: &mut Rng) -> Fx {
    let mut fx = Fx::fninit().fcw(fcw_value(rng)).mxcsr(mxcsr_value(rng));
    if rng.chance(1, 5) {
        for i in 0..8 {
            fx = fx.mm(i, rng.next_u64());
        }
    } else {
        let n = *rng.pick(&[0usize, 0, 1, 2, 3, 4, 6, 8]);
        let vals: Vec<F80> = (0..n).map(|_| f80_value(rng)).collect();
        fx = fx.stack(&vals);
        for i in n..8 {
            if rng.chance(1, 3) {
                fx = fx.st_empty(i, f80_value(rng));
            }
        }
    }
    for i in 0..8 {
        let lo = edge_slot(rng);
        fx = fx.xmm(i, u128::from_le_bytes(lo));
    }
    fx
}

/// An FXSAVE image to start a case from ([`Setup::fx`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fx(pub Vec<u8>);

impl Default for Fx {
    fn default() -> Self {
        Fx::fninit()
    }
}

impl Fx {
    /// The FNINIT state, MXCSR 0x1F80, all registers zero.
    pub fn fninit() -> Fx {
        let mut b = vec![0u8; fxo::LEN];
        b[fxo::FCW..fxo::FCW + 2].copy_from_slice(&0x037fu16.to_le_bytes());
        b[fxo::MXCSR..fxo::MXCSR + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        Fx(b)
    }
    pub fn fcw(mut self, v: u16) -> Fx {
        self.0[fxo::FCW..fxo::FCW + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// The whole status word (TOP included).
    pub fn fsw(mut self, v: u16) -> Fx {
        self.0[fxo::FSW..fxo::FSW + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn ftw(mut self, v: u8) -> Fx {
        self.0[fxo::FTW] = v;
        self
    }
    pub fn mxcsr(mut self, v: u32) -> Fx {
        self.0[fxo::MXCSR..fxo::MXCSR + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// A register stack of `vals` (ST(0) first), the rest empty: TOP = 8 - len.
    pub fn stack(mut self, vals: &[F80]) -> Fx {
        assert!(vals.len() <= 8);
        let top = (8 - vals.len()) & 7;
        let fsw = (fx_u16(&self.0, fxo::FSW) & !0x3800) | ((top as u16) << 11);
        self = self.fsw(fsw);
        self.0[fxo::FTW] = 0;
        for (i, v) in vals.iter().enumerate() {
            self = self.st(i, *v);
        }
        self
    }
    /// ST(i) = v, tagged valid.
    pub fn st(mut self, i: usize, v: F80) -> Fx {
        let o = fxo::ST + 16 * i;
        self.0[o..o + 10].copy_from_slice(&v.bytes());
        let phys = (fx_top(&self.0) + i) & 7;
        self.0[fxo::FTW] |= 1 << phys;
        self
    }
    /// ST(i)'s contents without tagging it valid (what an empty register holds).
    pub fn st_empty(mut self, i: usize, v: F80) -> Fx {
        let o = fxo::ST + 16 * i;
        self.0[o..o + 10].copy_from_slice(&v.bytes());
        let phys = (fx_top(&self.0) + i) & 7;
        self.0[fxo::FTW] &= !(1 << phys);
        self
    }
    /// MMi = v in the state MMX instructions leave: TOP = 0, MMi tagged valid with an
    /// exponent of all ones.
    pub fn mm(mut self, i: usize, v: u64) -> Fx {
        let fsw = fx_u16(&self.0, fxo::FSW) & !0x3800;
        self = self.fsw(fsw);
        self.st(i, F80::new(0xffff, v))
    }
    pub fn xmm(mut self, i: usize, v: u128) -> Fx {
        let o = fxo::XMM + 16 * i;
        self.0[o..o + 16].copy_from_slice(&v.to_le_bytes());
        self
    }
}

/// What [`diff_with`] compares beyond the defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Check {
    /// EFLAGS bits that may differ (only SDM-undefined ones; see [`sdm_undefined_flags`]).
    pub allowed_flags: u32,
    /// Compare the contents of empty x87 registers too.
    pub empty_st: bool,
}

fn exc_letters(bits: u32) -> String {
    // Exception bits 0-5: IE DE ZE OE UE PE.
    let s: String = "IDZOUP"
        .chars()
        .enumerate()
        .filter(|(k, _)| bits & (1 << k) != 0)
        .map(|(_, c)| c)
        .collect();
    if s.is_empty() {
        "-".to_owned()
    } else {
        s
    }
}

/// FCW decoded: precision, rounding, masked exceptions.
pub fn fcw_string(v: u16) -> String {
    let pc = ["24", "res", "53", "64"][usize::from((v >> 8) & 3)];
    let rc = ["near", "down", "up", "zero"][usize::from((v >> 10) & 3)];
    format!(
        "{v:#06x} (PC{pc} RC{rc} masked {})",
        exc_letters(u32::from(v & 0x3f))
    )
}

/// FSW decoded: TOP, condition codes, B/ES/SF, exception flags.
pub fn fsw_string(v: u16) -> String {
    let cc = [(8, "C0"), (9, "C1"), (10, "C2"), (14, "C3")]
        .iter()
        .filter(|(b, _)| v & (1 << b) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",");
    let mut s = format!(
        "{v:#06x} (TOP{} cc[{cc}] flags {}",
        (v >> 11) & 7,
        exc_letters(u32::from(v & 0x3f))
    );
    for (b, n) in [(6, "SF"), (7, "ES"), (15, "B")] {
        if v & (1 << b) != 0 {
            s.push(' ');
            s.push_str(n);
        }
    }
    s.push(')');
    s
}

/// MXCSR decoded: rounding, FTZ/DAZ, masked exceptions, flags.
pub fn mxcsr_string(v: u32) -> String {
    let rc = ["near", "down", "up", "zero"][((v >> 13) & 3) as usize];
    let mut s = format!(
        "{v:#010x} (RC{rc} masked {} flags {}",
        exc_letters(v >> 7 & 0x3f),
        exc_letters(v & 0x3f)
    );
    for (b, n) in [(6, "DAZ"), (15, "FTZ"), (17, "MM")] {
        if v & (1 << b) != 0 {
            s.push(' ');
            s.push_str(n);
        }
    }
    s.push(')');
    s
}

fn f32_string(b: u32) -> String {
    let v = f32::from_bits(b);
    if v.is_nan() {
        let q = if b & 0x0040_0000 != 0 { "q" } else { "s" };
        format!("{}{q}NaN", if b >> 31 != 0 { "-" } else { "" })
    } else {
        format!("{v:e}")
    }
}

fn f64_string(b: u64) -> String {
    let v = f64::from_bits(b);
    if v.is_nan() {
        let q = if b & 0x0008_0000_0000_0000 != 0 {
            "q"
        } else {
            "s"
        };
        format!("{}{q}NaN", if b >> 63 != 0 { "-" } else { "" })
    } else {
        format!("{v:e}")
    }
}

/// A 128-bit register as hex (high to low), as floats and as doubles.
pub fn xmm_string(v: u128) -> String {
    let ps: Vec<String> = (0..4).map(|k| f32_string((v >> (32 * k)) as u32)).collect();
    let pd: Vec<String> = (0..2).map(|k| f64_string((v >> (64 * k)) as u64)).collect();
    format!(
        "{:016x}_{:016x} ps[{}] pd[{}]",
        (v >> 64) as u64,
        v as u64,
        ps.join(", "),
        pd.join(", ")
    )
}

/// Differences in the x87/MMX/SSE state (see the module documentation for what is compared).
pub fn diff_fp(native: &[u8], xl: &[u8], check: &Check) -> Vec<String> {
    let mut d = Vec::new();
    if native.len() != fxo::LEN || xl.len() != fxo::LEN {
        d.push(format!(
            "fx      image lengths native {} translated {}",
            native.len(),
            xl.len()
        ));
        return d;
    }
    let (nw, tw) = (fx_u16(native, fxo::FCW), fx_u16(xl, fxo::FCW));
    if nw != tw {
        d.push(format!(
            "fcw     native {}  translated {}",
            fcw_string(nw),
            fcw_string(tw)
        ));
    }
    let (ns, ts) = (fx_u16(native, fxo::FSW), fx_u16(xl, fxo::FSW));
    if ns != ts {
        d.push(format!(
            "fsw     native {}  translated {}",
            fsw_string(ns),
            fsw_string(ts)
        ));
    }
    if native[fxo::FTW] != xl[fxo::FTW] {
        d.push(format!(
            "ftw     native {:08b}  translated {:08b} (bit i: physical register i valid)",
            native[fxo::FTW],
            xl[fxo::FTW]
        ));
    }
    let (nm, tm) = (fx_u32(native, fxo::MXCSR), fx_u32(xl, fxo::MXCSR));
    if nm != tm {
        d.push(format!(
            "mxcsr   native {}  translated {}",
            mxcsr_string(nm),
            mxcsr_string(tm)
        ));
    }
    for i in 0..8 {
        let compared = check.empty_st || fx_st_valid(native, i) || fx_st_valid(xl, i);
        let (a, b) = (fx_st(native, i), fx_st(xl, i));
        if compared && a != b {
            let phys = (fx_top(native) + i) & 7;
            d.push(format!(
                "st{i}/r{phys} native {}  translated {}",
                a.describe(),
                b.describe()
            ));
        }
    }
    for i in 0..8 {
        let (a, b) = (fx_xmm(native, i), fx_xmm(xl, i));
        if a != b {
            d.push(format!(
                "xmm{i}    native {}\n        transl {}",
                xmm_string(a),
                xmm_string(b)
            ));
        }
    }
    if ns & 0x80 != 0 {
        // An exception is pending natively: the host stored FOP/FIP/FDP.
        let nf = fx_u16(native, fxo::FOP) & 0x7ff;
        let tf = fx_u16(xl, fxo::FOP) & 0x7ff;
        let (nip, tip) = (fx_u32(native, fxo::FIP), fx_u32(xl, fxo::FIP));
        let (ndp, tdp) = (fx_u32(native, fxo::FDP), fx_u32(xl, fxo::FDP));
        if (nf, nip, ndp) != (tf, tip, tdp) {
            d.push(format!(
                "fpuptr  native fop={nf:#05x} fip={nip:#010x} fdp={ndp:#010x}  \
                 translated fop={tf:#05x} fip={tip:#010x} fdp={tdp:#010x} (pending x87 exception)"
            ));
        }
    }
    d
}

/// Notes on the x87 last-instruction pointers where they were not compared but differ.
pub fn fp_pointer_notes(native: &[u8], xl: &[u8]) -> Vec<String> {
    let mut notes = Vec::new();
    if native.len() != fxo::LEN || xl.len() != fxo::LEN {
        return notes;
    }
    let ptrs = |fx: &[u8]| {
        format!(
            "fop={:#05x} fip={:#010x} fcs={:#06x} fdp={:#010x} fds={:#06x}",
            fx_u16(fx, fxo::FOP) & 0x7ff,
            fx_u32(fx, fxo::FIP),
            fx_u16(fx, fxo::FCS),
            fx_u32(fx, fxo::FDP),
            fx_u16(fx, fxo::FDS)
        )
    };
    if native[..24] != xl[..24] && ptrs(native) != ptrs(xl) {
        let why = if fx_u16(native, fxo::FSW) & 0x80 != 0 {
            "FCS/FDS not compared: the native image is XSAVE64's"
        } else {
            "not compared: with FSW.ES clear this host's FXSAVE/XSAVE stores zeros"
        };
        notes.push(format!(
            "note: x87 pointers native {}  translated {} ({why})",
            ptrs(native),
            ptrs(xl)
        ));
    }
    notes
}

/// The case's initial FP state where it is not the FNINIT default, for a report.
pub fn fx_summary(fx: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if fx.len() != fxo::LEN {
        return out;
    }
    out.push(format!(
        "fcw {}  fsw {}  ftw {:08b}  mxcsr {}",
        fcw_string(fx_u16(fx, fxo::FCW)),
        fsw_string(fx_u16(fx, fxo::FSW)),
        fx[fxo::FTW],
        mxcsr_string(fx_u32(fx, fxo::MXCSR))
    ));
    for i in 0..8 {
        let v = fx_st(fx, i);
        if fx_st_valid(fx, i) || v != F80::new(0, 0) {
            let e = if fx_st_valid(fx, i) { "" } else { " (empty)" };
            out.push(format!("st{i} {}{e}", v.describe()));
        }
    }
    for i in 0..8 {
        let v = fx_xmm(fx, i);
        if v != 0 {
            out.push(format!("xmm{i} {}", xmm_string(v)));
        }
    }
    out
}

/// The initial bytes of the case's memory operands (addresses from the initial registers),
/// for a report: with them, the report is a complete reproducer.
pub fn operand_bytes(case: &SnippetCase) -> Vec<String> {
    let mut out = Vec::new();
    let Some(code) = case.regions.iter().find(|r| {
        case.entry >= r.addr && u64::from(case.entry) < u64::from(r.addr) + r.data.len() as u64
    }) else {
        return out;
    };
    let start = (case.entry - code.addr) as usize;
    let reg = |r: iced_x86::Register| -> Option<u32> {
        if r == iced_x86::Register::None {
            return Some(0);
        }
        let k = REG_NAMES
            .iter()
            .position(|n| format!("{r:?}").eq_ignore_ascii_case(n))?;
        Some(case.regs[k])
    };
    for i in decode(&code.data[start..], case.entry).iter().take(64) {
        if i.code() == Code::Int3 {
            break;
        }
        if !(0..i.op_count()).any(|k| i.op_kind(k) == iced_x86::OpKind::Memory) {
            continue;
        }
        let (Some(b), Some(x)) = (reg(i.memory_base()), reg(i.memory_index())) else {
            continue;
        };
        let ea = b
            .wrapping_add(x.wrapping_mul(i.memory_index_scale()))
            .wrapping_add(i.memory_displacement32());
        let size = i.memory_size().size().clamp(1, 16);
        let Some(r) = case.regions.iter().find(|r| {
            ea >= r.addr && u64::from(ea) + size as u64 <= u64::from(r.addr) + r.data.len() as u64
        }) else {
            continue;
        };
        let off = (ea - r.addr) as usize;
        let hex: Vec<String> = r.data[off..off + size]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let line = format!(
            "initial [{ea:#010x}] ({:?}): {}",
            i.memory_size(),
            hex.join(" ")
        );
        if !out.contains(&line) {
            out.push(line);
        }
        if out.len() == 8 {
            break;
        }
    }
    out
}

/// Differences in the state after a case, as text lines (empty when equal). Flags in
/// `allowed` may differ.
pub fn diff(
    case: &SnippetCase,
    native: &SnippetResult,
    xl: &SnippetResult,
    allowed: u32,
) -> Vec<String> {
    let check = Check {
        allowed_flags: allowed,
        ..Check::default()
    };
    diff_with(case, native, xl, &check)
}

/// Differences in the state after a case, as text lines (empty when equal).
pub fn diff_with(
    case: &SnippetCase,
    native: &SnippetResult,
    xl: &SnippetResult,
    check: &Check,
) -> Vec<String> {
    let allowed = check.allowed_flags;
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
    d.extend(diff_fp(&native.fx, &xl.fx, check));
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
    let check = Check {
        allowed_flags: allowed,
        ..Check::default()
    };
    compare_with(case, native, translated, &check)
}

/// Compare the two sides of a case as `check` says.
pub fn compare_with(
    case: &SnippetCase,
    native: &SnippetResult,
    translated: &SnippetResult,
    check: &Check,
) -> Result<(), String> {
    let d = diff_with(case, native, translated, check);
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
    if let Some(fx) = &case.fx {
        for line in fx_summary(fx) {
            let _ = writeln!(s, "  initial {line}");
        }
    }
    for line in operand_bytes(case) {
        let _ = writeln!(s, "  {line}");
    }
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
    for line in fp_pointer_notes(&native.fx, &xl.fx) {
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
        let check = Check {
            allowed_flags: allowed,
            ..Check::default()
        };
        self.check_with(case, &check)
    }

    /// Compare as `check` says.
    pub fn check_with(&self, case: &SnippetCase, check: &Check) -> Result<(), String> {
        match &self.native {
            Ok(n) => compare_with(case, n, &self.translated, check),
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
