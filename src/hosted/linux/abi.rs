//! The Linux i386 user ABI the syscall layer speaks: errno values, constants and the byte
//! layouts of the structures syscalls exchange (arch/x86/include/uapi/asm/stat.h,
//! include/uapi/asm-generic/*.h, include/uapi/linux/*.h), checked against `gcc -m32`.
//!
//! Structures are built and parsed as little-endian byte arrays with explicit offsets, never
//! as host `#[repr(C)]` structs: i386 aligns 64-bit fields to 4 bytes, x86-64 to 8.

use core::fmt;

/// An errno value. i386 and x86-64 share include/uapi/asm-generic/errno*.h, so host errno
/// values are guest errno values.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const ESRCH: Errno = Errno(libc::ESRCH);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EBADF: Errno = Errno(libc::EBADF);
    pub const ECHILD: Errno = Errno(libc::ECHILD);
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    pub const ENODEV: Errno = Errno(libc::ENODEV);
    pub const ENOTDIR: Errno = Errno(libc::ENOTDIR);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const EMFILE: Errno = Errno(libc::EMFILE);
    pub const ENOTTY: Errno = Errno(libc::ENOTTY);
    pub const ESPIPE: Errno = Errno(libc::ESPIPE);
    pub const ERANGE: Errno = Errno(libc::ERANGE);
    pub const ENAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const EOVERFLOW: Errno = Errno(libc::EOVERFLOW);
    pub const ETIMEDOUT: Errno = Errno(libc::ETIMEDOUT);

    /// The errno of the last failed host call.
    pub fn last() -> Errno {
        Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }

    /// The value a failing syscall leaves in EAX: -errno.
    pub fn to_eax(self) -> u32 {
        self.0.wrapping_neg() as u32
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

/// Little-endian field writer for a guest structure.
pub struct Out<const N: usize>(pub [u8; N]);

impl<const N: usize> Out<N> {
    pub fn new() -> Self {
        Out([0; N])
    }
    pub fn u16(&mut self, off: usize, v: u16) -> &mut Self {
        self.0[off..off + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
        self
    }
}

impl<const N: usize> Default for Out<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Little-endian field reads from a guest structure's bytes.
pub fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from(get_u32(b, off)) | (u64::from(get_u32(b, off + 4)) << 32)
}

// Truncations below are the ABI's: i386 fields are 32 bits wide where the host's are 64.
#[allow(clippy::cast_possible_truncation)]
fn lo32(v: i64) -> u32 {
    v as u32
}

/// `struct stat64` (96 bytes) as i386's `stat64`, `lstat64`, `fstat64` and `fstatat64`
/// return it (arch/x86/include/uapi/asm/stat.h, the `__i386__` branch).
pub fn stat64(st: &libc::stat) -> [u8; 96] {
    let mut o = Out::<96>::new();
    o.u64(0, st.st_dev)
        .u32(12, st.st_ino as u32)
        .u32(16, st.st_mode)
        .u32(20, st.st_nlink as u32)
        .u32(24, st.st_uid)
        .u32(28, st.st_gid)
        .u64(32, st.st_rdev)
        .u64(44, st.st_size as u64)
        .u32(52, lo32(st.st_blksize))
        .u64(56, st.st_blocks as u64)
        .u32(64, lo32(st.st_atime))
        .u32(68, lo32(st.st_atime_nsec))
        .u32(72, lo32(st.st_mtime))
        .u32(76, lo32(st.st_mtime_nsec))
        .u32(80, lo32(st.st_ctime))
        .u32(84, lo32(st.st_ctime_nsec))
        .u64(88, st.st_ino);
    o.0
}

/// The old 16-bit-id `struct stat` (64 bytes) of i386's `stat`, `lstat` and `fstat`
/// (fs/stat.c, cp_old_stat's successor `cp_new_stat` with i386's layout). Fails with
/// EOVERFLOW where a value does not fit, as Linux does.
pub fn stat32(st: &libc::stat) -> Result<[u8; 64], Errno> {
    let fits = |v: u64| u32::try_from(v).is_ok();
    let dev = old_encode_dev(st.st_dev).ok_or(Errno::EOVERFLOW)?;
    let rdev = old_encode_dev(st.st_rdev).ok_or(Errno::EOVERFLOW)?;
    if !fits(st.st_ino) || !fits(st.st_size as u64) || st.st_nlink > 0xffff {
        return Err(Errno::EOVERFLOW);
    }
    let mut o = Out::<64>::new();
    o.u32(0, dev)
        .u32(4, st.st_ino as u32)
        .u16(8, st.st_mode as u16)
        .u16(10, st.st_nlink as u16)
        .u16(12, high2lowuid(st.st_uid))
        .u16(14, high2lowuid(st.st_gid))
        .u32(16, rdev)
        .u32(20, st.st_size as u32)
        .u32(24, lo32(st.st_blksize))
        .u32(28, st.st_blocks as u32)
        .u32(32, lo32(st.st_atime))
        .u32(36, lo32(st.st_atime_nsec))
        .u32(40, lo32(st.st_mtime))
        .u32(44, lo32(st.st_mtime_nsec))
        .u32(48, lo32(st.st_ctime))
        .u32(52, lo32(st.st_ctime_nsec));
    Ok(o.0)
}

/// A dev_t as `new_encode_dev` packs it, if it fits 32 bits (include/linux/kdev_t.h).
fn old_encode_dev(dev: u64) -> Option<u32> {
    let major = libc::major(dev);
    let minor = libc::minor(dev);
    if major > 0xfff || minor > 0xf_ffff {
        return None;
    }
    Some((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
}

/// 16-bit uid/gid as the legacy syscalls report them: overflowuid 65534 when too big.
pub fn high2lowuid(id: u32) -> u16 {
    u16::try_from(id).unwrap_or(65534)
}

/// `struct timespec` with a 32-bit `tv_sec` (the pre-time64 i386 syscalls).
pub fn timespec32(sec: i64, nsec: i64) -> [u8; 8] {
    let mut o = Out::<8>::new();
    o.u32(0, lo32(sec)).u32(4, lo32(nsec));
    o.0
}

/// `struct __kernel_timespec` (64-bit fields, the time64 syscalls).
pub fn timespec64(sec: i64, nsec: i64) -> [u8; 16] {
    let mut o = Out::<16>::new();
    o.u64(0, sec as u64).u64(8, nsec as u64);
    o.0
}

/// Which timespec layout a syscall uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeAbi {
    /// `struct old_timespec32`: `{ i32 tv_sec; i32 tv_nsec; }`.
    Old32,
    /// `struct __kernel_timespec`: `{ i64 tv_sec; i64 tv_nsec; }`.
    Time64,
}

impl TimeAbi {
    pub fn size(self) -> usize {
        match self {
            TimeAbi::Old32 => 8,
            TimeAbi::Time64 => 16,
        }
    }
    /// Decode a timespec of this layout.
    pub fn decode(self, b: &[u8]) -> libc::timespec {
        match self {
            TimeAbi::Old32 => libc::timespec {
                tv_sec: i64::from(get_u32(b, 0) as i32),
                tv_nsec: i64::from(get_u32(b, 4) as i32),
            },
            TimeAbi::Time64 => libc::timespec {
                tv_sec: get_u64(b, 0) as i64,
                // The kernel ignores the upper half of tv_nsec for compat tasks.
                tv_nsec: i64::from(get_u32(b, 8) as i32),
            },
        }
    }
    pub fn encode(self, t: &libc::timespec) -> Vec<u8> {
        match self {
            TimeAbi::Old32 => timespec32(t.tv_sec, t.tv_nsec).to_vec(),
            TimeAbi::Time64 => timespec64(t.tv_sec, t.tv_nsec).to_vec(),
        }
    }
}

/// `struct user_desc` (16 bytes, arch/x86/include/uapi/asm/ldt.h) as set_thread_area
/// takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UserDesc {
    pub entry_number: u32,
    pub base_addr: u32,
    pub limit: u32,
    pub seg_32bit: bool,
    pub contents: u32,
    pub read_exec_only: bool,
    pub limit_in_pages: bool,
    pub seg_not_present: bool,
    pub useable: bool,
}

impl UserDesc {
    pub const SIZE: usize = 16;

    pub fn parse(b: &[u8; 16]) -> UserDesc {
        let flags = get_u32(b, 12);
        UserDesc {
            entry_number: get_u32(b, 0),
            base_addr: get_u32(b, 4),
            limit: get_u32(b, 8),
            seg_32bit: flags & 1 != 0,
            contents: (flags >> 1) & 3,
            read_exec_only: flags & (1 << 3) != 0,
            limit_in_pages: flags & (1 << 4) != 0,
            seg_not_present: flags & (1 << 5) != 0,
            useable: flags & (1 << 6) != 0,
        }
    }

    /// The "empty" descriptor that clears a TLS slot (arch/x86/include/asm/desc.h,
    /// `LDT_empty` and `LDT_zero`).
    pub fn is_empty(&self) -> bool {
        let zero_but = |reo: bool, snp: bool| {
            self.base_addr == 0
                && self.limit == 0
                && self.contents == 0
                && self.read_exec_only == reo
                && !self.seg_32bit
                && !self.limit_in_pages
                && self.seg_not_present == snp
                && !self.useable
        };
        zero_but(true, true) || zero_but(false, false)
    }

    /// The 8-byte descriptor Linux builds from it (`fill_ldt` in
    /// arch/x86/include/asm/desc.h): a DPL 3 data or code segment, accessed bit set.
    pub fn descriptor(&self) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let base = u64::from(self.base_addr);
        let limit = u64::from(self.limit);
        let mut ty = u64::from(!self.read_exec_only) << 1;
        ty |= u64::from(self.contents) << 2;
        ty |= 1;
        let mut d = limit & 0xffff;
        d |= (base & 0xff_ffff) << 16;
        d |= ty << 40;
        d |= 1 << 44; // S: code/data
        d |= 3 << 45; // DPL 3
        d |= u64::from(!self.seg_not_present) << 47;
        d |= ((limit >> 16) & 0xf) << 48;
        d |= u64::from(self.useable) << 52;
        d |= u64::from(self.seg_32bit) << 54;
        d |= u64::from(self.limit_in_pages) << 55;
        d |= ((base >> 24) & 0xff) << 56;
        d
    }

    /// What `tls_desc_okay` accepts: 32-bit data segments (or the empty descriptor).
    pub fn tls_okay(&self) -> bool {
        self.is_empty() || (self.seg_32bit && self.contents <= 1)
    }
}

/// `struct new_utsname` (6 fields of 65 bytes).
pub const UTSNAME_SIZE: usize = 6 * 65;

/// Signal numbers (arch/x86/include/uapi/asm/signal.h; same on i386 and x86-64).
pub const SIGTRAP: i32 = libc::SIGTRAP;
pub const SIGABRT: i32 = libc::SIGABRT;
pub const SIGILL: i32 = libc::SIGILL;
pub const SIGFPE: i32 = libc::SIGFPE;
pub const SIGBUS: i32 = libc::SIGBUS;
pub const SIGSEGV: i32 = libc::SIGSEGV;
pub const NSIG: u32 = 64;

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Signals whose default action is to ignore them (kernel/signal.c, SIG_KERNEL_IGNORE_MASK).
pub fn default_ignored(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGCHLD | libc::SIGCONT | libc::SIGURG | libc::SIGWINCH
    )
}

/// i386 `struct sigaction` as rt_sigaction exchanges it: handler, flags, restorer, mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u32,
    pub flags: u32,
    pub restorer: u32,
    pub mask: u64,
}

impl SigAction {
    pub const SIZE: usize = 20;
    pub const SIG_DFL: u32 = 0;
    pub const SIG_IGN: u32 = 1;

    pub fn parse(b: &[u8]) -> SigAction {
        SigAction {
            handler: get_u32(b, 0),
            flags: get_u32(b, 4),
            restorer: get_u32(b, 8),
            mask: get_u64(b, 12),
        }
    }
    pub fn bytes(&self) -> [u8; 20] {
        let mut o = Out::<20>::new();
        o.u32(0, self.handler)
            .u32(4, self.flags)
            .u32(8, self.restorer)
            .u64(12, self.mask);
        o.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_tls_descriptor() {
        // What glibc's TLS_INIT_TP passes: base, limit 0xfffff pages, 32-bit, useable.
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        b[4..8].copy_from_slice(&0x0810_1234u32.to_le_bytes());
        b[8..12].copy_from_slice(&0xfffffu32.to_le_bytes());
        b[12..16].copy_from_slice(&0x51u32.to_le_bytes());
        let u = UserDesc::parse(&b);
        assert!(u.seg_32bit && u.limit_in_pages && u.useable && !u.read_exec_only);
        assert!(u.tls_okay());
        // base 0x08101234, limit 0xfffff, type 3 (RW accessed), S, DPL3, P, AVL, D, G.
        assert_eq!(u.descriptor(), 0x08df_f310_1234_ffff);
    }

    #[test]
    fn empty_user_desc_clears() {
        let u = UserDesc {
            read_exec_only: true,
            seg_not_present: true,
            ..Default::default()
        };
        assert!(u.is_empty());
        assert_eq!(u.descriptor(), 0);
        assert!(UserDesc::default().is_empty());
    }

    #[test]
    fn stat64_layout() {
        // SAFETY: libc::stat is plain old data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        st.st_dev = 0x801;
        st.st_ino = 0x1_0000_0002;
        st.st_mode = 0o100644;
        st.st_nlink = 1;
        st.st_uid = 1000;
        st.st_gid = 100;
        st.st_size = 0x1_2345_6789;
        st.st_blksize = 4096;
        st.st_blocks = 8;
        st.st_mtime = 1_700_000_000;
        st.st_mtime_nsec = 5;
        let b = stat64(&st);
        // Offsets from `gcc -m32` offsetof(struct stat64, ...).
        assert_eq!(get_u64(&b, 0), 0x801);
        assert_eq!(get_u32(&b, 12), 2);
        assert_eq!(get_u32(&b, 16), 0o100644);
        assert_eq!(get_u32(&b, 24), 1000);
        assert_eq!(get_u64(&b, 44), 0x1_2345_6789);
        assert_eq!(get_u32(&b, 52), 4096);
        assert_eq!(get_u64(&b, 56), 8);
        assert_eq!(get_u32(&b, 72), 1_700_000_000);
        assert_eq!(get_u32(&b, 76), 5);
        assert_eq!(get_u64(&b, 88), 0x1_0000_0002);
        assert_eq!(stat32(&st), Err(Errno::EOVERFLOW));
    }
}
