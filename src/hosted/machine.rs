//! One guest vCPU in this process: a window, a translation engine and the CPU state.

use super::{Result, Window};
use crate::cpu::seg::{SegReg, Segment};
use crate::cpu::GuestCpu;
use crate::engine::{Engine, Stats};
use crate::exit::{Exit, Fault};
use alloc::vec::Vec;

/// Selectors a 32-bit process sees on an x86-64 Linux kernel (arch/x86/include/asm/segment.h).
pub const LINUX_USER32_CS: u16 = 0x23;
pub const LINUX_USER_DS: u16 = 0x2b;
/// GDT_ENTRY_TLS_MIN for a compat task on x86-64: set_thread_area's entries 12..14.
pub const LINUX_TLS_MIN: u32 = 12;
pub const LINUX_TLS_ENTRIES: u32 = 3;

/// Size of the code cache of one vCPU.
const CODE_CACHE_SIZE: usize = 64 << 20;
/// Host call frames of translated guest calls: 16 bytes per pending guest call.
const JIT_STACK_SIZE: usize = 1 << 20;

pub struct Machine {
    pub mem: Window,
    engine: Engine,
    exec: crate::cache::ExecMemory,
    stack: crate::engine::JitStack,
    /// Descriptor table used by segment loads (the GDT the guest cannot read).
    pub gdt: Vec<u64>,
    /// The LDT, for selectors with TI set (empty: none).
    pub ldt: Vec<u64>,
    /// The other ring's window when ring 3 has its own (a PV guest's user mode sees only
    /// the pages its page tables mark user-accessible), with its own engine (so a block
    /// translated from a supervisor page never runs in user mode); `user_active` says which
    /// pair is `mem`/`engine`.
    alt: Option<AltRing>,
    user_active: bool,
}

struct AltRing {
    mem: Window,
    engine: Engine,
    exec: crate::cache::ExecMemory,
    stack: crate::engine::JitStack,
}

impl Machine {
    pub fn new() -> Result<Machine> {
        Self::with_window(Window::new()?)
    }

    /// A machine running in `mem` (e.g. a sibling window of another vCPU of the guest).
    pub fn with_window(mem: Window) -> Result<Machine> {
        let exec = super::execmem::alloc(CODE_CACHE_SIZE)?;
        let stack = super::execmem::alloc_stack(JIT_STACK_SIZE)?;
        let engine = Engine::new(exec, stack, Some(&super::execmem::CLOCK));
        // The poll page must be readable for translated code's block-entry loads.
        // SAFETY: the page lies inside the window's reservation (GUARD_BELOW).
        let r = unsafe { libc::mprotect(mem.poll_page().cast(), 4096, libc::PROT_READ) };
        // SAFETY: likewise for the FPU gate page (open: CR0.TS clear).
        let r = r | unsafe { libc::mprotect(mem.fpu_gate_page().cast(), 4096, libc::PROT_READ) };
        if r != 0 {
            return Err(super::Error::Os(
                "mprotect",
                std::io::Error::last_os_error(),
            ));
        }
        let mut m = Machine {
            mem,
            engine,
            exec,
            stack,
            gdt: alloc::vec![0; 32],
            ldt: Vec::new(),
            alt: None,
            user_active: false,
        };
        m.set_linux_user_segments();
        Ok(m)
    }

    pub fn cpu(&self) -> &GuestCpu {
        self.engine.cpu()
    }

    /// Give ring 3 its own window `user` (it must map only what user mode may touch):
    /// `run` switches between the two windows as the guest's CPL changes.
    pub fn set_user_window(&mut self, user: Window) -> Result<()> {
        // SAFETY: both pages lie inside that window's reservation (GUARD_BELOW); the poll
        // page must be readable for block entries, the gate page open while TS is clear.
        let r = unsafe {
            libc::mprotect(user.poll_page().cast(), 4096, libc::PROT_READ)
                | libc::mprotect(user.fpu_gate_page().cast(), 4096, libc::PROT_READ)
        };
        if r != 0 {
            return Err(super::Error::Os(
                "mprotect",
                std::io::Error::last_os_error(),
            ));
        }
        let exec = super::execmem::alloc(CODE_CACHE_SIZE)?;
        let stack = super::execmem::alloc_stack(JIT_STACK_SIZE)?;
        let engine = Engine::new(exec, stack, Some(&super::execmem::CLOCK));
        self.alt = Some(AltRing {
            mem: user,
            engine,
            exec,
            stack,
        });
        Ok(())
    }

    /// Replace the CPU state; translations survive unless the segments changed in a way
    /// they depend on (see `Engine::replace_cpu`).
    pub fn set_cpu(&mut self, cpu: GuestCpu) {
        self.engine.replace_cpu(cpu);
    }

    /// The supervisor view of guest memory (for bounce frames and the system layer), whichever
    /// window runs now.
    pub fn kernel_mem(&mut self) -> &mut Window {
        match (&mut self.alt, self.user_active) {
            (Some(k), true) => &mut k.mem,
            _ => &mut self.mem,
        }
    }

    /// Switch to the other ring's window and engine when the CPL crossed between ring 3
    /// and the kernel rings; the CPU state moves along.
    fn sync_ring_window(&mut self) {
        let want_user = self.engine.cpu().cpl == 3;
        if let Some(alt) = &mut self.alt {
            if want_user != self.user_active {
                let cpu = self.engine.cpu().clone();
                core::mem::swap(&mut self.mem, &mut alt.mem);
                core::mem::swap(&mut self.engine, &mut alt.engine);
                self.engine.replace_cpu(cpu);
                self.user_active = want_user;
            }
        }
    }

    pub fn cpu_mut(&mut self) -> &mut GuestCpu {
        self.engine.cpu_mut()
    }

    /// Flat user segments as a Linux i386 process starts with (CPL 3).
    pub fn set_linux_user_segments(&mut self) {
        // __USER32_CS: flat DPL3 code; __USER_DS: flat DPL3 data.
        self.gdt[(LINUX_USER32_CS >> 3) as usize] = 0x00cf_fb00_0000_ffff;
        self.gdt[(LINUX_USER_DS >> 3) as usize] = 0x00cf_f300_0000_ffff;
        // The rest of an x86-64 kernel's GDT (arch/x86/include/asm/segment.h), so that
        // selector loads fail or succeed as they do natively: kernel code/data (DPL 0), the
        // 64-bit user code segment, the TSS (a system descriptor).
        self.gdt[1] = 0x00cf_9b00_0000_ffff;
        self.gdt[2] = 0x00af_9b00_0000_ffff;
        self.gdt[3] = 0x00cf_9300_0000_ffff;
        self.gdt[6] = 0x00af_fb00_0000_ffff;
        self.gdt[8] = 0x0000_8b00_0000_0067;
        // GDT_ENTRY_CPUNODE (0x7b): read-only expand-down DPL3 data with the CPU number in
        // its limit (arch/x86/kernel/cpu/common.c, setup_getcpu); CPU 0 here.
        self.gdt[15] = 0x0040_f500_0000_0000;
        let cpu = self.engine.cpu_mut();
        cpu.cpl = 3;
        *cpu.seg_mut(SegReg::Cs) = Segment::flat(LINUX_USER32_CS, true, 3);
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
            *cpu.seg_mut(s) = Segment::flat(LINUX_USER_DS, false, 3);
        }
        *cpu.seg_mut(SegReg::Fs) = Segment::default();
        *cpu.seg_mut(SegReg::Gs) = Segment::default();
    }

    /// Install a raw 8-byte descriptor in the hidden GDT (set_thread_area).
    pub fn set_gdt_entry(&mut self, index: u32, desc: u64) {
        let i = index as usize;
        if i >= self.gdt.len() {
            self.gdt.resize(i + 1, 0);
        }
        self.gdt[i] = desc;
        self.descriptors_changed();
    }

    /// Load a segment register as `mov sreg, r16` would at the current CPL.
    pub fn load_segment(&mut self, s: SegReg, selector: u16) -> core::result::Result<(), Fault> {
        let gdt = &self.gdt;
        self.engine
            .load_segment(s, selector, &|sel| gdt.get(usize::from(sel >> 3)).copied())
    }

    /// Run translated guest code until something needs the caller.
    pub fn run(&mut self) -> Exit {
        let exit = self.run_inner(false);
        if exit == Exit::Stopped {
            // Re-open the poll page for the next run.
            self.stop_handle().clear();
        }
        exit
    }

    /// Run exactly the instruction at EIP (see `Engine::step`).
    pub fn step(&mut self) -> Exit {
        let exit = self.run_inner(true);
        if exit == Exit::Stopped {
            self.stop_handle().clear();
        }
        exit
    }

    fn run_inner(&mut self, single: bool) -> Exit {
        self.sync_ring_window();
        if let Err(e) = super::execmem::set_gs_base(self.mem.base() as u64) {
            panic!("cannot point GS at the guest window: {e}");
        }
        let gdt = &self.gdt;
        let ldt = &self.ldt;
        let ctx = self.engine.ctx_ptr();
        let range = self.engine.code_range();
        let exit_saved = self.engine.routines().exit_saved;
        let engine = &mut self.engine;
        let mem = &mut self.mem;
        super::signals::with_current(ctx, range, exit_saved, || {
            let desc = |sel: u16| {
                let table = if sel & 4 != 0 { ldt } else { gdt };
                table
                    .get(usize::from(sel >> 3))
                    .copied()
                    .filter(|&d| d != 0)
            };
            if single {
                engine.step(mem, &desc)
            } else {
                engine.run(mem, &desc)
            }
        })
    }

    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }

    /// A handle that makes `run` return `Exit::Stopped` at the next block entry; it may be
    /// used from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            poll_page: self.mem.poll_page() as usize,
            poll_page2: self.alt.as_ref().map_or(0, |a| a.mem.poll_page() as usize),
        }
    }

    /// `run`, but return `Exit::Stopped` once `limit` has passed (guest code that never
    /// leaves translated code, such as `jmp $`, ends too).
    pub fn run_for(&mut self, limit: std::time::Duration) -> Exit {
        let stop = self.stop_handle();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(move || {
                if rx.recv_timeout(limit).is_err() {
                    stop.request_stop();
                }
            });
            let exit = self.run();
            let _ = tx.send(());
            exit
        })
    }

    /// Virtual CR0.TS: while set, the next x87/MMX/SSE instruction raises #NM (and so does
    /// FWAIT when CR0.MP is set), as on a CPU doing lazy FPU switching.
    pub fn set_fpu_ts(&mut self, ts: bool) {
        const TS: u32 = 1 << 3;
        let cpu = self.cpu_mut();
        cpu.cr0 = if ts { cpu.cr0 | TS } else { cpu.cr0 & !TS };
        let prot = if ts { libc::PROT_NONE } else { libc::PROT_READ };
        for w in core::iter::once(&self.mem).chain(self.alt.as_ref().map(|a| &a.mem)) {
            // SAFETY: the gate page is part of the window reservation and only ever holds
            // an anonymous PROT_NONE/PROT_READ mapping.
            unsafe { libc::mprotect(w.fpu_gate_page().cast(), 4096, prot) };
        }
    }

    /// In a fork child, before anything else runs: take a private copy of the state the
    /// parent still shares (the code cache's memfd).
    pub fn after_fork_child(&mut self) -> Result<()> {
        super::execmem::privatize(&self.exec)
    }

    /// The descriptor tables changed: segment caches and translations that baked them in
    /// must be redone.
    pub fn descriptors_changed(&mut self) {
        self.engine.descriptors_changed();
        if let Some(a) = &mut self.alt {
            a.engine.descriptors_changed();
        }
    }

    /// Drop every translation (e.g. after the caller rewrote code behind the window's back).
    pub fn flush_code(&mut self) {
        self.engine.flush();
        if let Some(a) = &mut self.alt {
            a.engine.flush();
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // SAFETY: the engines are being dropped with the machine; no code runs any more.
        // (Which engine uses which memory does not matter: both sets are freed.)
        unsafe {
            super::execmem::free(self.exec);
            super::execmem::free_stack(self.stack);
            if let Some(a) = &self.alt {
                super::execmem::free(a.exec);
                super::execmem::free_stack(a.stack);
            }
        }
    }
}

/// Stops a running vCPU by closing its poll page (see `backend::x64::BlockEmitter::entry`).
#[derive(Clone, Copy, Debug)]
pub struct StopHandle {
    poll_page: usize,
    /// The poll page of the vCPU's other window (ring 3's), or 0.
    poll_page2: usize,
}

impl StopHandle {
    /// The handle of the vCPU that will run in `w`.
    pub fn for_window(w: &Window) -> StopHandle {
        StopHandle {
            poll_page: w.poll_page() as usize,
            poll_page2: 0,
        }
    }

    /// Stop the vCPU in whichever of `a` and `b` (its kernel and user windows) it runs.
    pub fn pair(a: &Window, b: &Window) -> StopHandle {
        StopHandle {
            poll_page: a.poll_page() as usize,
            poll_page2: b.poll_page() as usize,
        }
    }

    pub fn poll_pages(&self) -> [usize; 2] {
        [self.poll_page, self.poll_page2]
    }

    pub fn request_stop(&self) {
        for p in self.poll_pages().into_iter().filter(|&p| p != 0) {
            // SAFETY: the poll page is a page of a window reservation that only ever holds
            // PROT_NONE or PROT_READ anonymous memory.
            unsafe { libc::mprotect(p as *mut libc::c_void, 4096, libc::PROT_NONE) };
        }
    }

    pub fn clear(&self) {
        for p in self.poll_pages().into_iter().filter(|&p| p != 0) {
            // SAFETY: as in `request_stop`.
            unsafe { libc::mprotect(p as *mut libc::c_void, 4096, libc::PROT_READ) };
        }
    }
}
