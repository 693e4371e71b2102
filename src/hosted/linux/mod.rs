//! The Linux i386 user-mode runner (`xdbt run-linux`): a static i386 ELF program runs under
//! the translator in this process, and its `int $0x80` system calls are served here on top
//! of the host's (arch/x86/entry/syscalls/syscall_32.tbl; ABI as in the `ia32` compat layer
//! of an x86-64 kernel).
//!
//! - [`elf`]: validating and mapping the program, building the initial stack.
//! - [`mm`]: the address-space layout (brk, mmap area, stack) and mapped-page bookkeeping.
//! - [`syscalls`]: the dispatch table; [`fs`], [`vm`], [`process`]: the system calls.
//! - [`signal`]: delivering signals into the guest (frames, sigreturn, host signals).
//! - [`abi`]: errno values and i386 structure layouts; [`sysno`]: syscall numbers.
//! - [`host`]: the host system calls made on the guest's behalf; with [`signal`]'s host
//!   handler, the only `unsafe` here.
//!
//! Guest memory is only reached through [`GuestMemory`] (permission-checked) or, for the
//! loader, `Window::peek`/`poke`: a bad guest pointer is -EFAULT, never a host fault.

pub mod abi;
pub mod elf;
pub mod fs;
pub mod host;
pub mod mm;
pub mod process;
pub mod signal;
pub mod syscalls;
pub mod sysno;
pub mod vm;

use self::abi::{Errno, SigAction};
use self::mm::{AddressSpace, TASK_SIZE};
use crate::cpu::{EAX, ESP};
use crate::exit::{Exit, Fault, Vector};
use crate::hosted::Machine;
use crate::mmu::{check, Access, GuestAddr, GuestMemory, PAGE_SIZE};
use std::collections::{BTreeSet, HashSet};
use std::ffi::CString;
use std::fmt;
use std::path::PathBuf;

/// Why a program could not be started. Each is reported as one line; exit status 2.
#[derive(Debug)]
pub enum Error {
    /// Reading the program file failed.
    Read(std::io::Error),
    /// An ELF file that is not a program (a relocatable object, a core file): its e_type.
    NotExecutable(u16),
    NotElf,
    Truncated(&'static str),
    NotI386(String),
    Malformed(String),
    Dynamic,
    NoSegments,
    BadSegment {
        index: usize,
        why: &'static str,
    },
    Overlap,
    BadEntry(u32),
    ArgsTooLong,
    /// Not a regular file with execute permission (execve's EACCES).
    NoExecPermission,
    /// Setting up the guest address space or vCPU failed.
    NoMemory,
    Host(crate::hosted::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read(e) => write!(f, "Cannot read program: {e}"),
            Error::NotExecutable(t) => write!(f, "Not an executable (ELF type {t})"),
            Error::NotElf => write!(f, "Not an ELF file"),
            Error::Truncated(what) => write!(f, "Truncated ELF file ({what} cut off)"),
            Error::NotI386(what) => write!(f, "Not an i386 program ({what})"),
            Error::Malformed(what) => write!(f, "Malformed ELF file ({})", what.replace('\n', " ")),
            Error::Dynamic => write!(f, "Dynamically linked programs are not supported"),
            Error::NoSegments => write!(f, "No loadable segments"),
            Error::BadSegment { index, why } => write!(f, "Program header {index}: segment {why}"),
            Error::Overlap => write!(f, "Loadable segments overlap"),
            Error::BadEntry(e) => {
                write!(f, "Entry point {e:#010x} is outside any executable segment")
            }
            Error::ArgsTooLong => write!(f, "Argument list too long"),
            Error::NoExecPermission => write!(f, "Permission denied"),
            Error::NoMemory => write!(f, "Cannot set up the guest address space"),
            Error::Host(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::hosted::Error> for Error {
    fn from(e: crate::hosted::Error) -> Self {
        Error::Host(e)
    }
}

/// How the guest process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Termination {
    /// exit/exit_group with this status (0..=255).
    Exited(i32),
    /// Killed by a signal; `report` is the one-line reason for faults (None when the program
    /// sent the signal itself, which Linux does not report either).
    Signaled { sig: i32, report: Option<String> },
}

impl Termination {
    /// The status a shell would show: the exit status, or 128 + the signal.
    pub fn status(&self) -> i32 {
        match self {
            Termination::Exited(c) => *c,
            Termination::Signaled { sig, .. } => 128 + sig,
        }
    }
}

/// How a program is started.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The program file.
    pub program: PathBuf,
    /// argv, argv[0] included.
    pub argv: Vec<Vec<u8>>,
    /// The environment, `NAME=value` strings.
    pub envp: Vec<Vec<u8>>,
    /// Log unsupported syscalls and features on stderr.
    pub verbose: bool,
    /// Log every syscall with its result on stderr.
    pub strace: bool,
    /// Signals this process inherited as ignored (exec keeps SIG_IGN; see `process`).
    pub ignored_signals: u64,
}

/// Diagnostics on stderr, off by default so that a guest's stderr compares with native.
#[derive(Default)]
pub struct Log {
    pub verbose: bool,
    pub strace: bool,
    seen: HashSet<String>,
}

impl Log {
    /// Say `what` once (per distinct message) if verbose.
    pub fn once(&mut self, what: String) {
        if self.verbose && self.seen.insert(what.clone()) {
            eprintln!("xdbt: {what}");
        }
    }
}

/// The guest's file descriptors. They are the runner's own host fds, 1:1; the table says
/// which ones the guest may use, so it cannot touch descriptors the runner opened for itself.
#[derive(Default)]
pub struct FdTable {
    owned: BTreeSet<i32>,
}

impl FdTable {
    /// The descriptors open in this process now (inherited ones belong to the guest).
    pub fn inherited() -> FdTable {
        let mut owned = BTreeSet::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
            // The directory's own descriptor is gone now; keep those still open.
            owned.extend(fds.into_iter().filter(|&fd| {
                host::int_call(libc::SYS_fcntl, &[fd.into(), libc::F_GETFD.into()]).is_ok()
            }));
        }
        owned.extend([0, 1, 2]);
        FdTable { owned }
    }

    pub fn get(&self, fd: u32) -> Result<i32, Errno> {
        let fd = fd as i32;
        if self.owned.contains(&fd) {
            Ok(fd)
        } else {
            Err(Errno::EBADF)
        }
    }

    pub fn add(&mut self, fd: u32) -> u32 {
        self.owned.insert(fd as i32);
        fd
    }

    pub fn remove(&mut self, fd: i32) {
        self.owned.remove(&fd);
    }

    /// The guest's descriptors in `[first, last]`.
    pub fn in_range(&self, first: u32, last: u32) -> Vec<i32> {
        let hi = i32::try_from(last).unwrap_or(i32::MAX);
        let lo = i32::try_from(first).unwrap_or(i32::MAX);
        self.owned.range(lo..=hi).copied().collect()
    }

    /// True if `fd` is open in the host but not the guest's: the runner's own.
    pub fn is_runner_fd(&self, fd: i32) -> bool {
        !self.owned.contains(&fd)
            && host::int_call(libc::SYS_fcntl, &[fd.into(), libc::F_GETFD.into()]).is_ok()
    }
}

/// The guest's signal state: dispositions, mask, pending signals (see [`signal`]).
pub struct Signals {
    /// rt_sigaction settings, by signal number (index 0 unused).
    pub actions: [SigAction; abi::NSIG as usize + 1],
    /// The blocked mask (bit n-1 for signal n).
    pub mask: u64,
    /// Signals the program sent itself while blocking them.
    pub pending: u64,
    /// sigaltstack's `stack_t`: ss_sp, ss_flags, ss_size.
    pub altstack: [u8; 12],
    /// The mask to restore once a handler returns (set by sigsuspend).
    pub saved_mask: Option<u64>,
    /// siginfo of pending signals the program sent itself.
    pub info: std::collections::HashMap<i32, signal::Info>,
    /// Signals caught in the host for the guest's handlers.
    pub host_caught: u64,
}

impl Default for Signals {
    fn default() -> Self {
        // SS_DISABLE in ss_flags: no alternate stack.
        let mut altstack = [0u8; 12];
        altstack[4] = 2;
        Signals {
            actions: [SigAction::default(); abi::NSIG as usize + 1],
            mask: 0,
            pending: 0,
            altstack,
            saved_mask: None,
            info: Default::default(),
            host_caught: 0,
        }
    }
}

/// A guest process: the vCPU and window plus the kernel-side state of the task.
pub struct Process {
    pub m: Machine,
    pub mm: AddressSpace,
    pub fds: FdTable,
    pub sig: Signals,
    /// The program, canonicalised: what /proc/self/exe names.
    pub exe: CString,
    pub log: Log,
    /// set_tid_address / CLONE_CHILD_CLEARTID.
    pub clear_child_tid: u32,
    /// The runner itself, for execve of another i386 program.
    pub runner: Option<PathBuf>,
    /// Limits the guest set that are kept here rather than applied to the runner.
    pub soft_limits: std::collections::HashMap<u32, [u64; 2]>,
    /// Directory offset cookies by host fd (see `fs::DirOffsets`).
    pub dir_offsets: std::collections::HashMap<i32, fs::DirOffsets>,
}

/// Outcome of a syscall: a value for EAX, or the end of the process.
pub enum SysErr {
    Errno(Errno),
    Exit(Termination),
}

impl From<Errno> for SysErr {
    fn from(e: Errno) -> Self {
        SysErr::Errno(e)
    }
}

pub type SysResult = Result<u32, SysErr>;

/// The longest path the kernel accepts (PATH_MAX, NUL included).
const PATH_MAX: usize = 4096;
/// The most one read or write moves (MAX_RW_COUNT).
pub const MAX_RW_COUNT: u32 = 0x7fff_f000;

impl Process {
    /// Load `opts.program` into a fresh machine, ready to run.
    pub fn new(opts: &Options) -> Result<Process, Error> {
        use std::os::unix::fs::PermissionsExt;
        let fds = FdTable::inherited();
        // As execve: a regular file with execute permission (EACCES otherwise).
        let meta = std::fs::metadata(&opts.program).map_err(Error::Read)?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(Error::NoExecPermission);
        }
        let file = std::fs::read(&opts.program).map_err(Error::Read)?;
        let img = elf::parse(&file)?;
        let mut m = Machine::new()?;
        let mut mm = AddressSpace::new();
        elf::map(&img, &file, &mut m.mem, &mut mm)?;
        let mut random = [0u8; 16];
        host::getrandom(&mut random, 0).map_err(|_| Error::NoMemory)?;
        let ids = [
            libc::SYS_getuid,
            libc::SYS_geteuid,
            libc::SYS_getgid,
            libc::SYS_getegid,
        ]
        .map(|nr| host::int_call(nr, &[]).unwrap_or(0));
        let execfn = opts.program.as_os_str().as_encoded_bytes();
        let st = elf::build_stack(
            &img,
            &elf::StackArgs {
                argv: &opts.argv,
                envp: &opts.envp,
                execfn,
                random,
                hwcap: hwcap(),
                ids,
            },
        )?;
        elf::map_stack(&img, &st, &mut m.mem, &mut mm)?;
        let cpu = m.cpu_mut();
        cpu.gpr = [0; 8];
        cpu.gpr[ESP] = st.sp;
        cpu.eip = img.entry;
        cpu.eflags = 0x202;
        let exe = std::fs::canonicalize(&opts.program).unwrap_or_else(|_| opts.program.clone());
        let exe = CString::new(exe.into_os_string().into_encoded_bytes()).unwrap_or_default();
        let log = Log {
            verbose: opts.verbose || opts.strace,
            strace: opts.strace,
            ..Log::default()
        };
        signal::set_stop_handle(m.stop_handle());
        let mut p = Process::with_machine(m, mm, fds, exe, log);
        p.init_signals(opts.ignored_signals);
        Ok(p)
    }

    /// A process around a machine whose memory is already set up.
    fn with_machine(m: Machine, mm: AddressSpace, fds: FdTable, exe: CString, log: Log) -> Process {
        Process {
            m,
            mm,
            fds,
            sig: Signals::default(),
            exe,
            log,
            clear_child_tid: 0,
            runner: std::env::current_exe().ok(),
            soft_limits: Default::default(),
            dir_offsets: Default::default(),
        }
    }

    /// Run the program until it ends.
    pub fn run(&mut self) -> Termination {
        loop {
            let end = match self.m.run() {
                Exit::SoftInt { vector: 0x80, len } if self.deliverable() != 0 => {
                    // A signal came in before this syscall: deliver it first, and have the
                    // handler return to the `int $0x80` (so a blocking call cannot sleep
                    // through it).
                    let cpu = self.m.cpu_mut();
                    cpu.eip = cpu.eip.wrapping_sub(u32::from(len));
                    None
                }
                Exit::SoftInt { vector: 0x80, len } => self.syscall(u32::from(len)),
                // The gates Linux opens to user mode besides 0x80: int3 and into.
                Exit::SoftInt { vector: 3, .. } => self.deliver_fault(Fault::new(Vector::BP)),
                Exit::SoftInt { vector: 4, .. } => self.deliver_fault(Fault::new(Vector::OF)),
                Exit::SoftInt { vector, len } => {
                    // Any other `int n` hits a DPL 0 gate: #GP(n*8+2) at the instruction.
                    let cpu = self.m.cpu_mut();
                    cpu.eip = cpu.eip.wrapping_sub(u32::from(len));
                    self.deliver_fault(Fault::gp(u32::from(vector) * 8 + 2))
                }
                Exit::Fault(f) => self.deliver_fault(f),
                // hlt at CPL 3 is #GP(0); the engine should have said so, but be safe.
                Exit::Halt => self.deliver_fault(Fault::gp(0)),
                Exit::Stopped => None,
            };
            if let Some(t) = end.or_else(|| self.deliver_pending()) {
                return t;
            }
        }
    }

    /// An exception the program does not handle: the signal Linux would kill it with
    /// (arch/x86/kernel/traps.c), and the line that reports it.
    fn fault_termination(&mut self, f: Fault) -> Termination {
        let sig = fault_to_signal(f.vector);
        let eip = self.m.cpu().eip;
        let what = match f.vector {
            Vector::PF => format!(
                "#PF at eip={eip:#010x}, cr2={:#010x}, err={:#x}",
                f.cr2, f.error_code
            ),
            v if v.has_error_code() => {
                format!("#{v:?} at eip={eip:#010x}, err={:#x}", f.error_code)
            }
            v => format!("#{v:?} at eip={eip:#010x}"),
        };
        Termination::Signaled {
            sig,
            report: Some(format!(
                "guest killed by {} ({what})",
                abi::signal_name(sig)
            )),
        }
    }

    /// Serve the `int $0x80` (`len` bytes) the guest just made. Returns Some when the
    /// process ended.
    fn syscall(&mut self, len: u32) -> Option<Termination> {
        let g = self.m.cpu().gpr;
        let nr = g[EAX];
        // EBX ECX EDX ESI EDI EBP.
        let args = [g[3], g[1], g[2], g[6], g[7], g[5]];
        let r = self.dispatch(nr, args);
        let eax = match r {
            Ok(v) => v,
            Err(SysErr::Errno(Errno::EINTR)) if self.maybe_restart(nr, len) => {
                if self.log.strace {
                    eprintln!(
                        "xdbt[{}]: {} interrupted, restarted",
                        host::getpid(),
                        syscalls::describe(nr, &args)
                    );
                }
                return None;
            }
            Err(SysErr::Errno(e)) => e.to_eax(),
            Err(SysErr::Exit(t)) => {
                if self.log.strace {
                    eprintln!(
                        "xdbt[{}]: {} -> {t:?}",
                        host::getpid(),
                        syscalls::describe(nr, &args)
                    );
                }
                return Some(t);
            }
        };
        if self.log.strace {
            let shown = if eax > 0xffff_f000 {
                format!("-{:?}", Errno(eax.wrapping_neg() as i32))
            } else {
                format!("{eax:#x}")
            };
            eprintln!(
                "xdbt[{}]: {} = {shown}",
                host::getpid(),
                syscalls::describe(nr, &args)
            );
        }
        // sigreturn restores EAX itself (it "returns" the interrupted EAX).
        self.m.cpu_mut().gpr[EAX] = eax;
        None
    }

    // ---- guest memory, permission-checked ----

    fn range_ok(addr: u32, len: usize) -> Result<(), Errno> {
        if u64::from(addr) + len as u64 > u64::from(TASK_SIZE) {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Copy `len` guest bytes at `addr` (which the guest must be able to read).
    pub fn read_mem(&self, addr: u32, len: usize) -> Result<Vec<u8>, Errno> {
        Self::range_ok(addr, len)?;
        let mut v = vec![0u8; len];
        self.m
            .mem
            .read(GuestAddr(addr), &mut v, Access::Read)
            .map_err(|_| Errno::EFAULT)?;
        Ok(v)
    }

    pub fn read_array<const N: usize>(&self, addr: u32) -> Result<[u8; N], Errno> {
        Self::range_ok(addr, N)?;
        let mut v = [0u8; N];
        self.m
            .mem
            .read(GuestAddr(addr), &mut v, Access::Read)
            .map_err(|_| Errno::EFAULT)?;
        Ok(v)
    }

    pub fn read_u32(&self, addr: u32) -> Result<u32, Errno> {
        self.read_array::<4>(addr).map(u32::from_le_bytes)
    }

    /// Store bytes where the guest could write them.
    pub fn write_mem(&mut self, addr: u32, data: &[u8]) -> Result<(), Errno> {
        Self::range_ok(addr, data.len())?;
        self.m
            .mem
            .write(GuestAddr(addr), data)
            .map_err(|_| Errno::EFAULT)
    }

    pub fn write_u32(&mut self, addr: u32, v: u32) -> Result<(), Errno> {
        self.write_mem(addr, &v.to_le_bytes())
    }

    /// Check that the guest may write `[addr, addr+len)` without writing it.
    pub fn check_writable(&self, addr: u32, len: usize) -> Result<(), Errno> {
        Self::range_ok(addr, len)?;
        if len == 0 {
            return Ok(());
        }
        let last = addr + (len as u32 - 1);
        for page in (addr >> 12)..=(last >> 12) {
            let a = GuestAddr(page << 12);
            check(self.m.mem.prot_of(a), a.0, Access::Write).map_err(|_| Errno::EFAULT)?;
        }
        Ok(())
    }

    /// A NUL-terminated guest string of at most `max` bytes (NUL included).
    pub fn read_cstr(&self, addr: u32, max: usize) -> Result<CString, Errno> {
        let mut out = Vec::new();
        let mut a = addr;
        loop {
            // Read up to the end of the page, so a string ending before an unmapped page
            // is fine.
            let chunk = (PAGE_SIZE - a % PAGE_SIZE) as usize;
            let bytes = self.read_mem(a, chunk)?;
            if let Some(n) = bytes.iter().position(|&b| b == 0) {
                out.extend_from_slice(&bytes[..n]);
                if out.len() >= max {
                    return Err(Errno::ENAMETOOLONG);
                }
                return Ok(CString::new(out).unwrap_or_default());
            }
            out.extend_from_slice(&bytes);
            if out.len() >= max {
                return Err(Errno::ENAMETOOLONG);
            }
            a = a.checked_add(chunk as u32).ok_or(Errno::EFAULT)?;
        }
    }

    /// A path argument (PATH_MAX; an empty path is ENOENT unless the caller allows it).
    pub fn read_path(&self, addr: u32) -> Result<CString, Errno> {
        self.read_cstr(addr, PATH_MAX)
    }

    /// A NULL-terminated array of guest string pointers (argv, envp).
    pub fn read_str_array(&self, addr: u32) -> Result<Vec<CString>, Errno> {
        let mut v = Vec::new();
        if addr == 0 {
            return Ok(v);
        }
        for i in 0.. {
            let p = self.read_u32(addr.checked_add(4 * i).ok_or(Errno::EFAULT)?)?;
            if p == 0 {
                break;
            }
            v.push(self.read_cstr(p, elf_arg_max())?);
            if v.len() > 0x1_0000 {
                return Err(Errno(libc::E2BIG));
            }
        }
        Ok(v)
    }
}

fn elf_arg_max() -> usize {
    (mm::STACK_SIZE / 4) as usize
}

/// AT_HWCAP: CPUID.1:EDX of the CPU the translator presents, as Linux passes
/// `boot_cpu_data.x86_capability[CPUID_1_EDX]`.
fn hwcap() -> u32 {
    crate::interp::cpuid(1, 0)[3]
}

/// The signal Linux sends for an unhandled exception (arch/x86/kernel/traps.c).
pub fn fault_to_signal(v: Vector) -> i32 {
    match v {
        Vector::DE | Vector::MF | Vector::XM => abi::SIGFPE,
        Vector::DB | Vector::BP => abi::SIGTRAP,
        Vector::UD | Vector::NM => abi::SIGILL,
        Vector::AC | Vector::MC => abi::SIGBUS,
        Vector::OF
        | Vector::BR
        | Vector::NMI
        | Vector::DF
        | Vector::TS
        | Vector::NP
        | Vector::SS
        | Vector::GP
        | Vector::PF => abi::SIGSEGV,
    }
}

/// Run a program to its end: what `xdbt run-linux` does.
pub fn run(opts: &Options) -> Result<(Termination, Process), Error> {
    let mut p = Process::new(opts)?;
    let t = p.run();
    Ok((t, p))
}

#[cfg(test)]
mod tests;
