//! The host system calls the Linux runner makes on the guest's behalf. Every pointer handed to
//! the host kernel here points into a host buffer owned by the caller (a slice or a local),
//! never into the guest window: guest memory is copied in and out through `GuestMemory`, so a
//! bad guest pointer is an EFAULT of ours, never a host fault.

use super::abi::Errno;
use std::ffi::CStr;

pub type Result<T> = core::result::Result<T, Errno>;

fn cvt(r: libc::c_long) -> Result<u32> {
    if r < 0 {
        Err(Errno::last())
    } else {
        // Results that reach the guest (counts, fds, offsets it asked to be 32-bit) fit
        // 32 bits: counts are bounded by the 32-bit buffers they describe.
        Ok(r as u32)
    }
}

fn cvt64(r: libc::c_long) -> Result<i64> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// A raw host system call with integer (non-pointer) arguments only.
fn sys_int(nr: libc::c_long, a: &[libc::c_long]) -> libc::c_long {
    let g = |i: usize| a.get(i).copied().unwrap_or(0);
    // SAFETY: callers pass only integer arguments (fds, flags, ids, sizes) for syscalls that
    // take no pointer in those positions, so the kernel touches no memory of ours.
    unsafe { libc::syscall(nr, g(0), g(1), g(2), g(3), g(4), g(5)) }
}

pub fn read(fd: i32, buf: &mut [u8]) -> Result<u32> {
    // SAFETY: `buf` is a live, writable slice of exactly `buf.len()` bytes.
    cvt(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long)
}

pub fn write(fd: i32, buf: &[u8]) -> Result<u32> {
    // SAFETY: `buf` is a live slice of exactly `buf.len()` bytes.
    cvt(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) } as libc::c_long)
}

pub fn pread(fd: i32, buf: &mut [u8], off: i64) -> Result<u32> {
    // SAFETY: as in `read`.
    cvt(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) } as libc::c_long)
}

pub fn pwrite(fd: i32, buf: &[u8], off: i64) -> Result<u32> {
    // SAFETY: as in `write`.
    cvt(unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off) } as libc::c_long)
}

pub fn openat(dirfd: i32, path: &CStr, flags: i32, mode: u32) -> Result<u32> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::openat(dirfd, path.as_ptr(), flags, mode) }.into())
}

pub fn close(fd: i32) -> Result<u32> {
    cvt(sys_int(libc::SYS_close, &[fd.into()]))
}

pub fn lseek(fd: i32, off: i64, whence: i32) -> Result<i64> {
    cvt64(sys_int(libc::SYS_lseek, &[fd.into(), off, whence.into()]))
}

/// `struct stat` of the host (x86-64 layout), converted by `abi` for the guest.
pub fn fstatat(dirfd: i32, path: &CStr, flags: i32) -> Result<libc::stat> {
    // SAFETY: libc::stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated; `st` is a local the kernel fills.
    let r = unsafe { libc::fstatat(dirfd, path.as_ptr(), &mut st, flags) };
    cvt(r.into()).map(|_| st)
}

pub fn fstat(fd: i32) -> Result<libc::stat> {
    fstatat(fd, c"", libc::AT_EMPTY_PATH)
}

/// statx(2) into its fixed 256-byte `struct statx`, whose layout is the same on i386.
pub fn statx(dirfd: i32, path: &CStr, flags: i32, mask: u32, out: &mut [u8; 256]) -> Result<u32> {
    // SAFETY: `path` is NUL-terminated; `out` is 256 writable bytes, sizeof(struct statx).
    let r = unsafe {
        libc::syscall(
            libc::SYS_statx,
            dirfd,
            path.as_ptr(),
            flags,
            mask,
            out.as_mut_ptr(),
        )
    };
    cvt(r)
}

pub fn readlinkat(dirfd: i32, path: &CStr, buf: &mut [u8]) -> Result<u32> {
    // SAFETY: `path` is NUL-terminated; `buf` is writable for its length.
    let r = unsafe { libc::readlinkat(dirfd, path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    cvt(r as libc::c_long)
}

pub fn getcwd(buf: &mut [u8]) -> Result<u32> {
    // SAFETY: `buf` is writable for its length. The raw syscall returns the length stored.
    cvt(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })
}

/// Path syscalls `(dirfd, path, ints...)` such as mkdirat, unlinkat, faccessat, fchmodat,
/// fchownat (at most three integers after the path).
pub fn path_call(nr: libc::c_long, dirfd: i32, path: &CStr, ints: &[libc::c_long]) -> Result<u32> {
    let g = |i: usize| ints.get(i).copied().unwrap_or(0);
    // SAFETY: the only pointer is `path`, NUL-terminated; the caller picks `nr` among
    // syscalls whose remaining arguments are integers.
    cvt(unsafe { libc::syscall(nr, dirfd, path.as_ptr(), g(0), g(1), g(2)) })
}

/// Two-path syscalls `(olddirfd, old, newdirfd, new, flags)`: renameat2, linkat.
pub fn path2_call(
    nr: libc::c_long,
    d1: i32,
    p1: &CStr,
    d2: i32,
    p2: &CStr,
    flags: i32,
) -> Result<u32> {
    // SAFETY: both paths are NUL-terminated; `nr` takes exactly these arguments.
    cvt(unsafe { libc::syscall(nr, d1, p1.as_ptr(), d2, p2.as_ptr(), flags) })
}

pub fn symlinkat(target: &CStr, dirfd: i32, path: &CStr) -> Result<u32> {
    // SAFETY: both paths are NUL-terminated.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dirfd, path.as_ptr()) }.into())
}

pub fn chdir(path: &CStr) -> Result<u32> {
    // SAFETY: `path` is NUL-terminated.
    cvt(unsafe { libc::chdir(path.as_ptr()) }.into())
}

pub fn utimensat(
    dirfd: i32,
    path: Option<&CStr>,
    times: Option<&[libc::timespec; 2]>,
    flags: i32,
) -> Result<u32> {
    let p = path.map_or(core::ptr::null(), CStr::as_ptr);
    let t = times.map_or(core::ptr::null(), |t| t.as_ptr());
    // SAFETY: `p` is null or NUL-terminated; `t` is null or two timespecs of ours.
    cvt(unsafe { libc::syscall(libc::SYS_utimensat, dirfd, p, t, flags) })
}

pub fn truncate(path: &CStr, len: i64) -> Result<u32> {
    // SAFETY: `path` is NUL-terminated.
    cvt(unsafe { libc::truncate(path.as_ptr(), len) }.into())
}

/// Integer-only syscalls passed through as they are (dup, fchmod, fsync, ...). The caller
/// vouches that `nr` takes no pointer.
pub fn int_call(nr: libc::c_long, a: &[libc::c_long]) -> Result<u32> {
    cvt(sys_int(nr, a))
}

pub fn int_call64(nr: libc::c_long, a: &[libc::c_long]) -> Result<i64> {
    cvt64(sys_int(nr, a))
}

pub fn pipe2(flags: i32) -> Result<[i32; 2]> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is two writable ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) }.into()).map(|_| fds)
}

pub fn getdents64(fd: i32, buf: &mut [u8]) -> Result<u32> {
    // SAFETY: `buf` is writable for its length.
    cvt(unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) })
}

pub fn getrandom(buf: &mut [u8], flags: u32) -> Result<u32> {
    // SAFETY: `buf` is writable for its length.
    cvt(unsafe { libc::syscall(libc::SYS_getrandom, buf.as_mut_ptr(), buf.len(), flags) })
}

/// An ioctl whose argument is a buffer of ours (in, out or both).
pub fn ioctl_buf(fd: i32, req: u32, buf: &mut [u8]) -> Result<u32> {
    // SAFETY: the caller matched `req` to an ioctl whose argument is a structure of exactly
    // `buf.len()` bytes; `buf` is a live writable slice of that size.
    cvt(unsafe { libc::ioctl(fd, libc::c_ulong::from(req), buf.as_mut_ptr()) }.into())
}

pub fn clock_gettime(clock: i32) -> Result<libc::timespec> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a local timespec.
    cvt(unsafe { libc::clock_gettime(clock, &mut t) }.into()).map(|_| t)
}

pub fn clock_getres(clock: i32) -> Result<libc::timespec> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a local timespec.
    cvt(unsafe { libc::clock_getres(clock, &mut t) }.into()).map(|_| t)
}

/// clock_nanosleep; on EINTR with a relative sleep, the remaining time comes back in `rem`.
pub fn clock_nanosleep(
    clock: i32,
    flags: i32,
    req: &libc::timespec,
    rem: &mut libc::timespec,
) -> Result<u32> {
    // SAFETY: `req` and `rem` are timespecs of ours. Returns an errno, not -1.
    let r = unsafe { libc::clock_nanosleep(clock, flags, req, rem) };
    if r != 0 {
        Err(Errno(r))
    } else {
        Ok(0)
    }
}

pub fn poll(fds: &mut [u8], nfds: u32, timeout_ms: i32) -> Result<u32> {
    // SAFETY: `fds` holds `nfds` 8-byte `struct pollfd`s (the same layout on i386 and
    // x86-64), checked by the caller.
    cvt(unsafe {
        libc::poll(
            fds.as_mut_ptr().cast(),
            libc::nfds_t::from(nfds),
            timeout_ms,
        )
    }
    .into())
}

pub fn ppoll(fds: &mut [u8], nfds: u32, timeout: Option<&libc::timespec>) -> Result<u32> {
    let t = timeout.map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: as in `poll`; `t` is null or a timespec of ours; no signal mask is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            fds.as_mut_ptr(),
            libc::c_ulong::from(nfds),
            t,
            0usize,
            8usize,
        )
    };
    cvt(r)
}

/// select on three `fd_set` bitmaps of ours (the bit layout is the same on i386 and x86-64
/// as long as the arrays are a multiple of 8 bytes, which the caller pads them to).
pub fn select(
    nfds: i32,
    sets: &mut [Option<Vec<u8>>; 3],
    timeout: Option<&mut libc::timespec>,
) -> Result<u32> {
    let p = |s: &mut Option<Vec<u8>>| s.as_mut().map_or(core::ptr::null_mut(), |v| v.as_mut_ptr());
    let [r, w, e] = sets;
    let t = timeout.map_or(core::ptr::null_mut(), |t| t as *mut libc::timespec);
    // SAFETY: each set is null or a buffer of ours of at least ceil(nfds/64)*8 bytes; `t` is
    // null or a timespec of ours (pselect6 updates it); no signal mask is passed.
    let res = unsafe {
        libc::syscall(
            libc::SYS_pselect6,
            nfds,
            p(r),
            p(w),
            p(e),
            t,
            core::ptr::null::<u8>(),
        )
    };
    cvt(res)
}

pub fn uname() -> Result<libc::utsname> {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut u: libc::utsname = unsafe { core::mem::zeroed() };
    // SAFETY: `u` is a local utsname.
    cvt(unsafe { libc::uname(&mut u) }.into()).map(|_| u)
}

pub fn prlimit(pid: i32, res: u32, new: Option<&[u64; 2]>, old: &mut [u64; 2]) -> Result<u32> {
    let n = new.map_or(core::ptr::null(), |n| n.as_ptr());
    // SAFETY: `struct rlimit64` is two u64s; `n` is null or ours, `old` is ours.
    cvt(unsafe { libc::syscall(libc::SYS_prlimit64, pid, res, n, old.as_mut_ptr()) })
}

pub fn sched_getaffinity(pid: i32, buf: &mut [u8]) -> Result<u32> {
    // SAFETY: `buf` is writable for its length (a multiple of 8 as the host requires).
    cvt(unsafe {
        libc::syscall(
            libc::SYS_sched_getaffinity,
            pid,
            buf.len(),
            buf.as_mut_ptr(),
        )
    })
}

pub fn wait4(pid: i32, options: i32) -> Result<(u32, i32, libc::rusage)> {
    let mut status = 0i32;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: `status` and `ru` are locals.
    let r = unsafe { libc::wait4(pid, &mut status, options, &mut ru) };
    cvt(r.into()).map(|p| (p, status, ru))
}

pub fn sysinfo() -> Result<libc::sysinfo> {
    // SAFETY: sysinfo is plain old data; all-zero is a valid value.
    let mut si: libc::sysinfo = unsafe { core::mem::zeroed() };
    // SAFETY: `si` is a local.
    cvt(unsafe { libc::sysinfo(&mut si) }.into()).map(|_| si)
}

pub fn times() -> Result<(i64, libc::tms)> {
    let mut t = libc::tms {
        tms_utime: 0,
        tms_stime: 0,
        tms_cutime: 0,
        tms_cstime: 0,
    };
    // SAFETY: `t` is a local.
    let r = unsafe { libc::times(&mut t) };
    cvt64(r).map(|c| (c, t))
}

pub fn getrusage(who: i32) -> Result<libc::rusage> {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: `ru` is a local.
    cvt(unsafe { libc::getrusage(who, &mut ru) }.into()).map(|_| ru)
}

pub fn fcntl_lock(fd: i32, cmd: i32, fl: &mut libc::flock) -> Result<u32> {
    // SAFETY: `cmd` is one of the F_*LK commands, whose argument is a `struct flock`; `fl` is
    // ours.
    cvt(unsafe { libc::fcntl(fd, cmd, fl as *mut libc::flock) }.into())
}

pub fn sendfile(out: i32, inp: i32, off: Option<&mut i64>, count: usize) -> Result<u32> {
    let o = off.map_or(core::ptr::null_mut(), |o| o as *mut i64);
    // SAFETY: `o` is null or an offset of ours; no other memory is involved.
    cvt(unsafe { libc::sendfile(out, inp, o, count) } as libc::c_long)
}

/// statfs/fstatfs as the x86-64 kernel returns `struct statfs`: 15 64-bit words (f_type,
/// f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_fsid, f_namelen, f_frsize,
/// f_flags, f_spare[4]).
pub fn statfs(path: Option<&CStr>, fd: i32) -> Result<[u64; 15]> {
    let mut s = [0u64; 15];
    let r = match path {
        // SAFETY: `p` is NUL-terminated; `s` is 120 writable bytes, sizeof(struct statfs).
        Some(p) => unsafe { libc::syscall(libc::SYS_statfs, p.as_ptr(), s.as_mut_ptr()) },
        // SAFETY: as above.
        None => unsafe { libc::syscall(libc::SYS_fstatfs, fd, s.as_mut_ptr()) },
    };
    cvt(r).map(|_| s)
}

pub fn fork() -> Result<u32> {
    // SAFETY: the runner is single-threaded while it runs a guest, so the child gets a
    // consistent copy of everything (window, translations, runner state).
    cvt(unsafe { libc::fork() }.into())
}

/// Replace this process image; returns only on failure.
pub fn execve(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> Errno {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(core::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(core::ptr::null());
    // SAFETY: `path` and every string are NUL-terminated and outlive the call; both arrays
    // are NULL-terminated.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    Errno::last()
}

/// Set a host signal's disposition to SIG_DFL or SIG_IGN.
pub fn set_disposition(sig: i32, ignore: bool) {
    let h = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: SIG_DFL and SIG_IGN install no handler code.
    unsafe { libc::signal(sig, h) };
}

/// End this process by `sig` the way the kernel would for an unhandled signal: default
/// action, unblocked, no core file. Falls back to exit status 128+sig.
pub fn die_by_signal(sig: i32) -> ! {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `no_core` is a local rlimit; setrlimit only reads it.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    set_disposition(sig, false);
    // SAFETY: `set` is a local sigset_t initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
    }
    // SAFETY: plain syscalls on our own pid.
    unsafe {
        libc::kill(libc::getpid(), sig);
    }
    std::process::exit(128 + sig)
}

pub fn getpid() -> u32 {
    sys_int(libc::SYS_getpid, &[]) as u32
}

pub fn gettid() -> u32 {
    sys_int(libc::SYS_gettid, &[]) as u32
}

/// Wait for a signal (one that kills us, in practice: the runner installs no handlers that
/// return to here for guest purposes).
pub fn pause() {
    // SAFETY: pause takes no arguments and touches no memory.
    unsafe { libc::pause() };
}

/// getresuid (`gid == false`) or getresgid.
pub fn getres(gid: bool) -> Result<[u32; 3]> {
    let mut v = [0u32; 3];
    let [a, b, c] = &mut v;
    // SAFETY: three distinct locals the call fills.
    let r = unsafe {
        if gid {
            libc::getresgid(a, b, c)
        } else {
            libc::getresuid(a, b, c)
        }
    };
    cvt(r.into()).map(|_| v)
}

pub fn getgroups(max: usize) -> Result<Vec<u32>> {
    let mut v = vec![0u32; max];
    // SAFETY: `v` has room for `max` gids.
    let n = unsafe { libc::getgroups(max as i32, v.as_mut_ptr()) };
    cvt(n.into()).map(|n| {
        v.truncate(n as usize);
        v
    })
}

/// prctl(PR_SET_NAME) / prctl(PR_GET_NAME) with a 16-byte buffer of ours.
pub fn prctl_name(set: bool, name: &mut [u8; 16]) -> Result<u32> {
    let op = if set {
        libc::PR_SET_NAME
    } else {
        libc::PR_GET_NAME
    };
    // SAFETY: both options take a pointer to a 16-byte buffer; `name` is one.
    cvt(unsafe { libc::prctl(op, name.as_mut_ptr()) }.into())
}

pub fn sched_getcpu() -> Result<u32> {
    // SAFETY: no arguments.
    cvt(unsafe { libc::sched_getcpu() }.into())
}

/// True if the host disposition of `sig` is SIG_IGN (inherited across exec).
pub fn is_ignored(sig: i32) -> bool {
    // SAFETY: sigaction is plain old data; all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: a query only (null new action); `old` is a local.
    let r = unsafe { libc::sigaction(sig, core::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_IGN
}

/// Move a descriptor of the runner's out of the range programs use (F_DUPFD_CLOEXEC from
/// `min`), closing the original; it stays where it is if the fd limit is lower.
pub fn move_high(fd: i32, min: i32) -> Result<i32> {
    match int_call(
        libc::SYS_fcntl,
        &[fd.into(), libc::F_DUPFD_CLOEXEC.into(), min.into()],
    ) {
        Ok(n) => {
            let _ = close(fd);
            Ok(n as i32)
        }
        Err(_) => Ok(fd),
    }
}

/// setitimer (with `new`) or getitimer (without); the timer's previous value comes back.
pub fn itimer(which: i32, new: Option<&libc::itimerval>) -> Result<libc::itimerval> {
    let zero = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut old = libc::itimerval {
        it_interval: zero,
        it_value: zero,
    };
    let r = match new {
        // SAFETY: `n` and `old` are itimervals of ours.
        Some(n) => unsafe {
            libc::syscall(
                libc::SYS_setitimer,
                which,
                n as *const libc::itimerval,
                &mut old as *mut libc::itimerval,
            )
        },
        // SAFETY: `old` is an itimerval of ours.
        None => unsafe {
            libc::syscall(libc::SYS_getitimer, which, &mut old as *mut libc::itimerval)
        },
    };
    cvt(r).map(|_| old)
}
