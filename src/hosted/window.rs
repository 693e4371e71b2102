//! The guest address-space window: 4 GiB of reserved host address space in which guest
//! linear address `a` lives at `base + a`. Translated code reaches it through the host's GS
//! segment base with 32-bit address-size overrides, so address arithmetic wraps at 4 GiB
//! exactly as on IA-32 and the host MMU enforces the guest's page permissions.
//!
//! Pages that translated code came from are kept read-only in the host even when the guest
//! may write them; the write fault tells us the code changed (self-modifying code).

use super::{Error, Result};
use crate::exit::Fault;
use crate::mmu::{check, Access, GuestAddr, GuestMemory, Prot, PAGE_SIZE};
use alloc::vec::Vec;

const PAGES: usize = 1 << 20;
/// Host address space reserved below the window: the engine's poll page lives there.
pub const GUARD_BELOW: usize = 1 << 16;
/// Reserved above 4 GiB so that an access that starts below 4 GiB and runs past it (which
/// IA-32 would wrap) faults in the host instead of touching other memory.
const GUARD_ABOVE: usize = 1 << 16;
const WINDOW: usize = 1 << 32;

pub struct Window {
    /// Start of the whole reservation (guard included).
    reservation: *mut u8,
    /// Host address of guest address 0.
    base: *mut u8,
    prot: Vec<Prot>,
    /// Pages that translated code was read from (host write-protected).
    code: Vec<u64>,
    /// Code pages written since the engine last looked (their translations are stale).
    dirty: Vec<u32>,
}

// SAFETY: the window is plain memory owned by this struct; moving it between threads moves
// the ownership of the mapping with it.
unsafe impl Send for Window {}

fn host_prot(p: Prot, code: bool) -> i32 {
    let mut h = libc::PROT_NONE;
    if p.intersects(Prot::R | Prot::X | Prot::W) {
        h |= libc::PROT_READ;
    }
    if p.contains(Prot::W) && !code {
        h |= libc::PROT_WRITE;
    }
    h
}

fn os_err(what: &'static str) -> Error {
    Error::Os(what, std::io::Error::last_os_error())
}

impl Window {
    pub fn new() -> Result<Window> {
        let total = GUARD_BELOW + WINDOW + GUARD_ABOVE;
        // SAFETY: a fresh anonymous PROT_NONE reservation; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("reserving the guest window"));
        }
        let reservation = p.cast::<u8>();
        Ok(Window {
            reservation,
            // SAFETY: the offset stays inside the reservation made above.
            base: unsafe { reservation.add(GUARD_BELOW) },
            prot: alloc::vec![Prot::empty(); PAGES],
            code: alloc::vec![0; PAGES / 64],
            dirty: Vec::new(),
        })
    }

    /// Host address of guest address 0 (the GS base of translated code).
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// Host address of the page just below the window, used as the engine's poll page.
    pub fn poll_page(&self) -> *mut u8 {
        // SAFETY: GUARD_BELOW >= one page, so this is inside the reservation.
        unsafe { self.base.sub(PAGE_SIZE as usize) }
    }

    /// Host address of the FPU gate page, two pages below the window: every x87/MMX/SSE
    /// instruction loads from it first, so closing it makes them raise #NM (CR0.TS).
    pub fn fpu_gate_page(&self) -> *mut u8 {
        // SAFETY: GUARD_BELOW >= two pages, so this is inside the reservation.
        unsafe { self.base.sub(2 * PAGE_SIZE as usize) }
    }

    fn range(addr: GuestAddr, len: u64) -> Result<(usize, usize)> {
        if !addr.0.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(u64::from(PAGE_SIZE)) {
            return Err(Error::BadRange { addr: addr.0, len });
        }
        let first = addr.page() as usize;
        let n = (len / u64::from(PAGE_SIZE)) as usize;
        if first + n > PAGES {
            return Err(Error::BadRange { addr: addr.0, len });
        }
        Ok((first, n))
    }

    fn is_code(&self, page: usize) -> bool {
        self.code[page / 64] & (1 << (page % 64)) != 0
    }

    fn set_host_prot(&self, first: usize, n: usize) -> Result<()> {
        let mut i = first;
        while i < first + n {
            // Coalesce runs with the same host protection into one mprotect.
            let hp = host_prot(self.prot[i], self.is_code(i));
            let mut j = i + 1;
            while j < first + n && host_prot(self.prot[j], self.is_code(j)) == hp {
                j += 1;
            }
            // SAFETY: [i, j) are guest pages inside the window reservation this struct owns.
            let r = unsafe {
                libc::mprotect(
                    self.base.add(i * PAGE_SIZE as usize).cast(),
                    (j - i) * PAGE_SIZE as usize,
                    hp,
                )
            };
            if r != 0 {
                return Err(os_err("mprotect"));
            }
            i = j;
        }
        Ok(())
    }

    /// Replace guest pages [first, first + n) with a fresh PROT_NONE mapping: anonymous
    /// zeroed memory, or `fd` at `offset` (shared); then give them `prot`.
    fn remap(
        &mut self,
        first: usize,
        n: usize,
        backing: Option<(i32, u64)>,
        prot: Prot,
    ) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let (flags, fd, off) = match backing {
            Some((fd, off)) => (libc::MAP_SHARED | libc::MAP_FIXED, fd, off as libc::off_t),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            ),
        };
        // SAFETY: MAP_FIXED over pages inside our own reservation; nothing else lives there.
        let p = unsafe {
            libc::mmap(
                self.base.add(first * PAGE_SIZE as usize).cast(),
                n * PAGE_SIZE as usize,
                libc::PROT_NONE,
                flags,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap"));
        }
        for i in first..first + n {
            self.prot[i] = prot;
            self.drop_code(i);
        }
        if prot.is_empty() {
            return Ok(());
        }
        self.set_host_prot(first, n)
    }

    /// Map fresh zeroed guest pages with `prot` (replacing whatever was there).
    pub fn map(&mut self, addr: GuestAddr, len: u64, prot: Prot) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        self.remap(first, n, None, prot)
    }

    /// Map `len` bytes of the file `fd` at `offset` (shared) at guest address `addr`: how a
    /// PV guest's pseudo-physical frames appear at the virtual addresses its page tables
    /// give them.
    pub fn map_fd(
        &mut self,
        addr: GuestAddr,
        len: u64,
        fd: i32,
        offset: u64,
        prot: Prot,
    ) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        self.remap(first, n, Some((fd, offset)), prot)
    }

    /// Unmap guest pages (they fault from now on).
    pub fn unmap(&mut self, addr: GuestAddr, len: u64) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        self.remap(first, n, None, Prot::empty())
    }

    /// Change the guest permissions of mapped pages.
    pub fn protect(&mut self, addr: GuestAddr, len: u64, prot: Prot) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        for i in first..first + n {
            if self.prot[i].is_empty() {
                return Err(Error::NotMapped(i as u32 * PAGE_SIZE));
            }
        }
        for i in first..first + n {
            self.prot[i] = prot;
            if !prot.contains(Prot::X) {
                // Code may no longer be fetched from here: stale translations must go.
                self.drop_code(i);
            }
        }
        self.set_host_prot(first, n)
    }

    pub fn prot_of(&self, addr: GuestAddr) -> Prot {
        self.prot[addr.page() as usize]
    }

    /// Lowest free page-aligned range of `len` bytes at or above `hint`, below `limit`.
    pub fn find_free(&self, len: u64, hint: GuestAddr, limit: u32) -> Option<GuestAddr> {
        let n = len.div_ceil(u64::from(PAGE_SIZE)) as usize;
        let mut start = hint.page() as usize;
        let end = (limit >> 12) as usize;
        while start + n <= end {
            match (start..start + n).rev().find(|&i| !self.prot[i].is_empty()) {
                None => return Some(GuestAddr((start as u32) << 12)),
                Some(busy) => start = busy + 1,
            }
        }
        None
    }

    /// Record that translated code was read from `page`: write-protect it in the host.
    pub fn mark_code(&mut self, page: u32) {
        let i = page as usize;
        if self.is_code(i) {
            return;
        }
        self.code[i / 64] |= 1 << (i % 64);
        if self.prot[i].contains(Prot::W) {
            // A failure leaves the page writable; then SMC would go unnoticed, so it is fatal.
            self.set_host_prot(i, 1)
                .expect("write-protecting a code page");
        }
    }

    /// Forget that `page` holds code; queue it so the engine drops its translations.
    fn drop_code(&mut self, i: usize) {
        if self.is_code(i) {
            self.code[i / 64] &= !(1 << (i % 64));
            self.dirty.push(i as u32);
        }
    }

    /// A guest write hit a code page: make it writable again and queue the invalidation.
    /// Returns false if the page was not a code page (a real guest fault).
    pub fn code_write_fault(&mut self, page: u32) -> bool {
        let i = page as usize;
        if i >= PAGES || !self.is_code(i) || !self.prot[i].contains(Prot::W) {
            return false;
        }
        self.drop_code(i);
        self.set_host_prot(i, 1).is_ok()
    }

    /// Pages whose translations are stale; the engine drains this before running code.
    pub fn take_dirty(&mut self) -> Vec<u32> {
        core::mem::take(&mut self.dirty)
    }

    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    fn check_range(&self, addr: GuestAddr, len: usize, acc: Access, sys: bool) -> Result2 {
        if len == 0 {
            return Ok(());
        }
        let first = addr.page();
        let last = addr.offset(len as u32 - 1).page();
        let mut p = first;
        loop {
            let prot = self.prot[p as usize];
            let at = if p == first { addr.0 } else { p << 12 };
            if sys {
                if prot.is_empty() {
                    let w = u32::from(acc == Access::Write);
                    return Err(Fault::pf(at, crate::exit::PFEC_WRITE * w));
                }
            } else {
                check(prot, at, acc)?;
            }
            if p == last {
                return Ok(());
            }
            p = (p + 1) & 0xf_ffff;
        }
    }

    fn copy_out(&self, addr: GuestAddr, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = addr.0.wrapping_add(i as u32) as usize;
            // SAFETY: check_range verified every page of the range is mapped readable in the
            // guest, hence readable in the host (host protection is never weaker than R).
            *b = unsafe { self.base.add(a).read_volatile() };
        }
    }

    fn copy_in(&mut self, addr: GuestAddr, data: &[u8]) {
        let first = addr.page();
        let n = (addr
            .offset(data.len().max(1) as u32 - 1)
            .page()
            .wrapping_sub(first)
            & 0xf_ffff)
            + 1;
        let pages = (0..n).map(|k| ((first + k) & 0xf_ffff) as usize);
        let mut forced = Vec::new();
        for p in pages.clone() {
            let was_code = self.is_code(p);
            self.drop_code(p);
            if !self.prot[p].contains(Prot::W) {
                // Privileged writes (loaders, descriptor tables) to read-only pages open the
                // page for the copy and close it again below.
                if self.force_writable(p, true).is_ok() {
                    forced.push(p);
                }
            } else if was_code {
                let _ = self.set_host_prot(p, 1);
            }
        }
        for (i, b) in data.iter().enumerate() {
            let a = addr.0.wrapping_add(i as u32) as usize;
            // SAFETY: every page of the range is mapped and host-writable (made so above).
            unsafe { self.base.add(a).write_volatile(*b) };
        }
        for p in forced {
            let _ = self.set_host_prot(p, 1);
        }
    }

    fn force_writable(&self, i: usize, w: bool) -> Result<()> {
        let hp = if w {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: page i is inside our reservation.
        let r = unsafe {
            libc::mprotect(
                self.base.add(i * PAGE_SIZE as usize).cast(),
                PAGE_SIZE as usize,
                hp,
            )
        };
        if r != 0 {
            return Err(os_err("mprotect"));
        }
        Ok(())
    }

    /// Privileged read: ignores guest permissions, faults only on unmapped pages.
    pub fn peek(&self, addr: GuestAddr, buf: &mut [u8]) -> core::result::Result<(), Fault> {
        self.check_range(addr, buf.len(), Access::Read, true)?;
        self.copy_out(addr, buf);
        Ok(())
    }

    /// Privileged write (loaders, the system layer): ignores guest permissions.
    pub fn poke(&mut self, addr: GuestAddr, data: &[u8]) -> core::result::Result<(), Fault> {
        self.check_range(addr, data.len(), Access::Write, true)?;
        self.copy_in(addr, data);
        Ok(())
    }
}

type Result2 = core::result::Result<(), Fault>;

impl GuestMemory for Window {
    fn read(&self, addr: GuestAddr, buf: &mut [u8], acc: Access) -> Result2 {
        self.check_range(addr, buf.len(), acc, false)?;
        self.copy_out(addr, buf);
        Ok(())
    }

    fn write(&mut self, addr: GuestAddr, data: &[u8]) -> Result2 {
        self.check_range(addr, data.len(), Access::Write, false)?;
        self.copy_in(addr, data);
        Ok(())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: the reservation was made in `new` with this size and is not used after.
        unsafe {
            libc::munmap(self.reservation.cast(), GUARD_BELOW + WINDOW + GUARD_ABOVE);
        }
    }
}

impl crate::mmu::JitMemory for Window {
    fn as_guest_memory(&self) -> &dyn GuestMemory {
        self
    }
    fn host_base(&self) -> usize {
        self.base as usize
    }
    fn prot_of(&self, addr: GuestAddr) -> Prot {
        Window::prot_of(self, addr)
    }
    fn mark_code(&mut self, page: u32) {
        Window::mark_code(self, page)
    }
    fn code_write_fault(&mut self, page: u32) -> bool {
        Window::code_write_fault(self, page)
    }
    fn has_dirty(&self) -> bool {
        Window::has_dirty(self)
    }
    fn take_dirty(&mut self) -> Vec<u32> {
        Window::take_dirty(self)
    }
}
