//! The i386 system call table: number -> handler. Arguments arrive in EBX ECX EDX ESI EDI
//! EBP as `a[0..6]`; the result goes to EAX (-errno on failure). Handlers live in
//! [`super::fs`] (files and descriptors), [`super::vm`] (memory) and [`super::process`]
//! (everything else). Numbers with no handler return -ENOSYS, logged once with `-v`.

use super::abi::{Errno, TimeAbi};
use super::sysno::Sysno;
use super::{Process, SysResult};

/// `name(args)` for logs.
pub fn describe(nr: u32, a: &[u32; 6]) -> String {
    let name =
        Sysno::from_u32(nr).map_or_else(|| format!("syscall_{nr}"), |s| s.name().to_string());
    format!(
        "{name}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})",
        a[0], a[1], a[2], a[3], a[4], a[5]
    )
}

impl Process {
    pub(super) fn dispatch(&mut self, nr: u32, a: [u32; 6]) -> SysResult {
        use Sysno::*;
        let Some(s) = Sysno::from_u32(nr) else {
            return self.nosys(nr);
        };
        let [a0, a1, a2, a3, a4, a5] = a;
        match s {
            // Files and descriptors.
            read => self.sys_read(a0, a1, a2),
            write => self.sys_write(a0, a1, a2),
            readv => self.sys_readv(a0, a1, a2),
            writev => self.sys_writev(a0, a1, a2),
            pread64 => self.sys_pread64(a0, a1, a2, u64::from(a3) | (u64::from(a4) << 32)),
            pwrite64 => self.sys_pwrite64(a0, a1, a2, u64::from(a3) | (u64::from(a4) << 32)),
            open => self.sys_openat(super::fs::AT_FDCWD, a0, a1, a2),
            openat => self.sys_openat(a0, a1, a2, a3),
            creat => self.sys_openat(
                super::fs::AT_FDCWD,
                a0,
                (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32,
                a1,
            ),
            close => self.sys_close(a0),
            close_range => self.sys_close_range(a0, a1, a2),
            lseek => self.sys_lseek(a0, a1, a2),
            _llseek => self.sys_llseek(a0, a1, a2, a3, a4),
            stat => self.sys_stat32(super::fs::AT_FDCWD, Some(a0), a1, 0),
            lstat => self.sys_stat32(super::fs::AT_FDCWD, Some(a0), a1, libc::AT_SYMLINK_NOFOLLOW),
            fstat => self.sys_stat32(a0, None, a1, 0),
            stat64 => self.sys_stat64(super::fs::AT_FDCWD, Some(a0), a1, 0),
            lstat64 => self.sys_stat64(
                super::fs::AT_FDCWD,
                Some(a0),
                a1,
                libc::AT_SYMLINK_NOFOLLOW as u32,
            ),
            fstat64 => self.sys_stat64(a0, None, a1, 0),
            fstatat64 => self.sys_stat64(a0, Some(a1), a2, a3),
            statx => self.sys_statx(a0, a1, a2, a3, a4),
            statfs64 => self.sys_statfs64(Some(a0), None, a1, a2),
            fstatfs64 => self.sys_statfs64(None, Some(a0), a1, a2),
            access => self.sys_faccessat(super::fs::AT_FDCWD, a0, a1, 0),
            faccessat => self.sys_faccessat(a0, a1, a2, 0),
            faccessat2 => self.sys_faccessat(a0, a1, a2, a3),
            readlink => self.sys_readlinkat(super::fs::AT_FDCWD, a0, a1, a2),
            readlinkat => self.sys_readlinkat(a0, a1, a2, a3),
            getcwd => self.sys_getcwd(a0, a1),
            chdir => self.sys_chdir(a0),
            fchdir => self.sys_fd_int(libc::SYS_fchdir, a0, &[]),
            dup => self.sys_dup(a0),
            dup2 => self.sys_dup3(a0, a1, 0, true),
            dup3 => self.sys_dup3(a0, a1, a2, false),
            pipe => self.sys_pipe2(a0, 0),
            pipe2 => self.sys_pipe2(a0, a1),
            fcntl => self.sys_fcntl(a0, a1, a2, false),
            fcntl64 => self.sys_fcntl(a0, a1, a2, true),
            getdents64 => self.sys_getdents64(a0, a1, a2),
            unlink => self.sys_path_int(libc::SYS_unlinkat, super::fs::AT_FDCWD, a0, 0, 0),
            unlinkat => self.sys_path_int(libc::SYS_unlinkat, a0, a1, a2, 0),
            rmdir => self.sys_path_int(
                libc::SYS_unlinkat,
                super::fs::AT_FDCWD,
                a0,
                libc::AT_REMOVEDIR as u32,
                0,
            ),
            mkdir => self.sys_path_int(libc::SYS_mkdirat, super::fs::AT_FDCWD, a0, a1, 0),
            mkdirat => self.sys_path_int(libc::SYS_mkdirat, a0, a1, a2, 0),
            mknod => self.sys_path_int(libc::SYS_mknodat, super::fs::AT_FDCWD, a0, a1, a2),
            mknodat => self.sys_path_int(libc::SYS_mknodat, a0, a1, a2, a3),
            chmod => self.sys_path_int(libc::SYS_fchmodat, super::fs::AT_FDCWD, a0, a1, 0),
            fchmodat => self.sys_path_int(libc::SYS_fchmodat, a0, a1, a2, 0),
            fchmod => self.sys_fd_int(libc::SYS_fchmod, a0, &[a1.into()]),
            chown32 => self.sys_fchownat(super::fs::AT_FDCWD, a0, a1, a2, 0),
            lchown32 => self.sys_fchownat(
                super::fs::AT_FDCWD,
                a0,
                a1,
                a2,
                libc::AT_SYMLINK_NOFOLLOW as u32,
            ),
            fchownat => self.sys_fchownat(a0, a1, a2, a3, a4),
            fchown32 => self.sys_fd_int(libc::SYS_fchown, a0, &[id32(a1), id32(a2)]),
            chown => self.sys_fchownat(super::fs::AT_FDCWD, a0, id16(a1), id16(a2), 0),
            lchown => self.sys_fchownat(
                super::fs::AT_FDCWD,
                a0,
                id16(a1),
                id16(a2),
                libc::AT_SYMLINK_NOFOLLOW as u32,
            ),
            fchown => self.sys_fd_int(libc::SYS_fchown, a0, &[id32(id16(a1)), id32(id16(a2))]),
            rename => self.sys_rename(super::fs::AT_FDCWD, a0, super::fs::AT_FDCWD, a1, 0),
            renameat => self.sys_rename(a0, a1, a2, a3, 0),
            renameat2 => self.sys_rename(a0, a1, a2, a3, a4),
            link => self.sys_link(super::fs::AT_FDCWD, a0, super::fs::AT_FDCWD, a1, 0),
            linkat => self.sys_link(a0, a1, a2, a3, a4),
            symlink => self.sys_symlinkat(a0, super::fs::AT_FDCWD, a1),
            symlinkat => self.sys_symlinkat(a0, a1, a2),
            umask => self.sys_int(libc::SYS_umask, &[a0.into()]),
            truncate => self.sys_truncate(a0, i64::from(a1 as i32)),
            truncate64 => self.sys_truncate(a0, (u64::from(a1) | (u64::from(a2) << 32)) as i64),
            ftruncate => self.sys_fd_int(libc::SYS_ftruncate, a0, &[i64::from(a1 as i32)]),
            ftruncate64 => self.sys_fd_int(
                libc::SYS_ftruncate,
                a0,
                &[(u64::from(a1) | (u64::from(a2) << 32)) as i64],
            ),
            fsync => self.sys_fd_int(libc::SYS_fsync, a0, &[]),
            fdatasync => self.sys_fd_int(libc::SYS_fdatasync, a0, &[]),
            sync => self.sys_int(libc::SYS_sync, &[]),
            syncfs => self.sys_fd_int(libc::SYS_syncfs, a0, &[]),
            flock => self.sys_fd_int(libc::SYS_flock, a0, &[a1.into()]),
            fadvise64 | fadvise64_64 => self
                .sys_fd_int(libc::SYS_fcntl, a0, &[libc::F_GETFD.into()])
                .map(|_| 0),
            fallocate => self.sys_fd_int(
                libc::SYS_fallocate,
                a0,
                &[
                    a1.into(),
                    (u64::from(a2) | (u64::from(a3) << 32)) as i64,
                    (u64::from(a4) | (u64::from(a5) << 32)) as i64,
                ],
            ),
            utimensat => self.sys_utimensat(a0, a1, a2, a3, TimeAbi::Old32),
            utimensat_time64 => self.sys_utimensat(a0, a1, a2, a3, TimeAbi::Time64),
            ioctl => self.sys_ioctl(a0, a1, a2),
            poll => self.sys_poll(a0, a1, Some(a2 as i32), None),
            ppoll => self.sys_poll(a0, a1, None, Some((a2, TimeAbi::Old32))),
            ppoll_time64 => self.sys_poll(a0, a1, None, Some((a2, TimeAbi::Time64))),
            _newselect => self.sys_select(a0, [a1, a2, a3], a4, false),
            pselect6 => self.sys_select(a0, [a1, a2, a3], a4, true),
            pselect6_time64 => self.sys_pselect_time64(a0, [a1, a2, a3], a4),
            sendfile => self.sys_sendfile(a0, a1, a2, a3, false),
            sendfile64 => self.sys_sendfile(a0, a1, a2, a3, true),

            // Memory.
            brk => Ok(self.mm.set_brk(&mut self.m.mem, a0)),
            mmap => self.sys_old_mmap(a0),
            mmap2 => self.sys_mmap(a0, a1, a2, a3, a4, u64::from(a5) << 12),
            munmap => self.sys_munmap(a0, a1),
            mprotect => self.sys_mprotect(a0, a1, a2),
            mremap => self.sys_mremap(a0, a1, a2, a3, a4),
            madvise | msync | mlock | munlock | mlockall | munlockall | mlock2 => Ok(0),

            // Process, identity, time, signals.
            exit | exit_group => self.sys_exit(a0),
            getpid => Ok(super::host::getpid()),
            gettid => Ok(super::host::gettid()),
            getppid => self.sys_int(libc::SYS_getppid, &[]),
            getuid32 => self.sys_int(libc::SYS_getuid, &[]),
            geteuid32 => self.sys_int(libc::SYS_geteuid, &[]),
            getgid32 => self.sys_int(libc::SYS_getgid, &[]),
            getegid32 => self.sys_int(libc::SYS_getegid, &[]),
            getuid => self.sys_id16(libc::SYS_getuid),
            geteuid => self.sys_id16(libc::SYS_geteuid),
            getgid => self.sys_id16(libc::SYS_getgid),
            getegid => self.sys_id16(libc::SYS_getegid),
            getresuid32 => self.sys_getres(libc::SYS_getresuid, [a0, a1, a2]),
            getresgid32 => self.sys_getres(libc::SYS_getresgid, [a0, a1, a2]),
            getgroups32 => self.sys_getgroups(a0, a1),
            setuid32 => self.sys_int(libc::SYS_setuid, &[id32(a0)]),
            setgid32 => self.sys_int(libc::SYS_setgid, &[id32(a0)]),
            setreuid32 => self.sys_int(libc::SYS_setreuid, &[id32(a0), id32(a1)]),
            setregid32 => self.sys_int(libc::SYS_setregid, &[id32(a0), id32(a1)]),
            setresuid32 => self.sys_int(libc::SYS_setresuid, &[id32(a0), id32(a1), id32(a2)]),
            setresgid32 => self.sys_int(libc::SYS_setresgid, &[id32(a0), id32(a1), id32(a2)]),
            setpgid => self.sys_int(libc::SYS_setpgid, &[a0.into(), a1.into()]),
            getpgid => self.sys_int(libc::SYS_getpgid, &[a0.into()]),
            getpgrp => self.sys_int(libc::SYS_getpgid, &[0]),
            setsid => self.sys_int(libc::SYS_setsid, &[]),
            getsid => self.sys_int(libc::SYS_getsid, &[a0.into()]),
            uname => self.sys_uname(a0),
            time => self.sys_time(a0),
            gettimeofday => self.sys_gettimeofday(a0, a1),
            clock_gettime => self.sys_clock_gettime(a0, a1, TimeAbi::Old32, false),
            clock_gettime64 => self.sys_clock_gettime(a0, a1, TimeAbi::Time64, false),
            clock_getres => self.sys_clock_gettime(a0, a1, TimeAbi::Old32, true),
            clock_getres_time64 => self.sys_clock_gettime(a0, a1, TimeAbi::Time64, true),
            nanosleep => {
                self.sys_clock_nanosleep(libc::CLOCK_MONOTONIC as u32, 0, a0, a1, TimeAbi::Old32)
            }
            clock_nanosleep => self.sys_clock_nanosleep(a0, a1, a2, a3, TimeAbi::Old32),
            clock_nanosleep_time64 => self.sys_clock_nanosleep(a0, a1, a2, a3, TimeAbi::Time64),
            times => self.sys_times(a0),
            getrusage => self.sys_getrusage(a0, a1),
            sysinfo => self.sys_sysinfo(a0),
            getrlimit => self.sys_getrlimit(a0, a1, true),
            ugetrlimit => self.sys_getrlimit(a0, a1, false),
            setrlimit => self.sys_setrlimit(a0, a1),
            prlimit64 => self.sys_prlimit64(a0, a1, a2, a3),
            getrandom => self.sys_getrandom(a0, a1, a2),
            sched_getaffinity => self.sys_sched_getaffinity(a0, a1, a2),
            sched_yield => Ok(0),
            getpriority => self.sys_int(libc::SYS_getpriority, &[a0.into(), a1.into()]),
            setpriority => self.sys_int(libc::SYS_setpriority, &[a0.into(), a1.into(), id32(a2)]),
            sched_getscheduler => self.sys_int(libc::SYS_sched_getscheduler, &[a0.into()]),
            sched_get_priority_max => self.sys_int(libc::SYS_sched_get_priority_max, &[a0.into()]),
            sched_get_priority_min => self.sys_int(libc::SYS_sched_get_priority_min, &[a0.into()]),
            setfsuid32 => self.sys_int(libc::SYS_setfsuid, &[id32(a0)]),
            setfsgid32 => self.sys_int(libc::SYS_setfsgid, &[id32(a0)]),
            getcpu => self.sys_getcpu(a0, a1),
            set_thread_area => self.sys_set_thread_area(a0),
            get_thread_area => self.sys_get_thread_area(a0),
            set_tid_address => {
                self.clear_child_tid = a0;
                Ok(super::host::gettid())
            }
            set_robust_list => {
                if a1 == 12 {
                    Ok(0)
                } else {
                    Err(Errno::EINVAL.into())
                }
            }
            futex => self.sys_futex(a0, a1, a2, a3, a4, a5, TimeAbi::Old32),
            futex_time64 => self.sys_futex(a0, a1, a2, a3, a4, a5, TimeAbi::Time64),
            rt_sigaction => self.sys_rt_sigaction(a0, a1, a2, a3),
            rt_sigprocmask => self.sys_rt_sigprocmask(a0, a1, a2, a3),
            sigaltstack => self.sys_sigaltstack(a0, a1),
            rt_sigreturn => self.sys_rt_sigreturn(),
            sigreturn => self.sys_sigreturn(),
            rt_sigsuspend => self.sys_rt_sigsuspend(a0, a1),
            rt_sigpending => self.sys_rt_sigpending(a0, a1),
            setitimer => self.sys_itimer(a0, Some(a1), a2),
            getitimer => self.sys_itimer(a0, None, a1),
            kill => self.sys_kill(a0, a1),
            tkill => self.sys_tgkill(None, a0, a1),
            tgkill => self.sys_tgkill(Some(a0), a1, a2),
            pause => self.sys_pause(),
            alarm => self.sys_int(libc::SYS_alarm, &[a0.into()]),
            personality => Ok(0),
            prctl => self.sys_prctl(a0, a1),
            fork | vfork => self.sys_fork(),
            clone => self.sys_clone(a0, a1, a2, a3, a4),
            execve => self.sys_execve(a0, a1, a2),
            wait4 => self.sys_wait4(a0, a1, a2, a3),
            waitpid => self.sys_wait4(a0, a1, a2, 0),
            _ => self.nosys(nr),
        }
    }

    fn nosys(&mut self, nr: u32) -> SysResult {
        let name = Sysno::from_u32(nr)
            .map_or_else(|| format!("#{nr}"), |s| format!("{} (#{nr})", s.name()));
        self.log
            .once(format!("unsupported syscall {name}: returning -ENOSYS"));
        Err(Errno::ENOSYS.into())
    }

    /// A pass-through of a host syscall that takes integers only.
    pub(super) fn sys_int(&mut self, nr: libc::c_long, a: &[libc::c_long]) -> SysResult {
        Ok(super::host::int_call(nr, a)?)
    }
}

/// A 32-bit uid/gid argument, sign-extended so that -1 ("unchanged") stays -1.
fn id32(v: u32) -> libc::c_long {
    libc::c_long::from(v as i32)
}

/// A 16-bit uid/gid argument of the legacy calls, widened as `low2highuid` does.
fn id16(v: u32) -> u32 {
    if v as u16 == 0xffff {
        u32::MAX
    } else {
        v & 0xffff
    }
}
