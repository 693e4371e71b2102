//! The syscall layer without running guest code: syscalls are dispatched directly on a
//! process whose registers and memory the tests set up.

use super::abi::get_u32;
use super::mm::{AddressSpace, MMAP_BASE};
use super::sysno::Sysno;
use super::*;
use crate::cpu::SegReg;
use crate::mmu::PAGE_SIZE;

fn process() -> Process {
    let m = Machine::new().expect("machine");
    let mut fds = FdTable::default();
    for fd in [0, 1, 2] {
        fds.add(fd);
    }
    let mut p = Process::with_machine(m, AddressSpace::new(), fds, c"/prog".into(), Log::default());
    p.mm.init_brk(0x0810_0000);
    p
}

fn call(p: &mut Process, nr: Sysno, a: &[u32]) -> Result<u32, i32> {
    let mut args = [0u32; 6];
    args[..a.len()].copy_from_slice(a);
    match p.dispatch(nr as u32, args) {
        Ok(v) => Ok(v),
        Err(SysErr::Errno(e)) => Err(e.0),
        Err(SysErr::Exit(t)) => panic!("{nr:?} ended the process: {t:?}"),
    }
}

fn end(p: &mut Process, nr: Sysno, a: &[u32]) -> Termination {
    let mut args = [0u32; 6];
    args[..a.len()].copy_from_slice(a);
    match p.dispatch(nr as u32, args) {
        Err(SysErr::Exit(t)) => t,
        Ok(v) => panic!("{nr:?} returned {v:#x}"),
        Err(SysErr::Errno(e)) => panic!("{nr:?} failed: {e:?}"),
    }
}

const RW: u32 = 3;
const PRIVATE_ANON: u32 = 0x22;

/// A scratch page for syscall arguments.
fn scratch(p: &mut Process) -> u32 {
    call(p, Sysno::mmap2, &[0, 4096, RW, PRIVATE_ANON, u32::MAX, 0]).unwrap()
}

#[test]
fn mmap_munmap_top_down() {
    let mut p = process();
    let a = call(
        &mut p,
        Sysno::mmap2,
        &[0, 10000, RW, PRIVATE_ANON, u32::MAX, 0],
    )
    .unwrap();
    assert_eq!(a, MMAP_BASE - 3 * PAGE_SIZE);
    let b = call(
        &mut p,
        Sysno::mmap2,
        &[0, 4096, RW, PRIVATE_ANON, u32::MAX, 0],
    )
    .unwrap();
    assert_eq!(b, a - PAGE_SIZE);
    assert_eq!(p.read_mem(a, 12288).unwrap(), vec![0; 12288]);
    p.write_mem(a + 5000, b"data").unwrap();
    // A free hint is taken; MAP_FIXED_NOREPLACE refuses a mapped range.
    let h = call(
        &mut p,
        Sysno::mmap2,
        &[0x4000_0000, 4096, RW, PRIVATE_ANON, u32::MAX, 0],
    )
    .unwrap();
    assert_eq!(h, 0x4000_0000);
    let r = call(
        &mut p,
        Sysno::mmap2,
        &[h, 4096, RW, PRIVATE_ANON | 0x10_0000, u32::MAX, 0],
    );
    assert_eq!(r, Err(libc::EEXIST));
    // Argument errors.
    assert_eq!(
        call(&mut p, Sysno::mmap2, &[0, 0, RW, PRIVATE_ANON, u32::MAX, 0]),
        Err(libc::EINVAL)
    );
    assert_eq!(
        call(&mut p, Sysno::mmap2, &[0, 4096, RW, 0x20, u32::MAX, 0]),
        Err(libc::EINVAL)
    );
    assert_eq!(
        call(
            &mut p,
            Sysno::mmap2,
            &[0x1000, 4096, RW, PRIVATE_ANON | 0x10, u32::MAX, 0]
        ),
        Err(libc::EPERM)
    );
    assert_eq!(
        call(&mut p, Sysno::mmap2, &[0, 4096, RW, 2, 77, 0]),
        Err(libc::EBADF)
    );
    // munmap makes the pages fault; unaligned munmap is EINVAL.
    assert_eq!(call(&mut p, Sysno::munmap, &[a, 4096]), Ok(0));
    assert_eq!(p.read_mem(a, 1), Err(Errno::EFAULT));
    assert_eq!(p.read_mem(a + 5000, 4).unwrap(), b"data");
    assert_eq!(
        call(&mut p, Sysno::munmap, &[a + 1, 4096]),
        Err(libc::EINVAL)
    );
    // The freed page is found again.
    let c = call(
        &mut p,
        Sysno::mmap2,
        &[0, 4096, RW, PRIVATE_ANON, u32::MAX, 0],
    )
    .unwrap();
    assert_eq!(c, a);
}

#[test]
fn old_mmap_takes_a_struct() {
    let mut p = process();
    let s = scratch(&mut p);
    let args: Vec<u8> = [0u32, 8192, RW, PRIVATE_ANON, u32::MAX, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    p.write_mem(s, &args).unwrap();
    let a = call(&mut p, Sysno::mmap, &[s]).unwrap();
    assert_eq!(a % PAGE_SIZE, 0);
    p.write_mem(a + 8191, b"x").unwrap();
}

#[test]
fn file_mapping_copies_the_file() {
    let mut p = process();
    let path = std::env::temp_dir().join(format!("xdbt-mmap-test-{}", std::process::id()));
    std::fs::write(&path, b"file contents").unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f) as u32;
    p.fds.add(fd);
    let a = call(&mut p, Sysno::mmap2, &[0, 4096, 1, 2, fd, 0]).unwrap();
    assert_eq!(p.read_mem(a, 14).unwrap(), b"file contents\0");
    // Read-only: a write faults.
    assert_eq!(p.write_mem(a, b"x"), Err(Errno::EFAULT));
    // Writable shared mapping of a read-only fd.
    assert_eq!(
        call(&mut p, Sysno::mmap2, &[0, 4096, RW, 1, fd, 0]),
        Err(libc::EACCES)
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn mprotect_changes_guest_permissions() {
    let mut p = process();
    let a = call(
        &mut p,
        Sysno::mmap2,
        &[0, 3 * 4096, RW, PRIVATE_ANON, u32::MAX, 0],
    )
    .unwrap();
    p.write_mem(a, b"abc").unwrap();
    assert_eq!(call(&mut p, Sysno::mprotect, &[a, 4096, 1]), Ok(0));
    assert_eq!(p.write_mem(a, b"x"), Err(Errno::EFAULT));
    assert_eq!(p.read_mem(a, 3).unwrap(), b"abc");
    p.write_mem(a + 4096, b"y").unwrap();
    // PROT_NONE and back.
    assert_eq!(call(&mut p, Sysno::mprotect, &[a + 4096, 4096, 0]), Ok(0));
    assert_eq!(p.read_mem(a + 4096, 1), Err(Errno::EFAULT));
    assert_eq!(call(&mut p, Sysno::mprotect, &[a + 4096, 4096, RW]), Ok(0));
    p.write_mem(a + 4096, b"z").unwrap();
    // Unmapped pages: ENOMEM; bad address or protection: EINVAL.
    assert_eq!(
        call(&mut p, Sysno::mprotect, &[a - 4096, 8192, 1]),
        Err(libc::ENOMEM)
    );
    assert_eq!(
        call(&mut p, Sysno::mprotect, &[a + 1, 4096, 1]),
        Err(libc::EINVAL)
    );
    assert_eq!(
        call(&mut p, Sysno::mprotect, &[a, 4096, 0x80]),
        Err(libc::EINVAL)
    );
}

#[test]
fn mremap_grows_shrinks_and_moves() {
    let mut p = process();
    let a = call(
        &mut p,
        Sysno::mmap2,
        &[0x5000_0000, 8192, RW, PRIVATE_ANON, u32::MAX, 0],
    )
    .unwrap();
    p.write_mem(a, b"keep me").unwrap();
    // Grow in place (the pages after are free).
    assert_eq!(call(&mut p, Sysno::mremap, &[a, 8192, 16384, 0, 0]), Ok(a));
    p.write_mem(a + 16383, b"!").unwrap();
    // Shrink.
    assert_eq!(call(&mut p, Sysno::mremap, &[a, 16384, 4096, 0, 0]), Ok(a));
    assert_eq!(p.read_mem(a + 4096, 1), Err(Errno::EFAULT));
    // Blocked: fails without MAYMOVE, moves with it, keeping the contents.
    call(
        &mut p,
        Sysno::mmap2,
        &[a + 4096, 4096, RW, PRIVATE_ANON | 0x10, u32::MAX, 0],
    )
    .unwrap();
    assert_eq!(
        call(&mut p, Sysno::mremap, &[a, 4096, 8192, 0, 0]),
        Err(libc::ENOMEM)
    );
    let b = call(&mut p, Sysno::mremap, &[a, 4096, 8192, 1, 0]).unwrap();
    assert_ne!(b, a);
    assert_eq!(p.read_mem(b, 7).unwrap(), b"keep me");
    p.write_mem(b + 8191, b"!").unwrap();
    assert_eq!(p.read_mem(a, 1), Err(Errno::EFAULT));
    // Unmapped source.
    assert_eq!(
        call(&mut p, Sysno::mremap, &[a, 4096, 8192, 1, 0]),
        Err(libc::EFAULT)
    );
}

#[test]
fn brk_grows_and_shrinks() {
    let mut p = process();
    let start = call(&mut p, Sysno::brk, &[0]).unwrap();
    assert_eq!(start, 0x0810_0000);
    assert_eq!(
        call(&mut p, Sysno::brk, &[start + 10000]),
        Ok(start + 10000)
    );
    p.write_mem(start + 12287, b"x").unwrap();
    assert_eq!(call(&mut p, Sysno::brk, &[start + 100]), Ok(start + 100));
    assert_eq!(p.read_mem(start + 4096, 1), Err(Errno::EFAULT));
    p.write_mem(start + 99, b"x").unwrap();
    // Below the start, or into a mapping: the break stays.
    assert_eq!(call(&mut p, Sysno::brk, &[start - 4096]), Ok(start + 100));
    call(
        &mut p,
        Sysno::mmap2,
        &[start + 0x10000, 4096, RW, PRIVATE_ANON | 0x10, u32::MAX, 0],
    )
    .unwrap();
    assert_eq!(
        call(&mut p, Sysno::brk, &[start + 0x20000]),
        Ok(start + 100)
    );
}

#[test]
fn guest_strings_and_bad_pointers() {
    let mut p = process();
    let a = call(
        &mut p,
        Sysno::mmap2,
        &[0, 8192, RW, PRIVATE_ANON, u32::MAX, 0],
    )
    .unwrap();
    // A string crossing a page boundary, then one running into an unmapped page.
    p.write_mem(a + 4090, b"crosses\0").unwrap();
    assert_eq!(p.read_path(a + 4090).unwrap().as_bytes(), b"crosses");
    p.write_mem(a + 8188, b"abcd").unwrap();
    assert_eq!(p.read_path(a + 8188), Err(Errno::EFAULT));
    // Longer than PATH_MAX.
    p.write_mem(a, &[b'x'; 4096]).unwrap();
    assert_eq!(p.read_path(a), Err(Errno::ENAMETOOLONG));
    // Syscalls with bad buffers fail with EFAULT and leave nothing behind.
    assert_eq!(call(&mut p, Sysno::write, &[1, 16, 10]), Err(libc::EFAULT));
    assert_eq!(
        call(&mut p, Sysno::uname, &[0xffff_f000]),
        Err(libc::EFAULT)
    );
    assert_eq!(call(&mut p, Sysno::open, &[1, 0, 0]), Err(libc::EFAULT));
    assert_eq!(
        call(&mut p, Sysno::clock_gettime, &[1, a + 8190]),
        Err(libc::EFAULT)
    );
}

#[test]
fn descriptors_are_checked() {
    let mut p = process();
    let s = scratch(&mut p);
    // A descriptor of the runner's own is not the guest's.
    let f = std::fs::File::open("/proc/self/maps").unwrap();
    let runner_fd = std::os::fd::AsRawFd::as_raw_fd(&f) as u32;
    assert_eq!(call(&mut p, Sysno::close, &[runner_fd]), Err(libc::EBADF));
    assert_eq!(
        call(&mut p, Sysno::read, &[runner_fd, s, 10]),
        Err(libc::EBADF)
    );
    assert_eq!(call(&mut p, Sysno::dup2, &[1, runner_fd]), Err(libc::EBADF));
    // A pipe made by the guest works end to end.
    assert_eq!(call(&mut p, Sysno::pipe, &[s]), Ok(0));
    let (r, w) = (
        get_u32(&p.read_mem(s, 8).unwrap(), 0),
        get_u32(&p.read_mem(s, 8).unwrap(), 4),
    );
    // writev gathers; read scatters nothing it did not read.
    p.write_mem(s + 100, b"hello, world").unwrap();
    let iov: Vec<u8> = [s + 100, 7, s + 107, 5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    p.write_mem(s + 200, &iov).unwrap();
    assert_eq!(call(&mut p, Sysno::writev, &[w, s + 200, 2]), Ok(12));
    assert_eq!(call(&mut p, Sysno::read, &[r, s + 300, 100]), Ok(12));
    assert_eq!(p.read_mem(s + 300, 12).unwrap(), b"hello, world");
    // fstat64 of the pipe: a FIFO in st_mode at offset 16.
    assert_eq!(call(&mut p, Sysno::fstat64, &[r, s + 400]), Ok(0));
    let mode = get_u32(&p.read_mem(s + 400, 96).unwrap(), 16);
    assert_eq!(mode & libc::S_IFMT, libc::S_IFIFO);
    for fd in [r, w] {
        assert_eq!(call(&mut p, Sysno::close, &[fd]), Ok(0));
    }
    assert_eq!(call(&mut p, Sysno::close, &[r]), Err(libc::EBADF));
}

#[test]
fn set_thread_area_allocates_tls_entries() {
    let mut p = process();
    let s = scratch(&mut p);
    let desc = |entry: u32, base: u32, flags: u32| -> Vec<u8> {
        [entry, base, 0xfffff, flags]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    };
    for want in 12..=14 {
        p.write_mem(s, &desc(u32::MAX, 0x1000 * want, 0x51))
            .unwrap();
        assert_eq!(call(&mut p, Sysno::set_thread_area, &[s]), Ok(0));
        assert_eq!(p.read_u32(s), Ok(want), "entry_number written back");
    }
    p.write_mem(s, &desc(u32::MAX, 0, 0x51)).unwrap();
    assert_eq!(call(&mut p, Sysno::set_thread_area, &[s]), Err(libc::ESRCH));
    p.write_mem(s, &desc(5, 0, 0x51)).unwrap();
    assert_eq!(
        call(&mut p, Sysno::set_thread_area, &[s]),
        Err(libc::EINVAL)
    );
    // 16-bit TLS segments are refused.
    p.write_mem(s, &desc(12, 0, 0x50)).unwrap();
    assert_eq!(
        call(&mut p, Sysno::set_thread_area, &[s]),
        Err(libc::EINVAL)
    );
    // A segment register holding the selector is reloaded with the new base.
    p.m.load_segment(SegReg::Gs, (13 << 3) | 3).unwrap();
    assert_eq!(p.m.cpu().seg(SegReg::Gs).base, 0xd000);
    p.write_mem(s, &desc(13, 0x0804_0000, 0x51)).unwrap();
    assert_eq!(call(&mut p, Sysno::set_thread_area, &[s]), Ok(0));
    assert_eq!(p.m.cpu().seg(SegReg::Gs).base, 0x0804_0000);
    // get_thread_area gives back what was set.
    p.write_mem(s + 64, &13u32.to_le_bytes()).unwrap();
    assert_eq!(call(&mut p, Sysno::get_thread_area, &[s + 64]), Ok(0));
    assert_eq!(p.read_mem(s + 64, 16).unwrap(), desc(13, 0x0804_0000, 0x51));
}

#[test]
fn futex_single_threaded() {
    let mut p = process();
    let s = scratch(&mut p);
    p.write_mem(s, &5u32.to_le_bytes()).unwrap();
    assert_eq!(
        call(&mut p, Sysno::futex, &[s, 0x80, 4, 0, 0, 0]),
        Err(libc::EAGAIN)
    );
    assert_eq!(call(&mut p, Sysno::futex, &[s, 0x81, 1, 0, 0, 0]), Ok(0));
    // WAIT with a timeout on an unchanged word times out.
    p.write_mem(s + 16, &abi::timespec32(0, 1_000_000)).unwrap();
    assert_eq!(
        call(&mut p, Sysno::futex, &[s, 0x80, 5, s + 16, 0, 0]),
        Err(libc::ETIMEDOUT)
    );
    // WAKE_OP: *uaddr2 += 3.
    p.write_mem(s + 8, &10u32.to_le_bytes()).unwrap();
    let op = (1 << 28) | (3 << 12);
    assert_eq!(
        call(&mut p, Sysno::futex, &[s, 0x85, 1, 1, s + 8, op]),
        Ok(0)
    );
    assert_eq!(p.read_u32(s + 8), Ok(13));
}

#[test]
fn signals_the_program_sends_itself() {
    let mut p = process();
    let s = scratch(&mut p);
    let me = host::getpid();
    // Default-ignored and null signals do nothing.
    assert_eq!(
        call(&mut p, Sysno::kill, &[me, libc::SIGCHLD as u32]),
        Ok(0)
    );
    assert_eq!(call(&mut p, Sysno::kill, &[me, 0]), Ok(0));
    // rt_sigaction keeps what it is given (SIGUSR2 with a "handler").
    let act = SigAction {
        handler: 0x0804_8000,
        flags: 0x0400_0000,
        restorer: 0x0804_9000,
        mask: 6,
    };
    p.write_mem(s, &act.bytes()).unwrap();
    assert_eq!(
        call(
            &mut p,
            Sysno::rt_sigaction,
            &[libc::SIGUSR2 as u32, s, 0, 8]
        ),
        Ok(0)
    );
    assert_eq!(
        call(
            &mut p,
            Sysno::rt_sigaction,
            &[libc::SIGUSR2 as u32, 0, s + 32, 8]
        ),
        Ok(0)
    );
    assert_eq!(SigAction::parse(&p.read_mem(s + 32, 20).unwrap()), act);
    assert_eq!(
        call(
            &mut p,
            Sysno::rt_sigaction,
            &[libc::SIGKILL as u32, s, 0, 8]
        ),
        Err(libc::EINVAL)
    );
    assert_eq!(
        call(
            &mut p,
            Sysno::rt_sigaction,
            &[libc::SIGUSR2 as u32, s, 0, 4]
        ),
        Err(libc::EINVAL)
    );
    // A self-sent signal is pending until the syscall returns; with a handler, delivery
    // builds a frame and enters it.
    p.m.cpu_mut().gpr[crate::cpu::ESP] = s + 4000;
    assert_eq!(
        call(
            &mut p,
            Sysno::tgkill,
            &[me, host::gettid(), libc::SIGUSR2 as u32]
        ),
        Ok(0)
    );
    assert_eq!(p.deliver_pending(), None);
    assert_eq!(p.m.cpu().eip, 0x0804_8000);
    assert_eq!(p.m.cpu().gpr[crate::cpu::EAX], libc::SIGUSR2 as u32);
    // The handler's mask: its sa_mask plus the signal itself.
    assert_eq!(p.sig.mask, 6 | (1 << (libc::SIGUSR2 - 1)));
    // A blocked fatal signal waits until it is unblocked.
    let bit = 1u64 << (libc::SIGUSR1 - 1);
    p.write_mem(s, &bit.to_le_bytes()).unwrap();
    assert_eq!(call(&mut p, Sysno::rt_sigprocmask, &[0, s, 0, 8]), Ok(0));
    assert_eq!(
        call(
            &mut p,
            Sysno::tgkill,
            &[me, host::gettid(), libc::SIGUSR1 as u32]
        ),
        Ok(0)
    );
    assert_eq!(p.deliver_pending(), None);
    assert_eq!(call(&mut p, Sysno::rt_sigprocmask, &[1, s, 0, 8]), Ok(0));
    assert_eq!(
        p.deliver_pending(),
        Some(Termination::Signaled {
            sig: libc::SIGUSR1,
            report: None
        })
    );
}

#[test]
fn misc_calls() {
    let mut p = process();
    let s = scratch(&mut p);
    assert_eq!(call(&mut p, Sysno::uname, &[s]), Ok(0));
    let u = p.read_mem(s, abi::UTSNAME_SIZE).unwrap();
    assert_eq!(&u[..6], b"Linux\0");
    assert_eq!(&u[4 * 65..4 * 65 + 5], b"i686\0");
    assert_eq!(
        call(
            &mut p,
            Sysno::clock_gettime64,
            &[libc::CLOCK_MONOTONIC as u32, s]
        ),
        Ok(0)
    );
    assert_eq!(call(&mut p, Sysno::getpid, &[]), Ok(host::getpid()));
    assert_eq!(call(&mut p, Sysno::set_robust_list, &[s, 12]), Ok(0));
    assert_eq!(
        call(&mut p, Sysno::set_robust_list, &[s, 24]),
        Err(libc::EINVAL)
    );
    // Unknown numbers, known or not to Linux.
    assert_eq!(call(&mut p, Sysno::acct, &[]), Err(libc::ENOSYS));
    assert_eq!(
        p.dispatch(9999, [0; 6])
            .err()
            .map(|e| matches!(e, SysErr::Errno(Errno::ENOSYS))),
        Some(true)
    );
    // getrlimit's two infinities.
    assert_eq!(
        call(&mut p, Sysno::ugetrlimit, &[libc::RLIMIT_CORE, s]),
        Ok(0)
    );
    assert_eq!(
        call(&mut p, Sysno::getrlimit, &[libc::RLIMIT_CORE, s + 8]),
        Ok(0)
    );
    // exit_group keeps the low 8 bits.
    assert_eq!(
        end(&mut p, Sysno::exit_group, &[300]),
        Termination::Exited(44)
    );
}

#[test]
fn directory_offset_cookies() {
    let mut d = fs::DirOffsets::default();
    let big = 0x583a_64d7_3040_ba1e;
    assert_eq!(d.cookie(0), 0);
    assert_eq!(d.cookie(big), 1);
    assert_eq!(d.cookie(i64::MAX), 2);
    assert_eq!(d.cookie(big), 1);
    assert_eq!(d.real(1), Some(big));
    assert_eq!(d.real(0), Some(0));
    assert_eq!(d.real(3), None);
    assert_eq!(d.real(-1), None);
}

/// Whatever the bytes, parsing a program fails cleanly or yields something sane: never a
/// panic (a fuzzer in miniature over mutations of a valid header).
#[test]
fn elf_parse_survives_mutations() {
    let mut f = vec![0u8; 0x2000];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 1;
    f[5] = 1;
    f[16] = 2; // ET_EXEC
    f[18] = 3; // EM_386
    f[24..28].copy_from_slice(&0x0804_8000u32.to_le_bytes());
    f[28] = 52;
    f[42] = 32;
    f[44] = 2;
    let ph = [1u32, 0, 0x0804_8000, 0, 0x1000, 0x1000, 5, 0x1000];
    for (i, v) in ph.iter().enumerate() {
        f[52 + 4 * i..56 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    assert!(elf::parse(&f).is_ok());
    let mut x: u32 = 0x1234_5678;
    for _ in 0..20_000 {
        let mut g = f.clone();
        for _ in 0..1 + x % 4 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let at = (x as usize >> 8) % 120;
            g[at] = x as u8;
        }
        let cut = if x.is_multiple_of(5) {
            (x as usize >> 3) % g.len()
        } else {
            g.len()
        };
        if let Ok(img) = elf::parse(&g[..cut]) {
            assert!(img
                .segments
                .iter()
                .all(|s| u64::from(s.vaddr) + u64::from(s.memsz) <= u64::from(mm::STACK_BOTTOM)));
        }
    }
}
