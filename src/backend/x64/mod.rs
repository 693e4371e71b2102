//! x86-64 host backend: dynasm templates for IA-32 guest instructions.
//!
//! Register convention (named once, here):
//! - guest EAX ECX EDX EBX EBP ESI EDI live in the host registers of the same number;
//! - guest ESP lives in R12 (host RSP stays a real host stack, 16-byte aligned in blocks);
//! - R15 points at the `JitContext`; R13, R14 and R11 are scratch;
//! - the guest's six status flags live in host RFLAGS; guest DF lives in `JitContext::df`
//!   (host DF is always clear, as the SysV ABI wants at helper calls);
//! - guest memory is reached as `gs:[addr32]`: the host GS base is the guest window, and the
//!   0x67 address-size prefix makes every address computation wrap at 4 GiB like IA-32.
//!
//! Precise faults: every template performs its first (possibly faulting) guest memory
//! access before it changes any guest register or flag, so a host fault at that point maps
//! back to the guest state before the instruction (see `PcMapEntry`).
// `dynasm!` converts register numbers with `.into()` even when they are already `u8`.
#![allow(clippy::useless_conversion)]

pub mod copy;

use crate::backend::codebuf::CodeBuffer;
use crate::engine::ctx::{off, ExitKind, IBTC_ENTRIES};
use alloc::vec::Vec;
use dynasm::dynasm;

/// Host register number holding each guest register (IA-32 encoding order).
pub const HOST_REG: [u8; 8] = [0, 1, 2, 3, 12, 5, 6, 7];

/// The guest-EIP slot of the bottom host frame: no sign-extended 32-bit value equals it,
/// so a `ret` with no matching `call` frame always takes the IBTC path.
pub const NO_FRAME: i64 = 0x7fff_ffff_0000_0000;

/// Size of the patchable block entry (poll load + padding).
pub const ENTRY_SIZE: usize = 16;
/// Offset of the poll page relative to the GS base (the page below the window).
pub const POLL_DISP: i32 = -4096;
/// Offset of the FPU gate page (closed while the guest's CR0.TS is set).
pub const FPU_GATE_DISP: i32 = -8192;

macro_rules! asm {
    ($buf:expr; $($t:tt)*) => {
        dynasm!($buf ; .arch x64 ; $($t)*)
    };
}

/// Host addresses of the shared routines at the start of the code cache.
#[derive(Clone, Copy, Debug, Default)]
pub struct Routines {
    /// `extern "C" fn(ctx: *mut JitContext, target: u64) -> u32` (returns `ExitKind`).
    pub enter: u64,
    /// Save guest registers and flags (R14 = chain site), then leave.
    pub exit_save: u64,
    /// Leave with the general state saved and the SSE state still in registers (the host
    /// fault handler resumes here).
    pub exit_saved: u64,
    /// Leave with all state saved.
    pub exit_restore: u64,
    /// Jumped to on an IBTC miss with the target in R14D.
    pub ibtc_miss: u64,
}

/// Per guest instruction: where its host code starts and how to read guest state there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcMapEntry {
    pub host_off: u32,
    pub guest_eip: u32,
    /// Guest EBP is in R14 at the faulting access (the high-byte-register swap).
    pub ebp_in_r14: bool,
    /// Add to host R12 to get guest ESP at a fault here (POP to memory updates ESP first).
    pub esp_adj: i8,
    /// Guest EDI is in R11 at the faulting access (MASKMOVQ/MASKMOVDQU).
    pub edi_in_r11: bool,
    /// x87 pointers not yet stored at this point: 1 + index into the block's `FpuPoint`s.
    pub fpu: u16,
}

/// x87 last-instruction pointers a block defers storing (see `engine::translate`): a
/// fault at a later point of the block installs them from here.
#[derive(Clone, Copy, Debug)]
pub struct FpuPoint {
    /// FIP and FCS | FOP << 16 of the last x87 instruction, if not stored yet.
    pub ip: Option<(u32, u32)>,
    /// FDS and the instruction whose memory operand gives FDP, if not stored yet.
    pub dp: Option<(u16, iced_x86::Instruction)>,
}

/// Emit the shared routines into `buf`, which will live at host address `at`.
pub fn emit_routines(buf: &mut CodeBuffer, at: u64) -> Routines {
    let mut r = Routines::default();
    let spill = |buf: &mut CodeBuffer| {
        for (g, &h) in HOST_REG.iter().enumerate() {
            let o = off::gpr_off(g);
            asm!(buf ; mov DWORD [r15 + o], Rd(h));
        }
    };

    // exit_save: spill state, remember the chain site, fall into exit_saved.
    r.exit_save = at + buf.offset().0 as u64;
    spill(buf);
    asm!(buf
        ; pushfq
        ; pop QWORD [r15 + off::HOST_FLAGS]
        ; mov [r15 + off::CHAIN_SITE], r14
    );
    // exit_saved: the guest's SSE state is still in the host registers (also where the
    // host fault handler resumes): save it, then leave.
    r.exit_saved = at + buf.offset().0 as u64;
    save_sse(buf);
    // exit_restore: everything is saved (helpers saved the SSE state before their call).
    r.exit_restore = at + buf.offset().0 as u64;
    asm!(buf
        ; cld
        ; ldmxcsr [r15 + off::HOST_MXCSR]
        ; mov eax, [r15 + off::EXIT_KIND]
        ; mov rsp, [r15 + off::HOST_RSP]
        ; add rsp, 8
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret
    );
    buf.align(16, 0xcc);
    r.ibtc_miss = at + buf.offset().0 as u64;
    asm!(buf
        ; mov [r15 + off::EIP], r14d
        ; mov DWORD [r15 + off::EXIT_KIND], ExitKind::Lookup as i32
        ; mov r14d, 0
    );
    let to = r.exit_save;
    jmp_abs(buf, at, to);
    buf.align(16, 0xcc);

    // enter(ctx = rdi, target = rsi)
    r.enter = at + buf.offset().0 as u64;
    asm!(buf
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 8
        ; mov r15, rdi
        ; mov [r15 + off::HOST_RSP], rsp
        ; mov rsp, [r15 + off::JIT_STACK_TOP]
        ; mov r13, QWORD NO_FRAME
        ; push r13
        ; push r13
        ; mov r14, rsi
        // Translated code runs with interrupts enabled: in ring 0 (inside Xen) POPF loads
        // IF, so set it (interrupts are how Xen closes the poll page to preempt a vCPU);
        // in ring 3 POPF leaves IF alone.
        ; or DWORD [r15 + off::HOST_FLAGS], 0x200
        ; push QWORD [r15 + off::HOST_FLAGS]
        ; popfq
        ; stmxcsr [r15 + off::HOST_MXCSR]
    );
    load_sse(buf);
    for (g, &h) in HOST_REG.iter().enumerate() {
        let o = off::gpr_off(g);
        asm!(buf ; mov Rd(h), DWORD [r15 + o]);
    }
    asm!(buf ; jmp r14);
    buf.align(16, 0xcc);
    r
}

/// Store the guest's XMM0-7 and MXCSR into the context (host code may use them next).
fn save_sse(buf: &mut CodeBuffer) {
    for i in 0..8u8 {
        let o = off::xmm(usize::from(i));
        asm!(buf ; movdqa [r15 + o], Rx(i));
    }
    asm!(buf ; stmxcsr [r15 + off::MXCSR]);
}

/// Load the guest's XMM0-7 and MXCSR from the context.
fn load_sse(buf: &mut CodeBuffer) {
    for i in 0..8u8 {
        let o = off::xmm(usize::from(i));
        asm!(buf ; movdqa Rx(i), [r15 + o]);
    }
    asm!(buf ; ldmxcsr [r15 + off::MXCSR]);
}

/// `jmp rel32` to an absolute host address, from code that will live at `at`.
pub fn jmp_abs(buf: &mut CodeBuffer, at: u64, target: u64) {
    let next = at + buf.offset().0 as u64 + 5;
    let rel = target.wrapping_sub(next) as i64;
    buf.push(0xe9);
    buf.push_i32(rel as i32);
}

/// `jcc rel32` (cc = condition nibble) to an absolute host address.
pub fn jcc_abs(buf: &mut CodeBuffer, at: u64, cc: u8, target: u64) {
    let next = at + buf.offset().0 as u64 + 6;
    let rel = target.wrapping_sub(next) as i64;
    buf.push(0x0f);
    buf.push(0x80 | cc);
    buf.push_i32(rel as i32);
}

/// The bytes written over a block's entry when it is invalidated, so that anything still
/// chained to it goes back to the run loop with EIP = the block's start.
pub fn invalidated_entry(routines: &Routines, entry_at: u64, guest_eip: u32) -> [u8; ENTRY_SIZE] {
    let mut b = CodeBuffer::new();
    asm!(b ; mov r14d, guest_eip as i32);
    jmp_abs(&mut b, entry_at, routines.ibtc_miss);
    let mut out = [0xccu8; ENTRY_SIZE];
    out[..b.bytes.len()].copy_from_slice(&b.bytes);
    out
}

/// A direct exit of a block: the stub that leaves to the run loop, and the jump (or call)
/// in the block body that goes to the stub. Chaining points both at the target block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainSite {
    pub stub: u32,
    pub target: u32,
    /// Offset of the rel32 field of the jump/call that reaches the stub.
    pub jump_field: u32,
}

/// The bytes that chain an exit stub directly to its target block.
pub fn chain_jump(site: u64, target: u64) -> [u8; 5] {
    let rel = target.wrapping_sub(site + 5) as i64 as i32;
    let r = rel.to_le_bytes();
    [0xe9, r[0], r[1], r[2], r[3]]
}

/// Emits one block. `at` is the host address the block's code will be copied to.
pub struct BlockEmitter<'a> {
    pub buf: CodeBuffer,
    pub at: u64,
    pub routines: &'a Routines,
    pub pc_map: Vec<PcMapEntry>,
    /// Exit stubs to emit after the body: (label, guest target, offset of the rel32 field
    /// of the jump or call that goes to the stub).
    stubs: Vec<(crate::backend::codebuf::DynamicLabel, u32, u32)>,
    /// The block already passed the FPU gate (CR0.TS cannot change inside a block: it
    /// changes only while translated code is stopped, and it resumes at a block start).
    pub fpu_gated: bool,
    /// The FDS value this block last stored, if any.
    pub fpu_ds: Option<u16>,
    /// Deferred x87 pointers (1 + index into `fpu_points`; 0: none).
    pub fpu_pending: u16,
    pub fpu_points: Vec<FpuPoint>,
    /// Reused across the block's instructions (both allocate when created).
    pub encoder: Option<iced_x86::Encoder>,
    pub info: Option<iced_x86::InstructionInfoFactory>,
}

impl<'a> BlockEmitter<'a> {
    pub fn new(at: u64, routines: &'a Routines) -> Self {
        Self {
            buf: CodeBuffer::new(),
            at,
            routines,
            pc_map: Vec::new(),
            stubs: Vec::new(),
            encoder: None,
            info: None,
            fpu_gated: false,
            fpu_ds: None,
            fpu_pending: 0,
            fpu_points: Vec::new(),
        }
    }

    /// Block entry: a load from the poll page (it faults when a stop is requested), padded
    /// to `ENTRY_SIZE` so that invalidation can overwrite it.
    pub fn entry(&mut self, guest_eip: u32) {
        self.mark(guest_eip);
        let start = self.buf.offset().0;
        // movzx r14d, byte gs:[POLL_DISP] (absolute disp32 via SIB; movzx: no dependency on
        // the old R14)
        self.buf.extend(&[0x65, 0x44, 0x0f, 0xb6, 0x34, 0x25]);
        self.buf.push_i32(POLL_DISP);
        while self.buf.offset().0 - start < ENTRY_SIZE {
            let left = ENTRY_SIZE - (self.buf.offset().0 - start);
            let nop: &[u8] = match left {
                1 => &[0x90],
                2 => &[0x66, 0x90],
                3 => &[0x0f, 0x1f, 0x00],
                4 => &[0x0f, 0x1f, 0x40, 0x00],
                5 => &[0x0f, 0x1f, 0x44, 0x00, 0x00],
                6 => &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
                _ => &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
            };
            self.buf.extend(nop);
        }
    }

    /// Load from the FPU gate page: faults (-> #NM) while the guest's CR0.TS is set. Emitted
    /// before x87/MMX/SSE instructions, ahead of any change to guest state.
    pub fn fpu_gate(&mut self) {
        // movzx r14d, byte gs:[FPU_GATE_DISP]
        self.buf.extend(&[0x65, 0x44, 0x0f, 0xb6, 0x34, 0x25]);
        self.buf.push_i32(FPU_GATE_DISP);
    }

    /// Start of a guest instruction's host code.
    pub fn mark(&mut self, guest_eip: u32) {
        self.pc_map.push(PcMapEntry {
            host_off: self.buf.offset().0 as u32,
            guest_eip,
            ebp_in_r14: false,
            esp_adj: 0,
            edi_in_r11: false,
            fpu: self.fpu_pending,
        });
    }

    /// The access about to be emitted runs with guest EBP in R14.
    pub fn mark_ebp_in_r14(&mut self, guest_eip: u32) {
        self.pc_map.push(PcMapEntry {
            host_off: self.buf.offset().0 as u32,
            guest_eip,
            ebp_in_r14: true,
            esp_adj: 0,
            edi_in_r11: false,
            fpu: self.fpu_pending,
        });
    }

    /// A fault from here on sees guest ESP as host R12 + `adj`.
    pub fn mark_esp_adj(&mut self, guest_eip: u32, adj: i8) {
        self.pc_map.push(PcMapEntry {
            host_off: self.buf.offset().0 as u32,
            guest_eip,
            ebp_in_r14: false,
            esp_adj: adj,
            edi_in_r11: false,
            fpu: self.fpu_pending,
        });
    }

    /// The access about to be emitted runs with guest EDI in R11.
    pub fn mark_edi_in_r11(&mut self, guest_eip: u32) {
        self.pc_map.push(PcMapEntry {
            host_off: self.buf.offset().0 as u32,
            guest_eip,
            ebp_in_r14: false,
            esp_adj: 0,
            edi_in_r11: true,
            fpu: self.fpu_pending,
        });
    }

    /// Jump to a chainable exit stub for guest `target` (emitted after the body).
    pub fn jmp_exit(&mut self, target: u32) {
        let l = self.buf.new_dynamic_label();
        self.buf.push(0xe9);
        self.buf.push_i32(0);
        self.buf.dynamic_reloc(l, 0, 4, 0, 2);
        let field = self.buf.offset().0 as u32 - 4;
        self.stubs.push((l, target, field));
    }

    /// Conditional jump (host condition nibble `cc`) to a chainable exit stub.
    pub fn jcc_exit(&mut self, cc: u8, target: u32) {
        let l = self.buf.new_dynamic_label();
        // jcc rel32 to a dynamic label
        self.buf.push(0x0f);
        self.buf.push(0x80 | cc);
        self.buf.push_i32(0);
        self.buf.dynamic_reloc(l, 0, 4, 0, 2);
        let field = self.buf.offset().0 as u32 - 4;
        self.stubs.push((l, target, field));
    }

    /// Leave through the shared exit with the state as it is and an exit kind already set.
    pub fn exit_save(&mut self) {
        let t = self.routines.exit_save;
        let at = self.at;
        jmp_abs(&mut self.buf, at, t);
    }

    /// Raise an exception at `eip` (faults) or after it (traps: pass the next EIP).
    pub fn fault(&mut self, eip: u32, vector: u8, error: u32) {
        asm!(self.buf
            ; mov DWORD [r15 + off::EIP], eip as i32
            ; mov DWORD [r15 + off::FAULT_VECTOR], i32::from(vector)
            ; mov DWORD [r15 + off::FAULT_ERROR], error as i32
            ; mov DWORD [r15 + off::EXIT_KIND], ExitKind::Fault as i32
        );
        self.exit_save();
    }

    /// `int n`: leave with EIP past the instruction.
    pub fn soft_int(&mut self, next: u32, vector: u8, len: u8) {
        let arg = i32::from(vector) | (i32::from(len) << 8);
        asm!(self.buf
            ; mov DWORD [r15 + off::EIP], next as i32
            ; mov DWORD [r15 + off::EXIT_ARG], arg
            ; mov DWORD [r15 + off::EXIT_KIND], ExitKind::SoftInt as i32
        );
        self.exit_save();
    }

    /// Call a Rust helper `extern "C" fn(ctx, arg) -> u32` with the guest state spilled.
    /// A non-zero return leaves the block (the helper set the exit kind); zero continues.
    pub fn helper(&mut self, eip: u32, func: u64, arg: u64) {
        for (g, &h) in HOST_REG.iter().enumerate() {
            let o = off::gpr_off(g);
            asm!(self.buf ; mov DWORD [r15 + o], Rd(h));
        }
        asm!(self.buf
            ; pushfq
            ; pop QWORD [r15 + off::HOST_FLAGS]
            ; mov DWORD [r15 + off::EIP], eip as i32
        );
        save_sse(&mut self.buf);
        asm!(self.buf
            ; mov rdi, r15
            ; mov rsi, QWORD arg as i64
            ; mov rax, QWORD func as i64
            // Helpers run on the run loop's stack, not among the guest call frames.
            ; mov r13, rsp
            ; mov rsp, [r15 + off::HOST_RSP]
            ; call rax
            ; mov rsp, r13
            ; test eax, eax
        );
        let t = self.routines.exit_restore;
        let at = self.at;
        jcc_abs(&mut self.buf, at, 0x5, t);
        load_sse(&mut self.buf);
        asm!(self.buf
            ; push QWORD [r15 + off::HOST_FLAGS]
            ; popfq
        );
        for (g, &h) in HOST_REG.iter().enumerate() {
            let o = off::gpr_off(g);
            asm!(self.buf ; mov Rd(h), DWORD [r15 + o]);
        }
    }

    /// Indirect branch to the guest address in R14D through the IBTC; flags are preserved
    /// (`jrcxz` instead of `cmp`), so guest flags stay live across `ret` and `jmp r/m`.
    pub fn indirect(&mut self) {
        // The index is the low 16 bits of the target; entries are 16 bytes.
        const _: () = assert!(IBTC_ENTRIES == 1 << 16);
        asm!(self.buf
            ; movzx r13d, r14w
            ; lea r13, [r13 * 8]
            ; mov r11d, [r15 + r13 * 2 + off::IBTC]
            ; not r11d
            ; lea r11d, [r11 + r14 + 1]
            ; xchg r11, rcx
            ; jrcxz >hit
            ; xchg r11, rcx
        );
        let t = self.routines.ibtc_miss;
        let at = self.at;
        jmp_abs(&mut self.buf, at, t);
        asm!(self.buf
            ; hit:
            ; xchg r11, rcx
            ; jmp QWORD [r15 + r13 * 2 + off::IBTC + 8]
        );
    }

    /// Guest `call` to `target` returning to `ret_eip` (the return address is already on
    /// the guest stack): a host `call` with the guest return EIP beside the host return
    /// address, so the matching `ret` can return with a host `ret`. Runaway call chains end
    /// at the guard page under the frame stack: the fault restarts the call on a fresh
    /// stack. The frames themselves must never be what hits the guard (inside Xen a fault
    /// while pushing is a double fault), so a load 2 KiB below RSP, well inside the 4 KiB
    /// guard, reaches it first; a load leaves the guest's flags (in RFLAGS) alone.
    pub fn host_call_frame_push(&mut self, ret_eip: u32) {
        asm!(self.buf
            ; mov r11, QWORD [rsp - 2048]
            ; push ret_eip as i32
        );
    }

    /// Host `call` into a chainable exit stub for `target`, then continue at `ret_eip`
    /// when it returns.
    pub fn call_exit(&mut self, target: u32, ret_eip: u32) {
        let l = self.buf.new_dynamic_label();
        self.buf.push(0xe8);
        self.buf.push_i32(0);
        self.buf.dynamic_reloc(l, 0, 4, 0, 2);
        let field = self.buf.offset().0 as u32 - 4;
        self.stubs.push((l, target, field));
        self.jmp_exit(ret_eip);
    }

    /// Host `call` into the IBTC lookup of R14D, then continue at `ret_eip`.
    pub fn call_indirect(&mut self, ret_eip: u32) {
        let l = self.buf.new_dynamic_label();
        let after = self.buf.new_dynamic_label();
        asm!(self.buf ; call =>l);
        self.jmp_exit(ret_eip);
        asm!(self.buf ; =>l);
        self.indirect();
        asm!(self.buf ; =>after);
    }

    /// Guest `ret` with the target in R14D (ESP already adjusted): return through the host
    /// frame if it was pushed for this very return address, else look the target up.
    pub fn ret(&mut self) {
        asm!(self.buf
            ; movsxd r13, r14d
            ; mov r11, [rsp + 8]
            ; not r11
            ; lea r11, [r11 + r13 + 1]
            ; xchg r11, rcx
            ; jrcxz >matched
            ; xchg r11, rcx
        );
        self.indirect();
        asm!(self.buf
            ; matched:
            ; xchg r11, rcx
            ; ret 8
        );
    }

    /// Emit the exit stubs and resolve labels. Returns the bytes, the PC map and the chain
    /// sites, or None if the code could not be laid out.
    pub fn finish(mut self) -> Option<(Vec<u8>, Vec<PcMapEntry>, Vec<ChainSite>)> {
        let mut sites = Vec::new();
        let stubs = core::mem::take(&mut self.stubs);
        for (l, target, field) in stubs {
            self.buf.dynamic_label(l);
            let site = self.buf.offset().0 as u32;
            // Patched to `jmp block` when chained: the first 5 bytes must be one instruction
            // boundary to the next, hence the leading 5-byte padding-free `mov`.
            let site_addr = self.at + u64::from(site);
            asm!(self.buf
                ; mov r14d, target as i32
                ; mov DWORD [r15 + off::EIP], r14d
                ; mov DWORD [r15 + off::EXIT_KIND], ExitKind::Chain as i32
                ; mov r14, QWORD site_addr as i64
            );
            self.exit_save();
            sites.push(ChainSite {
                stub: site,
                target,
                jump_field: field,
            });
        }
        if !self.buf.finish() {
            return None;
        }
        Some((self.buf.bytes, self.pc_map, sites))
    }
}

/// Load the guest's x87 state into the host FPU for a run of translated code. The guest
/// x87 stack stays in the host unit while translated code and the run loop execute (Rust
/// code on x86-64 does its floating point in SSE registers and never touches x87); the
/// host's MXCSR is kept, since guest SSE is not translated yet.
/// A 512-byte FXSAVE/FXRSTOR area on the stack, 16-byte aligned by its offset in a larger
/// buffer rather than by the frame: inside Xen, which keeps its stack only 8-byte aligned
/// (`-mpreferred-stack-boundary=3`), an `align(16)` local can be misaligned, and FXSAVE to
/// it raises #GP.
struct FxArea([u8; 512 + 15]);

impl FxArea {
    fn new() -> FxArea {
        FxArea([0; 512 + 15])
    }

    fn area(&mut self) -> &mut [u8; 512] {
        let off = self.0.as_ptr().align_offset(16);
        (&mut self.0[off..off + 512]).try_into().expect("512 bytes")
    }
}

pub fn fpu_load(fx: &crate::cpu::FxState) {
    let mut mxcsr = 0u32;
    // Only the x87 part is wanted; MXCSR is the host's until translated code runs.
    let mut buf = FxArea::new();
    let img = buf.area();
    img.copy_from_slice(&fx.0);
    img[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    // SAFETY: `img` is a 16-byte aligned 512-byte FXSAVE area (FxArea); the SSE registers
    // FXRSTOR overwrites are declared clobbered and MXCSR is put back.
    unsafe {
        core::arch::asm!(
            "stmxcsr [{m}]",
            "fxrstor [{fx}]",
            "ldmxcsr [{m}]",
            fx = in(reg) img.as_ptr(),
            m = in(reg) &mut mxcsr,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack),
        );
    }
}

/// Save the guest's x87 state after a run and give the host a clean x87 unit. MXCSR and
/// XMM0-7 in `fx` are already the guest's (the exit routines keep them there).
pub fn fpu_store(fx: &mut crate::cpu::FxState) {
    let mut buf = FxArea::new();
    let tmp = buf.area();
    // SAFETY: `tmp` is a writable 16-byte aligned 512-byte FXSAVE area (FxArea); FNINIT
    // only resets the x87 unit, which no host code relies on.
    unsafe {
        core::arch::asm!(
            "fxsave [{fx}]",
            "fninit",
            fx = in(reg) tmp.as_mut_ptr(),
            options(nostack),
        );
    }
    // x87 control/status/pointers (bytes 0..24) and the x87/MMX registers (32..160).
    fx.0[..24].copy_from_slice(&tmp[..24]);
    fx.0[32..160].copy_from_slice(&tmp[32..160]);
}

/// The host's MXCSR_MASK (FXSAVE bytes 28..32; 0xFFBF when it reports 0, SDM Vol. 1
/// 11.6.6): which MXCSR bits may be set without a #GP.
pub fn host_mxcsr_mask() -> u32 {
    static MASK: spin::Once<u32> = spin::Once::new();
    *MASK.call_once(|| {
        let mut buf = FxArea::new();
        let tmp = buf.area();
        // SAFETY: `tmp` is a writable 16-byte aligned 512-byte FXSAVE area (FxArea).
        unsafe {
            core::arch::asm!("fxsave [{fx}]", fx = in(reg) tmp.as_mut_ptr(), options(nostack));
        }
        match u32::from_le_bytes([tmp[28], tmp[29], tmp[30], tmp[31]]) {
            0 => 0xffbf,
            m => m,
        }
    })
}

/// Guest FXSAVE (SDM Vol. 2, FXSAVE, 32-bit format): the x87 part from the host unit (which
/// holds the guest's stack), MXCSR and XMM0-7 from the context (saved there before helper
/// calls), the guest's instruction pointers instead of the host's, and nothing written past
/// byte 288: a 32-bit FXSAVE leaves the XMM8-15 slots alone, and the host's would leak host
/// registers into guest memory.
pub fn guest_fxsave_image(fx: &crate::cpu::FxState, ptrs: [u32; 4]) -> [u8; 288] {
    let [ip, cs_op, dp, ds] = ptrs;
    let mut buf = FxArea::new();
    let tmp = buf.area();
    // SAFETY: `tmp` is a writable 16-byte aligned 512-byte FXSAVE area (FxArea).
    unsafe {
        core::arch::asm!("fxsave [{fx}]", fx = in(reg) tmp.as_mut_ptr(), options(nostack));
    }
    let mut img = [0u8; 288];
    img[..160].copy_from_slice(&tmp[..160]);
    img[24..28].copy_from_slice(&fx.0[24..28]);
    img[160..288].copy_from_slice(&fx.0[160..288]);
    // The host may not store the pointers (AMD: only with an exception pending); then
    // neither does the guest's image.
    let stored = tmp[6..24].iter().any(|&b| b != 0);
    let (fop, fcs) = if stored {
        ((cs_op >> 16) as u16, cs_op as u16)
    } else {
        (0, 0)
    };
    let (fip, fds) = if stored { (ip, ds as u16) } else { (0, 0) };
    img[6..8].copy_from_slice(&fop.to_le_bytes());
    img[8..12].copy_from_slice(&fip.to_le_bytes());
    img[12..14].copy_from_slice(&fcs.to_le_bytes());
    img[16..20].copy_from_slice(&(if stored { dp } else { 0 }).to_le_bytes());
    img[20..22].copy_from_slice(&fds.to_le_bytes());
    img
}
