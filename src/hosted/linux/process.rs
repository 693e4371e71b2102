//! Process, identity, time, signal, TLS and futex system calls (kernel/sys.c,
//! kernel/signal.c, kernel/time/, kernel/futex/, arch/x86/kernel/tls.c, kernel/fork.c,
//! fs/exec.c, kernel/exit.c).
//!
//! Signals: dispositions are mirrored to the host (SIG_IGN and SIG_DFL as they are, a
//! handler by catching the signal for [`super::signal`] to deliver), so that a SIGPIPE or
//! Ctrl-C ends the runner as it would end the program. fork is the host's fork (the window
//! is copied with the rest of the runner); execve of an i386 program starts the runner again
//! on it, anything else is exec'd by the host.

use super::abi::{self, get_u32, Errno, Out, SigAction, TimeAbi, UserDesc};
use super::host;
use super::signal::{self, bit};
use super::{Process, SysErr, SysResult, Termination};
use crate::cpu::{SegReg, ESP};
use crate::hosted::machine::{LINUX_TLS_ENTRIES, LINUX_TLS_MIN};
use std::ffi::CString;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

const CLONE_VM: u32 = 0x100;
const CLONE_VFORK: u32 = 0x4000;
const CLONE_THREAD: u32 = 0x1_0000;
const CLONE_SETTLS: u32 = 0x8_0000;
const CLONE_PARENT_SETTID: u32 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u32 = 0x20_0000;
const CLONE_CHILD_SETTID: u32 = 0x100_0000;

/// Signals the runner needs for itself (translated-code faults); the guest's settings for
/// them are recorded but never applied to the host.
fn runner_signal(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGSEGV
            | libc::SIGBUS
            | libc::SIGILL
            | libc::SIGFPE
            | libc::SIGTRAP
            | libc::SIGKILL
            | libc::SIGSTOP
    )
}

/// Resources whose limits would starve the runner (its window and code cache), kept for the
/// guest without being applied.
fn soft_limit(res: u32) -> bool {
    matches!(
        res,
        libc::RLIMIT_AS | libc::RLIMIT_DATA | libc::RLIMIT_MEMLOCK | libc::RLIMIT_RSS
    )
}

impl Process {
    /// Guest dispositions at start: what the host inherited as ignored, plus `ignored` (for
    /// SIGPIPE, which the Rust runtime ignores before `main`, losing what exec passed on).
    pub(super) fn init_signals(&mut self, ignored: u64) {
        for sig in 1..=abi::NSIG as i32 {
            let ign = if sig == libc::SIGPIPE {
                ignored & bit(sig) != 0
            } else {
                host::is_ignored(sig) || ignored & bit(sig) != 0
            };
            if ign && sig != libc::SIGKILL && sig != libc::SIGSTOP {
                self.sig.actions[sig as usize].handler = SigAction::SIG_IGN;
            }
            self.mirror_signal(sig);
        }
    }

    /// The mask of signals the guest ignores, for an exec to pass on.
    pub fn ignored_signals(&self) -> u64 {
        (1..=abi::NSIG as i32)
            .filter(|&s| self.sig.actions[s as usize].handler == SigAction::SIG_IGN)
            .fold(0, |m, s| m | bit(s))
    }

    /// Make the host treat `sig` as the guest asked: SIG_IGN and SIG_DFL as they are, a
    /// handler by catching the signal for delivery into the guest.
    pub(super) fn mirror_signal(&mut self, sig: i32) {
        if runner_signal(sig) {
            return;
        }
        self.sig.host_caught &= !bit(sig);
        match self.sig.actions[sig as usize].handler {
            SigAction::SIG_IGN => host::set_disposition(sig, true),
            SigAction::SIG_DFL => host::set_disposition(sig, false),
            _ => {
                signal::catch(sig);
                self.sig.host_caught |= bit(sig);
            }
        }
    }

    pub(super) fn sys_exit(&mut self, status: u32) -> SysResult {
        Err(SysErr::Exit(Termination::Exited((status & 0xff) as i32)))
    }

    pub(super) fn sys_id16(&mut self, nr: libc::c_long) -> SysResult {
        Ok(u32::from(abi::high2lowuid(host::int_call(nr, &[])?)))
    }

    pub(super) fn sys_getres(&mut self, nr: libc::c_long, ptrs: [u32; 3]) -> SysResult {
        let ids = host::getres(nr == libc::SYS_getresgid)?;
        for (p, id) in ptrs.into_iter().zip(ids) {
            self.write_u32(p, id)?;
        }
        Ok(0)
    }

    pub(super) fn sys_getgroups(&mut self, size: u32, list: u32) -> SysResult {
        if size == 0 {
            // getgroups(0, NULL) only counts.
            return Ok(host::int_call(libc::SYS_getgroups, &[0, 0])?);
        }
        if size as i32 <= 0 {
            return Err(Errno::EINVAL.into());
        }
        let groups = host::getgroups(size.min(65536) as usize)?;
        let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
        self.write_mem(list, &bytes)?;
        Ok(groups.len() as u32)
    }

    /// uname: the host's, with the machine an i386 process expects.
    pub(super) fn sys_uname(&mut self, buf: u32) -> SysResult {
        let u = host::uname()?;
        let mut out = vec![0u8; abi::UTSNAME_SIZE];
        let fields = [
            &u.sysname,
            &u.nodename,
            &u.release,
            &u.version,
            &u.machine,
            &u.domainname,
        ];
        for (i, f) in fields.iter().enumerate() {
            let bytes: Vec<u8> = if i == 4 {
                b"i686".to_vec()
            } else {
                f.iter()
                    .take_while(|&&c| c != 0)
                    .map(|&c| c as u8)
                    .collect()
            };
            let n = bytes.len().min(64);
            out[i * 65..i * 65 + n].copy_from_slice(&bytes[..n]);
        }
        self.write_mem(buf, &out)?;
        Ok(0)
    }

    pub(super) fn sys_time(&mut self, tloc: u32) -> SysResult {
        let t = host::clock_gettime(libc::CLOCK_REALTIME)?;
        let secs = t.tv_sec as u32;
        if tloc != 0 {
            self.write_u32(tloc, secs)?;
        }
        Ok(secs)
    }

    pub(super) fn sys_gettimeofday(&mut self, tv: u32, tz: u32) -> SysResult {
        if tv != 0 {
            let t = host::clock_gettime(libc::CLOCK_REALTIME)?;
            self.write_mem(tv, &abi::timespec32(t.tv_sec, t.tv_nsec / 1000))?;
        }
        if tz != 0 {
            self.write_mem(tz, &[0; 8])?;
        }
        Ok(0)
    }

    pub(super) fn sys_clock_gettime(
        &mut self,
        clk: u32,
        tp: u32,
        t: TimeAbi,
        res: bool,
    ) -> SysResult {
        let v = if res {
            host::clock_getres(clk as i32)?
        } else {
            host::clock_gettime(clk as i32)?
        };
        if tp != 0 {
            if t == TimeAbi::Old32 && i32::try_from(v.tv_sec).is_err() {
                return Err(Errno::EOVERFLOW.into());
            }
            self.write_mem(tp, &t.encode(&v))?;
        }
        Ok(0)
    }

    pub(super) fn sys_clock_nanosleep(
        &mut self,
        clk: u32,
        flags: u32,
        req: u32,
        rem: u32,
        t: TimeAbi,
    ) -> SysResult {
        let r = t.decode(&self.read_mem(req, t.size())?);
        if r.tv_sec < 0 || !(0..1_000_000_000).contains(&r.tv_nsec) {
            return Err(Errno::EINVAL.into());
        }
        let mut left = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match host::clock_nanosleep(clk as i32, flags as i32, &r, &mut left) {
            Err(Errno::EINTR) if rem != 0 && flags & libc::TIMER_ABSTIME as u32 == 0 => {
                self.write_mem(rem, &t.encode(&left))?;
                Err(Errno::EINTR.into())
            }
            r => Ok(r?),
        }
    }

    /// times: `struct tms` of four 32-bit clock_t; the result is truncated the same way.
    pub(super) fn sys_times(&mut self, buf: u32) -> SysResult {
        let (ticks, t) = host::times()?;
        if buf != 0 {
            let mut o = Out::<16>::new();
            o.u32(0, t.tms_utime as u32)
                .u32(4, t.tms_stime as u32)
                .u32(8, t.tms_cutime as u32)
                .u32(12, t.tms_cstime as u32);
            self.write_mem(buf, &o.0)?;
        }
        Ok(ticks as u32)
    }

    fn write_rusage(&mut self, addr: u32, ru: &libc::rusage) -> Result<(), Errno> {
        let mut o = Out::<72>::new();
        o.u32(0, ru.ru_utime.tv_sec as u32)
            .u32(4, ru.ru_utime.tv_usec as u32)
            .u32(8, ru.ru_stime.tv_sec as u32)
            .u32(12, ru.ru_stime.tv_usec as u32);
        let longs = [
            ru.ru_maxrss,
            ru.ru_ixrss,
            ru.ru_idrss,
            ru.ru_isrss,
            ru.ru_minflt,
            ru.ru_majflt,
            ru.ru_nswap,
            ru.ru_inblock,
            ru.ru_oublock,
            ru.ru_msgsnd,
            ru.ru_msgrcv,
            ru.ru_nsignals,
            ru.ru_nvcsw,
            ru.ru_nivcsw,
        ];
        for (i, v) in longs.iter().enumerate() {
            o.u32(16 + 4 * i, *v as u32);
        }
        self.write_mem(addr, &o.0)
    }

    pub(super) fn sys_getrusage(&mut self, who: u32, buf: u32) -> SysResult {
        let ru = host::getrusage(who as i32)?;
        self.write_rusage(buf, &ru)?;
        Ok(0)
    }

    /// sysinfo with i386's 32-bit fields, scaled through mem_unit as `do_compat_sysinfo`.
    pub(super) fn sys_sysinfo(&mut self, buf: u32) -> SysResult {
        let si = host::sysinfo()?;
        let mut mem = [
            si.totalram,
            si.freeram,
            si.sharedram,
            si.bufferram,
            si.totalswap,
            si.freeswap,
            si.totalhigh,
            si.freehigh,
        ];
        let mut unit = si.mem_unit;
        while mem.iter().any(|&v| v > u64::from(u32::MAX)) && unit < 4096 {
            unit <<= 1;
            mem.iter_mut().for_each(|v| *v >>= 1);
        }
        let mut o = Out::<64>::new();
        o.u32(0, si.uptime as u32)
            .u32(4, si.loads[0] as u32)
            .u32(8, si.loads[1] as u32)
            .u32(12, si.loads[2] as u32);
        for (i, v) in mem[..6].iter().enumerate() {
            o.u32(16 + 4 * i, *v as u32);
        }
        o.u16(40, si.procs)
            .u32(44, mem[6] as u32)
            .u32(48, mem[7] as u32)
            .u32(52, unit);
        self.write_mem(buf, &o.0)?;
        Ok(0)
    }

    /// The limit of `res` as the guest sees it.
    fn get_limit(&mut self, res: u32) -> Result<[u64; 2], Errno> {
        if let Some(v) = self.soft_limits.get(&res) {
            return Ok(*v);
        }
        let mut old = [0u64; 2];
        host::prlimit(0, res, None, &mut old)?;
        Ok(old)
    }

    fn set_limit(&mut self, res: u32, new: [u64; 2]) -> Result<(), Errno> {
        if new[0] > new[1] {
            return Err(Errno::EINVAL);
        }
        if soft_limit(res) {
            let cur = self.get_limit(res)?;
            if new[1] > cur[1] && host::int_call(libc::SYS_geteuid, &[])? != 0 {
                return Err(Errno::EPERM);
            }
            self.soft_limits.insert(res, new);
            return Ok(());
        }
        let mut old = [0u64; 2];
        host::prlimit(0, res, Some(&new), &mut old)?;
        Ok(())
    }

    /// getrlimit (#76, infinity shown as 0x7fffffff) and ugetrlimit (#191, as 0xffffffff).
    pub(super) fn sys_getrlimit(&mut self, res: u32, buf: u32, old_abi: bool) -> SysResult {
        let v = self.get_limit(res)?;
        let cap = if old_abi { 0x7fff_ffff } else { u32::MAX };
        let c = |x: u64| u32::try_from(x).unwrap_or(u32::MAX).min(cap);
        let mut o = Out::<8>::new();
        o.u32(0, c(v[0])).u32(4, c(v[1]));
        self.write_mem(buf, &o.0)?;
        Ok(0)
    }

    pub(super) fn sys_setrlimit(&mut self, res: u32, buf: u32) -> SysResult {
        let b = self.read_mem(buf, 8)?;
        let w = |x: u32| {
            if x == u32::MAX {
                u64::MAX
            } else {
                u64::from(x)
            }
        };
        self.set_limit(res, [w(get_u32(&b, 0)), w(get_u32(&b, 4))])?;
        Ok(0)
    }

    pub(super) fn sys_prlimit64(&mut self, pid: u32, res: u32, new: u32, old: u32) -> SysResult {
        let me = pid == 0 || pid == host::getpid();
        let newv = if new != 0 {
            let b = self.read_mem(new, 16)?;
            Some([abi::get_u64(&b, 0), abi::get_u64(&b, 8)])
        } else {
            None
        };
        if old != 0 {
            self.check_writable(old, 16)?;
        }
        let prev = if me {
            let prev = self.get_limit(res)?;
            if let Some(n) = newv {
                self.set_limit(res, n)?;
            }
            prev
        } else {
            let mut prev = [0u64; 2];
            host::prlimit(pid as i32, res, newv.as_ref(), &mut prev)?;
            prev
        };
        if old != 0 {
            let mut o = Out::<16>::new();
            o.u64(0, prev[0]).u64(8, prev[1]);
            self.write_mem(old, &o.0)?;
        }
        Ok(0)
    }

    pub(super) fn sys_getrandom(&mut self, buf: u32, len: u32, flags: u32) -> SysResult {
        let len = len.min(1 << 25) as usize;
        self.check_writable(buf, len)?;
        let mut v = vec![0u8; len];
        let n = host::getrandom(&mut v, flags)?;
        self.write_mem(buf, &v[..n as usize])?;
        Ok(n)
    }

    pub(super) fn sys_sched_getaffinity(&mut self, pid: u32, len: u32, mask: u32) -> SysResult {
        if !len.is_multiple_of(4) || len == 0 {
            return Err(Errno::EINVAL.into());
        }
        let host_len = (len as usize).div_ceil(8).min(128) * 8;
        let mut v = vec![0u8; host_len];
        let n = host::sched_getaffinity(pid as i32, &mut v)?;
        let n = (n as usize).min(len as usize);
        self.write_mem(mask, &v[..n])?;
        Ok(n as u32)
    }

    pub(super) fn sys_getcpu(&mut self, cpu: u32, node: u32) -> SysResult {
        let c = host::sched_getcpu()?;
        if cpu != 0 {
            self.write_u32(cpu, c)?;
        }
        if node != 0 {
            self.write_u32(node, 0)?;
        }
        Ok(0)
    }

    /// set_thread_area (arch/x86/kernel/tls.c): install a TLS descriptor in GDT entries
    /// 12..14 (entry_number -1 picks the first free one and is written back), then reload
    /// any data segment register that holds its selector, as x86-64 kernels do.
    pub(super) fn sys_set_thread_area(&mut self, uinfo: u32) -> SysResult {
        let u = UserDesc::parse(&self.read_array::<16>(uinfo)?);
        if !u.tls_okay() {
            return Err(Errno::EINVAL.into());
        }
        let idx = if u.entry_number == u32::MAX {
            let free = (LINUX_TLS_MIN..LINUX_TLS_MIN + LINUX_TLS_ENTRIES)
                .find(|&i| self.m.gdt.get(i as usize).is_none_or(|&d| d == 0))
                .ok_or(Errno::ESRCH)?;
            self.write_u32(uinfo, free)?;
            free
        } else {
            u.entry_number
        };
        if !(LINUX_TLS_MIN..LINUX_TLS_MIN + LINUX_TLS_ENTRIES).contains(&idx) {
            return Err(Errno::EINVAL.into());
        }
        self.install_tls(idx, &u);
        Ok(0)
    }

    fn install_tls(&mut self, idx: u32, u: &UserDesc) {
        self.m.set_gdt_entry(idx, u.descriptor());
        let sel = ((idx << 3) | 3) as u16;
        for s in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
            if self.m.cpu().seg(s).selector == sel && self.m.load_segment(s, sel).is_err() {
                // As the kernel's exception fixup for a failed reload: a null selector.
                let _ = self.m.load_segment(s, 0);
            }
        }
    }

    /// get_thread_area: the user_desc of a TLS entry (`fill_user_desc`).
    pub(super) fn sys_get_thread_area(&mut self, uinfo: u32) -> SysResult {
        let idx = self.read_u32(uinfo)?;
        if !(LINUX_TLS_MIN..LINUX_TLS_MIN + LINUX_TLS_ENTRIES).contains(&idx) {
            return Err(Errno::EINVAL.into());
        }
        let d = self.m.gdt.get(idx as usize).copied().unwrap_or(0);
        let base = ((d >> 16) & 0xff_ffff) as u32 | (((d >> 56) & 0xff) as u32) << 24;
        let limit = (d & 0xffff) as u32 | (((d >> 48) & 0xf) as u32) << 16;
        let ty = (d >> 40) & 0xf;
        let flags = ((d >> 54) & 1) as u32 // seg_32bit
            | (((ty >> 2) & 3) as u32) << 1 // contents
            | (((ty >> 1) & 1 == 0) as u32) << 3 // read_exec_only
            | (((d >> 55) & 1) as u32) << 4 // limit_in_pages
            | (((d >> 47) & 1 == 0) as u32) << 5 // seg_not_present
            | (((d >> 52) & 1) as u32) << 6; // useable
        let mut o = Out::<16>::new();
        o.u32(0, idx)
            .u32(4, base)
            .u32(8, limit)
            .u32(12, if d == 0 { 0x28 } else { flags });
        self.write_mem(uinfo, &o.0)?;
        Ok(0)
    }

    /// futex for a single-threaded process: nothing else can change the word or wake us,
    /// so a wait on an unchanged word sleeps out its timeout (or forever, as it would).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sys_futex(
        &mut self,
        uaddr: u32,
        op: u32,
        val: u32,
        timeout: u32,
        uaddr2: u32,
        val3: u32,
        t: TimeAbi,
    ) -> SysResult {
        let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        match cmd {
            FUTEX_WAIT | FUTEX_WAIT_BITSET => {
                if !uaddr.is_multiple_of(4) {
                    return Err(Errno::EINVAL.into());
                }
                if self.read_u32(uaddr)? != val {
                    return Err(Errno::EAGAIN.into());
                }
                if timeout == 0 {
                    self.log
                        .once("futex wait with no other thread to wake it".into());
                    loop {
                        host::pause();
                    }
                }
                let ts = t.decode(&self.read_mem(timeout, t.size())?);
                // FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC); WAIT_BITSET's absolute.
                let (clk, flags) = match (cmd, op & FUTEX_CLOCK_REALTIME != 0) {
                    (FUTEX_WAIT, _) => (libc::CLOCK_MONOTONIC, 0),
                    (_, true) => (libc::CLOCK_REALTIME, libc::TIMER_ABSTIME),
                    (_, false) => (libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME),
                };
                let mut left = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                host::clock_nanosleep(clk, flags, &ts, &mut left)?;
                Err(Errno::ETIMEDOUT.into())
            }
            FUTEX_WAKE | FUTEX_WAKE_BITSET | FUTEX_REQUEUE => Ok(0),
            FUTEX_CMP_REQUEUE => {
                if self.read_u32(uaddr)? != val3 {
                    return Err(Errno::EAGAIN.into());
                }
                Ok(0)
            }
            FUTEX_WAKE_OP => {
                // *uaddr2 = *uaddr2 OP oparg (kernel/futex/waitwake.c); nobody to wake.
                let old = self.read_u32(uaddr2)?;
                let mut oparg = (val3 >> 12) & 0xfff;
                if val3 & (8 << 28) != 0 {
                    oparg = 1u32.checked_shl(oparg).unwrap_or(0);
                }
                let new = match (val3 >> 28) & 7 {
                    0 => oparg,
                    1 => old.wrapping_add(oparg),
                    2 => old | oparg,
                    3 => old & !oparg,
                    4 => old ^ oparg,
                    _ => return Err(Errno::ENOSYS.into()),
                };
                self.write_u32(uaddr2, new)?;
                Ok(0)
            }
            _ => {
                self.log.once(format!("unsupported futex op {cmd}"));
                Err(Errno::ENOSYS.into())
            }
        }
    }

    pub(super) fn sys_rt_sigaction(
        &mut self,
        sig: u32,
        act: u32,
        oact: u32,
        size: u32,
    ) -> SysResult {
        if size != 8 || sig == 0 || sig > abi::NSIG {
            return Err(Errno::EINVAL.into());
        }
        let s = sig as i32;
        let new = if act != 0 {
            if s == libc::SIGKILL || s == libc::SIGSTOP {
                return Err(Errno::EINVAL.into());
            }
            Some(SigAction::parse(&self.read_mem(act, SigAction::SIZE)?))
        } else {
            None
        };
        if oact != 0 {
            let old = self.sig.actions[sig as usize].bytes();
            self.write_mem(oact, &old)?;
        }
        if let Some(mut a) = new {
            a.mask &= !(bit(libc::SIGKILL) | bit(libc::SIGSTOP));
            self.sig.actions[sig as usize] = a;
            self.mirror_signal(s);
        }
        Ok(0)
    }

    pub(super) fn sys_rt_sigprocmask(
        &mut self,
        how: u32,
        set: u32,
        oset: u32,
        size: u32,
    ) -> SysResult {
        if size != 8 {
            return Err(Errno::EINVAL.into());
        }
        let new = if set != 0 {
            Some(abi::get_u64(&self.read_mem(set, 8)?, 0))
        } else {
            None
        };
        if oset != 0 {
            let old = self.sig.mask.to_le_bytes();
            self.write_mem(oset, &old)?;
        }
        if let Some(n) = new {
            self.sig.mask = match how {
                0 => self.sig.mask | n,
                1 => self.sig.mask & !n,
                2 => n,
                _ => return Err(Errno::EINVAL.into()),
            } & !(bit(libc::SIGKILL) | bit(libc::SIGSTOP));
        }
        Ok(0)
    }

    /// rt_sigpending: the signals that are pending while blocked.
    pub(super) fn sys_rt_sigpending(&mut self, set: u32, size: u32) -> SysResult {
        if size > 8 {
            return Err(Errno::EINVAL.into());
        }
        let p = (self.sig.pending | signal::take_host_pending_peek()) & self.sig.mask;
        self.write_mem(set, &p.to_le_bytes()[..size as usize])?;
        Ok(0)
    }

    /// setitimer/getitimer with i386's `struct itimerval` (four 32-bit fields).
    pub(super) fn sys_itimer(&mut self, which: u32, new: Option<u32>, old: u32) -> SysResult {
        let tv = |b: &[u8], o: usize| libc::timeval {
            tv_sec: i64::from(get_u32(b, o) as i32),
            tv_usec: i64::from(get_u32(b, o + 4) as i32),
        };
        let n = match new {
            Some(p) if p != 0 => {
                let b = self.read_mem(p, 16)?;
                Some(libc::itimerval {
                    it_interval: tv(&b, 0),
                    it_value: tv(&b, 8),
                })
            }
            _ => None,
        };
        if new.is_some() && n.is_none() {
            // setitimer with a NULL value disarms the timer.
            let zero = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let v = host::itimer(
                which as i32,
                Some(&libc::itimerval {
                    it_interval: zero,
                    it_value: zero,
                }),
            )?;
            return self.put_itimer(old, &v);
        }
        let v = host::itimer(which as i32, n.as_ref())?;
        self.put_itimer(old, &v)
    }

    fn put_itimer(&mut self, addr: u32, v: &libc::itimerval) -> SysResult {
        if addr != 0 {
            let mut o = Out::<16>::new();
            o.u32(0, v.it_interval.tv_sec as u32)
                .u32(4, v.it_interval.tv_usec as u32)
                .u32(8, v.it_value.tv_sec as u32)
                .u32(12, v.it_value.tv_usec as u32);
            self.write_mem(addr, &o.0)?;
        }
        Ok(0)
    }

    pub(super) fn sys_sigaltstack(&mut self, ss: u32, oss: u32) -> SysResult {
        let new = if ss != 0 {
            Some(self.read_array::<12>(ss)?)
        } else {
            None
        };
        if oss != 0 {
            let cur = self.sig.altstack;
            self.write_mem(oss, &cur)?;
        }
        if let Some(n) = new {
            self.sig.altstack = n;
        }
        Ok(0)
    }

    /// A signal the program sends itself (kill/tgkill/tkill of its own pid, raise, abort):
    /// pending now, delivered (or acted on) when the syscall returns, as Linux does.
    fn self_signal(&mut self, sig: i32, code: i32) -> SysResult {
        if sig == 0 {
            return Ok(0);
        }
        if sig == libc::SIGKILL {
            return Err(SysErr::Exit(Termination::Signaled { sig, report: None }));
        }
        let info = signal::Info {
            code,
            pid: host::getpid(),
            uid: host::int_call(libc::SYS_getuid, &[]).unwrap_or(0),
            ..Default::default()
        };
        self.sig.info.insert(sig, info);
        self.sig.pending |= bit(sig);
        Ok(0)
    }

    pub(super) fn sys_kill(&mut self, pid: u32, sig: u32) -> SysResult {
        if sig > abi::NSIG {
            return Err(Errno::EINVAL.into());
        }
        if pid == host::getpid() {
            return self.self_signal(sig as i32, 0);
        }
        Ok(host::int_call(
            libc::SYS_kill,
            &[libc::c_long::from(pid as i32), sig.into()],
        )?)
    }

    pub(super) fn sys_tgkill(&mut self, tgid: Option<u32>, tid: u32, sig: u32) -> SysResult {
        if sig > abi::NSIG || tid as i32 <= 0 || tgid.is_some_and(|g| g as i32 <= 0) {
            return Err(Errno::EINVAL.into());
        }
        let me = host::getpid();
        if tid == host::gettid() && tgid.is_none_or(|g| g == me) {
            // SI_TKILL.
            return self.self_signal(sig as i32, -6);
        }
        match tgid {
            Some(g) => Ok(host::int_call(
                libc::SYS_tgkill,
                &[g.into(), tid.into(), sig.into()],
            )?),
            None => Ok(host::int_call(libc::SYS_tkill, &[tid.into(), sig.into()])?),
        }
    }

    /// pause: until a signal is delivered (to a handler, or ending the program).
    pub(super) fn sys_pause(&mut self) -> SysResult {
        let mask = self.sig.mask;
        self.wait_for_signal(mask)
    }

    /// Sleep until a signal not in `mask` is pending; EINTR then (the delivery follows).
    pub(super) fn wait_for_signal(&mut self, mask: u64) -> SysResult {
        let old = std::mem::replace(&mut self.sig.mask, mask);
        loop {
            let ready = self.sig.pending | signal::take_host_pending_peek();
            if ready & !mask != 0 {
                break;
            }
            signal::wait_for_host_signal(self.sig.host_caught);
        }
        self.sig.mask = old;
        Err(Errno::EINTR.into())
    }

    pub(super) fn sys_prctl(&mut self, option: u32, arg2: u32) -> SysResult {
        match option as i32 {
            libc::PR_SET_NAME => {
                // Like strncpy_from_user(comm, arg2, 15): at most 15 bytes are taken.
                let mut name = [0u8; 16];
                let s = match self.read_cstr(arg2, 16) {
                    Ok(s) => s.into_bytes(),
                    Err(Errno::ENAMETOOLONG) => self.read_mem(arg2, 15)?,
                    Err(e) => return Err(e.into()),
                };
                let n = s.len().min(15);
                name[..n].copy_from_slice(&s[..n]);
                Ok(host::prctl_name(true, &mut name)?)
            }
            libc::PR_GET_NAME => {
                let mut name = [0u8; 16];
                host::prctl_name(false, &mut name)?;
                self.write_mem(arg2, &name)?;
                Ok(0)
            }
            libc::PR_GET_DUMPABLE | libc::PR_SET_DUMPABLE | libc::PR_SET_PDEATHSIG => Ok(
                host::int_call(libc::SYS_prctl, &[option.into(), arg2.into()])?,
            ),
            _ => {
                self.log.once(format!(
                    "unsupported prctl option {option}: returning -EINVAL"
                ));
                Err(Errno::EINVAL.into())
            }
        }
    }

    /// fork and vfork: the host's fork. For vfork the parent waits, as vfork's parent does,
    /// until the child has exec'd or exited (a close-on-exec pipe tells it).
    pub(super) fn sys_fork(&mut self) -> SysResult {
        self.sys_clone(libc::SIGCHLD as u32 | CLONE_VFORK, 0, 0, 0, 0)
    }

    /// clone for new processes (fork semantics; CLONE_VM only with CLONE_VFORK, as
    /// posix_spawn uses it). Threads are not supported.
    pub(super) fn sys_clone(
        &mut self,
        flags: u32,
        newsp: u32,
        ptid: u32,
        tls: u32,
        ctid: u32,
    ) -> SysResult {
        if flags & CLONE_THREAD != 0 || (flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0) {
            self.log
                .once("clone of a thread: threads are not supported".into());
            return Err(Errno::ENOSYS.into());
        }
        let tls_desc = if flags & CLONE_SETTLS != 0 {
            Some(UserDesc::parse(&self.read_array::<16>(tls)?))
        } else {
            None
        };
        // The parent waits on this close-on-exec pipe: for one byte, which the child writes
        // once it no longer shares the code cache, and for vfork until EOF, which comes when
        // the child exec's or exits.
        let [r, w] = host::pipe2(libc::O_CLOEXEC)?;
        let (r, w) = (host::move_high(r, 900)?, host::move_high(w, 900)?);
        let pid = match host::fork() {
            Ok(p) => p,
            Err(e) => {
                let _ = host::close(r);
                let _ = host::close(w);
                return Err(e.into());
            }
        };
        if pid == 0 {
            // Linux starts a child with no pending signals.
            signal::clear_host_pending();
            self.sig.pending = 0;
            self.sig.info.clear();
            let _ = host::close(r);
            if let Err(e) = self.m.after_fork_child() {
                eprintln!("xdbt: fork: cannot copy the code cache: {e}");
                std::process::exit(127);
            }
            let _ = host::write(w, b"x");
            if flags & CLONE_VFORK == 0 {
                let _ = host::close(w);
            }
            if newsp != 0 {
                self.m.cpu_mut().gpr[ESP] = newsp;
            }
            let me = host::gettid();
            if flags & CLONE_CHILD_SETTID != 0 {
                self.write_u32(ctid, me)?;
            }
            if flags & CLONE_PARENT_SETTID != 0 {
                self.write_u32(ptid, me)?;
            }
            self.clear_child_tid = if flags & CLONE_CHILD_CLEARTID != 0 {
                ctid
            } else {
                0
            };
            if let Some(u) = tls_desc {
                let idx = u.entry_number;
                if u.tls_okay() && (LINUX_TLS_MIN..LINUX_TLS_MIN + LINUX_TLS_ENTRIES).contains(&idx)
                {
                    self.install_tls(idx, &u);
                }
            }
            return Ok(0);
        }
        let _ = host::close(w);
        let mut b = [0u8; 1];
        loop {
            match host::read(r, &mut b) {
                Err(Errno::EINTR) => continue,
                Ok(1) if flags & CLONE_VFORK != 0 => continue,
                _ => break,
            }
        }
        let _ = host::close(r);
        if flags & CLONE_PARENT_SETTID != 0 {
            self.write_u32(ptid, pid)?;
        }
        Ok(pid)
    }

    /// execve: an i386 ELF program starts the runner again on it; anything else (a host
    /// program, a script) is exec'd by the host as it is.
    pub(super) fn sys_execve(&mut self, path: u32, argv: u32, envp: u32) -> SysResult {
        let path = self.path_arg(path)?;
        let args = self.read_str_array(argv)?;
        let env = self.read_str_array(envp)?;
        // What execve checks first: search and execute permission, a regular file.
        host::path_call(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            &path,
            &[libc::X_OK.into()],
        )?;
        let fd = host::openat(libc::AT_FDCWD, &path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
        let st = host::fstat(fd as i32);
        let mut head = [0u8; 20];
        let n = host::read(fd as i32, &mut head);
        let _ = host::close(fd as i32);
        if st?.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Errno::EACCES.into());
        }
        let n = n? as usize;
        let is_i386 =
            n >= 20 && head[..4] == *b"\x7fELF" && head[4] == 1 && abi::get_u16(&head, 18) == 3;
        if is_i386 {
            // Refuse here what the new runner would refuse, so that execve fails and this
            // program goes on, as with the kernel's ENOEXEC.
            let file = std::fs::read(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.as_bytes()),
            )
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
            if let Err(e) = super::elf::parse(&file) {
                self.log
                    .once(format!("execve of {}: {e}", path.to_string_lossy()));
                return Err(Errno(libc::ENOEXEC).into());
            }
        }
        let env_refs: Vec<&std::ffi::CStr> = env.iter().map(|s| s.as_c_str()).collect();
        if !is_i386 {
            let arg_refs: Vec<&std::ffi::CStr> = args.iter().map(|s| s.as_c_str()).collect();
            return Err(host::execve(&path, &arg_refs, &env_refs).into());
        }
        let Some(runner) = self.runner.clone() else {
            return Err(Errno(libc::ENOEXEC).into());
        };
        let runner = CString::new(runner.into_os_string().into_encoded_bytes())
            .map_err(|_| Errno(libc::ENOEXEC))?;
        let mut v: Vec<CString> = vec![runner.clone(), c"run-linux".into()];
        if self.log.strace {
            v.push(c"-vv".into());
        } else if self.log.verbose {
            v.push(c"-v".into());
        }
        let ign = self.ignored_signals();
        if ign != 0 {
            v.push(c"--sigign".into());
            v.push(CString::new(ign.to_string()).unwrap_or_default());
        }
        if let Some(a0) = args.first() {
            v.push(c"--argv0".into());
            v.push(a0.clone());
        }
        v.push(c"--".into());
        v.push(path);
        v.extend(args.iter().skip(1).cloned());
        let arg_refs: Vec<&std::ffi::CStr> = v.iter().map(|s| s.as_c_str()).collect();
        Err(host::execve(&runner, &arg_refs, &env_refs).into())
    }

    pub(super) fn sys_wait4(
        &mut self,
        pid: u32,
        status: u32,
        options: u32,
        rusage: u32,
    ) -> SysResult {
        if status != 0 {
            self.check_writable(status, 4)?;
        }
        let (r, st, ru) = host::wait4(pid as i32, options as i32)?;
        if r != 0 {
            if status != 0 {
                self.write_u32(status, st as u32)?;
            }
            if rusage != 0 {
                self.write_rusage(rusage, &ru)?;
            }
        }
        Ok(r)
    }
}
