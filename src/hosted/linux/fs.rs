//! File and descriptor system calls (fs/read_write.c, fs/open.c, fs/stat.c, fs/namei.c,
//! fs/fcntl.c, fs/select.c). Guest fds are host fds; data moves through host buffers.

use super::abi::{self, get_u32, get_u64, Errno, Out, TimeAbi};
use super::host;
use super::{Process, SysResult, MAX_RW_COUNT};
use std::ffi::{CStr, CString};

/// AT_FDCWD as the guest passes it (-100).
pub const AT_FDCWD: u32 = libc::AT_FDCWD as u32;

/// ioctl requests passed to the host, with the size of the structure they move: the tty
/// and file ioctls whose layouts are the same on i386 and x86-64 (asm-generic/ioctls.h).
const IOCTL_BUF: &[(u32, usize)] = &[
    (libc::TCGETS as u32, 36),
    (libc::TCSETS as u32, 36),
    (libc::TCSETSW as u32, 36),
    (libc::TCSETSF as u32, 36),
    (libc::TIOCGWINSZ as u32, 8),
    (libc::TIOCSWINSZ as u32, 8),
    (libc::TIOCGPGRP as u32, 4),
    (libc::TIOCSPGRP as u32, 4),
    (libc::FIONREAD as u32, 4),
    (libc::FIONBIO as u32, 4),
    (libc::TIOCGSID as u32, 4),
];
/// ioctl requests whose argument is an integer (or unused).
const IOCTL_INT: &[u32] = &[
    libc::TCSBRK as u32,
    libc::TCXONC as u32,
    libc::TCFLSH as u32,
    libc::TIOCSCTTY as u32,
    libc::TIOCNOTTY as u32,
    libc::FIOCLEX as u32,
    libc::FIONCLEX as u32,
];

/// select's three host fd_set buffers (read, write, except), None where the guest passed NULL.
type FdSets = [Option<Vec<u8>>; 3];

/// Directory offsets of one open directory as the guest sees them: cookie `k > 0` stands for
/// the host offset `real[k - 1]`; 0 is 0 (the start).
#[derive(Default)]
pub struct DirOffsets {
    real: Vec<i64>,
    index: std::collections::HashMap<i64, i64>,
}

impl DirOffsets {
    pub fn cookie(&mut self, real: i64) -> i64 {
        if real == 0 {
            return 0;
        }
        if let Some(&c) = self.index.get(&real) {
            return c;
        }
        self.real.push(real);
        let c = self.real.len() as i64;
        self.index.insert(real, c);
        c
    }

    pub fn real(&self, cookie: i64) -> Option<i64> {
        match cookie {
            0 => Some(0),
            c if c > 0 => self.real.get(c as usize - 1).copied(),
            _ => None,
        }
    }
}

impl Process {
    /// A dirfd argument: AT_FDCWD, or a guest fd (ignored for absolute paths, as Linux).
    fn dirfd(&self, d: u32, path: &CStr) -> Result<i32, Errno> {
        if d == AT_FDCWD || path.to_bytes().first() == Some(&b'/') {
            Ok(libc::AT_FDCWD)
        } else {
            self.fds.get(d)
        }
    }

    /// /proc/self/exe (and /proc/<our pid>/exe) name the guest program, not the runner.
    fn is_self_exe(path: &CStr) -> bool {
        let p = path.to_bytes();
        p == b"/proc/self/exe" || p == format!("/proc/{}/exe", host::getpid()).as_bytes()
    }

    fn host_path(&self, path: CString) -> CString {
        if Self::is_self_exe(&path) {
            self.exe.clone()
        } else {
            path
        }
    }

    pub(super) fn path_arg(&self, addr: u32) -> Result<CString, Errno> {
        Ok(self.host_path(self.read_path(addr)?))
    }

    pub(super) fn sys_read(&mut self, fd: u32, buf: u32, count: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        let count = count.min(MAX_RW_COUNT) as usize;
        self.check_writable(buf, count)?;
        let mut v = vec![0u8; count];
        let n = host::read(fd, &mut v)?;
        self.write_mem(buf, &v[..n as usize])?;
        Ok(n)
    }

    pub(super) fn sys_write(&mut self, fd: u32, buf: u32, count: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        let v = self.read_mem(buf, count.min(MAX_RW_COUNT) as usize)?;
        Ok(host::write(fd, &v)?)
    }

    pub(super) fn sys_pread64(&mut self, fd: u32, buf: u32, count: u32, off: u64) -> SysResult {
        let fd = self.fds.get(fd)?;
        let count = count.min(MAX_RW_COUNT) as usize;
        self.check_writable(buf, count)?;
        let mut v = vec![0u8; count];
        let n = host::pread(fd, &mut v, off as i64)?;
        self.write_mem(buf, &v[..n as usize])?;
        Ok(n)
    }

    pub(super) fn sys_pwrite64(&mut self, fd: u32, buf: u32, count: u32, off: u64) -> SysResult {
        let fd = self.fds.get(fd)?;
        let v = self.read_mem(buf, count.min(MAX_RW_COUNT) as usize)?;
        Ok(host::pwrite(fd, &v, off as i64)?)
    }

    /// The (base, len) pairs of a guest `struct iovec` array (UIO_MAXIOV entries at most).
    fn iovecs(&self, iov: u32, cnt: u32) -> Result<Vec<(u32, u32)>, Errno> {
        if cnt > 1024 {
            return Err(Errno::EINVAL);
        }
        let raw = self.read_mem(iov, cnt as usize * 8)?;
        let v: Vec<(u32, u32)> = raw
            .chunks(8)
            .map(|c| (get_u32(c, 0), get_u32(c, 4)))
            .collect();
        let total: u64 = v.iter().map(|&(_, l)| u64::from(l)).sum();
        if v.iter().any(|&(_, l)| l > i32::MAX as u32) || total > u64::from(MAX_RW_COUNT) {
            return Err(Errno::EINVAL);
        }
        Ok(v)
    }

    /// readv: one host read into a buffer of the total size, scattered afterwards.
    pub(super) fn sys_readv(&mut self, fd: u32, iov: u32, cnt: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        let iovs = self.iovecs(iov, cnt)?;
        for &(b, l) in &iovs {
            self.check_writable(b, l as usize)?;
        }
        let total: u32 = iovs.iter().map(|&(_, l)| l).sum();
        let mut v = vec![0u8; total as usize];
        let n = host::read(fd, &mut v)? as usize;
        let mut done = 0;
        for (b, l) in iovs {
            if done >= n {
                break;
            }
            let k = (l as usize).min(n - done);
            self.write_mem(b, &v[done..done + k])?;
            done += k;
        }
        Ok(n as u32)
    }

    /// writev: gathered into one buffer and written with one host write (so it stays atomic
    /// for pipes, as writev is).
    pub(super) fn sys_writev(&mut self, fd: u32, iov: u32, cnt: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        let iovs = self.iovecs(iov, cnt)?;
        let mut v = Vec::new();
        for (b, l) in iovs {
            v.extend(self.read_mem(b, l as usize)?);
        }
        Ok(host::write(fd, &v)?)
    }

    pub(super) fn sys_openat(&mut self, dirfd: u32, path: u32, flags: u32, mode: u32) -> SysResult {
        let path = self.path_arg(path)?;
        let d = self.dirfd(dirfd, &path)?;
        let fd = host::openat(d, &path, flags as i32, mode)?;
        Ok(self.fds.add(fd))
    }

    pub(super) fn sys_close(&mut self, fd: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        self.fds.remove(fd);
        self.dir_offsets.remove(&fd);
        Ok(host::close(fd)?)
    }

    /// lseek on a host fd, with directory offsets seen through their cookies.
    fn seek(&mut self, fd: i32, off: i64, whence: i32) -> Result<i64, Errno> {
        let Some(table) = self.dir_offsets.get(&fd) else {
            return host::lseek(fd, off, whence);
        };
        let real = match whence {
            libc::SEEK_SET => table.real(off).ok_or(Errno::EINVAL)?,
            _ => off,
        };
        let r = host::lseek(fd, real, whence)?;
        Ok(self.dir_offsets.get_mut(&fd).map_or(r, |t| t.cookie(r)))
    }

    /// close_range: the guest's descriptors in `[first, last]` only (CLOSE_RANGE_CLOEXEC
    /// marks them close-on-exec instead; CLOSE_RANGE_UNSHARE has nothing to unshare).
    pub(super) fn sys_close_range(&mut self, first: u32, last: u32, flags: u32) -> SysResult {
        const CLOSE_RANGE_UNSHARE: u32 = 2;
        const CLOSE_RANGE_CLOEXEC: u32 = 4;
        if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
            return Err(Errno::EINVAL.into());
        }
        for fd in self.fds.in_range(first, last) {
            if flags & CLOSE_RANGE_CLOEXEC != 0 {
                let _ = host::int_call(
                    libc::SYS_fcntl,
                    &[fd.into(), libc::F_SETFD.into(), libc::FD_CLOEXEC.into()],
                );
            } else {
                self.fds.remove(fd);
                self.dir_offsets.remove(&fd);
                let _ = host::close(fd);
            }
        }
        Ok(0)
    }

    pub(super) fn sys_lseek(&mut self, fd: u32, off: u32, whence: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        let r = self.seek(fd, i64::from(off as i32), whence as i32)?;
        u32::try_from(r)
            .ok()
            .filter(|&v| v <= i32::MAX as u32)
            .ok_or(Errno::EOVERFLOW.into())
    }

    pub(super) fn sys_llseek(
        &mut self,
        fd: u32,
        hi: u32,
        lo: u32,
        result: u32,
        whence: u32,
    ) -> SysResult {
        let fd = self.fds.get(fd)?;
        self.check_writable(result, 8)?;
        let off = ((u64::from(hi) << 32) | u64::from(lo)) as i64;
        let r = self.seek(fd, off, whence as i32)?;
        self.write_mem(result, &r.to_le_bytes())?;
        Ok(0)
    }

    /// The host `struct stat` for a stat-family call: a path (relative to dirfd), or the fd
    /// itself when there is no path.
    fn do_stat(&self, dirfd: u32, path: Option<u32>, flags: i32) -> Result<libc::stat, Errno> {
        match path {
            None => host::fstat(self.fds.get(dirfd)?),
            Some(p) => {
                let path = self.path_arg(p)?;
                if path.is_empty() && flags & libc::AT_EMPTY_PATH == 0 {
                    return Err(Errno::ENOENT);
                }
                let d = if path.is_empty() {
                    self.fds.get(dirfd)?
                } else {
                    self.dirfd(dirfd, &path)?
                };
                host::fstatat(d, &path, flags)
            }
        }
    }

    pub(super) fn sys_stat64(
        &mut self,
        dirfd: u32,
        path: Option<u32>,
        buf: u32,
        flags: u32,
    ) -> SysResult {
        let st = self.do_stat(dirfd, path, flags as i32)?;
        self.write_mem(buf, &abi::stat64(&st))?;
        Ok(0)
    }

    pub(super) fn sys_stat32(
        &mut self,
        dirfd: u32,
        path: Option<u32>,
        buf: u32,
        flags: i32,
    ) -> SysResult {
        let st = self.do_stat(dirfd, path, flags)?;
        self.write_mem(buf, &abi::stat32(&st)?)?;
        Ok(0)
    }

    /// statx: `struct statx` has the same layout everywhere, so it is copied as it is.
    pub(super) fn sys_statx(
        &mut self,
        dirfd: u32,
        path: u32,
        flags: u32,
        mask: u32,
        buf: u32,
    ) -> SysResult {
        let path = self.path_arg(path)?;
        self.check_writable(buf, 256)?;
        let d = if path.is_empty() {
            self.fds.get(dirfd)?
        } else {
            self.dirfd(dirfd, &path)?
        };
        let mut out = [0u8; 256];
        host::statx(d, &path, flags as i32, mask, &mut out)?;
        self.write_mem(buf, &out)?;
        Ok(0)
    }

    /// statfs64/fstatfs64 with i386's packed 84-byte `struct statfs64`.
    pub(super) fn sys_statfs64(
        &mut self,
        path: Option<u32>,
        fd: Option<u32>,
        size: u32,
        buf: u32,
    ) -> SysResult {
        if size != 84 {
            return Err(Errno::EINVAL.into());
        }
        let s = match (path, fd) {
            (Some(p), _) => host::statfs(Some(&self.path_arg(p)?), -1)?,
            (None, Some(fd)) => host::statfs(None, self.fds.get(fd)?)?,
            (None, None) => return Err(Errno::EINVAL.into()),
        };
        let mut o = Out::<84>::new();
        o.u32(0, s[0] as u32)
            .u32(4, s[1] as u32)
            .u64(8, s[2])
            .u64(16, s[3])
            .u64(24, s[4])
            .u64(32, s[5])
            .u64(40, s[6])
            .u64(48, s[7])
            .u32(56, s[8] as u32)
            .u32(60, s[9] as u32)
            .u32(64, s[10] as u32);
        self.write_mem(buf, &o.0)?;
        Ok(0)
    }

    pub(super) fn sys_faccessat(
        &mut self,
        dirfd: u32,
        path: u32,
        mode: u32,
        flags: u32,
    ) -> SysResult {
        let path = self.path_arg(path)?;
        let d = self.dirfd(dirfd, &path)?;
        let r = if flags == 0 {
            host::path_call(libc::SYS_faccessat, d, &path, &[mode.into()])
        } else {
            host::path_call(libc::SYS_faccessat2, d, &path, &[mode.into(), flags.into()])
        };
        Ok(r?)
    }

    pub(super) fn sys_readlinkat(
        &mut self,
        dirfd: u32,
        path: u32,
        buf: u32,
        size: u32,
    ) -> SysResult {
        if size as i32 <= 0 {
            return Err(Errno::EINVAL.into());
        }
        let path = self.read_path(path)?;
        let size = (size as usize).min(1 << 16);
        self.check_writable(buf, size)?;
        let target = if Self::is_self_exe(&path) {
            self.exe.as_bytes().to_vec()
        } else {
            let d = self.dirfd(dirfd, &path)?;
            let mut v = vec![0u8; size];
            let n = host::readlinkat(d, &path, &mut v)?;
            v.truncate(n as usize);
            v
        };
        let n = target.len().min(size);
        self.write_mem(buf, &target[..n])?;
        Ok(n as u32)
    }

    pub(super) fn sys_getcwd(&mut self, buf: u32, size: u32) -> SysResult {
        let mut v = vec![0u8; (size as usize).min(1 << 16)];
        let n = host::getcwd(&mut v)?;
        self.write_mem(buf, &v[..n as usize])?;
        Ok(n)
    }

    pub(super) fn sys_chdir(&mut self, path: u32) -> SysResult {
        let path = self.path_arg(path)?;
        Ok(host::chdir(&path)?)
    }

    /// A pass-through of an integer-only syscall whose first argument is a guest fd.
    pub(super) fn sys_fd_int(
        &mut self,
        nr: libc::c_long,
        fd: u32,
        rest: &[libc::c_long],
    ) -> SysResult {
        let fd = self.fds.get(fd)?;
        let mut a = vec![libc::c_long::from(fd)];
        a.extend_from_slice(rest);
        Ok(host::int_call(nr, &a)?)
    }

    /// A pass-through of a `(dirfd, path, ints)` syscall.
    pub(super) fn sys_path_int(
        &mut self,
        nr: libc::c_long,
        dirfd: u32,
        path: u32,
        a: u32,
        b: u32,
    ) -> SysResult {
        let path = self.path_arg(path)?;
        let d = self.dirfd(dirfd, &path)?;
        Ok(host::path_call(nr, d, &path, &[a.into(), b.into()])?)
    }

    pub(super) fn sys_fchownat(
        &mut self,
        dirfd: u32,
        path: u32,
        uid: u32,
        gid: u32,
        flags: u32,
    ) -> SysResult {
        let path = self.path_arg(path)?;
        let d = if path.is_empty() {
            self.fds.get(dirfd)?
        } else {
            self.dirfd(dirfd, &path)?
        };
        let id = |v: u32| libc::c_long::from(v as i32);
        Ok(host::path_call(
            libc::SYS_fchownat,
            d,
            &path,
            &[id(uid), id(gid), flags.into()],
        )?)
    }

    pub(super) fn sys_rename(
        &mut self,
        d1: u32,
        p1: u32,
        d2: u32,
        p2: u32,
        flags: u32,
    ) -> SysResult {
        let (p1, p2) = (self.path_arg(p1)?, self.path_arg(p2)?);
        let (d1, d2) = (self.dirfd(d1, &p1)?, self.dirfd(d2, &p2)?);
        Ok(host::path2_call(
            libc::SYS_renameat2,
            d1,
            &p1,
            d2,
            &p2,
            flags as i32,
        )?)
    }

    pub(super) fn sys_link(&mut self, d1: u32, p1: u32, d2: u32, p2: u32, flags: u32) -> SysResult {
        let (p1, p2) = (self.path_arg(p1)?, self.path_arg(p2)?);
        let (d1, d2) = (self.dirfd(d1, &p1)?, self.dirfd(d2, &p2)?);
        Ok(host::path2_call(
            libc::SYS_linkat,
            d1,
            &p1,
            d2,
            &p2,
            flags as i32,
        )?)
    }

    pub(super) fn sys_symlinkat(&mut self, target: u32, dirfd: u32, path: u32) -> SysResult {
        let target = self.read_path(target)?;
        let path = self.path_arg(path)?;
        let d = self.dirfd(dirfd, &path)?;
        Ok(host::symlinkat(&target, d, &path)?)
    }

    pub(super) fn sys_truncate(&mut self, path: u32, len: i64) -> SysResult {
        let path = self.path_arg(path)?;
        Ok(host::truncate(&path, len)?)
    }

    pub(super) fn sys_utimensat(
        &mut self,
        dirfd: u32,
        path: u32,
        times: u32,
        flags: u32,
        t: TimeAbi,
    ) -> SysResult {
        let ts = if times == 0 {
            None
        } else {
            let raw = self.read_mem(times, 2 * t.size())?;
            Some([t.decode(&raw), t.decode(&raw[t.size()..])])
        };
        if path == 0 {
            let fd = self.fds.get(dirfd)?;
            return Ok(host::utimensat(fd, None, ts.as_ref(), flags as i32)?);
        }
        let path = self.path_arg(path)?;
        let d = if path.is_empty() {
            self.fds.get(dirfd)?
        } else {
            self.dirfd(dirfd, &path)?
        };
        Ok(host::utimensat(d, Some(&path), ts.as_ref(), flags as i32)?)
    }

    pub(super) fn sys_dup(&mut self, fd: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        let n = host::int_call(libc::SYS_dup, &[fd.into()])?;
        Ok(self.fds.add(n))
    }

    pub(super) fn sys_dup3(&mut self, old: u32, new: u32, flags: u32, dup2: bool) -> SysResult {
        let oldfd = self.fds.get(old)?;
        let newfd = new as i32;
        if newfd < 0 || self.fds.is_runner_fd(newfd) {
            // The runner's own descriptors are out of the guest's reach.
            return Err(Errno::EBADF.into());
        }
        if dup2 && oldfd == newfd {
            return Ok(new);
        }
        let n = host::int_call(libc::SYS_dup3, &[oldfd.into(), newfd.into(), flags.into()])?;
        self.dir_offsets.remove(&newfd);
        Ok(self.fds.add(n))
    }

    pub(super) fn sys_pipe2(&mut self, fds: u32, flags: u32) -> SysResult {
        self.check_writable(fds, 8)?;
        let p = host::pipe2(flags as i32)?;
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&p[0].to_le_bytes());
        b[4..].copy_from_slice(&p[1].to_le_bytes());
        self.fds.add(p[0] as u32);
        self.fds.add(p[1] as u32);
        self.write_mem(fds, &b)?;
        Ok(0)
    }

    /// fcntl and fcntl64 (fs/fcntl.c, compat_fcntl64): integer commands pass through; record
    /// locks translate i386's `struct flock` (16 bytes) and `struct flock64` (24 bytes,
    /// 4-byte aligned) to the host's.
    pub(super) fn sys_fcntl(&mut self, fd: u32, cmd: u32, arg: u32, is64: bool) -> SysResult {
        const F_GETLK64: i32 = 12;
        const F_SETLK64: i32 = 13;
        const F_SETLKW64: i32 = 14;
        const F_SETSIG: i32 = 10;
        const F_GETSIG: i32 = 11;
        let fd = self.fds.get(fd)?;
        let cmd = cmd as i32;
        let int_arg = libc::c_long::from(arg as i32);
        match cmd {
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
                let n = host::int_call(libc::SYS_fcntl, &[fd.into(), cmd.into(), int_arg])?;
                Ok(self.fds.add(n))
            }
            libc::F_GETFD
            | libc::F_SETFD
            | libc::F_GETFL
            | libc::F_SETFL
            | libc::F_SETOWN
            | libc::F_GETOWN
            | F_SETSIG
            | F_GETSIG
            | libc::F_SETLEASE
            | libc::F_GETLEASE
            | libc::F_NOTIFY
            | libc::F_SETPIPE_SZ
            | libc::F_GETPIPE_SZ
            | libc::F_ADD_SEALS
            | libc::F_GET_SEALS => Ok(host::int_call(
                libc::SYS_fcntl,
                &[fd.into(), cmd.into(), int_arg],
            )?),
            libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW => {
                self.fcntl_lock(fd, cmd, cmd, arg, false)
            }
            F_GETLK64 | F_SETLK64 | F_SETLKW64 if is64 => {
                self.fcntl_lock(fd, cmd, cmd - F_GETLK64 + libc::F_GETLK, arg, true)
            }
            libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW if is64 => {
                self.fcntl_lock(fd, cmd, cmd, arg, true)
            }
            _ => {
                self.log.once(format!(
                    "unsupported fcntl command {cmd}: returning -EINVAL"
                ));
                Err(Errno::EINVAL.into())
            }
        }
    }

    fn fcntl_lock(&mut self, fd: i32, cmd: i32, host_cmd: i32, arg: u32, wide: bool) -> SysResult {
        let size = if wide { 24 } else { 16 };
        let b = self.read_mem(arg, size)?;
        let typ = abi::get_u16(&b, 0) as i16;
        let whence = abi::get_u16(&b, 2) as i16;
        let (start, len, pid) = if wide {
            (
                get_u64(&b, 4) as i64,
                get_u64(&b, 12) as i64,
                get_u32(&b, 20) as i32,
            )
        } else {
            (
                i64::from(get_u32(&b, 4) as i32),
                i64::from(get_u32(&b, 8) as i32),
                get_u32(&b, 12) as i32,
            )
        };
        let mut fl = libc::flock {
            l_type: typ,
            l_whence: whence,
            l_start: start,
            l_len: len,
            l_pid: pid,
        };
        host::fcntl_lock(fd, host_cmd, &mut fl)?;
        if cmd == libc::F_GETLK || cmd == 12 || cmd == libc::F_OFD_GETLK {
            let mut out = Vec::with_capacity(size);
            out.extend(fl.l_type.to_le_bytes());
            out.extend(fl.l_whence.to_le_bytes());
            if wide {
                out.extend(fl.l_start.to_le_bytes());
                out.extend(fl.l_len.to_le_bytes());
            } else {
                let s = i32::try_from(fl.l_start).map_err(|_| Errno::EOVERFLOW)?;
                let l = i32::try_from(fl.l_len).map_err(|_| Errno::EOVERFLOW)?;
                out.extend(s.to_le_bytes());
                out.extend(l.to_le_bytes());
            }
            out.extend(fl.l_pid.to_le_bytes());
            self.write_mem(arg, &out)?;
        }
        Ok(0)
    }

    /// getdents64: `struct linux_dirent64` has the same layout on i386 and x86-64, but
    /// `d_off` differs: file systems hash directory positions to 31 bits for 32-bit
    /// callers and to 63 bits for us (ext4's `is_32bit_api`), and glibc's i386 `readdir`
    /// fails with EOVERFLOW on offsets past 31 bits. So every `d_off` is replaced by a small
    /// cookie, which lseek on the directory maps back ([`DirOffsets`]).
    pub(super) fn sys_getdents64(&mut self, fd: u32, buf: u32, count: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        let count = count.min(1 << 20) as usize;
        self.check_writable(buf, count)?;
        let mut v = vec![0u8; count];
        let n = host::getdents64(fd, &mut v)? as usize;
        let table = self.dir_offsets.entry(fd).or_default();
        let mut at = 0;
        while at + 19 <= n {
            let real = get_u64(&v, at + 8) as i64;
            let cookie = table.cookie(real);
            v[at + 8..at + 16].copy_from_slice(&cookie.to_le_bytes());
            let reclen = usize::from(abi::get_u16(&v, at + 16));
            if reclen == 0 {
                break;
            }
            at += reclen;
        }
        self.write_mem(buf, &v[..n])?;
        Ok(n as u32)
    }

    /// The tty and file ioctls a program's stdio needs; others are ENOTTY (logged with -v).
    pub(super) fn sys_ioctl(&mut self, fd: u32, req: u32, arg: u32) -> SysResult {
        let fd = self.fds.get(fd)?;
        if let Some(&(_, size)) = IOCTL_BUF.iter().find(|&&(r, _)| r == req) {
            let mut v = self.read_mem(arg, size)?;
            self.check_writable(arg, size)?;
            let r = host::ioctl_buf(fd, req, &mut v)?;
            self.write_mem(arg, &v)?;
            return Ok(r);
        }
        if IOCTL_INT.contains(&req) {
            return Ok(host::int_call(
                libc::SYS_ioctl,
                &[fd.into(), req.into(), arg.into()],
            )?);
        }
        self.log
            .once(format!("unsupported ioctl {req:#x}: returning -ENOTTY"));
        Err(Errno::ENOTTY.into())
    }

    /// poll/ppoll: `struct pollfd` is the same on i386 and x86-64. ppoll's signal mask is
    /// not applied.
    pub(super) fn sys_poll(
        &mut self,
        fds: u32,
        nfds: u32,
        timeout_ms: Option<i32>,
        ts: Option<(u32, TimeAbi)>,
    ) -> SysResult {
        if nfds > 1 << 16 {
            return Err(Errno::EINVAL.into());
        }
        let mut v = self.read_mem(fds, nfds as usize * 8)?;
        self.check_writable(fds, v.len())?;
        let n = match (timeout_ms, ts) {
            (Some(ms), _) => host::poll(&mut v, nfds, ms)?,
            (None, Some((0, _))) | (None, None) => host::ppoll(&mut v, nfds, None)?,
            (None, Some((tp, abi))) => {
                let t = abi.decode(&self.read_mem(tp, abi.size())?);
                host::ppoll(&mut v, nfds, Some(&t))?
            }
        };
        self.write_mem(fds, &v)?;
        Ok(n)
    }

    /// The three fd_set arguments of select: i386 bitmaps are arrays of 32-bit words; the
    /// host's of 64-bit words with the same bit order, so only the length differs.
    fn read_fdsets(&self, n: u32, sets: [u32; 3]) -> Result<(usize, FdSets), Errno> {
        let guest_len = n.div_ceil(32) as usize * 4;
        let host_len = n.div_ceil(64) as usize * 8;
        let mut out: FdSets = [None, None, None];
        for (o, &p) in out.iter_mut().zip(&sets) {
            if p != 0 {
                let mut v = self.read_mem(p, guest_len)?;
                self.check_writable(p, guest_len)?;
                v.resize(host_len.max(8), 0);
                *o = Some(v);
            }
        }
        Ok((guest_len, out))
    }

    fn write_fdsets(
        &mut self,
        guest_len: usize,
        ptrs: [u32; 3],
        sets: &FdSets,
    ) -> Result<(), Errno> {
        for (&p, s) in ptrs.iter().zip(sets) {
            if let Some(v) = s {
                self.write_mem(p, &v[..guest_len])?;
            }
        }
        Ok(())
    }

    /// _newselect (timeval) and pselect6 (old timespec; the sigmask argument is ignored).
    pub(super) fn sys_select(
        &mut self,
        n: u32,
        ptrs: [u32; 3],
        tp: u32,
        pselect: bool,
    ) -> SysResult {
        if n as i32 > 1 << 16 || (n as i32) < 0 {
            return Err(Errno::EINVAL.into());
        }
        let (glen, mut sets) = self.read_fdsets(n, ptrs)?;
        let mut t = if tp == 0 {
            None
        } else {
            let b = self.read_mem(tp, 8)?;
            let sec = i64::from(get_u32(&b, 0) as i32);
            let sub = i64::from(get_u32(&b, 4) as i32);
            if sec < 0 || sub < 0 {
                return Err(Errno::EINVAL.into());
            }
            Some(libc::timespec {
                tv_sec: sec,
                tv_nsec: if pselect { sub } else { sub * 1000 },
            })
        };
        let r = host::select(n as i32, &mut sets, t.as_mut())?;
        self.write_fdsets(glen, ptrs, &sets)?;
        if let Some(t) = t {
            let sub = if pselect { t.tv_nsec } else { t.tv_nsec / 1000 };
            self.write_mem(tp, &abi::timespec32(t.tv_sec, sub))?;
        }
        Ok(r)
    }

    pub(super) fn sys_pselect_time64(&mut self, n: u32, ptrs: [u32; 3], tp: u32) -> SysResult {
        if n as i32 > 1 << 16 || (n as i32) < 0 {
            return Err(Errno::EINVAL.into());
        }
        let (glen, mut sets) = self.read_fdsets(n, ptrs)?;
        let mut t = if tp == 0 {
            None
        } else {
            Some(TimeAbi::Time64.decode(&self.read_mem(tp, 16)?))
        };
        let r = host::select(n as i32, &mut sets, t.as_mut())?;
        self.write_fdsets(glen, ptrs, &sets)?;
        if let Some(t) = t {
            self.write_mem(tp, &abi::timespec64(t.tv_sec, t.tv_nsec))?;
        }
        Ok(r)
    }

    /// sendfile (32-bit offset) and sendfile64 (64-bit offset).
    pub(super) fn sys_sendfile(
        &mut self,
        out: u32,
        inp: u32,
        offp: u32,
        count: u32,
        wide: bool,
    ) -> SysResult {
        let (out, inp) = (self.fds.get(out)?, self.fds.get(inp)?);
        let count = count.min(MAX_RW_COUNT) as usize;
        if offp == 0 {
            return Ok(host::sendfile(out, inp, None, count)?);
        }
        let mut off = if wide {
            get_u64(&self.read_mem(offp, 8)?, 0) as i64
        } else {
            i64::from(self.read_u32(offp)? as i32)
        };
        let n = host::sendfile(out, inp, Some(&mut off), count)?;
        if wide {
            self.write_mem(offp, &off.to_le_bytes())?;
        } else {
            self.write_u32(offp, off as u32)?;
        }
        Ok(n)
    }
}
