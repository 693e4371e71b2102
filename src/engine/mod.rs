//! The run loop: find or translate the block at EIP, chain it to where we came from, enter
//! translated code, and turn what comes back into an [`Exit`] for the caller.

pub mod ctx;
pub mod translate;

use crate::backend::codebuf::CodeBuffer;
use crate::backend::x64::{self, PcMapEntry, Routines};
use crate::cache::{Block, CodeCache, ExecMemory};
use crate::cpu::seg::SegReg;
use crate::cpu::seg::Segment;
use crate::cpu::{Eflags, GuestCpu, EBP, ESP};
use crate::exit::{Exit, Fault, Vector, PFEC_PRESENT, PFEC_USER, PFEC_WRITE};
use crate::frontend;
use crate::mmu::{GuestAddr, JitMemory};
use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write;
pub use ctx::HostFault;
use ctx::{ExitKind, IbtcEntry, JitContext, IBTC_ENTRIES};

/// Counters for `--stats` and the debug key.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub blocks_translated: u64,
    pub guest_insns_translated: u64,
    pub translate_ns: u64,
    pub host_bytes: u64,
    pub exits: u64,
    pub chains: u64,
    pub ibtc_fills: u64,
    pub smc_invalidations: u64,
    pub cache_flushes: u64,
    pub host_faults: u64,
    /// Guest call chains deeper than the host frame stack: restarted on a fresh one.
    pub stack_resets: u64,
}

impl Stats {
    /// `key=value` lines, one per counter.
    pub fn kv_lines(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "blocks_translated={}", self.blocks_translated);
        let _ = writeln!(s, "guest_insns_translated={}", self.guest_insns_translated);
        let _ = writeln!(s, "translate_ns={}", self.translate_ns);
        let _ = writeln!(s, "host_code_bytes={}", self.host_bytes);
        let _ = writeln!(s, "exits={}", self.exits);
        let _ = writeln!(s, "chains={}", self.chains);
        let _ = writeln!(s, "ibtc_fills={}", self.ibtc_fills);
        let _ = writeln!(s, "smc_invalidations={}", self.smc_invalidations);
        let _ = writeln!(s, "cache_flushes={}", self.cache_flushes);
        let _ = writeln!(s, "host_faults={}", self.host_faults);
        let _ = writeln!(s, "stack_resets={}", self.stack_resets);
        s
    }
}

/// Host services the engine needs: a clock for the statistics.
pub trait Clock {
    fn now_ns(&self) -> u64;
}

/// Reads 8-byte descriptors for segment loads: selector -> descriptor, None past the limit.
pub type DescriptorFn<'a> = &'a dyn Fn(u16) -> Option<u64>;

/// The stack translated code runs on (host call frames for guest calls), with an
/// inaccessible guard range below it.
#[derive(Clone, Copy, Debug)]
pub struct JitStack {
    pub top: u64,
    pub guard_lo: u64,
    pub guard_hi: u64,
}

pub struct Engine {
    ctx: Box<JitContext>,
    stack: JitStack,
    cache: CodeCache,
    routines: Routines,
    stats: Stats,
    clock: Option<&'static dyn Clock>,
    /// Restart the instruction at EIP in a one-instruction block with its page left open.
    smc_restart: bool,
    /// Run one guest instruction only (`step`).
    single: bool,
    /// Some translation since the last flush records x87 pointers, which hold selectors.
    x87_blocks: bool,
}

/// An opaque pair of pointers handed to helpers through `JitContext::{mem, env}`.
pub(crate) struct HelperEnv<'a> {
    pub mem: &'a mut dyn JitMemory,
    pub desc: DescriptorFn<'a>,
    pub flush: bool,
}

impl Engine {
    /// `exec` is the executable memory for the code cache; `gs_base` is not needed here (the
    /// host sets it) but the window's poll page must be readable.
    pub fn new(exec: ExecMemory, stack: JitStack, clock: Option<&'static dyn Clock>) -> Engine {
        let mut buf = CodeBuffer::new();
        let routines = x64::emit_routines(&mut buf, exec.rx);
        let mut cache = CodeCache::new(exec);
        cache.install_routines(&buf.bytes);
        // SAFETY: JitContext is plain old data (integers, raw pointers, arrays); the
        // all-zero pattern is a valid value for every field and `init` fills the rest.
        let mut ctx: Box<JitContext> = unsafe { Box::new_zeroed().assume_init() };
        ctx.cpu = GuestCpu::default();
        ctx.jit_stack_top = stack.top & !15;

        let mut e = Engine {
            ctx,
            stack,
            cache,
            routines,
            stats: Stats::default(),
            clock,
            smc_restart: false,
            single: false,
            x87_blocks: false,
        };
        e.reset_ibtc();
        e
    }

    pub fn cpu(&self) -> &GuestCpu {
        &self.ctx.cpu
    }
    pub fn cpu_mut(&mut self) -> &mut GuestCpu {
        &mut self.ctx.cpu
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn routines(&self) -> &Routines {
        &self.routines
    }
    /// The context translated code runs on (for the host's fault handler).
    pub fn ctx_ptr(&mut self) -> *mut JitContext {
        &mut *self.ctx
    }
    /// Host address range of the code cache.
    pub fn code_range(&self) -> (u64, u64) {
        self.cache.rx_range()
    }

    fn reset_ibtc(&mut self) {
        let miss = self.routines.ibtc_miss;
        // Entries whose tag matches by accident still land on the miss path.
        self.ctx.ibtc = [IbtcEntry {
            guest: 0,
            _pad: 0,
            host: miss,
        }; IBTC_ENTRIES];
    }

    /// Drop every translation.
    pub fn flush(&mut self) {
        self.cache.flush();
        self.reset_ibtc();
        self.x87_blocks = false;
        self.stats.cache_flushes += 1;
    }

    /// Whether translations made under the segments `old` are wrong under the current
    /// ones. Bases, limits, types and sizes are baked into translated code; selectors only
    /// into x87 pointer records (FCS, FDS); privilege levels into none of it (checks happen
    /// when a selector is loaded). A kernel and its user mode with flat segments thus share
    /// translations.
    pub fn segs_need_flush(&self, old: &[Segment; 6]) -> bool {
        // Ignore the accessed bit and the DPL.
        const SHAPE: u16 = !(0x1 | 0x60);
        old.iter().zip(self.ctx.cpu.seg.iter()).any(|(a, b)| {
            a.base != b.base
                || a.limit != b.limit
                || (a.attr & SHAPE) != (b.attr & SHAPE)
                || (self.x87_blocks && a.selector != b.selector)
        })
    }

    /// Replace the CPU state (the system layer delivered an exception, switched rings or
    /// vCPUs): translations stay unless the new segments invalidate them.
    pub fn replace_cpu(&mut self, cpu: GuestCpu) {
        let old = self.ctx.cpu.seg;
        self.ctx.cpu = cpu;
        if self.segs_need_flush(&old) {
            self.flush();
        }
    }

    /// Segment descriptors may have changed: translations embed segment state, so drop them.
    pub fn descriptors_changed(&mut self) {
        self.flush();
    }

    /// `mov sreg` semantics at the current CPL (SDM Vol. 2, MOV; Vol. 3A 5.5-5.6).
    pub fn load_segment(&mut self, s: SegReg, sel: u16, desc: DescriptorFn) -> Result<(), Fault> {
        let seg = crate::interp::segment_for_load(&self.ctx.cpu, s, sel, desc)?;
        let old = self.ctx.cpu.seg;
        *self.ctx.cpu.seg_mut(s) = seg;
        if self.segs_need_flush(&old) {
            self.flush();
        }
        Ok(())
    }

    fn sync_in(&mut self) {
        let f = self.ctx.cpu.eflags;
        self.ctx.host_flags = u64::from((f & Eflags::ARITH.bits()) | Eflags::FIXED1.bits());
        self.ctx.df = u8::from(f & Eflags::DF.bits() != 0);
    }

    fn sync_out(&mut self) {
        sync_out(&mut self.ctx);
    }

    /// Run until an exit the caller must handle.
    /// Run the one instruction at EIP in a block of its own: `Exit::Stopped` after it, or
    /// the exit it caused. (A stop request pending at entry also gives `Exit::Stopped`,
    /// with EIP unchanged.)
    pub fn step(&mut self, mem: &mut dyn JitMemory, desc: DescriptorFn) -> Exit {
        self.single = true;
        self.run(mem, desc)
    }

    pub fn run(&mut self, mem: &mut dyn JitMemory, desc: DescriptorFn) -> Exit {
        self.ctx.mem_base = mem.host_base() as u64;
        // Reserved MXCSR bits would make the host fault loading it; the guest itself can
        // only set valid values (LDMXCSR/FXRSTOR check), so this only guards external state.
        let fx = &mut self.ctx.cpu.fx.0;
        let m = u32::from_le_bytes([fx[24], fx[25], fx[26], fx[27]]);
        fx[24..28].copy_from_slice(&(m & x64::host_mxcsr_mask()).to_le_bytes());
        // The x87 last-instruction pointers the guest sees are kept in the context while
        // translated code runs (the host unit records host addresses): FXSAVE layout
        // FOP@6, FIP@8, FCS@12, FDS@20.
        let rd16 = |o: usize| u32::from(u16::from_le_bytes([fx[o], fx[o + 1]]));
        self.ctx.fpu_ip = u32::from_le_bytes([fx[8], fx[9], fx[10], fx[11]]);
        self.ctx.fpu_cs_op = rd16(12) | (rd16(6) & 0x7ff) << 16;
        self.ctx.fpu_ds = rd16(20);
        self.ctx.fpu_dp = u32::from_le_bytes([fx[16], fx[17], fx[18], fx[19]]);
        x64::fpu_load(&self.ctx.cpu.fx);
        let exit = self.run_loop(mem, desc);
        self.single = false;
        x64::fpu_store(&mut self.ctx.cpu.fx);
        let (ip, cs_op, ds) = (self.ctx.fpu_ip, self.ctx.fpu_cs_op, self.ctx.fpu_ds);
        let dp = self.ctx.fpu_dp;
        let fx = &mut self.ctx.cpu.fx.0;
        fx[6..8].copy_from_slice(&((cs_op >> 16) as u16).to_le_bytes());
        fx[8..12].copy_from_slice(&ip.to_le_bytes());
        fx[12..14].copy_from_slice(&(cs_op as u16).to_le_bytes());
        fx[16..20].copy_from_slice(&dp.to_le_bytes());
        fx[20..22].copy_from_slice(&(ds as u16).to_le_bytes());
        exit
    }

    fn run_loop(&mut self, mem: &mut dyn JitMemory, desc: DescriptorFn) -> Exit {
        self.sync_in();
        let mut chain_from: Option<u64> = None;
        loop {
            if mem.has_dirty() {
                for page in mem.take_dirty() {
                    self.stats.smc_invalidations += 1;
                    self.cache.invalidate_page(page, &self.routines);
                }
                chain_from = None;
            }
            let eip = self.ctx.cpu.eip;
            let host = if self.smc_restart || self.single {
                self.smc_restart = false;
                chain_from = None;
                match self.translate(mem, eip, true) {
                    Ok(h) => h,
                    Err(f) => return self.fault_exit(f),
                }
            } else if let Some(h) = self.cache.lookup(eip) {
                h
            } else {
                match self.translate(mem, eip, false) {
                    Ok(h) => h,
                    Err(f) => return self.fault_exit(f),
                }
            };
            if let Some(site) = chain_from.take() {
                if self.cache.chain(site, host) {
                    self.stats.chains += 1;
                }
            }
            let segs_before = self.ctx.cpu.seg;
            let mut env = HelperEnv {
                mem: &mut *mem,
                desc,
                flush: false,
            };
            let mut env_ref: &mut HelperEnv = &mut env;
            self.ctx.env = (&mut env_ref as *mut &mut HelperEnv).cast();
            self.stats.exits += 1;
            // SAFETY: `enter` is the trampoline emitted by `emit_routines` with the SysV
            // signature (ctx, target) -> u32; `host` is the entry of a live block in the
            // code cache; the context outlives the call; helpers reach `env` only during it.
            let kind = unsafe { self.cache.enter(self.routines.enter, &mut self.ctx, host) };
            self.ctx.env = core::ptr::null_mut();
            // A segment load ran: only a change translations depend on drops them.
            let flush = env.flush && self.segs_need_flush(&segs_before);
            if flush {
                self.flush();
                chain_from = None;
            }
            match kind {
                k if self.single
                    && (k == ExitKind::Chain as u32 || k == ExitKind::Lookup as u32) =>
                {
                    self.sync_out();
                    return Exit::Stopped;
                }
                k if k == ExitKind::Chain as u32 => {
                    let site = self.ctx.chain_site;
                    if !flush && self.cache.is_chainable_site(site) {
                        chain_from = Some(site);
                    }
                }
                k if k == ExitKind::Lookup as u32 => {
                    let eip = self.ctx.cpu.eip;
                    if let Some(h) = self.cache.lookup(eip) {
                        self.ctx.ibtc[(eip & 0xffff) as usize] = IbtcEntry {
                            guest: eip,
                            _pad: 0,
                            host: h,
                        };
                        self.stats.ibtc_fills += 1;
                    }
                }
                k if k == ExitKind::Fault as u32 => {
                    let f = Fault {
                        vector: Vector::from_u8(self.ctx.fault_vector as u8).unwrap_or(Vector::UD),
                        error_code: self.ctx.fault_error,
                        cr2: self.ctx.fault_cr2,
                    };
                    return self.fault_exit(f);
                }
                k if k == ExitKind::SoftInt as u32 => {
                    self.sync_out();
                    let a = self.ctx.exit_arg;
                    return Exit::SoftInt {
                        vector: a as u8,
                        len: (a >> 8) as u8,
                    };
                }
                k if k == ExitKind::HostFault as u32 => {
                    self.stats.host_faults += 1;
                    match self.host_fault_exit(mem) {
                        Some(exit) => return exit,
                        None => continue,
                    }
                }
                _ => {
                    self.sync_out();
                    return Exit::Stopped;
                }
            }
        }
    }

    fn fault_exit(&mut self, f: Fault) -> Exit {
        self.sync_out();
        if f.vector == Vector::PF {
            self.ctx.cpu.cr2 = f.cr2;
        }
        Exit::Fault(f)
    }

    /// Map a host fault in translated code back to the guest: restore the guest state at the
    /// faulting instruction, then decide between a guest fault, self-modifying code and a
    /// stop request. Returns None to continue running.
    fn host_fault_exit(&mut self, mem: &mut dyn JitMemory) -> Option<Exit> {
        let hf = self.ctx.host_fault;
        let Some((pm, fpu)) = self.cache.pc_lookup(hf.host_pc) else {
            // Not translated code after all: the host handler should not have sent us here.
            return Some(self.fault_exit(Fault::gp(0)));
        };
        self.apply_pc_map(&pm, hf.r14, hf.r11);
        if let Some(p) = fpu {
            // x87 pointers the block had not stored yet (see `translate::x87_record`).
            if let Some((ip, cs_op)) = p.ip {
                self.ctx.fpu_ip = ip;
                self.ctx.fpu_cs_op = cs_op;
            }
            if let Some((ds, insn)) = p.dp {
                self.ctx.fpu_ds = u32::from(ds);
                if let Some(ea) = effective_address(&insn, &self.ctx.cpu) {
                    self.ctx.fpu_dp = ea as u32;
                }
            }
        }
        let base = mem.host_base() as u64;
        let vector = match hf.trapno {
            14 if hf.addr >= self.stack.guard_lo && hf.addr < self.stack.guard_hi => {
                // Too many host call frames (the probe of host_call_frame_push reached the
                // guard): restart the call on a fresh frame stack.
                self.stats.stack_resets += 1;
                return None;
            }
            14 => {
                if hf.addr >= base.wrapping_sub(8192) && hf.addr < base.wrapping_sub(4096) {
                    // The FPU gate: an FPU/SIMD instruction with CR0.TS set.
                    return Some(self.fault_exit(Fault::new(Vector::NM)));
                }
                if hf.addr >= base.wrapping_sub(4096) && hf.addr < base {
                    // The poll page: a stop request, at a block entry.
                    return Some({
                        self.sync_out();
                        Exit::Stopped
                    });
                }
                let off = hf.addr.wrapping_sub(base);
                if off >= 0xffff_f000 {
                    if let Some(f) = crosses_4g(mem, &self.ctx.cpu) {
                        return Some(self.fault_exit(f));
                    }
                }
                let guest = off as u32;
                let write = hf.err & 2 != 0;
                if write && mem.code_write_fault(guest >> 12) {
                    self.smc_restart = true;
                    return None;
                }
                let mut ec = PFEC_USER;
                if !mem.prot_of(GuestAddr(guest)).is_empty() {
                    ec |= PFEC_PRESENT;
                }
                if write {
                    ec |= PFEC_WRITE;
                }
                return Some(self.fault_exit(Fault::pf(guest, ec)));
            }
            0 => Vector::DE,
            6 => Vector::UD,
            16 => Vector::MF,
            19 => Vector::XM,
            12 => Vector::SS,
            17 => Vector::AC,
            _ => Vector::GP,
        };
        Some(self.fault_exit(Fault::new(vector)))
    }

    fn apply_pc_map(&mut self, pm: &PcMapEntry, r14: u64, r11: u64) {
        self.ctx.cpu.eip = pm.guest_eip;
        if pm.edi_in_r11 {
            self.ctx.cpu.gpr[crate::cpu::EDI] = r11 as u32;
        }
        if pm.ebp_in_r14 {
            self.ctx.cpu.gpr[EBP] = r14 as u32;
        }
        if pm.esp_adj != 0 {
            let esp = self.ctx.cpu.gpr[ESP];
            self.ctx.cpu.gpr[ESP] = esp.wrapping_add(pm.esp_adj as i32 as u32);
        }
    }

    fn translate(
        &mut self,
        mem: &mut dyn JitMemory,
        eip: u32,
        transient: bool,
    ) -> Result<u64, Fault> {
        let t0 = self.clock.map(|c| c.now_ns());
        let max = if transient {
            1
        } else {
            frontend::MAX_BLOCK_INSNS
        };
        let block = frontend::decode_block(mem.as_guest_memory(), eip, max)?;
        if block.insns.iter().any(|gi| frontend::is_x87(&gi.insn)) {
            self.x87_blocks = true;
        }
        if !transient {
            for p in block.pages.iter().flatten() {
                mem.mark_code(*p);
            }
        }
        let segs = self.ctx.cpu.seg;
        let ninsns = block.insns.len() as u64;
        let mut attempts = 0;
        let host = loop {
            let at = self.cache.next_addr();
            match translate::translate_block(&block, at, &self.routines, &segs, &mut self.cache) {
                Some(code) => {
                    let len = code.bytes.len() as u64;
                    let b = Block {
                        guest: eip,
                        pages: block.pages,
                        pc_map: code.pc_map,
                        sites: code.sites,
                        fpu_points: code.fpu_points,
                        host_off: 0,
                        host_len: 0,
                        transient,
                    };
                    match self.cache.insert(b, &code.bytes) {
                        Some(h) => {
                            self.stats.host_bytes += len;
                            break h;
                        }
                        None => self.flush(),
                    }
                }
                None => self.flush(),
            }
            attempts += 1;
            if attempts > 1 {
                // A block that does not fit in an empty cache cannot happen with the block
                // size limits; raise #UD rather than loop forever.
                return Err(Fault::ud());
            }
        };
        self.stats.blocks_translated += 1;
        self.stats.guest_insns_translated += ninsns;
        if let (Some(c), Some(t0)) = (self.clock, t0) {
            self.stats.translate_ns += c.now_ns().saturating_sub(t0);
        }
        Ok(host)
    }
}

/// An access that runs past 4 GiB exceeds the 4 GiB limit of a flat segment: #GP(0), or
/// #SS(0) for the stack (SDM Vol. 3A 5.3). The host saw a page fault at the wrap instead.
fn crosses_4g(mem: &dyn JitMemory, cpu: &GuestCpu) -> Option<Fault> {
    let block = frontend::decode_block(mem.as_guest_memory(), cpu.eip, 1).ok()?;
    let i = block.insns.first()?.insn;
    let ea = effective_address(&i, cpu)?;
    let size = u64::from(i.memory_size().size() as u32);
    if size > 0 && ea + size - 1 > 0xffff_ffff {
        let stack = i.memory_segment() == iced_x86::Register::SS;
        return Some(if stack { Fault::ss(0) } else { Fault::gp(0) });
    }
    None
}

/// The offset (effective address, without segment base) of `i`'s memory operand with the
/// guest registers in `cpu`.
fn effective_address(i: &iced_x86::Instruction, cpu: &GuestCpu) -> Option<u64> {
    let k = (0..i.op_count()).find(|&k| i.op_kind(k) == iced_x86::OpKind::Memory)?;
    let ea = i.virtual_address(k, 0, |r, _, _| {
        let full = r.full_register32();
        let n = match full {
            iced_x86::Register::EAX => 0,
            iced_x86::Register::ECX => 1,
            iced_x86::Register::EDX => 2,
            iced_x86::Register::EBX => 3,
            iced_x86::Register::ESP => 4,
            iced_x86::Register::EBP => 5,
            iced_x86::Register::ESI => 6,
            iced_x86::Register::EDI => 7,
            _ => return Some(0),
        };
        let v = u64::from(cpu.gpr[n]);
        Some(match r.size() {
            1 if r.number() >= 4 && r.number() < 8 => (v >> 8) & 0xff,
            1 => v & 0xff,
            2 => v & 0xffff,
            _ => v,
        })
    })?;
    Some(ea & 0xffff_ffff)
}

pub(crate) fn sync_out(ctx: &mut JitContext) {
    let arith = Eflags::ARITH.bits();
    let f = ctx.cpu.eflags & !(arith | Eflags::DF.bits());
    let df = if ctx.df != 0 { Eflags::DF.bits() } else { 0 };
    ctx.cpu.eflags = f | (ctx.host_flags as u32 & arith) | df;
}

pub(crate) fn sync_in(ctx: &mut JitContext) {
    let f = ctx.cpu.eflags;
    ctx.host_flags = u64::from((f & Eflags::ARITH.bits()) | Eflags::FIXED1.bits());
    ctx.df = u8::from(f & Eflags::DF.bits() != 0);
}
