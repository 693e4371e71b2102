//! Signal delivery into the guest as an ia32 task gets it from an x86-64 kernel
//! (arch/x86/kernel/signal.c, signal_32.c / ia32_signal.c, kernel/signal.c).
//!
//! Signals reach the guest from three places: the program itself (kill, tgkill, raise),
//! exceptions of its own code (a fault the program has a handler for), and the host (another
//! process, a child's exit, a timer). Host signals the guest handles are caught by
//! [`on_host_signal`], which records them and stops translated code at the next block entry;
//! signals are then delivered at the runner's safe points: after a syscall and when the
//! engine stops. Delivery builds Linux's frame (`struct rt_sigframe_ia32` or
//! `struct sigframe_ia32`, with the FXSAVE image as `struct _fpstate_32`), and
//! rt_sigreturn/sigreturn undo it.

use super::abi::{self, get_u16, get_u32, get_u64, Errno, Out, SigAction};
use super::host;
use super::{Process, SysErr, SysResult, Termination};
use crate::cpu::{SegReg, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP};
use crate::exit::{Fault, Vector, PFEC_PRESENT};
use crate::hosted::machine::StopHandle;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub const SA_SIGINFO: u32 = 0x0000_0004;
pub const SA_ONSTACK: u32 = 0x0800_0000;
pub const SA_RESTART: u32 = 0x1000_0000;
pub const SA_NODEFER: u32 = 0x4000_0000;
pub const SA_RESETHAND: u32 = 0x8000_0000;
pub const SA_RESTORER: u32 = 0x0400_0000;
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;

/// Size of `struct _fpstate_32`: the 112-byte FSAVE header, then the 512-byte FXSAVE image.
const FPSTATE_SIZE: u32 = 624;
const FXSAVE_AT: u32 = 112;
/// EFLAGS bits sigreturn takes from the frame (FIX_EFLAGS).
const FIX_EFLAGS: u32 = 0x0004_0dd5 | 0x0001_0000;
/// __USER_DS.
const USER_DS: u16 = 0x2b;

/// Host signals recorded for the guest (bit n-1 for signal n), with their siginfo.
static HOST_PENDING: AtomicU64 = AtomicU64::new(0);
static HOST_INFO: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];
static HOST_CODE: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];
/// Makes translated code return to the runner at the next block entry.
static STOP: OnceLock<StopHandle> = OnceLock::new();

pub fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// The host handler for signals the guest handles: record, and stop translated code.
extern "C" fn on_host_signal(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    if !(1..=64).contains(&sig) {
        return;
    }
    if !info.is_null() {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; the accessors
        // read the union members that exist for every si_code the kernel fills.
        let (pid, uid, code, status) = unsafe {
            let i = &*info;
            let code = i.si_code;
            let status = if sig == libc::SIGCHLD {
                i.si_status()
            } else {
                0
            };
            (i.si_pid(), i.si_uid(), code, status)
        };
        HOST_INFO[sig as usize].store(
            (u64::from(uid) << 32) | u64::from(pid as u32),
            Ordering::Relaxed,
        );
        HOST_CODE[sig as usize].store(
            (u64::from(status as u32) << 32) | u64::from(code as u32),
            Ordering::Relaxed,
        );
    }
    HOST_PENDING.fetch_or(bit(sig), Ordering::SeqCst);
    if let Some(s) = STOP.get() {
        s.request_stop();
    }
}

/// Catch `sig` in the host on the guest's behalf (no SA_RESTART: a blocking host call
/// returns EINTR, and the guest's own SA_RESTART decides whether it is restarted).
pub fn catch(sig: i32) {
    // SAFETY: sigaction is plain old data; all-zero is a valid value.
    let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
        on_host_signal;
    sa.sa_sigaction = handler as *const () as usize;
    sa.sa_flags = libc::SA_SIGINFO;
    // SAFETY: `sa.sa_mask` is ours; the handler only touches atomics and makes one
    // async-signal-safe syscall (mprotect).
    unsafe {
        libc::sigfillset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, core::ptr::null_mut());
    }
}

/// Forget host signals recorded before a fork (for the child).
pub fn clear_host_pending() {
    HOST_PENDING.store(0, Ordering::SeqCst);
}

/// Whether any host signal is waiting (without taking it).
pub fn take_host_pending_peek() -> u64 {
    HOST_PENDING.load(Ordering::SeqCst)
}

/// Let host signals stop this machine's translated code.
pub fn set_stop_handle(h: StopHandle) {
    let _ = STOP.set(h);
}

/// Wait until a host signal the guest handles arrives, without losing one that arrives
/// just before the wait (they are blocked while we look).
pub fn wait_for_host_signal(caught: u64) {
    // SAFETY: local sigset_ts initialised by sigemptyset; sigprocmask and sigsuspend only
    // read/write them.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in 1..=64 {
            if caught & bit(s) != 0 {
                libc::sigaddset(&mut set, s);
            }
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        if HOST_PENDING.load(Ordering::SeqCst) == 0 {
            libc::sigsuspend(&old);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
    }
}

/// What the guest's siginfo says about a signal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Info {
    pub code: i32,
    pub pid: u32,
    pub uid: u32,
    pub status: i32,
    /// si_addr (faults).
    pub addr: u32,
    /// For faults: trapno, error code, cr2 (sigcontext fields).
    pub trap: Option<(u32, u32, u32)>,
}

impl Info {
    /// `compat_siginfo_t` (128 bytes).
    fn bytes(&self, sig: i32) -> [u8; 128] {
        let mut o = Out::<128>::new();
        o.u32(0, sig as u32).u32(8, self.code as u32);
        if self.trap.is_some() {
            o.u32(12, self.addr);
        } else {
            o.u32(12, self.pid).u32(16, self.uid);
            if sig == libc::SIGCHLD {
                o.u32(20, self.status as u32);
            }
        }
        o.0
    }
}

/// Syscalls Linux restarts after a handler with SA_RESTART (-ERESTARTSYS); others
/// return EINTR.
fn restartable(nr: u32) -> bool {
    use super::sysno::Sysno::*;
    matches!(
        super::sysno::Sysno::from_u32(nr),
        Some(
            read | write
                | readv
                | writev
                | pread64
                | pwrite64
                | open
                | openat
                | wait4
                | waitpid
                | ioctl
                | fcntl64
                | fcntl
                | flock
                | sendfile
                | sendfile64
                | getdents64
                | futex
                | futex_time64
                | creat
        )
    )
}

impl Process {
    /// Every signal that is waiting, host ones included.
    fn all_pending(&mut self) -> u64 {
        self.sig.pending |= HOST_PENDING.swap(0, Ordering::SeqCst);
        self.sig.pending
    }

    pub(super) fn deliverable(&mut self) -> u64 {
        let unblockable = bit(libc::SIGKILL) | bit(libc::SIGSTOP);
        self.all_pending() & (!self.sig.mask | unblockable)
    }

    /// After `int $0x80` #`nr` failed with EINTR: restart it if the signal that interrupted
    /// it will run a handler with SA_RESTART (EIP back on the `int`, EAX the number).
    pub(super) fn maybe_restart(&mut self, nr: u32, insn_len: u32) -> bool {
        let ready = self.deliverable();
        if ready == 0 || !restartable(nr) {
            return false;
        }
        let sig = ready.trailing_zeros() as usize + 1;
        let a = self.sig.actions[sig];
        if a.handler > SigAction::SIG_IGN && a.flags & SA_RESTART == 0 {
            return false;
        }
        let cpu = self.m.cpu_mut();
        cpu.eip = cpu.eip.wrapping_sub(insn_len);
        cpu.gpr[EAX] = nr;
        true
    }

    /// Deliver what is pending and unblocked: default actions, or one handler frame.
    pub(super) fn deliver_pending(&mut self) -> Option<Termination> {
        loop {
            let ready = self.deliverable();
            if ready == 0 {
                // No handler ran: a mask sigsuspend set up is undone now.
                if let Some(m) = self.sig.saved_mask.take() {
                    self.sig.mask = m;
                }
                return None;
            }
            let sig = ready.trailing_zeros() as i32 + 1;
            self.sig.pending &= !bit(sig);
            let info = self.sig.info.remove(&sig).unwrap_or_else(|| host_info(sig));
            match self.sig.actions[sig as usize].handler {
                SigAction::SIG_IGN if sig != libc::SIGKILL && sig != libc::SIGSTOP => {}
                SigAction::SIG_DFL | SigAction::SIG_IGN => {
                    if abi::default_ignored(sig) {
                        continue;
                    }
                    if matches!(
                        sig,
                        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                    ) {
                        let _ = host::int_call(
                            libc::SYS_kill,
                            &[host::getpid().into(), libc::SIGSTOP.into()],
                        );
                        continue;
                    }
                    return Some(Termination::Signaled { sig, report: None });
                }
                _ => {
                    if let Err(t) = self.setup_frame(sig, &info) {
                        return Some(t);
                    }
                    return None;
                }
            }
        }
    }

    /// An exception of the guest's code: to its handler if it has one (and the signal is
    /// not blocked), else the end of the program, as `force_sig_fault` does.
    pub(super) fn deliver_fault(&mut self, f: Fault) -> Option<Termination> {
        let sig = super::fault_to_signal(f.vector);
        let a = self.sig.actions[sig as usize];
        if a.handler <= SigAction::SIG_IGN || self.sig.mask & bit(sig) != 0 {
            return Some(self.fault_termination(f));
        }
        let eip = self.m.cpu().eip;
        let (code, addr) = match f.vector {
            Vector::PF => (
                if f.error_code & PFEC_PRESENT != 0 {
                    2
                } else {
                    1
                },
                f.cr2,
            ),
            Vector::DE => (1, eip),              // FPE_INTDIV
            Vector::UD => (2, eip),              // ILL_ILLOPN
            Vector::BP | Vector::DB => (1, eip), // TRAP_BRKPT
            Vector::AC => (1, 0),                // BUS_ADRALN
            _ => (0x80, 0),                      // SI_KERNEL
        };
        let info = Info {
            code,
            addr,
            trap: Some((f.vector as u32, f.error_code, f.cr2)),
            ..Info::default()
        };
        self.setup_frame(sig, &info).err()
    }

    /// Build the signal frame on the guest stack and enter the handler.
    fn setup_frame(&mut self, sig: i32, info: &Info) -> Result<(), Termination> {
        let a = self.sig.actions[sig as usize];
        let rt = a.flags & SA_SIGINFO != 0;
        let cpu = self.m.cpu().clone();
        let old_mask = self.sig.saved_mask.take().unwrap_or(self.sig.mask);

        let ss_sp = get_u32(&self.sig.altstack, 0);
        let ss_flags = get_u32(&self.sig.altstack, 4);
        let ss_size = get_u32(&self.sig.altstack, 8);
        let esp = cpu.gpr[ESP];
        let on_alt = ss_flags & SS_DISABLE == 0 && esp.wrapping_sub(ss_sp) < ss_size;
        let mut sp = esp;
        if a.flags & SA_ONSTACK != 0 && ss_flags & SS_DISABLE == 0 && !on_alt {
            sp = ss_sp.wrapping_add(ss_size);
        }
        let fp = sp.wrapping_sub(FPSTATE_SIZE) & !63;
        let frame_size: u32 = if rt {
            16 + 128 + 116 + 8
        } else {
            8 + 88 + FPSTATE_SIZE + 4 + 8
        };
        let frame = ((fp.wrapping_sub(frame_size).wrapping_add(4)) & !15).wrapping_sub(4);

        // struct sigcontext_32.
        let (trapno, err, cr2) = info.trap.unwrap_or((0, 0, 0));
        let mut sc = Out::<88>::new();
        sc.u16(0, cpu.seg(SegReg::Gs).selector)
            .u16(4, cpu.seg(SegReg::Fs).selector)
            .u16(8, cpu.seg(SegReg::Es).selector)
            .u16(12, cpu.seg(SegReg::Ds).selector)
            .u32(16, cpu.gpr[EDI])
            .u32(20, cpu.gpr[ESI])
            .u32(24, cpu.gpr[EBP])
            .u32(28, cpu.gpr[ESP])
            .u32(32, cpu.gpr[EBX])
            .u32(36, cpu.gpr[EDX])
            .u32(40, cpu.gpr[ECX])
            .u32(44, cpu.gpr[EAX])
            .u32(48, trapno)
            .u32(52, err)
            .u32(56, cpu.eip)
            .u16(60, cpu.seg(SegReg::Cs).selector)
            .u32(64, cpu.eflags)
            .u32(68, cpu.gpr[ESP])
            .u16(72, cpu.seg(SegReg::Ss).selector)
            .u32(76, fp)
            .u32(80, old_mask as u32)
            .u32(84, cr2);

        // struct _fpstate_32: FSAVE header (control, status, tag, registers) + FXSAVE image.
        let fx = &cpu.fx.0;
        let mut fpstate = vec![0u8; FPSTATE_SIZE as usize];
        fpstate[0..2].copy_from_slice(&fx[0..2]);
        fpstate[4..6].copy_from_slice(&fx[2..4]);
        let ftw = fx[4];
        let tag: u32 = (0..8)
            .map(|i| if ftw & (1 << i) != 0 { 0 } else { 3 << (2 * i) })
            .sum();
        fpstate[8..12].copy_from_slice(&(tag | 0xffff_0000).to_le_bytes());
        for i in 0..8 {
            fpstate[28 + 10 * i..38 + 10 * i].copy_from_slice(&fx[32 + 16 * i..42 + 16 * i]);
        }
        // status (the FSW again) and magic 0x0000: an FXSR frame.
        fpstate[108..110].copy_from_slice(&fx[2..4]);
        fpstate[FXSAVE_AT as usize..].copy_from_slice(fx);

        let retcode_at;
        let mut bytes;
        if rt {
            bytes = vec![0u8; frame_size as usize];
            let info_at = frame + 16;
            let uc_at = frame + 144;
            retcode_at = uc_at + 116;
            bytes[4..8].copy_from_slice(&(sig as u32).to_le_bytes());
            bytes[8..12].copy_from_slice(&info_at.to_le_bytes());
            bytes[12..16].copy_from_slice(&uc_at.to_le_bytes());
            bytes[16..144].copy_from_slice(&info.bytes(sig));
            // struct ucontext_ia32: flags, link, stack, mcontext, sigmask.
            let uc = &mut bytes[144..260];
            uc[8..12].copy_from_slice(&ss_sp.to_le_bytes());
            let flags = if ss_flags & SS_DISABLE != 0 {
                SS_DISABLE
            } else if on_alt {
                SS_ONSTACK
            } else {
                0
            };
            uc[12..16].copy_from_slice(&flags.to_le_bytes());
            uc[16..20].copy_from_slice(&ss_size.to_le_bytes());
            uc[20..108].copy_from_slice(&sc.0);
            uc[108..116].copy_from_slice(&old_mask.to_le_bytes());
            // mov $173, %eax; int $0x80 (used only without SA_RESTORER).
            bytes[260..268].copy_from_slice(&[0xb8, 173, 0, 0, 0, 0xcd, 0x80, 0]);
        } else {
            bytes = vec![0u8; frame_size as usize];
            retcode_at = frame + 8 + 88 + FPSTATE_SIZE + 4;
            bytes[4..8].copy_from_slice(&(sig as u32).to_le_bytes());
            bytes[8..96].copy_from_slice(&sc.0);
            let em = 96 + FPSTATE_SIZE as usize;
            bytes[em..em + 4].copy_from_slice(&((old_mask >> 32) as u32).to_le_bytes());
            // pop %eax; mov $119, %eax; int $0x80.
            bytes[em + 4..em + 12].copy_from_slice(&[0x58, 0xb8, 119, 0, 0, 0, 0xcd, 0x80]);
        }
        let pretcode = if a.flags & SA_RESTORER != 0 {
            a.restorer
        } else {
            retcode_at
        };
        bytes[0..4].copy_from_slice(&pretcode.to_le_bytes());

        let written = self
            .write_mem(fp, &fpstate)
            .and_then(|_| self.write_mem(frame, &bytes));
        if written.is_err() {
            // No room for the frame: as Linux, the program dies of SIGSEGV.
            return Err(Termination::Signaled {
                sig: libc::SIGSEGV,
                report: Some(format!(
                    "guest killed by SIGSEGV (cannot write the {} frame at {frame:#010x})",
                    abi::signal_name(sig)
                )),
            });
        }

        let mut blocked = a.mask;
        if a.flags & SA_NODEFER == 0 {
            blocked |= bit(sig);
        }
        self.sig.mask = (old_mask | blocked) & !(bit(libc::SIGKILL) | bit(libc::SIGSTOP));
        if a.flags & SA_RESETHAND != 0 {
            self.sig.actions[sig as usize] = SigAction::default();
            self.mirror_signal(sig);
        }
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
            let _ = self.m.load_segment(s, USER_DS);
        }
        let c = self.m.cpu_mut();
        c.gpr[ESP] = frame;
        c.eip = a.handler;
        c.eflags &= !(0x400 | 0x100 | 0x1_0000); // DF, TF, RF
        if rt {
            c.gpr[EAX] = sig as u32;
            c.gpr[EDX] = frame + 16;
            c.gpr[ECX] = frame + 144;
        } else {
            c.gpr[EAX] = sig as u32;
            c.gpr[EDX] = 0;
            c.gpr[ECX] = 0;
        }
        Ok(())
    }

    /// Restore the state a sigcontext saved; returns EAX as it was.
    fn restore_sigcontext(&mut self, sc: &[u8]) -> Result<u32, SysErr> {
        let segs = [
            (SegReg::Gs, 0),
            (SegReg::Fs, 4),
            (SegReg::Es, 8),
            (SegReg::Ds, 12),
            (SegReg::Ss, 72),
        ];
        for (s, off) in segs {
            let sel = get_u16(sc, off);
            if self.m.cpu().seg(s).selector != sel && self.m.load_segment(s, sel).is_err() {
                return Err(SysErr::Exit(Termination::Signaled {
                    sig: libc::SIGSEGV,
                    report: Some(format!(
                        "guest killed by SIGSEGV (sigreturn with bad selector {sel:#x})"
                    )),
                }));
            }
        }
        let fp = get_u32(sc, 76);
        if fp != 0 {
            let fx = self.read_mem(fp + FXSAVE_AT, 512)?;
            // Reserved MXCSR bits would fault: sigreturn refuses such frames.
            let mxcsr = get_u32(&fx, 24);
            if mxcsr & !0xffff != 0 {
                return Err(Errno::EFAULT.into());
            }
            self.m.cpu_mut().fx.0.copy_from_slice(&fx);
        }
        let c = self.m.cpu_mut();
        c.gpr[EDI] = get_u32(sc, 16);
        c.gpr[ESI] = get_u32(sc, 20);
        c.gpr[EBP] = get_u32(sc, 24);
        c.gpr[ESP] = get_u32(sc, 28);
        c.gpr[EBX] = get_u32(sc, 32);
        c.gpr[EDX] = get_u32(sc, 36);
        c.gpr[ECX] = get_u32(sc, 40);
        c.eip = get_u32(sc, 56);
        c.eflags = (c.eflags & !FIX_EFLAGS) | (get_u32(sc, 64) & FIX_EFLAGS);
        Ok(get_u32(sc, 44))
    }

    /// rt_sigreturn: the handler returned through `pretcode`, so ESP is 4 past the frame.
    pub(super) fn sys_rt_sigreturn(&mut self) -> SysResult {
        let frame = self.m.cpu().gpr[ESP].wrapping_sub(4);
        let uc = self.read_mem(frame + 144, 116)?;
        self.sig.mask = get_u64(&uc, 108) & !(bit(libc::SIGKILL) | bit(libc::SIGSTOP));
        let sc = uc[20..108].to_vec();
        // restore_altstack: the alternate stack as the frame recorded it.
        let flags = get_u32(&uc, 12);
        if flags & !(SS_ONSTACK | SS_DISABLE) == 0 {
            let mut st = [0u8; 12];
            st[0..4].copy_from_slice(&uc[8..12]);
            st[4..8].copy_from_slice(&(flags & SS_DISABLE).to_le_bytes());
            st[8..12].copy_from_slice(&uc[16..20]);
            self.sig.altstack = st;
        }
        self.restore_sigcontext(&sc)
    }

    /// sigreturn (non-rt frames): `pop %eax` ran before the syscall, so ESP is 8 past.
    pub(super) fn sys_sigreturn(&mut self) -> SysResult {
        let frame = self.m.cpu().gpr[ESP].wrapping_sub(8);
        let b = self.read_mem(frame, (8 + 88 + FPSTATE_SIZE + 4) as usize)?;
        let sc = b[8..96].to_vec();
        let em = (96 + FPSTATE_SIZE) as usize;
        let mask = u64::from(get_u32(&sc, 80)) | (u64::from(get_u32(&b, em)) << 32);
        self.sig.mask = mask & !(bit(libc::SIGKILL) | bit(libc::SIGSTOP));
        self.restore_sigcontext(&sc)
    }

    /// rt_sigsuspend: wait with a temporary mask until a signal is delivered; the handler's
    /// frame restores the mask the program had.
    pub(super) fn sys_rt_sigsuspend(&mut self, mask: u32, size: u32) -> SysResult {
        if size != 8 {
            return Err(Errno::EINVAL.into());
        }
        let m = get_u64(&self.read_mem(mask, 8)?, 0) & !(bit(libc::SIGKILL) | bit(libc::SIGSTOP));
        let saved = self.sig.mask;
        let r = self.wait_for_signal(m);
        // The handler runs with the sigsuspend mask and its frame restores the old one.
        self.sig.mask = m;
        self.sig.saved_mask = Some(saved);
        r
    }
}

/// The siginfo of a host signal as the handler recorded it.
fn host_info(sig: i32) -> Info {
    let i = HOST_INFO[sig as usize].load(Ordering::Relaxed);
    let c = HOST_CODE[sig as usize].load(Ordering::Relaxed);
    Info {
        code: c as u32 as i32,
        pid: i as u32,
        uid: (i >> 32) as u32,
        status: (c >> 32) as u32 as i32,
        ..Info::default()
    }
}
