//! Executable memory for the code cache: one memfd mapped twice, writable and executable,
//! so that no page is ever both.

use super::{Error, Result};
use crate::cache::ExecMemory;

pub fn alloc(size: usize) -> Result<ExecMemory> {
    // SAFETY: plain system calls on a fresh memfd; results are checked.
    unsafe {
        let fd = libc::memfd_create(c"xdbt-code".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(Error::Os("memfd_create", std::io::Error::last_os_error()));
        }
        if libc::ftruncate(fd, size as libc::off_t) != 0 {
            libc::close(fd);
            return Err(Error::Os("ftruncate", std::io::Error::last_os_error()));
        }
        let rw = libc::mmap(
            core::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        let rx = libc::mmap(
            core::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_SHARED,
            fd,
            0,
        );
        libc::close(fd);
        if rw == libc::MAP_FAILED || rx == libc::MAP_FAILED {
            return Err(Error::Os(
                "mapping the code cache",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(ExecMemory {
            rw: rw.cast(),
            rx: rx as u64,
            size,
        })
    }
}

/// # Safety
/// `m` came from `alloc` and no code in it runs any more.
pub unsafe fn free(m: ExecMemory) {
    // SAFETY: per the contract, both views are ours to unmap.
    unsafe {
        libc::munmap(m.rw.cast(), m.size);
        libc::munmap(m.rx as *mut libc::c_void, m.size);
    }
}

/// Point this thread's GS base at `base` (the guest window).
pub fn set_gs_base(base: u64) -> Result<()> {
    const ARCH_SET_GS: i32 = 0x1001;
    // SAFETY: arch_prctl(ARCH_SET_GS) only changes this thread's GS base, which neither
    // Rust nor glibc use on x86-64 Linux.
    let r = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_GS, base) };
    if r != 0 {
        return Err(Error::Os(
            "arch_prctl(ARCH_SET_GS)",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

pub struct MonotonicClock;

impl crate::engine::Clock for MonotonicClock {
    fn now_ns(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

pub static CLOCK: MonotonicClock = MonotonicClock;

/// A stack for translated code with a guard page below it.
pub fn alloc_stack(size: usize) -> Result<crate::engine::JitStack> {
    let guard = 4096;
    // SAFETY: a fresh private mapping; the guard page is made inaccessible below.
    unsafe {
        let p = libc::mmap(
            core::ptr::null_mut(),
            size + guard,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(Error::Os(
                "mapping the translated-code stack",
                std::io::Error::last_os_error(),
            ));
        }
        if libc::mprotect(p, guard, libc::PROT_NONE) != 0 {
            return Err(Error::Os("mprotect", std::io::Error::last_os_error()));
        }
        let lo = p as u64;
        Ok(crate::engine::JitStack {
            top: lo + (size + guard) as u64,
            guard_lo: lo,
            guard_hi: lo + guard as u64,
        })
    }
}

/// # Safety
/// `s` came from `alloc_stack` and no code runs on it any more.
pub unsafe fn free_stack(s: crate::engine::JitStack) {
    // SAFETY: per the contract, the whole mapping (guard included) is ours.
    unsafe {
        libc::munmap(
            s.guard_lo as *mut libc::c_void,
            (s.top - s.guard_lo) as usize,
        )
    };
}

/// Give a fork child its own copy of the code cache: after fork both views still map the
/// parent's memfd, so two processes would translate into (and run) one cache. The copy is
/// mapped over the same addresses, so every pointer into the cache stays valid. Must run in
/// the child before translated code does.
pub fn privatize(m: &ExecMemory) -> Result<()> {
    // SAFETY: a fresh memfd sized like the cache; the old views are replaced in place with
    // MAP_FIXED mappings of it after the contents were copied through the old writable view,
    // and no translated code runs meanwhile (the caller's contract).
    unsafe {
        let fd = libc::memfd_create(c"xdbt-code".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 || libc::ftruncate(fd, m.size as libc::off_t) != 0 {
            return Err(Error::Os(
                "copying the code cache",
                std::io::Error::last_os_error(),
            ));
        }
        let tmp = libc::mmap(
            core::ptr::null_mut(),
            m.size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        if tmp == libc::MAP_FAILED {
            libc::close(fd);
            return Err(Error::Os(
                "copying the code cache",
                std::io::Error::last_os_error(),
            ));
        }
        core::ptr::copy_nonoverlapping(m.rw, tmp.cast::<u8>(), m.size);
        libc::munmap(tmp, m.size);
        let rw = libc::mmap(
            m.rw.cast(),
            m.size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            0,
        );
        let rx = libc::mmap(
            m.rx as *mut libc::c_void,
            m.size,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            0,
        );
        libc::close(fd);
        if rw == libc::MAP_FAILED || rx == libc::MAP_FAILED {
            return Err(Error::Os(
                "copying the code cache",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}
