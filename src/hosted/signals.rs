//! Host faults in translated code (SIGSEGV, SIGBUS, SIGFPE, SIGILL) become guest faults.
//!
//! The handler does as little as possible: if the faulting PC is in this thread's code
//! cache and R15 holds this thread's `JitContext`, it copies the host registers and the
//! fault description into the context and resumes at `exit_saved`; the run loop, back in
//! ordinary Rust, maps the host PC to the guest instruction and decides what the fault
//! means for the guest. Any other fault is a host bug: the default action (a core dump)
//! runs.

use crate::cpu::{EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP};
use crate::engine::ctx::{ExitKind, JitContext};
use core::cell::Cell;
use std::sync::Once;

/// What the handler needs to know about the translated code running on this thread.
#[derive(Clone, Copy)]
struct Current {
    ctx: *mut JitContext,
    code_start: u64,
    code_end: u64,
    exit_saved: u64,
}

thread_local! {
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
}

static INSTALL: Once = Once::new();

/// This thread's alternate signal stack: the handler must not run on the translated-code
/// frame stack (whose guard page may be what faulted).
struct AltStack(#[allow(dead_code)] Vec<u8>);

impl Drop for AltStack {
    fn drop(&mut self) {
        let ss = libc::stack_t {
            ss_sp: core::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: disabling this thread's alternate stack before its memory is freed.
        unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
    }
}

thread_local! {
    static ALTSTACK: core::cell::RefCell<Option<AltStack>> = const { core::cell::RefCell::new(None) };
}

fn ensure_altstack() {
    ALTSTACK.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_some() {
            return;
        }
        const SIZE: usize = 64 * 1024;
        let mut mem = vec![0u8; SIZE];
        let ss = libc::stack_t {
            ss_sp: mem.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: SIZE,
        };
        // SAFETY: the memory is owned by the thread-local below, which disables the
        // alternate stack before freeing it.
        unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
        *a = Some(AltStack(mem));
    });
}

pub fn install() {
    INSTALL.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            // SAFETY: a zeroed sigaction is a valid starting value; the handler has the
            // SA_SIGINFO signature.
            unsafe {
                let mut sa: libc::sigaction = core::mem::zeroed();
                sa.sa_sigaction = handler as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, core::ptr::null_mut());
            }
        }
    });
    ensure_altstack();
}

/// Run `f` with this thread's translated-code range registered for the handler.
pub fn with_current<R>(
    ctx: *mut JitContext,
    code: (u64, u64),
    exit_saved: u64,
    f: impl FnOnce() -> R,
) -> R {
    install();
    let prev = CURRENT.with(|c| {
        c.replace(Some(Current {
            ctx,
            code_start: code.0,
            code_end: code.1,
            exit_saved,
        }))
    });
    let r = f();
    CURRENT.with(|c| c.set(prev));
    r
}

extern "C" fn handler(sig: i32, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
    let uc = unsafe { &mut *(uctx as *mut libc::ucontext_t) };
    let g = &mut uc.uc_mcontext.gregs;
    let pc = g[libc::REG_RIP as usize] as u64;
    let cur = CURRENT.with(|c| c.get());
    let ours = cur.filter(|c| {
        pc >= c.code_start && pc < c.code_end && g[libc::REG_R15 as usize] as u64 == c.ctx as u64
    });
    let Some(cur) = ours else {
        // Not translated code: restore the default action and let the fault recur.
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
        return;
    };
    // SAFETY: R15 equals the registered context of this thread, which the run loop keeps
    // alive and does not touch while translated code runs.
    let ctx = unsafe { &mut *cur.ctx };
    let host_regs = [
        (EAX, libc::REG_RAX),
        (ECX, libc::REG_RCX),
        (EDX, libc::REG_RDX),
        (EBX, libc::REG_RBX),
        (ESP, libc::REG_R12),
        (EBP, libc::REG_RBP),
        (ESI, libc::REG_RSI),
        (EDI, libc::REG_RDI),
    ];
    for (gr, hr) in host_regs {
        ctx.cpu.gpr[gr] = g[hr as usize] as u32;
    }
    ctx.host_flags = g[libc::REG_EFL as usize] as u64;
    // SAFETY: `info` is valid for SA_SIGINFO handlers; si_addr is defined for these signals.
    let addr = unsafe { (*info).si_addr() } as u64;
    ctx.host_fault.host_pc = pc;
    ctx.host_fault.addr = addr;
    ctx.host_fault.trapno = match sig {
        libc::SIGILL => 6,
        _ => g[libc::REG_TRAPNO as usize] as u32,
    };
    ctx.host_fault.err = g[libc::REG_ERR as usize] as u32;
    ctx.host_fault.r14 = g[libc::REG_R14 as usize] as u64;
    ctx.host_fault.r11 = g[libc::REG_R11 as usize] as u64;
    ctx.exit_kind = ExitKind::HostFault as u32;
    // Host DF is architecturally clear in translated code; clear AC/TF too.
    g[libc::REG_EFL as usize] &= !((1 << 10) | (1 << 18) | (1 << 8));
    g[libc::REG_RIP as usize] = cur.exit_saved as i64;
}
